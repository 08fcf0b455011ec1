"""
Who may see the dashboard: Airflow's own authentication and authorization on every route, through
Airflow's API app with the provider's plugin mounted as the API server mounts it.

The permission is to read the example DAG's runs. SimpleAuthManager gives it to every role
(viewer and up) and refuses it to a user without a role, and, in multi-team mode, to a user of
another team than the one the DAG's bundle belongs to: both are tested. Looking a person up is a
permission of its own on top (:data:`LOOKUP_ROUTES`, see ``test_lookup_log.py``).
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_personalize_deletion.dashboard.api import STATIC_FILES, create_app
from airflow_provider_personalize_deletion.erasure.settings import DAG_ID
from tests.dashboard.conftest import PASSWORD, PREFIX

#: One request per route of the dashboard's app (method and path): method, path (under the prefix), body.
REQUESTS = {
    "GET /": ("GET", "/", None),
    "GET /static/{name}": ("GET", "/static/app.js", None),
    "GET /api/summary": ("GET", "/api/summary", None),
    "GET /api/runs": ("GET", "/api/runs", None),
    "GET /api/run": ("GET", "/api/run?run_id=scheduled__erasure-a", None),
    "POST /api/evidence": ("POST", "/api/evidence", {"user_id": "alice"}),
    "GET /api/lookups": ("GET", "/api/lookups", None),
    "POST /api/lookups": ("POST", "/api/lookups", {"user_id": "alice"}),
}
#: The routes that look a person up, or list who did: their own permission.
LOOKUP_ROUTES = {"POST /api/evidence", "GET /api/lookups", "POST /api/lookups"}


def call(client, route: str):
    method, path, body = REQUESTS[route]
    return client.request(method, PREFIX + path, json=body)


def test_every_route_of_the_app_is_in_the_access_tests():
    routes = {f"{method} {route.path}" for route in create_app().routes for method in route.methods}
    assert routes == set(REQUESTS)


def test_the_app_has_no_openapi_or_docs_route_outside_the_permission(api, sqlite_world):
    reader = api.login("reader")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert reader.get(PREFIX + path).status_code == 404


@pytest.mark.parametrize("route", sorted(REQUESTS))
def test_an_anonymous_request_gets_401_and_no_data(api, sqlite_world, route):
    response = call(api.anonymous(), route)
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize("route", sorted(REQUESTS))
def test_a_user_without_the_permission_gets_403_and_no_data(api, sqlite_world, route):
    response = call(api.login("nobody"), route)
    assert response.status_code == 403
    assert response.json() == {"detail": "Forbidden"}


@pytest.mark.parametrize("route", sorted(set(REQUESTS) - LOOKUP_ROUTES))
def test_a_user_who_may_read_the_dags_runs_gets_the_route(api, sqlite_world, route):
    response = call(api.login("reader"), route)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", sorted(LOOKUP_ROUTES))
def test_reading_the_dags_runs_does_not_let_a_viewer_look_anyone_up(api, sqlite_world, route):
    response = call(api.login("reader"), route)
    assert response.status_code == 403
    assert "PersonalizeErasureLookup" in response.json()["detail"] and "req-" not in response.text


@pytest.mark.parametrize("route", sorted(LOOKUP_ROUTES))
def test_a_user_of_a_lookup_role_gets_the_lookup_routes(api, sqlite_world, route):
    response = call(api.login("officer"), route)
    assert response.status_code == 200, response.text


def test_an_invalid_token_gets_nothing(api, sqlite_world):
    client = api.anonymous()
    client.cookies.set("_token", "not-a-token")
    assert call(client, "GET /api/summary").status_code in (401, 403)
    assert "pending" not in call(client, "GET /api/summary").text


def test_the_static_files_are_only_those_of_the_page(api):
    reader = api.login("reader")
    for name in STATIC_FILES:
        assert reader.get(f"{PREFIX}/static/{name}").status_code == 200
    for name in ("index.html", "..%2Fapi.py", "../api.py", "plugin.py"):
        assert reader.get(f"{PREFIX}/static/{name}").status_code == 404


@pytest.fixture
def erasure_dag_of_team_privacy(airflow_db):
    """The example DAG in a bundle of the team ``privacy`` (multi-team metadata), removed afterwards."""
    from airflow.models.dag import DagModel, clear_team_name_cache
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.team import Team
    from airflow.utils.session import create_session

    with create_session() as session:
        team = Team(name="privacy")
        bundle = DagBundleModel(name="privacy-bundle")
        bundle.teams.append(team)
        session.add_all([team, bundle])
        session.flush()
        # The DAG may be in the metadata already (an earlier dag.test() of the session): move it.
        dag = session.get(DagModel, DAG_ID)
        earlier_bundle = dag.bundle_name if dag is not None else None
        if dag is None:
            session.add(DagModel(dag_id=DAG_ID, bundle_name="privacy-bundle"))
        else:
            dag.bundle_name = "privacy-bundle"
    clear_team_name_cache()  # Airflow keeps a DAG's team for 30 s
    yield
    clear_team_name_cache()
    with create_session() as session:
        if earlier_bundle is None:
            session.query(DagModel).filter(DagModel.dag_id == DAG_ID).delete()
        else:
            session.get(DagModel, DAG_ID).bundle_name = earlier_bundle
        session.flush()
        bundle = session.get(DagBundleModel, "privacy-bundle")
        bundle.teams.clear()
        session.delete(bundle)
        session.query(Team).filter(Team.name == "privacy").delete()


@pytest.fixture
def multi_team_users(monkeypatch, tmp_path):
    """
    Multi-team mode, with a viewer of the team ``privacy`` and one of the team ``marketing``; viewers
    may look up (an admin would see every team's DAGs).
    """
    monkeypatch.setenv("AIRFLOW__CORE__MULTI_TEAM", "True")
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__DASHBOARD_LOOKUP_ROLES", "viewer")
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "officer:viewer:privacy,marketer:viewer:marketing"
    )
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"officer": PASSWORD, "marketer": PASSWORD}))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))


@pytest.fixture
def erasure_dag_of_no_team(airflow_db):
    """The example DAG absent from the metadata, or (a dag.test() registered it) in a bundle of no team."""
    from airflow.models.dag import DagModel, clear_team_name_cache
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = session.get(DagModel, DAG_ID)
        earlier_bundle = dag.bundle_name if dag is not None else None
        if dag is not None:
            session.add(DagBundleModel(name="teamless-bundle"))
            session.flush()
            dag.bundle_name = "teamless-bundle"
    clear_team_name_cache()
    yield
    clear_team_name_cache()
    if earlier_bundle is not None:
        with create_session() as session:
            session.get(DagModel, DAG_ID).bundle_name = earlier_bundle
            session.flush()
            session.delete(session.get(DagBundleModel, "teamless-bundle"))


def test_in_multi_team_mode_only_the_dags_team_may_see_it(
    api, sqlite_world, erasure_dag_of_team_privacy, multi_team_users
):
    for route in sorted(REQUESTS):
        assert call(api.login("marketer"), route).status_code == 403, route
        assert call(api.login("officer"), route).status_code == 200, route


def test_in_multi_team_mode_no_team_may_see_it_while_the_dags_team_is_unknown(
    api, sqlite_world, erasure_dag_of_no_team, multi_team_users
):
    for route in sorted(REQUESTS):
        for user in ("marketer", "officer"):
            response = call(api.login(user), route)
            assert response.status_code == 403, route
            assert "team of the DAG" in response.json()["detail"]

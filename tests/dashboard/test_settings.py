"""
Where the dashboard reads: the API server's options ``[personalize_deletion] dashboard_*``, the example
DAG's Variables only where the deployment lets them fill an unset option, the defaults; and the
example DAG's id.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airflow_provider_personalize_deletion import get_provider_info
from airflow_provider_personalize_deletion.dashboard.settings import (
    FROM_VARIABLES,
    OPTIONS,
    SECTION,
    dashboard_settings,
)
from airflow_provider_personalize_deletion.erasure.settings import (
    DAG_ID,
    WarehouseSettings,
    resolve_warehouse_settings,
)
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

EXAMPLE_DAG = Path(__file__).resolve().parents[2] / "dags" / "personalize_gdpr_erasure.py"


def test_without_variables_the_dashboard_reads_the_example_dags_default_tables():
    assert resolve_warehouse_settings(lambda key: None) == WarehouseSettings(
        "personalize_erasure_warehouse", "erasure_requests", "erasure_audit", 30
    )


def test_the_dashboard_reads_the_same_variables_as_the_example_dag():
    variables = {
        "personalize_erasure_warehouse_conn_id": "dwh",
        "personalize_erasure_requests_table": "privacy.requests",
        "personalize_erasure_audit_table": "privacy.audit",
        "personalize_erasure_overdue_days": 14,
    }
    assert resolve_warehouse_settings(variables.get) == WarehouseSettings(
        "dwh", "privacy.requests", "privacy.audit", 14
    )


@pytest.mark.parametrize(
    "name, value, field",
    [
        ("requests_table", "requests; DROP TABLE x", "requests_table"),
        ("audit_table", 42, "audit_table"),
        ("overdue_days", 0, "overdue_days"),
    ],
)
def test_a_wrong_variable_is_refused_naming_it_and_never_its_value(name, value, field):
    with pytest.raises(PersonalizeValidationError, match=field) as raised:
        resolve_warehouse_settings({f"personalize_erasure_{name}": value}.get)
    assert "DROP" not in str(raised.value)


def test_the_dashboards_dag_id_is_the_example_dags():
    tree = ast.parse(EXAMPLE_DAG.read_text())
    dag_ids = {
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "dag_id" and isinstance(keyword.value, ast.Constant)
    }
    assert dag_ids == {DAG_ID}


#: What a DAG author's task may write: every warehouse Variable, pointing elsewhere.
WRITTEN_BY_A_TASK = {
    "personalize_erasure_warehouse_conn_id": "elsewhere",
    "personalize_erasure_requests_table": "elsewhere.requests",
    "personalize_erasure_audit_table": "elsewhere.audit",
    "personalize_erasure_overdue_days": 1,
}
CONFIGURED = {
    "dashboard_warehouse_conn_id": "dwh",
    "dashboard_requests_table": "privacy.requests",
    "dashboard_audit_table": "privacy.audit",
    "dashboard_overdue_days": "14",
}


def no_variable_read(key: str) -> None:
    raise AssertionError(f"the Variable {key} was read")


def test_the_dashboard_reads_its_options():
    assert dashboard_settings(CONFIGURED.get, no_variable_read) == WarehouseSettings(
        "dwh", "privacy.requests", "privacy.audit", 14
    )


def test_without_options_the_dashboard_reads_the_defaults_and_no_variable():
    assert dashboard_settings({}.get, no_variable_read) == WarehouseSettings(
        "personalize_erasure_warehouse", "erasure_requests", "erasure_audit", 30
    )


@pytest.mark.parametrize("switch", [None, "", "False", "f", "0"])
def test_with_variables_off_a_variable_a_task_wrote_changes_nothing(switch):
    options = {FROM_VARIABLES: switch, "dashboard_warehouse_conn_id": "dwh"}
    assert dashboard_settings(options.get, WRITTEN_BY_A_TASK.get) == WarehouseSettings(
        "dwh", "erasure_requests", "erasure_audit", 30
    )


def test_with_variables_on_they_fill_only_the_options_left_unset():
    options = {FROM_VARIABLES: "True", "dashboard_warehouse_conn_id": "dwh", "dashboard_audit_table": "a"}
    assert dashboard_settings(options.get, WRITTEN_BY_A_TASK.get) == WarehouseSettings(
        "dwh", "elsewhere.requests", "a", 1
    )


def test_with_variables_on_a_bad_variable_of_a_configured_setting_is_never_read():
    options = {**CONFIGURED, FROM_VARIABLES: "true"}
    bad = dict.fromkeys(WRITTEN_BY_A_TASK, "x; DROP TABLE y")
    assert dashboard_settings(options.get, bad.get).requests_table == "privacy.requests"


@pytest.mark.parametrize(
    "option, text",
    [
        ("dashboard_requests_table", "requests; DROP TABLE x"),
        ("dashboard_audit_table", "DROP TABLE x --"),
        ("dashboard_overdue_days", "0"),
        ("dashboard_overdue_days", "DROP days"),
        ("dashboard_overdue_days", "3651"),
        (FROM_VARIABLES, "DROP"),
    ],
)
def test_a_wrong_option_is_refused_naming_it_and_never_its_value(option, text):
    with pytest.raises(PersonalizeValidationError, match=rf"\[{SECTION}\] {option}'") as raised:
        dashboard_settings({**CONFIGURED, option: text}.get, no_variable_read)
    assert "DROP" not in str(raised.value)


def test_the_provider_declares_the_dashboards_options_in_its_section():
    options = get_provider_info()["config"][SECTION]["options"]
    assert {*OPTIONS.values(), FROM_VARIABLES} <= set(options)
    assert options[FROM_VARIABLES]["default"] == "False"
    assert all(options[option]["default"] is None for option in OPTIONS.values())


def test_airflow_reads_the_options_from_the_api_servers_environment(monkeypatch):
    from airflow.configuration import conf

    from airflow_provider_personalize_deletion.dashboard.api import warehouse_settings

    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__DASHBOARD_REQUESTS_TABLE", "privacy.requests")
    monkeypatch.setenv("AIRFLOW__PERSONALIZE_DELETION__DASHBOARD_OVERDUE_DAYS", "21")
    assert conf.getboolean(SECTION, FROM_VARIABLES) is False  # the provider's declared default
    settings = warehouse_settings()
    assert (settings.requests_table, settings.overdue_days) == ("privacy.requests", 21)

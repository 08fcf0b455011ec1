"""
The erasure dashboard's FastAPI app: the page, its static files, and its data, all behind Airflow's own
authentication and authorization.

Every route, the page and its static files included, depends on the API server's
``requires_access_dag("GET", DagAccessEntity.RUN, DAG_ID)``: the caller must be logged in (the
UI's ``_token`` cookie or a bearer token) and may read the example DAG's runs; otherwise 401 or 403,
and nothing else. The evidence lookup is a POST, so that the user id travels in the body only,
never in a URL; it and the list of lookups need the lookup's own permission on top
(:mod:`.lookup_access`), and each lookup is rate-limited and recorded in Airflow's event log by the
keyed hash of the id (:mod:`.lookup_log`). The route reads its body itself, once the caller
is authorized, and no route reads more than :data:`.MAX_BODY_BYTES` of a body
(:class:`.BodyLimitMiddleware`): an anonymous caller gets its 401 with nothing of its body read. The
user id is a bind parameter of the lookup's queries: never logged or stored, and returned only when
the caller asks for it in their record (``name_subject``; otherwise the response names requests by
``request_id``; a validation error does not echo the input), and the response is
``Cache-Control: no-store``.

The warehouse settings are resolved on each request from the API server's configuration, section
``[personalize_deletion]``, which no task can write; the example DAG's Variables fill what it leaves
unset only when the deployment allows it (:func:`.dashboard_settings`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_personalize_deletion.dashboard.body_limit import BodyLimitMiddleware
from airflow_provider_personalize_deletion.dashboard.evidence import evidence_csv, evidence_record
from airflow_provider_personalize_deletion.dashboard.lookup_access import refuse_unless_may_look_up
from airflow_provider_personalize_deletion.dashboard.lookup_log import (
    EVIDENCE,
    LOOKUPS,
    Subject,
    lookups_of,
    lookups_per_hour,
    record_lookup,
    reserve_lookup,
)
from airflow_provider_personalize_deletion.dashboard.queries import (
    MAX_RUNS_PER_PAGE,
    DashboardQueries,
    InvalidCursorError,
    RunsCursor,
    UnsupportedWarehouseError,
)
from airflow_provider_personalize_deletion.dashboard.settings import dashboard_settings, get_option
from airflow_provider_personalize_deletion.erasure.settings import DAG_ID, WarehouseSettings, variable_value
from airflow_provider_personalize_deletion.exceptions import FingerprintKeyError, PersonalizeValidationError
from airflow_provider_personalize_deletion.transfers.sql_cursor import WarehouseError

#: The files of the page, by the name the page asks for.
STATIC_FILES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "icon.svg": "image/svg+xml",
}
#: The page runs its own script and style only, and talks to this app only.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_NO_STORE = {"Cache-Control": "no-store", **_PAGE_HEADERS}
_Body = TypeVar("_Body", bound=BaseModel)


class EvidenceQuery(BaseModel):
    """
    The body of an evidence lookup.

    :param user_id: the user id, exactly as the requests table holds it.
    :param format: ``json`` (the record), ``csv`` (one row per request and job) or ``bundle`` (both, as
        ``{"record": ..., "csv": ...}``: one lookup for the page's view and its two exports).
    :param name_subject: repeat ``user_id`` in the record (``subject``) and the CSV: the officer's
        export names whose it is. Off: the answer holds no id.
    """

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=1024)
    format: Literal["json", "csv", "bundle"] = "json"
    name_subject: bool = False


class LookupsQuery(BaseModel):
    """
    The body of a search of the lookups of one person.

    :param user_id: the user id, as typed in the lookups searched for (exactly).
    """

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=1024)


def _get_variable(key: str) -> Any | None:
    """A Variable as the API server reads it (secrets backends, then the metadata database)."""
    from airflow.models import Variable

    return variable_value(Variable.get(key, default_var=None))


def warehouse_settings() -> WarehouseSettings:
    """The warehouse settings of the dashboard: the API server's configuration, then the defaults."""
    return dashboard_settings(get_option, _get_variable)


def dashboard_queries(
    settings: Annotated[WarehouseSettings, Depends(warehouse_settings)],
) -> DashboardQueries:
    """The reads of the configured warehouse connection."""
    from airflow.models import Connection

    # The hook would log each statement with its parameters, and the lookup's parameter is a user id.
    connection = Connection.get_connection_from_secrets(settings.warehouse_conn_id)
    hook = connection.get_hook(hook_params={"log_sql": False})
    return DashboardQueries(
        hook, settings.requests_table, settings.audit_table, fingerprint_key=_fingerprint_key_or_none()
    )


def _fingerprint_key_or_none() -> bytes | None:
    """
    The fingerprint key, if the API server has it: the lookup then finds the requests whose user id was
    replaced by its keyed hash after the retention period; without it, only those holding the id.
    """
    from airflow_provider_personalize_deletion.exceptions import FingerprintKeyError
    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

    try:
        return fingerprint_key()
    except FingerprintKeyError:
        return None


def requires_known_team() -> None:
    """
    In multi-team mode, refuse everyone while the DAG's team is unknown.

    ``requires_access_dag`` authorizes against the team of the DAG as the metadata database holds it;
    while it holds no such DAG (not parsed yet, deleted, or the erasure runs under a renamed copy)
    there is no team, and an auth manager would let any team's user read the erasures.
    """
    from airflow.configuration import conf
    from airflow.models.dag import DagModel

    if conf.getboolean("core", "multi_team", fallback=False) and DagModel.get_team_name(DAG_ID) is None:
        raise HTTPException(
            403,
            f"Multi-team mode: the team of the DAG {DAG_ID!r} is unknown "
            "(the metadata database holds no such DAG in a team's bundle)",
        )


class NoStoreMiddleware:
    """
    Every response of the app, errors included (a 404, a 415, a body that does not parse), is
    ``Cache-Control: no-store`` and carries the page's security headers, unless it sets them itself.

    :param app: the ASGI app it wraps.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _NO_STORE.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def requires_lookup_permission(user: GetUserDep) -> None:
    """
    The lookup's own permission (:mod:`.lookup_access`), on top of the app's read of the DAG's runs.

    :raises HTTPException: 403 naming the permission.
    """
    refuse_unless_may_look_up(_auth_manager(), user, get_option)


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


async def _json_body(request: Request, model: type[_Body]) -> _Body:
    """
    A body read and validated by the route's own dependency, which runs after the app's: a caller is
    authenticated and authorized before a byte of its body is read.

    :param request: the request.
    :param model: the body's model.
    :raises HTTPException: 415 for a body that is not declared JSON; 413 for one over
        :data:`.MAX_BODY_BYTES` (:class:`.BodyLimitMiddleware`).
    :raises RequestValidationError: a body that does not parse or breaks a rule of the model (answered
        by :func:`_validation_error`, which echoes no input).
    """
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "The lookup takes a JSON body (application/json)")
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems]
        ) from None


async def lookups_query(request: Request) -> LookupsQuery:
    """The body of a search of the lookups of one person (:func:`_json_body`)."""
    return await _json_body(request, LookupsQuery)


async def lookup_query(request: Request) -> EvidenceQuery:
    """
    The body of an evidence lookup, read and validated by the route's own dependency, which runs
    after the app's: a caller is authenticated and authorized before a byte of its body is read.

    :param request: the lookup's request.
    """
    return await _json_body(request, EvidenceQuery)


SettingsDep = Annotated[WarehouseSettings, Depends(warehouse_settings)]
QueriesDep = Annotated[DashboardQueries, Depends(dashboard_queries)]


def create_app() -> FastAPI:
    """The dashboard's app, mounted by the plugin under ``/personalize-erasure``."""
    app = FastAPI(
        title="Erasure dashboard",
        # Every route reads the example DAG's runs; no route (no /docs either) exists without it.
        dependencies=[
            Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=DAG_ID)),
            Depends(requires_known_team),
        ],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    _add_error_handlers(app)

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        return Response(_static("index.html"), media_type="text/html", headers=_PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "Not found")
        return Response(_static(name), media_type=STATIC_FILES[name], headers=_PAGE_HEADERS)

    @app.get("/api/summary")
    def summary(settings: SettingsDep, queries: QueriesDep) -> JSONResponse:
        figures = queries.summary(datetime.now(timezone.utc), settings.deadline_rule)
        return JSONResponse({"dag_id": DAG_ID, **figures}, headers=_NO_STORE)

    @app.get("/api/runs")
    def runs(
        queries: QueriesDep,
        limit: Annotated[int, Query(ge=1, le=MAX_RUNS_PER_PAGE)] = 10,
        before: Annotated[str | None, Query(max_length=600)] = None,
    ) -> JSONResponse:
        page = queries.runs(limit, RunsCursor.decode(before) if before else None)
        return JSONResponse(page, headers=_NO_STORE)

    @app.get("/api/run")
    def run(queries: QueriesDep, run_id: Annotated[str, Query(min_length=1, max_length=250)]) -> JSONResponse:
        view = queries.run(run_id)
        if view is None:
            raise HTTPException(404, "The audit table holds no record of this run (yet)")
        return JSONResponse(view, headers=_NO_STORE)

    @app.post("/api/evidence", dependencies=[Depends(requires_lookup_permission)])
    def evidence(
        user: GetUserDep,
        body: Annotated[EvidenceQuery, Depends(lookup_query)],
        settings: SettingsDep,
        queries: QueriesDep,
    ) -> Response:
        from airflow.utils.session import create_session

        now = datetime.now(timezone.utc)
        subject, event_id = _checked_lookup(user, body.user_id, EVIDENCE, now)
        found = queries.requests_of(body.user_id)
        near_misses = queries.near_misses(body.user_id) if found.total == 0 else None
        with create_session() as session:
            record_lookup(session, event_id, subject, EVIDENCE, found.total)
        record = evidence_record(
            found,
            settings=settings,
            dag_id=DAG_ID,
            generated_at=now,
            generated_by=user.get_name(),
            subject=body.user_id if body.name_subject else None,
            near_misses=near_misses,
        )
        if body.format == "csv":
            return Response(evidence_csv(record), media_type="text/csv; charset=utf-8", headers=_NO_STORE)
        if body.format == "bundle":
            return JSONResponse({"record": record, "csv": evidence_csv(record)}, headers=_NO_STORE)
        return JSONResponse(record, headers=_NO_STORE)

    @app.get("/api/lookups", dependencies=[Depends(requires_lookup_permission)])
    def lookups() -> JSONResponse:
        from airflow.utils.session import create_session

        with create_session() as session:
            return JSONResponse({"lookups": lookups_of(session, None)}, headers=_NO_STORE)

    @app.post("/api/lookups", dependencies=[Depends(requires_lookup_permission)])
    def lookups_of_person(
        user: GetUserDep, body: Annotated[LookupsQuery, Depends(lookups_query)]
    ) -> JSONResponse:
        from airflow.utils.session import create_session

        subject, event_id = _checked_lookup(user, body.user_id, LOOKUPS, datetime.now(timezone.utc))
        with create_session() as session:
            found = lookups_of(session, subject, leave_out=event_id)
            record_lookup(session, event_id, subject, LOOKUPS, 0)
        return JSONResponse({"subject_key": subject.key, "lookups": found}, headers=_NO_STORE)

    return app


def _checked_lookup(user: Any, user_id: str, what: str, now: datetime) -> tuple[Subject, int]:
    """
    The keyed hash of a typed id and the id of its lookup's event, once the caller is within the rate
    limit (:func:`.reserve_lookup`: the lookup is recorded before it is made; a refusal is recorded).

    :raises FingerprintKeyError: the fingerprint key is not set: a lookup could not be recorded.
    :raises HTTPException: 429 past the rate limit.
    """
    from airflow.utils.session import create_session

    from airflow_provider_personalize_deletion.utils.fingerprint_key import fingerprint_key

    subject = Subject.of(user_id, fingerprint_key())
    with create_session() as session:
        event_id = reserve_lookup(session, user, subject, what, now, lookups_per_hour(get_option))
    return subject, event_id


def _add_error_handlers(app: FastAPI) -> None:
    """Errors as JSON that name the setting, the table or the rule, never a value."""

    def handler(status: int, what: str):
        def respond(request: Request, error: Exception) -> JSONResponse:
            return JSONResponse({"detail": f"{what}: {error}"}, status_code=status, headers=_NO_STORE)

        return respond

    app.add_exception_handler(PersonalizeValidationError, handler(500, "A dashboard setting is invalid"))
    app.add_exception_handler(UnsupportedWarehouseError, handler(501, "Unsupported warehouse"))
    app.add_exception_handler(WarehouseError, handler(503, "The warehouse could not be read"))
    app.add_exception_handler(InvalidCursorError, handler(400, "Invalid page"))
    app.add_exception_handler(FingerprintKeyError, handler(503, "No lookup without a record of it"))
    app.add_exception_handler(RequestValidationError, _validation_error)
    from airflow.exceptions import AirflowNotFoundException

    app.add_exception_handler(AirflowNotFoundException, handler(503, "The warehouse connection is missing"))


def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 without the input it would echo (a lookup's input is a user id)."""
    assert isinstance(error, RequestValidationError)
    details = [
        {
            "loc": [_location(part) for part in item.get("loc", ())],
            "msg": item.get("msg"),
            "type": item.get("type"),
        }
        for item in error.errors()
    ]
    return JSONResponse({"detail": details}, status_code=422, headers=_NO_STORE)


#: The parts of an error's location it may name: where the input was, and the app's own field names.
_LOCATIONS = frozenset(
    {
        "body",
        "query",
        "path",
        "header",
        "cookie",
        "limit",
        "before",
        "run_id",
        "name",
        *EvidenceQuery.model_fields,
    }
)


def _location(part: Any) -> Any:
    """A part of an error's location, unless it comes from the input (a key of the body can be a user id)."""
    return part if isinstance(part, int) or part in _LOCATIONS else "(a key of the input)"


def _static(name: str) -> bytes:
    return (resources.files(__package__) / "static" / name).read_bytes()

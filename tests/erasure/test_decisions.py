"""
The officer's decisions on SQLite and PostgreSQL: an extension moves the due date (two months at most,
with a reason, within the first month), a refused or unfulfillable request keeps its status and reason
code and no run claims it; bad input is refused before anything is written; a table of 0.3 gets the
columns, or the exact ALTER is named.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_personalize_deletion.dashboard.settings import OPTIONS
from airflow_provider_personalize_deletion.erasure.columns import MissingColumnError, has_column
from airflow_provider_personalize_deletion.erasure.deadlines import CALENDAR_MONTH, Deadline
from airflow_provider_personalize_deletion.erasure.decisions import (
    DecisionError,
    decide_request,
    extend_request,
)
from airflow_provider_personalize_deletion.erasure.requests_command import main
from airflow_provider_personalize_deletion.erasure.store import (
    ERASED,
    PENDING,
    REFUSED,
    UNFULFILLABLE,
    ClaimChangedError,
    ErasureRequestStore,
    batch_key,
)
from tests.dashboard.conftest import option_env
from tests.erasure.test_store import exported, mark
from tests.plugins.warehouse import warehouse_store

#: Received on 31 January: due 28 February, 31 March with one month's extension, 30 April with two.
RECEIVED = datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc)
MONTH = Deadline(CALENDAR_MONTH)
OFFICER = "dpo@example.com"
#: The Variable the warehouse fixture names its connection in.
WAREHOUSE_VARIABLE = "AIRFLOW_VAR_PERSONALIZE_ERASURE_WAREHOUSE_CONN_ID"
#: The requests table as 0.3 created it.
TABLE_OF_0_3 = (
    "CREATE TABLE erasure_requests (request_id VARCHAR(64) PRIMARY KEY, user_id VARCHAR(1024), "
    "requested_at TIMESTAMP NOT NULL, source VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, "
    "batch_key VARCHAR(32), erased_at TIMESTAMP, erasure_record TEXT, details TEXT)"
)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path, monkeypatch) -> ErasureRequestStore:
    store = warehouse_store(request.param, request, tmp_path, monkeypatch)
    store.create_tables()
    return store


def request_id_of(store: ErasureRequestStore, user_id: str) -> str:
    (request_id,) = store.hook.get_first(
        f"SELECT request_id FROM {store.requests_table} WHERE user_id = %s".replace(
            "%s", store.hook.placeholder
        ),
        (user_id,),
    )
    return request_id


def row(store: ErasureRequestStore, request_id: str, columns: str) -> tuple:
    p = store.hook.placeholder
    return tuple(
        store.hook.get_first(f"SELECT {columns} FROM erasure_requests WHERE request_id = {p}", (request_id,))
    )


def extend(store, request_id, months=2, reason="the request needs records from three systems", now=RECEIVED):
    return extend_request(store, request_id, months, reason, OFFICER, now, MONTH, may_alter=False)


def test_an_extension_moves_the_due_date_and_the_overdue_count(store):
    store.add_requests(["extended", "not-extended"], "portal", RECEIVED)
    one_day_past_february = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
    assert store.count_overdue(MONTH, one_day_past_february) == 2

    result = extend(store, request_id_of(store, "extended"), months=1, now=RECEIVED + timedelta(days=10))

    assert result["due_at_utc"].startswith("2026-03-31T23:59:59")
    assert store.count_overdue(MONTH, one_day_past_february) == 1
    assert store.count_overdue(MONTH, datetime(2026, 3, 31, 23, 0, tzinfo=timezone.utc)) == 1
    assert store.count_overdue(MONTH, datetime(2026, 4, 1, 0, 0, tzinfo=timezone.utc)) == 2
    months, reason, by = row(store, result["request_id"], "extension_months, extension_reason, extended_by")
    assert (months, reason, by) == (1, "the request needs records from three systems", OFFICER)


def test_a_request_is_due_on_the_last_day_of_february_not_on_the_31st(store):
    store.add_requests(["u1"], "portal", RECEIVED)

    assert store.count_overdue(MONTH, datetime(2026, 2, 28, 23, 59, tzinfo=timezone.utc)) == 0
    assert store.count_overdue(MONTH, datetime(2026, 3, 1, 0, 1, tzinfo=timezone.utc)) == 1


@pytest.mark.parametrize(
    ("months", "reason", "rule"),
    [
        (3, "complex", "'extension_months': must be a whole number from 1 to 2"),
        (0, "complex", "'extension_months': must be a whole number from 1 to 2"),
        (2, "", "'extension_reason': is required"),
        (2, "  ", "'extension_reason': is required"),
    ],
)
def test_a_bad_extension_is_refused_naming_the_field_and_nothing_is_written(store, months, reason, rule):
    store.add_requests(["u1"], "portal", RECEIVED)
    request_id = request_id_of(store, "u1")

    with pytest.raises(DecisionError, match=rule):
        extend(store, request_id, months=months, reason=reason)

    assert row(store, request_id, "extension_months, extension_reason, extended_by") == (None, None, None)


def test_an_extension_after_the_first_deadline_is_refused(store):
    store.add_requests(["u1"], "portal", RECEIVED)

    with pytest.raises(DecisionError, match=r"first deadline passed \(2026-02-28 UTC\).*art\. 12\(3\)"):
        extend(store, request_id_of(store, "u1"), now=datetime(2026, 3, 1, 0, 1, tzinfo=timezone.utc))


def test_an_extension_is_never_shortened_and_never_passes_two_months(store):
    store.add_requests(["u1"], "portal", RECEIVED)
    request_id = request_id_of(store, "u1")
    extend(store, request_id, months=2)

    with pytest.raises(DecisionError, match=re.escape("extended by 2 month(s) already")):
        extend(store, request_id, months=1)
    with pytest.raises(DecisionError, match="from 1 to 2"):
        extend(store, request_id, months=3)
    assert row(store, request_id, "extension_months") == (2,)


@pytest.mark.parametrize("second_months", [1, 2])
def test_a_second_extension_is_refused_and_the_first_ones_record_is_kept(store, second_months):
    # art. 12(3): one extension, told to the person with its reasons; a second would rewrite who extended
    # it, when and why, the record the person was given
    store.add_requests(["u1"], "portal", RECEIVED)
    request_id = request_id_of(store, "u1")
    extend(store, request_id, months=1, reason="records in three systems", now=RECEIVED + timedelta(days=2))

    with pytest.raises(DecisionError, match=re.escape("extended by 1 month(s) already")):
        extend_request(
            store,
            request_id,
            second_months,
            "another reason",
            "someone-else",
            RECEIVED,
            MONTH,
            may_alter=False,
        )

    columns = "extension_months, extension_reason, extended_by, extended_at"
    (months, reason, by, extended_at) = row(store, request_id, columns)
    assert (months, reason, by) == (1, "records in three systems", OFFICER)
    assert str(extended_at).startswith("2026-02-02")


@pytest.mark.parametrize(
    ("code", "status"), [("art17_3_e_legal_claims", REFUSED), ("cannot_identify", UNFULFILLABLE)]
)
def test_a_decided_request_keeps_its_status_and_code_and_no_run_claims_it(store, code, status):
    store.add_requests(["decided", "pending"], "portal", RECEIVED)
    request_id = request_id_of(store, "decided")

    assert decide_request(store, request_id, code, OFFICER, RECEIVED, may_alter=False)["status"] == status

    key = batch_key("run-1")
    assert store.claim_pending(key) == 1
    assert mark(store, key, "pending") == 1
    stored_status, stored_code, record = row(store, request_id, "status, reason_code, erasure_record")
    assert (stored_status, stored_code) == (status, code)
    assert json.loads(record)["decided_by"] == OFFICER
    assert store.count_pending() == 0


def test_a_decision_during_a_run_makes_the_run_mark_nothing(store):
    store.add_requests(["u1", "u2"], "portal", RECEIVED)
    key = batch_key("run-1")
    store.claim_pending(key)
    decide_request(
        store, request_id_of(store, "u1"), "art17_3_b_legal_obligation", OFFICER, RECEIVED, may_alter=False
    )

    with pytest.raises(ClaimChangedError):
        store.mark_erased(
            key,
            RECEIVED,
            {"jobs": []},
            fingerprint_key=b"test-fingerprint-key",
            expected=exported("u1", "u2"),
        )

    statuses = dict(store.hook.get_records("SELECT user_id, status FROM erasure_requests"))
    assert statuses == {"u1": REFUSED, "u2": PENDING}


def test_an_unknown_reason_code_is_refused_naming_the_field(store):
    store.add_requests(["u1"], "portal", RECEIVED)
    request_id = request_id_of(store, "u1")

    with pytest.raises(DecisionError, match="'reason_code': must be one of art17_3_a_expression, "):
        decide_request(store, request_id, "too_busy", OFFICER, RECEIVED, may_alter=False)

    assert row(store, request_id, "status") == (PENDING,)


def test_only_a_pending_request_may_be_decided(store):
    store.add_requests(["u1"], "portal", RECEIVED)
    key = batch_key("run-1")
    store.claim_pending(key)
    mark(store, key, "u1")

    with pytest.raises(DecisionError, match="the request is 'erased'; only a pending request"):
        decide_request(
            store, request_id_of(store, "u1"), "cannot_identify", OFFICER, RECEIVED, may_alter=False
        )
    with pytest.raises(DecisionError, match="'request_id': no request has this id"):
        extend(store, "no-such-request")
    assert row(store, request_id_of(store, "u1"), "status") == (ERASED,)


@pytest.fixture
def old_store(store) -> ErasureRequestStore:
    """A requests table of 0.3 (no column of 0.4), holding one pending request."""
    store.hook.run("DROP TABLE erasure_requests")
    store.hook.run(TABLE_OF_0_3)
    store.add_requests(["u1"], "portal", RECEIVED)
    return store


def test_a_table_of_0_3_is_refused_naming_the_exact_alter_when_it_may_not_be_changed(old_store):
    with pytest.raises(
        MissingColumnError, match="ALTER TABLE erasure_requests ADD COLUMN extension_months INTEGER"
    ):
        extend(old_store, request_id_of(old_store, "u1"))
    with pytest.raises(
        MissingColumnError, match=re.escape("ALTER TABLE erasure_requests ADD COLUMN reason_code VARCHAR(64)")
    ):
        decide_request(
            old_store, request_id_of(old_store, "u1"), "cannot_identify", OFFICER, RECEIVED, may_alter=False
        )

    assert not has_column(old_store.hook, "erasure_requests", "extension_months")
    assert old_store.count_overdue(MONTH, datetime(2026, 3, 1, tzinfo=timezone.utc)) == 1  # still read


def test_a_table_of_0_3_gets_the_columns_where_it_may_be_changed(old_store):
    request_id = request_id_of(old_store, "u1")

    extend_request(old_store, request_id, 1, "complex", OFFICER, RECEIVED, MONTH, may_alter=True)

    assert row(old_store, request_id, "extension_months") == (1,)
    assert has_column(old_store.hook, "erasure_requests", "user_key_id")


@pytest.fixture
def cli_store(store, monkeypatch) -> ErasureRequestStore:
    """The store, named in ``[personalize_deletion]`` as the dashboard's warehouse: the command reads it."""
    monkeypatch.setenv(option_env(OPTIONS["warehouse_conn_id"]), os.environ[WAREHOUSE_VARIABLE])
    return store


def test_the_command_line_extends_and_refuses_bad_input_with_exit_2(cli_store, capsys):
    store = cli_store
    store.add_requests(["u1"], "portal", datetime.now(timezone.utc))
    request_id = request_id_of(store, "u1")

    assert main(["--by", OFFICER, "extend", request_id, "--months", "3", "--reason", "complex"]) == 2
    assert "'extension_months'" in capsys.readouterr().err

    assert main(["--by", OFFICER, "extend", request_id, "--months", "2", "--reason", "complex"]) == 0
    assert json.loads(capsys.readouterr().out)["extension_months"] == 2

    assert main(["--by", OFFICER, "decide", request_id, "--reason-code", "nope"]) == 2
    assert "'reason_code'" in capsys.readouterr().err
    assert main(["decide", request_id, "--reason-code", "art17_3_a_expression"]) == 0
    assert row(store, request_id, "status, reason_code") == (REFUSED, "art17_3_a_expression")


def test_a_variable_a_task_wrote_cannot_widen_the_window_the_command_line_extends_in(
    cli_store, capsys, monkeypatch
):
    # Any running task may write a Variable: a deadline of 3650 days there would let an officer extend a
    # request long past its first month, and the dashboard (which ignores it) show it on time.
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_DEADLINE", "days")
    monkeypatch.setenv("AIRFLOW_VAR_PERSONALIZE_ERASURE_OVERDUE_DAYS", "3650")
    cli_store.add_requests(["u1"], "portal", datetime.now(timezone.utc) - timedelta(days=40))
    request_id = request_id_of(cli_store, "u1")

    assert main(["--by", OFFICER, "extend", request_id, "--months", "2", "--reason", "complex"]) == 2

    assert "first deadline passed" in capsys.readouterr().err
    assert row(cli_store, request_id, "extension_months") == (None,)

"""
The evidence lookup's reads beyond the requests and their runs: the verification rows of the dataset
groups that erased a person, recorded since their erasure, and where the runs' records sit in the
evidence ledger (the index table ``<audit table>_ledger``: sequence and hash, what the verifier checks).

Both tables may be missing (no verification ran yet; the ledger is off): no error, nothing read. Bounded
as the rest of the dashboard: at most :data:`MAX_PERSON_VERIFICATION_ROWS` rows and
:data:`MAX_LEDGER_ROWS` index rows, texts read cut in SQL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.dashboard.verifications import table_exists
from airflow_provider_personalize_deletion.dashboard.views import name, timestamp, valid_moment
from airflow_provider_personalize_deletion.erasure.store import sql_timestamp
from airflow_provider_personalize_deletion.ledger.warehouse import ERASURE_RUN, VERIFICATION, WarehouseTables

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.dashboard.queries import DashboardQueries

#: Verification rows one lookup reads, at most, oldest first from the earliest erasure shown.
MAX_PERSON_VERIFICATION_ROWS = 5000
#: Ledger index rows one lookup reads, at most.
MAX_LEDGER_ROWS = 1000
#: The kinds of ledger entries the evidence names.
LEDGER_KINDS = (ERASURE_RUN, VERIFICATION)


@dataclass(frozen=True)
class VerificationRow:
    """
    One verification outcome of a dataset of a group.

    :param run_id: the verification run.
    :param recorded_at: when it was recorded (ISO 8601).
    :param dataset_group_arn: the group.
    :param dataset_arn: the dataset.
    :param outcome: ``verified_absent``, ``found_again`` or ``not_verified``.
    :param export_job_arn: the dataset export job that was scanned.
    """

    run_id: str | None
    recorded_at: str | None
    dataset_group_arn: str | None
    dataset_arn: str | None
    outcome: str | None
    export_job_arn: str | None


def verification_rows_since(
    queries: DashboardQueries, cursor: Any, groups: Collection[str], since: datetime | None
) -> list[VerificationRow]:
    """
    The verification rows of ``groups`` recorded at or after ``since``, oldest first.

    :param queries: the dashboard's reads (tables, dialect).
    :param cursor: the lookup's cursor.
    :param groups: the dataset groups' ARNs (at most :data:`.MAX_GROUPS_PER_RUN` per run shown).
    :param since: the earliest erasure shown; None: nothing to read.
    """
    if not groups or since is None or not table_exists(queries, queries.verification_table):
        return []
    p = queries._p
    columns = queries._columns(
        "run_id", "recorded_at", "dataset_group_arn", "dataset_arn", "outcome", "export_job_arn"
    )
    chosen = sorted(groups)
    cursor.execute(
        f"SELECT {columns} FROM {queries.verification_table} "
        f"WHERE recorded_at >= {p} AND dataset_group_arn IN ({', '.join([p] * len(chosen))}) "
        f"ORDER BY recorded_at, run_id LIMIT {MAX_PERSON_VERIFICATION_ROWS}",
        (sql_timestamp(since), *chosen),
    )
    return [
        VerificationRow(name(run), timestamp(at), name(group), name(dataset), name(outcome), name(job))
        for run, at, group, dataset, outcome, job in cursor.fetchall()
    ]


def ledger_positions(
    queries: DashboardQueries, cursor: Any, run_ids: Collection[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """
    Where each run's latest record sits in the ledger, by ``(kind, run id)``: ``sequence`` and
    ``record_sha256``; a run not appended (yet) has none.

    :param queries: the dashboard's reads (tables, dialect).
    :param cursor: the lookup's cursor.
    :param run_ids: the erasure and verification runs shown.
    """
    index = WarehouseTables(audit=queries.audit_table).index
    if not run_ids or not table_exists(queries, index):
        return {}
    chosen = sorted(run_ids)
    cursor.execute(
        f"SELECT kind, {queries._columns('run_id')}, ledger_sequence, record_sha256 FROM {index} "
        f"WHERE run_id IN ({', '.join([queries._p] * len(chosen))}) "
        f"ORDER BY ledger_sequence LIMIT {MAX_LEDGER_ROWS}",
        tuple(chosen),
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, run_id, sequence, digest in cursor.fetchall():
        if (
            kind in LEDGER_KINDS
            and isinstance(sequence, int)
            and isinstance(digest, str)
            and len(digest) == 64
        ):
            found[kind, run_id] = {"sequence": sequence, "record_sha256": digest}  # the latest wins
    return found


def verified_after(rows: Sequence[VerificationRow], group: str, erased_at: Any) -> list[VerificationRow]:
    """
    The rows of the first verification run of ``group`` recorded after ``erased_at``.

    :param rows: what :func:`verification_rows_since` read.
    :param group: the dataset group.
    :param erased_at: the request's erasure (ISO 8601).
    """
    erased = valid_moment(erased_at)
    if erased is None:
        return []
    first: str | None = None
    chosen = []
    for row in rows:
        at = valid_moment(row.recorded_at)
        if row.dataset_group_arn != group or at is None or at <= erased:
            continue
        first = first or row.run_id
        if row.run_id == first:
            chosen.append(row)
    return chosen


__all__: Sequence[str] = ("VerificationRow", "ledger_positions", "verification_rows_since", "verified_after")

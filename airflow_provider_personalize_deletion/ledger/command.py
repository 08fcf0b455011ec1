"""
``personalize-erasure-verify``: check the evidence ledger with read-only credentials, without Airflow.

It walks the chain (:mod:`.chain`), describes again every job the records name (:mod:`.claims`), and,
given the warehouse's SQLAlchemy URL, compares the warehouse's tables with the ledger
(:mod:`.warehouse`). It prints every break and exits 1 on any, 0 when there is none; 2 on bad usage;
3 when it could not check (credentials refused, no such bucket, a warehouse it cannot read), with
the reason on stderr and no verdict. Credentials come from boto3's usual chain (environment,
``--profile``, instance role).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_personalize_deletion.ledger.chain import Report, VerificationError, walk_chain
from airflow_provider_personalize_deletion.ledger.claims import check_claims
from airflow_provider_personalize_deletion.ledger.warehouse import (
    WarehouseReader,
    WarehouseTables,
    compare_with_warehouse,
)
from airflow_provider_personalize_deletion.ledger.writer import DEFAULT_RETENTION_DAYS

#: The exit code of a verification that could not check (no verdict).
CANNOT_VERIFY = 3

_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    tables = WarehouseTables()
    command = argparse.ArgumentParser(
        prog="personalize-erasure-verify",
        description="Verify the erasure evidence ledger: the hash chain, every job it names, and "
        "optionally the warehouse. Exits 1 on any break.",
    )
    command.add_argument("--bucket", required=True, help="the ledger's bucket")
    command.add_argument("--prefix", required=True, help="the ledger's prefix (its name)")
    command.add_argument("--profile", help="the AWS profile of the read-only credentials")
    command.add_argument("--region", help="the AWS region of Personalize")
    command.add_argument("--endpoint-url", help="another AWS endpoint (e.g. a local emulator)")
    command.add_argument(
        "--allow-unlocked",
        action="store_true",
        help="report records without Object Lock as not tamper-evident instead of as breaks",
    )
    command.add_argument(
        "--retention-days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        help="the setting [personalize_deletion] ledger_retention_days: each record must be retained in "
        f"compliance mode at least this long after it was appended (default {DEFAULT_RETENTION_DAYS})",
    )
    command.add_argument(
        "--expect-head",
        type=_noted_head,
        metavar="SEQUENCE:SHA256",
        help="a record noted earlier (the head at the last check, or a per-person evidence's ledger "
        "position): it must still be there with that hash, so a chain cut before it is a break",
    )
    command.add_argument("--skip-jobs", action="store_true", help="do not describe the jobs again")
    command.add_argument("--warehouse", help="the warehouse's SQLAlchemy URL, to compare its tables")
    command.add_argument("--requests-table", default=tables.requests)
    command.add_argument("--audit-table", default=tables.audit)
    command.add_argument("--verification-table", default=tables.verification)
    return command


def verify(arguments: argparse.Namespace, session: Any) -> Report:
    """
    Run every check the arguments ask for.

    :param arguments: parsed by :func:`parser`.
    :param session: a boto3 session with the auditor's credentials.
    """
    where = {"endpoint_url": arguments.endpoint_url} if arguments.endpoint_url else {}
    report = walk_chain(
        session.client("s3", **where),
        arguments.bucket,
        arguments.prefix,
        allow_unlocked=arguments.allow_unlocked,
        retention_days=arguments.retention_days,
    )
    if arguments.expect_head:
        report.breaks += _noted_head_breaks(report, *arguments.expect_head)
    if not arguments.skip_jobs:
        report.breaks += check_claims(report.records, session.client("personalize", **where))
    if arguments.warehouse:
        tables = WarehouseTables(
            arguments.requests_table, arguments.audit_table, arguments.verification_table
        )
        report.breaks += _warehouse_breaks(arguments.warehouse, tables, report)
    return report


def _noted_head(text: str) -> tuple[int, str]:
    sequence, _, digest = text.partition(":")
    if not sequence.isdigit() or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError(
            "must be SEQUENCE:SHA256 (a number, a colon, 64 lower-case hex digits)"
        )
    return int(sequence), digest


def _noted_head_breaks(report: Report, sequence: int, digest: str) -> list[str]:
    found = next((record for record in report.records if record.sequence == sequence), None)
    if found is None:
        return [f"record {sequence}, noted with hash {digest}, is not in the ledger (truncated or removed)"]
    if found.sha256 != digest:
        return [f"record {sequence} is not the record noted: its hash is {found.sha256}, noted {digest}"]
    return []


def _warehouse_breaks(url: str, tables: WarehouseTables, report: Report) -> list[str]:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    driver_error = getattr(engine.dialect.dbapi, "Error", SQLAlchemyError)
    try:
        connection = engine.raw_connection()
        try:
            placeholder = _PLACEHOLDERS[engine.dialect.paramstyle]
            return compare_with_warehouse(report.records, WarehouseReader(connection, placeholder, tables))
        finally:
            connection.close()
    except (SQLAlchemyError, driver_error) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise VerificationError(f"the warehouse cannot be read ({first_line})") from error
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """The command: prints the verification and returns its exit code."""
    import boto3

    arguments = parser().parse_args(argv)
    session = boto3.Session(profile_name=arguments.profile, region_name=arguments.region)
    try:
        report = verify(arguments, session)
    except (VerificationError, ClientError, BotoCoreError) as error:
        print(f"ERROR: cannot verify: {error}", file=sys.stderr)
        return CANNOT_VERIFY
    for note in report.notes:
        print(f"NOTE: {note}")
    for found in report.breaks:
        print(f"BREAK: {found}")
    verdict = "FAILED" if report.breaks else "OK"
    print(
        f"{verdict}: {len(report.records)} record(s) in "
        f"s3://{arguments.bucket}/{arguments.prefix.strip('/')}/, {len(report.breaks)} break(s)"
    )
    return 1 if report.breaks else 0


if __name__ == "__main__":
    sys.exit(main())

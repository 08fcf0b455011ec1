"""
Export benchmark: user ids from SQLite and PostgreSQL to deletion files in S3 (the local emulator).

Ours: ``SqlToPersonalizeDeletionFileOperator`` (streamed batches, validation, external sort and
deduplication, 50 MiB files, SSE-S3 multipart upload, verification). Baseline: what a user would
write with the stock hooks, ``DbApiHook.get_pandas_df`` (now spelled ``get_df(df_type="pandas")``)
then ``DataFrame.to_csv`` then ``S3Hook.load_string`` (one object, SSE-S3, nothing validated).

Each (source, size, variant) runs in a fresh process; the figures are its wall time (imports done
before the clock starts), ids per second and peak RSS (the RSS after imports is shown too). The ids
are 36-character UUID-like strings, distinct, in no particular order (a multiplicative hash leads
each one), the same in both databases.

Run: ``.venv/bin/python benchmarks/export.py [--quick] [--sizes 1000000,5000000] [--sources sqlite]``
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from _common import (
    argument_parser,
    aws_client,
    current_rss_bytes,
    emit_result,
    machine_description,
    markdown_table,
    mib,
    ratio,
    run_worker,
    scratch_dir,
)
from _postgres import postgres_server

from airflow_provider_personalize_deletion.emulator import LocalAws

SIZES = (1_000_000, 5_000_000, 10_000_000)
QUICK_SIZES = (100_000, 300_000)
SOURCES = ("sqlite", "postgres")
VARIANTS = ("baseline", "ours")
CONN_ID = "warehouse"
BUCKET = "erasure-benchmark"
TABLE = "erasure_ids"
# n -> "<8 hex digits of a multiplicative hash of n>-0000-4000-8000-<n on 12 digits>": distinct ids,
# in an order unrelated to their sort order, identical in both databases.
SQLITE_FILL = f"""
INSERT INTO {TABLE} (user_id)
WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < {{size}})
SELECT printf('%08x-0000-4000-8000-%012d', (n * 2654435761) % 4294967296, n) FROM seq
"""
POSTGRES_FILL = f"""
INSERT INTO {TABLE} (user_id)
SELECT format('%s-0000-4000-8000-%s', lpad(to_hex((n * 2654435761) % 4294967296), 8, '0'),
              lpad(n::text, 12, '0'))
FROM generate_series(0::bigint, {{size}} - 1) AS n
"""


def query(size: int) -> str:
    """:param size: the SQL both variants run: the first ``size`` ids of the table."""
    return f"SELECT user_id FROM {TABLE} LIMIT {size}"


@contextmanager
def sqlite_warehouse(size: int) -> Iterator[str]:
    """
    A SQLite file of ``size`` ids; yield its Airflow connection (JSON form).

    :param size: the number of ids.
    """
    with scratch_dir("ppd-bench-sqlite-") as folder:
        path = os.path.join(folder, "warehouse.db")
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA journal_mode = OFF")
            db.execute(f"CREATE TABLE {TABLE} (user_id TEXT NOT NULL)")
            db.execute(SQLITE_FILL.format(size=size))
        yield json.dumps({"conn_type": "sqlite", "host": path})


@contextmanager
def postgres_warehouse(size: int) -> Iterator[str]:
    """
    A private PostgreSQL server holding ``size`` ids; yield its connection URI.

    :param size: the number of ids.
    """
    with postgres_server() as uri:
        db = psycopg2.connect(uri)
        try:
            with db, db.cursor() as cursor:
                cursor.execute(f"CREATE UNLOGGED TABLE {TABLE} (user_id TEXT NOT NULL)")
                cursor.execute(POSTGRES_FILL.format(size=size))
                cursor.execute(f"ANALYZE {TABLE}")
        finally:
            db.close()
        yield uri


WAREHOUSES = {"sqlite": sqlite_warehouse, "postgres": postgres_warehouse}


def export_ours(size: int) -> int:
    """
    Export with the operator; return the number of distinct ids written.

    :param size: the number of ids to export.
    """
    from airflow_provider_personalize_deletion.transfers.sql_to_s3 import (
        SqlToPersonalizeDeletionFileOperator,
    )

    operator = SqlToPersonalizeDeletionFileOperator(
        task_id="export_user_ids",
        conn_id=CONN_ID,
        sql=query(size),
        s3_bucket=BUCKET,
        s3_key_prefix="benchmark/ours",
    )
    return operator.execute({})["id_count"]


def export_baseline(size: int) -> int:
    """
    Export the way the stock hooks invite to; return the number of ids written.

    :param size: the number of ids to export.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import BaseHook

    frame = BaseHook.get_connection(CONN_ID).get_hook().get_df(query(size), df_type="pandas")
    body = frame.rename(columns={"user_id": "USER_ID"}).to_csv(index=False)
    S3Hook().load_string(body, key="benchmark/baseline/user_ids.csv", bucket_name=BUCKET, encrypt=True)
    return len(frame)


EXPORTS = {"ours": export_ours, "baseline": export_baseline}
# Imported before the clock starts, so that the figures measure the export, not Airflow's start-up.
SHARED_MODULES = (
    "airflow.sdk",
    "airflow.providers.amazon.aws.hooks.s3",
    "airflow.providers.sqlite.hooks.sqlite",
    "airflow.providers.postgres.hooks.postgres",
)
VARIANT_MODULES = {
    "ours": ("airflow_provider_personalize_deletion.transfers.sql_to_s3",),
    "baseline": ("pandas",),
}


def worker(name: str, args: dict[str, Any]) -> None:
    """
    Run one export in this fresh process and emit its figures.

    :param name: the variant, ``ours`` or ``baseline``.
    :param args: ``{"size": ...}``.
    """
    for module in (*SHARED_MODULES, *VARIANT_MODULES[name]):
        importlib.import_module(module)
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    ids = EXPORTS[name](args["size"])
    emit_result({"ids": ids, "wall_seconds": time.perf_counter() - started, "rss_before_bytes": rss_before})


def measure(aws: LocalAws, warehouse_conn: str, size: int) -> dict[str, dict[str, Any]]:
    """
    Run both variants on one warehouse, each in a fresh process, on an empty bucket.

    :param aws: the running emulator.
    :param warehouse_conn: the warehouse's Airflow connection.
    :param size: the number of ids.
    """
    results = {}
    for variant in VARIANTS:
        aws.client.reset()
        aws_client(aws, "s3").create_bucket(Bucket=BUCKET)
        env = {
            f"AIRFLOW_CONN_{CONN_ID.upper()}": warehouse_conn,
            "AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri(),
        }
        result = run_worker(__file__, variant, {"size": size}, env)
        if result["ids"] != size:
            raise RuntimeError(f"{variant} wrote {result['ids']} ids, {size} expected")
        results[variant] = result
    aws.client.reset()
    return results


def report(rows: list[tuple[str, int, dict[str, dict[str, Any]]]]) -> str:
    """
    Format the figures and the ratios (ours over baseline) as a Markdown table.

    :param rows: ``(source, size, {variant: result})`` per measurement.
    """
    table = []
    for source, size, results in rows:
        ours, base = results["ours"], results["baseline"]
        speed = {variant: size / result["wall_seconds"] for variant, result in results.items()}
        table.append(
            (
                source,
                f"{size:,}",
                f"{speed['ours']:,.0f} / {speed['baseline']:,.0f}",
                f"{ours['wall_seconds']:.1f} / {base['wall_seconds']:.1f}",
                f"{mib(ours['peak_rss_bytes'])} / {mib(base['peak_rss_bytes'])}",
                f"{mib(ours['rss_before_bytes'])} / {mib(base['rss_before_bytes'])}",
                ratio(speed["ours"], speed["baseline"]),
                ratio(ours["peak_rss_bytes"], base["peak_rss_bytes"]),
            )
        )
    headers = (
        "source",
        "ids",
        "ids/s ours / baseline",
        "wall s ours / baseline",
        "peak RSS ours / baseline",
        "RSS after imports",
        "throughput ratio",
        "memory ratio",
    )
    return markdown_table(headers, table)


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated numbers of ids (default 1M,5M,10M; quick 100k,300k)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: sqlite,postgres")
    options = parser.parse_args()
    if options.worker:
        worker(options.worker, json.loads(options.worker_args))
        return
    sizes = [int(size) for size in options.sizes.split(",")] if options.sizes else None
    sizes = sizes or list(QUICK_SIZES if options.quick else SIZES)
    print(machine_description(), flush=True)
    rows = []
    with LocalAws() as aws:
        for source in options.sources.split(","):
            # One warehouse of the largest size; smaller runs read its first rows (LIMIT).
            started = time.perf_counter()
            with WAREHOUSES[source](max(sizes)) as conn:
                loaded = time.perf_counter() - started
                print(f"{source}: {max(sizes):,} ids loaded in {loaded:.0f} s", flush=True)
                for size in sizes:
                    rows.append((source, size, measure(aws, conn, size)))
                    print(report(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(report(rows))


if __name__ == "__main__":
    main()

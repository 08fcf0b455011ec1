"""
Export benchmark: user ids from SQLite and PostgreSQL to deletion files in S3 (the local emulator).

Ours: ``SqlToPersonalizeDeletionFileOperator`` (streamed batches, validation, external sort and
deduplication, 50 MB files, SSE-S3 multipart upload, verification). Baseline: what a user would
write with the stock hooks, ``DbApiHook.get_pandas_df`` (now spelled ``get_df(df_type="pandas")``)
then ``DataFrame.to_csv`` then ``S3Hook.load_string`` (one object, SSE-S3, nothing validated).

The limit: what this machine needs at least for the same work, the time to read the rows plus the
time to write the bytes, each the fastest way there is. Read: the same query through the same driver
and the same cursor as ours (SQLite: text as bytes, the driver's fastest; PostgreSQL: a server-side
cursor), ``fetchmany`` of the same size, the rows dropped. Write: one plain ``PutObject`` of as many
bytes as our files hold, to the same S3, from a body already in memory. The two are added up: an
export cannot overlap them, because no file may be written before every id has been read and
checked (one invalid id fails the run with nothing written). Each variant is also shown as a
fraction of the limit (limit time / its time; 1.0 would be the machine's speed).

Each (source, size, variant) runs in a fresh process; the figures are its wall time (imports done
before the clock starts), its CPU time (all threads, and ended children), ids per second and peak
RSS (the RSS after imports is shown too), plus the peak RSS of its child processes (ours sorts in a
``sort`` child), sampled from outside. The emulator and the database server run in other processes:
their CPU is in no variant's figure. With ``--repeat N`` the variants run N times, interleaved, and
the medians are shown (peak memory: the highest). The ids are
36-character UUID-like strings, distinct, in no particular order (a multiplicative hash leads each
one), the same in both databases.

Run: ``.venv/bin/python benchmarks/export.py [--quick] [--sizes 1000000,5000000] [--sources sqlite]``
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import sqlite3
import subprocess
import time
import uuid
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
    median,
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
VARIANTS = ("limit", "baseline", "ours")
CONN_ID = "warehouse"
FINGERPRINT_KEY = "benchmark-fingerprint-key-of-32b"
ID_LENGTH = 36
FETCH_SIZE = 10_000  # the operator's default fetch_size
MAX_FILE_BYTES = 50_000_000  # the operator's default max_file_bytes
HEADER_BYTES = len(b"USER_ID\n")
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
    """:param size: the SQL every variant runs: the first ``size`` ids of the table."""
    return f"SELECT user_id FROM {TABLE} LIMIT {size}"


def file_bytes(size: int) -> int:
    """:param size: the number of distinct ids; the bytes of our files (one header per 50 MB file)."""
    lines_per_file = (MAX_FILE_BYTES - HEADER_BYTES) // (ID_LENGTH + 1)
    return size * (ID_LENGTH + 1) + HEADER_BYTES * math.ceil(size / lines_per_file)


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


def limit(size: int) -> dict[str, float]:
    """
    Time the limit's two steps: read the rows and drop them, then write as many bytes in one PUT.

    :param size: the number of ids.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk import BaseHook

    client = S3Hook().get_conn()
    body = b"u" * file_bytes(size)
    conn = BaseHook.get_connection(CONN_ID).get_hook().get_conn()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if isinstance(conn, sqlite3.Connection):
        conn.text_factory = bytes  # the driver's fastest way, and ours
        cursor = conn.cursor()
    else:
        cursor = conn.cursor(name=f"limit_{uuid.uuid4().hex}")  # streamed from the server, as ours
    cursor.execute(query(size))
    rows = 0
    while batch := cursor.fetchmany(FETCH_SIZE):
        rows += len(batch)
    read = time.perf_counter()
    client.put_object(Bucket=BUCKET, Key="benchmark/limit/user_ids.csv", Body=body)
    written = time.perf_counter()
    cpu = _cpu_seconds() - cpu_before
    conn.close()
    if rows != size:
        raise RuntimeError(f"the limit read {rows} rows, {size} expected")
    return {"ids": size, "read_seconds": read - started, "write_seconds": written - read, "cpu_seconds": cpu}


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
    "limit": (),
}


def worker(name: str, args: dict[str, Any]) -> None:
    """
    Run one export in this fresh process and emit its figures.

    :param name: the variant, ``ours`` or ``baseline``.
    :param args: ``{"size": ...}``.
    """
    for module in (*SHARED_MODULES, *VARIANT_MODULES[name]):
        importlib.import_module(module)
    if name == "limit":
        steps = limit(args["size"])
        emit_result({**steps, "wall_seconds": steps["read_seconds"] + steps["write_seconds"]})
        return
    rss_before = current_rss_bytes()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    ids = EXPORTS[name](args["size"])
    wall = time.perf_counter() - started
    emit_result(
        {
            "ids": ids,
            "wall_seconds": wall,
            "cpu_seconds": _cpu_seconds() - cpu_before,
            "rss_before_bytes": rss_before,
        }
    )


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its children that ended (a sort)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sort_version() -> str:
    """The first line of ``sort --version`` (which sort ours runs, if GNU), or why there is none."""
    try:
        return subprocess.run(["sort", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError as error:
        return f"no sort ({type(error).__name__})"


def measure(aws: LocalAws, warehouse_conn: str, size: int, repeat: int) -> dict[str, dict[str, Any]]:
    """
    Run every variant on one warehouse ``repeat`` times, interleaved, each in a fresh process on an
    empty bucket; per variant, the median of each time and the highest peak memory.

    :param aws: the running emulator.
    :param warehouse_conn: the warehouse's Airflow connection.
    :param size: the number of ids.
    :param repeat: how many times each variant runs.
    """
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for _ in range(repeat):
        for variant in VARIANTS:
            aws.client.reset()
            aws_client(aws, "s3").create_bucket(Bucket=BUCKET)
            env = {
                f"AIRFLOW_CONN_{CONN_ID.upper()}": warehouse_conn,
                "AIRFLOW_CONN_AWS_DEFAULT": aws.airflow_conn_uri(),
                "AIRFLOW__PERSONALIZE_DELETION__FINGERPRINT_KEY": FINGERPRINT_KEY,
            }
            result = run_worker(__file__, variant, {"size": size}, env)
            if result["ids"] != size:
                raise RuntimeError(f"{variant} wrote {result['ids']} ids, {size} expected")
            if variant == "ours" and (written := _bytes_under(aws, "benchmark/ours/")) != file_bytes(size):
                raise RuntimeError(f"ours wrote {written} bytes, {file_bytes(size)} expected")
            runs[variant].append(result)
    aws.client.reset()
    return {variant: _summary(results) for variant, results in runs.items()}


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each time, the highest of each memory figure, and every wall time."""
    summary = {
        key: (max if key.endswith("_bytes") else median)([result[key] for result in results])
        for key in results[0]
        if key.endswith(("_seconds", "_bytes"))
    }
    return {**summary, "walls": [result["wall_seconds"] for result in results]}


def _bytes_under(aws: LocalAws, prefix: str) -> int:
    listing = aws_client(aws, "s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sum(item["Size"] for item in listing.get("Contents", []))


def peak_memory(result: dict[str, Any]) -> int:
    """:param result: a worker's figures; its peak RSS plus its children's (an upper bound)."""
    return result["peak_rss_bytes"] + result["children_peak_rss_bytes"]


def report(rows: list[tuple[str, int, dict[str, dict[str, Any]]]]) -> str:
    """
    Format the figures, the fractions of the limit and the ratios (ours over baseline) as Markdown.

    :param rows: ``(source, size, {variant: result})`` per measurement.
    """
    table = []
    for source, size, results in rows:
        ours, base, bound = results["ours"], results["baseline"], results["limit"]
        speed = {variant: size / result["wall_seconds"] for variant, result in results.items()}
        table.append(
            (
                source,
                f"{size:,}",
                f"{bound['wall_seconds']:.1f} ({bound['read_seconds']:.1f} + {bound['write_seconds']:.1f})",
                f"{ours['wall_seconds']:.1f} / {base['wall_seconds']:.1f}",
                " ".join(f"{wall:.1f}" for wall in ours["walls"]),
                f"{bound['cpu_seconds']:.1f} / {ours['cpu_seconds']:.1f} / {base['cpu_seconds']:.1f}",
                f"{speed['ours']:,.0f} / {speed['baseline']:,.0f}",
                f"{speed['ours'] / speed['limit']:.3f} / {speed['baseline'] / speed['limit']:.3f}",
                ratio(speed["ours"], speed["baseline"]),
                f"{mib(ours['peak_rss_bytes'])} + {mib(ours['children_peak_rss_bytes'])} / "
                f"{mib(base['peak_rss_bytes'])}",
                f"{mib(ours['rss_before_bytes'])} / {mib(base['rss_before_bytes'])}",
                ratio(peak_memory(ours), peak_memory(base)),
            )
        )
    headers = (
        "source",
        "ids",
        "limit s (read + write)",
        "wall s ours / baseline (median)",
        "wall s ours, each run",
        "CPU s limit / ours (+ sort) / baseline",
        "ids/s ours / baseline",
        "fraction of limit ours / baseline",
        "throughput ratio (vs pandas)",
        "peak RSS ours (+ sort child) / baseline",
        "RSS after imports",
        "memory ratio",
    )
    return markdown_table(headers, table)


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--sizes", help="comma-separated numbers of ids (default 1M,5M,10M; quick 100k,300k)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant (medians shown)")
    parser.add_argument("--save", help="write every figure, unrounded, to this JSON file")
    options = parser.parse_args()
    if options.worker:
        worker(options.worker, json.loads(options.worker_args))
        return
    sizes = [int(size) for size in options.sizes.split(",")] if options.sizes else None
    sizes = sizes or list(QUICK_SIZES if options.quick else SIZES)
    print(f"{machine_description()}; {sort_version()}; runs per variant: {options.repeat}", flush=True)
    rows = []
    with LocalAws() as aws:
        for source in options.sources.split(","):
            # One warehouse of the largest size; smaller runs read its first rows (LIMIT).
            started = time.perf_counter()
            with WAREHOUSES[source](max(sizes)) as conn:
                loaded = time.perf_counter() - started
                print(f"{source}: {max(sizes):,} ids loaded in {loaded:.0f} s", flush=True)
                for size in sizes:
                    rows.append((source, size, measure(aws, conn, size, options.repeat)))
                    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
                    print(f"{report(rows[-1:]).splitlines()[-1]} load average {load}", flush=True)
    print()
    print(report(rows))
    if options.save:
        with open(options.save, "w") as saved:
            json.dump(
                [{"source": source, "ids": size, **results} for source, size, results in rows],
                saved,
                indent=1,
            )


if __name__ == "__main__":
    main()

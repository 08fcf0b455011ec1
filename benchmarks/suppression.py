"""
The suppression list's cost in ``record_erasure``: marking a claim of 100,000 requests erased with
the suppression entries written in the same transaction, against the same mark without them
(the code before the list existed), on SQLite and on a private PostgreSQL server.

Both variants run in this process, alternately, ``--repeat`` times each on the same claim (reset to
pending, the list emptied, between runs); the table shows medians and ours / baseline.

    .venv/bin/python benchmarks/suppression.py [--quick] [--requests N] [--repeat 3]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any

from _common import REPO, argument_parser, machine_description, markdown_table, median, ratio
from _postgres import postgres_server
from _warehouse import store_of

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from airflow_provider_personalize_deletion.deletion_file.builder import DeletionFileBuilder
from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES
from airflow_provider_personalize_deletion.erasure import store as store_module
from airflow_provider_personalize_deletion.erasure.store import ErasureRequestStore, batch_key

KEY = b"benchmark-fingerprint-key"
CLAIM = batch_key("benchmark")
SEED = {
    "sqlite": (
        "INSERT INTO erasure_requests (request_id, user_id, requested_at, source, status, batch_key) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
        "SELECT printf('r%07d', i), printf('user-%07d', i), '2026-12-01 00:00:00', 'bench', 'pending', "
        "'{claim}' FROM n"
    ),
    "postgres": (
        "INSERT INTO erasure_requests (request_id, user_id, requested_at, source, status, batch_key) "
        "SELECT 'r' || lpad(i::text, 7, '0'), 'user-' || lpad(i::text, 7, '0'), '2026-12-01 00:00:00', "
        "'bench', 'pending', '{claim}' FROM generate_series(1, {count}) AS i"
    ),
}


def expected(count: int) -> tuple[int, str]:
    """The export's count and fingerprint of the seeded users."""
    with DeletionFileBuilder(MIN_FILE_BYTES, fingerprint_key=KEY) as builder:
        builder.add([f"user-{i:07d}" for i in range(1, count + 1)])
        builder.count_and_fingerprint()
        return builder.unique_count, builder.fingerprint


def timed_mark(store: ErasureRequestStore, count: int, with_list: bool) -> float:
    """Seconds to mark the claim erased; the claim is pending and the list empty again afterwards."""
    inserted = store_module.insert_entries
    if not with_list:
        store_module.insert_entries = lambda *args: 0  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        marked = store.mark_erased(
            CLAIM, datetime.now(timezone.utc), {}, fingerprint_key=KEY, expected=expected(count)
        )
        seconds = time.perf_counter() - started
    finally:
        store_module.insert_entries = inserted
    assert marked.erased == count and marked.suppressed == (count if with_list else 0), marked
    store.hook.run(
        [
            "UPDATE erasure_requests SET status = 'pending', erased_at = NULL",
            "DELETE FROM erasure_suppression",
        ]
    )
    return seconds


def measure(source: str, location: str, count: int, repeat: int) -> dict[str, Any]:
    store = store_of(source, location)
    store.create_tables()
    store.hook.run(SEED[source].format(count=count, claim=CLAIM))
    baseline, ours = [], []
    for _ in range(repeat):
        baseline.append(timed_mark(store, count, with_list=False))
        ours.append(timed_mark(store, count, with_list=True))
    return {"source": source, "baseline": median(baseline), "ours": median(ours)}


def main() -> None:
    parser = argument_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    count = 10_000 if arguments.quick else arguments.requests
    print(machine_description(), flush=True)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        results.append(measure("sqlite", os.path.join(folder, "warehouse.db"), count, arguments.repeat))
    with postgres_server() as uri:
        results.append(measure("postgres", uri, count, arguments.repeat))
    rows = [
        (
            result["source"],
            f"{count:,}",
            f"{result['baseline']:.2f} s",
            f"{result['ours']:.2f} s",
            ratio(result["ours"], result["baseline"]),
        )
        for result in results
    ]
    print(
        markdown_table(
            ["warehouse", "requests", "mark only (baseline)", "mark + list (ours)", "ours / baseline"], rows
        )
    )


if __name__ == "__main__":
    main()

"""
Scan benchmark, quoted records now and then: how much of a file the native pre-filter still reads when
some of its records hold a double quote (a textual field quoted, as Personalize's CSVs allow).

In one process, for each spacing: 2 million ``USER_ID,ITEM_ID,TIMESTAMP`` records (ids from 5 million
users) with every Nth record's ITEM_ID quoted, read in memory (1 MiB chunks, no S3) by
:class:`~airflow_provider_personalize_deletion.scan.csv_records.CsvRecordReader` with the pre-filter of
a set of 100,000 suppressed users, each block looked up as the scan does. Printed per spacing: the CPU
time, its ratio to the same file without quotes (the baseline, measured first), and the share of the
records the pre-filter read. Without the native module every share is 0.

Run: ``.venv/bin/python benchmarks/scan_quoted.py [--records 2000000] [--every 0,10000,1000,100]``
"""

from __future__ import annotations

import argparse
import hmac
import random
import time

from airflow_provider_personalize_deletion.scan.csv_records import CsvRecordReader
from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

KEY = b"benchmark-key-" + b"5a" * 16
USERS = 5_000_000
CHUNK = 1 << 20


def csv_file(records: int, every: int) -> bytes:
    """The file: every ``every``-th record's ITEM_ID quoted (none when 0)."""
    rng = random.Random(1)
    lines = [b"user-%d,item-%d,1700000000\n" % (rng.randrange(USERS), number) for number in range(records)]
    for number in range(0, records, every) if every else ():
        lines[number] = b'user-%d,"item, quoted",1700000000\n' % rng.randrange(USERS)
    return b"USER_ID,ITEM_ID,TIMESTAMP\n" + b"".join(lines)


def read(data: bytes, users: SuppressedUsers) -> tuple[float, int, int]:
    """CPU seconds to read and look up ``data``; its records; those the pre-filter read."""
    chunks = [data[start : start + CHUNK] for start in range(0, len(data), CHUNK)]
    started = time.process_time()
    reader = CsvRecordReader(chunks, "s3://benchmark/file.csv", users.csv_prefilter())
    records = 0
    for block in reader:
        users.matches(block.user_ids)
        records += block.records
    return time.process_time() - started, records, reader.prefiltered_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--every", default="0,10000,1000,100", help="spacings of the quoted records")
    args = parser.parse_args()
    users = SuppressedUsers(
        KEY, [hmac.digest(KEY, b"user-%d" % user, "sha256") for user in range(0, USERS, 50)]
    )
    baseline = None
    print("| quoted record every | CPU s | x unquoted | pre-filtered |\n|---|---|---|---|")
    for every in [int(value) for value in args.every.split(",")]:
        seconds, records, prefiltered = read(csv_file(args.records, every), users)
        baseline = baseline or seconds
        print(
            f"| {every or 'none'} | {seconds:.2f} | {seconds / baseline:.2f} | {prefiltered / records:.1%} |"
        )


if __name__ == "__main__":
    main()

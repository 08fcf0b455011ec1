"""
Read a dataset import job's input, Personalize's CSV, from the emulator's S3.

The rules are the service's (see ``personalize-facts.md``): ``dataLocation`` names one object or, ending
with ``/``, a folder whose objects (sub-folders included) are all read; each file starts with a header row
naming the schema's fields, which must include the dataset's id field (``USER_ID`` for interactions and
users); textual fields may be in double quotes, with a quote inside escaped by a backslash or doubled;
UTF-8 (a BOM is dropped); a user id is at most 256 characters. A broken rule is reported as
:class:`DatasetInputError`, whose message becomes the job's ``failureReason``: it names the file, the
record number and the rule, never a value (values are personal data).

What the emulator decides where the guide is silent: a file that is empty (no header row), gzip or any
other non-UTF-8 content fails the job; a header-only file imports no record.
"""

from __future__ import annotations

import csv
import io

from airflow_provider_personalize_deletion.emulator.dataset_records import REQUIRED_FIELDS, USER_ID, Record
from airflow_provider_personalize_deletion.emulator.s3_store import find_bucket, objects_at, split_location

#: The longest USER_ID the service accepts (its quotas page).
MAX_USER_ID_CHARACTERS = 256


class DatasetInputError(Exception):
    """The import's input cannot be used; the message is the job's ``failureReason``."""


class _PersonalizeCsv(csv.Dialect):
    """Personalize's import CSV: quoted text fields, a quote escaped by a backslash or doubled."""

    delimiter = ","
    quotechar = '"'
    escapechar = "\\"
    doublequote = True
    skipinitialspace = False
    lineterminator = "\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True


def read_records(data_location: str, dataset_type: str, region: str) -> list[Record]:
    """
    Read every record of an import's input, files in key order.

    :param data_location: ``s3://bucket/key.csv`` or ``s3://bucket/folder/``.
    :param dataset_type: the dataset's type in upper case (selects the required id field).
    :param region: the emulator's region.
    :raises DatasetInputError: when the input breaks one of the service's rules.
    """
    parts = split_location(data_location)
    if parts is None:
        raise DatasetInputError(f"Invalid data location {data_location}: only s3:// locations are supported.")
    bucket_name, key = parts
    bucket = find_bucket(bucket_name, region)
    if bucket is None:
        raise DatasetInputError(
            f"Input data not found at {data_location}: the bucket {bucket_name} does not exist."
        )
    objects = objects_at(bucket, key)
    if not objects:
        raise DatasetInputError(f"Input data not found at {data_location}. Check the data location.")
    records: list[Record] = []
    for obj in objects:
        records.extend(_parse(obj.value, f"s3://{bucket_name}/{obj.name}", REQUIRED_FIELDS[dataset_type]))
    return records


def _parse(content: bytes, location: str, required: str) -> list[Record]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetInputError(f"The input file {location} is not UTF-8 encoded text.") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), _PersonalizeCsv()) if row]
    except csv.Error as error:
        raise DatasetInputError(f"The input file {location} is not a valid CSV file: {error}.") from None
    if not rows:
        raise DatasetInputError(f"The input file {location} is empty: it needs a header row.")
    header, body = rows[0], rows[1:]
    if required not in header:
        raise DatasetInputError(
            f"The input file {location} has no {required} column: its header row must name it."
        )
    records = []
    for number, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise DatasetInputError(
                f"Record {number} of the input file {location} has {len(row)} fields; the header names "
                f"{len(header)}."
            )
        record = dict(zip(header, row, strict=True))
        if not record[required]:
            raise DatasetInputError(f"Record {number} of the input file {location} has an empty {required}.")
        if len(record.get(USER_ID, "")) > MAX_USER_ID_CHARACTERS:
            raise DatasetInputError(
                f"Record {number} of the input file {location} has a {USER_ID} longer than "
                f"{MAX_USER_ID_CHARACTERS} characters."
            )
        records.append(record)
    return records

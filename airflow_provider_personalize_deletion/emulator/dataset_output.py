"""
Write a dataset export job's output, CSV files, to the emulator's S3.

Layout (the service documents none; the emulator's choice): the files go to a folder named after the job
under the output path, ``<path>/<jobName>/part-00000.csv``, ``part-00001.csv``, ... (a path ending with
``/`` or not gives the same folder). Every file has the header row, then at most ``part_records`` records;
an export without records writes one file with the header only. Values are quoted only where CSV needs it
(a comma, a quote, a line break), a quote inside doubled (RFC 4180). A file is written whole or not at all.

A broken rule (no such bucket, a path the job may not write) is reported as :class:`DatasetOutputError`,
whose message becomes the job's ``failureReason``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from airflow_provider_personalize_deletion.emulator.dataset_records import Record
from airflow_provider_personalize_deletion.emulator.s3_store import find_bucket, put_object, split_location


class DatasetOutputError(Exception):
    """The export's output cannot be written; the message is the job's ``failureReason``."""


def export_folder(path: str, job_name: str) -> str:
    """
    :param path: the job's ``jobOutput.s3DataDestination.path``.
    :param job_name: the job's name.
    :return: the ``s3://`` folder (ending with ``/``) the job's files go to.
    """
    return f"{path.rstrip('/')}/{job_name}/"


def write_export(
    folder: str,
    fields: Sequence[str],
    records: Sequence[Record],
    part_records: int,
    region: str,
    kms_key_arn: str | None = None,
) -> list[str]:
    """
    Write the records as CSV part files into a folder.

    :param folder: the ``s3://`` folder from :func:`export_folder`.
    :param fields: the header row.
    :param records: the records, in order.
    :param part_records: the most records one file holds.
    :param region: the emulator's region.
    :param kms_key_arn: the KMS key to encrypt the files with (the job's ``kmsKeyArn``), if any.
    :return: the ``s3://`` URIs of the files written.
    :raises DatasetOutputError: when the bucket does not exist.
    """
    parts = split_location(folder)
    if parts is None:
        raise DatasetOutputError(f"Invalid output path {folder}: only s3:// locations are supported.")
    bucket_name, prefix = parts
    if find_bucket(bucket_name, region) is None:
        raise DatasetOutputError(f"Cannot write to {folder}: the bucket {bucket_name} does not exist.")
    chunks = [records[start : start + part_records] for start in range(0, len(records), part_records)] or [[]]
    written = []
    for number, chunk in enumerate(chunks):
        key = f"{prefix}part-{number:05d}.csv"
        put_object(bucket_name, key, _csv(fields, chunk), region, kms_key_arn)
        written.append(f"s3://{bucket_name}/{key}")
    return written


def _csv(fields: Sequence[str], records: Sequence[Record]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([record.get(name, "") for name in fields] for record in records)
    return buffer.getvalue().encode()

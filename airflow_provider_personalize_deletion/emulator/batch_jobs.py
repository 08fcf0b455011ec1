"""
What a batch inference job and a batch segment job do when they run (when they reach ``ACTIVE`` on the
emulator's clock): each runner returns None, or the ``failureReason`` the job ends ``CREATE FAILED`` with.

Both read JSON Lines from every object whose key starts with ``jobInput.s3DataSource.path`` (the service
reads its input by prefix: ``s3://b/in`` also reads ``s3://b/in_old/a.json``), and write, per input file,
``<output path>/<input file name>.out`` with one line per input line (blank lines are skipped)::

    {"input": {...}, "output": {"recommendedItems": [...], "scores": [...]}, "error": null}   # inference
    {"input": {...}, "output": {"usersList": [...]}, "error": null}                           # segment

A segment lists the users its solution version was trained on (the first ``numResults``, sorted), so a
model that kept an erased user writes it. The array's name is ``usersList`` as in real outputs, or
``recommendedUsers`` as in the guide: the control API's ``segment-users-member`` chooses.

What the emulator decides where the guide is silent: an input that is not UTF-8 JSON objects, one a line
(gzip included), fails the job naming the file and the line number; an output path is a folder whether it
ends with ``/`` or not. User ids are never logged: counts only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.emulator.s3_store import (
    find_bucket,
    objects_with_prefix,
    put_object,
    split_location,
)

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.emulator.personalize import PersonalizeState
    from airflow_provider_personalize_deletion.emulator.resources import Resource

log = logging.getLogger(__name__)

#: The names the users array of a batch segment output goes by: real outputs', then the guide's.
SEGMENT_USERS_MEMBERS: tuple[str, ...] = ("usersList", "recommendedUsers")
#: ``numResults`` when the create request has none.
DEFAULT_NUM_RESULTS = 25
#: The suffix of an output file's name, after the input file's name.
OUTPUT_SUFFIX = ".out"


class BatchJobError(Exception):
    """The job cannot run; the message is the job's ``failureReason``."""


Lines = list[dict[str, Any]]


def run_batch_inference(state: PersonalizeState, job: Resource) -> str | None:
    """
    :param state: the emulator's resources.
    :param job: a batch inference job that reached ACTIVE.
    :return: None when the output was written, else the failure reason.
    """
    items = _catalogue(state, job.dataset_group_arn, job.attributes.get("numResults", DEFAULT_NUM_RESULTS))
    scores = [round(1 / (rank + 1), 4) for rank in range(len(items))]
    output = {"recommendedItems": items, "scores": scores}
    return _run(state, job, lambda line: {"input": line, "output": output, "error": None})


def run_batch_segment(state: PersonalizeState, job: Resource) -> str | None:
    """
    :param state: the emulator's resources.
    :param job: a batch segment job that reached ACTIVE.
    :return: None when the output was written, else the failure reason.
    """
    model_users = state.resources[job.parent_arn].model_users or set()
    users = sorted(model_users)[: job.attributes.get("numResults", DEFAULT_NUM_RESULTS)]
    output = {state.segment_users_member: users}
    return _run(state, job, lambda line: {"input": line, "output": output, "error": None})


def _run(
    state: PersonalizeState, job: Resource, answer: Callable[[dict[str, Any]], dict[str, Any]]
) -> str | None:
    source = job.attributes["jobInput"]["s3DataSource"]["path"]
    destination = job.attributes["jobOutput"]["s3DataDestination"]
    role = job.attributes["roleArn"]
    if state.denied(source):
        return f"Access denied: the role {role} cannot read {source} (s3:GetObject)."
    if state.denied(destination["path"]):
        return f"Access denied: the role {role} cannot write to {destination['path']} (s3:PutObject)."
    try:
        inputs = _read_inputs(source, state.region)
        out_bucket, out_folder = _output_folder(destination["path"], state.region)
    except BatchJobError as error:
        return str(error)
    lines = 0
    for name, records in inputs:
        body = "".join(json.dumps(answer(record)) + "\n" for record in records).encode()
        put_object(
            out_bucket, f"{out_folder}{name}{OUTPUT_SUFFIX}", body, state.region, destination.get("kmsKeyArn")
        )
        lines += len(records)
    log.info("%s %s wrote %d lines in %d files.", job.kind.operation, job.arn, lines, len(inputs))
    return None


def _read_inputs(source: str, region: str) -> list[tuple[str, Lines]]:
    """Every input file under the prefix: its name (the last part of its key) and its JSON lines."""
    bucket_name, prefix = _split(source)
    bucket = find_bucket(bucket_name, region)
    if bucket is None:
        raise BatchJobError(f"No input data found at {source}: the bucket {bucket_name} does not exist.")
    objects = objects_with_prefix(bucket, prefix)
    if not objects:
        raise BatchJobError(f"No input data found at {source}. Check the input path.")
    return [
        (obj.name.rsplit("/", 1)[-1], _json_lines(obj.value, f"s3://{bucket_name}/{obj.name}"))
        for obj in objects
    ]


def _json_lines(content: bytes, location: str) -> Lines:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchJobError(f"The input file {location} is not UTF-8 encoded JSON Lines.") from None
    records: Lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            raise BatchJobError(f"Line {number} of the input file {location} is not a JSON object.")
        records.append(record)
    return records


def _output_folder(path: str, region: str) -> tuple[str, str]:
    bucket_name, key = _split(path)
    if find_bucket(bucket_name, region) is None:
        raise BatchJobError(f"Cannot write to {path}: the bucket {bucket_name} does not exist.")
    return bucket_name, key if not key or key.endswith("/") else f"{key}/"


def _split(location: str) -> tuple[str, str]:
    parts = split_location(location)
    if parts is None:
        raise BatchJobError(f"Invalid path {location}: the emulator reads and writes s3:// locations only.")
    return parts


def _catalogue(state: PersonalizeState, dataset_group_arn: str, count: int) -> list[str]:
    """The group's item ids (of its records), sorted, else made-up ones: ``count`` of them at most."""
    known = {
        record["ITEM_ID"]
        for records in state.group_records(dataset_group_arn)
        for record in records.select("ALL")
        if record.get("ITEM_ID")
    }
    return sorted(known)[:count] or [f"item-{number}" for number in range(1, count + 1)]


#: Per kind name, what a batch job of that kind does when it runs.
RUNNERS: dict[str, Callable[[PersonalizeState, Resource], str | None]] = {
    "batch-inference-job": run_batch_inference,
    "batch-segment-job": run_batch_segment,
}

"""Deterministic data deletion job names, the key to creating a job exactly once."""

from __future__ import annotations

import hashlib
import re

#: The service model's limit on ``jobName``.
MAX_JOB_NAME_LENGTH = 63
_PREFIX = "erase"
_DIGEST_LENGTH = 20
_UNSAFE = re.compile(r"[^a-zA-Z0-9]+")


def deterministic_job_name(
    dag_id: str, task_id: str, run_id: str, map_index: int, dataset_group_arn: str, data_location: str
) -> str:
    """
    Name a data deletion job after the task instance that creates it.

    Every try of the same task instance with the same input gets the same name, so a retry finds
    the job an earlier try created instead of creating a second one; any other task instance, run,
    dataset group or data location gets another name (a cleared task whose export was written
    elsewhere creates a new job). The name starts with a readable slug of the DAG id and ends with
    a digest of all six inputs, and always satisfies the service's rules (at most 63 characters of
    ``[a-zA-Z0-9_-]``, starting with a letter or digit).

    :param dag_id: the DAG's id.
    :param task_id: the task's id.
    :param run_id: the DAG run's id.
    :param map_index: the mapped task's index (-1 when not mapped).
    :param dataset_group_arn: the dataset group the job deletes from.
    :param data_location: the S3 URI the job reads.
    """
    key = "\x1f".join((dag_id, task_id, run_id, str(map_index), dataset_group_arn, data_location))
    digest = hashlib.sha256(key.encode()).hexdigest()[:_DIGEST_LENGTH]
    room = MAX_JOB_NAME_LENGTH - len(_PREFIX) - len(digest) - 2
    slug = _UNSAFE.sub("-", dag_id).strip("-")[:room].strip("-")
    return "-".join(part for part in (_PREFIX, slug, digest) if part)

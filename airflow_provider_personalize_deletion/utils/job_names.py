"""Data deletion job names: deterministic per task instance, with generations and unique suffixes."""

from __future__ import annotations

import hashlib
import re

#: The service model's limit on ``jobName``.
MAX_JOB_NAME_LENGTH = 63
#: A job that FAILED is replaced by the next generation; at most this many per task instance.
MAX_GENERATION = 999
_PREFIX = "erase"
_DIGEST_LENGTH = 20
#: Room kept free in a deterministic name for the generation part (``-g999``).
_GENERATION_ROOM = len(f"-g{MAX_GENERATION}")
_UNSAFE = re.compile(r"[^a-zA-Z0-9]+")
_GENERATION = re.compile(r".*-g([1-9][0-9]*)")


def deterministic_job_name(
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    dataset_group_arn: str,
    data_location: str,
    prefix: str = _PREFIX,
) -> str:
    """
    Name a data deletion job after the task instance that creates it and the input it reads.

    Every try of the same task instance with the same input gets the same name, so a retry finds
    the job an earlier try created instead of creating a second one; any other task instance, run,
    dataset group or data location gets another name (a cleared task whose export was written
    elsewhere creates a new job). The name starts with a readable slug of the DAG id and ends with
    a digest of exactly these six values (not of the role or the tags); it always satisfies the
    service's rules (at most 63 characters of ``[a-zA-Z0-9_-]``, starting with a letter or digit)
    and leaves room for :func:`generation_name`'s part.

    :param dag_id: the DAG's id.
    :param task_id: the task's id.
    :param run_id: the DAG run's id.
    :param map_index: the mapped task's index (-1 when not mapped).
    :param dataset_group_arn: the dataset group the job deletes from (or the dataset it imports into).
    :param data_location: the S3 URI the job reads.
    :param prefix: the name's first word: ``erase`` for a data deletion job, ``import`` for a dataset
        import job (a dataset export job passes its dataset ARN and output path as the last two values).
    """
    key = "\x1f".join((dag_id, task_id, run_id, str(map_index), dataset_group_arn, data_location))
    digest = hashlib.sha256(key.encode()).hexdigest()[:_DIGEST_LENGTH]
    room = MAX_JOB_NAME_LENGTH - _GENERATION_ROOM - len(prefix) - len(digest) - 2
    slug = _UNSAFE.sub("-", dag_id).strip("-")[:room].strip("-")
    return "-".join(part for part in (prefix, slug, digest) if part)


def generation_name(series: str, generation: int) -> str:
    """
    The name of a series' job of this generation: the series' name, then ``-g<generation>`` after the first.

    :param series: the name of the series' first job (generation 0).
    :param generation: 0 for the first job; each job replacing a FAILED one adds 1.
    :raises ValueError: beyond :data:`MAX_GENERATION`.
    """
    if not 0 <= generation <= MAX_GENERATION:
        raise ValueError(f"A job name has at most {MAX_GENERATION} generations")
    if generation == 0:
        return series
    return _with_suffix(series, f"-g{generation}")


def generation_of(series: str, job_name: str) -> int | None:
    """
    The generation of ``job_name`` in the series, or None when the name is not one of the series.

    :param series: the name of the series' first job.
    :param job_name: a job's name.
    """
    if job_name == series:
        return 0
    match = _GENERATION.fullmatch(job_name)
    if match is None or int(match.group(1)) > MAX_GENERATION:
        return None
    generation = int(match.group(1))
    return generation if generation_name(series, generation) == job_name else None


def timestamped_name(job_name: str, epoch_seconds: float) -> str:
    """
    ``job_name`` with a suffix of the time in seconds, cut to fit the service's limit.

    The convention of the Amazon provider's SageMaker operators (``action_if_job_exists="timestamp"``).

    :param job_name: a valid job name.
    :param epoch_seconds: the time, as ``time.time()`` gives it.
    """
    return _with_suffix(job_name, f"-{int(epoch_seconds)}")


def _with_suffix(name: str, suffix: str) -> str:
    return name[: MAX_JOB_NAME_LENGTH - len(suffix)] + suffix

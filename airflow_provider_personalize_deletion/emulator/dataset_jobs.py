"""
What a dataset import job and a dataset export job do when they run (when they reach ``ACTIVE`` on the
emulator's clock): each runner returns None, or the ``failureReason`` the job ends ``CREATE FAILED`` with.

- An import reads its CSV (:mod:`.dataset_input`): ``FULL`` replaces the dataset's bulk records and keeps
  the put ones, ``INCREMENTAL`` adds (:mod:`.dataset_records`).
- An export writes the dataset's current records of its ``ingestionMode`` (:mod:`.dataset_output`).

A location under a prefix denied with the control API's ``deny-path`` fails the job as the service does
when its role lacks the permission.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_provider_personalize_deletion.emulator.dataset_input import DatasetInputError, read_records
from airflow_provider_personalize_deletion.emulator.dataset_output import (
    DatasetOutputError,
    export_folder,
    write_export,
)
from airflow_provider_personalize_deletion.emulator.dataset_records import REQUIRED_FIELDS, fields_of

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.emulator.personalize import PersonalizeState
    from airflow_provider_personalize_deletion.emulator.resources import Resource

log = logging.getLogger(__name__)

#: How many records one export file holds unless the control API's ``export-part-size`` says otherwise.
DEFAULT_EXPORT_PART_RECORDS = 10_000


def run_import(state: PersonalizeState, job: Resource) -> str | None:
    """
    :param state: the emulator's resources.
    :param job: a dataset import job that reached ACTIVE.
    :return: None when the records were imported, else the failure reason.
    """
    location = job.attributes["dataSource"]["dataLocation"]
    if state.denied(location):
        return f"Access denied: the role {job.attributes['roleArn']} cannot read {location} (s3:GetObject)."
    records = state.dataset_records(state.resources[job.parent_arn])
    try:
        imported = read_records(location, records.dataset_type, state.region)
    except DatasetInputError as error:
        return str(error)
    if job.attributes["importMode"] == "FULL":
        records.replace_bulk(imported)
    else:
        records.add("BULK", imported)
    log.info("Dataset import job %s imported %d records.", job.arn, len(imported))
    return None


def run_export(state: PersonalizeState, job: Resource) -> str | None:
    """
    :param state: the emulator's resources.
    :param job: a dataset export job that reached ACTIVE.
    :return: None when the files were written, else the failure reason.
    """
    destination = job.attributes["jobOutput"]["s3DataDestination"]
    folder = export_folder(destination["path"], str(job.name))
    if state.denied(folder):
        return f"Access denied: the role {job.attributes['roleArn']} cannot write to {folder} (s3:PutObject)."
    records = state.dataset_records(state.resources[job.parent_arn])
    exported = records.select(job.attributes["ingestionMode"])
    fields = fields_of(exported, first=REQUIRED_FIELDS[records.dataset_type])
    try:
        files = write_export(
            folder, fields, exported, state.export_part_records, state.region, destination.get("kmsKeyArn")
        )
    except DatasetOutputError as error:
        return str(error)
    log.info("Dataset export job %s wrote %d records in %d files.", job.arn, len(exported), len(files))
    return None


#: Per kind name, what a job of that kind does when it runs.
RUNNERS: dict[str, Callable[[PersonalizeState, Resource], str | None]] = {
    "dataset-import-job": run_import,
    "dataset-export-job": run_export,
}

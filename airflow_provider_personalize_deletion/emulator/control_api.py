"""
The emulator's control API: set the stage and inject faults, over HTTP, under ``/_emulator/<command>``.

Each command takes a JSON object (the request body; may be empty) and answers with a JSON object.
:class:`~airflow_provider_personalize_deletion.emulator.control.EmulatorClient` is the Python client;
with curl: ``curl -X POST http://127.0.0.1:PORT/_emulator/jobs``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_personalize_deletion.emulator import errors, operations, realtime
from airflow_provider_personalize_deletion.emulator.batch_jobs import SEGMENT_USERS_MEMBERS
from airflow_provider_personalize_deletion.emulator.dataset_records import BULK, INGESTION_MODES, PUT
from airflow_provider_personalize_deletion.emulator.faults import RequestFaults
from airflow_provider_personalize_deletion.emulator.personalize import JobTimings, PersonalizeState
from airflow_provider_personalize_deletion.emulator.s3_store import s3_backend

CONTROL_PREFIX = "/_emulator/"


@dataclass(frozen=True)
class Emulator:
    """
    The emulator's state as the control API sees it; commands run with ``state.lock`` held.

    :param state: dataset groups, jobs and job faults.
    :param faults: request faults and call counts.
    """

    state: PersonalizeState
    faults: RequestFaults


def reset(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.reset()
    emulator.faults.reset()
    s3_backend(emulator.state.region).reset()
    return {}


def create_dataset_group(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    params = {"name": body["name"], **({"kmsKeyArn": body["kmsKeyArn"]} if body.get("kmsKeyArn") else {})}
    if body.get("tags"):
        params["tags"] = [{"tagKey": key, "tagValue": value} for key, value in body["tags"].items()]
    arn = operations.handle(emulator.state, "CreateDatasetGroup", params)["datasetGroupArn"]
    return seed_users(emulator, {"datasetGroupArn": arn, "userIds": body.get("userIds", [])})


def seed_users(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    group = operations.dataset_group(emulator.state, body["datasetGroupArn"])
    group.user_ids.update(body["userIds"])
    return {"datasetGroupArn": group.arn}


def users(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.advance()
    group = operations.dataset_group(emulator.state, body["datasetGroupArn"])
    return {"userIds": sorted(emulator.state.group_users(group.arn))}


def seed_records(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    arrival = body.get("ingestionMode", BULK)
    if arrival not in (BULK, PUT):
        raise ValueError(f"ingestionMode must be {BULK} or {PUT}")
    _records(emulator, body["datasetArn"]).add(arrival, body["records"])
    return {}


def records(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.advance()
    mode = body.get("ingestionMode", "ALL")
    if mode not in INGESTION_MODES:
        raise ValueError(f"ingestionMode must be one of {sorted(INGESTION_MODES)}")
    return {"records": _records(emulator, body["datasetArn"]).select(mode)}


def put_events(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    state = emulator.state
    dataset = operations.interactions_dataset(state, body["datasetGroupArn"])
    state.dataset_records(dataset).add(PUT, realtime.event_records(body["userId"], body["eventList"]))
    return {}


def put_users(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    _records(emulator, body["datasetArn"]).add(PUT, realtime.user_records(body["users"]))
    return {}


def _records(emulator: Emulator, dataset_arn: str) -> Any:
    return emulator.state.dataset_records(operations.resource(emulator.state, "dataset", dataset_arn))


def deny_path(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    if not str(body["prefix"]).startswith("s3://"):
        raise ValueError("prefix must be an s3:// URI")
    emulator.state.denied_prefixes.append(body["prefix"])
    return {}


def set_export_part_size(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    size = int(body["records"])
    if size < 1:
        raise ValueError("records must be at least 1")
    emulator.state.export_part_records = size
    return {}


def set_segment_users_member(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    if body["member"] not in SEGMENT_USERS_MEMBERS:
        raise ValueError(f"member must be one of {list(SEGMENT_USERS_MEMBERS)}")
    emulator.state.segment_users_member = body["member"]
    return {}


def jobs(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.advance()
    in_creation_order = sorted(emulator.state.jobs.values(), key=lambda job: job.sequence)
    return {"jobs": [job.describe() for job in in_creation_order]}


def calls(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    return {"count": emulator.faults.calls(body.get("operation"))}


def throttle(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.faults.throttle(int(body["count"]), body.get("operation"))
    return {}


def fail_job(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.fail_job(body.get("jobName"), body["reason"])
    return {}


def hold(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.hold(body["jobName"], body["status"])
    return {}


def release(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.release(body["jobName"])
    return {}


def model_users(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.advance()
    model = emulator.state.resources.get(body["arn"])
    if model is None or not model.kind.trains:
        raise errors.not_found(body["arn"])
    return {"userIds": sorted(model.model_users or ()), "trained": model.model_users is not None}


def auto_train(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    state = emulator.state
    state.advance()
    solution = operations.resource(state, "solution", body["solutionArn"])
    if not solution.attributes.get("performAutoTraining"):
        raise errors.invalid_input(f"The solution {solution.arn} does not use automatic training.")
    params = {"solutionArn": solution.arn, **({"name": body["name"]} if body.get("name") else {})}
    arn = operations.handle(state, "CreateSolutionVersion", params)["solutionVersionArn"]
    state.resources[arn].attributes["trainingType"] = "AUTOMATIC"
    return {"solutionVersionArn": arn}


def set_activity_timings(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.activity_timings = JobTimings(
        float(body["pendingSeconds"]), float(body["inProgressSeconds"])
    )
    return {}


def set_page_size(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    size = body.get("maxPageSize")
    if size is not None and int(size) < 1:
        raise ValueError("maxPageSize must be at least 1, or null")
    emulator.state.max_page_size = None if size is None else int(size)
    return {}


def set_latency(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.faults.set_latency(float(body["seconds"]), body.get("operation"))
    return {}


def set_timings(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    emulator.state.timings = JobTimings(float(body["pendingSeconds"]), float(body["inProgressSeconds"]))
    return {}


COMMANDS: dict[str, Callable[[Emulator, dict[str, Any]], dict[str, Any]]] = {
    "reset": reset,
    "create-dataset-group": create_dataset_group,
    "seed-users": seed_users,
    "users": users,
    "seed-records": seed_records,
    "records": records,
    "put-events": put_events,
    "put-users": put_users,
    "deny-path": deny_path,
    "export-part-size": set_export_part_size,
    "segment-users-member": set_segment_users_member,
    "jobs": jobs,
    "calls": calls,
    "throttle": throttle,
    "fail-job": fail_job,
    "hold": hold,
    "release": release,
    "latency": set_latency,
    "timings": set_timings,
    "activity-timings": set_activity_timings,
    "model-users": model_users,
    "auto-train": auto_train,
    "page-size": set_page_size,
}

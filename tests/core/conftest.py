"""Fixtures of the provider core tests: a dataset group, a deletion file, and what uses the group's data
(datasets, import jobs, trainings, batch jobs, recommenders), on the emulator."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeDeletion"
BUCKET = "erasure-requests"
IMPORT_BUCKET = "data"
IMPORT_CSV = b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n"
SCHEMA_ARN = "arn:aws:personalize:us-east-1:123456789012:schema/interactions"
RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
BATCH_IO = {
    "jobInput": {"s3DataSource": {"path": "s3://batch/in.json"}},
    "jobOutput": {"s3DataDestination": {"path": "s3://batch/out/"}},
    "roleArn": ROLE_ARN,
}


def put_batch_input(personalize) -> None:
    """Write the input BATCH_IO names (one JSON line): batch jobs read it when they run, else they fail."""
    meta = personalize.meta
    s3 = boto3.client("s3", endpoint_url=meta.endpoint_url, region_name=meta.region_name)
    s3.create_bucket(Bucket="batch")
    s3.put_object(Bucket="batch", Key="in.json", Body=b'{"userId": "u1"}\n')


@pytest.fixture
def dataset_group(emulator) -> str:
    """A dataset group holding users u1..u3."""
    return emulator.create_dataset_group("shop", user_ids=["u1", "u2", "u3"])


@pytest.fixture
def deletion_file(aws_conn, s3_client) -> str:
    """An s3:// URI of a USER_ID file listing u1 and u2."""
    s3_client.create_bucket(Bucket=BUCKET)
    s3_client.put_object(Bucket=BUCKET, Key="run-1/part-00000.csv", Body=b"USER_ID\nu1\nu2\n")
    return f"s3://{BUCKET}/run-1/part-00000.csv"


class MemoryTaskStateStore:
    """In-memory stand-in for Airflow 3.3's ``task_state_store``, which lives in the API server."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str):
        return self.values.get(key)

    def set(self, key: str, value) -> None:
        self.values[key] = value


def task_context(run_id: str = "manual__1", map_index: int = -1, store=None, xcom=None) -> dict:
    """
    The part of a task's context the operator reads: its task instance and the state store.

    :param xcom: a dict that receives what the task pushes under a key of its own.
    """
    pushed = {} if xcom is None else xcom
    ti = SimpleNamespace(
        dag_id="gdpr_erasure",
        task_id="create_deletion_job",
        run_id=run_id,
        map_index=map_index,
        try_number=1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    context: dict = {"ti": ti}
    if store is not None:
        context["task_state_store"] = store
    return context


def release_after_calls(emulator, operation: str, count: int, job_name: str) -> threading.Thread:
    """Release a held job from another thread once the emulator has received ``count`` such calls."""

    def release() -> None:
        deadline = time.monotonic() + 30
        while emulator.calls(operation) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        emulator.release(job_name)

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def personalize(local_aws, aws_conn):
    """A boto3 Personalize client on the emulator that surfaces every error at once (no retries)."""
    return boto3.client(
        "personalize",
        endpoint_url=local_aws.endpoint_url,
        region_name=local_aws.region,
        config=Config(retries={"total_max_attempts": 1}),
    )


class Stage:
    """Builds what uses a dataset group, through the real API."""

    def __init__(self, personalize, group: str) -> None:
        self.personalize = personalize
        self.group = group
        self.count = Counter[str]()

    def _name(self, stem: str) -> str:
        self.count[stem] += 1
        return f"{self.group.rsplit('/', 1)[1]}-{stem}-{self.count[stem]}"

    def dataset(self, dataset_type: str = "Interactions") -> str:
        return self.personalize.create_dataset(
            name=self._name("ds"), schemaArn=SCHEMA_ARN, datasetGroupArn=self.group, datasetType=dataset_type
        )["datasetArn"]

    def import_job(self, dataset: str, name: str | None = None) -> str:
        """Import a CSV of one interaction (import jobs read their input when they run)."""
        s3 = boto3.client(
            "s3",
            endpoint_url=self.personalize.meta.endpoint_url,
            region_name=self.personalize.meta.region_name,
        )
        s3.create_bucket(Bucket=IMPORT_BUCKET)
        s3.put_object(
            Bucket=IMPORT_BUCKET, Key="x.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n"
        )
        return self.personalize.create_dataset_import_job(
            jobName=name or self._name("import"),
            datasetArn=dataset,
            dataSource={"dataLocation": f"s3://{IMPORT_BUCKET}/x.csv"},
            roleArn=ROLE_ARN,
        )["datasetImportJobArn"]

    def solution(self, auto_training: bool = False) -> str:
        return self.personalize.create_solution(
            name=self._name("sol"), datasetGroupArn=self.group, performAutoTraining=auto_training
        )["solutionArn"]

    def version(self, solution: str, name: str | None = None, trained: bool = True) -> str:
        arn = self.personalize.create_solution_version(
            solutionArn=solution, **({"name": name} if name else {})
        )["solutionVersionArn"]
        if trained:  # a read moves a zero-timing training to ACTIVE
            self.personalize.describe_solution_version(solutionVersionArn=arn)
        return arn

    def batch_jobs(self, version: str, count: int = 1) -> None:
        put_batch_input(self.personalize)
        for _ in range(count):
            self.personalize.create_batch_inference_job(
                jobName=self._name("infer"), solutionVersionArn=version, **BATCH_IO
            )
            self.personalize.create_batch_segment_job(
                jobName=self._name("segment"), solutionVersionArn=version, **BATCH_IO
            )

    def recommender(self, name: str | None = None) -> str:
        return self.personalize.create_recommender(
            name=name or self._name("rec"), datasetGroupArn=self.group, recipeArn=RECIPE_ARN
        )["recommenderArn"]


@pytest.fixture
def stage(personalize, dataset_group) -> Stage:
    """Builds what uses the ``dataset_group`` fixture's group."""
    return Stage(personalize, dataset_group)

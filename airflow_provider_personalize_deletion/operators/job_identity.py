"""
Which Personalize job a create task instance carries on with: exactly once across tries and clears.

One machinery for every kind of job a task creates (data deletion jobs, dataset import jobs): the kind's
calls and names are data (:class:`JobKind`), the steps are :class:`JobIdentityMixin`'s.

- A job is named after the task instance and its input (:func:`.job_names.deterministic_job_name`), or
  by a fixed ``job_name`` recorded in ``task_state_store`` before creating.
- Before creating, the task looks for the ARN an earlier try recorded, then for its jobs by name among
  the parent's jobs (a worker killed between the create call and recording finds its job again); a
  create refused for a name in use carries on only with a job this task instance created with this
  input (botocore re-sent the call, or a concurrent try).
- A FAILED job is never carried on with: the next generation of the name replaces it (``-g1``, ...).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook
from airflow_provider_personalize_deletion.utils.job_names import (
    deterministic_job_name,
    generation_name,
    generation_of,
    timestamped_name,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue


#: What to do when ``job_name`` names a job this task instance did not create (SageMaker's convention).
ACTION_IF_JOB_EXISTS_CHOICES = ("fail", "timestamp")
#: XCom key of the earlier FAILED jobs the returned job replaces (a JSON list of ARNs, oldest first).
SUPERSEDED_XCOM_KEY = "superseded_job_arns"


@dataclass(frozen=True)
class JobKind:
    """
    One kind of Personalize job, as the exactly-once create needs it.

    :param noun: what the service calls it, for logs and errors (``"data deletion job"``).
    :param arn_key: the member of its description holding its ARN.
    :param name_prefix: the first word of its deterministic names.
    :param parent_input: the input naming where its jobs are listed (``dataset_group_arn``).
    :param location_input: the input naming what it reads (part of its deterministic name).
    :param failure_states: the statuses of a job that ended without success.
    :param arn_state_key: the ``task_state_store`` key of the job carried on with.
    :param superseded_state_key: the key of the FAILED jobs it replaced.
    :param series_state_key: the key of the name a fixed ``job_name`` led to.
    :param list_jobs: the summaries of the parent's jobs (``hook, parent ARN``).
    :param describe: a job's description (``hook, ARN``).
    :param create: create a job and return its ARN (``hook, name, inputs``).
    :param same_input: whether a description reads the given inputs.
    """

    noun: str
    arn_key: str
    name_prefix: str
    parent_input: str
    location_input: str
    failure_states: tuple[str, ...]
    arn_state_key: str
    superseded_state_key: str
    series_state_key: str
    list_jobs: Callable[[PersonalizeHook, str], Iterable[dict[str, Any]]]
    describe: Callable[[PersonalizeHook, str], dict[str, Any]]
    create: Callable[[PersonalizeHook, str, dict[str, Any]], str]
    same_input: Callable[[dict[str, Any], dict[str, Any]], bool]


class JobIdentityMixin(AwsBaseOperator[PersonalizeHook]):
    """
    The exactly-once create, a base of the create operators: see the module.

    The operator sets :attr:`job_kind`, ``job_name`` and ``action_if_job_exists``; it implements
    :meth:`_before_create` (e.g. wait for a quiet dataset group) and may override :meth:`_create_when_free`
    (e.g. wait for a free slot).
    """

    job_kind: JobKind
    job_name: str | None
    action_if_job_exists: str

    def _check_parent(self, inputs: dict[str, Any]) -> None:
        """Called before the parent's jobs are listed (no recorded job): e.g. refuse a missing parent."""

    def _before_create(self, context: Context, quiet_wait_started: str | None) -> None:
        """Called once a job is to be created, never when a retry carries on with one."""

    def _create_when_free(
        self, context: Context, name: str, own: bool, inputs: dict[str, Any], slot_wait_started: str | None
    ) -> str:
        return self._create(name, own, inputs)

    def _this_task_instances_job(
        self,
        context: Context,
        inputs: dict[str, Any],
        slot_wait_started: str | None = None,
        quiet_wait_started: str | None = None,
    ) -> tuple[str, list[str]]:
        """
        The job this task instance carries on with, created if it has none: its ARN and the FAILED jobs
        it replaces, oldest first. Recorded in ``task_state_store`` and XCom ``superseded_job_arns``.

        :param context: the task's context.
        :param inputs: the create call's inputs (validated by the caller).
        :param slot_wait_started: handed to :meth:`_create_when_free`.
        :param quiet_wait_started: handed to :meth:`_before_create`.
        """
        series, own = self._series(context, inputs)
        found = self._recorded_job(context, inputs)
        if found is None:
            self._check_parent(inputs)
            found = self._job_of_series(context, series, own, inputs, slot_wait_started, quiet_wait_started)
        self._record_job(context, *found)
        return found

    def _series(self, context: Context, inputs: dict[str, Any]) -> tuple[str, bool]:
        """The name of this task instance's first job, and whether a job of that name is its own."""
        kind = self.job_kind
        if self.job_name is None:
            ti = context["ti"]
            default = deterministic_job_name(
                ti.dag_id,
                ti.task_id,
                ti.run_id,
                ti.map_index if ti.map_index is not None else -1,
                inputs[kind.parent_input],
                inputs[kind.location_input],
                prefix=kind.name_prefix,
            )
            return default, True
        store = context.get("task_state_store")
        chosen = store.get(kind.series_state_key) if store is not None else None
        if isinstance(chosen, dict) and chosen.get("job_name") == self.job_name and chosen.get("series"):
            return str(chosen["series"]), True
        return self.job_name, False

    def _recorded_job(self, context: Context, inputs: dict[str, Any]) -> tuple[str, list[str]] | None:
        """The job an earlier try recorded, if it still exists, has this input and has not FAILED."""
        kind = self.job_kind
        store = context.get("task_state_store")
        recorded = store.get(kind.arn_state_key) if store is not None else None
        if store is None or not isinstance(recorded, str) or not recorded:
            return None
        try:
            described = kind.describe(self.hook, recorded)
        except self.hook.client.exceptions.ResourceNotFoundException:
            self.log.warning("The job an earlier try recorded, %s, no longer exists", recorded)
            return None
        if not kind.same_input(described, inputs):
            # A cleared and re-run task instance: the earlier job read other input.
            self.log.info("The job an earlier try recorded, %s, read other input: not reusing it", recorded)
            return None
        if described["status"] in kind.failure_states:
            self.log.info("The job an earlier try recorded, %s, FAILED: a new job replaces it", recorded)
            return None
        self.log.info("Carrying on with the job an earlier try of this task created: %s", recorded)
        superseded = store.get(kind.superseded_state_key)
        return recorded, [str(arn) for arn in superseded] if isinstance(superseded, list) else []

    def _job_of_series(
        self,
        context: Context,
        series: str,
        own: bool,
        inputs: dict[str, Any],
        slot_wait_started: str | None,
        quiet_wait_started: str | None,
    ) -> tuple[str, list[str]]:
        """Carry on with the series' latest job unless it FAILED; otherwise create the next one."""
        kind = self.job_kind
        jobs = self._series_jobs(series, inputs)
        if jobs and not (own and (self.job_name is None or self._reads(jobs[-1][1], inputs))):
            series, jobs = self._new_series(jobs[-1][1]), []
        if self.job_name is not None:
            self._remember_series(context, series)
        superseded = [job[kind.arn_key] for _, job in jobs if job["status"] in kind.failure_states]
        if jobs and jobs[-1][1]["status"] not in kind.failure_states:
            arn = jobs[-1][1][kind.arn_key]
            self.log.info("Carrying on with the job this task instance created: %s", arn)
            return arn, superseded
        if superseded:
            self.log.info("%d earlier job(s) of this task instance FAILED: creating another", len(superseded))
        name = generation_name(series, jobs[-1][0] + 1 if jobs else 0)
        self._before_create(context, quiet_wait_started)
        return self._create_when_free(context, name, own, inputs, slot_wait_started), superseded

    def _series_jobs(self, series: str, inputs: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        """The parent's jobs of the series, by generation, oldest first."""
        jobs = []
        for job in self.job_kind.list_jobs(self.hook, inputs[self.job_kind.parent_input]):
            generation = generation_of(series, job["jobName"])
            if generation is not None:
                jobs.append((generation, job))
        return sorted(jobs, key=lambda item: item[0])

    def _new_series(self, existing: dict[str, Any]) -> str:
        """A name of its own for a task instance whose ``job_name`` names a job it did not create."""
        if self.action_if_job_exists == "fail" or self.job_name is None:
            raise self._name_taken(existing[self.job_kind.arn_key])
        name = timestamped_name(self.job_name, time.time())
        self.log.info("Job name in use by another job: this task instance's job is named %s", name)
        return name

    def _remember_series(self, context: Context, series: str) -> None:
        """Record the name chosen for ``job_name`` before creating, so that a retry knows it as its own."""
        store = context.get("task_state_store")
        if store is not None:
            store.set(self.job_kind.series_state_key, {"job_name": self.job_name, "series": series})

    def _reads(self, job: dict[str, Any], inputs: dict[str, Any]) -> bool:
        kind = self.job_kind
        return kind.same_input(kind.describe(self.hook, job[kind.arn_key]), inputs)

    def _create(self, name: str, own: bool, inputs: dict[str, Any]) -> str:
        """
        Create the job; if the name is taken, carry on with the job only if this task created it.

        The name was free when looked up just before. A job of that name and input now is this
        task's if botocore re-sent the call (after a read timeout: the first call went through), or
        if the name is this task instance's own (a concurrent try of the same task instance).
        """
        kind = self.job_kind
        try:
            arn = kind.create(self.hook, name, inputs)
        except self.hook.client.exceptions.ResourceAlreadyExistsException as error:
            resent = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
            parent = inputs[kind.parent_input]
            jobs = kind.list_jobs(self.hook, parent)
            existing = next((job for job in jobs if job["jobName"] == name), None)
            if existing is None:
                raise PersonalizeValidationError(
                    "jobName", f"is already used by a {kind.noun} of another {_parent_noun(kind)}"
                ) from None
            if not (own or resent) or not self._reads(existing, inputs):
                raise self._name_taken(existing[kind.arn_key]) from None
            how = "a re-sent create call" if resent else "a concurrent try"
            self.log.info("Carrying on with the job %s of this task instance, created by %s", name, how)
            return existing[kind.arn_key]
        self.log.info("Created %s %s: %s", kind.noun, name, arn)
        return arn

    def _record_job(self, context: Context, arn: str, superseded: list[str]) -> None:
        store = context.get("task_state_store")
        if store is not None:
            store.set(self.job_kind.arn_state_key, arn)
            arns: list[JsonValue] = [*superseded]
            store.set(self.job_kind.superseded_state_key, arns)
        context["ti"].xcom_push(key=SUPERSEDED_XCOM_KEY, value=superseded)

    def _name_taken(self, arn: str) -> PersonalizeValidationError:
        return PersonalizeValidationError(
            "jobName",
            f"names a {self.job_kind.noun} that already exists ({arn}) and that this task instance did not "
            "create with this input; leave job_name unset (a name per task instance and input), make it "
            "unique per run, or set action_if_job_exists='timestamp'",
        )


def _parent_noun(kind: JobKind) -> str:
    return kind.parent_input.removesuffix("_arn").replace("_", " ")

"""Operator that creates an Amazon Personalize data deletion job exactly once."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import conf

from airflow_provider_personalize_deletion.hooks.personalize import (
    FAILURE_STATES,
    PersonalizeHook,
    build_create_request,
    summarize_activity,
)
from airflow_provider_personalize_deletion.links.personalize import PersonalizeDataDeletionJobLink
from airflow_provider_personalize_deletion.operators.job_identity import (
    ACTION_IF_JOB_EXISTS_CHOICES,
    SUPERSEDED_XCOM_KEY,
    JobKind,
)
from airflow_provider_personalize_deletion.operators.job_wait import JobWaitMixin, check_job_wait_settings
from airflow_provider_personalize_deletion.operators.quiet_wait import (
    ACTION_IF_NOT_QUIET_CHOICES,
    QUIET_WAIT_STATE_KEY,
    QuietWaitMixin,
    check_quiet_settings,
)
from airflow_provider_personalize_deletion.operators.slot_wait import SlotWaitMixin
from airflow_provider_personalize_deletion.triggers.personalize import (
    DEFAULT_QUIET_POLL_INTERVAL,
    DEFAULT_QUIET_TIMEOUT,
    DEFAULT_WAITER_DELAY,
    DEFAULT_WAITER_MAX_ATTEMPTS,
    PersonalizeDataDeletionJobCompletedTrigger,
    completed_job_from_event,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import JsonValue

    from airflow_provider_personalize_deletion.hooks.activity import Activity

__all__ = [
    "ACTION_IF_JOB_EXISTS_CHOICES",
    "ACTION_IF_NOT_QUIET_CHOICES",
    "QUIET_WAIT_STATE_KEY",
    "SUPERSEDED_XCOM_KEY",
    "PersonalizeCreateDataDeletionJobOperator",
]

#: Keys in Airflow 3.3's durable ``task_state_store`` (one namespace per task instance, kept across
#: tries and clears). The ARN of the job this task instance carries on with:
TASK_STATE_KEY = "personalize_data_deletion_job_arn"
#: The earlier FAILED jobs that job replaced, oldest first:
SUPERSEDED_STATE_KEY = "personalize_superseded_job_arns"
#: ``{"job_name": ..., "series": ...}``: the name a given ``job_name`` led to, written before creating.
SERIES_STATE_KEY = "personalize_data_deletion_job_series"
#: ``{"try_number": ..., "started": ...}``: when this try began waiting for a free slot.
SLOT_WAIT_STATE_KEY = "personalize_slot_wait_started"
#: XCom key of what of the dataset group ran during the job's life (with ``wait_for_completion``): a JSON
#: list of :meth:`~.activity.Activity.as_record` (kind, arn, status, created, last_updated), empty when
#: nothing did, None when ``check_overlap`` is off.
OVERLAP_XCOM_KEY = "overlapping_activity"


def _same_input(described: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """Whether an existing job deletes from the same dataset group, reading the same location."""
    return (
        described["datasetGroupArn"] == inputs["dataset_group_arn"]
        and described["dataSource"]["dataLocation"] == inputs["data_location"]
    )


#: Data deletion jobs, for the exactly-once create (:mod:`.job_identity`).
DATA_DELETION_JOB = JobKind(
    noun="data deletion job",
    arn_key="dataDeletionJobArn",
    name_prefix="erase",
    parent_input="dataset_group_arn",
    location_input="data_location",
    failure_states=FAILURE_STATES,
    arn_state_key=TASK_STATE_KEY,
    superseded_state_key=SUPERSEDED_STATE_KEY,
    series_state_key=SERIES_STATE_KEY,
    list_jobs=lambda hook, parent: hook.list_data_deletion_jobs(parent),
    describe=lambda hook, arn: hook.describe_data_deletion_job(arn),
    create=lambda hook, name, inputs: hook.create_data_deletion_job(job_name=name, **inputs),
    same_input=_same_input,
)


class PersonalizeCreateDataDeletionJobOperator(
    SlotWaitMixin, QuietWaitMixin, JobWaitMixin, AwsBaseOperator[PersonalizeHook]
):
    """
    Create a data deletion job that erases the users listed in a USER_ID CSV from a dataset group.

    **Exactly once, and only this task instance's job.** The task carries on with a job only if this
    task instance created it; every other job is left alone. Unless ``job_name`` is given, the job is
    named after the task instance and its input: a digest of exactly the DAG id, task id, run id,
    map index, dataset group ARN and data location (not the role or the tags), so every try of the
    task instance has the same name and no other task instance, run or input can have it. Before
    creating, the task looks for the ARN it recorded in ``task_state_store`` (Airflow 3.3+), then for
    its job by name among the dataset group's jobs; the create call itself is refused by the service
    (ResourceAlreadyExistsException) for a name in use. A retried or cleared task, even one whose
    worker died between the create call and recording the ARN, thus carries on with the job it
    created; so does a create call that botocore re-sent after a read timeout.

    **A FAILED job is never carried on with.** When a retry or a clear finds the job of an earlier
    try FAILED (after the role's permissions were fixed, say), it creates the next generation of the
    name (``<name>-g1``, ``-g2``, ...; found again by listing the group, so a worker killed after
    creating it creates no duplicate) and pushes the ARNs of the FAILED jobs it replaces, oldest
    first, as XCom ``superseded_job_arns`` (an empty list when none).

    **A fixed** ``job_name`` is this task instance's only once it recorded choosing it in
    ``task_state_store`` before creating. A job of that name that any other run, task or earlier
    input created fails the task by default (``action_if_job_exists="fail"``), or is avoided with a
    unique suffix of the time in seconds (``"timestamp"``, as the Amazon provider's SageMaker
    operators do). Without ``task_state_store`` (Airflow before 3.3) a fixed name cannot be told
    apart from another run's after a worker died between creating and recording: the retry then
    fails (``"fail"``) or creates a second job (``"timestamp"``). The default name has no such gap.

    **Limits.** A dataset group takes at most 5 PENDING jobs; when the service answers
    LimitExceededException (or ResourceInUseException, a resource the job needs being busy), the
    hook hands the refusal over without botocore's retries and the task waits and tries again (in
    the triggerer when deferrable), each wait as long as it has already waited (between
    ``slot_wait_delay`` and ``slot_wait_max_delay``), for up to ``slot_wait_timeout`` per try. The
    wait's start is kept in ``task_state_store``, so the bound holds across deferrals under every
    runner, ``dag.test()`` included.

    **Quiet before creating.** Amazon Personalize's guide says to create a data deletion job only
    while nothing that uses the dataset group's data is in progress (training, batch jobs, imports),
    or the deleted users may stay in models. Before its create call (never when a retry finds the job
    an earlier try created), the task lists the group's activity (import jobs, solution versions,
    their batch inference and batch segment jobs, recommenders) and, with ``action_if_not_quiet="wait"``,
    waits until none is in progress, listing again every ``quiet_poll_interval`` (in the triggerer when
    deferrable), for up to ``quiet_timeout`` per try (kept in ``task_state_store`` like the slot wait);
    it logs the kinds, counts and ARNs it waits for. ``"fail"`` fails the try at once instead,
    ``"ignore"`` creates without listing. Solutions with automatic training switched on are logged as
    a risk (they may start a training at any time) but not waited on. Individual imports (PutEvents,
    PutUsers, PutItems) leave nothing the API lists: they are not seen. A job that ran anyway alongside
    activity is shown by ``overlapping_activity`` (see the sensor).

    **Bad input** (a rule of the service model broken, a non-``s3://`` location, tags of another
    shape, an unknown dataset group) is refused before the create call, by an error naming the
    parameter and the rule.

    Returns (XCom) the job's ARN. Also pushes XCom ``superseded_job_arns`` and, with
    ``wait_for_completion``, ``overlapping_activity``: what of the dataset group ran during the job's
    life, a list of ``{"kind", "arn", "status", "created", "last_updated"}`` (ISO 8601), empty when
    nothing did (None with ``check_overlap=False``). An overlap does not fail the task: run another
    data deletion job on the same file once the group is quiet.

    :param dataset_group_arn: the dataset group to delete the users from. (templated)
    :param data_location: ``s3://`` URI of the USER_ID CSV file, or of a folder ending in ``/``.
        (templated)
    :param role_arn: IAM role Personalize assumes to read ``data_location``. (templated)
    :param job_name: the job's name; see above for a fixed name. (default: derived from the task
        instance and its input; templated)
    :param action_if_job_exists: ``"fail"`` or ``"timestamp"``: what to do when ``job_name`` names
        a job this task instance did not create. (default: ``"fail"``)
    :param tags: tags for the job: a mapping of key to value, or boto3's list of
        ``{"tagKey": ..., "tagValue": ...}``. (templated)
    :param if_exists: deprecated, use ``action_if_job_exists``. ``"fail"`` is the same as
        ``action_if_job_exists="fail"``; ``"reuse"`` (carrying on with another task instance's job of
        the same name and input) is refused: it reported an old job as this run's erasure.
    :param wait_for_completion: wait until the job is COMPLETED (and fail if it FAILED).
        (default: False)
    :param deferrable: wait in the triggerer instead of a worker, for the job and for a slot.
        (default: ``[operators] default_deferrable``, False unless configured)
    :param waiter_delay: seconds between two status checks of the job. (default: 60)
    :param waiter_max_attempts: status checks before giving up. (default: 1500, 25 hours at 60 s)
    :param slot_wait_delay: first wait, in seconds, after LimitExceededException. (default: 30)
    :param slot_wait_max_delay: longest single wait for a slot, in seconds. (default: 600)
    :param slot_wait_timeout: give up waiting for a slot after this many seconds. (default: 6 hours)
    :param action_if_not_quiet: ``"wait"``, ``"fail"`` or ``"ignore"``: what to do when something is in
        progress on the dataset group before creating. (default: ``"wait"``)
    :param quiet_timeout: give up waiting for the dataset group to be quiet after this many seconds
        (per try); the try then fails with
        :class:`~airflow_provider_personalize_deletion.exceptions.DatasetGroupNotQuietError`.
        (default: 24 hours)
    :param quiet_poll_interval: seconds between two listings of the dataset group's activity while
        waiting. (default: 300)
    :param check_overlap: with ``wait_for_completion``, list what ran during the job's life once it
        COMPLETED (XCom ``overlapping_activity``). (default: True)
    :param aws_conn_id: the Airflow connection used for AWS credentials. (templated)
    :param region_name: AWS region of the dataset group. (templated)
    :param verify: whether to verify SSL certificates. (templated)
    :param botocore_config: configuration dictionary (key-values) for the botocore client; its
        ``retries`` are used as they are, like the connection's ``config_kwargs``.
    """

    aws_hook_class = PersonalizeHook
    job_kind = DATA_DELETION_JOB
    job_trigger = PersonalizeDataDeletionJobCompletedTrigger
    slot_wait_state_key = SLOT_WAIT_STATE_KEY
    template_fields: Sequence[str] = aws_template_fields(
        "dataset_group_arn", "data_location", "role_arn", "job_name", "tags"
    )
    template_fields_renderers = {"tags": "json"}
    operator_extra_links = (PersonalizeDataDeletionJobLink(),)
    ui_color = "#8ab4f8"

    def __init__(
        self,
        *,
        dataset_group_arn: str,
        data_location: str,
        role_arn: str,
        job_name: str | None = None,
        action_if_job_exists: str = "fail",
        tags: Mapping[str, str] | list[dict[str, str]] | None = None,
        if_exists: str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = DEFAULT_WAITER_DELAY,
        waiter_max_attempts: int = DEFAULT_WAITER_MAX_ATTEMPTS,
        slot_wait_delay: float = 30,
        slot_wait_max_delay: float = 600,
        slot_wait_timeout: float = 6 * 3600,
        action_if_not_quiet: str = "wait",
        quiet_timeout: float = DEFAULT_QUIET_TIMEOUT,
        quiet_poll_interval: float = DEFAULT_QUIET_POLL_INTERVAL,
        check_overlap: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists is not None:
            action_if_job_exists = _from_if_exists(if_exists)
        if action_if_job_exists not in ACTION_IF_JOB_EXISTS_CHOICES:
            raise ValueError(
                f"Invalid parameter 'action_if_job_exists': must be one of {ACTION_IF_JOB_EXISTS_CHOICES}"
            )
        check_quiet_settings(action_if_not_quiet, quiet_timeout, quiet_poll_interval)
        check_job_wait_settings(waiter_delay, waiter_max_attempts)
        self.dataset_group_arn = dataset_group_arn
        self.data_location = data_location
        self.role_arn = role_arn
        self.job_name = job_name
        self.action_if_job_exists = action_if_job_exists
        self.tags = tags
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.slot_wait_delay = slot_wait_delay
        self.slot_wait_max_delay = slot_wait_max_delay
        self.slot_wait_timeout = slot_wait_timeout
        self.action_if_not_quiet = action_if_not_quiet
        self.quiet_timeout = quiet_timeout
        self.quiet_poll_interval = quiet_poll_interval
        self.check_overlap = check_overlap

    def execute(self, context: Context) -> str:
        return self._create_and_wait(context, slot_wait_started=None)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Check the job's outcome once the trigger has fired (see :func:`completed_job_from_event`)."""
        job = completed_job_from_event(self.hook, event)
        self._push_overlap(context, job)
        return job["dataDeletionJobArn"]

    def _create_and_wait(
        self, context: Context, slot_wait_started: str | None, quiet_wait_started: str | None = None
    ) -> str:
        inputs: dict[str, Any] = {
            "dataset_group_arn": self.dataset_group_arn,
            "data_location": self.data_location,
            "role_arn": self.role_arn,
            "tags": self.tags,
        }
        series, _ = self._series(context, inputs)
        build_create_request(series, **inputs)  # refuses bad input before any call
        arn, _ = self._this_task_instances_job(context, inputs, slot_wait_started, quiet_wait_started)
        self._persist_link(context)
        if self.wait_for_completion:
            self._wait_for_job(context, arn)
        return arn

    def _slot_scope(self) -> str:
        return f"Dataset group {self.dataset_group_arn}"

    def _after_slot_wait(self, context: Context) -> None:
        # A training or import may have started while this worker waited for a slot.
        self._wait_for_quiet(context, None)

    def _check_parent(self, inputs: dict[str, Any]) -> None:
        self.hook.check_dataset_group_exists(self.dataset_group_arn)

    def _before_create(self, context: Context, quiet_wait_started: str | None) -> None:
        self._wait_for_quiet(context, quiet_wait_started)

    def _quiet_group(self) -> str:
        return self.dataset_group_arn

    def _busy(self, dataset_group_arn: str, first: bool) -> list[Activity]:
        """Imports, trainings, batch jobs and recommenders in progress (solutions that train
        automatically are warned of at the first look)."""
        from airflow_provider_personalize_deletion.hooks.activity import in_progress  # not at parse time

        activity = self.hook.list_dataset_group_activity(dataset_group_arn)
        if first:
            self._warn_of_auto_training(activity)
        return in_progress(activity)

    def _warn_of_auto_training(self, activity: list[Activity]) -> None:
        risky = [item for item in activity if item.kind == "auto_training_solution"]
        if risky:
            self.log.warning(
                "Dataset group %s has solutions with automatic training switched on, which may start a "
                "training while the data deletion job runs (not waited for; the overlap check shows it): %s",
                self.dataset_group_arn,
                summarize_activity(risky),
            )

    def _persist_link(self, context: Context) -> None:
        PersonalizeDataDeletionJobLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            dataset_group_arn=self.dataset_group_arn,
        )

    def _wait_for_job(self, context: Context, arn: str) -> None:
        self._defer_or_wait(arn)
        self._push_overlap(context, self.hook.describe_finished_data_deletion_job(arn))

    def _push_overlap(self, context: Context, job: dict[str, Any]) -> None:
        """Push what of the dataset group ran during the COMPLETED job's life (``overlapping_activity``)."""
        records: list[JsonValue] | None = None
        if self.check_overlap:
            records = [item.as_record() for item in self.hook.overlapping_activity(job)]
        context["ti"].xcom_push(key=OVERLAP_XCOM_KEY, value=records)


def _from_if_exists(if_exists: str) -> str:
    """The ``action_if_job_exists`` of the deprecated ``if_exists``."""
    warnings.warn(
        "Parameter 'if_exists' is deprecated: use 'action_if_job_exists' ('fail' or 'timestamp')",
        AirflowProviderDeprecationWarning,
        stacklevel=3,
    )
    if if_exists != "fail":
        raise ValueError(
            "Invalid parameter 'if_exists': only 'fail' is still accepted; 'reuse' carried on with a "
            "job another run had created and reported it as this run's. A job this task instance "
            "created is always carried on with; for a name in use, set action_if_job_exists"
        )
    return "fail"

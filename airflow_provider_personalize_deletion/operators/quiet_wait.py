"""
Waiting, before a create call, until nothing that must not overlap the new job is in progress on its
dataset group: the erasure guard's quiet wait, shared by every create operator of this package.

What counts as "in progress" is the operator's (:meth:`QuietWaitMixin._busy`, and the trigger's
``watch``): a data deletion job waits for imports, trainings, batch jobs and recommenders being created;
a dataset import job waits for data deletion jobs.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator

from airflow_provider_personalize_deletion.exceptions import (
    DatasetGroupActivityError,
    DatasetGroupNotQuietError,
)
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook, summarize_activity
from airflow_provider_personalize_deletion.triggers.personalize import PersonalizeDatasetGroupQuietTrigger
from airflow_provider_personalize_deletion.triggers.wait_bounds import deadline_in

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_personalize_deletion.hooks.activity import Activity

#: What to do when something is in progress on the dataset group before creating: wait until nothing
#: is, fail the try, or create the job anyway.
ACTION_IF_NOT_QUIET_CHOICES = ("wait", "fail", "ignore")
#: ``{"try_number": ..., "started": ...}``: when this try began waiting for the dataset group to be quiet.
QUIET_WAIT_STATE_KEY = "personalize_quiet_wait_started"


def check_quiet_settings(action_if_not_quiet: str, quiet_timeout: float, quiet_poll_interval: float) -> None:
    """
    Refuse bad quiet-wait arguments, naming the parameter.

    :raises ValueError: an unknown action, or a time that is not a positive finite number.
    """
    if action_if_not_quiet not in ACTION_IF_NOT_QUIET_CHOICES:
        raise ValueError(
            f"Invalid parameter 'action_if_not_quiet': must be one of {ACTION_IF_NOT_QUIET_CHOICES}"
        )
    for name, value in (("quiet_timeout", quiet_timeout), ("quiet_poll_interval", quiet_poll_interval)):
        if not value > 0 or not math.isfinite(value):
            raise ValueError(f"Invalid parameter {name!r}: must be a positive, finite number of seconds")


class QuietWaitMixin(AwsBaseOperator[PersonalizeHook]):
    """
    The quiet wait, a base of the create operators: see the module.

    The operator sets ``action_if_not_quiet``, ``quiet_timeout``, ``quiet_poll_interval``, ``deferrable``,
    :attr:`quiet_watch` and :attr:`not_quiet_consequence`; implements :meth:`_busy`, :meth:`_quiet_group`
    and ``_create_and_wait(context, slot_wait_started, quiet_wait_started)``, which
    :meth:`resume_after_quiet_wait` calls again after a deferral.
    """

    #: What the trigger watches: ``"activity"`` or ``"data_deletion_jobs"``.
    quiet_watch = "activity"
    #: The last sentence of :class:`DatasetGroupNotQuietError`: why the task did not go ahead.
    not_quiet_consequence = ""

    action_if_not_quiet: str
    quiet_timeout: float
    quiet_poll_interval: float
    deferrable: bool

    def _busy(self, dataset_group_arn: str, first: bool) -> list[Activity]:
        """What is in progress on the group now and must end first (``first``: the try's first look)."""
        raise NotImplementedError

    def _quiet_group(self) -> str:
        """The dataset group to watch."""
        raise NotImplementedError

    def _create_and_wait(
        self, context: Context, slot_wait_started: str | None, quiet_wait_started: str | None = None
    ) -> Any:
        raise NotImplementedError

    def resume_after_quiet_wait(
        self, context: Context, event: Any = None, quiet_wait_started: str | None = None
    ) -> Any:
        """
        Look again, and create if the dataset group is quiet, after waiting for it in the triggerer.

        The trigger's answer is not trusted as it is: time passed since it fired, so the task looks again
        before creating (and waits again if something started meanwhile).
        """
        if isinstance(event, dict) and event.get("status") == "error":
            raise DatasetGroupActivityError(self._quiet_group(), event.get("message"))
        return self._create_and_wait(context, slot_wait_started=None, quiet_wait_started=quiet_wait_started)

    def _wait_for_quiet(self, context: Context, carried: str | None) -> None:
        """
        Return once nothing is in progress on the dataset group; or fail, or defer, as configured.

        :param context: the task's context.
        :param carried: when this try began waiting, as the defer kwargs carried it (if they did).
        :raises DatasetGroupNotQuietError: ``action_if_not_quiet="fail"``, or ``quiet_timeout`` ran out.
        """
        if self.action_if_not_quiet == "ignore":
            return
        group = self._quiet_group()
        started: str | None = None
        busy = self._busy(group, first=True)
        while busy:
            summary = summarize_activity(busy)
            if self.action_if_not_quiet == "fail":
                raise DatasetGroupNotQuietError(
                    group, summary, "action_if_not_quiet='fail'", self.not_quiet_consequence
                )
            started = started or wait_started(context, QUIET_WAIT_STATE_KEY, carried)
            waited = seconds_since(started)
            if waited >= self.quiet_timeout:
                raise DatasetGroupNotQuietError(
                    group,
                    summary,
                    f"after {waited:.0f} s of waiting (quiet_timeout={self.quiet_timeout})",
                    self.not_quiet_consequence,
                )
            self.log.info(
                "Dataset group %s is not quiet, waiting (%.0f s of %.0f s so far) for %s",
                group,
                waited,
                self.quiet_timeout,
                summary,
            )
            remaining = self.quiet_timeout - waited
            if self.deferrable:
                delay = max(1, round(self.quiet_poll_interval))
                self.defer(
                    trigger=PersonalizeDatasetGroupQuietTrigger(
                        dataset_group_arn=group,
                        watch=self.quiet_watch,
                        waiter_delay=delay,
                        waiter_max_attempts=max(1, math.ceil(remaining / delay)),
                        deadline=deadline_in(remaining),
                        aws_conn_id=self.aws_conn_id,
                        region_name=self.region_name,
                        verify=self.verify,
                        botocore_config=self.botocore_config,
                    ),
                    method_name="resume_after_quiet_wait",
                    kwargs={"quiet_wait_started": started},
                )
            time.sleep(min(self.quiet_poll_interval, remaining))
            busy = self._busy(group, first=False)
        self.log.info("Dataset group %s is quiet: nothing in progress", group)


def wait_started(context: Context, key: str, carried: str | None) -> str:
    """
    When this try began waiting (for a slot, or for the dataset group to be quiet), as ISO 8601.

    Kept in ``task_state_store`` under ``key`` (per try), where every runner keeps it across deferrals;
    ``dag.test()`` hands a resumed task the trigger's event instead of the defer kwargs.

    :param context: the task's context.
    :param key: the ``task_state_store`` key of this wait.
    :param carried: the start the defer kwargs carried, if they did.
    """
    store = context.get("task_state_store")
    try_number = getattr(context["ti"], "try_number", None)
    kept = store.get(key) if store is not None else None
    if isinstance(kept, dict) and kept.get("try_number") == try_number and kept.get("started"):
        return str(kept["started"])
    started = carried or datetime.now(timezone.utc).isoformat()
    if store is not None:
        store.set(key, {"try_number": try_number, "started": started})
    return started


def seconds_since(started: str) -> float:
    """Seconds from an ISO 8601 time to now."""
    return (datetime.now(timezone.utc) - datetime.fromisoformat(started)).total_seconds()

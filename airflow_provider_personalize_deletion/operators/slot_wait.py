"""
Creating a job when the service refuses for a full limit or a busy resource: wait, then try again.

The wait is bounded per try by ``slot_wait_timeout``, from a start kept in ``task_state_store``
(:func:`.quiet_wait.wait_started`); each wait is as long as the try has already waited, between
``slot_wait_delay`` and ``slot_wait_max_delay``, in the triggerer when deferrable.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException
from botocore.exceptions import ClientError

from airflow_provider_personalize_deletion.hooks.personalize import BUSY_ERROR_CODES
from airflow_provider_personalize_deletion.operators.job_identity import JobIdentityMixin
from airflow_provider_personalize_deletion.operators.quiet_wait import seconds_since, wait_started

if TYPE_CHECKING:
    from airflow.sdk import Context


class SlotWaitMixin(JobIdentityMixin):
    """
    The slot wait of the exactly-once create: a base of the create operators that meet the service's limits.

    The operator sets ``slot_wait_delay``, ``slot_wait_max_delay``, ``slot_wait_timeout``, ``deferrable``
    and :attr:`slot_wait_state_key`; it may set :attr:`busy_reasons`, override :meth:`_slot_scope` (what
    was busy, for the log and the error) and :meth:`_after_slot_wait`; it implements
    ``_create_and_wait(context, slot_wait_started)``, which :meth:`resume_after_slot_wait` calls again
    after a deferral.
    """

    #: ``task_state_store`` key of ``{"try_number": ..., "started": ...}``: when this try began waiting.
    slot_wait_state_key: ClassVar[str]
    #: Why the service refused, by error code: the refusals waited on.
    busy_reasons: ClassVar[Mapping[str, str]] = BUSY_ERROR_CODES

    slot_wait_delay: float
    slot_wait_max_delay: float
    slot_wait_timeout: float
    deferrable: bool

    def _create_and_wait(
        self, context: Context, slot_wait_started: str | None, quiet_wait_started: str | None = None
    ) -> Any:
        raise NotImplementedError

    def resume_after_slot_wait(
        self, context: Context, event: Any = None, slot_wait_started: str | None = None
    ) -> Any:
        """Try creating again after waiting in the triggerer for a free slot."""
        return self._create_and_wait(context, slot_wait_started=slot_wait_started)

    def _slot_scope(self) -> str:
        """What was busy, the subject of the log line and the error."""
        return "Amazon Personalize"

    def _after_slot_wait(self, context: Context) -> None:
        """Called after each wait for a slot, before creating again (e.g. look for activity again)."""

    def _create_when_free(
        self, context: Context, name: str, own: bool, inputs: dict[str, Any], slot_wait_started: str | None
    ) -> str:
        while True:
            try:
                return self._create(name, own, inputs)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code not in self.busy_reasons:
                    raise
                slot_wait_started = wait_started(context, self.slot_wait_state_key, slot_wait_started)
                self._wait_for_slot(slot_wait_started, code)
                self._after_slot_wait(context)

    def _wait_for_slot(self, slot_wait_started: str, error_code: str) -> None:
        """Wait (deferring when deferrable); fail once ``slot_wait_timeout`` is spent."""
        waited = seconds_since(slot_wait_started)
        reason = self.busy_reasons[error_code]
        if waited >= self.slot_wait_timeout:
            raise AirflowException(
                f"{self._slot_scope()} was still busy ({reason}) after {waited:.0f} s of waiting "
                f"(slot_wait_timeout={self.slot_wait_timeout})"
            )
        delay = min(self.slot_wait_max_delay, max(self.slot_wait_delay, waited))
        delay = min(delay, self.slot_wait_timeout - waited)
        self.log.info(
            "%s is busy (%s); waiting %.0f s before trying again (waited %.0f s of %.0f s)",
            self._slot_scope(),
            reason,
            delay,
            waited,
            self.slot_wait_timeout,
        )
        if self.deferrable:
            from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger  # not at parse time

            self.defer(
                trigger=TimeDeltaTrigger(timedelta(seconds=delay)),
                method_name="resume_after_slot_wait",
                kwargs={"slot_wait_started": slot_wait_started},
            )
        time.sleep(delay)

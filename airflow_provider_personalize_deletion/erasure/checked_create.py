"""
A create operator whose arguments come from an XCom, checked before every create attempt.

Whoever may write XComs (the REST API, a task of another DAG) controls the arguments a task maps or pulls
from one. The application's create tasks therefore check them against what the settings make of them
before any call: on each try, and on each resumption after waiting (for a slot, for a quiet dataset
group), which renders the XCom again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.operators.job_identity import JobIdentityMixin

if TYPE_CHECKING:
    from airflow.sdk import Context


class CheckedArgumentsMixin(JobIdentityMixin):
    """
    A base of a create operator of the application: :meth:`_check_arguments` runs before each pass of
    ``_create_and_wait`` (the one path of ``execute`` and of every resumption), before any call.
    """

    def _check_arguments(self, context: Context) -> None:
        """
        Refuse arguments other than the settings' (an XCom written by hand).

        :raises AirflowFailException: naming the arguments that differ; nothing was created.
        """
        raise NotImplementedError

    def _create_and_wait(
        self, context: Context, slot_wait_started: str | None, quiet_wait_started: str | None = None
    ) -> Any:
        self._check_arguments(context)
        return super()._create_and_wait(  # type: ignore[misc]  # the create operator's, next in the MRO
            context, slot_wait_started, quiet_wait_started
        )

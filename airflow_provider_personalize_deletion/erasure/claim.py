"""
What a run's tasks take from the collect step: the claim's key and time, checked; nothing else.

Where data is read and written (connections, bucket, prefix, tables) is resolved again by each task
from the run's params and the Variables; the collect step's XCom is never trusted with it. The
folders of a run follow from the claim: ``<key_prefix>/<claim16>/`` for the run, and
``<key_prefix>/<claim16>/<export try>/`` for each try of the export, so that a re-export writes new
files, which new jobs (named after their input) read. Each collect try claims under a key of its own
(:func:`claim_key`), so that a cleared run's earlier tries (and their folders) follow from the run's id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_personalize_deletion.erasure.settings import ErasureSettings
from airflow_provider_personalize_deletion.erasure.store import batch_key, is_batch_key
from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.transfers.parameters import PART_NAME_PATTERN

#: The most collect tries of one run whose claims :meth:`Claim.earlier_run_folders` looks back over.
MAX_COLLECT_TRIES = 1000


def claim_key(run_id: str, try_number: int) -> str:
    """
    The key one collect try claims its requests with: a :func:`~.store.batch_key` of the run and try.

    :param run_id: the DAG run's id.
    :param try_number: the collect task's try number.
    """
    return batch_key(f"{run_id}#{int(try_number)}")


@dataclass(frozen=True)
class Claim:
    """
    The claim of one collect try: the key its requests were claimed with, and when.

    :param batch_key: the claim's :func:`~.store.batch_key` (32 hex digits).
    :param collected_at: when the requests were claimed (aware).
    """

    batch_key: str
    collected_at: datetime

    @classmethod
    def from_collected(cls, collected: Mapping[str, Any]) -> Claim:
        """
        Take the claim from the collect step's result, checked; ignore everything else in it.

        :param collected: the collect step's XCom.
        :raises PersonalizeValidationError: naming the field, when it is not what collect writes.
        """
        key = collected.get("batch_key")
        if not isinstance(key, str) or not is_batch_key(key):
            raise PersonalizeValidationError(
                "batch_key", "must be 32 lowercase hex digits (collect step's XCom)"
            )
        moment = collected.get("collected_at")
        try:
            at = datetime.fromisoformat(moment) if isinstance(moment, str) else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise PersonalizeValidationError(
                "collected_at", "must be an ISO 8601 timestamp with a time zone (collect step's XCom)"
            )
        return cls(key, at)

    def run_folder(self, settings: ErasureSettings) -> str:
        """
        The key prefix of every file of this claim: ``<key_prefix>/<claim16>``.

        :param settings: the run's settings.
        """
        return f"{settings.key_prefix}/{self.batch_key[:16]}"

    def earlier_run_folders(self, settings: ErasureSettings, run_id: str) -> list[str]:
        """
        The run folders of the collect tries of ``run_id`` before this claim's, oldest first.

        Derived from the run's id (never from an XCom): empty when this claim is not one of the run's
        first :data:`MAX_COLLECT_TRIES` tries.

        :param settings: the run's settings.
        :param run_id: the DAG run's id.
        """
        keys: list[str] = []
        for try_number in range(1, MAX_COLLECT_TRIES + 1):
            key = claim_key(run_id, try_number)
            if key == self.batch_key:
                return [f"{settings.key_prefix}/{earlier[:16]}" for earlier in keys]
            keys.append(key)
        return []

    def export_folder(self, settings: ErasureSettings, try_number: int) -> str:
        """
        The key prefix of the files of one export try: ``<key_prefix>/<claim16>/<try>``.

        :param settings: the run's settings.
        :param try_number: the export task's try number.
        """
        return f"{self.run_folder(settings)}/{int(try_number)}"

    def location_pattern(self, settings: ErasureSettings) -> re.Pattern[str]:
        """
        The exact shape of a deletion file's S3 URI of this claim; group 1 is the export try.

        :param settings: the run's settings.
        """
        folder = re.escape(f"s3://{settings.bucket}/{self.run_folder(settings)}/")
        return re.compile(folder + r"([1-9][0-9]{0,5})/" + PART_NAME_PATTERN)

"""
Faults that act on requests rather than on jobs: throttling and latency, and the call count tests read.

Faults that act on jobs (hold a status, fail with a reason) belong to the job lifecycle, in
:mod:`~airflow_provider_personalize_deletion.emulator.personalize`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass
class _Throttle:
    remaining: int
    operation: str | None


class RequestFaults:
    """
    What the next Personalize requests meet, and how many were received. Callers hold the emulator's lock.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Drop every fault and forget the calls received."""
        self._latencies: dict[str | None, float] = {}
        self._throttles: list[_Throttle] = []
        self._calls: Counter[str] = Counter()
        self._s3_calls: Counter[str] = Counter()

    def throttle(self, count: int, operation: str | None = None) -> None:
        """
        Answer the next calls with ``ThrottlingException``.

        :param count: how many calls.
        :param operation: only calls of this API name (e.g. ``CreateDataDeletionJob``); None for any.
        """
        self._throttles.append(_Throttle(count, operation))

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        """
        Delay the answers to the next calls.

        :param seconds: the delay; 0 removes it.
        :param operation: only calls of this API name; None for any call without a delay of its own.
        """
        self._latencies[operation] = seconds

    def latency(self, operation: str) -> float:
        """:return: the seconds a call of ``operation`` waits before it is answered."""
        return self._latencies.get(operation, self._latencies.get(None, 0.0))

    def s3_latency(self, operation: str) -> float:
        """
        Count an S3 request and return the seconds it waits before moto answers it.

        Only a delay set for that S3 operation by name applies (the default of
        :meth:`set_latency` is for Personalize calls): S3 is held one operation at a time.

        :param operation: the S3 API name (:func:`.s3_operations.s3_operation`).
        """
        self._s3_calls[operation] += 1
        return self._latencies.get(operation, 0.0)

    def record(self, operation: str) -> bool:
        """
        Count a call, and use up one matching throttle if there is one.

        :param operation: the API name of the call.
        :return: whether the call is to be answered with ``ThrottlingException``.
        """
        self._calls[operation] += 1
        for throttle in self._throttles:
            if throttle.remaining > 0 and throttle.operation in (None, operation):
                throttle.remaining -= 1
                return True
        return False

    def calls(self, operation: str | None = None) -> int:
        """
        :param operation: count only calls of this API name (Personalize's, or an S3 operation's);
            None for all Personalize calls.
        """
        if operation is None:
            return sum(self._calls.values())
        return self._calls[operation] or self._s3_calls[operation]

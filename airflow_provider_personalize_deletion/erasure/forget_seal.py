"""
The seal of a mapped find-and-forget task's results: a keyed MAC (HMAC-SHA256 under the fingerprint key,
in a domain of its own) over each result record and its run. The results reach the record step of a dry
run by XCom (a dry run writes nothing to the warehouse), which whoever may write an XCom controls: the
record step counts only the records whose seal holds, so a forged "no match" cannot make a file clean.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: The member of a result record holding its seal.
SEAL_MEMBER = "seal"
_DOMAIN = b"forget-result\x1f"


def result_seal(key: bytes, run: tuple[str, str]) -> Callable[[Mapping[str, Any]], str]:
    """
    The seal of one run's result records (:attr:`~..forget.batch.ForgetScope.seal`).

    :param key: the fingerprint key.
    :param run: ``(dag_id, run_id)``: a run's records are no other run's.
    """

    def seal(record: Mapping[str, Any]) -> str:
        unsealed = {name: value for name, value in record.items() if name != SEAL_MEMBER}
        message = json.dumps([*run, unsealed], sort_keys=True).encode()
        return hmac.new(key, _DOMAIN + message, hashlib.sha256).hexdigest()

    return seal


def sealed_records(
    key: bytes, run: tuple[str, str], records: Iterable[object]
) -> tuple[list[Mapping[str, Any]], int]:
    """
    The records whose seal holds, and how many did not (absent, malformed, or not what a task made).

    :param key: the fingerprint key.
    :param run: ``(dag_id, run_id)``.
    :param records: the mapped tasks' records, as read from their XComs.
    """
    seal = result_seal(key, run)
    authentic: list[Mapping[str, Any]] = []
    forged = 0
    for record in records:
        if isinstance(record, Mapping) and hmac.compare_digest(
            str(record.get(SEAL_MEMBER, "")), seal(record)
        ):
            authentic.append(record)
        else:
            forged += 1
    return authentic, forged

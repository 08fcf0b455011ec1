"""
One batch of a find-and-forget run: its objects forgotten one after the other (:func:`.forget_object`),
each result handed on as soon as it is known.

Only one object's state is held at a time: the users to forget, the object being read (streamed), and
the results so far (counts and versions, never an id). An object outside the scope (outside the provider's
setting ``[personalize_deletion] forget_allowed_locations``, in a bucket the scope does not allow, or in
no scannable location of the run's plan in the object's format) refuses the whole batch before any AWS
call: a batch comes from an XCom, which its writer may have forged.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.allowed_locations import (
    SETTING_NAME,
    AllowedLocations,
    configured_allowed_locations,
)
from airflow_provider_personalize_deletion.forget.forget_object import forget_object
from airflow_provider_personalize_deletion.forget.objects import ForgetObject
from airflow_provider_personalize_deletion.forget.result import ObjectResult

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_personalize_deletion.forget.locations import LocationPlan
    from airflow_provider_personalize_deletion.scan.suppressed import SuppressedUsers

log = logging.getLogger(__name__)

#: Called with an object's position in the batch, the object and its result.
OnResult = Callable[[int, ForgetObject, ObjectResult], None]


@dataclass(frozen=True)
class ForgetScope:
    """
    Whom a run forgets, and where it may write.

    :param users: the users to forget (:func:`.find.users_to_forget`: keyed digests only).
    :param allowed_buckets: the only buckets whose objects may be read and rewritten; None: any bucket of
        the bound.
    :param allowed_locations: the bound: every object must lie within it; None: the provider's setting
        ``[personalize_deletion] forget_allowed_locations``, read when the batch is checked (unset, every
        batch is refused).
    :param plan: the run's locations, held where a writer of XComs cannot reach (the warehouse, or found
        again in the task): each object must resolve (:meth:`~.locations.LocationPlan.resolve`) to one of
        its scannable locations, in that location's format; None: no such check (``allowed_buckets`` only).
    :param batch: the exact objects this task may read and rewrite, in order (its batch of the run's plan,
        held where a writer of XComs cannot reach): the batch given must be the same, or it is refused
        before any call, so that no object planned for another task is rewritten by this one (twice, or
        after the other task finished); None: no such check.
    :param dry_run: count the matches and write nothing.
    :param on_result: called with each object's position in the batch, the object and its result as soon
        as it is known, before the next object is read (e.g. to write the evidence).
    :param on_rewrite: called with the position, the object and what was read (outcome ``rewriting``:
        ETag, version and counts before) just before a rewrite, so that a try killed after the rewrite
        leaves a trace of it (e.g. an intent row of the evidence).
    :param seal: called with each result record the task returns (:func:`result_record`); what it
        returns is added to the record under ``seal`` (e.g. a keyed MAC, so that a step reading the XCom
        tells the task's records from forged ones); None: no seal.
    """

    users: SuppressedUsers
    allowed_buckets: frozenset[str] | None = None
    allowed_locations: AllowedLocations | None = None
    plan: LocationPlan | None = None
    batch: tuple[ForgetObject, ...] | None = None
    dry_run: bool = False
    on_result: OnResult | None = None
    on_rewrite: OnResult | None = None
    seal: Callable[[dict[str, Any]], str] | None = None


def check_in_scope(objects: Sequence[ForgetObject], scope: ForgetScope, field: str = "objects") -> None:
    """
    Refuse a batch with an object the scope does not cover, before any call.

    :param objects: the batch.
    :param scope: its bound, allowed buckets, plan and batch.
    :param field: the batch's name in errors.
    :raises PersonalizeValidationError: naming the first such object by place and the rule it breaks (or
        the setting, when it is unset or breaks a rule).
    """
    bound = scope.allowed_locations
    if bound is None:
        bound = configured_allowed_locations()
    if scope.batch is not None and tuple(objects) != scope.batch:
        raise PersonalizeValidationError(
            field, "must be exactly this task's batch of the run's plan (recorded by the planning task)"
        )
    for index, item in enumerate(objects):
        if not bound.covers(item.bucket, item.key):
            raise PersonalizeValidationError(f"{field}[{index}]", f"must lie within {SETTING_NAME}")
        if scope.allowed_buckets is not None and item.bucket not in scope.allowed_buckets:
            raise PersonalizeValidationError(
                f"{field}[{index}].bucket", "must be one of the allowed buckets (allowed_buckets)"
            )
        if scope.plan is None:
            continue
        location = scope.plan.resolve(item.bucket, item.key)
        if location is None or not location.scannable:
            raise PersonalizeValidationError(
                f"{field}[{index}]",
                "must lie in a scannable location of the run's plan (recorded by the planning task)",
            )
        if location.format != item.format:
            raise PersonalizeValidationError(
                f"{field}[{index}].format", "must be the format of its location in the run's plan"
            )


def result_record(item: ForgetObject, result: ObjectResult) -> dict[str, Any]:
    """
    One object's result as JSON-ready data (XCom, evidence): its format, then every field of the result.

    :param item: the object.
    :param result: what became of it.
    """
    record = asdict(result)
    record["outcome"] = result.outcome.value
    record["old_versions_kept"] = list(result.old_versions_kept)
    return {"format": item.format, **record, "verified": result.verified}


def forget_objects(
    client: S3Client, objects: Sequence[ForgetObject], scope: ForgetScope
) -> list[ObjectResult]:
    """
    Forget the scope's users in each object, in order.

    A retry after some objects were rewritten finds no match in them (``no_match``): nothing is
    removed twice, and the objects not reached yet are done then.

    :param client: a boto3 S3 client.
    :param objects: the batch.
    :param scope: the users, the allowed buckets, whether it is a dry run, where results go.
    :return: each object's result, in order.
    :raises PersonalizeValidationError: an object is outside the scope (:func:`check_in_scope`), before
        any call.
    """
    check_in_scope(objects, scope)
    results = []
    for position, item in enumerate(objects):
        location = scope.plan.resolve(item.bucket, item.key) if scope.plan is not None else None
        before_rewrite = None
        if scope.on_rewrite is not None:
            before_rewrite = functools.partial(scope.on_rewrite, position, item)
        result = forget_object(
            client,
            item.bucket,
            item.key,
            item.format,
            scope.users,
            dry_run=scope.dry_run,
            before_rewrite=before_rewrite,
            declared=location is not None and location.declared_only,
        )
        if scope.on_result is not None:
            scope.on_result(position, item, result)
        results.append(result)
    outcomes = Counter(result.outcome.value for result in results)
    log.info(
        "Forgot in %d object(s)%s: %s; %d record(s) removed",
        len(results),
        " (dry run: nothing written)" if scope.dry_run else "",
        dict(sorted(outcomes.items())),
        sum(result.records_removed for result in results),
    )
    return results

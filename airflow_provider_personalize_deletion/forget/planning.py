"""
The planning step of a find-and-forget run: the locations found, their objects listed once and split into
batches for mapped tasks, and a summary of what will not be scanned (counts, S3 paths and reasons; never
an id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.forget.find_locations import find_locations
from airflow_provider_personalize_deletion.forget.locations import LocationPlan
from airflow_provider_personalize_deletion.forget.objects import (
    MAX_BATCH_BYTES,
    MAX_BATCH_OBJECTS,
    MAX_BATCHES,
    checked_objects,
    list_plan_objects,
    split_batches,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from airflow_provider_personalize_deletion.forget.allowed_locations import AllowedLocations
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook


@dataclass(frozen=True)
class ForgetBatches:
    """
    :param batches: each mapped task's objects, ``{"bucket", "key", "format"}`` each.
    :param summary: the plan's counts: ``locations`` (per outcome), ``not_scanned`` (``uri``, ``reason``),
        ``objects``, ``bytes``, ``batches``, ``skipped``, ``vanished``, ``unlisted`` (``prefix``,
        ``error``: a listing S3 refused, its objects unverified).
    :param plan: the locations the batches were listed from: keep it where a writer of XComs cannot
        reach, and check each mapped task's objects against it (:func:`.batch.check_in_scope`).
    """

    batches: list[list[dict[str, str]]]
    summary: dict[str, Any]
    plan: LocationPlan

    def planned_locations(self) -> list[str]:
        """Every planned object's ``s3://bucket/key``, batch after batch."""
        return [item.location for batch in self.batches for item in checked_objects(batch)]

    def as_record(self) -> dict[str, Any]:
        """Return it as JSON-ready data (S3 names, formats, counts and job ARNs; never a user id)."""
        return {"plan": self.plan.as_record(), "batches": self.batches, "summary": self.summary}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ForgetBatches:
        """:param record: :meth:`as_record`'s output; return the batches, each object checked."""
        batches = [
            [item.as_record() for item in checked_objects(batch, f"batches[{index}]")]
            for index, batch in enumerate(record["batches"])
        ]
        return cls(batches, dict(record["summary"]), LocationPlan.from_record(record["plan"]))


def plan_forget_batches(
    hook: PersonalizeHook,
    s3_client: S3Client,
    dataset_group_arns: Iterable[str],
    declared: object = None,
    *,
    max_objects: int = MAX_BATCH_OBJECTS,
    max_bytes: int = MAX_BATCH_BYTES,
    max_batches: int = MAX_BATCHES,
    field: str = "forget_locations",
    bound: AllowedLocations | None = None,
) -> ForgetBatches:
    """
    Find the locations (:func:`.find_locations`: the declaration is checked before any call), list their
    objects once and split them into batches (:func:`.objects.split_batches`).

    :param hook: a Personalize hook.
    :param s3_client: a boto3 S3 client.
    :param dataset_group_arns: the dataset groups whose jobs' files are scanned.
    :param declared: the declared locations and allowed buckets (see :mod:`.declared_locations`).
    :param max_objects: objects per batch at most.
    :param max_bytes: bytes per batch at most.
    :param max_batches: batches at most (Airflow's ``[core] max_map_length``).
    :param field: the declaration's name in error messages.
    :param bound: what the run may read and rewrite at all; None: the provider's setting
        (:mod:`.allowed_locations`).
    :raises PersonalizeValidationError: the setting, the declaration, an ARN or a limit breaks a rule,
        before any call.
    """
    split_batches([], max_objects, max_bytes, max_batches)  # the limits are checked before any call
    plan = find_locations(hook, dataset_group_arns, declared, field, bound)
    listing = list_plan_objects(s3_client, plan)
    batches = split_batches(listing.objects, max_objects, max_bytes, max_batches)
    return ForgetBatches(
        batches,
        {
            "locations": plan.counts(),
            "not_scanned": [
                {"uri": location.uri, "reason": location.reason} for location in plan.not_scannable
            ],
            "objects": len(listing.objects),
            "bytes": sum(size for _, size in listing.objects),
            "batches": len(batches),
            "skipped": listing.skipped,
            "vanished": plan.vanished,
            "unlisted": [{"prefix": prefix, "error": error} for prefix, error in listing.unlisted],
        },
        plan,
    )

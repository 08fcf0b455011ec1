"""
One run's :class:`.locations.LocationPlan`: the declared locations checked first, then the jobs' paths.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_personalize_deletion.forget.allowed_locations import (
    AllowedLocations,
    configured_allowed_locations,
)
from airflow_provider_personalize_deletion.forget.declared_locations import parse_declared_locations
from airflow_provider_personalize_deletion.forget.job_locations import find_job_locations
from airflow_provider_personalize_deletion.forget.locations import LocationPlan, build_plan

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

log = logging.getLogger(__name__)


def find_locations(
    hook: PersonalizeHook,
    dataset_group_arns: Iterable[str],
    declared: object = None,
    field: str = "forget_locations",
    bound: AllowedLocations | None = None,
) -> LocationPlan:
    """
    Find every location a run scans, and those it reports as not scannable.

    The bound and the declaration are checked before any AWS call (a declared location outside the
    bound, or ``allowed_buckets`` naming a bucket outside it, is an error); then every job of the dataset
    groups is listed and described once (see :mod:`.job_locations`), however many requests of the run
    name a group.

    :param hook: a Personalize hook.
    :param dataset_group_arns: the run's dataset groups, repeated or not.
    :param declared: the declared locations (see :mod:`.declared_locations`): JSON text, its value, or None.
    :param field: the declaration's name in error messages.
    :param bound: what the run may read and rewrite at all; None: the provider's setting
        ``[personalize_deletion] forget_allowed_locations`` (:mod:`.allowed_locations`). A job's location
        outside it is reported ``location_not_allowed`` and not listed.
    :raises PersonalizeValidationError: the setting (unset too), the declaration or an ARN breaks a rule,
        before any call.
    """
    if bound is None:
        bound = configured_allowed_locations()
    declaration = parse_declared_locations(declared, field, bound)
    groups = sorted(set(dataset_group_arns))
    from airflow_provider_personalize_deletion.utils.service_model import validate_member

    for index, arn in enumerate(groups):
        validate_member("ListDatasets", "datasetGroupArn", arn, field=f"dataset_group_arns[{index}]")
    jobs = find_job_locations(hook, groups)
    plan = build_plan(
        [*jobs.locations, *declaration.locations], declaration.allowed_buckets, jobs.vanished, bound
    )
    log.info("Found %d locations in %d dataset groups: %s.", len(plan.locations), len(groups), plan.counts())
    return plan

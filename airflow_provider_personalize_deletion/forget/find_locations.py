"""
One run's :class:`.locations.LocationPlan`: the declared locations checked first, then the jobs' paths.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

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
) -> LocationPlan:
    """
    Find every location a run scans, and those it reports as not scannable.

    The declaration is checked before any AWS call; then every job of the dataset groups is listed and
    described once (see :mod:`.job_locations`), however many requests of the run name a group.

    :param hook: a Personalize hook.
    :param dataset_group_arns: the run's dataset groups, repeated or not.
    :param declared: the declared locations (see :mod:`.declared_locations`): JSON text, its value, or None.
    :param field: the declaration's name in error messages.
    :raises PersonalizeValidationError: the declaration or an ARN breaks a rule, before any call.
    """
    declaration = parse_declared_locations(declared, field)
    groups = sorted(set(dataset_group_arns))
    from airflow_provider_personalize_deletion.utils.service_model import validate_member

    for index, arn in enumerate(groups):
        validate_member("ListDatasets", "datasetGroupArn", arn, field=f"dataset_group_arns[{index}]")
    jobs = find_job_locations(hook, groups)
    plan = build_plan([*jobs.locations, *declaration.locations], declaration.allowed_buckets, jobs.vanished)
    log.info("Found %d locations in %d dataset groups: %s.", len(plan.locations), len(groups), plan.counts())
    return plan

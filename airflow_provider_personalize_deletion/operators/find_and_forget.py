"""
Operators of find and forget: plan the S3 objects that Personalize's jobs read and wrote into batches,
then forget the erased users in each batch, one mapped task per batch::

    batches = PersonalizeFindForgetBatchesOperator(task_id="find_objects", dataset_group_arns=[...])
    PersonalizeForgetObjectsOperator.partial(task_id="forget", scope=my_scope).expand(
        objects=batches.output
    )
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_personalize_deletion.forget.batch import ForgetScope, forget_objects, result_record
from airflow_provider_personalize_deletion.forget.objects import (
    MAX_BATCH_BYTES,
    MAX_BATCH_OBJECTS,
    checked_objects,
)
from airflow_provider_personalize_deletion.forget.planning import plan_forget_batches
from airflow_provider_personalize_deletion.hooks.personalize import PersonalizeHook

if TYPE_CHECKING:
    from airflow.sdk import Context

#: XCom key of the planning step's summary (counts, S3 paths and reasons; never an id).
FORGET_PLAN_XCOM_KEY = "forget_plan"


class PersonalizeFindForgetBatchesOperator(AwsBaseOperator[PersonalizeHook]):
    """
    Find the S3 locations of the dataset groups' batch, export and import jobs and of a declaration, list
    their objects once, and return them in batches for :class:`PersonalizeForgetObjectsOperator`'s
    ``.expand(objects=...)``. The summary (what is not scanned and why, refused listings) is pushed
    under the XCom key :data:`FORGET_PLAN_XCOM_KEY`. Everything read lies within the provider's setting
    ``[personalize_deletion] forget_allowed_locations`` (:mod:`~..forget.allowed_locations`; unset, the
    task fails naming it): a templated declaration cannot widen it.

    :param dataset_group_arns: the dataset groups whose jobs' files are scanned.
    :param declared_locations: locations and ``allowed_buckets`` (JSON text or its value; see
        :mod:`~..forget.declared_locations`), checked before any call; None: the jobs' locations only.
    :param max_objects_per_batch: objects per mapped task at most (default 100).
    :param max_bytes_per_batch: bytes per mapped task at most (default 1 GiB; a larger object is alone).
    """

    aws_hook_class = PersonalizeHook
    template_fields: Sequence[str] = aws_template_fields(
        "dataset_group_arns", "declared_locations", "max_objects_per_batch", "max_bytes_per_batch"
    )

    def __init__(
        self,
        *,
        dataset_group_arns: Sequence[str],
        declared_locations: object = None,
        max_objects_per_batch: int = MAX_BATCH_OBJECTS,
        max_bytes_per_batch: int = MAX_BATCH_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset_group_arns = dataset_group_arns
        self.declared_locations = declared_locations
        self.max_objects_per_batch = max_objects_per_batch
        self.max_bytes_per_batch = max_bytes_per_batch

    def execute(self, context: Context) -> list[list[dict[str, str]]]:
        from airflow.providers.common.compat.sdk import conf

        s3_hook = S3Hook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
        found = plan_forget_batches(
            self.hook,
            s3_hook.get_conn(),
            self.dataset_group_arns,
            self.declared_locations,
            max_objects=self.max_objects_per_batch,
            max_bytes=self.max_bytes_per_batch,
            max_batches=conf.getint("core", "max_map_length"),
            field="declared_locations",
        )
        context["ti"].xcom_push(key=FORGET_PLAN_XCOM_KEY, value=found.summary)
        return found.batches


#: What a DAG gives :class:`PersonalizeForgetObjectsOperator` to say whom to forget, in the running task.
ScopeSource = Callable[["Context"], ForgetScope]


class PersonalizeForgetObjectsOperator(AwsBaseOperator[S3Hook]):
    """
    Remove the users to forget from each of a batch of S3 objects, in place, verified (see
    :mod:`~..forget.forget_object`), and return each object's result as data: outcome, versions and ETags
    before and after, records removed, verified or not and why; never an id.

    A retried or cleared task reads every object again: one it rewrote already names no user to forget
    and is ``no_match``, so nothing is removed twice.

    :param objects: ``{"bucket", "key", "format"}`` each (the planning step's batch), checked before any
        call.
    :param scope: called with the context in the running task: returns the users to forget, the allowed
        buckets and the run's location plan (an object outside them, or outside the provider's setting
        ``[personalize_deletion] forget_allowed_locations``, refuses the batch before any call:
        ``objects`` may come from a forged XCom), whether to write, and where each intent and result goes
        (:class:`~..forget.batch.ForgetScope`), and how each returned record is sealed; where the users
        and the plan come from is the DAG's.
    :param count_only: a dry run: count the matches and write nothing, whatever the scope says (not
        ``dry_run``, which is a method of every operator).
    """

    aws_hook_class = S3Hook
    template_fields: Sequence[str] = aws_template_fields("objects")

    def __init__(
        self,
        *,
        objects: Sequence[dict[str, str]],
        scope: ScopeSource,
        count_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.objects = objects
        self.scope = scope
        self.count_only = count_only

    def execute(self, context: Context) -> list[dict[str, Any]]:
        objects = checked_objects(self.objects)
        scope = self.scope(context)
        if self.count_only:
            scope = replace(scope, dry_run=True)
        results = forget_objects(self.hook.get_conn(), objects, scope)
        records = [result_record(item, result) for item, result in zip(objects, results, strict=True)]
        if scope.seal is not None:
            records = [{**record, "seal": scope.seal(record)} for record in records]
        return records

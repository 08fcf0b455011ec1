"""
What uses a dataset group's data: its activity, by kind, and when it ran.

Amazon Personalize's guide for data deletion jobs says that no job using the datasets (training, batch
jobs, imports) should run while a data deletion job runs, or the users' data may stay in models. This
module holds the pure part of the guard: the kinds of activity and their in-progress statuses (as
data), :class:`Activity`, the checks :func:`in_progress` and :func:`overlapping`, and the one
description of the list calls that find a group's activity (:data:`ACTIVITY_LISTING`), walked by
:func:`activity_plan` for the synchronous and the asynchronous hook alike.

It imports neither Airflow nor botocore, so DAG files and triggers can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

#: What uses a dataset group's datasets, by kind; states as data.
KINDS: tuple[str, ...] = (
    "dataset_import_job",
    "solution_version",
    "batch_inference_job",
    "batch_segment_job",
    "recommender",
    "auto_training_solution",
)
#: Per kind, the statuses the service model documents as in progress.
IN_PROGRESS_STATUSES: dict[str, frozenset[str]] = {
    "dataset_import_job": frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"}),
    "solution_version": frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"}),
    "recommender": frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"}),
    "batch_inference_job": frozenset({"PENDING", "IN PROGRESS"}),
    "batch_segment_job": frozenset({"PENDING", "IN PROGRESS"}),
    # A solution with automatic training is listed as a risk (it may start a training at any time); it is
    # never "in progress" itself: the solution versions it creates are.
    "auto_training_solution": frozenset(),
    # Not one of KINDS, the group's activity (a deletion job does not wait for another): what an import
    # waits for (:meth:`.PersonalizeHook.running_data_deletion_jobs`).
    "data_deletion_job": frozenset({"PENDING", "IN_PROGRESS"}),
}
#: Kinds that only signal a risk: they never overlap a job by themselves.
RISK_ONLY_KINDS = frozenset({"auto_training_solution"})


@dataclass(frozen=True)
class Activity:
    """
    One thing that uses a dataset group's data: a job, a training, a recommender's creation, or a solution
    that trains automatically.

    :param kind: one of :data:`KINDS`, or ``data_deletion_job``.
    :param arn: its ARN.
    :param status: its status as the service reported it.
    :param created: its ``creationDateTime``, an aware datetime (kept in UTC).
    :param last_updated: its ``lastUpdatedDateTime``, an aware datetime (kept in UTC).
    """

    kind: str
    arn: str
    status: str
    created: datetime
    last_updated: datetime

    def __post_init__(self) -> None:
        if self.kind not in IN_PROGRESS_STATUSES:
            raise ValueError(f"kind must be one of {list(IN_PROGRESS_STATUSES)}")
        for name in ("created", "last_updated"):
            moment: datetime = getattr(self, name)
            if moment.tzinfo is None:
                raise ValueError(f"{name} must be an aware datetime")
            object.__setattr__(self, name, moment.astimezone(timezone.utc))

    @property
    def in_progress(self) -> bool:
        """Whether its status is one :data:`IN_PROGRESS_STATUSES` lists for its kind."""
        return self.status in IN_PROGRESS_STATUSES[self.kind]

    def as_record(self) -> dict[str, Any]:
        """Return it as JSON-ready data (for XCom, trigger events, the audit): times in ISO 8601."""
        return {
            "kind": self.kind,
            "arn": self.arn,
            "status": self.status,
            "created": self.created.isoformat(),
            "last_updated": self.last_updated.isoformat(),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Activity:
        """
        Rebuild an activity from :meth:`as_record`'s output.

        :param record: the record.
        """
        return cls(
            kind=record["kind"],
            arn=record["arn"],
            status=record["status"],
            created=datetime.fromisoformat(record["created"]),
            last_updated=datetime.fromisoformat(record["last_updated"]),
        )

    def life_end(self, now: datetime) -> datetime:
        """
        The end of its life: its last update, or ``now`` while it is in progress.

        :param now: the current time, aware.
        """
        return max(now, self.last_updated) if self.in_progress else self.last_updated


def in_progress(activities: Iterable[Activity]) -> list[Activity]:
    """
    Return the activities that are in progress, in the order given.

    :param activities: a dataset group's activity.
    """
    return [activity for activity in activities if activity.in_progress]


def overlapping(
    activities: Iterable[Activity], start: datetime, end: datetime, now: datetime | None = None
) -> list[Activity]:
    """
    Return the activities (training, imports, batch jobs, recommender creation) whose life intersects
    ``[start, end]``, in the order given.

    An activity's life is ``[created, last_updated]``, or ``[created, now]`` while it is in progress. The
    intervals are closed: an activity that ended at the very moment the job started, or started at the
    very moment it ended, overlaps (a needless follow-up job costs little; a missed overlap leaves users
    in a model). Every status counts, a failed one too: the service reports no more precise times.
    ``auto_training_solution`` entries never overlap by themselves (the solution versions they create do).

    :param activities: a dataset group's activity.
    :param start: the start of the window (a data deletion job's ``creationDateTime``), aware.
    :param end: the end of the window (its ``lastUpdatedDateTime`` once it ended), aware.
    :param now: the current time, aware; the clock's when None.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    now = now or datetime.now(timezone.utc)
    return [
        activity
        for activity in activities
        if activity.kind not in RISK_ONLY_KINDS
        and activity.created <= end
        and activity.life_end(now) >= start
    ]


# The list calls that find a dataset group's activity, described once.


def _always(item: Mapping[str, Any]) -> bool:
    return True


def _is_active(item: Mapping[str, Any]) -> bool:
    return item.get("status") == "ACTIVE"


def _may_train(item: Mapping[str, Any]) -> bool:
    return item.get("status") in {"ACTIVE", "CREATE PENDING", "CREATE IN_PROGRESS"}


def _trains_automatically(item: Mapping[str, Any]) -> bool:
    return bool(item.get("performAutoTraining"))


@dataclass(frozen=True)
class ListCall:
    """
    One API call of the listing, as data.

    :param operation: the API name, e.g. ``ListDatasetImportJobs``.
    :param parent_param: the request parameter naming the parent, e.g. ``datasetArn``; the parent's ARN
        (or the dataset group's, at the top) is its value.
    :param result_key: the response member holding the items (the paginator's ``result_key``), or the one
        object of a call that is not paginated.
    :param arn_member: each item's ARN member.
    :param kind: the :class:`Activity` kind of its items, or None when they only lead to other calls.
    :param paginated: whether botocore has a paginator for it (every list call does).
    :param when: for which items of the parent call it is made.
    :param keep: which of its items are activity.
    :param children: the calls made for each of its items.
    :param account_wide_above: when more than this many parents need this call, one account-wide
        listing (the parameter left out), filtered on ``parent_param``, replaces the calls per parent;
        None: always one call per parent.
    """

    operation: str
    parent_param: str
    result_key: str
    arn_member: str
    kind: str | None = None
    paginated: bool = True
    when: Callable[[Mapping[str, Any]], bool] = _always
    keep: Callable[[Mapping[str, Any]], bool] = _always
    children: tuple[ListCall, ...] = ()
    account_wide_above: int | None = None


#: Batch jobs run on ACTIVE solution versions only. Listed per version for up to this many ACTIVE
#: versions in the group; above, listed once for the account (pages of 100) and filtered.
BATCH_JOBS_PER_VERSION_UP_TO = 5

#: The calls that find a dataset group's activity, from the dataset group down.
ACTIVITY_LISTING: tuple[ListCall, ...] = (
    ListCall(
        "ListDatasets", "datasetGroupArn", "datasets", "datasetArn",
        children=(
            ListCall(
                "ListDatasetImportJobs", "datasetArn", "datasetImportJobs", "datasetImportJobArn",
                kind="dataset_import_job",
            ),
        ),
    ),
    ListCall(
        "ListSolutions", "datasetGroupArn", "solutions", "solutionArn",
        children=(
            ListCall(
                "DescribeSolution", "solutionArn", "solution", "solutionArn", kind="auto_training_solution",
                paginated=False, when=_may_train, keep=_trains_automatically,
            ),
            ListCall(
                "ListSolutionVersions", "solutionArn", "solutionVersions", "solutionVersionArn",
                kind="solution_version",
                children=tuple(
                    ListCall(
                        f"List{plural}", "solutionVersionArn", member, f"{member[:-1]}Arn", kind=kind,
                        when=_is_active, account_wide_above=BATCH_JOBS_PER_VERSION_UP_TO,
                    )
                    for plural, member, kind in (
                        ("BatchInferenceJobs", "batchInferenceJobs", "batch_inference_job"),
                        ("BatchSegmentJobs", "batchSegmentJobs", "batch_segment_job"),
                    )
                ),
            ),
        ),
    ),
    ListCall("ListRecommenders", "datasetGroupArn", "recommenders", "recommenderArn", kind="recommender"),
)  # fmt: skip


class Request(NamedTuple):
    """
    One call the plan asks for.

    :param call: what to call.
    :param params: its parameters (without pagination ones).
    :param top_level: whether it lists the dataset group itself (a missing parent is then an error;
        below, a parent deleted since it was listed just has nothing).
    :param parents: for an account-wide listing, the parent ARNs whose items to keep; None otherwise.
    """

    call: ListCall
    params: dict[str, Any]
    top_level: bool = False
    parents: frozenset[str] | None = None


#: The plan's generator: it yields the requests of one level, is sent the items each request returned
#: (a list per request, in order), and returns the activity.
ActivityPlan = Generator[list[Request], list[list[dict[str, Any]]], list[Activity]]


def activity_plan(dataset_group_arn: str) -> ActivityPlan:
    """
    Walk :data:`ACTIVITY_LISTING` for one dataset group, level by level, without doing any I/O.

    The caller (the hook, synchronous or asynchronous) makes the calls of each level it is given, in any
    order or concurrently, and sends back their items; the plan returns the activity, oldest first.

    :param dataset_group_arn: the dataset group's ARN.
    """
    requests = [Request(call, {call.parent_param: dataset_group_arn}, True) for call in ACTIVITY_LISTING]
    activities: list[Activity] = []
    while requests:
        results = yield requests
        children: list[Request] = []
        for request, items in zip(requests, results, strict=True):
            call = request.call
            if request.parents is not None:
                items = [item for item in items if item.get(call.parent_param) in request.parents]
            for item in items:
                if call.kind is not None and call.keep(item):
                    activities.append(_activity(call, item))
                children.extend(
                    Request(child, {child.parent_param: item[call.arn_member]})
                    for child in call.children
                    if child.when(item)
                )
        requests = _account_wide_where_cheaper(children)
    return sorted(activities, key=lambda activity: (activity.created, activity.kind, activity.arn))


def _account_wide_where_cheaper(requests: list[Request]) -> list[Request]:
    by_call: dict[ListCall, list[Request]] = {}
    for request in requests:
        by_call.setdefault(request.call, []).append(request)
    merged: list[Request] = []
    for call, same in by_call.items():
        if call.account_wide_above is not None and len(same) > call.account_wide_above:
            parents = frozenset(request.params[call.parent_param] for request in same)
            merged.append(Request(call, {}, parents=parents))
        else:
            merged.extend(same)
    return merged


def _activity(call: ListCall, item: Mapping[str, Any]) -> Activity:
    assert call.kind is not None
    return Activity(
        kind=call.kind,
        arn=item[call.arn_member],
        status=item["status"],
        created=item["creationDateTime"],
        last_updated=item.get("lastUpdatedDateTime") or item["creationDateTime"],
    )

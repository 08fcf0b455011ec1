"""
Where erased users may still be in S3: the locations a find-and-forget run scans, as data.

A run's :class:`LocationPlan` holds every location once, each with its format and the jobs (or the
Variable entry) that name it. It comes from the selected dataset groups' Personalize jobs
(:mod:`.job_locations`) and from the locations the user declares (:mod:`.declared_locations`), then
:func:`build_plan` applies the rules below. A location that cannot be scanned is kept with its reason
(:data:`REASONS`): it is reported, never silently skipped.

Paths are read as Personalize reads them: a batch job's input is every key that *starts with* its path
(``s3://b/in`` also holds ``s3://b/in_old/a.json``); a batch job writes ``<input file name>.out`` under
its output path; an export writes CSV files under its path (the layout is undocumented: the whole
prefix is the job's). Which location an object belongs to is :meth:`LocationPlan.resolve`'s answer: the
most specific location covering its key. A location inside (or equal to) an import source that was not
opted in, or inside a location of a job still running, takes that location's reason, so the object is
never rewritten under a job or an import reading it.

Locations name S3 paths and ARNs, never a user id: a plan is safe in XCom and in logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.forget.formats import FORMATS, READABLE_FORMATS

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.forget.allowed_locations import AllowedLocations

#: The formats a declared location may name (batch segment input is item-centric: no user ids).
DECLARED_FORMATS: tuple[str, ...] = READABLE_FORMATS
#: What names a location.
SOURCE_KINDS: tuple[str, ...] = (
    "batch_inference_job",
    "batch_segment_job",
    "dataset_export_job",
    "dataset_import_job",
    "declared",
)
#: Why a location is not scanned, most decisive first (a merged location keeps the first that applies).
REASONS: dict[str, str] = {
    "not_s3": "an http(s) path: the API allows it, this pipeline reads only s3:// locations",
    "location_not_allowed": "outside [personalize_deletion] forget_allowed_locations (the Airflow "
    "configuration's bound of what find and forget may read and rewrite)",
    "bucket_not_allowed": "the bucket is not in allowed_buckets",
    "import_source": "a dataset import's source: left to the re-import guard unless a declared location "
    "opts in with rewrite_import_source",
    "job_in_progress": "a job that reads or writes it has not ended: found again on the next run",
    "no_user_ids": "batch segment input names items, never users",
}
#: Reasons of a location that holds no user id: not scanned, and no erased user is left there.
NO_USER_REASONS: tuple[str, ...] = ("no_user_ids",)
#: Reasons of a location whose user ids stay until an operator acts (widens the bound or the allowed
#: buckets, or copies the files to S3): a run leaving one fails (the next run finds it again; an
#: ``import_source`` is the re-import guard's, a ``job_in_progress`` the next run's).
BLOCKING_REASONS: tuple[str, ...] = ("not_s3", "location_not_allowed", "bucket_not_allowed")
#: Reasons a location passes on to every location inside it (what a running job or an import reads).
PROTECTIVE_REASONS: tuple[str, ...] = ("import_source", "job_in_progress")
#: The suffix of every batch job output file (after the input file's name).
BATCH_OUTPUT_SUFFIX = ".out"


@dataclass(frozen=True, order=True)
class Source:
    """
    What names a location: a Personalize job, or an entry of the declared locations.

    :param kind: one of :data:`SOURCE_KINDS`.
    :param name: the job's ARN, or the declared entry's place (``forget_locations.locations[2]``).
    :param status: the job's status when it was described; None for a declared entry.
    :param kms_key_arn: the KMS key the job was given for this path (``kmsKeyArn``), if any.
    """

    kind: str
    name: str
    status: str | None = None
    kms_key_arn: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"kind must be one of {list(SOURCE_KINDS)}")


@dataclass(frozen=True)
class ScanLocation:
    """
    One S3 location to scan as data, or to report as not scannable.

    :param uri: the path exactly as the job or the Variable gave it.
    :param bucket: the bucket; empty for a path that is not ``s3://``.
    :param key: a key prefix (``prefix=True``) or one object's key.
    :param prefix: True: every key that starts with ``key``, as text; False: the key itself only.
    :param key_suffix: only keys ending with it belong (``.out`` for batch outputs); empty: every key.
    :param format: one of :data:`FORMATS`.
    :param sources: what names it, sorted (several jobs may share a path).
    :param reason: None when it is scanned, else a key of :data:`REASONS`.
    :param rewrite_import_source: a declared location that opts in to rewriting import sources in place.
    """

    uri: str
    bucket: str
    key: str
    prefix: bool
    key_suffix: str
    format: str
    sources: tuple[Source, ...]
    reason: str | None = None
    rewrite_import_source: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}")
        if self.reason is not None and self.reason not in REASONS:
            raise ValueError(f"reason must be None or one of {list(REASONS)}")

    @property
    def scannable(self) -> bool:
        """Whether the run reads (and may rewrite) its objects."""
        return self.reason is None

    @property
    def identity(self) -> tuple[str, str, str, bool, str, str]:
        """What makes two locations one: the same objects read in the same format."""
        return (
            self.uri if not self.bucket else "",
            self.bucket,
            self.key,
            self.prefix,
            self.key_suffix,
            self.format,
        )

    @property
    def declared_only(self) -> bool:
        """Whether only declared entries name it (no job)."""
        return all(source.kind == "declared" for source in self.sources)

    @property
    def kms_key_arns(self) -> tuple[str, ...]:
        """The distinct KMS keys its jobs were given, sorted."""
        return tuple(sorted({source.kms_key_arn for source in self.sources if source.kms_key_arn}))

    def covers(self, bucket: str, key: str) -> bool:
        """
        Whether an object belongs to this location.

        :param bucket: the object's bucket.
        :param key: the object's key.
        """
        if bucket != self.bucket or not self.bucket or not key.endswith(self.key_suffix):
            return False
        return key.startswith(self.key) if self.prefix else key == self.key

    def contains(self, other: ScanLocation) -> bool:
        """:param other: a location; whether every key it may cover lies under this prefix."""
        return (
            self.prefix
            and bool(self.bucket)
            and other.bucket == self.bucket
            and other.key.startswith(self.key)
        )

    def as_record(self) -> dict[str, Any]:
        """Return it as JSON-ready data (for XCom, the evidence)."""
        return {
            "uri": self.uri,
            "bucket": self.bucket,
            "key": self.key,
            "prefix": self.prefix,
            "key_suffix": self.key_suffix,
            "format": self.format,
            "sources": [
                {"kind": s.kind, "name": s.name, "status": s.status, "kms_key_arn": s.kms_key_arn}
                for s in self.sources
            ],
            "reason": self.reason,
            "rewrite_import_source": self.rewrite_import_source,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ScanLocation:
        """:param record: :meth:`as_record`'s output; return the location."""
        return cls(**{**record, "sources": tuple(Source(**source) for source in record["sources"])})


def s3_location(
    uri: str,
    format: str,
    source: Source,
    key_suffix: str = "",
    prefix: bool = True,
    reason: str | None = None,
    rewrite_import_source: bool = False,
) -> ScanLocation:
    """
    Build a location from a path; an ``http(s)://`` path (or any but ``s3://``) is :data:`REASONS` ``not_s3``.

    :param uri: the path as the job or the Variable gave it.
    :param format: one of :data:`FORMATS`.
    :param source: what names it.
    :param key_suffix: only keys ending with it belong.
    :param prefix: whether the key is a prefix (True) or one object's key.
    :param reason: why it is not scanned, if it is known already.
    :param rewrite_import_source: whether it opts in to rewriting import sources in place.
    """
    if not uri.startswith("s3://"):
        return ScanLocation(
            uri, "", uri, prefix, key_suffix, format, (source,), "not_s3", rewrite_import_source
        )
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return ScanLocation(
        uri, bucket, key, prefix, key_suffix, format, (source,), reason, rewrite_import_source
    )


@dataclass(frozen=True)
class LocationPlan:
    """
    Every location of one run, each once, sorted; built by :func:`build_plan`.

    :param locations: scannable and not scannable ones.
    :param vanished: Personalize resources deleted between being listed and being described (their S3
        files may remain: declare their paths to scan them).
    """

    locations: tuple[ScanLocation, ...]
    vanished: int = 0
    _by_bucket: dict[str, tuple[ScanLocation, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        by_bucket: dict[str, list[ScanLocation]] = {}
        for location in self.locations:
            by_bucket.setdefault(location.bucket, []).append(location)
        self._by_bucket.update({bucket: tuple(found) for bucket, found in by_bucket.items()})

    @property
    def scannable(self) -> tuple[ScanLocation, ...]:
        """The locations the run reads."""
        return tuple(location for location in self.locations if location.scannable)

    @property
    def not_scannable(self) -> tuple[ScanLocation, ...]:
        """The locations reported with their reason."""
        return tuple(location for location in self.locations if not location.scannable)

    def counts(self) -> dict[str, int]:
        """Locations per outcome: ``scannable`` and each reason that occurs (for logs and the evidence)."""
        counts: dict[str, int] = {}
        for location in self.locations:
            outcome = location.reason or "scannable"
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def listing_prefixes(self) -> list[tuple[str, str]]:
        """
        The ``(bucket, prefix)`` pairs to list so that every object of a scannable location is listed once:
        a prefix inside another is left out. Resolve each listed key with :meth:`resolve`.
        """
        wanted = sorted({(location.bucket, location.key) for location in self.scannable})
        kept: list[tuple[str, str]] = []
        for bucket, key in wanted:  # sorted: a prefix comes before every key that starts with it
            if not (kept and kept[-1][0] == bucket and key.startswith(kept[-1][1])):
                kept.append((bucket, key))
        return kept

    def resolve(self, bucket: str, key: str) -> ScanLocation | None:
        """
        The location an object belongs to: a job's location before a declared one (a declaration adds
        objects, it never changes the format a job's file is read in: a batch output declared ``jsonl``
        would name no user), then the most specific one covering it (an exact key, then the longest
        prefix; at equal length a location not scanned, then the order of :data:`FORMATS`). Scan the
        object only when the answer is :attr:`ScanLocation.scannable`.

        :param bucket: the object's bucket.
        :param key: the object's key.
        :return: the location, or None when none covers it.
        """
        covering = [location for location in self._by_bucket.get(bucket, ()) if location.covers(bucket, key)]
        if not covering:
            return None
        return min(
            covering,
            key=lambda location: (
                location.declared_only,
                location.prefix,
                -len(location.key),
                location.scannable,
                FORMATS.index(location.format),
            ),
        )

    def as_record(self) -> dict[str, Any]:
        """Return it as JSON-ready data (for XCom)."""
        return {"locations": [location.as_record() for location in self.locations], "vanished": self.vanished}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LocationPlan:
        """:param record: :meth:`as_record`'s output; return the plan."""
        return cls(tuple(map(ScanLocation.from_record, record["locations"])), int(record["vanished"]))


def build_plan(
    found: Iterable[ScanLocation],
    allowed_buckets: Sequence[str] | None = None,
    vanished: int = 0,
    bound: AllowedLocations | None = None,
) -> LocationPlan:
    """
    Merge the locations found into a plan: each location once, with the reasons that apply.

    1. Locations with the same :attr:`~ScanLocation.identity` become one, with all their sources; the
       first reason of :data:`REASONS` that any of them has wins.
    2. An import source inside a declared location with ``rewrite_import_source`` is scanned.
    3. An ``s3://`` location not wholly within ``bound`` is ``location_not_allowed``; one in a bucket
       outside ``allowed_buckets`` is ``bucket_not_allowed``.
    4. A location inside (or equal to) a location whose reason is in :data:`PROTECTIVE_REASONS` takes
       that reason; a declared location that opts in keeps its own for ``import_source``.

    :param found: the locations of the jobs and of the Variable, in any order, repeated or not.
    :param allowed_buckets: the buckets the run may read and rewrite; None: any.
    :param vanished: how many resources vanished while they were listed.
    :param bound: the provider's setting (:mod:`.allowed_locations`); None: no bound here (the callers
        that read or write S3, :func:`.find_locations.find_locations`, always give one).
    """
    merged: dict[tuple[str, str, str, bool, str, str], ScanLocation] = {}
    for location in found:
        same = merged.get(location.identity)
        merged[location.identity] = location if same is None else _merge(same, location)
    locations = list(merged.values())
    opted_in = [location for location in locations if location.rewrite_import_source]
    locations = [_opt_in(location, opted_in) for location in locations]
    if bound is not None:
        locations = [
            location
            if not location.bucket or bound.holds(location)
            else _with_reason(location, "location_not_allowed")
            for location in locations
        ]
    if allowed_buckets is not None:
        allowed = frozenset(allowed_buckets)
        locations = [
            location
            if not location.bucket or location.bucket in allowed
            else _with_reason(location, "bucket_not_allowed")
            for location in locations
        ]
    protective = [location for location in locations if location.reason in PROTECTIVE_REASONS]
    locations = [_protected(location, protective) for location in locations]
    return LocationPlan(tuple(sorted(locations, key=_order)), vanished)


def _merge(first: ScanLocation, second: ScanLocation) -> ScanLocation:
    return replace(
        first,
        sources=tuple(sorted(set(first.sources) | set(second.sources))),
        reason=first_reason(first.reason, second.reason),
        rewrite_import_source=first.rewrite_import_source or second.rewrite_import_source,
    )


def first_reason(*reasons: str | None) -> str | None:
    """:param reasons: reasons or None; return the first of :data:`REASONS` among them, None if none."""
    return next((reason for reason in REASONS if reason in reasons), None)


def _with_reason(location: ScanLocation, reason: str) -> ScanLocation:
    return replace(location, reason=first_reason(location.reason, reason))


def _opt_in(location: ScanLocation, opted_in: Sequence[ScanLocation]) -> ScanLocation:
    """An import source inside a location that opts in is scanned (unless a job still reads it)."""
    if location.reason != "import_source" or not any(opt.contains(location) for opt in opted_in):
        return location
    running = any(source.status in _RUNNING_IMPORT_STATUSES for source in location.sources)
    return replace(location, reason="job_in_progress" if running else None)


#: The statuses of an import job still reading its source.
_RUNNING_IMPORT_STATUSES = frozenset({"CREATE PENDING", "CREATE IN_PROGRESS"})


def _protected(location: ScanLocation, protective: Sequence[ScanLocation]) -> ScanLocation:
    for outer in protective:
        if outer is location or not outer.contains(location):
            continue
        if outer.reason == "import_source" and location.rewrite_import_source:
            continue
        location = _with_reason(location, str(outer.reason))
    return location


def _order(location: ScanLocation) -> tuple[str, str, str, str, str]:
    return (location.bucket, location.key, location.key_suffix, location.format, location.uri)

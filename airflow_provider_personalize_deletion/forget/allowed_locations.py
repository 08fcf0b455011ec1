"""
Where find and forget may read and rewrite at all: the provider's setting ``[personalize_deletion]
forget_allowed_locations``, read by the process that plans or forgets (airflow.cfg, or the environment
variable :data:`ENV`). No Variable, param, run conf or XCom changes it: any task may write a Variable or
an XCom, none the configuration. A Variable's ``allowed_buckets`` may only narrow it.

The value: comma-separated entries, each ``s3://bucket/`` (the whole bucket) or ``s3://bucket/prefix/``
(one folder: the prefix ends with ``/``, so ``s3://b/data/`` does not hold ``s3://b/data_old/``). Each
entry is stripped of the whitespace around it; a prefix holding a comma cannot be named (name its
parent folder). A location lies within the setting when its bucket is an entry's and its key starts with
that entry's prefix: a prefix location ``s3://b/data``, which also holds ``data_old/``, does not lie
within ``s3://b/data/``.

Unset or empty: find and forget reads and rewrites nothing; planning and forgetting refuse to start,
naming the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.forget.locations import ScanLocation

SECTION, OPTION = "personalize_deletion", "forget_allowed_locations"
#: The setting as the docs and the errors write it.
SETTING_NAME = f"[{SECTION}] {OPTION}"
#: The setting's environment variable.
ENV = f"AIRFLOW__{SECTION.upper()}__{OPTION.upper()}"
#: The longest key prefix S3 can hold, in UTF-8 bytes.
MAX_PREFIX_BYTES = 1024


@dataclass(frozen=True)
class AllowedLocations:
    """
    The folders find and forget may read and rewrite.

    :param entries: ``(bucket, prefix)`` each; the prefix is empty (the whole bucket) or ends with ``/``.
    """

    entries: tuple[tuple[str, str], ...]

    @property
    def buckets(self) -> frozenset[str]:
        """The buckets of the entries."""
        return frozenset(bucket for bucket, _ in self.entries)

    def covers(self, bucket: str, key: str) -> bool:
        """
        Whether an object, or every key starting with ``key``, lies within an entry.

        :param bucket: the bucket.
        :param key: an object's key, or a key prefix.
        """
        return any(bucket == allowed and key.startswith(prefix) for allowed, prefix in self.entries)

    def holds(self, location: ScanLocation) -> bool:
        """:param location: a location; whether every object it may cover lies within an entry."""
        return bool(location.bucket) and self.covers(location.bucket, location.key)


def parse_allowed_locations(value: str | None) -> AllowedLocations:
    """
    Check the setting's value.

    :param value: the comma-separated entries; None or blank: unset.
    :raises PersonalizeValidationError: naming the setting (and the entry by place, never its value) and
        the rule it breaks.
    """
    entries = [entry.strip() for entry in (value or "").split(",")]
    entries = [entry for entry in entries if entry]
    if not entries:
        raise PersonalizeValidationError(
            SETTING_NAME,
            f"is not set: find and forget reads and rewrites only within the comma-separated "
            f"s3://bucket/ or s3://bucket/prefix/ entries it names (environment variable {ENV})",
        )
    return AllowedLocations(
        tuple(_entry(entry, f"{SETTING_NAME} (entry {index + 1})") for index, entry in enumerate(entries))
    )


def _entry(entry: str, field: str) -> tuple[str, str]:
    # Imported here: DAG files import this module at parse time, a run only checks buckets.
    from airflow_provider_personalize_deletion.forget.declared_locations import checked_bucket_name

    if not entry.startswith("s3://"):
        raise PersonalizeValidationError(field, "must be an s3://bucket/ or s3://bucket/prefix/ URI")
    bucket, _, prefix = entry.removeprefix("s3://").partition("/")
    checked_bucket_name(bucket, field)
    if prefix and not prefix.endswith("/"):
        raise PersonalizeValidationError(
            field, "must end with / (a folder: s3://b/data would also hold s3://b/data_old/)"
        )
    if len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise PersonalizeValidationError(
            field, f"must have a prefix of at most {MAX_PREFIX_BYTES} UTF-8 bytes"
        )
    return bucket, prefix


def configured_allowed_locations() -> AllowedLocations:
    """
    The setting, from this process's Airflow configuration.

    :raises PersonalizeValidationError: it is unset or breaks a rule (:func:`parse_allowed_locations`).
    """
    from airflow.configuration import conf

    return parse_allowed_locations(conf.get(SECTION, OPTION, fallback=None))

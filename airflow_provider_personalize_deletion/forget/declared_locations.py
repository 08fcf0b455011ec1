"""
The locations a user declares for a find-and-forget run (their own copies, downstream tables), checked
before any AWS call.

The value (a Variable's JSON, or the same structure in Python)::

    {
      "locations": [
        {"prefix": "s3://bucket/copies/", "format": "csv"},
        {"key": "s3://bucket/exports/users.jsonl", "format": "jsonl"},
        {"prefix": "s3://bucket/imports/", "format": "csv", "rewrite_import_source": true}
      ],
      "allowed_buckets": ["bucket"]
    }

- ``prefix``: every key that starts with it, as text (``s3://b/in`` also holds ``s3://b/in_old/``; end it
  with ``/`` for one folder); ``key``: that one object. Exactly one of them, an ``s3://`` URI.
- ``format``: one of :data:`.locations.DECLARED_FORMATS`.
- ``rewrite_import_source`` (default false): the location may be a dataset import's source, and its
  objects are rewritten in place; without it, import sources are left to the re-import guard.
- ``allowed_buckets`` (optional): the only buckets the run reads and rewrites, the jobs' included;
  a location elsewhere is reported as ``bucket_not_allowed``. Absent: every bucket of the bound.

The bound is the provider's setting (:mod:`.allowed_locations`): given one, every declared location must
lie within it, and ``allowed_buckets`` may only name its buckets (it narrows the bound, never widens it).

An error names the field (``forget_locations.locations[2].format``) and the rule, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError
from airflow_provider_personalize_deletion.forget.locations import (
    DECLARED_FORMATS,
    ScanLocation,
    Source,
    s3_location,
)

if TYPE_CHECKING:
    from airflow_provider_personalize_deletion.forget.allowed_locations import AllowedLocations

#: The members of the value, and of each location.
SETTINGS = ("locations", "allowed_buckets")
LOCATION_MEMBERS = ("prefix", "key", "format", "rewrite_import_source")
#: The longest object key S3 takes, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: At most this many declared locations (each is one listing per run).
MAX_LOCATIONS = 1000


@dataclass(frozen=True)
class DeclaredLocations:
    """
    The checked declaration.

    :param locations: the declared locations, in the order given.
    :param allowed_buckets: the buckets the run may read and rewrite; None: any.
    """

    locations: tuple[ScanLocation, ...] = ()
    allowed_buckets: tuple[str, ...] | None = None


def parse_declared_locations(
    value: object, field: str = "forget_locations", bound: AllowedLocations | None = None
) -> DeclaredLocations:
    """
    Check a declaration and return its locations.

    :param value: the JSON text, the decoded value, or None / empty text for none.
    :param field: the name the errors start with (the Variable's or the parameter's).
    :param bound: the provider's setting (:func:`.allowed_locations.configured_allowed_locations`): every
        location must lie within it, ``allowed_buckets`` may name only its buckets; None: not checked
        here (the callers that read or write S3 always give one).
    :raises PersonalizeValidationError: naming the first field that breaks a rule.
    """
    declaration = _parse(value, field)
    if bound is not None:
        _check_within(declaration, bound, field)
    return declaration


def _parse(value: object, field: str) -> DeclaredLocations:
    if value is None or (isinstance(value, str) and not value.strip()):
        return DeclaredLocations()
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            raise PersonalizeValidationError(field, "must be JSON text") from None
    if not isinstance(value, Mapping):
        raise PersonalizeValidationError(field, f"must be an object with the members {list(SETTINGS)}")
    _known_members(value, SETTINGS, field)
    entries = value.get("locations", [])
    if not isinstance(entries, list) or len(entries) > MAX_LOCATIONS:
        raise PersonalizeValidationError(
            f"{field}.locations", f"must be a list of at most {MAX_LOCATIONS} objects"
        )
    locations = tuple(_location(entry, f"{field}.locations[{index}]") for index, entry in enumerate(entries))
    return DeclaredLocations(
        locations, _allowed_buckets(value.get("allowed_buckets"), f"{field}.allowed_buckets")
    )


def _check_within(declaration: DeclaredLocations, bound: AllowedLocations, field: str) -> None:
    from airflow_provider_personalize_deletion.forget.allowed_locations import SETTING_NAME

    for index, location in enumerate(declaration.locations):
        if not bound.holds(location):
            member = "prefix" if location.prefix else "key"
            raise PersonalizeValidationError(
                f"{field}.locations[{index}].{member}",
                f"must lie within {SETTING_NAME}, set in the Airflow configuration (a prefix must start "
                "with one of its s3://bucket/prefix/ entries, their / included)",
            )
    for index, bucket in enumerate(declaration.allowed_buckets or ()):
        if bucket not in bound.buckets:
            raise PersonalizeValidationError(
                f"{field}.allowed_buckets[{index}]",
                f"must be a bucket of {SETTING_NAME}: allowed_buckets may only narrow that setting",
            )


def _location(entry: object, field: str) -> ScanLocation:
    if not isinstance(entry, Mapping):
        raise PersonalizeValidationError(field, "must be an object")
    _known_members(entry, LOCATION_MEMBERS, field)
    if ("prefix" in entry) == ("key" in entry):
        raise PersonalizeValidationError(field, "must have exactly one of prefix and key")
    member = "prefix" if "prefix" in entry else "key"
    uri = _s3_uri(entry[member], f"{field}.{member}", empty_key_allowed=member == "prefix")
    format = entry.get("format")
    if format not in DECLARED_FORMATS:
        raise PersonalizeValidationError(f"{field}.format", f"must be one of {list(DECLARED_FORMATS)}")
    opt_in = entry.get("rewrite_import_source", False)
    if not isinstance(opt_in, bool):
        raise PersonalizeValidationError(f"{field}.rewrite_import_source", "must be true or false")
    return s3_location(
        uri, format, Source("declared", field), prefix=member == "prefix", rewrite_import_source=opt_in
    )


def _s3_uri(uri: object, field: str, empty_key_allowed: bool) -> str:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise PersonalizeValidationError(field, "must be an s3:// URI (http(s) locations cannot be scanned)")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    checked_bucket_name(bucket, field)
    if not key and not empty_key_allowed:
        raise PersonalizeValidationError(field, "must name an object key after the bucket")
    try:
        too_long = len(key.encode("utf-8")) > MAX_KEY_BYTES
    except UnicodeEncodeError:
        too_long = True  # a lone surrogate: no key S3 can hold
    if too_long:
        raise PersonalizeValidationError(field, f"must have a key of at most {MAX_KEY_BYTES} UTF-8 bytes")
    return uri


def checked_bucket_name(bucket: object, field: str) -> str:
    """
    :param bucket: a bucket name; return it when it is a valid one.
    :param field: its name in errors.
    :raises PersonalizeValidationError: naming the field and the rule, never the value.
    """
    # Imported here: the DAG imports this module at parse time, a run only checks buckets.
    from airflow_provider_personalize_deletion.transfers.parameters import (
        InvalidTransferParameterError,
        check_bucket_name,
    )

    try:
        return check_bucket_name(bucket)
    except InvalidTransferParameterError as error:
        rule = str(error).partition(": ")[2]
        raise PersonalizeValidationError(field, f"must name a valid bucket ({rule})") from None


def _allowed_buckets(value: object, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise PersonalizeValidationError(field, "must be a list of bucket names")
    return tuple(checked_bucket_name(bucket, f"{field}[{index}]") for index, bucket in enumerate(value))


def _known_members(value: Mapping[Any, Any], known: tuple[str, ...], field: str) -> None:
    for index, name in enumerate(value):
        if name not in known:
            # The unknown name may be anything a user typed: it is located by place, not repeated.
            raise PersonalizeValidationError(
                f"{field} (member {index + 1})", f"is unknown; the members are {list(known)}"
            )

"""
Checks of the transfer's settings, run before any query or upload, with errors that name the
parameter and the rule it broke.
"""

from __future__ import annotations

import ipaddress
import re

from airflow_provider_personalize_deletion.deletion_file.csv_file import MIN_FILE_BYTES

INVALID_ID_POLICIES = ("fail", "skip")
MAX_FILE_BYTES_LIMIT = 100 * 1024 * 1024
"""Upper bound of ``max_file_bytes``: the largest job input any Personalize documentation allows."""
MAX_DATA_LOCATION_LENGTH = 256
"""Longest ``dataSource.dataLocation`` CreateDataDeletionJob takes."""
PART_KEY_NAME = "part-{index:05d}.csv"
"""Name of the ``index``-th deletion file under the key prefix."""
PART_NAME_PATTERN = re.escape(PART_KEY_NAME.format(index=0)).replace("00000", "[0-9]{5}")
"""The name of a deletion file as a pattern: ASCII digits only (``\\d`` would take any script's)."""
KEY_PREFIX_CHARACTERS = "ASCII letters, digits and ! - _ . * ' ( ) /"
"""The characters a key prefix may hold, in words: S3's "safe characters" for object keys."""

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RELATIVE_FOLDER_NAMES = frozenset({".", ".."})
_KEY_PREFIX = re.compile(r"[A-Za-z0-9!\-_.*'()/]+")


class InvalidTransferParameterError(ValueError):
    """
    A setting of the transfer breaks a rule.

    :param parameter: the operator argument.
    :param rule: the rule it broke, in words.
    """

    def __init__(self, parameter: str, rule: str) -> None:
        self.parameter = parameter
        super().__init__(f"Invalid {parameter}: {rule}")


def part_key(key_prefix: str, index: int) -> str:
    """
    Return the S3 key of one deletion file.

    :param key_prefix: the transfer's ``s3_key_prefix``.
    :param index: the file's index, from 0.
    """
    return f"{key_prefix}/{PART_KEY_NAME.format(index=index)}"


def check_bucket_name(bucket: object) -> str:
    """
    Check an S3 general purpose bucket name.

    :param bucket: the value of ``s3_bucket``.
    :return: the bucket name.
    """
    if not isinstance(bucket, str) or not _BUCKET_NAME.fullmatch(bucket):
        raise InvalidTransferParameterError(
            "s3_bucket",
            "a bucket name is 3 to 63 lowercase letters, digits, dots and hyphens, "
            "beginning and ending with a letter or digit",
        )
    if ".." in bucket or _is_ip_address(bucket):
        raise InvalidTransferParameterError(
            "s3_bucket", "a bucket name has no two adjacent dots and is not an IP address"
        )
    return bucket


def check_key_prefix(bucket: str, key_prefix: object) -> str:
    """
    Check the key prefix the deletion files are written under, written as a folder or not.

    Leading and trailing ``/`` are dropped (``/erasure/run-1/`` is ``erasure/run-1``). Only S3's
    "safe characters" for object keys are allowed (:data:`KEY_PREFIX_CHARACTERS`), and an empty
    folder name (``//``) and a ``.`` or ``..`` folder name are refused. S3 keeps any of these as
    literal key text, but a reader resolving the path (a console, a sync tool, a policy written for
    the folder) would place the files elsewhere: outside the run's folder with ``erasure-runs/../x``,
    and with ``%2e%2e``, ``\\``, look-alike dots or control characters for tools that URL-decode keys,
    map them to Windows paths or normalise Unicode. Errors name the rule, never the value.

    :param bucket: the checked bucket name.
    :param key_prefix: the value of ``s3_key_prefix``.
    :return: the key prefix, without a leading or trailing ``/``.
    """
    if not isinstance(key_prefix, str) or not key_prefix.strip("/"):
        raise InvalidTransferParameterError("s3_key_prefix", "must be a non-empty folder path")
    if not _KEY_PREFIX.fullmatch(key_prefix):
        raise InvalidTransferParameterError("s3_key_prefix", f"may hold only {KEY_PREFIX_CHARACTERS}")
    key_prefix = key_prefix.strip("/")
    if "//" in key_prefix:
        raise InvalidTransferParameterError("s3_key_prefix", "must not hold an empty folder name ('//')")
    if any(folder in _RELATIVE_FOLDER_NAMES for folder in key_prefix.split("/")):
        raise InvalidTransferParameterError(
            "s3_key_prefix", "must not hold a '.' or '..' folder name (relative path segments)"
        )
    longest_location = f"s3://{bucket}/{part_key(key_prefix, 99999)}"
    if len(longest_location) > MAX_DATA_LOCATION_LENGTH:
        raise InvalidTransferParameterError(
            "s3_key_prefix",
            f"the files' S3 URIs must fit Personalize's dataLocation ({MAX_DATA_LOCATION_LENGTH} "
            f"characters); shorten the prefix by {len(longest_location) - MAX_DATA_LOCATION_LENGTH}",
        )
    return key_prefix


def check_positive_int(parameter: str, value: object, low: int, high: int | None = None) -> int:
    """
    Check an integer setting; a rendered template (a string of digits) is accepted.

    :param parameter: the operator argument, for the error.
    :param value: its value.
    :param low: the smallest allowed value.
    :param high: the largest allowed value; None for no bound.
    :return: the value as an integer.
    """
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTransferParameterError(parameter, "must be an integer")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidTransferParameterError(parameter, f"must be {bounds}")
    return value


def check_max_file_bytes(value: object) -> int:
    """
    Check ``max_file_bytes``: room for the header and the longest id, and no more than Personalize reads.

    :param value: the value of ``max_file_bytes``.
    """
    return check_positive_int("max_file_bytes", value, MIN_FILE_BYTES, MAX_FILE_BYTES_LIMIT)


def check_invalid_ids_policy(value: object) -> str:
    """
    Check ``invalid_ids``.

    :param value: the value of ``invalid_ids``.
    """
    if value not in INVALID_ID_POLICIES:
        raise InvalidTransferParameterError("invalid_ids", f"must be one of {', '.join(INVALID_ID_POLICIES)}")
    return value  # type: ignore[return-value]


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True

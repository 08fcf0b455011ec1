"""
Request validation against botocore's service model for Amazon Personalize.

botocore's own client-side validation checks required members, types and minimum lengths, but not
maximum lengths, value ranges, the allowed values (``enum``) or the ``pattern`` of a string. The service
does, and answers with an ``InvalidInputException`` after a round trip. The rules here are read from the
same service model (so they cannot drift from what the service enforces) and checked locally, before any
call, with an error that names the field and the rule it broke. The module does not import Airflow: the local
emulator validates requests with it too.

The patterns in the model are Java regular expressions matched against the whole value
(``\\p{L}`` style classes included), so they are compiled with the ``regex`` module and applied
with ``fullmatch``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import regex
    from botocore.model import OperationModel, Shape, StructureShape

    from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

SERVICE_NAME = "personalize"


@dataclass(frozen=True)
class Violation:
    """One broken rule: the parameter's dotted path and the rule in words."""

    field: str
    rule: str

    def as_error(self) -> PersonalizeValidationError:
        # Imported here: the emulator uses this module without loading Airflow.
        from airflow_provider_personalize_deletion.exceptions import PersonalizeValidationError

        return PersonalizeValidationError(self.field, self.rule)


@functools.lru_cache(maxsize=1)
def _service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def operation_model(operation_name: str) -> OperationModel:
    """
    Return botocore's model of one Personalize operation.

    :param operation_name: the API name, e.g. ``CreateDataDeletionJob``.
    """
    return _service_model().operation_model(operation_name)


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> regex.Pattern:
    # Imported at first use: DAG files import this module, and parsing them should stay cheap.
    import regex as java_style_regex

    return java_style_regex.compile(pattern)


def find_violations(operation_name: str, params: dict[str, Any]) -> list[Violation]:
    """
    Check request parameters against the operation's input shape.

    :param operation_name: the API name, e.g. ``CreateDataDeletionJob``.
    :param params: the request as boto3 would send it.
    :return: every violation found, in the order of the model's members; empty when valid.
    """
    violations: list[Violation] = []
    _check(_input_shape(operation_name), params, "", violations)
    return violations


def validate_request(operation_name: str, params: dict[str, Any]) -> None:
    """
    Raise on the first rule a request breaks.

    :param operation_name: the API name, e.g. ``CreateDataDeletionJob``.
    :param params: the request as boto3 would send it.
    :raises PersonalizeValidationError: naming the field and the rule.
    """
    violations = find_violations(operation_name, params)
    if violations:
        raise violations[0].as_error()


def validate_member(operation_name: str, member: str, value: Any, field: str | None = None) -> None:
    """
    Check one value against one top-level member of an operation's input, e.g. a role ARN.

    :param operation_name: the API name, e.g. ``CreateDataDeletionJob``.
    :param member: the member whose rules apply, e.g. ``roleArn``.
    :param value: the value to check.
    :param field: the name to report, when the value comes from elsewhere (a DAG param).
    :raises PersonalizeValidationError: naming ``field`` (or ``member``) and the rule.
    """
    violations: list[Violation] = []
    shape = _input_shape(operation_name).members[member]
    _check(shape, value, field or member, violations)
    if violations:
        raise violations[0].as_error()


def _input_shape(operation_name: str) -> StructureShape:
    shape = operation_model(operation_name).input_shape
    if shape is None:
        raise ValueError(f"{operation_name} takes no input")
    return shape


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(shape: Shape, value: Any, path: str, out: list[Violation]) -> None:
    checker = _CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path, out)


def _check_structure(shape: Shape, value: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(value, dict):
        out.append(Violation(path or "request", "must be a mapping"))
        return
    for name in shape.required_members:
        if value.get(name) is None:
            out.append(Violation(_join(path, name), "is required"))
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        if value.get(name) is not None:
            _check(member, value[name], _join(path, name), out)
    for name in value:
        if name not in shape.members:  # type: ignore[attr-defined]
            out.append(Violation(_join(path, name), "is not a parameter of this operation"))


def _check_list(shape: Shape, value: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(value, list):
        out.append(Violation(path, "must be a list"))
        return
    _check_bounds(shape, len(value), path, "items", out)
    for index, item in enumerate(value):
        _check(shape.member, item, f"{path}[{index}]", out)  # type: ignore[attr-defined]


def _check_string(shape: Shape, value: Any, path: str, out: list[Violation]) -> None:
    if not isinstance(value, str):
        out.append(Violation(path, "must be a string"))
        return
    _check_bounds(shape, len(value), path, "characters", out)
    allowed = shape.enum  # type: ignore[attr-defined]
    if allowed and value not in allowed:
        out.append(Violation(path, f"must be one of {', '.join(allowed)}"))
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        out.append(Violation(path, f"must match the pattern {pattern}"))


def _check_integer(shape: Shape, value: Any, path: str, out: list[Violation]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.append(Violation(path, "must be an integer"))
        return
    _check_bounds(shape, value, path, "", out)


def _check_bounds(shape: Shape, size: int, path: str, unit: str, out: list[Violation]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    suffix = f" {unit}" if unit else ""
    if low is not None and size < low:
        out.append(Violation(path, f"must be at least {low}{suffix}"))
    if high is not None and size > high:
        out.append(Violation(path, f"must be at most {high}{suffix}"))


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "string": _check_string,
    "integer": _check_integer,
}

"""
Service errors the emulator answers with, in the AWS JSON 1.1 wire format.

botocore reads the error code from ``__type`` (or the ``x-amzn-ErrorType`` header) and raises the
matching ``client.exceptions.<Code>`` class, so the code names here are the service's own.
"""

from __future__ import annotations


class ServiceError(Exception):
    """
    An error the service returns instead of a result.

    :param code: the service's error code, e.g. ``ResourceNotFoundException``.
    :param message: the human-readable message; never contains user ids.
    :param status: the HTTP status of the response (400 for every client error AWS JSON services send).
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        """Return the JSON 1.1 error body."""
        return {"__type": self.code, "message": self.message}


def invalid_input(message: str) -> ServiceError:
    """:param message: which parameter is invalid and why."""
    return ServiceError("InvalidInputException", message)


def not_found(arn: str) -> ServiceError:
    """:param arn: the ARN that names no resource."""
    return ServiceError("ResourceNotFoundException", f"Could not find resource: {arn}")


def already_exists(arn: str) -> ServiceError:
    """:param arn: the ARN of the resource that exists already."""
    return ServiceError("ResourceAlreadyExistsException", f"Resource {arn} already exists.")


def limit_exceeded(message: str) -> ServiceError:
    """:param message: which limit was reached."""
    return ServiceError("LimitExceededException", message)


def invalid_next_token() -> ServiceError:
    return ServiceError("InvalidNextTokenException", "The nextToken is not valid.")


def throttled() -> ServiceError:
    return ServiceError("ThrottlingException", "Rate exceeded")

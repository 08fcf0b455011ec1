"""
The emulator's WSGI application: the Personalize data deletion API and the control API in front of moto.

A request goes to the first of these that claims it:

- a path under ``/_emulator/``: the control API (:mod:`.control_api`), POST only;
- an ``X-Amz-Target: AmazonPersonalize.<Action>`` header: counted, maybe throttled or delayed, then
  answered here when the action is one of :data:`.operations.OPERATIONS`;
- everything else (S3, Personalize actions implemented by moto): moto's own server application; an
  S3 request is counted and delayed first when a latency is set for its operation.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from airflow_provider_personalize_deletion.emulator import errors, operations
from airflow_provider_personalize_deletion.emulator.control_api import COMMANDS, CONTROL_PREFIX, Emulator
from airflow_provider_personalize_deletion.emulator.s3_operations import s3_operation

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

TARGET_PREFIX = "AmazonPersonalize."
JSON_1_1 = "application/x-amz-json-1.1"


class EmulatorApp:
    """
    Route one request (that :class:`.request_guard.RequestGuard` let through) to the control API, the
    emulated Personalize operations, or moto.

    :param emulator: the emulator's state and faults.
    :param moto_app: moto's server application, for every request not handled here.
    """

    def __init__(self, emulator: Emulator, moto_app: WSGIApplication) -> None:
        self.emulator = emulator
        self.moto_app = moto_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        target = request.headers.get("X-Amz-Target", "")
        response: Response | None
        if request.path.startswith(CONTROL_PREFIX):
            response = self._control(request)
        elif target.startswith(TARGET_PREFIX):
            response = self._personalize(request, target.removeprefix(TARGET_PREFIX))
        else:
            response = None
        if response is None:
            if not target:
                self._delay_s3(request)
            return self.moto_app(environ, start_response)
        return response(environ, start_response)

    def _personalize(self, request: Request, action: str) -> Response | None:
        state = self.emulator.state
        with state.lock:
            throttled = self.emulator.faults.record(action)
            latency = self.emulator.faults.latency(action)
        time.sleep(latency)
        if throttled:
            return _error_response(errors.throttled())
        if action not in operations.OPERATIONS:
            return None
        try:
            params = json.loads(request.get_data() or b"{}")
            with state.lock:
                result = operations.handle(state, action, params)
        except errors.ServiceError as error:
            log.info("%s answered %s.", action, error.code)
            return _error_response(error)
        except json.JSONDecodeError:
            return _error_response(
                errors.ServiceError("SerializationException", "The request is not valid JSON.")
            )
        return _json_response(result, 200, JSON_1_1)

    def _delay_s3(self, request: Request) -> None:
        headers = {name.lower() for name, _ in request.headers.items()}
        operation = s3_operation(request.method, request.path, request.args, headers)
        with self.emulator.state.lock:
            latency = self.emulator.faults.s3_latency(operation)
        time.sleep(latency)

    def _control(self, request: Request) -> Response:
        if request.method != "POST":  # no command runs from a link, an image or a redirect a page plants
            response = _json_response({"error": "The control API takes POST requests only."}, 405)
            response.headers["Allow"] = "POST"
            return response
        command = COMMANDS.get(request.path.removeprefix(CONTROL_PREFIX))
        if command is None:
            return _json_response({"error": f"Unknown command; known: {sorted(COMMANDS)}"}, 404)
        try:
            body = json.loads(request.get_data() or b"{}")
            with self.emulator.state.lock:
                return _json_response(command(self.emulator, body), 200)
        except errors.ServiceError as error:
            return _json_response({"error": error.message}, 400)
        except (KeyError, TypeError, ValueError) as error:
            return _json_response({"error": f"Invalid control request: {error!r}"}, 400)


def _json_response(body: dict[str, Any], status: int, content_type: str = "application/json") -> Response:
    response = Response(json.dumps(body), status=status, content_type=content_type)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _error_response(error: errors.ServiceError) -> Response:
    response = _json_response(error.body(), error.status, JSON_1_1)
    response.headers["x-amzn-ErrorType"] = error.code
    return response

"""The OpenAI error envelope and the middleware that guarantees every error uses it.

Every non-2xx answer of the server is `{"error":{"message","type","param","code"}}`, including
aiohttp's own 404/405/413 and unexpected exceptions (logged, never shown as a traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

logger = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request_error"
NOT_FOUND = "not_found_error"
INTERNAL = "internal_error"
UPSTREAM = "upstream_error"
UNAVAILABLE = "service_unavailable"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class ApiError(Exception):
    """An error answered to the client as an OpenAI error envelope."""

    status: int
    message: str
    type: str = INVALID_REQUEST
    param: str | None = None
    code: str | None = None

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        if 400 <= self.status < 500:
            # Every refusal leaves one line in the log; messages are written by this server and carry no secrets.
            logger.info("answered %d (%s): %s", self.status, self.code or self.type, self.message)
        return web.json_response(self.body(), status=self.status, headers=headers)


def error_body(message: str, error_type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, INVALID_REQUEST, param, code)


def _from_http_exception(request: web.Request, error: web.HTTPException) -> ApiError:
    status = error.status
    if status == 404:
        return ApiError(404, f"Not found: {request.method} {request.path}", NOT_FOUND)
    if status == 405:
        allowed = ", ".join(sorted(getattr(error, "allowed_methods", ()) or ()))
        suffix = f" (allowed: {allowed})" if allowed else ""
        return ApiError(405, f"Method {request.method} is not allowed on {request.path}{suffix}", INVALID_REQUEST)
    if status == 413:
        return ApiError(413, error.text or "Request body is too large", INVALID_REQUEST, None, "request_too_large")
    error_type = INVALID_REQUEST if status < 500 else INTERNAL
    return ApiError(status, error.reason, error_type)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into the JSON envelope; log unexpected ones with their traceback."""
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        api_error = _from_http_exception(request, error)
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return api_error.response(headers)
    except Exception:
        logger.exception("unexpected error while handling %s %s", request.method, request.path)
        return ApiError(500, "Internal server error", INTERNAL).response()

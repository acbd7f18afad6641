"""The edge of the server: requests aiohttp rejects before any handler or middleware runs.

A request whose head cannot be parsed (a header line over 8190 bytes, more than 128 headers, a control
character in a header, not HTTP at all) never reaches `error_middleware`: aiohttp answers it itself, in
plain text that quotes the offending line, and logs a traceback at ERROR whose text holds that line too.
That line can carry a credential that no masking pattern recognises (`X-Tenant-Auth: <value>\\x01`), so
here such requests get the OpenAI error envelope with a fixed description of what was wrong, and one
INFO line without a traceback; neither ever repeats a byte of the request's head.

`EdgeAppRunner` is `web.AppRunner` with that error path; `start_app` uses it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from aura.adapters.http.errors import INTERNAL, INVALID_REQUEST, error_body

logger = logging.getLogger(__name__)

# aiohttp's parser limits (its defaults, which `start_app` keeps), named in the answers.
MAX_HEADER_LINE_BYTES: Final = 8190
MAX_HEADERS: Final = 128

# A parser message is "<reason>:\n\n  <the request's bytes>\n  ^" (llhttp) or a sentence that may quote a
# header. Only a leading reason made of these characters is repeated; anything else gets a fixed text.
_PLAIN_REASON: Final = re.compile(r"[A-Za-z][A-Za-z0-9 .,()-]{0,79}")


def describe_bad_request(error: BaseException) -> tuple[str, str]:
    """(description, error code) of a request aiohttp could not parse, without any byte of the request."""
    if isinstance(error, http_exceptions.LineTooLong):
        return f"a header line or the request line is longer than {MAX_HEADER_LINE_BYTES} bytes", "header_too_large"
    message = getattr(error, "message", "")
    if not isinstance(message, str):
        message = ""
    if message.startswith("Too many headers"):
        return f"the request has more than {MAX_HEADERS} headers", "too_many_headers"
    if isinstance(error, http_exceptions.BadHttpMethod):
        return "the request line does not start with an HTTP method (is this HTTP?)", "bad_http_request"
    if isinstance(error, http_exceptions.InvalidHeader):
        return "a header is malformed or holds a character not allowed in HTTP headers", "invalid_header"
    reason = message.split(":", 1)[0].split("\n", 1)[0].strip()
    if _PLAIN_REASON.fullmatch(reason):
        return f"the request's head cannot be parsed ({reason})", "bad_http_request"
    return "the request's head cannot be parsed", "bad_http_request"


class EdgeRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering unparseable requests in the OpenAI error envelope."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, http_exceptions.HttpProcessingError):
            description, code = describe_bad_request(exc)
            # A port scanner or TLS client on the HTTP port sends no method: aiohttp keeps that at DEBUG too.
            level = logging.DEBUG if isinstance(exc, http_exceptions.BadHttpMethod) else logging.INFO
            logger.log(level, "rejected a malformed HTTP request from %s: %s", request.remote, description)
            body = error_body(f"Bad HTTP request: {description}", INVALID_REQUEST, None, code)
            status = status if 400 <= status < 500 else 400
        else:
            # Everything a handler raises is answered by `error_middleware`; this is aiohttp's own failure.
            logger.error("unexpected error while handling a request from %s", request.remote, exc_info=exc)
            body = error_body("Internal server error", INTERNAL)
            status = 500
        if request.writer.output_size > 0:  # some of a response is out already: the connection is broken
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        response = web.json_response(body, status=status)
        response.force_close()
        return response


class _EdgeServer(web.Server):
    """`web.Server` whose connections are handled by `EdgeRequestHandler`."""

    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeAppRunner(web.AppRunner):
    """`web.AppRunner` whose server answers unparseable requests with `EdgeRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The application builds a plain `web.Server` (from its private request factory and handler); only
        # the connection handler it creates differs, so the built server takes the subclass that makes ours.
        server.__class__ = _EdgeServer
        return server

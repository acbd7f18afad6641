"""The streamable HTTP transport (MCP 2025-03-26+): JSON-RPC over POST, server messages over SSE."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack

import anyio
import attrs
from mcp.client.streamable_http import streamable_http_client

from aura.adapters.mcp._convert import string_map
from aura.adapters.mcp._http import loggable_url, mcp_http_client, validate_http_config
from aura.adapters.mcp.connection import TransportStreams

SDK_LOGGER = "mcp.client.streamable_http"
_SDK_PARSE_ERROR = "Error parsing SSE message"
_CLOSED_STREAM_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError)
logger = logging.getLogger(__name__)


class LateMessageFilter(logging.Filter):
    """Drops the SDK's "Error parsing SSE message" traceback when nothing failed to parse.

    The SDK logs that at ERROR, with a traceback, for any failure while handing a server message on, including
    a message that arrives after its call was cancelled or its session closed (shutdown with a call in flight,
    a client that went away): the read stream is closed by then. That is expected, so it becomes one DEBUG
    line; a real parse failure still comes through as the SDK logs it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != _SDK_PARSE_ERROR or record.exc_info is None:
            return True
        if not isinstance(record.exc_info[1], _CLOSED_STREAM_ERRORS):
            return True
        logger.debug("a message from the MCP server arrived after its call or session was closed; dropped")
        return False


def install_late_message_filter() -> None:
    """Attach `LateMessageFilter` to the SDK's streamable HTTP logger, once."""
    sdk_logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(existing, LateMessageFilter) for existing in sdk_logger.filters):
        sdk_logger.addFilter(LateMessageFilter())


@attrs.frozen
class StreamableHttpTransport:
    """An MCP server at `url` (usually ending in `/mcp`).

    `headers` go on every HTTP request to this server; `headers_from_request` maps an outgoing
    header name to the incoming request header whose value it forwards (see docs/mcp.md).
    """

    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)
    headers_from_request: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)

    def __attrs_post_init__(self) -> None:
        validate_http_config("StreamableHttpTransport", self.url, self.headers, self.headers_from_request)

    @property
    def static_headers(self) -> Mapping[str, str]:
        return self.headers

    def describe(self) -> str:
        return f"url {loggable_url(self.url)}"

    async def open(
        self,
        stack: AsyncExitStack,
        headers: Mapping[str, str],
        logger: logging.Logger,
        *,
        max_message_bytes: int | None = None,
    ) -> TransportStreams:
        install_late_message_filter()
        # Headers are defaults of the HTTP client, so every POST, GET and DELETE of this
        # connection carries them — including the initialize handshake and cancellations.
        client = await stack.enter_async_context(mcp_http_client(headers))
        # The SDK's own limit is 1 MiB an event; one over the limit fails only its request (with
        # CONNECTION_CLOSED, "exceeded the ... byte limit"), which the connection reports as too large.
        read_stream, write_stream = await stack.enter_async_context(
            streamable_http_client(self.url, http_client=client, max_sse_event_size=max_message_bytes)
        )
        return read_stream, write_stream

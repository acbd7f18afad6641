"""The streamable HTTP transport (MCP 2025-03-26+): JSON-RPC over POST, server messages over SSE."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack

import attrs
from mcp.client.streamable_http import streamable_http_client

from aura.adapters.mcp._convert import string_map
from aura.adapters.mcp._http import loggable_url, mcp_http_client, validate_http_config
from aura.adapters.mcp.connection import TransportStreams


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
        # Headers are defaults of the HTTP client, so every POST, GET and DELETE of this
        # connection carries them — including the initialize handshake and cancellations.
        client = await stack.enter_async_context(mcp_http_client(headers))
        # The SDK's own limit is 1 MiB an event; one over the limit fails only its request (with
        # CONNECTION_CLOSED, "exceeded the ... byte limit"), which the connection reports as too large.
        read_stream, write_stream = await stack.enter_async_context(
            streamable_http_client(self.url, http_client=client, max_sse_event_size=max_message_bytes)
        )
        return read_stream, write_stream

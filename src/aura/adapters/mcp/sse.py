"""The legacy HTTP+SSE transport (MCP 2024-11-05): a GET event stream plus POSTs to the endpoint it names."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack

import attrs
from mcp.client.sse import sse_client

from aura.adapters.mcp._convert import string_map
from aura.adapters.mcp._http import (
    HTTP_TIMEOUT_SECONDS,
    STREAM_READ_TIMEOUT_SECONDS,
    loggable_url,
    mcp_http_client,
    validate_http_config,
)
from aura.adapters.mcp.connection import TransportStreams


@attrs.frozen
class SseTransport:
    """An MCP server speaking the legacy SSE transport at `url` (usually ending in `/sse`).

    Header options work as for `StreamableHttpTransport`.
    """

    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)
    headers_from_request: Mapping[str, str] = attrs.field(factory=dict, converter=string_map)

    def __attrs_post_init__(self) -> None:
        validate_http_config("SseTransport", self.url, self.headers, self.headers_from_request)

    @property
    def static_headers(self) -> Mapping[str, str]:
        return self.headers

    def describe(self) -> str:
        return f"url {loggable_url(self.url)}"

    async def open(self, stack: AsyncExitStack, headers: Mapping[str, str], logger: logging.Logger) -> TransportStreams:
        # The SDK makes these the HTTP client's default headers: the event stream and every POST.
        read_stream, write_stream = await stack.enter_async_context(
            sse_client(
                self.url,
                headers=dict(headers),
                timeout=HTTP_TIMEOUT_SECONDS,
                sse_read_timeout=STREAM_READ_TIMEOUT_SECONDS,
                httpx_client_factory=mcp_http_client,
            )
        )
        return read_stream, write_stream

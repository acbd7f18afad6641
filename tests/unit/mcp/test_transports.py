"""Transport configuration: validation with clear messages, and log-safe descriptions."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from aura.adapters.mcp import McpToolset, SseTransport, StdioTransport, StreamableHttpTransport
from aura.adapters.mcp.connection import McpConnectError, describe_error, redact_url
from aura.ports.toolset import Toolset


@pytest.mark.parametrize("kind", [StreamableHttpTransport, SseTransport])
def test_http_transports_describe_their_url_without_credentials(
    kind: type[StreamableHttpTransport] | type[SseTransport],
) -> None:
    transport = kind("https://user:pw@mcp.example.com:8443/mcp?token=abc#frag", headers={"Authorization": "Bearer t"})

    assert transport.describe() == "url https://mcp.example.com:8443/mcp"
    assert transport.url == "https://user:pw@mcp.example.com:8443/mcp?token=abc#frag"  # used as given


@pytest.mark.parametrize("url", ["", "mcp.example.com/mcp", "ftp://host/mcp", "http:///nohost"])
def test_http_transport_rejects_a_url_that_is_not_absolute_http(url: str) -> None:
    with pytest.raises(ValueError, match="StreamableHttpTransport: url"):
        StreamableHttpTransport(url)


def test_http_transport_rejects_bad_headers_naming_the_url_and_header() -> None:
    with pytest.raises(ValueError, match=r"SseTransport\(http://h/sse\): headers: 'Bad Header'"):
        SseTransport("http://h/sse?key=secret", headers={"Bad Header": "x"})


def test_stdio_transport_validation_and_description() -> None:
    transport = StdioTransport("uvx", ["mcp-server-time", "--local-timezone", "Europe/Paris"], env={"TOKEN": "secret"})

    assert transport.describe() == "command uvx mcp-server-time --local-timezone Europe/Paris"
    assert transport.static_headers == {}
    with pytest.raises(ValueError, match="command must be a non-empty string"):
        StdioTransport("  ")
    with pytest.raises(ValueError, match=r"args\[1\] must be a string"):
        StdioTransport("npx", ["-y", 3])  # type: ignore[list-item]


def test_toolset_rejects_bad_timeouts_naming_the_server() -> None:
    transport = StdioTransport("server")
    with pytest.raises(ValueError, match=r"McpToolset\('files'\): call_timeout"):
        McpToolset("files", transport, call_timeout=0)
    with pytest.raises(ValueError, match=r"McpToolset\('files'\): connect_timeout"):
        McpToolset("files", transport, connect_timeout=-1)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        McpToolset("", transport)
    assert McpToolset("files", transport, call_timeout=None).call_timeout is None


def test_error_descriptions_are_one_line_and_free_of_url_credentials() -> None:
    nested = ExceptionGroup("unhandled errors in a TaskGroup", [ConnectionError("refused by http://u:p@h/x?k=v")])

    assert describe_error(nested) == "ConnectionError: refused by http://***@h/x?…"
    assert describe_error(McpConnectError("no answer within 2 s")) == "no answer within 2 s"
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert redact_url("see https://a:b@x.io/p?q=1 and http://y/z") == "see https://***@x.io/p?… and http://y/z"


def test_the_toolset_implements_the_toolset_port() -> None:
    toolset = McpToolset("files", StdioTransport("server"), description="Local files")

    assert isinstance(toolset, Toolset)
    assert toolset.name == "files"
    assert toolset.transport == StdioTransport("server")
    assert not toolset.connected  # nothing is started before start()/list_tools()/call_tool()


async def test_a_message_arriving_after_its_session_closed_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The SDK's own handler, fed a valid message while the session's read stream is already closed (a call in
    # flight at shutdown): it logs "Error parsing SSE message" with a traceback, which our filter turns into DEBUG.
    from httpx2 import ServerSentEvent
    from mcp.client.streamable_http import StreamableHTTPTransport
    from mcp.shared._context_streams import create_context_streams

    from aura.adapters.mcp.streamable_http import SDK_LOGGER, install_late_message_filter

    install_late_message_filter()
    install_late_message_filter()  # idempotent
    transport = StreamableHTTPTransport("http://127.0.0.1:9/mcp")
    late = ServerSentEvent(event="message", data='{"jsonrpc":"2.0","id":1,"result":{"content":[]}}')
    broken = ServerSentEvent(event="message", data='{"jsonrpc":"2.0","id":2,"result":')
    writer, reader = create_context_streams[Any](1)
    await reader.aclose()
    with caplog.at_level(logging.DEBUG), pytest.raises(anyio.BrokenResourceError):
        # (the SDK then hands the error on through the same closed stream; its caller ignores that)
        await transport._handle_sse_event(late, writer)
    assert not [r for r in caplog.records if r.name == SDK_LOGGER and r.levelno >= logging.WARNING]
    assert any("arrived after its call or session was closed" in r.getMessage() for r in caplog.records)
    assert len(logging.getLogger(SDK_LOGGER).filters) == 1

    caplog.clear()
    writer, reader = create_context_streams[Any](1)
    with caplog.at_level(logging.DEBUG):
        await transport._handle_sse_event(broken, writer, original_request_id=2)
    [error] = [r for r in caplog.records if r.name == SDK_LOGGER and r.levelno >= logging.ERROR]
    assert error.getMessage() == "Error parsing SSE message"  # a real parse failure still shows
    await reader.aclose()

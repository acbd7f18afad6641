"""Static and forwarded headers reach the HTTP MCP servers, and only where and when they should."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from aura.adapters.mcp import McpToolset
from aura.domain.tools import RequestContext, ToolCallContext
from tests.integration.mcp.servers import (
    HTTP_TRANSPORTS,
    ServerProcess,
    fixture_url,
    http_transport,
    running_fixture_servers,
)

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]

MakeToolset = Callable[..., McpToolset]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    with running_fixture_servers(HTTP_TRANSPORTS, tmp_path_factory.mktemp("mcp-header-logs")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def make_toolset(servers: dict[str, ServerProcess]) -> AsyncIterator[MakeToolset]:
    toolsets: list[McpToolset] = []

    def make(transport: str, name: str = "headers", **transport_options: Any) -> McpToolset:
        url = fixture_url(transport, servers[transport].port)
        toolset = McpToolset(name, http_transport(transport, url, **transport_options))
        toolsets.append(toolset)
        return toolset

    yield make
    await asyncio.gather(*(toolset.aclose() for toolset in toolsets))


def call_context(**incoming: str) -> ToolCallContext:
    """A call belonging to an incoming request with these headers (names lower-cased, as the server does)."""
    headers = {name.replace("_", "-").lower(): value for name, value in incoming.items()}
    return ToolCallContext(call_id="call_h", tool_name="echo_headers", request=RequestContext(headers=headers))


async def seen_headers(toolset: McpToolset, context: ToolCallContext, delay: float = 0.0) -> dict[str, str]:
    result = await toolset.call_tool("echo_headers", {"delay": delay}, context)
    assert not result.is_error, result.content
    seen: dict[str, str] = json.loads(result.content)
    return seen


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_static_headers_go_on_every_request(make_toolset: MakeToolset, transport: str) -> None:
    toolset = make_toolset(transport, headers={"X-Api-Key": "static-key"})

    first = await seen_headers(toolset, call_context())
    second = await seen_headers(toolset, call_context(x_api_key="from-the-client"))

    assert first["x-api-key"] == "static-key"
    assert second["x-api-key"] == "static-key"  # not mapped, so the incoming header is not forwarded


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_forwarded_headers_apply_to_their_request_only(make_toolset: MakeToolset, transport: str) -> None:
    toolset = make_toolset(
        transport,
        headers={"authorization": "Bearer service-token", "X-Static": "s"},
        headers_from_request={"Authorization": "X-User-Token", "X-Tenant": "x-tenant-id"},
    )

    forwarded = await seen_headers(
        toolset, call_context(x_user_token="Token user-1", x_tenant_id="acme", cookie="session=secret")
    )
    plain = await seen_headers(toolset, call_context(cookie="session=secret"))

    # Case-insensitive merge: the forwarded Authorization replaces the static authorization.
    assert forwarded["authorization"] == "Token user-1"
    assert forwarded["x-tenant"] == "acme"
    assert forwarded["x-static"] == "s"
    assert "cookie" not in forwarded
    assert "x-user-token" not in forwarded
    # A later request without the incoming header falls back to the static value, nothing leaks.
    assert plain["authorization"] == "Bearer service-token"
    assert "x-tenant" not in plain
    assert "cookie" not in plain


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_forwarded_headers_reach_only_the_server_that_maps_them(
    make_toolset: MakeToolset, transport: str
) -> None:
    mapping = make_toolset(transport, name="mapping", headers_from_request={"Authorization": "authorization"})
    other = make_toolset(transport, name="other")
    context = call_context(authorization="Bearer user-secret")

    assert (await seen_headers(mapping, context))["authorization"] == "Bearer user-secret"
    assert "authorization" not in await seen_headers(other, context)


@pytest.mark.parametrize("transport", HTTP_TRANSPORTS)
async def test_concurrent_requests_never_see_each_others_tokens(make_toolset: MakeToolset, transport: str) -> None:
    toolset = make_toolset(transport, headers_from_request={"Authorization": "authorization"})
    tokens = [f"Bearer token-{i:02d}" for i in range(50)]

    # Each call holds its connection a moment so that all 50 are in flight together.
    seen = await asyncio.gather(
        *(seen_headers(toolset, call_context(authorization=token), delay=0.2) for token in tokens)
    )

    assert [headers.get("authorization") for headers in seen] == tokens
    # And a request without a token still gets none, after all of that.
    assert "authorization" not in await seen_headers(toolset, call_context())

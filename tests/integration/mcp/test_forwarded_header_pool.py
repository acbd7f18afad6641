"""The per-header-set connection pool of an HTTP MCP server: bounded in size and idle time, idle sessions closed
even without traffic, and a closed connection leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from aura.adapters.mcp import McpToolset
from aura.adapters.mcp.connection import McpConnection
from aura.domain.tools import RequestContext, ToolCallContext
from tests.integration.mcp.servers import ServerProcess, fixture_url, http_transport, running_fixture_server, wait_for

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]

TRANSPORT = "streamable-http"
CALLER = contextvars.ContextVar[str]("caller", default="none")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_fixture_server(TRANSPORT, tmp_path_factory.mktemp("mcp-pool-logs")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def toolset_for(server: ServerProcess) -> AsyncIterator[Any]:
    made: list[McpToolset] = []

    async def make(**options: Any) -> McpToolset:
        transport = http_transport(TRANSPORT, fixture_url(TRANSPORT, server.port), None, {"X-Tenant": "x-tenant"})
        toolset = McpToolset("pool", transport, **options)
        made.append(toolset)
        await toolset.start()
        return toolset

    yield make
    await asyncio.gather(*(toolset.aclose() for toolset in made))


async def call_as(toolset: McpToolset, tenant: str) -> None:
    context = ToolCallContext("call", "echo", request=RequestContext(headers={"x-tenant": tenant}))
    result = await toolset.call_tool("echo", {"message": tenant}, context)
    assert not result.is_error, result.content


def pooled(toolset: McpToolset) -> dict[Any, McpConnection]:
    return toolset._pool


def tenants(toolset: McpToolset) -> list[str]:
    return [dict(key)["x-tenant"] for key in pooled(toolset)]


async def test_idle_connections_beyond_the_cap_are_closed_least_recently_used_first(toolset_for: Any) -> None:
    toolset = await toolset_for(pool_max_idle=3)
    for index in range(6):
        await call_as(toolset, f"tenant-{index}")
    # the cap (3 idle) plus the connection of the call that just ran
    assert tenants(toolset) == ["tenant-2", "tenant-3", "tenant-4", "tenant-5"]
    await call_as(toolset, "tenant-3")  # reused, and now the most recently used
    assert tenants(toolset) == ["tenant-2", "tenant-4", "tenant-5", "tenant-3"]
    await call_as(toolset, "tenant-6")
    assert tenants(toolset) == ["tenant-4", "tenant-5", "tenant-3", "tenant-6"]


async def test_idle_connections_are_closed_after_pool_idle_secs_without_any_traffic(toolset_for: Any) -> None:
    toolset = await toolset_for(pool_idle_secs=0.5)
    for index in range(3):
        await call_as(toolset, f"idle-{index}")
    connections = list(pooled(toolset).values())
    assert len(connections) == 3
    await wait_for(lambda: not pooled(toolset), within=20, what="the sweeper to close the idle connections")
    await wait_for(lambda: all(c.closed and not c.connected for c in connections), what="the sessions to close")


async def test_a_closed_pooled_connection_leaves_nothing_behind(toolset_for: Any) -> None:
    toolset = await toolset_for(pool_max_idle=0)
    refs: list[weakref.ref[McpConnection]] = []
    for index in range(20):
        await call_as(toolset, f"gone-{index}")
        refs.extend(weakref.ref(connection) for connection in pooled(toolset).values())
    await wait_for(lambda: len(pooled(toolset)) <= 1, what="eviction")
    await asyncio.gather(*toolset._closing)
    await asyncio.sleep(0.1)  # let the closed actors' last callbacks run
    gc.collect()
    alive = [ref() for ref in refs if ref() is not None and ref() not in pooled(toolset).values()]
    assert alive == [], "a closed MCP connection is still referenced"


async def test_a_pooled_call_runs_in_its_callers_context_not_in_the_first_callers(toolset_for: Any) -> None:
    toolset = await toolset_for()
    await call_as(toolset, "ctx")  # opens the pooled connection (in the context of this first call)
    [connection] = pooled(toolset).values()

    async def whose_context(session: Any) -> str:
        return CALLER.get()

    async def as_caller(name: str) -> str:
        CALLER.set(name)
        return await connection.run(whose_context)

    assert await asyncio.gather(as_caller("first"), as_caller("second")) == ["first", "second"]

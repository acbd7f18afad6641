"""The port for anything that offers tools to an agent: MCP servers, vector stores, Python functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from aura.domain.tools import ToolCallContext, ToolResult, ToolSpec


@runtime_checkable
class Toolset(Protocol):
    """A named group of tools.

    `list_tools` hands over each tool's own JSON Schema, unconverted: the model adapter applies its
    provider's schema profile and restores the model's arguments, so `call_tool` receives arguments in
    the shape of that schema whichever provider the agent uses.

    `call_tool` returns a `ToolResult` (with `is_error` for failures the model should see) and
    raises only for cancellation. It must honour asyncio cancellation promptly: cancelling the
    task is how a turn stops in-flight calls (an MCP toolset sends `notifications/cancelled`).
    """

    @property
    def name(self) -> str: ...

    async def list_tools(self) -> Sequence[ToolSpec]: ...

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class StartableToolset(Toolset, Protocol):
    """A toolset with work to do before its first call (connecting to an MCP server, listing its tools).

    `Agent.start()` (and `async with agent`) calls `start()` on every toolset that has it, concurrently;
    the server does so at startup, so the first request pays nothing. A toolset that is never started
    must still work, starting itself on first use. `start()` raises when the toolset cannot be used at
    all (say, a required server that is down).
    """

    async def start(self) -> None: ...


@runtime_checkable
class ConnectedToolset(Toolset, Protocol):
    """A toolset backed by a connection whose state is worth watching (an MCP server).

    `connected` is read at every metrics scrape (`aura_mcp_server_up`): it must be cheap and never block.
    """

    @property
    def connected(self) -> bool: ...

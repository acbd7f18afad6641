"""`RecordingMcpProxy`: an MCP server that forwards to a live MCP server and records what it sees.

It lists the upstream server's tools as they are (name, title, description, input schema, annotations)
and forwards every call; each call and its answer become a `Recording` (an exact match on the call's
arguments; a later call with the same arguments replaces the earlier answer). After every listing and
every call, `on_change` receives the tools with their recordings so far, so the caller can write the case
file as it grows and an interrupted recording loses nothing.

Started by `aura eval record OUT -- COMMAND...` (a stdio upstream) or `--upstream-url` (streamable HTTP);
the proxy itself is served over stdio (so it can stand in for a server in an agent's config) or
streamable HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
from mcp import ClientSession, types
from mcp.server.mcpserver import Context, MCPServer

from aura.adapters.mcp.connection import CLIENT_INFO
from aura.adapters.mcp.results import render_content_block
from aura.adapters.mcp.sse import SseTransport
from aura.adapters.mcp.stdio import StdioTransport
from aura.adapters.mcp.streamable_http import StreamableHttpTransport
from aura.adapters.mcp.toolset import _list_all_tools
from aura.domain.eval_case import Recording, ReplayTool

logger = logging.getLogger("aura.eval.record")

UpstreamTransport = StdioTransport | StreamableHttpTransport | SseTransport


class RecordingMcpProxy(MCPServer[Any]):
    """Forwards to `upstream` and records every call (see the module docstring)."""

    def __init__(
        self,
        upstream: UpstreamTransport,
        on_change: Callable[[Sequence[ReplayTool]], None],
        *,
        call_timeout: float | None = 300.0,
    ) -> None:
        super().__init__(name="aura-eval-record", log_level="WARNING", lifespan=_upstream_lifespan)
        self.upstream = upstream
        self.call_timeout = call_timeout
        self._on_change = on_change
        self._session: ClientSession | None = None
        self._tools: dict[str, ReplayTool] = {}

    @property
    def tools(self) -> tuple[ReplayTool, ...]:
        return tuple(self._tools.values())

    async def connect(self, stack: AsyncExitStack) -> None:
        """Open the upstream session (closed with `stack`) and list its tools once."""
        read_stream, write_stream = await self.upstream.open(stack, self.upstream.static_headers, logger)
        session = await stack.enter_async_context(ClientSession(read_stream, write_stream, client_info=CLIENT_INFO))
        await session.initialize()
        self._session = session
        stack.callback(self._disconnected)
        await self.list_tools()

    def _disconnected(self) -> None:
        self._session = None

    def _upstream(self) -> ClientSession:
        if self._session is None:
            raise RuntimeError(f"the upstream MCP server ({self.upstream.describe()}) is not connected")
        return self._session

    async def list_tools(self) -> list[types.Tool]:
        listed, _ = await _list_all_tools(self._upstream())
        known = self._tools
        self._tools = {}
        for tool in listed:
            previous = known.get(tool.name)
            annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
            self._tools[tool.name] = ReplayTool(
                name=tool.name,
                title=tool.title,
                description=tool.description or "",
                input_schema=dict(tool.input_schema),
                annotations=annotations,
                recordings=previous.recordings if previous is not None else (),
            )
        self._on_change(self.tools)
        return listed

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> types.CallToolResult | types.InputRequiredResult:
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments))
        # `send_request` rather than `call_tool`: we forward what the server said, without validating it.
        result = await self._upstream().send_request(
            request, types.CallToolResult, request_read_timeout_seconds=self.call_timeout
        )
        self._record(name, arguments, result)
        return result

    def _record(self, name: str, arguments: dict[str, Any], result: types.CallToolResult) -> None:
        tool = self._tools.get(name) or ReplayTool(name=name)
        structured = result.structured_content if isinstance(result.structured_content, dict) else None
        recording = Recording(
            arguments=dict(arguments),
            output="\n".join(render_content_block(block) for block in result.content),
            match="exact",
            is_error=bool(result.is_error),
            structured=structured,
        )
        if structured is not None and not recording.output:
            recording = attrs.evolve(recording, output=str(structured))
        kept = tuple(r for r in tool.recordings if not (r.match == "exact" and r.arguments == recording.arguments))
        self._tools[name] = attrs.evolve(tool, recordings=(*kept, recording))
        logger.info("recorded %s(%s)%s", name, arguments, " (error)" if recording.is_error else "")
        self._on_change(self.tools)


@asynccontextmanager
async def _upstream_lifespan(server: MCPServer[Any]) -> AsyncIterator[Any]:
    """Connects the proxy to its upstream for as long as the proxy serves (one task opens and closes it)."""
    assert isinstance(server, RecordingMcpProxy)
    async with AsyncExitStack() as stack:
        await server.connect(stack)
        yield {}

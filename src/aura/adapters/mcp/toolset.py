"""`McpToolset`: the tools of one MCP server, over stdio, SSE or streamable HTTP.

Startup rule (docs/mcp.md): `start()` connects, initializes and lists the tools within
`connect_timeout`. If the server is down, that is logged with its name, where it is and why; a
`required` server then fails startup with `McpServerUnavailable`, any other server offers no tools
and discovery is retried by a later `list_tools()` with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import attrs
from mcp import ClientSession, MCPError, types

from aura.adapters.mcp._http import MESSAGE_BYTES_PER_RESULT_BYTE
from aura.adapters.mcp.connection import (
    McpConnectError,
    McpConnection,
    McpConnectionClosed,
    McpConnectionLost,
    McpResultTooLarge,
    McpTransport,
    describe_error,
)
from aura.adapters.mcp.headers import header_set_key, resolve_headers
from aura.adapters.mcp.results import convert_call_result
from aura.adapters.mcp.sse import SseTransport
from aura.adapters.mcp.stdio import StdioTransport
from aura.adapters.mcp.streamable_http import StreamableHttpTransport
from aura.domain.approval_policy import ToolAnnotations
from aura.domain.errors import AuraError
from aura.domain.schema_sanitizer import SchemaRejected, object_root, sanitize_tool_name
from aura.domain.tools import ProgressUpdate, RequestContext, ToolCallContext, ToolResult, ToolSpec

MAX_LIST_PAGES = 100
DISCOVERY_RETRY_FIRST_SECONDS = 2.0
DISCOVERY_RETRY_MAX_SECONDS = 60.0
POOL_MAX_IDLE_CONNECTIONS = 32
POOL_IDLE_SECONDS = 300.0
POOL_SWEEP_MAX_SECONDS = 30.0
DEFAULT_MAX_RESULT_BYTES = 8 * 1024 * 1024


class McpServerUnavailable(AuraError):
    """A `required` MCP server could not be reached or listed at startup."""


@attrs.frozen
class _McpTool:
    spec: ToolSpec
    original_name: str


class McpToolset:
    """The tools of one MCP server, offered under sanitized names.

    Implements `aura.ports.toolset.Toolset`. Tool names are made OpenAI-safe with
    `sanitize_tool_name` (the original name is kept for `tools/call`). Input schemas are handed
    over as the server wrote them: the model adapter converts them for its provider and restores
    the arguments (`aura.domain.schema_profiles`); `sanitize_schemas=False` keeps this server's
    tools out of OpenAI strict mode. A tool whose schema root is not an object is dropped. Each
    connection is owned by one task (`McpConnection`); HTTP requests that forward headers get a
    connection of their own per distinct header set.
    """

    def __init__(
        self,
        name: str,
        transport: StdioTransport | StreamableHttpTransport | SseTransport,
        *,
        sanitize_schemas: bool = True,
        call_timeout: float | None = 300.0,
        connect_timeout: float = 10.0,
        required: bool = False,
        description: str | None = None,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        pool_max_idle: int = POOL_MAX_IDLE_CONNECTIONS,
        pool_idle_secs: float = POOL_IDLE_SECONDS,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("McpToolset: name must be a non-empty string")
        if call_timeout is not None and not call_timeout > 0:
            raise ValueError(f"McpToolset({name!r}): call_timeout must be positive or None, got {call_timeout!r}")
        if not connect_timeout > 0:
            raise ValueError(f"McpToolset({name!r}): connect_timeout must be positive, got {connect_timeout!r}")
        if isinstance(max_result_bytes, bool) or not isinstance(max_result_bytes, int) or max_result_bytes < 1:
            raise ValueError(
                f"McpToolset({name!r}): max_result_bytes must be a positive integer, got {max_result_bytes!r}"
            )
        self._name = name
        self._configured_transport = transport
        self._transport: McpTransport = transport
        self.sanitize_schemas = sanitize_schemas
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        self.required = required
        self.description = description
        self.max_result_bytes = max_result_bytes
        if pool_max_idle < 0 or not pool_idle_secs > 0:
            raise ValueError(
                f"McpToolset({name!r}): pool_max_idle must be >= 0 and pool_idle_secs positive, "
                f"got {pool_max_idle!r} and {pool_idle_secs!r}"
            )
        self.pool_max_idle = pool_max_idle
        self.pool_idle_secs = pool_idle_secs
        self._logger = logging.getLogger(f"aura.mcp.{name}")
        self._static_headers = dict(transport.static_headers)
        self._base = self._new_connection(self._static_headers, watch_tool_changes=True)
        self._pool: dict[tuple[tuple[str, str], ...], McpConnection] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._tools: dict[str, _McpTool] | None = None
        self._tools_stale = False
        self._discovery_lock: asyncio.Lock | None = None
        self._discovery_failures = 0
        self._next_discovery_at = 0.0
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def transport(self) -> StdioTransport | StreamableHttpTransport | SseTransport:
        return self._configured_transport

    @property
    def connected(self) -> bool:
        """Whether the main connection (static headers only) currently has a live session."""
        return self._base.connected

    # ------------------------------------------------------------------------------------------
    # Discovery

    async def start(self) -> None:
        """Connect and discover the tools (server startup). Raises only for a `required` server."""
        if self.description:
            self._logger.info("MCP server %r (%s): %s", self._name, self._transport.describe(), self.description)
        async with self._discovery():
            error = await self._discover()
        if error is not None and self.required:
            raise McpServerUnavailable(
                f"required MCP server {self._name!r} ({self._transport.describe()}) is unavailable: {error}"
            )

    async def list_tools(self) -> Sequence[ToolSpec]:
        """The discovered tools; when discovery failed earlier, retries it once the backoff allows."""
        if self._closed:
            return []
        if (self._tools is None or self._tools_stale) and time.monotonic() >= self._next_discovery_at:
            async with self._discovery():
                fresh = self._tools is not None and not self._tools_stale
                if not fresh and time.monotonic() >= self._next_discovery_at:
                    await self._discover()
        return [tool.spec for tool in (self._tools or {}).values()]

    def _discovery(self) -> asyncio.Lock:
        """One discovery at a time; callers arriving meanwhile wait for its outcome."""
        if self._discovery_lock is None:
            self._discovery_lock = asyncio.Lock()
        return self._discovery_lock

    async def _discover(self) -> str | None:
        """List and convert the server's tools; returns the failure description, if any."""
        self._tools_stale = False
        try:
            async with asyncio.timeout(self.connect_timeout):
                listing = await self._base.run(_list_all_tools, idempotent=True)
        except (TimeoutError, McpConnectError, McpConnectionLost, MCPError, OSError, RuntimeError) as failure:
            return self._discovery_failed(
                f"no answer within {self.connect_timeout:g} s"
                if isinstance(failure, TimeoutError)
                else describe_error(failure)
            )
        except McpConnectionClosed:
            return "the toolset is closed"
        except Exception as failure:  # e.g. a malformed listing the SDK rejected
            return self._discovery_failed(describe_error(failure))
        pages, truncated = listing
        if truncated:
            self._logger.warning("MCP server %r: stopped listing tools after %d pages", self._name, MAX_LIST_PAGES)
        was_down = self._discovery_failures > 0
        self._discovery_failures = 0
        self._next_discovery_at = 0.0
        self._tools = self._convert_tools(pages)
        log = self._logger.warning if was_down else self._logger.info
        log(
            "MCP server %r (%s)%s: %d tool%s",
            self._name,
            self._transport.describe(),
            " is available again" if was_down else " connected",
            len(self._tools),
            "" if len(self._tools) == 1 else "s",
        )
        return None

    def _with_server_output(self, error: str) -> str:
        """The error, plus what a stdio server last wrote to stderr (usually the real reason it is down)."""
        recent = getattr(self._transport, "recent_stderr", None)
        output = recent() if recent is not None else ""
        return f"{error} (server stderr: {output})" if output else error

    def _discovery_failed(self, error: str) -> str:
        error = self._with_server_output(error)
        self._discovery_failures += 1
        delay = min(DISCOVERY_RETRY_FIRST_SECONDS * 2 ** (self._discovery_failures - 1), DISCOVERY_RETRY_MAX_SECONDS)
        self._next_discovery_at = time.monotonic() + delay
        held = "; keeping the tools discovered earlier" if self._tools else "; it offers no tools for now"
        (self._logger.error if self.required else self._logger.warning)(
            "MCP server %r (%s) is unavailable: %s%s (next attempt in %g s)",
            self._name,
            self._transport.describe(),
            error,
            held,
            delay,
        )
        return error

    def _convert_tools(self, listed: Sequence[types.Tool]) -> dict[str, _McpTool]:
        tools: dict[str, _McpTool] = {}
        for tool in listed:
            name = sanitize_tool_name(tool.name)
            if name in tools:
                self._logger.warning(
                    "tool %r of MCP server %r dropped: its sanitized name %r is already taken by %r",
                    tool.name,
                    self._name,
                    name,
                    tools[name].original_name,
                )
                continue
            try:
                object_root(tool.input_schema)
            except SchemaRejected as error:
                self._logger.warning(
                    "tool %r of MCP server %r dropped: its input schema was rejected: %s", tool.name, self._name, error
                )
                continue
            except Exception:
                self._logger.exception(
                    "tool %r of MCP server %r dropped: its input schema could not be read", tool.name, self._name
                )
                continue
            if name != tool.name:
                self._logger.debug("tool %r of MCP server %r is offered as %r", tool.name, self._name, name)
            strict = None if self.sanitize_schemas else False
            annotations = ToolAnnotations.from_mcp(
                tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None
            )
            spec = ToolSpec(name, tool.description or "", tool.input_schema, strict, annotations=annotations)
            tools[name] = _McpTool(spec, tool.name)
        return tools

    def _mark_tools_stale(self) -> None:
        self._tools_stale = True

    # ------------------------------------------------------------------------------------------
    # Calls

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        if self._closed:
            return ToolResult.error(f"Tool execution failed: the MCP toolset {self._name!r} is closed")
        tool = (self._tools or {}).get(name)
        if tool is None:
            await self.list_tools()
            tool = (self._tools or {}).get(name)
            if tool is None:
                return ToolResult.error(f"Tool not found: {name} (MCP server {self._name!r})")
        call_arguments = dict(arguments)
        connection = self._connection_for(context.request)
        connection.in_use += 1
        try:
            result = await connection.run(
                lambda session: self._call(session, tool.original_name, call_arguments, context)
            )
        except MCPError as error:
            if error.code == types.REQUEST_TIMEOUT and self.call_timeout is not None:
                return ToolResult.error(f"Timeout: tool '{name}' did not finish within {self.call_timeout:g} s")
            return ToolResult.error(f"Tool execution failed: {describe_error(error)}")
        except McpConnectError as error:
            return ToolResult.error(f"Tool execution failed: MCP server {self._name!r} is unavailable: {error}")
        except (McpConnectionLost, McpConnectionClosed, McpResultTooLarge) as error:
            return ToolResult.error(f"Tool execution failed: {error}")
        except Exception as error:
            return ToolResult.error(f"Tool execution failed: {describe_error(error)}")
        finally:
            connection.in_use -= 1
        return convert_call_result(result, self.max_result_bytes, self._name)

    async def _call(
        self, session: ClientSession, tool_name: str, arguments: dict[str, Any], context: ToolCallContext
    ) -> types.CallToolResult:
        finished = False

        async def relay_progress(progress: float, total: float | None, message: str | None) -> None:
            if not finished:  # a late update after the result would reach the turn after completion
                await context.report_progress(ProgressUpdate(progress, total, message))

        # `send_request` rather than `call_tool`: the latter lists tools again on every connection
        # to validate structured output against the output schema, which we do not need.
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=tool_name, arguments=arguments))
        result = await session.send_request(
            request,
            types.CallToolResult,
            request_read_timeout_seconds=self.call_timeout,
            progress_callback=relay_progress,
        )
        await anyio.lowlevel.checkpoint()  # let progress received before the result be relayed first
        finished = True
        return result

    def _connection_for(self, request: RequestContext) -> McpConnection:
        """The connection whose headers are exactly this request's resolved headers."""
        if not self._transport.headers_from_request:
            return self._base
        headers = resolve_headers(
            self._static_headers, self._transport.headers_from_request, request.headers, logger=self._logger
        )
        key = header_set_key(headers)
        if key == header_set_key(self._static_headers):
            return self._base
        connection = self._pool.pop(key, None)
        if connection is None or connection.closed:
            connection = self._new_connection(headers)
        self._pool[key] = connection  # (re)inserted last: the pool's order is least recently used first
        self._evict_idle_connections(keep=key)
        if self._sweeper is None or self._sweeper.done():
            # Idle connections are closed on time even when no request comes to evict them. Empty context:
            # the sweeper must not keep the request that started it alive.
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_idle_connections(), name=f"aura-mcp-pool:{self._name}", context=contextvars.Context()
            )
        return connection

    def _new_connection(self, headers: Mapping[str, str], *, watch_tool_changes: bool = False) -> McpConnection:
        return McpConnection(
            self._transport,
            headers,
            connect_timeout=self.connect_timeout,
            logger=self._logger,
            on_tools_changed=self._mark_tools_stale if watch_tool_changes else None,
            max_message_bytes=self.max_result_bytes * MESSAGE_BYTES_PER_RESULT_BYTE,
        )

    def _evict_idle_connections(self, keep: tuple[tuple[str, str], ...] | None = None) -> None:
        """Close pooled connections idle longer than `pool_idle_secs`, and the least recently used idle ones
        beyond `pool_max_idle`."""
        now = time.monotonic()
        idle = [key for key, connection in self._pool.items() if connection.in_use == 0 and key != keep]
        surplus = len(idle) - self.pool_max_idle
        for index, key in enumerate(idle):
            if index < surplus or now - self._pool[key].last_used > self.pool_idle_secs:
                self._close_in_background(self._pool.pop(key))

    async def _sweep_idle_connections(self) -> None:
        interval = min(self.pool_idle_secs / 4, POOL_SWEEP_MAX_SECONDS)
        while self._pool and not self._closed:
            await asyncio.sleep(interval)
            self._evict_idle_connections()

    def _close_in_background(self, connection: McpConnection) -> None:
        task = asyncio.get_running_loop().create_task(connection.aclose(), context=contextvars.Context())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every connection (each in its own task); stdio children are stopped."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        connections = [self._base, *self._pool.values()]
        self._pool.clear()
        await asyncio.gather(*(connection.aclose() for connection in connections), *self._closing)


async def _list_all_tools(session: ClientSession) -> tuple[list[types.Tool], bool]:
    """Every tool, following `nextCursor`; the flag says the listing was cut at `MAX_LIST_PAGES`."""
    tools: list[types.Tool] = []
    cursor: str | None = None
    seen_cursors: set[str] = set()
    for _ in range(MAX_LIST_PAGES):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor or cursor in seen_cursors:
            return tools, False
        seen_cursors.add(cursor)
    return tools, True

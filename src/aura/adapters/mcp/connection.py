"""One MCP connection owned by one task: a small actor that serves requests from a queue.

anyio cancel scopes and task groups must be exited by the task that entered them. The MCP SDK's
transports and `ClientSession` are full of both, so a session opened in one request's task and
closed in another (or on shutdown) fails with "attempted to exit cancel scope in a different
task". Here a single long-lived task opens the transport and the session, runs every request in
child tasks of its own task group, notices when the transport dies, reconnects on the next
request and closes everything on `aclose()` — all in that one task. Callers only put a job on a
queue and await its future; cancelling the caller cancels the job's child task, which makes the
SDK send `notifications/cancelled` to the server.

See docs/adr/0005-mcp-connection-actor.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession, MCPError, types

import aura
from aura.adapters.mcp._http import too_large_message
from aura.domain.errors import AuraError

T = TypeVar("T")

# What a transport's context manager yields: the SDK's (read stream, write stream) pair.
TransportStreams = tuple[Any, Any]

CLIENT_INFO = types.Implementation(name="aura", title="Aura", version=aura.__version__)
CLOSE_TIMEOUT_SECONDS = 15.0  # stdio shutdown alone may take 2 s grace + 2 s SIGTERM + 2 s reap
LOST_DRAIN_SECONDS = 5.0

_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.ERROR,
    "alert": logging.ERROR,
    "emergency": logging.ERROR,
}


class McpTransport(Protocol):
    """How to reach one MCP server. Implemented by the stdio, SSE and streamable HTTP transports."""

    @property
    def static_headers(self) -> Mapping[str, str]: ...

    @property
    def headers_from_request(self) -> Mapping[str, str]: ...

    def describe(self) -> str:
        """Where the server is (command or URL), safe to log: no credentials."""
        ...

    async def open(
        self,
        stack: AsyncExitStack,
        headers: Mapping[str, str],
        logger: logging.Logger,
        *,
        max_message_bytes: int | None = None,
    ) -> TransportStreams:
        """Enter the SDK transport on `stack` (so the caller's task owns it) and return its streams.

        `max_message_bytes` bounds one incoming message where the transport can: a larger one fails
        only the request it answers (`RESULT_TOO_LARGE`), never the connection.
        """
        ...


class McpConnectError(AuraError):
    """The server could not be reached or did not complete the MCP handshake."""


class McpConnectionLost(AuraError):
    """The connection dropped while a request was in flight (the server may or may not have run it)."""


class McpConnectionClosed(AuraError):
    """The connection was closed by us (`aclose`)."""


class McpResultTooLarge(AuraError):
    """The answer to a request was larger than the transport accepts; the connection is fine."""


@attrs.define(eq=False)
class _Job(Generic[T]):
    operation: Callable[[ClientSession], Awaitable[T]]
    future: asyncio.Future[T]
    resend_budget: int
    idempotent: bool
    # The caller's context: the request runs in it (its log fields, its trace), not in the connection's.
    context: contextvars.Context = attrs.field(factory=contextvars.copy_context)
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    cancelled: bool = False
    requeued: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        self.scope.cancel()

    def resolve(self, value: T) -> None:
        if not self.future.done():
            self.future.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    @property
    def settled(self) -> bool:
        return self.cancelled or self.future.done()


@attrs.frozen
class _Lost:
    generation: int


class _Close:
    pass


_CLOSE = _Close()
_Message = _Job[Any] | _Lost | _Close


class McpConnection:
    """An MCP session to one server with one fixed header set, served by its own task.

    `run(operation)` performs `operation(session)` on the live session, connecting first when
    needed (within `connect_timeout`). A request that finds the session already gone is sent again
    on a fresh connection; a request in flight when the connection drops fails with
    `McpConnectionLost` (it might have run), and the next request reconnects.
    """

    def __init__(
        self,
        transport: McpTransport,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        logger: logging.Logger,
        on_tools_changed: Callable[[], None] | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        self._transport = transport
        self._max_message_bytes = max_message_bytes
        self._headers = dict(headers)
        self._connect_timeout = connect_timeout
        self._logger = logger
        self._on_tools_changed = on_tools_changed
        self._inbox: MemoryObjectSendStream[_Message] | None = None
        self._actor: asyncio.Task[None] | None = None
        self._generation = 0
        self._connect_scope: anyio.CancelScope | None = None
        self._live = False
        self._closed = False
        self.in_use = 0
        self.last_used = time.monotonic()

    @property
    def connected(self) -> bool:
        """Whether a session is currently open and its transport alive."""
        return self._live

    @property
    def closed(self) -> bool:
        return self._closed

    async def run(
        self, operation: Callable[[ClientSession], Awaitable[T]], *, idempotent: bool = False, resend_budget: int = 1
    ) -> T:
        """Run `operation` on the session in the connection's task and return its result.

        Raises what `operation` raises, `McpConnectError` if no session could be opened,
        `McpConnectionLost` if the connection dropped during a non-idempotent request, and
        `McpConnectionClosed` after `aclose()`. Cancelling the caller cancels the request.
        """
        if self._closed:
            raise McpConnectionClosed("the MCP connection is closed")
        inbox = self._ensure_actor()
        job: _Job[T] = _Job(operation, asyncio.get_running_loop().create_future(), resend_budget, idempotent)
        self.last_used = time.monotonic()
        inbox.send_nowait(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancel()
            raise
        finally:
            self.last_used = time.monotonic()

    async def aclose(self) -> None:
        """Close the session (in its own task) and stop the actor; waits a bounded time."""
        if self._closed:
            return
        self._closed = True
        actor, inbox = self._actor, self._inbox
        if actor is None or inbox is None:
            return
        inbox.send_nowait(_CLOSE)
        if self._connect_scope is not None and not self._live:
            self._connect_scope.cancel()  # do not wait out a connect timeout just to close
        try:
            await asyncio.wait_for(asyncio.shield(actor), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            self._logger.warning("MCP connection (%s) did not close in time; abandoning it", self._transport.describe())
            actor.cancel()

    # ------------------------------------------------------------------------------------------
    # The actor: everything below runs in the connection's own task.

    def _ensure_actor(self) -> MemoryObjectSendStream[_Message]:
        if self._actor is not None and self._actor.get_loop() is not asyncio.get_running_loop():
            raise RuntimeError("an MCP connection is bound to the event loop that first used it")
        if self._inbox is None or self._actor is None or self._actor.done():
            send, receive = anyio.create_memory_object_stream[_Message](math.inf)
            self._inbox = send
            # An empty context: the connection outlives the request that opened it and must not keep (or log
            # under) that request's context; each job runs in its own caller's context instead.
            self._actor = asyncio.get_running_loop().create_task(
                self._serve(receive), name="aura-mcp-connection", context=contextvars.Context()
            )
            self._actor.add_done_callback(self._actor_finished)
        return self._inbox

    def _actor_finished(self, actor: asyncio.Task[None]) -> None:
        if not actor.cancelled() and actor.exception() is not None:
            self._logger.error("MCP connection task failed", exc_info=actor.exception())

    async def _serve(self, outbox: MemoryObjectReceiveStream[_Message]) -> None:
        try:
            message: _Message | None = None
            while True:
                if message is None:
                    message = await outbox.receive()
                if isinstance(message, _Close):
                    return
                if isinstance(message, _Lost) or message.settled:
                    message = None
                    continue
                message = await self._serve_connection(message, outbox)
        finally:
            self._live = False
            _fail_queued(outbox, McpConnectionClosed("the MCP connection was closed"))

    async def _serve_connection(self, first: _Job[Any], outbox: MemoryObjectReceiveStream[_Message]) -> _Message | None:
        """Open a session, serve jobs until it is lost or closed; returns a message left to handle."""
        self._generation += 1
        generation = self._generation
        in_flight: set[_Job[Any]] = set()
        connected = False
        leftover: _Message | None = None
        failure: BaseException | None = None
        lost = False
        with anyio.CancelScope(deadline=anyio.current_time() + self._connect_timeout) as connect_scope:
            self._connect_scope = connect_scope
            try:
                async with AsyncExitStack() as stack:
                    session = await self._open_session(stack, generation)
                    connect_scope.deadline = math.inf
                    self._connect_scope = None
                    connected = True
                    self._live = True
                    self._logger.debug("connected to MCP server (%s)", self._transport.describe())
                    async with anyio.create_task_group() as task_group:
                        message: _Message = first
                        while True:
                            if isinstance(message, _Close):
                                leftover = message
                                task_group.cancel_scope.cancel()
                                break
                            if isinstance(message, _Lost):
                                if message.generation == generation:
                                    lost = True
                                    # The dispatcher fails the waiting requests itself; let them settle.
                                    task_group.cancel_scope.deadline = anyio.current_time() + LOST_DRAIN_SECONDS
                                    break
                            elif not message.settled:
                                in_flight.add(message)
                                message.context.run(
                                    task_group.start_soon, self._perform, session, message, generation, in_flight
                                )
                            message = await outbox.receive()
                        self._live = False
            except Exception as error:
                failure = error
            finally:
                self._live = False
                self._connect_scope = None
        if not connected:
            connect_error: AuraError
            if self._closed:
                connect_error = McpConnectionClosed("the MCP connection was closed")
            else:
                if connect_scope.cancelled_caught and failure is None:
                    failure = TimeoutError(f"no answer within {self._connect_timeout:g} s")
                connect_error = McpConnectError(describe_error(failure) if failure is not None else "connection failed")
            first.fail(connect_error)
            # Requests queued while we tried would only time out the same way one after another.
            return _fail_queued(outbox, connect_error)
        if failure is not None:
            self._logger.warning(
                "connection to MCP server (%s) lost: %s; reconnecting on the next call",
                self._transport.describe(),
                describe_error(failure),
            )
        elif lost:
            self._logger.warning(
                "connection to MCP server (%s) closed by the server; reconnecting on the next call",
                self._transport.describe(),
            )
        unfinished: AuraError
        if isinstance(leftover, _Close):
            unfinished = McpConnectionClosed("the MCP connection was closed during the call")
        else:
            reason = describe_error(failure) if failure is not None else "the server closed the connection"
            unfinished = McpConnectionLost(reason)
        for job in in_flight:
            job.fail(unfinished)
        return leftover

    async def _open_session(self, stack: AsyncExitStack, generation: int) -> ClientSession:
        read_stream, write_stream = await self._transport.open(
            stack, self._headers, self._logger, max_message_bytes=self._max_message_bytes
        )
        watched = _EndWatchingReadStream(read_stream, lambda: self._mark_lost(generation))
        session = await stack.enter_async_context(
            ClientSession(
                watched,
                write_stream,
                client_info=CLIENT_INFO,
                message_handler=self._handle_message,
                logging_callback=self._handle_server_log,
            )
        )
        await session.initialize()
        return session

    async def _perform(
        self, session: ClientSession, job: _Job[Any], generation: int, in_flight: set[_Job[Any]]
    ) -> None:
        job.requeued = False
        try:
            with job.scope:
                if job.cancelled:
                    return
                if not self._live or generation != self._generation:
                    self._resend_or_fail(job, "the connection was lost before the request was sent")
                    return
                try:
                    result = await job.operation(session)
                except MCPError as error:
                    if _over_size_limit(error):
                        # Only this request's response stream was given up; the session is fine.
                        job.fail(McpResultTooLarge(too_large_message(None, self._max_message_bytes or 0)))
                    elif _session_unknown(error):
                        # The server restarted and forgot our session: it did not run the request.
                        self._mark_lost(generation)
                        self._resend_or_fail(job, f"the server no longer knows the session ({error.message})")
                    elif error.code == types.CONNECTION_CLOSED and job.idempotent:
                        self._mark_lost(generation)
                        self._resend_or_fail(job, "the connection was lost")
                    elif error.code == types.CONNECTION_CLOSED:
                        self._mark_lost(generation)
                        job.fail(McpConnectionLost("the connection to the server was lost during the call"))
                    else:
                        job.fail(error)
                except Exception as error:
                    job.fail(error)
                else:
                    job.resolve(result)
        finally:
            # A job cancelled with the whole task group stays listed, to be failed by the caller.
            if job.settled or job.requeued:
                in_flight.discard(job)

    def _resend_or_fail(self, job: _Job[Any], reason: str) -> None:
        if job.resend_budget > 0 and self._inbox is not None and not self._closed:
            job.resend_budget -= 1
            job.requeued = True
            job.scope = anyio.CancelScope()
            self._inbox.send_nowait(job)
        else:
            job.fail(McpConnectionLost(reason))

    def _mark_lost(self, generation: int) -> None:
        if generation == self._generation and self._live and self._inbox is not None:
            self._live = False
            self._inbox.send_nowait(_Lost(generation))

    async def _handle_message(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, Exception):
            self._logger.debug("MCP transport reported: %s", describe_error(message))
        elif isinstance(message, types.ToolListChangedNotification) and self._on_tools_changed is not None:
            self._on_tools_changed()

    async def _handle_server_log(self, params: types.LoggingMessageNotificationParams) -> None:
        level = _LOG_LEVELS.get(str(params.level), logging.INFO)
        self._logger.log(level, "server log%s: %s", f" [{params.logger}]" if params.logger else "", params.data)


def _fail_queued(outbox: MemoryObjectReceiveStream[_Message], error: BaseException) -> _Message | None:
    """Fail every job waiting in the queue; returns a close request found there, if any."""
    close: _Message | None = None
    while True:
        try:
            message = outbox.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return close
        if isinstance(message, _Close):
            close = message
        elif isinstance(message, _Job):
            message.fail(error)


def _over_size_limit(error: MCPError) -> bool:
    # The streamable HTTP client gives up a response stream whose event is over `max_sse_event_size`.
    return error.code == types.CONNECTION_CLOSED and "byte limit" in error.message


def _session_unknown(error: MCPError) -> bool:
    # Streamable HTTP answers a stale Mcp-Session-Id with 404; the SDK surfaces it as INVALID_REQUEST.
    return error.code == types.INVALID_REQUEST and "session" in error.message.lower()


class _EndWatchingReadStream:
    """Passes the transport's read stream through and reports when it ends (the server went away).

    The SDK only fails requests that are waiting at that moment; noticing the end lets the actor
    reconnect before the next request instead of failing it on a dead session.
    """

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    def __aiter__(self) -> _EndWatchingReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _EndWatchingReadStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


_URL_QUERY = re.compile(r"(https?://[^\s'\"?#]*)[?#][^\s'\"]*")
_URL_USERINFO = re.compile(r"(https?://)[^/\s'\"@]*@")


def describe_error(error: BaseException) -> str:
    """A one-line description of an error for logs and tool results, without URL credentials."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if isinstance(error, MCPError):
        text = error.message
    elif isinstance(error, AuraError | TimeoutError) and str(error):
        text = str(error)
    else:
        detail = str(error)
        text = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return redact_url(text.strip().splitlines()[0] if text.strip() else text)


def redact_url(text: str) -> str:
    """Drop userinfo and query strings from URLs in `text` (either may carry a credential)."""
    return _URL_USERINFO.sub(r"\1***@", _URL_QUERY.sub(r"\1?…", text))

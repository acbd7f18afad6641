"""The supervised-turn runner, and the streamed response built on it.

`TurnRunner` runs one turn in a task and feeds each of its events to a sink, racing it against the
stream timeout, the first-chunk timeout (when asked) and the phase-2 shutdown signal; it reports how
the turn ended (`Termination`) and cancels it (with its in-flight tool calls) when it did not end by
itself or when its caller is cancelled (a client that left). Both answers use it, each with its sink:

    agent.run_turn ──► TurnRunner ──► sink
                                       ├─ SSE: encode frames ──► asyncio.Queue(streaming_buffer_size) ──► writer
                                       └─ JSON: collect text, usage and the final event ──► one `chat.completion`

The SSE queue applies backpressure (the producer waits when it is full, nothing is dropped); the
writer sends heartbeats and notices a client that left. Whatever ends a stream, the client receives
a final chunk and `[DONE]` unless it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.http.observer import TurnObservation
from aura.adapters.http.options import ServerOptions
from aura.adapters.http.shutdown import ShutdownCoordinator
from aura.adapters.http.sse import HEARTBEAT, ChunkEncoder
from aura.domain.agent import Agent
from aura.domain.events import TurnErrorKind, TurnEvent, TurnFinished
from aura.domain.messages import Message
from aura.domain.tools import RequestContext

logger = logging.getLogger(__name__)

# How long a cancelled turn may take to clean up (tools honouring cancellation, MCP notifications).
TURN_CLEANUP_SECS = 10.0
MAX_FRAMES_PER_WRITE = 64


class Termination(enum.Enum):
    COMPLETE = "complete"
    FIRST_CHUNK_TIMEOUT = "first_chunk_timeout"
    STREAM_TIMEOUT = "stream_timeout"
    SHUTDOWN = "shutdown"
    FAILED = "failed"


def termination_note(termination: Termination, options: ServerOptions) -> str | None:
    """The short text a client sees when the server ends its stream early."""
    if termination is Termination.FIRST_CHUNK_TIMEOUT:
        return (
            f"The model did not start responding within {options.first_chunk_timeout_secs:g} seconds, "
            "so the request was stopped. Please try again."
        )
    if termination is Termination.STREAM_TIMEOUT:
        return f"The response took longer than the {options.streaming_timeout_secs:g}-second limit and was stopped."
    if termination is Termination.SHUTDOWN:
        return "The server is shutting down, so this response was cut short. Please try again."
    if termination is Termination.FAILED:
        return "An internal error ended this response. Please try again."
    return None


async def settle(task: asyncio.Task[Any], what: str) -> None:
    """Wait (bounded) for a cancelled task to finish its cleanup; never raises."""
    if task.done():
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", what, exc_info=task.exception())
        return
    done, _ = await asyncio.wait({task}, timeout=TURN_CLEANUP_SECS)
    if not done:
        logger.warning("%s did not finish within %g s after cancellation", what, TURN_CLEANUP_SECS)


TurnSink = Callable[[TurnEvent], Awaitable[None]]
"""Receives a turn's events in order; may wait (backpressure)."""


class TurnRunner:
    """Runs one turn under the server's supervision and feeds its events to a sink.

    `first_chunk_timeout` applies `FIRST_CHUNK_TIMEOUT_SECS` (streams: a client sees nothing until
    the first event); the stream timeout and shutdown always apply. After `run`, `turn_error` says
    whether the turn ended with a `TurnError`.
    """

    def __init__(
        self,
        agent: Agent,
        history: Sequence[Message],
        context: RequestContext,
        options: ServerOptions,
        coordinator: ShutdownCoordinator,
        observation: TurnObservation | None = None,
        *,
        first_chunk_timeout: bool,
    ) -> None:
        self.agent = agent
        self.history = history
        self.context = context
        self.options = options
        self.coordinator = coordinator
        self.observation = observation
        self.first_chunk_timeout = first_chunk_timeout
        self.first_event: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done once the turn produced its first event (for the first-chunk timeout)."""
        self.turn_error = False
        """The turn ended with a `TurnError` (provider failure, tool-round limit, context overflow)."""
        self.turn_error_kind: TurnErrorKind | None = None

    async def run(self, sink: TurnSink) -> Termination:
        """Run the turn to its end (or the server's); never raises for the turn's own failures."""
        request_id = self.context.request_id
        turn = asyncio.create_task(self._consume(sink), name=f"turn:{request_id}")
        try:
            termination = await self._supervise(turn)
            if termination is Termination.COMPLETE and (turn.cancelled() or turn.exception() is not None):
                termination = Termination.FAILED  # logged by `settle` below
            if termination is not Termination.COMPLETE:
                logger.info("turn %s ended early: %s", request_id, termination.value)
                turn.cancel()  # takes effect at the turn's next await: it cannot feed the sink after we return
            return termination
        finally:
            if not turn.done():
                turn.cancel()
            await settle(turn, f"turn {request_id}")

    async def _consume(self, sink: TurnSink) -> None:
        # closed on exit, so an abandoned turn releases its tools at once
        async with contextlib.aclosing(self.agent.run_turn(self.history, self.context)) as events:
            first_event = self.first_event
            async for event in events:
                if not first_event.done():
                    first_event.set_result(None)
                if self.observation is not None:
                    self.observation.observe(event)
                if isinstance(event, TurnFinished) and event.error is not None:
                    self.turn_error = True
                    self.turn_error_kind = event.error.kind
                await sink(event)

    async def _supervise(self, turn: asyncio.Task[None]) -> Termination:
        loop = asyncio.get_running_loop()
        started = loop.time()
        options = self.options
        stream_deadline = started + options.streaming_timeout_secs if options.streaming_timeout_secs > 0 else None
        first_deadline = (
            started + options.first_chunk_timeout_secs
            if self.first_chunk_timeout and options.first_chunk_timeout_secs > 0
            else None
        )
        first = self.first_event
        with self.coordinator.stop_signal() as stop:
            while True:
                waiters: set[asyncio.Future[Any]] = {turn, stop}
                deadlines = [stream_deadline] if stream_deadline is not None else []
                if first_deadline is not None and not first.done():
                    waiters.add(first)
                    deadlines.append(first_deadline)
                timeout = max(0.0, min(deadlines) - loop.time()) if deadlines else None
                done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if turn in done:
                    return Termination.COMPLETE
                if stop in done:
                    return Termination.SHUTDOWN
                now = loop.time()
                if stream_deadline is not None and now >= stream_deadline:
                    return Termination.STREAM_TIMEOUT
                if first_deadline is not None and not first.done() and now >= first_deadline:
                    return Termination.FIRST_CHUNK_TIMEOUT


class SseStream:
    """Streams one turn to one client: a `TurnRunner` whose sink encodes frames into the writer's queue."""

    def __init__(
        self,
        agent: Agent,
        history: Sequence[Message],
        context: RequestContext,
        encoder: ChunkEncoder,
        options: ServerOptions,
        coordinator: ShutdownCoordinator,
        observation: TurnObservation | None = None,
    ) -> None:
        self.context = context
        self.encoder = encoder
        self.options = options
        # None marks the end of the stream.
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=options.streaming_buffer_size)
        self.runner = TurnRunner(agent, history, context, options, coordinator, observation, first_chunk_timeout=True)
        self.termination: Termination | None = None
        self.disconnected = False

    @property
    def turn_error(self) -> bool:
        """The turn ended with a `TurnError` (provider failure, tool-round limit, context overflow)."""
        return self.runner.turn_error

    @property
    def turn_error_kind(self) -> TurnErrorKind | None:
        """The kind of that error (`overloaded` when no connection to the provider could be had)."""
        return self.runner.turn_error_kind

    async def run(self, response: web.StreamResponse) -> None:
        """Write the whole stream to a prepared response; returns when it ended or the client left."""
        producer = asyncio.create_task(self._produce(), name=f"sse-producer:{self.context.request_id}")
        try:
            await self._write(response)
        except ConnectionError:
            self.disconnected = True
            logger.info("client disconnected from stream %s; cancelling the turn", self.context.request_id)
        finally:
            if not producer.done():
                producer.cancel()
            await settle(producer, f"stream {self.context.request_id}")

    # --- writer -------------------------------------------------------------------------------

    async def _write(self, response: web.StreamResponse) -> None:
        for frame in self.encoder.session_info():
            await response.write(frame)
        await response.write(HEARTBEAT)  # the first tick fires at once
        queue = self.queue
        heartbeat = _Heartbeat(queue, self.options.heartbeat_interval_secs)
        try:
            while True:
                queued = await queue.get()
                # Frames that are already waiting go out in one write: one syscall instead of one per
                # token when the client keeps up with a fast model, and the same bytes either way.
                batch: list[bytes] = []
                while queued is not None:
                    batch.append(queued)
                    if queue.empty() or len(batch) >= MAX_FRAMES_PER_WRITE:
                        break
                    queued = queue.get_nowait()
                if batch:
                    await response.write(batch[0] if len(batch) == 1 else b"".join(batch))
                if queued is None:
                    break
        finally:
            heartbeat.cancel()
        await response.write_eof()

    # --- producer -----------------------------------------------------------------------------

    async def _produce(self) -> None:
        termination = await self.runner.run(self._encode)
        self.termination = termination
        for frame in self.encoder.interrupted(termination_note(termination, self.options)):
            await self.queue.put(frame)
        await self.queue.put(None)

    async def _encode(self, event: TurnEvent) -> None:
        for frame in self.encoder.encode(event):
            await self.queue.put(frame)


class _Heartbeat:
    """Queues a `: heartbeat` comment every `interval` seconds, unless the queue is full (frames are waiting anyway).

    A timer per stream rather than a timeout around every wait for a frame, which cost a timer per token.
    """

    def __init__(self, queue: asyncio.Queue[bytes | None], interval: float) -> None:
        self._queue = queue
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(interval, self._beat)

    def _beat(self) -> None:
        if not self._queue.full():
            self._queue.put_nowait(HEARTBEAT)
        self._timer = self._loop.call_later(self._interval, self._beat)

    def cancel(self) -> None:
        self._timer.cancel()

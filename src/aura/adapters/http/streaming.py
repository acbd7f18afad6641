"""The supervised-turn runner, and the streamed response built on it.

`TurnRunner` runs one turn in a task and feeds each of its events to a sink, racing it against the
stream timeout, the first-chunk timeout (when asked) and the phase-2 shutdown signal; it reports how
the turn ended (`Termination`) and cancels it (with its in-flight tool calls) when it did not end by
itself or when its caller is cancelled (a client that left). Both answers use it, each with its sink:

    agent.run_turn ──► TurnRunner ──► sink
                                       ├─ SSE: encode frames ──► FrameBuffer(streaming_buffer_size) ──► writer
                                       └─ JSON: collect text, usage and the final event ──► one `chat.completion`

The SSE frame buffer applies backpressure (the producer waits when it is full, nothing is dropped); the
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
        """Wait for whichever comes first: the turn's end, the shutdown signal or a deadline.

        Callbacks on one future rather than `asyncio.wait` in a loop: this runs once per request, and the
        waiting costs nothing per token either way.
        """
        loop = asyncio.get_running_loop()
        options = self.options
        outcome: asyncio.Future[Termination] = loop.create_future()

        def decide(termination: Termination) -> None:
            if not outcome.done():
                outcome.set_result(termination)

        def turn_ended(_: asyncio.Task[None]) -> None:
            decide(Termination.COMPLETE)

        def stop_requested(signal: asyncio.Future[None]) -> None:
            if not signal.cancelled():
                decide(Termination.SHUTDOWN)

        timers: list[asyncio.TimerHandle] = []
        started = loop.time()
        if options.streaming_timeout_secs > 0:
            timers.append(loop.call_at(started + options.streaming_timeout_secs, decide, Termination.STREAM_TIMEOUT))
        first = self.first_event

        def first_chunk_due() -> None:
            if not first.done():  # the first event may have come in the same loop iteration
                decide(Termination.FIRST_CHUNK_TIMEOUT)

        if self.first_chunk_timeout and options.first_chunk_timeout_secs > 0 and not first.done():
            first_timer = loop.call_at(started + options.first_chunk_timeout_secs, first_chunk_due)
            timers.append(first_timer)
            first.add_done_callback(lambda _: first_timer.cancel())
        turn.add_done_callback(turn_ended)
        try:
            with self.coordinator.stop_signal() as stop:
                stop.add_done_callback(stop_requested)
                while True:
                    termination = await outcome
                    # When several fire in one loop iteration: a turn that ended wins, then the shutdown, as
                    # with the state checked in that order; a first event that came with its deadline wins too.
                    if turn.done():
                        return Termination.COMPLETE
                    if stop.done() and not stop.cancelled():
                        return Termination.SHUTDOWN
                    if termination is Termination.FIRST_CHUNK_TIMEOUT and first.done():
                        outcome = loop.create_future()
                        continue
                    return termination
        finally:
            turn.remove_done_callback(turn_ended)
            for timer in timers:
                timer.cancel()


class SseStream:
    """Streams one turn to one client: a `TurnRunner` whose sink encodes frames into the writer's frame buffer."""

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
        self.frames = FrameBuffer(options.streaming_buffer_size)
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
        frames = self.frames
        heartbeat = _Heartbeat(frames, self.options.heartbeat_interval_secs)
        try:
            # Frames that are already waiting go out in one write: one syscall instead of one per token when
            # the client keeps up with a fast model, and the same bytes either way.
            while batch := await frames.take(MAX_FRAMES_PER_WRITE):
                await response.write(batch[0] if len(batch) == 1 else b"".join(batch))
        finally:
            heartbeat.cancel()
        await response.write_eof()

    # --- producer -----------------------------------------------------------------------------

    async def _produce(self) -> None:
        termination = await self.runner.run(self._encode)
        self.termination = termination
        for frame in self.encoder.interrupted(termination_note(termination, self.options)):
            await self.frames.put(frame)
        self.frames.close()

    async def _encode(self, event: TurnEvent) -> None:
        frames = self.frames
        for frame in self.encoder.encode(event):
            if frames.full():  # the client is slower than the model: wait for room
                await frames.put(frame)
            else:  # the common case, without a coroutine per token
                frames.put_nowait(frame)


class FrameBuffer:
    """The frames between one turn and its writer: at most `limit` wait, then the producer waits for room.

    One producer, one consumer, so lighter than an `asyncio.Queue` (a profiled tenth of a streamed token's
    server CPU): a frame is one list append, and the writer takes every frame waiting in one call, one
    wake-up per batch rather than per frame. Nothing is dropped; after `close()` nothing more is accepted.
    """

    def __init__(self, limit: int) -> None:
        self._frames: list[bytes] = []
        self._limit = limit
        self._closed = False
        self._reader: asyncio.Future[None] | None = None  # the writer, waiting for frames
        self._room: asyncio.Future[None] | None = None  # the producer, waiting for room

    def full(self) -> bool:
        return len(self._frames) >= self._limit

    def put_nowait(self, frame: bytes) -> None:
        """Add a frame, full or not (a heartbeat may overshoot by one); ignored once closed."""
        if self._closed:
            return
        self._frames.append(frame)
        self._wake_reader()

    async def put(self, frame: bytes) -> None:
        """Add a frame once there is room."""
        while self.full() and not self._closed:
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            await self._room
        self.put_nowait(frame)

    def close(self) -> None:
        """The stream ends after the frames already added."""
        self._closed = True
        self._wake_reader()

    async def take(self, most: int) -> list[bytes]:
        """Up to `most` waiting frames, oldest first, waiting for one if there is none; `[]` once closed and empty."""
        while not self._frames:
            if self._closed:
                return []
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        if len(self._frames) <= most:
            taken, self._frames = self._frames, []
        else:
            taken = self._frames[:most]
            del self._frames[:most]
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)
        return taken

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)


class _Heartbeat:
    """Adds a `: heartbeat` comment every `interval` seconds, unless the buffer is full (frames are waiting anyway).

    A timer per stream rather than a timeout around every wait for a frame, which cost a timer per token.
    """

    def __init__(self, frames: FrameBuffer, interval: float) -> None:
        self._frames = frames
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(interval, self._beat)

    def _beat(self) -> None:
        if not self._frames.full():
            self._frames.put_nowait(HEARTBEAT)
        self._timer = self._loop.call_later(self._interval, self._beat)

    def cancel(self) -> None:
        self._timer.cancel()

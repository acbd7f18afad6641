"""Two-phase graceful shutdown, so a deploy never cuts a stream without its closing frames.

Phase 1: the gate closes; every new request, `/health` included, gets 503 JSON at once while
in-flight turns keep running. Grace period: wait until no turn is active or the shutdown timeout
elapses. Phase 2: every still-running turn is told to stop and cancelled: a stream writes its
closing frames (final chunk + `[DONE]`), a non-streaming request is answered 503 JSON.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractContextManager

from aiohttp import web
from aiohttp.typedefs import Middleware

from aura.adapters.http.errors import UNAVAILABLE, ApiError, Handler

logger = logging.getLogger(__name__)

SHUTTING_DOWN_MESSAGE = "Server is shutting down"


class ShutdownCoordinator:
    """Counts active turns and carries the shutdown signals to them."""

    def __init__(self) -> None:
        self.shutting_down = False
        self.turns_must_stop = asyncio.Event()
        """Phase 2: set when the grace period is over; every running turn (stream or not) stops."""
        self._stop_signals: set[asyncio.Future[None]] = set()
        self._active_turns = 0
        self._active_streams = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_turns(self) -> int:
        return self._active_turns

    @property
    def active_streams(self) -> int:
        return self._active_streams

    def track(self, *, streaming: bool) -> AbstractContextManager[None]:
        """Count one running turn (and stream) for the grace-period early exit."""
        return _TrackedTurn(self, streaming)

    def stop_signal(self) -> AbstractContextManager[asyncio.Future[None]]:
        """A future that completes when turns must stop (phase 2), for one turn to wait on.

        Cheaper than a task waiting on `turns_must_stop` per turn: such a waiter is removed from a list
        as long as the number of open turns, so with thousands of streams each one's end cost O(streams).
        """
        return _StopSignal(self)

    def _turn_started(self, streaming: bool) -> None:
        self._active_turns += 1
        self._idle.clear()
        if streaming:
            self._active_streams += 1

    def _turn_ended(self, streaming: bool) -> None:
        self._active_turns -= 1
        if self._active_turns == 0:
            self._idle.set()
        if streaming:
            self._active_streams -= 1

    def begin(self) -> None:
        """Phase 1: close the gate."""
        self.shutting_down = True

    async def wait_idle(self, within: float, *, interrupt: asyncio.Event | None = None) -> bool:
        """Wait for every active turn to end; False when `within` seconds elapsed or `interrupt` was set first."""
        waiters = {asyncio.ensure_future(self._idle.wait())}
        if interrupt is not None:
            waiters.add(asyncio.ensure_future(interrupt.wait()))
        try:
            await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._idle.is_set()

    async def stop_turns(self, within: float) -> bool:
        """Phase 2: tell every turn to stop; wait (bounded) until each has its closing answer.

        Streams queue their closing frames (`[DONE]`), non-streaming requests their 503 answer.
        """
        self.turns_must_stop.set()
        for signal in self._stop_signals:
            if not signal.done():
                signal.set_result(None)
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


def shutdown_gate(coordinator: ShutdownCoordinator) -> Middleware:
    """The first middleware: once shutdown began, every request gets 503 before anything else runs."""

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if coordinator.shutting_down:
            return ApiError(503, SHUTTING_DOWN_MESSAGE, UNAVAILABLE).response({"Connection": "close"})
        return await handler(request)

    return gate


# Context managers as small classes rather than `@contextmanager` generators: both are entered once per request.


class _TrackedTurn:
    __slots__ = ("_coordinator", "_streaming")

    def __init__(self, coordinator: ShutdownCoordinator, streaming: bool) -> None:
        self._coordinator = coordinator
        self._streaming = streaming

    def __enter__(self) -> None:
        self._coordinator._turn_started(self._streaming)

    def __exit__(self, *exc_info: object) -> None:
        self._coordinator._turn_ended(self._streaming)


class _StopSignal:
    __slots__ = ("_coordinator", "_signal")

    def __init__(self, coordinator: ShutdownCoordinator) -> None:
        self._coordinator = coordinator
        self._signal: asyncio.Future[None] | None = None

    def __enter__(self) -> asyncio.Future[None]:
        signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._coordinator.turns_must_stop.is_set():
            signal.set_result(None)
        self._coordinator._stop_signals.add(signal)
        self._signal = signal
        return signal

    def __exit__(self, *exc_info: object) -> None:
        signal = self._signal
        if signal is not None:
            self._coordinator._stop_signals.discard(signal)
            signal.cancel()

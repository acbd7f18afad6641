"""One client per running event loop, for adapters whose SDK client pools connections.

A pooled connection belongs to the event loop that opened it. A program that embeds the library and calls
`asyncio.run` once per question with the same agent would otherwise hand the second loop the first loop's
connections: the request fails with "Event loop is closed", or worse, reaches the provider and then fails, so a
retry sends it twice. The server runs one loop and never notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PerEventLoop(Generic[T]):
    """Makes a client with `create()` in the running loop on first use, and a new one when the loop changes.

    The previous loop's client is closed with `close()` as far as that is still possible (its loop is usually
    closed already, so closing its connections may fail; that failure is logged at DEBUG and ignored).
    """

    def __init__(self, create: Callable[[], T], close: Callable[[T], Awaitable[object]]) -> None:
        self._create = create
        self._close = close
        self._client: T | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            await self._close_stale()
        if self._client is None:
            self._client = self._create()
            self._loop = loop
        return self._client

    @property
    def current(self) -> T | None:
        """The client made for the last loop that used it, if any (without making one)."""
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is not asyncio.get_running_loop():
            await self._close_stale()
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await self._close(client)

    async def _close_stale(self) -> None:
        stale, self._client, self._loop = self._client, None, None
        if stale is None:
            return
        try:
            await self._close(stale)
        except Exception as error:  # the old loop's transports cannot be closed from this one
            logger.debug("closing a client of a previous event loop failed: %r", error)

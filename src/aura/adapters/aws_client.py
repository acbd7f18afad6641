"""A lazily created aioboto3 client, shared by the Bedrock chat model, embedder and knowledge-base store.

Creating a client loads the service model, which is slow, so each adapter instance makes one on first use and
keeps it until `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aioboto3
from botocore.config import Config

logger = logging.getLogger(__name__)


class LazyAwsClient:
    """One aioboto3 client for `service`; `get()` creates it once, `aclose()` closes it (and allows a new one)."""

    def __init__(
        self,
        service: str,
        *,
        region: str | None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        request_timeout: float = 600.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 1,
    ) -> None:
        self.service = service
        self._region = region or None
        self._profile = profile
        self._endpoint_url = endpoint_url
        self._config = Config(
            read_timeout=request_timeout,
            connect_timeout=min(request_timeout, connect_timeout),
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
        )
        self._client: Any = None
        self._session: aioboto3.Session | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def session(self) -> aioboto3.Session | None:
        """The session behind the client, once created (to look up the credentials it resolved)."""
        return self._session

    async def get(self) -> Any:
        """The client; botocore errors (bad profile, no region) propagate for the caller to word."""
        if self._loop is not asyncio.get_running_loop():
            await self._leave_previous_loop()
        async with self._lock:
            if self._client is None:
                session = aioboto3.Session(profile_name=self._profile, region_name=self._region)
                stack = contextlib.AsyncExitStack()
                try:
                    self._client = await stack.enter_async_context(
                        session.client(self.service, endpoint_url=self._endpoint_url, config=self._config)
                    )
                except BaseException:
                    await stack.aclose()
                    raise
                self._session, self._stack = session, stack
            return self._client

    async def _leave_previous_loop(self) -> None:
        """A new event loop (a program calling asyncio.run per question): the previous loop's client holds
        connections of that loop, and the lock belongs to it too."""
        stale, self._stack, self._client, self._session = self._stack, None, None, None
        self._lock, self._loop = asyncio.Lock(), asyncio.get_running_loop()
        if stale is not None:
            try:
                await stale.aclose()
            except Exception as error:  # its transports cannot be closed from this loop
                logger.debug("closing the %s client of a previous event loop failed: %r", self.service, error)

    async def aclose(self) -> None:
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            await self._leave_previous_loop()
        async with self._lock:
            stack, self._stack, self._client, self._session = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

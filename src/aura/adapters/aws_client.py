"""A lazily created aioboto3 client, shared by the Bedrock chat model, embedder and knowledge-base store.

Creating a client loads the service model, which is slow, so each adapter instance makes one on first use (per
event loop) and keeps it until `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aioboto3
from botocore.config import Config

from aura.adapters.per_event_loop import PerEventLoop


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
        # one client (and the lock that makes it once) per event loop: its connections belong to that loop
        self._per_loop = PerEventLoop(_LoopClient, _LoopClient.aclose)

    @property
    def session(self) -> aioboto3.Session | None:
        """The session behind the client, once created (to look up the credentials it resolved)."""
        current = self._per_loop.current
        return current.session if current is not None else None

    async def get(self) -> Any:
        """The client; botocore errors (bad profile, no region) propagate for the caller to word."""
        current = await self._per_loop.get()
        async with current.lock:
            if current.client is None:
                session = aioboto3.Session(profile_name=self._profile, region_name=self._region)
                stack = contextlib.AsyncExitStack()
                try:
                    current.client = await stack.enter_async_context(
                        session.client(self.service, endpoint_url=self._endpoint_url, config=self._config)
                    )
                except BaseException:
                    await stack.aclose()
                    raise
                current.session, current.stack = session, stack
            return current.client

    async def aclose(self) -> None:
        await self._per_loop.aclose()


class _LoopClient:
    """The client of one event loop, once made, with the lock that makes it only once."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.client: Any = None
        self.session: aioboto3.Session | None = None
        self.stack: contextlib.AsyncExitStack | None = None

    async def aclose(self) -> None:
        async with self.lock:
            stack, self.stack, self.client, self.session = self.stack, None, None, None
        if stack is not None:
            await stack.aclose()

"""A session store in Redis, shared by every worker and pod that points at the same server.

`put_if_absent` is `SET NX`, `take` is `GETDEL`: both atomic in Redis, which is what lets a decision posted to one
worker be applied exactly once even when two workers race for it. Needs Redis 6.2 or newer (GETDEL).
"""

from __future__ import annotations

import math
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from yarl import URL

from aura.adapters.sessions._codec import check_ttl, decode, encode
from aura.ports.session_store import JsonObject, SessionStoreError

DEFAULT_KEY_PREFIX = "aura:"


class RedisSessionStore:
    """Entries under `<key_prefix><namespace>:<key>`, with Redis's own expiry (`PX`)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        connect_timeout_secs: float = 5.0,
        operation_timeout_secs: float = 5.0,
    ) -> None:
        self._description = f"redis at {redacted_redis_url(url)}"
        try:
            self._client: aioredis.Redis = aioredis.Redis.from_url(
                url,
                socket_connect_timeout=connect_timeout_secs,
                socket_timeout=operation_timeout_secs,
                decode_responses=False,
            )
        except ValueError as error:
            raise SessionStoreError(f"invalid Redis URL {redacted_redis_url(url)}: {error}") from None
        self._prefix = key_prefix

    @property
    def shared(self) -> bool:
        return True

    @property
    def description(self) -> str:
        return self._description

    async def ping(self) -> None:
        """Fail with a clear error when the server cannot be reached (used at startup and by readiness checks)."""
        await self._run(self._client.ping())

    async def put(self, namespace: str, key: str, value: JsonObject, ttl_secs: float) -> None:
        check_ttl(ttl_secs)
        await self._run(self._client.set(self._key(namespace, key), encode(value), px=_millis(ttl_secs)))

    async def put_if_absent(self, namespace: str, key: str, value: JsonObject, ttl_secs: float) -> bool:
        check_ttl(ttl_secs)
        stored = await self._run(
            self._client.set(self._key(namespace, key), encode(value), px=_millis(ttl_secs), nx=True)
        )
        return bool(stored)

    async def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        raw = await self._run(self._client.get(self._key(namespace, key)))
        return None if raw is None else decode(raw)

    async def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        raw = await self._run(self._client.getdel(self._key(namespace, key)))
        return None if raw is None else decode(raw)

    async def delete(self, namespace: str, key: str) -> bool:
        removed = await self._run(self._client.delete(self._key(namespace, key)))
        return bool(removed)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _key(self, namespace: str, key: str) -> str:
        return f"{self._prefix}{namespace}:{key}"

    async def _run(self, operation: Any) -> Any:
        try:
            return await operation
        except redis.exceptions.RedisError as error:
            # the client's messages name host and port, never the password; say which store failed
            raise SessionStoreError(f"session store {self._description} failed: {error}") from None


def _millis(ttl_secs: float) -> int:
    return max(1, math.ceil(ttl_secs * 1000))


def redacted_redis_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and errors."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "<unparseable URL>"
    if parsed.password is not None:
        parsed = parsed.with_password("***")
    return str(parsed)

"""The port for state that must outlive one request and may have to be seen by another worker or pod.

Pending approvals and their decisions, parked turns, stored Responses and A2A tasks all live here. Values are
JSON-compatible mappings, so any adapter can store them as text; every entry has a time to live, so a store never
grows without bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

JsonObject = Mapping[str, Any]


class SessionStoreError(Exception):
    """The store could not be reached or answered wrongly; the message names the store, never a password."""


@runtime_checkable
class SessionStore(Protocol):
    """Namespaced key → JSON object entries with a time to live.

    `put_if_absent` and `take` are atomic across every process that shares the store: they are what makes a decision
    apply exactly once when two workers race for it.
    """

    @property
    def shared(self) -> bool:
        """True when other processes see the same entries (Redis); False for a per-process store."""
        ...

    @property
    def description(self) -> str:
        """What the store is, for logs and errors (e.g. `redis at 127.0.0.1:6379`), without credentials."""
        ...

    async def put(self, namespace: str, key: str, value: JsonObject, ttl_secs: float) -> None:
        """Store `value`, replacing any entry under the same key; it expires after `ttl_secs` seconds."""
        ...

    async def put_if_absent(self, namespace: str, key: str, value: JsonObject, ttl_secs: float) -> bool:
        """Store `value` only if no live entry has this key; True when it was stored."""
        ...

    async def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        """The live entry, or None when there is none or it has expired."""
        ...

    async def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        """Remove and return the live entry; of several concurrent callers exactly one gets it."""
        ...

    async def delete(self, namespace: str, key: str) -> bool:
        """Remove the entry; True when a live one was there."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...

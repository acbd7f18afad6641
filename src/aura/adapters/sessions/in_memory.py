"""A session store in this process's memory: the default for one worker, invisible to any other."""

from __future__ import annotations

from typing import Any

from aura.adapters.sessions._codec import check_ttl, decode, encode
from aura.ports.clock import Clock, SystemClock
from aura.ports.session_store import JsonObject, SessionStoreError

# expired entries are swept on writes once this many writes have happened since the last sweep, so a store that is
# only written to still gives its memory back
SWEEP_EVERY_WRITES = 256


class InMemorySessionStore:
    """Entries in a dict, serialised to JSON on the way in so callers never share mutable state with the store.

    `max_entries` bounds memory: a write that would exceed it first drops expired entries, then the entry closest to
    expiry.
    """

    def __init__(self, *, clock: Clock | None = None, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._clock: Clock = clock or SystemClock()
        self._max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[float, str]] = {}
        self._writes_since_sweep = 0
        self._closed = False

    @property
    def shared(self) -> bool:
        return False

    @property
    def description(self) -> str:
        return "in-memory session store (this process only)"

    async def put(self, namespace: str, key: str, value: JsonObject, ttl_secs: float) -> None:
        self._write((namespace, key), value, ttl_secs)

    async def put_if_absent(self, namespace: str, key: str, value: JsonObject, ttl_secs: float) -> bool:
        if self._live((namespace, key)) is not None:
            return False
        self._write((namespace, key), value, ttl_secs)
        return True

    async def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        text = self._live((namespace, key))
        return None if text is None else decode(text)

    async def take(self, namespace: str, key: str) -> dict[str, Any] | None:
        text = self._live((namespace, key))
        if text is None:
            return None
        del self._entries[(namespace, key)]
        return decode(text)

    async def delete(self, namespace: str, key: str) -> bool:
        if self._live((namespace, key)) is None:
            return False
        del self._entries[(namespace, key)]
        return True

    async def aclose(self) -> None:
        self._closed = True
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, entry_key: tuple[str, str]) -> str | None:
        self._check_open()
        entry = self._entries.get(entry_key)
        if entry is None:
            return None
        expires_at, text = entry
        if expires_at <= self._clock.monotonic():
            del self._entries[entry_key]
            return None
        return text

    def _write(self, entry_key: tuple[str, str], value: JsonObject, ttl_secs: float) -> None:
        self._check_open()
        check_ttl(ttl_secs)
        text = encode(value)
        now = self._clock.monotonic()
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= SWEEP_EVERY_WRITES:
            self._sweep(now)
        if entry_key not in self._entries and len(self._entries) >= self._max_entries:
            self._sweep(now)
            if len(self._entries) >= self._max_entries:
                soonest = min(self._entries, key=lambda k: self._entries[k][0])
                del self._entries[soonest]
        self._entries[entry_key] = (now + ttl_secs, text)

    def _sweep(self, now: float) -> None:
        self._writes_since_sweep = 0
        expired = [k for k, (expires_at, _) in self._entries.items() if expires_at <= now]
        for k in expired:
            del self._entries[k]

    def _check_open(self) -> None:
        if self._closed:
            raise SessionStoreError("the in-memory session store is closed")

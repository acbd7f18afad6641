"""What only the in-memory store does: bounded size and giving memory back, on a clock the test moves."""

from __future__ import annotations

import pytest

from aura.adapters.sessions.in_memory import SWEEP_EVERY_WRITES, InMemorySessionStore
from aura.ports.session_store import SessionStoreError
from tests.contract.session_store.conftest import ManualClock


async def test_expired_entries_are_swept_by_later_writes() -> None:
    clock = ManualClock()
    store = InMemorySessionStore(clock=clock)
    for i in range(100):
        await store.put("approvals", f"old{i}", {"i": i}, ttl_secs=10)
    clock.advance(11)
    for i in range(SWEEP_EVERY_WRITES):
        await store.put("approvals", f"new{i}", {"i": i}, ttl_secs=10)
    assert len(store) <= SWEEP_EVERY_WRITES


async def test_a_full_store_drops_the_entry_closest_to_expiry() -> None:
    store = InMemorySessionStore(clock=ManualClock(), max_entries=3)
    await store.put("n", "soon", {}, ttl_secs=5)
    await store.put("n", "later", {}, ttl_secs=50)
    await store.put("n", "latest", {}, ttl_secs=500)
    await store.put("n", "new", {}, ttl_secs=60)
    assert len(store) == 3
    assert await store.get("n", "soon") is None
    assert await store.get("n", "new") == {}


async def test_replacing_a_key_in_a_full_store_drops_nothing() -> None:
    store = InMemorySessionStore(clock=ManualClock(), max_entries=2)
    await store.put("n", "a", {"v": 1}, ttl_secs=5)
    await store.put("n", "b", {"v": 1}, ttl_secs=50)
    await store.put("n", "a", {"v": 2}, ttl_secs=5)
    assert await store.get("n", "a") == {"v": 2}
    assert await store.get("n", "b") == {"v": 1}


async def test_a_closed_store_says_so() -> None:
    store = InMemorySessionStore()
    await store.aclose()
    with pytest.raises(SessionStoreError, match="closed"):
        await store.get("n", "k")


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        InMemorySessionStore(max_entries=0)

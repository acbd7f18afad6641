"""The SessionStore contract: what approvals, stored responses and tasks rely on, for every adapter."""

from __future__ import annotations

import asyncio

import pytest

from aura.ports.session_store import SessionStore, SessionStoreError
from tests.contract.session_store.conftest import EXPECTED_ADAPTERS, StoreFactory


def test_the_suite_covers_every_adapter() -> None:
    from aura.adapters.sessions import in_memory, redis

    assert {in_memory.__name__.rsplit(".", 1)[1], redis.__name__.rsplit(".", 1)[1]} == set(EXPECTED_ADAPTERS)


async def test_an_entry_put_is_read_back_as_an_equal_copy(store: SessionStore) -> None:
    value = {"messages": [{"role": "user", "content": "restart api"}], "round": 2, "nested": {"ok": True}}
    await store.put("turns", "t1", value, ttl_secs=60)

    first = await store.get("turns", "t1")
    assert first == value
    assert first is not value
    first["round"] = 99  # a caller's change must not reach the store
    assert await store.get("turns", "t1") == value


async def test_a_missing_key_reads_as_none(store: SessionStore) -> None:
    assert await store.get("turns", "nope") is None
    assert await store.take("turns", "nope") is None
    assert await store.delete("turns", "nope") is False


async def test_namespaces_keep_equal_keys_apart(store: SessionStore) -> None:
    await store.put("approvals", "x", {"kind": "approval"}, ttl_secs=60)
    await store.put("responses", "x", {"kind": "response"}, ttl_secs=60)
    assert await store.get("approvals", "x") == {"kind": "approval"}
    assert await store.get("responses", "x") == {"kind": "response"}


async def test_put_replaces_an_existing_entry(store: SessionStore) -> None:
    await store.put("tasks", "k", {"state": "working"}, ttl_secs=60)
    await store.put("tasks", "k", {"state": "completed"}, ttl_secs=60)
    assert await store.get("tasks", "k") == {"state": "completed"}


async def test_put_if_absent_stores_only_the_first_value(store: SessionStore) -> None:
    assert await store.put_if_absent("decisions", "d1", {"decision": "approve"}, ttl_secs=60) is True
    assert await store.put_if_absent("decisions", "d1", {"decision": "deny"}, ttl_secs=60) is False
    assert await store.get("decisions", "d1") == {"decision": "approve"}


async def test_take_returns_the_entry_once(store: SessionStore) -> None:
    await store.put("turns", "parked", {"round": 1}, ttl_secs=60)
    assert await store.take("turns", "parked") == {"round": 1}
    assert await store.take("turns", "parked") is None
    assert await store.get("turns", "parked") is None


async def test_of_concurrent_takers_exactly_one_gets_the_entry(store: SessionStore) -> None:
    await store.put("turns", "race", {"round": 1}, ttl_secs=60)
    results = await asyncio.gather(*(store.take("turns", "race") for _ in range(20)))
    assert [r for r in results if r is not None] == [{"round": 1}]


async def test_of_concurrent_deciders_exactly_one_wins(store: SessionStore) -> None:
    outcomes = await asyncio.gather(
        *(store.put_if_absent("decisions", "race", {"by": i}, ttl_secs=60) for i in range(20))
    )
    assert outcomes.count(True) == 1
    winner = outcomes.index(True)
    assert await store.get("decisions", "race") == {"by": winner}


async def test_delete_removes_a_live_entry(store: SessionStore) -> None:
    await store.put("responses", "r", {"id": "r"}, ttl_secs=60)
    assert await store.delete("responses", "r") is True
    assert await store.get("responses", "r") is None


async def test_an_entry_expires_after_its_ttl(store: SessionStore) -> None:
    await store.put("approvals", "short", {"x": 1}, ttl_secs=0.2)
    await store.put("approvals", "long", {"x": 2}, ttl_secs=60)
    await asyncio.sleep(0.4)
    assert await store.get("approvals", "short") is None
    assert await store.take("approvals", "short") is None
    assert await store.get("approvals", "long") == {"x": 2}
    # an expired key is free again for put_if_absent
    assert await store.put_if_absent("approvals", "short", {"x": 3}, ttl_secs=60) is True


@pytest.mark.parametrize("ttl", [0, -1.0])
async def test_a_ttl_that_is_not_positive_is_refused(store: SessionStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_secs must be positive"):
        await store.put("x", "y", {}, ttl_secs=ttl)


async def test_a_value_that_is_not_json_is_refused_with_a_store_error(store: SessionStore) -> None:
    with pytest.raises(SessionStoreError, match="JSON-compatible"):
        await store.put("x", "y", {"when": object()}, ttl_secs=60)


async def test_shared_says_whether_another_instance_sees_the_entries(make_store: StoreFactory) -> None:
    writer, reader = make_store(), make_store()
    await writer.put("approvals", "seen", {"x": 1}, ttl_secs=60)
    assert (await reader.get("approvals", "seen") == {"x": 1}) is writer.shared
    assert writer.description

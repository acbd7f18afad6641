from __future__ import annotations

import pytest

from aura.adapters.sessions.redis import RedisSessionStore, redacted_redis_url
from aura.ports.session_store import SessionStoreError


def test_a_password_never_shows_in_the_description() -> None:
    store = RedisSessionStore("redis://user:hunter2secret@cache.internal:6380/2")
    assert "hunter2secret" not in store.description
    assert "cache.internal:6380" in store.description


def test_redaction_keeps_a_url_without_password() -> None:
    assert redacted_redis_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_an_unreachable_server_is_a_store_error_naming_it_without_the_password() -> None:
    store = RedisSessionStore("redis://:s3cr3tpass@127.0.0.1:1/0", connect_timeout_secs=0.5)
    with pytest.raises(SessionStoreError) as raised:
        await store.get("approvals", "x")
    assert "127.0.0.1:1" in str(raised.value)
    assert "s3cr3tpass" not in str(raised.value)
    await store.aclose()


def test_a_url_of_another_scheme_is_refused_clearly() -> None:
    with pytest.raises(SessionStoreError, match="invalid Redis URL"):
        RedisSessionStore("http://127.0.0.1:6379")

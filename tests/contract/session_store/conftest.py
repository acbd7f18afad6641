"""Fixtures of the SessionStore contract suite: every adapter runs the same tests.

`EXPECTED_ADAPTERS` lists the adapters the suite must cover; a missing one fails the suite instead of shrinking it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from aura.adapters.sessions.in_memory import InMemorySessionStore
from aura.ports.session_store import SessionStore
from tests.redis_server import redis_server_binary, running_redis_server

EXPECTED_ADAPTERS = ("in_memory", "redis")


class ManualClock:
    """A clock the test moves by hand, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now_secs = 1000.0

    def monotonic(self) -> float:
        return self.now_secs

    def now(self) -> float:
        return self.now_secs

    def advance(self, secs: float) -> None:
        self.now_secs += secs


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed: `apt-get install redis-server` (scripts/test.sh does it)")
    with running_redis_server() as url:
        yield url


StoreFactory = Callable[[], SessionStore]


@pytest.fixture(params=EXPECTED_ADAPTERS)
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Makes stores of one adapter that a second process would see as the same store (same server, same prefix)."""
    made: list[SessionStore] = []

    def make() -> SessionStore:
        built: SessionStore
        if request.param == "in_memory":
            built = InMemorySessionStore()
        else:
            from aura.adapters.sessions.redis import RedisSessionStore

            # a prefix per test keeps tests independent on the one shared server
            built = RedisSessionStore(request.getfixturevalue("redis_url"), key_prefix=f"test:{request.node.name}:")
        made.append(built)
        return built

    yield make
    for built in made:
        await built.aclose()


@pytest.fixture
def store(make_store: StoreFactory) -> SessionStore:
    return make_store()

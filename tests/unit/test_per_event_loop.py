"""`PerEventLoop`: one client per running loop; the previous loop's client is closed as far as possible."""

from __future__ import annotations

import asyncio

import pytest

from aura.adapters.per_event_loop import PerEventLoop


class Client:
    made = 0

    def __init__(self, *, fail_to_close: bool = False) -> None:
        Client.made += 1
        self.number = Client.made
        self.closed = False
        self.fail_to_close = fail_to_close


async def close(client: Client) -> None:
    if client.fail_to_close:
        raise RuntimeError("Event loop is closed")
    client.closed = True


def test_the_same_loop_gets_the_same_client_and_a_new_loop_a_new_one() -> None:
    clients = PerEventLoop(Client, close)

    async def twice() -> tuple[Client, Client]:
        return await clients.get(), await clients.get()

    first, again = asyncio.run(twice())
    assert first is again
    (second, _) = asyncio.run(twice())
    assert second is not first
    assert first.closed  # closed when the new loop took over
    assert clients.current is second
    asyncio.run(clients.aclose())
    assert second.closed
    assert clients.current is None


def test_a_stale_client_that_cannot_be_closed_is_dropped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    clients = PerEventLoop(lambda: Client(fail_to_close=True), close)
    first = asyncio.run(clients.get())
    caplog.set_level("DEBUG", logger="aura.adapters.per_event_loop")
    second = asyncio.run(clients.get())
    assert second is not first
    assert "previous event loop" in caplog.text
    with pytest.raises(RuntimeError):  # within its own loop a failing close is not hidden
        asyncio.run(_get_then_close(clients))


async def _get_then_close(clients: PerEventLoop[Client]) -> None:
    await clients.get()
    await clients.aclose()

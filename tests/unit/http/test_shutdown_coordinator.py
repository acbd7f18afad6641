"""The shutdown coordinator's stop signal: every waiting turn learns of phase 2, and leaving costs nothing."""

from __future__ import annotations

import asyncio

from aura.adapters.http.shutdown import ShutdownCoordinator


async def test_every_open_stop_signal_completes_when_turns_must_stop() -> None:
    coordinator = ShutdownCoordinator()
    with coordinator.stop_signal() as first, coordinator.stop_signal() as second:
        assert not first.done()
        assert not second.done()
        assert await coordinator.stop_turns(within=0.1)  # no turn is tracked, so it is idle at once
        assert first.done()
        assert second.done()
        assert first.result() is None


async def test_a_signal_asked_for_after_phase_2_is_already_done() -> None:
    coordinator = ShutdownCoordinator()
    await coordinator.stop_turns(within=0.1)
    with coordinator.stop_signal() as late:
        assert late.done()


async def test_a_turn_that_ends_first_leaves_nothing_behind() -> None:
    coordinator = ShutdownCoordinator()
    with coordinator.stop_signal() as signal:
        pass
    assert signal.cancelled()
    with coordinator.stop_signal() as still_open:
        assert not still_open.done()
        await coordinator.stop_turns(within=0.1)
        assert still_open.done()
    assert coordinator.turns_must_stop.is_set()


async def test_stop_turns_waits_for_tracked_turns_to_finish() -> None:
    coordinator = ShutdownCoordinator()

    async def turn() -> None:
        with coordinator.track(streaming=True), coordinator.stop_signal() as stop:
            await stop

    task = asyncio.create_task(turn())
    await asyncio.sleep(0)
    assert coordinator.active_streams == 1
    assert await coordinator.stop_turns(within=1.0)
    await task
    assert coordinator.active_turns == 0

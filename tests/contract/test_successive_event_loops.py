"""Every adapter serves a program that runs each question in a new event loop (`asyncio.run` per call).

The SDK clients pool connections that belong to the loop that opened them; an adapter that kept one client
failed on the second loop ("Event loop is closed") or, worse, reached the provider and then failed, so its
retry sent the request twice. The fake runs in a thread with its own loop, as a provider would be elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from aura.domain.events import ModelEvent, TextDelta
from aura.domain.messages import UserMessage
from aura.ports.chat_model import ChatModel, ChatRequest
from tests.contract.conftest import HARNESSES
from tests.contract.harnesses import SETUP_TIMEOUT, HarnessEntry
from tests.contract.scenario import ProviderHarness, Response, Scenario

REQUEST = ChatRequest((UserMessage("Which loop is this?"),))


@pytest.fixture(params=[pytest.param(entry, id=entry.module) for entry in HARNESSES])
def harness_in_thread(request: pytest.FixtureRequest) -> Iterator[ProviderHarness]:
    entry: HarnessEntry = request.param
    if entry.factory is None:
        pytest.fail(f"harness module tests/contract/harnesses/{entry.module}.py failed to import: {entry.import_error}")
    harness = entry.factory()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(harness.start(), loop).result(SETUP_TIMEOUT)
    try:
        yield harness
    finally:
        asyncio.run_coroutine_threadsafe(harness.stop(), loop).result(SETUP_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(SETUP_TIMEOUT)
        loop.close()


def test_one_model_answers_in_successive_event_loops_with_one_request_each(harness_in_thread: ProviderHarness) -> None:
    harness = harness_in_thread
    harness.load(Scenario((Response(text_chunks=("first",)), Response(text_chunks=("second",)))))
    model: ChatModel = harness.make_model()

    async def ask() -> list[ModelEvent]:
        return [event async for event in model.stream(REQUEST)]

    first = asyncio.run(ask())
    second = asyncio.run(ask())
    asyncio.run(model.aclose())
    assert [event for event in first if isinstance(event, TextDelta)] == [TextDelta("first")]
    assert [event for event in second if isinstance(event, TextDelta)] == [TextDelta("second")]
    assert len(harness.requests) == 2  # no request sent twice by a retry after a dead connection

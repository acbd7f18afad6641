"""The turn loop, driven by the scripted model and in-process tools."""

from __future__ import annotations

import asyncio
import json

import pytest

from aura.domain.agent import Agent, AgentSettings
from aura.domain.errors import ProviderErrorKind
from aura.domain.events import (
    FinishReason,
    RoundUsage,
    TextDelta,
    ToolCompleted,
    ToolProgress,
    ToolRequested,
    ToolStarted,
    TurnErrorKind,
    TurnEvent,
    TurnFinished,
)
from aura.domain.messages import AssistantMessage, SystemMessage, ToolResultMessage, UserMessage
from aura.domain.tools import ProgressUpdate, ToolCallContext
from aura.domain.usage import Usage
from aura.testing import FunctionToolset, ScriptedChatModel, call_tool, call_tools, fail, reply

ECHO_SCHEMA = {
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
    "additionalProperties": False,
}


def make_toolset() -> FunctionToolset:
    tools = FunctionToolset("local")

    def echo(message: str) -> str:
        return f"echo: {message}"

    def boom() -> str:
        raise RuntimeError("disk on fire")

    tools.add(echo, parameters=ECHO_SCHEMA, description="Echo a message")
    tools.add(boom, description="Always fails")
    return tools


def agent_with(model: ScriptedChatModel, toolset: FunctionToolset | None = None, **settings: object) -> Agent:
    base = {"name": "tester", "system_prompt": "You test."}
    base.update(settings)
    return Agent(AgentSettings(**base), model, [toolset or make_toolset()])  # type: ignore[arg-type]


async def collect(agent: Agent, prompt: str = "hi") -> list[TurnEvent]:
    return [event async for event in agent.run_turn(prompt)]


async def test_plain_answer_streams_text_and_finishes_with_usage() -> None:
    model = ScriptedChatModel([reply("Hel", "lo", usage=Usage.of(12, 3))])
    events = await collect(agent_with(model))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.content == "Hello"
    assert final.finish_reason is FinishReason.STOP
    assert final.usage == Usage(12, 3, 15)
    assert final.error is None
    first_request = model.requests[0]
    assert first_request.messages[0] == SystemMessage("You test.")
    assert first_request.messages[1] == UserMessage("hi")
    assert {spec.name for spec in first_request.tools} == {"echo", "boom"}


async def test_context_entries_are_appended_to_the_system_prompt() -> None:
    model = ScriptedChatModel([reply("ok")])
    await collect(agent_with(model, context=("Cluster: prod-eu", "Be brief.")))
    assert model.requests[0].messages[0] == SystemMessage("You test.\n\nCluster: prod-eu\n\nBe brief.")


async def test_tool_round_feeds_result_back_and_separates_text() -> None:
    model = ScriptedChatModel([call_tool("echo", {"message": "ping"}, call_id="c1", text="Checking."), reply("Done.")])
    events = await collect(agent_with(model))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "TextDelta",
        "RoundUsage",
        "ToolRequested",
        "ToolStarted",
        "ToolCompleted",
        "TextDelta",
        "RoundUsage",
        "TurnFinished",
    ]
    completed = next(e for e in events if isinstance(e, ToolCompleted))
    assert completed.result.content == "echo: ping"
    assert not completed.result.is_error
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.content == "Checking.\n\nDone."
    assert final.usage == Usage(20, 10, 30)
    assert final.turn_usage == Usage(10, 10, 20)
    assert final.tool_completion_tokens == 5
    second = model.requests[1].messages
    assert isinstance(second[-2], AssistantMessage)
    assert second[-2].tool_calls[0].name == "echo"
    assert second[-1] == ToolResultMessage("c1", "echo", "echo: ping", False)
    usage_events = [e for e in events if isinstance(e, RoundUsage)]
    assert usage_events[1].tool_call_ids == ("c1",)


async def test_no_separator_when_no_text_came_before_the_tools() -> None:
    model = ScriptedChatModel([call_tool("echo", {"message": "x"}), reply("Answer")])
    final = (await collect(agent_with(model)))[-1]
    assert isinstance(final, TurnFinished)
    assert final.content == "Answer"


async def test_tool_exception_is_fed_back_as_error_result() -> None:
    model = ScriptedChatModel([call_tool("boom", {}, call_id="b1"), reply("It failed, sorry.")])
    events = await collect(agent_with(model))
    completed = next(e for e in events if isinstance(e, ToolCompleted))
    assert completed.result.is_error
    assert "disk on fire" in completed.result.content
    fed_back = model.requests[1].messages[-1]
    assert isinstance(fed_back, ToolResultMessage)
    assert fed_back.is_error
    assert "disk on fire" in fed_back.content
    assert isinstance(events[-1], TurnFinished)
    assert events[-1].error is None


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object")],
)
async def test_bad_arguments_become_error_results(arguments: str, expected: str) -> None:
    model = ScriptedChatModel([call_tool("echo", arguments), reply("ok")])
    events = await collect(agent_with(model))
    completed = next(e for e in events if isinstance(e, ToolCompleted))
    assert completed.result.is_error
    assert expected in completed.result.content


async def test_unknown_tool_is_an_error_result() -> None:
    model = ScriptedChatModel([call_tool("nope", {}), reply("ok")])
    events = await collect(agent_with(model))
    completed = next(e for e in events if isinstance(e, ToolCompleted))
    assert completed.result.is_error
    assert completed.result.content == "Tool not found: nope"


async def test_turn_depth_exhausted_ends_with_max_depth_error() -> None:
    model = ScriptedChatModel([], then=call_tool("echo", {"message": "again"}))
    events = await collect(agent_with(model, turn_depth=2))
    assert len(model.requests) == 3  # 2 tool rounds + the last call that still wanted tools
    assert sum(isinstance(e, ToolCompleted) for e in events) == 2
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.error is not None
    assert final.error.kind is TurnErrorKind.MAX_DEPTH
    assert "2 tool-calling rounds" in final.error.message
    assert final.usage is None


async def test_turn_depth_zero_offers_no_tools() -> None:
    model = ScriptedChatModel([reply("no tools")])
    await collect(agent_with(model, turn_depth=0))
    assert model.requests[0].tools == ()


async def test_tools_of_one_round_run_concurrently() -> None:
    tools = FunctionToolset()
    running = 0
    peak = 0

    async def slow(n: int) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return str(n)

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    tools.add(slow, parameters=schema)
    model = ScriptedChatModel(
        [call_tools([("slow", {"n": i}) for i in range(4)], call_ids=["a", "b", "c", "d"]), reply("done")]
    )
    events = await collect(agent_with(model, tools))
    assert peak == 4
    requested = [e.call.id for e in events if isinstance(e, ToolRequested)]
    assert requested == ["a", "b", "c", "d"]
    results = [m for m in model.requests[1].messages if isinstance(m, ToolResultMessage)]
    assert [(m.tool_call_id, m.content) for m in results] == [("a", "0"), ("b", "1"), ("c", "2"), ("d", "3")]


async def test_progress_reports_become_events_between_start_and_completion() -> None:
    tools = FunctionToolset()

    async def work(context: ToolCallContext) -> str:
        for step in (1, 2):
            await context.report_progress(ProgressUpdate(step, 2, f"step {step}"))
        return "finished"

    tools.add(work)
    model = ScriptedChatModel([call_tool("work", {}, call_id="w"), reply("ok")])
    events = await collect(agent_with(model, tools))
    names = [type(e).__name__ for e in events if isinstance(e, ToolStarted | ToolProgress | ToolCompleted)]
    assert names == ["ToolStarted", "ToolProgress", "ToolProgress", "ToolCompleted"]
    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [p.update.percent for p in progress] == [50, 100]
    started = next(e for e in events if isinstance(e, ToolStarted))
    assert {p.progress_token for p in progress} == {started.progress_token}


async def test_cancelling_the_turn_cancels_inflight_tools() -> None:
    tools = FunctionToolset()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    tools.add(hang)
    agent = agent_with(ScriptedChatModel([call_tool("hang", {}), reply("never")]), tools)
    task = asyncio.create_task(collect(agent))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


async def test_tool_timeout_is_reported_to_the_model() -> None:
    tools = FunctionToolset()

    async def sleepy() -> str:
        await asyncio.sleep(10)
        return "late"

    tools.add(sleepy)
    model = ScriptedChatModel([call_tool("sleepy", {}), reply("gave up")])
    events = await collect(agent_with(model, tools, tool_timeout_secs=0.05))
    completed = next(e for e in events if isinstance(e, ToolCompleted))
    assert completed.result.is_error
    assert completed.result.content.startswith("Timeout:")


async def test_oversize_tool_result_is_bounded() -> None:
    tools = FunctionToolset()
    tools.add(lambda: "x" * 5000, name="big")
    model = ScriptedChatModel([call_tool("big", {}), reply("ok")])
    events = await collect(agent_with(model, tools, max_tool_result_chars=100))
    completed = next(e for e in events if isinstance(e, ToolCompleted))
    assert completed.result.content.startswith("x" * 100)
    assert "[truncated: result was 5000 characters, limit 100]" in completed.result.content


async def test_provider_error_mid_stream_keeps_partial_text_and_reports_error() -> None:
    model = ScriptedChatModel([fail(ProviderErrorKind.SERVER_ERROR, "boom 500", after=["partial "])])
    events = await collect(agent_with(model))
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.content == "partial "
    assert final.error is not None
    assert final.error.kind is TurnErrorKind.PROVIDER
    assert "scripted/scripted-model" in final.error.message
    assert "boom 500" not in final.error.message
    assert "boom 500" in final.error.detail


async def test_context_overflow_gets_its_own_message() -> None:
    model = ScriptedChatModel([fail(ProviderErrorKind.BAD_REQUEST, "This model's maximum context length is 8k")])
    final = (await collect(agent_with(model)))[-1]
    assert isinstance(final, TurnFinished)
    assert final.error is not None
    assert final.error.kind is TurnErrorKind.CONTEXT_OVERFLOW
    assert final.error.message.startswith("My tools returned more data")


async def test_run_returns_the_final_event() -> None:
    model = ScriptedChatModel([call_tool("echo", {"message": "a"}), reply("fine")])
    final = await agent_with(model).run("go")
    assert final.content == "fine"
    assert final.rounds == 2
    tool_message = model.requests[1].messages[-1]
    assert isinstance(tool_message, ToolResultMessage)
    assert json.loads(model.requests[1].messages[-2].tool_calls[0].arguments) == {"message": "a"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ProviderErrorKind.AUTHENTICATION, "rejected this server's credentials"),
        (ProviderErrorKind.RATE_LIMITED, "is rate limiting requests"),
        (ProviderErrorKind.SERVER_ERROR, "returned an error and the request could not be completed"),
    ],
)
async def test_provider_failures_say_what_kind_and_are_logged_for_the_operator(
    kind: ProviderErrorKind, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = ScriptedChatModel([fail(kind, "HTTP 4xx/5xx detail from the provider")])
    with caplog.at_level("WARNING", logger="aura.domain.agent"):
        final = (await collect(agent_with(model)))[-1]
    assert isinstance(final, TurnFinished)
    assert final.error is not None
    assert expected in final.error.message
    assert "detail from the provider" not in final.error.message
    assert "detail from the provider" in caplog.text
    assert "scripted/scripted-model" in caplog.text

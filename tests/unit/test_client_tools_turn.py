"""Client tools in the turn loop: offered beside the agent's own, handed over when called, continued from results."""

from __future__ import annotations

import logging

import pytest

from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import FinishReason, ToolCompleted, ToolRequested, TurnEvent, TurnFinished
from aura.domain.messages import AssistantMessage, Message, ToolCall, ToolResultMessage, UserMessage
from aura.domain.tools import ClientToolPolicy, RequestContext, ToolSpec
from aura.testing import FunctionToolset, ScriptedChatModel, call_tool, call_tools, reply

GLOB = ToolSpec("glob_files", "Find files on the user's machine", {"type": "object", "properties": {}})
READ = ToolSpec("read_file", "Read a file on the user's machine", {"type": "object", "properties": {}})
ON = ClientToolPolicy(enabled=True)


def server_tools() -> FunctionToolset:
    tools = FunctionToolset("server")
    tools.add(lambda: "42 pods", name="count_pods", description="Count pods")
    return tools


def agent_for(model: ScriptedChatModel, policy: ClientToolPolicy = ON, **settings: object) -> Agent:
    base: dict[str, object] = {"name": "tester", "system_prompt": "You test.", "client_tools": policy}
    base.update(settings)
    return Agent(AgentSettings(**base), model, [server_tools()])  # type: ignore[arg-type]


async def run(agent: Agent, history: list[Message] | str, *tools: ToolSpec) -> list[TurnEvent]:
    context = RequestContext(client_tools=tools)
    return [event async for event in agent.run_turn(history, context)]


def offered(model: ScriptedChatModel, call: int = 0) -> list[str]:
    return [spec.name for spec in model.requests[call].tools]


async def test_client_tools_are_offered_beside_the_agents_own() -> None:
    model = ScriptedChatModel([reply("hi")])
    await run(agent_for(model), "q", GLOB, READ)
    assert offered(model) == ["count_pods", "glob_files", "read_file"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (ClientToolPolicy(), ["count_pods"]),
        (ClientToolPolicy(enabled=True, allow=("glob*",)), ["count_pods", "glob_files"]),
        (ClientToolPolicy(enabled=True, allow=("read_?ile", "nothing")), ["count_pods", "read_file"]),
        (ClientToolPolicy(enabled=False, allow=("*",)), ["count_pods"]),
    ],
)
async def test_the_policy_decides_which_client_tools_are_offered(policy: ClientToolPolicy, expected: list[str]) -> None:
    model = ScriptedChatModel([reply("hi")])
    await run(agent_for(model, policy), "q", GLOB, READ)
    assert offered(model) == expected


async def test_a_client_tool_named_like_a_server_tool_is_hidden(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="aura.domain.agent")
    model = ScriptedChatModel([reply("hi")])
    impostor = ToolSpec("count_pods", "client's own count_pods", {"type": "object", "properties": {}})
    await run(agent_for(model), "q", impostor, GLOB)
    assert offered(model) == ["count_pods", "glob_files"]
    assert model.requests[0].tools[0].description == "Count pods"  # the agent's tool, not the client's
    assert "client tool 'count_pods' is hidden" in caplog.text


async def test_no_tools_at_all_with_turn_depth_zero() -> None:
    model = ScriptedChatModel([reply("hi")])
    await run(agent_for(model, turn_depth=0), "q", GLOB)
    assert offered(model) == []


async def test_a_client_tool_call_ends_the_turn_and_hands_the_call_over() -> None:
    model = ScriptedChatModel([call_tool("glob_files", {"pattern": "*.py"}, call_id="c1", text="Looking.")])
    events = await run(agent_for(model), "q", GLOB)
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.finish_reason is FinishReason.TOOL_CALLS
    assert final.client_tool_calls == (ToolCall("c1", "glob_files", '{"pattern": "*.py"}'),)
    assert final.content == "Looking."
    assert final.error is None
    assert not any(isinstance(event, ToolRequested | ToolCompleted) for event in events)
    assert len(model.requests) == 1


async def test_mixed_round_runs_the_server_tools_first_then_hands_over_the_client_ones() -> None:
    model = ScriptedChatModel(
        [call_tools([("count_pods", {}), ("glob_files", {"pattern": "*"})], call_ids=["s1", "c1"])]
    )
    events = await run(agent_for(model), "q", GLOB)
    requested = [event.call.id for event in events if isinstance(event, ToolRequested)]
    completed = [event for event in events if isinstance(event, ToolCompleted)]
    assert requested == ["s1"]
    assert [(event.call.id, event.result.content) for event in completed] == [("s1", "42 pods")]
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert events.index(completed[0]) < events.index(final)
    assert [call.id for call in final.client_tool_calls] == ["c1"]


async def test_the_last_allowed_round_may_still_hand_client_calls_over() -> None:
    model = ScriptedChatModel([call_tool("count_pods"), call_tool("glob_files", call_id="c9")])
    events = await run(agent_for(model, turn_depth=1), "q", GLOB)
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.error is None
    assert [call.id for call in final.client_tool_calls] == ["c9"]


async def test_the_turn_continues_from_the_clients_tool_results() -> None:
    model = ScriptedChatModel([reply("There are 3 Python files.")])
    history: list[Message] = [
        UserMessage("how many python files?"),
        AssistantMessage("", (ToolCall("c1", "glob_files", '{"pattern": "*.py"}'),)),
        ToolResultMessage("c1", "glob_files", "a.py\nb.py\nc.py"),
    ]
    events = await run(agent_for(model), history, GLOB)
    final = events[-1]
    assert isinstance(final, TurnFinished)
    assert final.finish_reason is FinishReason.STOP
    assert final.content == "There are 3 Python files."
    sent = model.requests[0].messages
    assert sent[-1] == ToolResultMessage("c1", "glob_files", "a.py\nb.py\nc.py")
    assert isinstance(sent[-2], AssistantMessage)
    assert sent[-2].tool_calls[0].name == "glob_files"

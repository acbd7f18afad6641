"""The approval flow in the domain turn: park, resume on an answer or a recorded decision, exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from aura.adapters.sessions.in_memory import InMemorySessionStore
from aura.domain.agent import Agent, AgentSettings
from aura.domain.approval_policy import ApprovalOverride, ApprovalPolicy, ApprovalRule, ToolAnnotations
from aura.domain.approvals import (
    DECISION_ID_PATTERN,
    ApprovalDecision,
    ApprovalGate,
    Decision,
    DecisionConflict,
    DecisionSource,
    parse_chat_answer,
)
from aura.domain.events import (
    ApprovalDecided,
    ApprovalRequested,
    FinishReason,
    ToolCompleted,
    TurnEvent,
    TurnFinished,
)
from aura.domain.messages import AssistantMessage, Message, ToolResultMessage, UserMessage
from aura.domain.tools import RequestContext, ToolCallContext, ToolResult, ToolSpec
from aura.testing import ScriptedChatModel, call_tool, call_tools, reply
from tests.contract.session_store.conftest import ManualClock

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


class KubeTools:
    """A toolset with one read-only and one destructive tool, recording what actually ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    @property
    def name(self) -> str:
        return "kube"

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec("get_pods", "List pods", SCHEMA, annotations=ToolAnnotations(read_only=True)),
            ToolSpec("restart", "Restart a deployment", SCHEMA, annotations=ToolAnnotations(destructive=True)),
            ToolSpec("scale", "Scale (mislabelled read-only)", SCHEMA, annotations=ToolAnnotations(read_only=True)),
        ]

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        self.ran.append((name, dict(arguments)))
        return ToolResult(f"{name} done")

    async def aclose(self) -> None:
        return None


def build(
    model: ScriptedChatModel,
    tools: KubeTools,
    store: InMemorySessionStore,
    clock: ManualClock,
    policy: ApprovalPolicy | None = None,
) -> Agent:
    policy = policy or ApprovalPolicy(enabled=True, timeout_secs=120)
    gate = ApprovalGate(policy, store, clock, agent_id="sre")
    return Agent(
        AgentSettings(name="sre", system_prompt="Be careful."), model, [tools], clock=clock, approval_gate=gate
    )


async def run(
    agent: Agent, history: list[Message], session: str = "chat-1", approver: str | None = None
) -> list[TurnEvent]:
    context = RequestContext(session_id=session, approver=approver)
    return [event async for event in agent.run_turn(history, context)]


def final(events: list[TurnEvent]) -> TurnFinished:
    last = events[-1]
    assert isinstance(last, TurnFinished)
    return last


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> InMemorySessionStore:
    return InMemorySessionStore(clock=clock)


async def park(agent: Agent, session: str = "chat-1") -> tuple[list[Message], list[TurnEvent]]:
    history: list[Message] = [UserMessage("restart api and list pods")]
    events = await run(agent, history, session)
    history.append(AssistantMessage(final(events).content))
    return history, events


async def test_a_destructive_call_parks_while_the_read_only_one_runs(
    store: InMemorySessionStore, clock: ManualClock
) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tools([("get_pods", {"name": "api"}), ("restart", {"name": "api"})])])
    agent = build(model, tools, store, clock)

    _, events = await park(agent)

    assert tools.ran == [("get_pods", {"name": "api"})]
    requested = [e for e in events if isinstance(e, ApprovalRequested)]
    assert [r.pending.call.name for r in requested] == ["restart"]
    assert requested[0].pending.why.endswith("destructiveHint: true")
    assert requested[0].pending.expires_at == clock.now() + 120
    finished = final(events)
    assert finished.finish_reason is FinishReason.STOP
    assert finished.error is None
    assert "Approval needed" in finished.content
    assert '`restart` with arguments `{"name": "api"}`' in finished.content
    assert requested[0].pending.decision_id in finished.content
    assert len(model.requests) == 1  # the model is not called again until a decision


async def test_approve_runs_the_held_call_and_the_turn_continues(
    store: InMemorySessionStore, clock: ManualClock
) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("Restarted api.")])
    agent = build(model, tools, store, clock)
    history, _ = await park(agent)

    events = await run(agent, [*history, UserMessage("approve")], approver="alice")

    decided = [e for e in events if isinstance(e, ApprovalDecided)]
    assert decided[0].decision == ApprovalDecision(Decision.APPROVE, DecisionSource.CHAT, None, "alice")
    assert tools.ran == [("restart", {"name": "api"})]
    assert any(isinstance(e, ToolCompleted) and e.result.content == "restart done" for e in events)
    assert final(events).content == "Restarted api."
    # the model continues from the parked conversation: its tool call, then the result
    resumed_messages = model.requests[1].messages
    assert isinstance(resumed_messages[-1], ToolResultMessage)
    assert resumed_messages[-1].content == "restart done"
    assert isinstance(resumed_messages[-2], AssistantMessage)
    assert resumed_messages[-2].tool_calls[0].name == "restart"


async def test_deny_gives_the_model_the_denial_and_its_reason(store: InMemorySessionStore, clock: ManualClock) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("Understood, not restarting.")])
    agent = build(model, tools, store, clock)
    history, _ = await park(agent)

    events = await run(agent, [*history, UserMessage("deny: it is peak hour")], approver="bob")

    assert tools.ran == []
    result = model.requests[1].messages[-1]
    assert isinstance(result, ToolResultMessage)
    assert result.is_error
    assert "by bob" in result.content
    assert "it is peak hour" in result.content
    assert final(events).content == "Understood, not restarting."


async def test_an_expired_approval_is_a_denial(store: InMemorySessionStore, clock: ManualClock) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("It expired.")])
    agent = build(model, tools, store, clock)
    history, _ = await park(agent)
    clock.advance(121)

    events = await run(agent, [*history, UserMessage("approve")])

    assert tools.ran == []
    decided = next(e for e in events if isinstance(e, ApprovalDecided))
    assert decided.decision.source is DecisionSource.EXPIRY
    result = model.requests[1].messages[-1]
    assert isinstance(result, ToolResultMessage)
    assert "expired" in result.content


async def test_a_recorded_decision_applies_on_the_next_message_exactly_once(
    store: InMemorySessionStore, clock: ManualClock
) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("Done.")])
    agent = build(model, tools, store, clock)
    history, events = await park(agent)
    decision_id = next(e for e in events if isinstance(e, ApprovalRequested)).pending.decision_id
    gate = agent.approval_gate
    assert gate is not None

    await gate.decide(decision_id, ApprovalDecision(Decision.APPROVE, DecisionSource.API, approver="carol"))
    with pytest.raises(DecisionConflict):
        await gate.decide(decision_id, ApprovalDecision(Decision.DENY, DecisionSource.API))

    events = await run(agent, [*history, UserMessage("go on")])
    assert tools.ran == [("restart", {"name": "api"})]
    assert final(events).content == "Done."


async def test_a_client_without_session_id_is_recognised_by_the_decision_id_in_the_history(
    store: InMemorySessionStore, clock: ManualClock
) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("Restarted.")])
    agent = build(model, tools, store, clock)
    history, _ = await park(agent, session="first-request-id")

    events = await run(agent, [*history, UserMessage("Approve")], session="another-request-id")

    assert tools.ran == [("restart", {"name": "api"})]
    assert final(events).content == "Restarted."


async def test_two_racing_answers_resume_the_turn_once(store: InMemorySessionStore, clock: ManualClock) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("Once."), reply("Fresh turn.")])
    agent = build(model, tools, store, clock)
    history, _ = await park(agent)

    both = await asyncio.gather(*(run(agent, [*history, UserMessage("approve")]) for _ in range(2)))

    assert tools.ran == [("restart", {"name": "api"})]
    assert sorted(final(events).content for events in both) == ["Fresh turn.", "Once."]


async def test_approve_all_stops_asking_in_that_conversation(store: InMemorySessionStore, clock: ManualClock) -> None:
    tools = KubeTools()
    model = ScriptedChatModel(
        [
            call_tool("restart", {"name": "api"}),
            reply("Restarted."),
            call_tool("restart", {"name": "db"}),
            reply("Both."),
            call_tool("restart", {"name": "web"}),
        ]
    )
    agent = build(model, tools, store, clock)
    history, _ = await park(agent)
    await run(agent, [*history, UserMessage("approve all")])

    events = await run(agent, [UserMessage("now restart db")])

    assert tools.ran == [("restart", {"name": "api"}), ("restart", {"name": "db"})]
    assert not any(isinstance(e, ApprovalRequested) for e in events)
    other_session = await run(agent, [UserMessage("restart web")], session="chat-2")
    assert any(isinstance(e, ApprovalRequested) for e in other_session)  # another conversation still asks
    assert len(tools.ran) == 2


async def test_a_message_that_is_no_answer_denies_and_starts_a_new_turn(
    store: InMemorySessionStore, clock: ManualClock
) -> None:
    tools = KubeTools()
    model = ScriptedChatModel([call_tool("restart", {"name": "api"}), reply("What else?")])
    agent = build(model, tools, store, clock)
    history, _ = await park(agent)

    events = await run(agent, [*history, UserMessage("actually, what time is it?")])

    assert tools.ran == []
    assert not any(isinstance(e, ApprovalDecided) for e in events)
    assert final(events).content == "What else?"
    assert isinstance(model.requests[1].messages[-1], UserMessage)


async def test_an_override_forces_a_mislabelled_tool_to_ask(store: InMemorySessionStore, clock: ManualClock) -> None:
    tools = KubeTools()
    policy = ApprovalPolicy(
        enabled=True, overrides=(ApprovalOverride(ApprovalRule.ALWAYS, server="kube", tool="scale"),)
    )
    model = ScriptedChatModel([call_tools([("get_pods", {}), ("scale", {"name": "api"})])])
    agent = build(model, tools, store, clock, policy)

    _, events = await park(agent)

    assert tools.ran == [("get_pods", {})]
    assert [e.pending.call.name for e in events if isinstance(e, ApprovalRequested)] == ["scale"]


@pytest.mark.parametrize(
    ("text", "decision", "all_calls", "reason"),
    [
        ("approve", Decision.APPROVE, False, None),
        ("Approve.", Decision.APPROVE, False, None),
        ("yes", Decision.APPROVE, False, None),
        ("approve all", Decision.APPROVE, True, None),
        ("deny", Decision.DENY, False, None),
        ("deny: not now", Decision.DENY, False, "not now"),
        ("No - wrong cluster", Decision.DENY, False, "wrong cluster"),
        ("approve apr_0123456789abcdef01234567", Decision.APPROVE, False, None),
    ],
)
def test_chat_answers_are_recognised(text: str, decision: Decision, all_calls: bool, reason: str | None) -> None:
    answer = parse_chat_answer(text)
    assert answer is not None
    assert (answer.decision, answer.all_calls, answer.reason) == (decision, all_calls, reason)


@pytest.mark.parametrize("text", ["approve the budget for Q3 please", "what does this do?", "", "denying is hard"])
def test_other_text_is_no_answer(text: str) -> None:
    assert parse_chat_answer(text) is None


def test_the_decision_id_pattern_matches_what_is_generated() -> None:
    from aura.domain.approvals import new_decision_id

    assert DECISION_ID_PATTERN.fullmatch(new_decision_id())
    assert json.dumps(new_decision_id())

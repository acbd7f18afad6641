"""`aura chat`: the terminal loop keeps the conversation and shows tool activity."""

from __future__ import annotations

import io

from aura.domain.agent import Agent, AgentSettings
from aura.domain.errors import ProviderErrorKind
from aura.domain.messages import AssistantMessage, UserMessage
from aura.entrypoints.chat_command import chat
from aura.testing import FunctionToolset, ScriptedChatModel, call_tool, fail, reply


def make_agent(model: ScriptedChatModel) -> Agent:
    tools = FunctionToolset().add(lambda: "0.42", name="load_average", description="load")
    return Agent(AgentSettings(name="sre", system_prompt="You are an SRE."), model, [tools])


async def test_keeps_the_conversation_and_shows_tools() -> None:
    model = ScriptedChatModel([call_tool("load_average", {}), reply("Load is 0.42."), reply("Yes, it is low.")])
    out, err = io.StringIO(), io.StringIO()
    status = await chat(make_agent(model), ["What is the load?", "", "Is that low?", "/quit", "ignored"], out, err)
    assert status == 0
    assert out.getvalue() == "Load is 0.42.\nYes, it is low.\n"
    assert "[tool] load_average({})" in err.getvalue()
    assert "[tool] load_average: ok in" in err.getvalue()
    assert len(model.requests) == 3  # "ignored" after /quit was not sent
    second_turn = model.requests[2].messages
    assert second_turn[1:] == (
        UserMessage("What is the load?"),
        AssistantMessage("Load is 0.42."),
        UserMessage("Is that low?"),
    )


async def test_reset_clears_history_and_a_failed_turn_is_reported() -> None:
    model = ScriptedChatModel([reply("one"), fail(ProviderErrorKind.SERVER_ERROR, "boom"), reply("three")])
    out, err = io.StringIO(), io.StringIO()
    status = await chat(make_agent(model), ["first", "/reset", "second"], out, err)
    assert status == 1
    assert "returned an error" in out.getvalue()
    assert "boom" not in out.getvalue()
    assert "(conversation cleared)" in err.getvalue()
    assert model.requests[1].messages[1:] == (UserMessage("second"),)

"""A full agent turn whose model calls a tool of a real MCP server (the fixture server over stdio)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from aura.adapters.mcp import McpToolset, StdioTransport
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import ToolCompleted, ToolProgress, TurnFinished
from aura.domain.messages import ToolResultMessage
from aura.testing import ScriptedChatModel, call_tool, call_tools, reply
from tests.integration.mcp.servers import fixture_command

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def toolset() -> AsyncIterator[McpToolset]:
    command = fixture_command("stdio")
    mcp = McpToolset("fixture", StdioTransport(command[0], command[1:]))
    await mcp.start()
    yield mcp
    await mcp.aclose()


def agent(model: ScriptedChatModel, toolset: McpToolset) -> Agent:
    return Agent(AgentSettings(name="mcp-agent", system_prompt="Use the tools."), model, [toolset])


async def test_tool_result_of_an_mcp_server_reaches_the_models_next_request(toolset: McpToolset) -> None:
    model = ScriptedChatModel([call_tool("add", {"a": 20, "b": 22}, call_id="call_add"), reply("It is 42.")])

    final = await agent(model, toolset).run("What is 20 + 22?")

    assert final.content == "It is 42."
    assert "add" in {spec.name for spec in model.requests[0].tools}
    tool_messages = [m for m in model.requests[1].messages if isinstance(m, ToolResultMessage)]
    assert [(m.tool_call_id, m.tool_name, m.content, m.is_error) for m in tool_messages] == [
        ("call_add", "add", '{"result":"42"}', False)
    ]


async def test_progress_and_errors_of_mcp_tools_flow_through_the_turn(toolset: McpToolset) -> None:
    model = ScriptedChatModel(
        [
            call_tools(
                [("progress_task", {"steps": 2}), ("failing_tool", {"reason": "quota exceeded"})],
                call_ids=["call_progress", "call_fail"],
            ),
            reply("Done."),
        ]
    )

    events = [event async for event in agent(model, toolset).run_turn("go")]

    progress = [e.update for e in events if isinstance(e, ToolProgress) and e.call.id == "call_progress"]
    assert [(u.progress, u.total, u.message) for u in progress] == [(1, 2, "step 1 of 2"), (2, 2, "step 2 of 2")]
    completed = {e.call.id: e.result for e in events if isinstance(e, ToolCompleted)}
    assert completed["call_fail"].is_error
    assert "quota exceeded" in completed["call_fail"].content
    last_progress = max(i for i, e in enumerate(events) if isinstance(e, ToolProgress))
    done = next(i for i, e in enumerate(events) if isinstance(e, ToolCompleted) and e.call.id == "call_progress")
    assert last_progress < done
    assert isinstance(events[-1], TurnFinished)
    fed_back = {m.tool_call_id: m for m in model.requests[1].messages if isinstance(m, ToolResultMessage)}
    assert fed_back["call_fail"].is_error

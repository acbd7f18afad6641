"""Embed Aura with a Python tool next to the tools of an MCP server, no TOML.

The MCP server is this repository's read-only SRE toolbox (`examples/sre_tools/server.py`), spawned
over stdio with the current interpreter. The Python tool is a plain function in a `FunctionToolset`
(its schema comes from its signature).
The agent sees one tool list; it does not know (or care) which tool lives where.

The model is `ScriptedChatModel` (a test double), so this runs offline: round 1 calls both tools at
once (they run concurrently), round 2 is a function of the request that reads the two tool results
and answers from them. Replace it with `OpenAIChatModel(...)` (or any adapter) for a real model.

Run: `python examples/embedding/python_and_mcp_tools.py`
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aura import (
    Agent,
    AgentSettings,
    ChatRequest,
    FunctionToolset,
    McpToolset,
    ScriptedChatModel,
    ScriptedRound,
    StdioTransport,
    ToolCompleted,
    ToolResultMessage,
    TurnFinished,
    call_tools,
    reply,
)

SRE_TOOLS_SERVER = Path(__file__).resolve().parents[1] / "sre_tools" / "server.py"

ON_CALL = {"platform": "Dana (+1 555 0100)", "payments": "Sam (+1 555 0142)"}


def who_is_on_call(team: str) -> dict[str, str]:
    """The engineer on call for a team right now.

    Args:
        team: The team's name, e.g. platform.
    """
    return {"team": team, "on_call": ON_CALL.get(team, "nobody: escalate to the incident commander")}


def mcp_tools() -> McpToolset:
    # `sys.executable` runs the server with this interpreter, so it finds the `mcp` package we have.
    transport = StdioTransport(sys.executable, [str(SRE_TOOLS_SERVER)])
    return McpToolset("sre_tools", transport, connect_timeout=30.0, required=True)


def answer_from_tool_results(request: ChatRequest) -> ScriptedRound:
    """Round 2: the tool results are the last messages of the request; answer from them."""
    results = {message.tool_name: message for message in request.messages if isinstance(message, ToolResultMessage)}
    on_call = json.loads(results["who_is_on_call"].content)
    uptime = json.loads(results["host_uptime"].content)
    hours = uptime["uptime_seconds"] / 3600
    return reply(f"The host has been up for {hours:.1f} h. On call for {on_call['team']}: {on_call['on_call']}.")


async def main() -> int:
    model = ScriptedChatModel(
        [
            call_tools([("who_is_on_call", {"team": "platform"}), ("host_uptime", {})]),
            answer_from_tool_results,
        ]
    )
    agent = Agent(
        AgentSettings(name="On-call helper", system_prompt="Help the on-call engineer.", turn_depth=2),
        model,
        [FunctionToolset("oncall", [who_is_on_call]), mcp_tools()],
    )
    final: TurnFinished | None = None
    # Entering connects the MCP server and discovers the tools once, as `aura serve` does at startup;
    # leaving closes the model and both toolsets, which also stops the MCP server process.
    async with agent:
        registry = await agent.tool_registry()
        print("tools:", ", ".join(sorted(registry.tools)))
        async for event in agent.run_turn("Is the host stable, and who do I page for platform?"):
            if isinstance(event, ToolCompleted):
                status = "error" if event.result.is_error else "ok"
                print(f"tool {event.call.name}: {status}: {event.result.content}")
            elif isinstance(event, TurnFinished):
                final = event
    assert final is not None
    if final.error is not None:
        print(f"error: {final.error.message}", file=sys.stderr)
        return 1
    print(f"answer: {final.content}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

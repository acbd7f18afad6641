"""A tiny server program for the shutdown tests: scripted agents built in code, served by `run_server`.

    python -m tests.integration.http.shutdown_server PORT GRACE_SECS

Agents: `slow` streams 400 words, one every 50 ms (20 s); `short` streams 10 words in about 1 s;
`hang-tool` calls a tool that never returns; `hang-model` has a model that never answers. The
hanging ones log `<what> started` when they begin waiting and `<what> cancelled` when cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator

from aura.adapters.http import ServerOptions, run_server
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import ModelEvent, TextDelta
from aura.ports.chat_model import ChatRequest
from aura.testing import FunctionToolset, ScriptedChatModel, ScriptedRound, call_tool

logger = logging.getLogger("shutdown_server")


def agent(name: str, words: int, delay: float) -> Agent:
    round_ = ScriptedRound(text=tuple(f"w{i} " for i in range(words)), delay=delay)
    return Agent(AgentSettings(name=name, system_prompt="x"), ScriptedChatModel([], then=round_))


async def wait_forever(what: str) -> None:
    logger.info("%s started", what)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        logger.info("%s cancelled", what)
        raise


async def hang() -> str:
    await wait_forever("tool")
    return "never"


class HangingChatModel:
    """A model that never sends anything."""

    provider = "scripted"
    model_name = "hanging"

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        await wait_forever("model")
        yield TextDelta("never")

    async def aclose(self) -> None:
        return None


def hang_tool_agent() -> Agent:
    toolset = FunctionToolset("local").add(hang, parameters={"type": "object", "properties": {}})
    model = ScriptedChatModel([], then=call_tool("hang", {}))
    return Agent(AgentSettings(name="hang-tool", system_prompt="x"), model, [toolset])


def main() -> int:
    port, grace = int(sys.argv[1]), float(sys.argv[2])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    agents = [
        agent("slow", 400, 0.05),
        agent("short", 10, 0.1),
        hang_tool_agent(),
        Agent(AgentSettings(name="hang-model", system_prompt="x"), HangingChatModel()),
    ]
    options = ServerOptions(host="127.0.0.1", port=port, shutdown_timeout_secs=grace, heartbeat_interval_secs=0.5)
    return asyncio.run(run_server(agents, options))


if __name__ == "__main__":
    sys.exit(main())

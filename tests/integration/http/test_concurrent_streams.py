"""Many simultaneous streams to different agents: each client sees only its own turn."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from aura.adapters.http import ServerOptions
from aura.domain.agent import Agent
from aura.domain.messages import ToolResultMessage, UserMessage
from aura.ports.chat_model import ChatRequest
from aura.testing import FunctionToolset, ScriptedRound, call_tool, reply
from tests.integration.http.support import (
    Frame,
    chunks,
    content_of,
    events,
    make_agent,
    running_server,
    stream_frames,
    user,
)

STREAMS = 50
AGENTS = 10


def tag_round(request: ChatRequest) -> ScriptedRound:
    """First round: call `tag` with the user's token; second round: answer with the tool's result."""
    last = request.messages[-1]
    if isinstance(last, ToolResultMessage):
        return reply(f"Answer for {last.content}.")
    assert isinstance(last, UserMessage)
    return call_tool("tag", {"token": last.text})


async def tag(token: str) -> str:
    await asyncio.sleep(0.01)  # interleave the streams
    return f"<{token}>"


def agent(index: int) -> Agent:
    toolset = FunctionToolset("local")
    toolset.add(tag, parameters={"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]})
    return make_agent([], name=f"agent-{index}", toolsets=[toolset], then=tag_round)


async def test_fifty_concurrent_streams_are_isolated(http: aiohttp.ClientSession) -> None:
    agents = [agent(i) for i in range(AGENTS)]
    options = ServerOptions(aura_custom_events=True, tool_result_max_length=0)
    async with running_server(agents, options) as server:

        async def one(i: int) -> tuple[int, list[Frame]]:
            payload = {
                "model": f"agent-{i % AGENTS}",
                "messages": user(f"token-{i:03d}"),
                "metadata": {"chat_session_id": f"session-{i:03d}"},
            }
            return i, await stream_frames(http, server.url, payload)

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(STREAMS))), 60)

    completion_ids = set()
    for i, frames in results:
        token = f"token-{i:03d}"
        assert content_of(frames) == f"Answer for <{token}>."
        assert set(re.findall(r"token-\d{3}", "".join(frame.raw for frame in frames))) == {token}
        for event in events(frames):
            assert event.data["session_id"] == f"session-{i:03d}"
            assert event.data["agent_id"] == f"agent-{i % AGENTS}"
        [complete] = events(frames, "aura.tool_complete")
        assert complete.data["result"] == f"<{token}>"
        ids = {chunk["id"] for chunk in chunks(frames)}
        assert len(ids) == 1
        completion_ids |= ids
        assert frames[-1].kind == "done"
    assert len(completion_ids) == STREAMS

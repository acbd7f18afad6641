"""LibreChat's client stack (`@langchain/openai`) against Aura, in every mode: the request shapes it sends, the
answers checked with a port of its chunk handling (see `client_parsers.LangChainStream`). The real node client
runs in `test_langchain_client.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aura.adapters.http import ServerOptions, ToolResultMode
from aura.domain.tools import ClientToolPolicy
from aura.testing import FunctionToolset, call_tool, call_tools, reply
from tests.integration.clients.client_parsers import LangChainStream
from tests.integration.http.support import make_agent, running_server

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}
MODES = [
    (mode, events)
    for mode in (ToolResultMode.NONE, ToolResultMode.OPEN_WEB_UI, ToolResultMode.AURA)
    for events in (False, True)
]


def server_tools() -> FunctionToolset:
    tools = FunctionToolset("server")
    tools.add(lambda: "42 pods", name="count_pods", description="Count pods")
    return tools


def langchain_body(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """What `ChatOpenAI` (streaming, tools bound) posts: model, sampling defaults, stream options, messages, tools."""
    return {
        "model": "agent",
        "temperature": 1,
        "top_p": 1,
        "frequency_penalty": 0,
        "presence_penalty": 0,
        "n": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": messages,
        "tools": [SEARCH_TOOL],
        **fields,
    }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    async with http.post(f"{url}/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.text()


@pytest.mark.parametrize(("mode", "events"), MODES)
async def test_a_server_tool_turn_assembles_into_an_ai_message_with_content_only(
    http: aiohttp.ClientSession, mode: ToolResultMode, events: bool
) -> None:
    agent = make_agent([call_tool("count_pods"), reply("There are 42 pods.")], alias="agent", toolsets=[server_tools()])
    async with running_server([agent], ServerOptions(tool_result_mode=mode, aura_custom_events=events)) as server:
        text = await post(http, server.url, langchain_body([{"role": "user", "content": "how many pods?"}]))
    message = LangChainStream.parse(text)
    assert message.message_classes == {"AIMessageChunk"}
    assert message.tool_calls == []
    assert message.content.endswith("There are 42 pods.")
    assert message.finish_reason == "stop"


@pytest.mark.parametrize(("mode", "events"), MODES)
async def test_a_client_tool_call_reaches_langchain_as_a_tool_call_and_the_turn_continues(
    http: aiohttp.ClientSession, mode: ToolResultMode, events: bool
) -> None:
    agent = make_agent(
        [
            call_tools([("count_pods", {}), ("web_search", {"query": "pods"})], call_ids=["s1", "c1"]),
            reply("The web agrees: 42."),
        ],
        alias="agent",
        toolsets=[server_tools()],
        client_tools=ClientToolPolicy(enabled=True, allow=("web_*",)),
    )
    options = ServerOptions(tool_result_mode=mode, aura_custom_events=events)
    user = {"role": "user", "content": "how many pods?"}
    async with running_server([agent], options) as server:
        first = LangChainStream.parse(await post(http, server.url, langchain_body([user])))
        assert first.dropped_tool_call_chunks == 0
        assert first.message_classes == {"AIMessageChunk"}
        assert first.tool_calls == [{"id": "c1", "name": "web_search", "args": {"query": "pods"}}]
        assert first.finish_reason == "tool_calls"
        # LangChain sends the AIMessage back (content + tool_calls) and a ToolMessage per call.
        ai = {
            "role": "assistant",
            "content": first.content,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "web_search", "arguments": '{"query":"pods"}'}}
            ],
        }
        tool = {"role": "tool", "tool_call_id": "c1", "content": "42 pods, says the web"}
        second = LangChainStream.parse(await post(http, server.url, langchain_body([user, ai, tool])))
    assert second.message_classes == {"AIMessageChunk"}
    assert second.tool_calls == []
    assert second.content == "The web agrees: 42."
    assert second.finish_reason == "stop"


async def test_an_answer_without_any_content_still_names_its_role(http: aiohttp.ClientSession) -> None:
    agent = make_agent([reply()], alias="agent")
    async with running_server([agent]) as server:
        text = await post(http, server.url, langchain_body([{"role": "user", "content": "say nothing"}]))
    message = LangChainStream.parse(text)
    assert message.message_classes == {"AIMessageChunk"}
    assert message.finish_reason == "stop"

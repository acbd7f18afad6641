"""LibreChat's client stack (`@langchain/openai`) against Aura, in every mode: its recorded requests
(`tests/fixtures/clients/langchain-*.json`) and request shapes built like them, replayed; the answers checked with
a port of its chunk handling (see `client_parsers.LangChainStream`). The real node client runs in
`test_langchain_client.py`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aura.adapters.http import ServerOptions, ToolResultMode
from aura.domain.messages import ToolResultMessage, UserMessage, content_text
from aura.domain.tools import ClientToolPolicy
from aura.ports.chat_model import ChatRequest
from aura.testing import FunctionToolset, ScriptedRound, call_tool, call_tools, reply
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


# --- the recorded LangChain sessions (tests/fixtures/clients/langchain-*.json) ----------------------------------

FIXTURES = Path(__file__).parents[2] / "fixtures" / "clients"
RECORDINGS = sorted(FIXTURES.glob("langchain-*.json"))


def recorded_rules(request: ChatRequest) -> ScriptedRound:
    """The recording's fake upstream: `call <tool> {json}` calls tools (several at once), `call <tool> with <text>`
    one; tool results are echoed."""
    last = request.messages[-1]
    if isinstance(last, ToolResultMessage):
        return reply(f"{last.tool_name} returned: {last.content}.")
    text = content_text(last.content) if isinstance(last, UserMessage) else last.content
    calls = re.findall(r"call (\w+) (\{.*?\})", text)
    if calls:
        return call_tools([(name, arguments) for name, arguments in calls])
    single = re.search(r"call (\w+) with (.+)", text)
    if single:
        return call_tool(single.group(1), {"message": single.group(2)})
    return reply(f"You said: {text}")


def echo_toolset() -> FunctionToolset:
    tools = FunctionToolset("fixture")
    tools.add(
        lambda message: f"echo: {message}",
        name="echo",
        parameters={"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    )
    return tools


def load(recording: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(recording.read_text())
    return data


def test_the_langchain_recordings_are_there() -> None:
    assert {recording.stem for recording in RECORDINGS} >= {
        "langchain-invoke",
        "langchain-stream",
        "langchain-stream-server-tool",
        "langchain-tools-invoke",
        "langchain-tools-stream",
        "langchain-tools-stream-mixed",
    }


@pytest.mark.parametrize(("mode", "events"), MODES)
@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda path: path.stem)
async def test_a_recorded_langchain_session_in_every_mode(
    http: aiohttp.ClientSession, recording: Path, mode: ToolResultMode, events: bool
) -> None:
    agents = [
        make_agent([], name="echo-agent", toolsets=[echo_toolset()], then=recorded_rules),
        make_agent(
            [], name="client-agent", toolsets=[echo_toolset()], then=recorded_rules, client_tools=ClientToolPolicy(True)
        ),
    ]
    session = load(recording)
    async with running_server(agents, ServerOptions(tool_result_mode=mode, aura_custom_events=events)) as server:
        for exchange in session["exchanges"]:
            label, body = exchange["label"], exchange["request"]["body"]
            async with http.post(f"{server.url}/v1/chat/completions", json=body) as response:
                assert response.status == 200, (label, await response.text())
                if body.get("stream"):
                    check_stream(recording.stem, label, LangChainStream.parse(await response.text()))
                else:
                    check_message(recording.stem, label, await response.json())


def check_stream(name: str, label: str, message: LangChainStream) -> None:
    assert message.message_classes == {"AIMessageChunk"}, label
    assert message.dropped_tool_call_chunks == 0
    if name.startswith("langchain-tools") and "after tool results" not in label:
        assert message.tool_calls == [
            {"id": message.tool_calls[0]["id"], "name": "get_weather", "args": {"city": "Paris"}}
        ]
        assert message.finish_reason == "tool_calls"
        return
    assert message.tool_calls == []
    assert message.finish_reason == "stop"
    if "after tool results" in label:
        assert message.content == "get_weather returned: Sunny, 21 degrees."
    elif name == "langchain-stream-server-tool":
        assert message.content.endswith("echo returned: echo: hello.")
    else:
        assert message.content == "You said: Hello there"


def check_message(name: str, label: str, answer: dict[str, Any]) -> None:
    choice = answer["choices"][0]
    if name.startswith("langchain-tools") and "after tool results" not in label:
        [call] = choice["message"]["tool_calls"]
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
        assert choice["finish_reason"] == "tool_calls"
        return
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    expected = "get_weather returned: Sunny, 21 degrees." if "after tool results" in label else "You said: Hello there"
    assert choice["message"]["content"] == expected

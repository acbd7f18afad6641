"""OpenWebUI 0.12.4 against Aura: its recorded request sequences replayed, the answers checked as OpenWebUI parses them.

The recordings (`tests/fixtures/clients/openwebui-0.12.4-<mode>[-events].json`, see the README there) hold what
OpenWebUI really sent: the model list, the title / follow-up / tags task requests and two chat messages, the
second one carrying the first answer as OpenWebUI stored it. Each is replayed against a server in the recording's
mode, with an agent whose scripted model follows the rules the recording's fake upstream followed. Client tools
(OpenWebUI's "native" function calling) were not part of those sessions: those requests are built here the way
OpenWebUI 0.12.4 builds them (`tools` in the body; the continuation from `convert_output_to_messages`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aura.adapters.http import ServerOptions, ToolResultMode
from aura.domain.agent import BackgroundTaskPolicy
from aura.domain.messages import Message, ToolResultMessage, UserMessage, content_text
from aura.domain.tools import ClientToolPolicy
from aura.ports.chat_model import ChatRequest
from aura.testing import FunctionToolset, ScriptedChatModel, ScriptedRound, call_tool, call_tools, reply
from tests.integration.clients.client_parsers import OpenWebUIStream, owui_panels
from tests.integration.http.support import RunningServer, make_agent, running_server

FIXTURES = Path(__file__).parents[2] / "fixtures" / "clients"
RECORDINGS = sorted(FIXTURES.glob("openwebui-0.12.4-*.json"))
MODES = {"none": ToolResultMode.NONE, "open-web-ui": ToolResultMode.OPEN_WEB_UI, "aura": ToolResultMode.AURA}
TASK_ANSWERS = {
    "Generate a concise title": '{ "title": "Echo Test" }',
    "Generate 1-3 broad tags": '{ "tags": ["Technology"] }',
    "Predict 3-5 useful messages": '{ "follow_ups": ["Call it again"] }',
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _text(message: Message) -> str:
    return content_text(message.content) if isinstance(message, UserMessage) else message.content


def fake_upstream(request: ChatRequest) -> ScriptedRound:
    """The recording's rules: `call <tool> with <text>` calls a tool; tool results are echoed; tasks get their JSON."""
    last = request.messages[-1]
    if isinstance(last, ToolResultMessage):
        return reply(f"{last.tool_name} returned: {last.content}.")
    text = _text(last)
    for opening, answer in TASK_ANSWERS.items():
        if text.startswith(f"### Task:\n{opening}"):
            return reply(answer)
    both = re.search(r"call (\w+) and (\w+) for (\w+)", text)
    if both:
        return call_tools([(both.group(1), {"message": both.group(3)}), (both.group(2), {"city": both.group(3)})])
    one = re.search(r"call (\w+) with (.+)", text)
    if one:
        return call_tool(one.group(1), {"message": one.group(2)})
    return reply(f"You said: {text}")


def echo_tools() -> FunctionToolset:
    tools = FunctionToolset("fixture")
    tools.add(
        lambda message: json.dumps({"result": message}, separators=(",", ":")),
        name="echo",
        parameters={"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    )
    tools.add(lambda message: "Error: no such thing", name="broken", description="fails")
    return tools


def load(recording: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(recording.read_text())
    return data


def options_of(recording: Path) -> ServerOptions:
    name = recording.stem.removeprefix("openwebui-0.12.4-")
    events = name.endswith("-events")
    return ServerOptions(tool_result_mode=MODES[name.removesuffix("-events")], aura_custom_events=events)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def replay(http: aiohttp.ClientSession, server: RunningServer, request: dict[str, Any]) -> tuple[int, Any]:
    headers = {k: v for k, v in request["headers"].items() if k not in ("authorization", "content-type")}
    async with http.request(
        request["method"], server.url + request["path"], json=request["body"], headers=headers
    ) as r:
        if r.content_type == "text/event-stream":
            return r.status, await r.text()
        return r.status, await r.json()


def test_the_recordings_are_there() -> None:
    assert {recording.stem for recording in RECORDINGS} >= {
        f"openwebui-0.12.4-{mode}{suffix}" for mode in MODES for suffix in ("", "-events")
    }


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda path: path.stem)
async def test_a_recorded_openwebui_session_in_every_mode(http: aiohttp.ClientSession, recording: Path) -> None:
    options = options_of(recording)
    model = ScriptedChatModel([], then=fake_upstream)
    agent = make_agent(
        model,
        name="echo-agent",
        toolsets=[echo_tools()],
        background_tasks=BackgroundTaskPolicy(tools=False, max_tokens=64),
    )
    session = load(recording)
    async with running_server([agent], options) as server:
        for exchange in session["exchanges"]:
            label, request = exchange["label"], exchange["request"]
            sent_before = len(model.requests)
            status, answer = await replay(http, server, request)
            assert status == 200, (label, answer)
            if label.startswith("task:"):
                message = answer["choices"][0]["message"]
                assert "tool_calls" not in message
                key = {"title": "title", "tags": "tags", "follow-ups": "follow_ups"}[label.removeprefix("task: ")]
                assert key in json.loads(message["content"])  # OpenWebUI parses the JSON between { and }
                sent = model.requests[-1]
                assert sent.tools == ()  # answered without tools, at the low cap
                assert sent.settings.max_tokens == 64
                assert sent.background  # a one-slot local model serves people's messages first
            elif label.startswith("chat (stream)"):
                check_chat_answer(OpenWebUIStream.parse(answer), options, label)
                if label.endswith("user message 2"):
                    history = "\n".join(_text(message) for message in model.requests[-1].messages)
                    assert "<details" not in history  # the panel of the first answer is folded, never re-run
                    if options.tool_result_mode is ToolResultMode.OPEN_WEB_UI:
                        assert "[Earlier tool call: echo(" in history
                    assert model.requests[-1].tools  # the chat itself keeps its tools
                assert not any(request.background for request in model.requests[sent_before:])


def check_chat_answer(stream: OpenWebUIStream, options: ServerOptions, label: str) -> None:
    assert stream.tool_calls == [], label  # nothing for OpenWebUI to run itself
    assert stream.errors == [], label
    assert stream.ui_events == [], label
    assert stream.responses_events == [], label
    assert stream.finish_reason == "stop"
    panels = owui_panels(stream.content)
    if label.endswith("user message 1"):
        assert stream.content.endswith('echo returned: {"result":"hello from OpenWebUI"}.')
        if options.tool_result_mode is ToolResultMode.OPEN_WEB_UI:
            [panel] = panels
            assert panel["name"] == "echo"
            assert panel["done"] is True
            assert panel["input"] == {"message": "hello from OpenWebUI"}
            assert json.loads(panel["result"]) == {"result": "hello from OpenWebUI"}
            assert panel["error"] is False
        else:
            assert panels == []
            assert "<details" not in stream.content
    else:
        assert panels == []


# --- client tools, the way OpenWebUI's "native" function calling sends them ----------------------------------


@pytest.mark.parametrize("mode", list(MODES.values()))
@pytest.mark.parametrize("custom_events", [False, True])
async def test_openwebui_native_tools_round_trip_with_a_mixed_round(
    http: aiohttp.ClientSession, mode: ToolResultMode, custom_events: bool
) -> None:
    model = ScriptedChatModel([], then=fake_upstream)
    agent = make_agent(model, name="echo-agent", toolsets=[echo_tools()], client_tools=ClientToolPolicy(enabled=True))
    options = ServerOptions(tool_result_mode=mode, aura_custom_events=custom_events)
    user = {"role": "user", "content": "Please call echo and get_weather for Paris"}
    async with running_server([agent], options) as server:
        first_body = {"stream": True, "model": "echo-agent", "messages": [user], "tools": [WEATHER_TOOL]}
        status, text = await replay(
            http, server, {"method": "POST", "path": "/v1/chat/completions", "headers": {}, "body": first_body}
        )
        assert status == 200
        first = OpenWebUIStream.parse(text)
        assert first.errors == []
        assert first.finish_reason == "tool_calls"
        [client_call] = first.tool_calls  # the server ran echo itself; only get_weather is OpenWebUI's to run
        assert client_call["function"]["name"] == "get_weather"
        assert json.loads(client_call["function"]["arguments"]) == {"city": "Paris"}
        panels = owui_panels(first.content)
        assert [p["name"] for p in panels] == (["echo"] if mode is ToolResultMode.OPEN_WEB_UI else [])
        sent = [spec.name for spec in model.requests[0].tools]
        assert sent == ["echo", "broken", "get_weather"]

        # OpenWebUI runs get_weather, stores it as output items, and sends the conversation back
        # (`convert_output_to_messages`: the assistant text with its tool_calls, then the tool message).
        assistant = {
            "role": "assistant",
            "content": first.content,
            "tool_calls": [
                {
                    "id": client_call["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": client_call["function"]["arguments"]},
                }
            ],
        }
        tool = {"role": "tool", "tool_call_id": client_call["id"], "content": "sunny, 21 C"}
        second_body = {
            "stream": True,
            "model": "echo-agent",
            "messages": [user, assistant, tool],
            "tools": [WEATHER_TOOL],
        }
        status, text = await replay(
            http, server, {"method": "POST", "path": "/v1/chat/completions", "headers": {}, "body": second_body}
        )
        assert status == 200
        second = OpenWebUIStream.parse(text)
        assert second.tool_calls == []
        assert second.errors == []
        assert second.finish_reason == "stop"
        assert second.content == "get_weather returned: sunny, 21 C."
        continued = model.requests[-1].messages
        assert isinstance(continued[-1], ToolResultMessage)
        assert continued[-1].tool_name == "get_weather"
        assert "<details" not in "\n".join(_text(message) for message in continued)


async def test_a_failed_server_tool_shows_as_a_red_panel_and_never_as_a_failed_response(
    http: aiohttp.ClientSession,
) -> None:
    tools = FunctionToolset("fixture")

    def broken(message: str) -> str:
        raise RuntimeError("disk on fire")

    tools.add(broken, name="broken", parameters={"type": "object", "properties": {"message": {"type": "string"}}})
    model = ScriptedChatModel([], then=fake_upstream)
    agent = make_agent(model, name="echo-agent", toolsets=[tools])
    options = ServerOptions(tool_result_mode=ToolResultMode.OPEN_WEB_UI, aura_custom_events=True)
    body = {"stream": True, "model": "echo-agent", "messages": [{"role": "user", "content": "call broken with x"}]}
    async with running_server([agent], options) as server:
        status, text = await replay(
            http, server, {"method": "POST", "path": "/v1/chat/completions", "headers": {}, "body": body}
        )
    assert status == 200
    stream = OpenWebUIStream.parse(text)
    assert stream.errors == []  # aura.tool_complete of a failure has no top-level `error`
    [panel] = owui_panels(stream.content)
    assert panel["done"] is True
    assert panel["error"] is True
    assert "disk on fire" in panel["result"]


async def test_a_task_request_goes_to_the_designated_light_agent(http: aiohttp.ClientSession) -> None:
    recording = load(FIXTURES / "openwebui-0.12.4-none.json")
    title = next(e["request"] for e in recording["exchanges"] if e["label"] == "task: title")
    chat_model = ScriptedChatModel([], then=fake_upstream)
    light_model = ScriptedChatModel([], then=fake_upstream)
    chat = make_agent(
        chat_model, name="echo-agent", toolsets=[echo_tools()], background_tasks=BackgroundTaskPolicy(agent="light")
    )
    light = make_agent(light_model, name="light")
    async with running_server([chat, light]) as server:
        status, answer = await replay(http, server, title)
    assert status == 200
    assert json.loads(answer["choices"][0]["message"]["content"]) == {"title": "Echo Test"}
    assert chat_model.requests == []
    assert len(light_model.requests) == 1
    assert light_model.requests[0].background


async def test_a_task_request_is_marked_background_even_when_the_agent_answers_it_as_usual(
    http: aiohttp.ClientSession,
) -> None:
    recording = load(FIXTURES / "openwebui-0.12.4-none.json")
    tags = next(e["request"] for e in recording["exchanges"] if e["label"] == "task: tags")
    chat = next(e["request"] for e in recording["exchanges"] if e["label"].startswith("chat"))
    model = ScriptedChatModel([], then=fake_upstream)
    agent = make_agent(model, name="echo-agent", toolsets=[echo_tools()])  # default policy: same agent, same tools
    async with running_server([agent]) as server:
        assert (await replay(http, server, tags))[0] == 200
        assert (await replay(http, server, chat))[0] == 200
    assert model.requests[0].background
    assert model.requests[0].tools  # answered like any request, only marked
    assert not any(request.background for request in model.requests[1:])

"""Helpers for the A2A tests: the `a2a-sdk` client against a real aura server on 127.0.0.1, and the MCP fixture."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from a2a.client import Client, ClientConfig, create_client
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest, StreamResponse
from google.protobuf.json_format import MessageToDict

from aura.adapters.mcp import McpToolset, StreamableHttpTransport
from aura.domain.agent import Agent, AgentSettings
from aura.domain.messages import ToolResultMessage, UserMessage
from aura.ports.chat_model import ChatRequest
from aura.testing import ScriptedChatModel, ScriptedRound, call_tool, reply
from tests.integration.mcp.servers import ServerProcess, fixture_url, read_events


def user_message(text: str, *, context_id: str = "", task_id: str = "", message_id: str = "m1") -> SendMessageRequest:
    message = Message(message_id=message_id, role=Role.ROLE_USER, parts=[Part(text=text)])
    if context_id:
        message.context_id = context_id
    if task_id:
        message.task_id = task_id
    return SendMessageRequest(message=message)


@contextlib.asynccontextmanager
async def a2a_client(
    url: str, agent_id: str, *, streaming: bool = True, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK client for one agent, from its card (`/a2a/{agent}/.well-known/agent-card.json`)."""
    async with httpx.AsyncClient(headers=headers or {}, timeout=30) as http:
        client = await create_client(f"{url}/a2a/{agent_id}/", ClientConfig(httpx_client=http, streaming=streaming))
        try:
            yield client
        finally:
            await client.close()


async def collect(client: Client, request: SendMessageRequest) -> list[dict[str, Any]]:
    """Every `StreamResponse` the client yields, as JSON dicts (`task`, `statusUpdate`, `artifactUpdate`, `message`)."""
    events: list[StreamResponse] = [event async for event in client.send_message(request)]
    return [MessageToDict(event) for event in events]


def scripted(request: ChatRequest) -> ScriptedRound:
    """`slow <seconds>`, `headers` and `progress` call the fixture's tools, anything else is echoed; results quoted."""
    last = request.messages[-1]
    if isinstance(last, ToolResultMessage):
        return reply(f"{last.tool_name}: {last.content}")
    text = last.text if isinstance(last, UserMessage) else ""
    if text.startswith("slow"):
        return call_tool("slow_task", {"seconds": float(text.split()[1]), "label": text})
    if text == "headers":
        return call_tool("echo_headers", {"delay": 0.2})
    if text == "progress":
        return call_tool("progress_task", {"steps": 3}, call_id="p1")
    return reply("You said: ", text)


def text_of(events: Sequence[dict[str, Any]]) -> str:
    """The answer text of a stream: its `answer` artifact chunks, in order."""
    return "".join(
        part.get("text", "")
        for event in events
        if "artifactUpdate" in event
        for part in event["artifactUpdate"]["artifact"].get("parts", [])
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON payloads of an SSE body's `data:` lines."""
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


@contextlib.asynccontextmanager
async def fixture_agent(mcp_server: ServerProcess) -> AsyncIterator[Agent]:
    """Agent `ops` (scripted by `scripted`) with the MCP fixture server's tools; `X-User-Token` is forwarded."""
    transport = StreamableHttpTransport(
        fixture_url("streamable-http", mcp_server.port), headers_from_request={"Authorization": "X-User-Token"}
    )
    toolset = McpToolset("fixture", transport, call_timeout=60)
    await toolset.start()
    settings = AgentSettings(name="ops", system_prompt="You run slow things.", tool_timeout_secs=None)
    try:
        yield Agent(settings, ScriptedChatModel([], then=scripted), [toolset])
    finally:
        await toolset.aclose()


def events_of(record: Path, kind: str) -> list[dict[str, Any]]:
    """What the MCP fixture server recorded (`slow_started`, `slow_cancelled`, `cancelled`...)."""
    return [event for event in read_events(record) if event.get("event") == kind]

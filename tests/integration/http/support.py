"""Helpers for the HTTP integration tests: a real server on 127.0.0.1, agents built in code, SSE parsing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import attrs
from aiohttp import web

from aura.adapters.http import ServerOptions, create_app, start_app
from aura.domain.agent import Agent, AgentSettings
from aura.ports.chat_model import ChatModel
from aura.ports.toolset import Toolset
from aura.ports.tracer import Tracer
from aura.testing import RoundSource, ScriptedChatModel


@attrs.frozen
class RunningServer:
    app: web.Application
    url: str

    @property
    def base_url(self) -> str:
        """For the OpenAI SDK."""
        return f"{self.url}/v1"


@contextlib.asynccontextmanager
async def running_server(
    agents: Sequence[Agent],
    options: ServerOptions | None = None,
    *,
    default_agent: str | None = None,
    tracer: Tracer | None = None,
    **app_options: Any,
) -> AsyncIterator[RunningServer]:
    """`app_options` go to `create_app` (`observer`, `extra_routes`)."""
    app = create_app(agents, options or ServerOptions(), default_agent=default_agent, tracer=tracer, **app_options)
    runner, port = await start_app(app, "127.0.0.1", 0)
    try:
        yield RunningServer(app, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def make_agent(
    rounds: Sequence[RoundSource] | ChatModel = (),
    *,
    name: str = "tester",
    alias: str | None = None,
    toolsets: Sequence[Toolset] = (),
    then: RoundSource | None = None,
    **settings: Any,
) -> Agent:
    model = rounds if isinstance(rounds, ChatModel) else ScriptedChatModel(list(rounds), then=then)
    agent_settings = AgentSettings(name=name, system_prompt="You test.", alias=alias, **settings)
    return Agent(agent_settings, model, toolsets)


@attrs.frozen
class Frame:
    """One SSE message: an OpenAI chunk, an `aura.*` event, a comment or `[DONE]`."""

    kind: str  # "chunk" | "event" | "comment" | "done"
    raw: str
    event: str | None = None
    data: Any = None


def parse_frame(raw: str) -> Frame:
    lines = raw.split("\n")
    if all(line.startswith(":") for line in lines):
        return Frame("comment", raw)
    event = None
    data_lines: list[str] = []
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data_lines.append(line[len("data: ") :])
        else:
            raise AssertionError(f"unexpected SSE line {line!r} in {raw!r}")
    data = "\n".join(data_lines)
    if data == "[DONE]":
        return Frame("done", raw)
    return Frame("event" if event else "chunk", raw, event, json.loads(data))


def parse_sse(text: str) -> list[Frame]:
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-80:]!r}"
    return [parse_frame(block) for block in text[:-2].split("\n\n")]


async def iter_frames(response: aiohttp.ClientResponse) -> AsyncIterator[Frame]:
    """Frames as they arrive (for tests that react mid-stream)."""
    buffer: list[str] = []
    async for line_bytes in response.content:
        line = line_bytes.decode().rstrip("\n")
        if line:
            buffer.append(line)
            continue
        if buffer:
            yield parse_frame("\n".join(buffer))
            buffer = []


async def stream_frames(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], **kwargs: Any
) -> list[Frame]:
    payload = {"stream": True, **payload}
    async with session.post(f"{url}/v1/chat/completions", json=payload, **kwargs) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "text/event-stream"
        return parse_sse(await response.text())


def chunks(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    return [frame.data for frame in frames if frame.kind == "chunk"]


def events(frames: Sequence[Frame], name: str | None = None) -> list[Frame]:
    return [frame for frame in frames if frame.kind == "event" and (name is None or frame.event == name)]


def content_of(frames: Sequence[Frame]) -> str:
    return "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks(frames))


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def free_port() -> int:
    """A port that was free a moment ago (for server processes that must be told their port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until_healthy(
    http: aiohttp.ClientSession,
    url: str,
    process: asyncio.subprocess.Process,
    *,
    within: float = 60.0,
    log: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Polls `GET /health` of a server process until it answers 200; fails if the process exits or time runs out.

    `log` returns what the process wrote so far, quoted in the failure.
    """
    for _ in range(int(within * 10)):
        if process.returncode is not None:
            written = f": {await log()}" if log is not None else ""
            raise AssertionError(f"server exited early with {process.returncode}{written}")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{url}/health") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise AssertionError(f"server did not become healthy within {within:g} s")

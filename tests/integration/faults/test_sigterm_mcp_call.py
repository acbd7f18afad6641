"""SIGTERM to `aura serve` while an MCP tool call is in flight, on every transport.

The real process (the venv's `aura` script, so a stdio MCP child runs with the venv's interpreter), a fake OpenAI
upstream that asks for our fixture server's `slow_task`, and the fixture server itself. Once the tool has started,
the server gets SIGTERM: the accepted stream still ends with a final chunk and `[DONE]` (phase 2 of the shutdown),
the process exits 0 well within the documented bound, and the cancelled call leaves no ERROR line and no traceback
in the server's log — a cancelled call at shutdown is expected, not an error.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.faults.support import (
    assert_closed_properly,
    exit_code_and_log,
    killed_if_still_running,
    wait_until_healthy,
)
from tests.integration.faults.upstream import Behaviour, FakeOpenAI, Step
from tests.integration.http.support import Frame, content_of, iter_frames, user
from tests.integration.mcp.servers import (
    TRANSPORTS,
    ServerProcess,
    fixture_command,
    fixture_server,
    fixture_url,
    free_port,
    read_events,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

AURA = Path(sys.executable).with_name("aura")
GRACE_SECS = 1
# The documented bound after the signal: the grace period, up to 5 s for stopped turns to hand over their answer and
# up to 10 s for connections to drain (docs/request-lifecycle.md), then closing the agents.
EXIT_WITHIN_SECS = GRACE_SECS + 5 + 10
CONFIG_TRANSPORT = {"streamable-http": "http_streamable", "sse": "sse", "stdio": "stdio"}
LOG_LEVEL_OF_LINE = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")


def config(upstream: str, transport: str, mcp: str) -> str:
    server = f'url = "{mcp}"' if transport != "stdio" else f"cmd = {mcp}"
    return f"""
[llm]
provider = "openai"
api_key = "sk-sigterm-not-a-real-key"
model = "gpt-fake"
base_url = "{upstream}"

[agent]
name = "shutdown"
system_prompt = "You call tools."

[mcp.servers.fixture]
transport = "{CONFIG_TRANSPORT[transport]}"
{server}
required = true
timeout_secs = 0
"""


@pytest.fixture
def mcp_server(tmp_path: Path, record: Path) -> Iterator[Callable[[str], str]]:
    """`mcp_server(transport)` starts the fixture server if it is an HTTP one; returns its config value."""
    started: list[ServerProcess] = []

    def start(transport: str) -> str:
        if transport == "stdio":
            command = fixture_command("stdio", record=record)
            return "[" + ", ".join(f'"{part}"' for part in command) + "]"
        server = fixture_server(transport, tmp_path, record=record).start()
        started.append(server)
        return fixture_url(transport, server.port)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


async def read_stream(http: aiohttp.ClientSession, url: str) -> list[Frame]:
    payload = {"messages": user("sleep a minute"), "stream": True}
    frames: list[Frame] = []
    async with http.post(f"{url}/v1/chat/completions", json=payload) as response:
        assert response.status == 200, await response.text()
        async for frame in iter_frames(response):
            frames.append(frame)
    return frames


@pytest.mark.parametrize("cleanup_seconds", [0.0, 3.0], ids=["prompt-server", "server-slow-to-stop"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sigterm_with_an_mcp_call_in_flight_ends_the_stream_quietly(
    transport: str, cleanup_seconds: float, tmp_path: Path, mcp_server: Callable[[str], str], record: Path
) -> None:
    # With a server slow to stop, the cancelled call is still running on the server (and its POST or event stream
    # still open) when `aura serve` closes its MCP sessions: the window in which a late message meets a closed stream.
    arguments = {"seconds": 60, "label": "sigterm", "cleanup_seconds": cleanup_seconds}
    async with FakeOpenAI(default=Step(Behaviour.TOOL_CALL, tool_name="slow_task", tool_arguments=arguments)) as fake:
        frames, code, exited_after, log = await sigterm_during_the_call(transport, tmp_path, fake, mcp_server, record)

    assert code == 0, log
    assert exited_after < EXIT_WITHIN_SECS, log
    assert_closed_properly(frames)
    assert "The server is shutting down" in content_of(frames)
    assert "Received SIGTERM, initiating graceful shutdown" in log
    # the turn was cancelled, not finished: the tool never returned, and no second model round was asked for
    # (the server sees the cancellation on its own time, possibly after `aura serve` has exited: wait for it)
    cancelled = lambda: any(e.get("event") == "slow_cancelled" for e in read_events(record))  # noqa: E731
    await wait_for(cancelled, within=15, what="the MCP server to see the call cancelled")
    assert not any(e.get("event") == "slow_finished" for e in read_events(record))
    assert len(fake.requests) == 1
    # a cancelled call at shutdown is expected: no traceback, no ERROR, at most one line about the call
    assert "Traceback" not in log, log
    assert "Error parsing SSE message" not in log, log
    levels = [match.group(1) for line in log.splitlines() if (match := LOG_LEVEL_OF_LINE.search(line))]
    assert not {"ERROR", "CRITICAL"} & set(levels), log
    about_the_call = [line for line in log.splitlines() if "slow_task" in line or "cancel" in line.lower()]
    assert len(about_the_call) <= 1, log


async def sigterm_during_the_call(
    transport: str, tmp_path: Path, upstream: FakeOpenAI, mcp_server: Callable[[str], str], record: Path
) -> tuple[list[Frame], int, float, str]:
    """Runs `aura serve`, starts one stream, sends SIGTERM once the tool runs; returns frames, exit code, time, log."""
    assert AURA.exists(), f"the venv's aura script is missing: {AURA}"
    config_file = tmp_path / "agent.toml"
    config_file.write_text(config(upstream.url, transport, mcp_server(transport)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CONFIG_PATH": str(config_file), "PORT": str(port), "SHUTDOWN_TIMEOUT_SECS": str(GRACE_SECS)}
    process = await asyncio.create_subprocess_exec(
        str(AURA), "serve", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    async with killed_if_still_running(process):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await wait_until_healthy(http, url, process)
            reader = asyncio.create_task(read_stream(http, url))
            started = lambda: any(e.get("event") == "slow_started" for e in read_events(record))  # noqa: E731
            await wait_for(started, within=30, what="slow_task to start on the MCP server")
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            frames = await asyncio.wait_for(reader, EXIT_WITHIN_SECS)
        code, log = await exit_code_and_log(process, EXIT_WITHIN_SECS)
        exited_after = time.monotonic() - signalled
    return frames, code, exited_after, log

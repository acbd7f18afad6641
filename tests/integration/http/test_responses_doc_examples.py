"""docs/responses-api.md's curl and SDK examples, run as written (host and port aside) against a real server."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from aura.adapters.sessions.in_memory import InMemorySessionStore
from aura.testing import reply
from tests.integration.http.support import make_agent, parse_sse, running_server

DOC = Path(__file__).resolve().parents[3] / "docs" / "responses-api.md"


def block(marker: str, language: str) -> str:
    return DOC.read_text().split(f"<!-- {marker} -->", 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def curl_commands() -> list[str]:
    commands: list[str] = []
    for line in block("responses-examples", "bash").splitlines():
        if line.startswith("curl "):
            commands.append(line)
        elif commands and commands[-1].endswith("\\"):
            commands[-1] += "\n" + line
    return commands


async def run(argv: list[str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_examples_work_as_written() -> None:
    plain, streamed = curl_commands()
    agent = make_agent([], alias="my-agent", then=reply("The root disk is 42% full."))
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        answer = json.loads(await run(["bash", "-c", plain.replace("http://localhost:8080", server.url) + " --fail"]))
        stream = await run(["bash", "-c", streamed.replace("http://localhost:8080", server.url) + " --fail"])
    assert answer["output"][0]["content"][0]["text"] == "The root disk is 42% full."
    events = [frame.event for frame in parse_sse(stream) if frame.kind == "event"]
    assert events[0] == "response.created"
    assert events[-1] == "response.completed"


async def test_the_sdk_example_works_as_written() -> None:
    code = block("responses-sdk-example", "python")
    agent = make_agent([reply("Noted."), reply("You named checkout.")], alias="my-agent")
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        output = await run([sys.executable, "-c", code.replace("http://localhost:8080", server.url)])
    assert output.strip() == "You named checkout."

"""docs/a2a.md's curl and SDK examples, run as written (host and port aside) against a real server."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from aura.adapters.http.options import ServerOptions
from aura.testing import reply
from tests.integration.a2a.support import json_lines
from tests.integration.http.support import make_agent, running_server

pytestmark = pytest.mark.timeout(90)

DOC = Path(__file__).resolve().parents[3] / "docs" / "a2a.md"
ANSWER = "The root disk is 42% full."


def block(marker: str, language: str) -> str:
    return DOC.read_text().split(f"<!-- {marker} -->", 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def curl_commands() -> list[str]:
    commands: list[str] = []
    for line in block("a2a-examples", "bash").splitlines():
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
    card_command, send, stream, send_v1 = curl_commands()
    agent = make_agent([], alias="my-agent", then=reply(ANSWER))
    async with running_server([agent], ServerOptions(a2a_enabled=True)) as server:

        async def curl(command: str) -> str:
            return await run(["bash", "-c", command.replace("http://localhost:8080", server.url) + " --fail"])

        card = json.loads(await curl(card_command))
        sent = json.loads(await curl(send))
        frames = json_lines(await curl(stream))
        sent_v1 = json.loads(await curl(send_v1))
    assert card["url"] == f"{server.url}/a2a/my-agent/"
    assert sent["result"]["status"]["state"] == "completed"
    assert sent["result"]["artifacts"][0]["parts"] == [{"kind": "text", "text": ANSWER}]
    assert frames[0]["result"]["kind"] == "task"
    assert (frames[-1]["result"]["status"]["state"], frames[-1]["result"]["final"]) == ("completed", True)
    task = sent_v1["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["artifacts"][0]["parts"] == [{"text": ANSWER}]


async def test_the_sdk_example_works_as_written() -> None:
    code = block("a2a-sdk-example", "python")
    agent = make_agent([], alias="my-agent", then=reply(ANSWER))
    async with running_server([agent], ServerOptions(a2a_enabled=True)) as server:
        output = await run([sys.executable, "-c", code.replace("http://localhost:8080", server.url)])
    assert output.strip() == f"{ANSWER} - TASK_STATE_COMPLETED"

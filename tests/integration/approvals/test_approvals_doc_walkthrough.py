"""docs/approvals.md's curl walk-through, run as written (host, port and the decision id aside)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.integration.approvals.serving import answer, approval_server, tool_call

DOC = Path(__file__).resolve().parents[3] / "docs" / "approvals.md"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def walkthrough_commands() -> list[str]:
    block = DOC.read_text().split("<!-- approval-walkthrough -->", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith("curl "):
            commands.append(line)
        elif commands and commands[-1].endswith("\\"):
            commands[-1] += "\n" + line
    return commands


async def run(command: str, url: str, decision_id: str) -> str:
    command = command.replace("http://localhost:8080", url).replace("$DECISION_ID", decision_id)
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"{command} --show-error --fail-with-body --max-time 30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode() + stdout.decode()
    return stdout.decode()


async def test_the_walkthrough_parks_approves_and_resumes(tmp_path: Path) -> None:
    ask, show, approve, resume = walkthrough_commands()
    async with approval_server(tmp_path) as server:
        server.upstream.then(tool_call("restart_deployment", name="api"), answer("The api deployment was restarted."))

        asked = json.loads(await run(ask, server.url, ""))
        text = asked["choices"][0]["message"]["content"]
        found = re.search(r"apr_[0-9a-f]{24}", text)
        assert found is not None, text
        decision_id = found.group()
        assert asked["choices"][0]["finish_reason"] == "stop"

        shown = json.loads(await run(show, server.url, decision_id))
        assert (shown["status"], shown["tool"]) == ("pending", "restart_deployment")

        approved = json.loads(await run(approve, server.url, decision_id))
        assert approved["decision"]["approver"] == "alice@example.com"
        assert server.ran("restart_deployment") == 0

        resumed = json.loads(await run(resume, server.url, decision_id))
        assert resumed["choices"][0]["message"]["content"] == "The api deployment was restarted."
        assert server.ran("restart_deployment") == 1

"""docs/approvals.md's curl walk-through, run as written (host, port and the decision id aside)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.doc_examples import DOCS, curl_commands, marked_block, run_command
from tests.integration.approvals.serving import answer, approval_server, tool_call

DOC = DOCS / "approvals.md"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


async def run(command: str, url: str, decision_id: str) -> str:
    command = command.replace("http://localhost:8080", url).replace("$DECISION_ID", decision_id)
    return await run_command(["bash", "-c", f"{command} --show-error --fail-with-body --max-time 30"])


async def test_the_walkthrough_parks_approves_and_resumes(tmp_path: Path) -> None:
    ask, show, approve, resume = curl_commands(marked_block(DOC, "approval-walkthrough", "bash"))
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

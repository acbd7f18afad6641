"""docs/a2a.md's curl and SDK examples, run as written (host and port aside) against a real server."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from aura.adapters.http.options import ServerOptions
from aura.testing import reply
from tests.doc_examples import DOCS, curl_commands, marked_block, run_command
from tests.integration.a2a.support import json_lines
from tests.integration.http.support import make_agent, running_server

pytestmark = pytest.mark.timeout(90)

DOC = DOCS / "a2a.md"
ANSWER = "The root disk is 42% full."


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_examples_work_as_written() -> None:
    card_command, send, stream, send_v1 = curl_commands(marked_block(DOC, "a2a-examples", "bash"))
    agent = make_agent([], alias="my-agent", then=reply(ANSWER))
    async with running_server([agent], ServerOptions(a2a_enabled=True)) as server:

        async def curl(command: str) -> str:
            return await run_command(["bash", "-c", command.replace("http://localhost:8080", server.url) + " --fail"])

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
    code = marked_block(DOC, "a2a-sdk-example", "python")
    agent = make_agent([], alias="my-agent", then=reply(ANSWER))
    async with running_server([agent], ServerOptions(a2a_enabled=True)) as server:
        output = await run_command([sys.executable, "-c", code.replace("http://localhost:8080", server.url)])
    assert output.strip() == f"{ANSWER} - TASK_STATE_COMPLETED"

"""docs/responses-api.md's curl and SDK examples, run as written (host and port aside) against a real server."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from aura.adapters.sessions.in_memory import InMemorySessionStore
from aura.testing import reply
from tests.doc_examples import DOCS, curl_commands, marked_block, run_command
from tests.integration.http.support import make_agent, parse_sse, running_server

DOC = DOCS / "responses-api.md"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_examples_work_as_written() -> None:
    plain, streamed = curl_commands(marked_block(DOC, "responses-examples", "bash"))
    agent = make_agent([], alias="my-agent", then=reply("The root disk is 42% full."))
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        answer = json.loads(
            await run_command(["bash", "-c", plain.replace("http://localhost:8080", server.url) + " --fail"])
        )
        stream = await run_command(["bash", "-c", streamed.replace("http://localhost:8080", server.url) + " --fail"])
    assert answer["output"][0]["content"][0]["text"] == "The root disk is 42% full."
    events = [frame.event for frame in parse_sse(stream) if frame.kind == "event"]
    assert events[0] == "response.created"
    assert events[-1] == "response.completed"


async def test_the_sdk_example_works_as_written() -> None:
    code = marked_block(DOC, "responses-sdk-example", "python")
    agent = make_agent([reply("Noted."), reply("You named checkout.")], alias="my-agent")
    async with running_server([agent], session_store=InMemorySessionStore()) as server:
        output = await run_command([sys.executable, "-c", code.replace("http://localhost:8080", server.url)])
    assert output.strip() == "You named checkout."

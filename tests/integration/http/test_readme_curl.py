"""The README's curl examples, run as written (host and port aside) against a real server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from aura.testing import reply
from tests.doc_examples import curl_commands
from tests.integration.http.support import RunningServer, content_of, make_agent, parse_sse, running_server

README = Path(__file__).resolve().parents[3] / "README.md"
EXAMPLE_NAMES = ("health", "models", "chat", "chat_with_model", "streaming")


def readme_curl_examples() -> dict[str, str]:
    """The curl commands of the README's "API examples" block, in order, continuation lines joined."""
    text = README.read_text()
    block = text.split("## API examples", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = curl_commands(block)
    assert len(commands) == len(EXAMPLE_NAMES), commands
    return dict(zip(EXAMPLE_NAMES, commands, strict=True))


README_EXAMPLES = readme_curl_examples()

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


async def curl(server: RunningServer, example: str) -> str:
    command = README_EXAMPLES[example].replace("http://localhost:8080", server.url)
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"{command} --silent --show-error --fail-with-body --max-time 20",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_readme_curl_examples_work_as_written() -> None:
    default = make_agent([], name="My Agent", alias="my-agent", then=reply("Hi from my-agent!"))
    other = make_agent([], name="other", then=reply("Hi from other!"))
    async with running_server([default, other], default_agent="my-agent") as server:
        assert json.loads(await curl(server, "health")) == {"status": "healthy"}

        models = json.loads(await curl(server, "models"))
        assert [model["id"] for model in models["data"]] == ["my-agent", "other"]

        for example in ("chat", "chat_with_model"):
            completion = json.loads(await curl(server, example))
            assert completion["choices"][0]["message"]["content"] == "Hi from my-agent!"

        frames = parse_sse(await curl(server, "streaming"))
        assert content_of(frames) == "Hi from my-agent!"
        assert frames[-1].kind == "done"

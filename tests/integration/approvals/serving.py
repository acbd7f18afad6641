"""`aura serve` with approval-enabled agents, the fake OpenAI upstream and the annotated SRE MCP server."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from tests.integration.faults.upstream import Behaviour, FakeOpenAI, Step
from tests.integration.http.support import free_port, wait_until_healthy
from tests.integration.http.test_serve_metrics_and_workers import ServeProcess, aura_serve

REPO = Path(__file__).resolve().parents[3]
ACTIONS_SERVER = REPO / "tests" / "fixtures" / "mcp_servers" / "sre_actions_server.py"
WEBHOOK_SECRET = "whsec-0123456789abcdef"


def agent_config(
    upstream_url: str,
    record: Path,
    *,
    name: str = "ops",
    timeout_secs: float = 300,
    webhook_url: str | None = None,
) -> str:
    webhook = ""
    if webhook_url is not None:
        webhook = f"""
[approval.webhook]
url = "{webhook_url}"
secret = "{WEBHOOK_SECRET}"
forward_headers = ["X-Team"]
"""
    return f"""
[llm]
provider = "openai"
api_key = "sk-upstream-test"
model = "gpt-4o"
base_url = "{upstream_url}"

[agent]
name = "{name}"
system_prompt = "You are an SRE."

[mcp.servers.kube]
transport = "stdio"
cmd = ["{sys.executable}", "{ACTIONS_SERVER}", "--record", "{record}"]

[approval]
timeout_secs = {timeout_secs}

[[approval.rules]]
server = "kube"
tool = "scale_*"
ask = "always"
{webhook}"""


def tool_call(tool: str, **arguments: Any) -> Step:
    return Step(Behaviour.TOOL_CALL, tool_name=tool, tool_arguments=arguments)


def answer(text: str) -> Step:
    return Step(Behaviour.STREAM, (text,))


@attrs.define
class ApprovalServer:
    url: str
    upstream: FakeOpenAI
    record: Path
    process: ServeProcess

    def calls(self) -> list[dict[str, Any]]:
        """The tool calls that really ran on the MCP server."""
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]

    def ran(self, tool: str) -> int:
        return sum(1 for call in self.calls() if call["tool"] == tool)


@contextlib.asynccontextmanager
async def approval_server(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, **config: Any
) -> AsyncIterator[ApprovalServer]:
    record = tmp_path / "calls.jsonl"
    async with FakeOpenAI(default=answer("(no script left)")) as upstream:
        config_file = tmp_path / "agent.toml"
        config_file.write_text(agent_config(upstream.url, record, **config))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        full_env = {"CONFIG_PATH": str(config_file), "PORT": str(port), **(env or {})}
        async with aura_serve(*args, env=full_env) as serving, aiohttp.ClientSession() as http:
            await wait_until_healthy(http, url, serving.process, log=serving.current_log)
            yield ApprovalServer(url, upstream, record, serving)

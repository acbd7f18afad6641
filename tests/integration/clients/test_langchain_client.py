"""LibreChat's client stack against a real `aura serve`: `@langchain/openai`'s ChatOpenAI in node.

The versions are the ones `@librechat/agents` pins (tests/npm/package.json). Aura runs as a process on 127.0.0.1 with
the rule-based fake upstream (fake_upstream.py) behind it and one real MCP server (our fixture server, over stdio),
so a prompt saying `call echo` makes the model call a server tool and `call get_weather {...}` a client tool.

Needs node and `npm ci --prefix tests/npm`; skipped with a reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.http.support import free_port

REPO = Path(__file__).resolve().parents[3]
NPM = REPO / "tests" / "npm"
SCRIPT = NPM / "langchain_client.mjs"
FAKE_UPSTREAM = Path(__file__).with_name("fake_upstream.py")
FIXTURE_SERVER = REPO / "tests" / "fixtures" / "mcp_servers" / "fixture_server.py"
WEATHER_RESULT = "Sunny, 21 degrees"  # what langchain_client.mjs answers for get_weather


def langchain_installed() -> bool:
    return shutil.which("node") is not None and (NPM / "node_modules" / "@langchain" / "openai").is_dir()


pytestmark = [
    pytest.mark.npm,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not langchain_installed(),
        reason="needs node and tests/npm/node_modules (run `npm ci --prefix tests/npm`)",
    ),
]


AGENT_CONFIG = """
[llm]
provider = "openai"
api_key = "fake-upstream-key"
model = "fake-model"
base_url = "{upstream}/v1"

[agent]
name = "{name}"
alias = "{alias}"
system_prompt = "You are a helpful assistant. Use the tools when asked."
turn_depth = 3
{extra}
[mcp.servers.fixture]
transport = "stdio"
cmd = [{python}, {fixture}, "stdio"]
"""
# The option the "clients" work adds for agents that accept the request's `tools` (off by default).
CLIENT_TOOLS_OPTION = """
[agent.client_tools]
enabled = true
allow = ["get_weather"]
"""


class Process:
    """A subprocess whose output goes to a log file; `stop()` kills it."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=REPO
            )

    def wait_http(self, url: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{url} did not answer within {within} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("upstream")
    port = free_port()
    process = Process([sys.executable, str(FAKE_UPSTREAM), "--port", str(port)], logs / "upstream.log")
    try:
        url = f"http://127.0.0.1:{port}"
        process.wait_http(f"{url}/health")
        yield url
    finally:
        process.stop()


def serve(tmp: Path, upstream: str, *, name: str, alias: str, extra: str = "") -> Iterator[str]:
    config = tmp / f"{alias}.toml"
    config.write_text(
        AGENT_CONFIG.format(
            upstream=upstream,
            name=name,
            alias=alias,
            extra=extra,
            python=json.dumps(sys.executable),
            fixture=json.dumps(str(FIXTURE_SERVER)),
        )
    )
    port = free_port()
    command = [sys.executable, "-m", "aura.entrypoints.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"CONFIG_PATH": str(config), "TOOL_RESULT_MODE": "none", "AURA_CUSTOM_EVENTS": "false"}
    process = Process(command, tmp / f"{alias}.log", env)
    try:
        url = f"http://127.0.0.1:{port}"
        process.wait_http(f"{url}/health")
        yield f"{url}/v1"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def aura(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[str]:
    """An agent with one MCP server (server tools only)."""
    yield from serve(tmp_path_factory.mktemp("aura"), upstream, name="Echo Agent", alias="echo-agent")


@pytest.fixture(scope="module")
def aura_with_client_tools(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[str]:
    """The same agent, also accepting the client's own tools (`get_weather` only)."""
    tmp = tmp_path_factory.mktemp("aura-client-tools")
    yield from serve(tmp, upstream, name="Client Tools Agent", alias="client-agent", extra=CLIENT_TOOLS_OPTION)


def langchain(scenario: str, base_url: str, model: str, prompt: str) -> dict[str, Any]:
    command = ["node", str(SCRIPT), scenario, "--base-url", base_url, "--model", model, "--prompt", prompt]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=REPO)
    assert completed.stdout, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert completed.returncode == 0, completed.stderr
    return result


def raw_chunks(base_url: str, model: str, prompt: str) -> list[dict[str, Any]]:
    """The stream's `data:` chunks as JSON, read without any SDK."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    request = urllib.request.Request(
        f"{base_url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
    datas = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]", text[-300:]
    return [json.loads(data) for data in datas[:-1]]


def test_invoke_returns_an_ai_message_with_the_answer(aura: str) -> None:
    [answer] = langchain("invoke", aura, "echo-agent", "Hello there")["requests"]
    assert answer["class"] == "AIMessage"
    assert answer["content"] == "You said: Hello there"
    assert answer["tool_calls"] == []


def test_stream_assembles_an_ai_message_chunk_with_the_answer(aura: str) -> None:
    [answer] = langchain("stream", aura, "echo-agent", "Hello there")["requests"]
    assert answer["class"] == "AIMessageChunk"
    assert set(answer["chunk_classes"]) == {"AIMessageChunk"}
    assert answer["content"] == "You said: Hello there"


def test_first_chunk_has_the_assistant_role_when_a_server_tool_runs(aura: str) -> None:
    chunks = raw_chunks(aura, "echo-agent", "Please call echo with hello")
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant", chunks[0]
    assert all("tool_calls" not in chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"])


def test_stream_with_a_server_tool_is_one_ai_message_without_tool_calls(aura: str) -> None:
    [answer] = langchain("tools-stream", aura, "echo-agent", "Please call echo with hello")["requests"]
    assert set(answer["chunk_classes"]) == {"AIMessageChunk"}, answer["chunk_classes"]
    assert answer["class"] == "AIMessageChunk"
    assert "echo returned" in answer["content"]
    assert "hello" in answer["content"]
    assert answer["tool_calls"] == []


@pytest.mark.parametrize("scenario", ["tools-stream", "tools-invoke"])
def test_a_client_tool_call_reaches_langchain_and_its_result_continues_the_turn(
    aura_with_client_tools: str, scenario: str
) -> None:
    prompt = 'What is the weather? Please call get_weather {"city": "Paris"}'
    first, second = langchain(scenario, aura_with_client_tools, "client-agent", prompt)["requests"]
    assert first["class"] in ("AIMessage", "AIMessageChunk")
    assert [(call["name"], call["args"]) for call in first["tool_calls"]] == [("get_weather", {"city": "Paris"})]
    assert first["tool_calls"][0]["id"]
    assert first["invalid_tool_calls"] == []
    assert second["tool_calls"] == []
    assert second["content"] == f"get_weather returned: {WEATHER_RESULT}."


def test_a_round_mixing_a_server_tool_and_a_client_tool_hands_only_the_client_tool_over(
    aura_with_client_tools: str,
) -> None:
    prompt = 'Please call get_weather {"city": "Paris"} and call echo {"message": "hi"}'
    first, second = langchain("tools-stream", aura_with_client_tools, "client-agent", prompt)["requests"]
    assert set(first["chunk_classes"]) == {"AIMessageChunk"}
    assert [(call["name"], call["args"]) for call in first["tool_calls"]] == [("get_weather", {"city": "Paris"})]
    assert second["tool_calls"] == []
    assert f"get_weather returned: {WEATHER_RESULT}." in second["content"]

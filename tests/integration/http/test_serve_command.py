"""`aura serve` as a process: config loading, startup log, serving, exit statuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.integration.http.support import free_port

CONFIG = """
[llm]
provider = "openai"
api_key = "{{ env.TEST_OPENAI_KEY }}"
model = "gpt-4o"
base_url = "http://127.0.0.1:9/v1"

[agent]
name = "OpenAI Assistant"
alias = "openai"
system_prompt = "You are a helpful assistant."
model_owner = "acme"
"""


async def aura_serve(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aura.entrypoints.cli",
        "serve",
        *args,
        env={**os.environ, "TEST_OPENAI_KEY": "sk-test-do-not-log", **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_serves_a_config_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(CONFIG)
    port = free_port()
    process = await aura_serve("--port", str(port), env={"CONFIG_PATH": str(config), "PORT": "1"})
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/v1/models") as response:
                        models = await response.json()
                        break
                assert process.returncode is None, (await finished(process))[1]
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("aura serve did not start")
        process.send_signal(signal.SIGTERM)
        code, log = await finished(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert models["data"] == [
        {"id": "openai", "object": "model", "created": models["data"][0]["created"], "owned_by": "acme"}
    ]
    assert code == 0, log
    assert "Loaded agent 'openai' (openai/gpt-4o)" in log
    assert "sk-test-do-not-log" not in log


async def test_json_log_lines_of_a_request_carry_its_ids(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(CONFIG)
    port = free_port()
    process = await aura_serve("--port", str(port), "--config", str(config), env={"LOG_FORMAT": "json"})
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/health") as response:
                        break
                assert process.returncode is None, (await finished(process))[1]
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("aura serve did not start")
            payload = {"messages": [{"role": "user", "content": "hi"}], "metadata": {"chat_session_id": "sess-json"}}
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=payload) as response:
                assert response.status == 502  # nothing listens at the provider's base_url
        process.send_signal(signal.SIGTERM)
        code, log = await finished(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0, log
    lines = [json.loads(line) for line in log.splitlines()]
    [request_line] = [line for line in lines if line["message"].startswith("chat completion req_")]
    [model_failure] = [line for line in lines if line["message"].startswith("model openai/gpt-4o failed")]
    ids = {"request_id": request_line["request_id"], "session_id": "sess-json", "agent_id": "openai"}
    assert request_line["request_id"].startswith("req_")
    assert {key: request_line.get(key) for key in ids} == ids
    assert {key: model_failure.get(key) for key in ids} == ids  # logged by the agent's turn, deeper down


async def test_config_error_exits_1_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(CONFIG.replace('model_owner = "acme"', "unknown_key = 1"))
    code, log = await finished(await aura_serve("--config", str(config)))
    assert code == 1
    assert "Configuration error" in log
    assert str(config) in log
    assert "Traceback" not in log


async def test_unknown_default_agent_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(CONFIG)
    code, log = await finished(await aura_serve("--config", str(config), env={"DEFAULT_AGENT": "nobody"}))
    assert code == 1
    assert "DEFAULT_AGENT 'nobody' does not match any loaded agent name or alias" in log
    assert "Traceback" not in log


async def test_bad_option_exits_2_listing_allowed_values() -> None:
    code, log = await finished(await aura_serve(env={"TOOL_RESULT_MODE": "passthrough"}))
    assert code == 2
    assert "TOOL_RESULT_MODE: invalid tool result mode 'passthrough'; allowed values: none, open-web-ui, aura" in log

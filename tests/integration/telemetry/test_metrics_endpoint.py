"""`GET /metrics` on a real aiohttp server: record traffic from real agent turns, scrape, parse the exposition."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client.parser import text_string_to_metric_families

from aura.adapters.telemetry.metrics import ServerMetrics, metrics_handler
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import TextDelta, ToolCompleted
from aura.ports.chat_model import ChatRequest
from aura.testing import FunctionToolset, ScriptedChatModel, ScriptedRound, call_tools, reply

TIMEOUT = aiohttp.ClientTimeout(total=20)


def make_agent() -> Agent:
    tools = FunctionToolset("local")

    def echo(message: str) -> str:
        return f"echo: {message}"

    def boom() -> str:
        raise RuntimeError("disk on fire")

    tools.add(echo)
    tools.add(boom)
    calls = 0

    def tools_then_answer(request: ChatRequest) -> ScriptedRound:
        """Every request runs two tools (one fails) in its first round, then answers."""
        nonlocal calls
        calls += 1
        return call_tools([("echo", {"message": "hi"}), ("boom", {})]) if calls % 2 == 1 else reply("done")

    model = ScriptedChatModel(
        [],
        then=tools_then_answer,
        provider="openai",
        model_name="gpt-test",
    )
    return Agent(AgentSettings(name="calc", system_prompt="You test."), model, [tools])


def chat_handler(agent: Agent, metrics: ServerMetrics) -> Handler:
    """A stand-in for the real streaming endpoint, calling the metrics the way the HTTP adapter should."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            metrics.record_request(agent.id, 400)
            raise web.HTTPBadRequest(text="prompt must be a string")
        response = web.StreamResponse()
        with metrics.track_stream(agent.id) as stream:
            await response.prepare(request)
            metrics.record_request(agent.id, response.status)
            async for event in agent.run_turn(prompt):
                if isinstance(event, TextDelta):
                    stream.first_token()
                    await response.write(event.text.encode())
                elif isinstance(event, ToolCompleted):
                    outcome = "error" if event.result.is_error else "success"
                    metrics.record_tool_call(event.call.name, outcome, event.duration_ms / 1000)
            stream.outcome = "complete"
        await response.write_eof()
        return response

    return chat


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, ServerMetrics]]:
    metrics = ServerMetrics()
    mcp_states = {"kubernetes": True, "github": False}
    metrics.add_mcp_health_probe(lambda: dict(mcp_states))
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(metrics))
    app.router.add_post("/chat", chat_handler(make_agent(), metrics))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(address[1] for address in runner.addresses if isinstance(address, tuple))
    try:
        yield f"http://127.0.0.1:{port}", metrics
    finally:
        await runner.cleanup()


def value(text: str, sample_name: str, labels: Mapping[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and dict(sample.labels) == dict(labels):
                return sample.value
    return None


async def scrape(http: aiohttp.ClientSession, base: str, accept: str | None = None) -> tuple[str, str]:
    headers = {"Accept": accept} if accept else {}
    async with http.get(f"{base}/metrics", headers=headers) as response:
        assert response.status == 200
        return response.headers["Content-Type"], await response.text()


async def test_scrape_after_traffic_reports_requests_streams_tools_and_mcp_health(
    server: tuple[str, ServerMetrics],
) -> None:
    base, _ = server
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for _ in range(2):
            async with http.post(f"{base}/chat", json={"prompt": "hi"}) as response:
                assert response.status == 200
                assert await response.text() == "done"
        async with http.post(f"{base}/chat", json={"prompt": 42}) as response:
            assert response.status == 400
        content_type, text = await scrape(http, base)

    assert content_type.startswith("text/plain")
    assert value(text, "aura_requests_total", {"agent": "calc", "status": "200"}) == 2
    assert value(text, "aura_requests_total", {"agent": "calc", "status": "400"}) == 1
    assert value(text, "aura_stream_duration_seconds_count", {"agent": "calc", "outcome": "complete"}) == 2
    assert value(text, "aura_time_to_first_token_seconds_count", {"agent": "calc"}) == 2
    assert value(text, "aura_tool_calls_total", {"tool": "echo", "outcome": "success"}) == 2
    assert value(text, "aura_tool_calls_total", {"tool": "boom", "outcome": "error"}) == 2
    assert value(text, "aura_tool_call_duration_seconds_count", {"tool": "echo"}) == 2
    assert value(text, "aura_active_streams", {"agent": "calc"}) == 0
    assert value(text, "aura_mcp_server_up", {"server": "kubernetes"}) == 1
    assert value(text, "aura_mcp_server_up", {"server": "github"}) == 0


async def test_active_streams_counts_a_stream_while_it_is_open(server: tuple[str, ServerMetrics]) -> None:
    base, metrics = server
    release = asyncio.Event()
    opened = asyncio.Event()

    async def hold() -> None:
        with metrics.track_stream("calc"):
            opened.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    try:
        await asyncio.wait_for(opened.wait(), 5)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            _, during = await scrape(http, base)
            release.set()
            await asyncio.wait_for(holder, 5)
            _, after = await scrape(http, base)
    finally:
        release.set()
        holder.cancel()
    assert value(during, "aura_active_streams", {"agent": "calc"}) == 1
    assert value(after, "aura_active_streams", {"agent": "calc"}) == 0


async def test_an_openmetrics_scraper_gets_openmetrics(server: tuple[str, ServerMetrics]) -> None:
    base, metrics = server
    metrics.record_request("calc", 200)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        content_type, text = await scrape(http, base, accept="application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")

"""`GET /metrics` after real traffic: the server reports through `ServerObserver` into the telemetry `ServerMetrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from aura.adapters.http import ServerObserver, ServerOptions
from aura.adapters.telemetry import ServerMetrics, metrics_handler
from aura.domain.errors import ProviderErrorKind
from aura.testing import FunctionToolset, call_tool, call_tools, fail, reply
from tests.integration.http.support import iter_frames, make_agent, parse_sse, running_server, user

KEY = "sk-aura-metrics-0123456789"


def sample(text: str, name: str, labels: Mapping[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and dict(found.labels) == dict(labels):
                return found.value
    return None


def toolset(started: asyncio.Event | None = None) -> FunctionToolset:
    tools = FunctionToolset("local")

    def echo(message: str) -> str:
        return f"echo: {message}"

    def boom() -> str:
        raise RuntimeError("disk on fire")

    async def hang() -> str:
        if started is not None:
            started.set()
        await asyncio.sleep(60)
        return "never"

    tools.add(echo)
    tools.add(boom)
    tools.add(hang, parameters={"type": "object", "properties": {}})
    return tools


def test_server_metrics_satisfies_the_observer_port() -> None:
    assert isinstance(ServerMetrics(), ServerObserver)


async def test_scrape_after_streams_completions_errors_and_a_disconnect(http: aiohttp.ClientSession) -> None:
    metrics = ServerMetrics()
    hang_started = asyncio.Event()
    calc = make_agent(
        [
            call_tools([("echo", {"message": "hi"}), ("boom", {})]),
            reply("done"),
            reply("plain"),
            call_tool("hang", {}, text="Working."),
        ],
        name="calc",
        toolsets=[toolset(hang_started)],
    )
    flaky = make_agent([fail(ProviderErrorKind.SERVER_ERROR)], name="flaky")
    routes = [web.get("/metrics", metrics_handler(metrics))]
    options = ServerOptions(api_keys=(KEY,))
    auth = {"Authorization": f"Bearer {KEY}"}
    async with running_server([calc, flaky], options, observer=metrics, extra_routes=routes) as server:
        chat = f"{server.url}/v1/chat/completions"
        async with http.post(chat, json={"model": "calc", "messages": user("x"), "stream": True}, headers=auth) as r:
            frames = parse_sse(await r.text())
        async with http.post(chat, json={"model": "calc", "messages": user("x")}, headers=auth) as r:
            assert r.status == 200
        async with http.post(chat, json={"model": "flaky", "messages": user("x"), "stream": True}, headers=auth) as r:
            parse_sse(await r.text())
        async with http.post(chat, json={"model": "nope", "messages": user("x")}, headers=auth) as r:
            assert r.status == 404
        async with http.post(chat, json={"messages": user("x")}) as r:
            assert r.status == 401
        # a client that leaves while a tool runs: the tool call is counted as cancelled
        async with http.post(chat, json={"model": "calc", "messages": user("x"), "stream": True}, headers=auth) as r:
            async for frame in iter_frames(r):
                if frame.kind == "chunk":
                    break
            await asyncio.wait_for(hang_started.wait(), 10)
            r.close()
        text = await scrape_until(
            http, server.url, auth, "aura_tool_calls_total", {"tool": "hang", "outcome": "cancelled"}
        )
        async with http.get(f"{server.url}/metrics") as r:
            assert r.status == 401  # behind the same key as the API
    assert frames[-1].kind == "done"
    assert sample(text, "aura_requests_total", {"agent": "calc", "status": "200"}) == 3
    assert sample(text, "aura_requests_total", {"agent": "flaky", "status": "200"}) == 1
    assert sample(text, "aura_requests_total", {"agent": "unknown", "status": "404"}) == 1
    assert sample(text, "aura_requests_total", {"agent": "unknown", "status": "401"}) == 1
    assert sample(text, "aura_stream_duration_seconds_count", {"agent": "calc", "outcome": "complete"}) == 1
    assert sample(text, "aura_stream_duration_seconds_count", {"agent": "flaky", "outcome": "error"}) == 1
    assert sample(text, "aura_stream_duration_seconds_count", {"agent": "calc", "outcome": "disconnected"}) == 1
    assert sample(text, "aura_time_to_first_token_seconds_count", {"agent": "calc"}) == 2
    assert sample(text, "aura_tool_calls_total", {"tool": "echo", "outcome": "success"}) == 1
    assert sample(text, "aura_tool_calls_total", {"tool": "boom", "outcome": "error"}) == 1
    assert sample(text, "aura_tool_calls_total", {"tool": "hang", "outcome": "cancelled"}) == 1
    assert sample(text, "aura_active_streams", {"agent": "calc"}) == 0
    assert sample(text, "aura_active_streams", {"agent": "flaky"}) == 0


async def scrape_until(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], name: str, labels: dict[str, str]
) -> str:
    """The disconnect is noticed by the server a moment after the client closes; poll (bounded) for it."""
    for _ in range(100):
        async with http.get(f"{url}/metrics", headers=headers) as response:
            assert response.status == 200
            text = await response.text()
        if sample(text, name, labels) is not None and sample(text, "aura_active_streams", {"agent": "calc"}) == 0:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}{labels} never appeared:\n{text}")


async def test_active_streams_while_a_stream_is_open(http: aiohttp.ClientSession) -> None:
    metrics = ServerMetrics()
    started = asyncio.Event()
    agent = make_agent([call_tool("hang", {}, text="Working.")], name="calc", toolsets=[toolset(started)])
    routes = [web.get("/metrics", metrics_handler(metrics))]
    async with running_server([agent], observer=metrics, extra_routes=routes) as server:
        payload: dict[str, Any] = {"messages": user("x"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            await asyncio.wait_for(started.wait(), 10)
            async with http.get(f"{server.url}/metrics") as scrape:
                during = await scrape.text()
            response.close()
    assert sample(during, "aura_active_streams", {"agent": "calc"}) == 1


class ExplodingObserver:
    """An observer whose every call fails: the requests must not notice."""

    def record_request(self, agent: str, status: int) -> None:
        raise RuntimeError("metrics backend down")

    def stream_started(self, agent: str) -> None:
        raise RuntimeError("metrics backend down")

    def stream_ended(self, agent: str, outcome: str, duration_secs: float) -> None:
        raise RuntimeError("metrics backend down")

    def observe_time_to_first_token(self, agent: str, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    def record_tool_call(self, tool: str, outcome: str, duration_secs: float | None = None) -> None:
        raise RuntimeError("metrics backend down")

    def record_approval(self, agent: str, outcome: str) -> None:
        raise RuntimeError("metrics backend down")


async def test_a_failing_observer_never_breaks_a_request(http: aiohttp.ClientSession) -> None:
    agent = make_agent([call_tool("echo", {"message": "a"}), reply("ok")], toolsets=[toolset()])
    async with running_server([agent], observer=ExplodingObserver()) as server:
        payload = {"messages": user("x"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            assert response.status == 200
            frames = parse_sse(await response.text())
    assert frames[-1].kind == "done"
    assert any(frame.kind == "chunk" and frame.data["choices"][0]["delta"].get("content") == "ok" for frame in frames)

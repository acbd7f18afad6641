"""An agent at its connection limit (the provider was not called) answers 503 `overloaded`, says so in a stream,
and both are counted in `/metrics`."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from aura.adapters.http import ServerOptions
from aura.adapters.telemetry import ServerMetrics, metrics_handler
from aura.domain.errors import ProviderErrorKind
from aura.testing import fail
from tests.integration.http.support import make_agent, parse_sse, running_server, user

POOL_FULL = "all 3 connections of this agent's model client (max_connections) stayed in use; it was not called"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_overloaded_is_503_on_json_and_an_honest_note_in_a_stream(http: aiohttp.ClientSession) -> None:
    metrics = ServerMetrics()
    agent = make_agent(
        [fail(ProviderErrorKind.OVERLOADED, POOL_FULL), fail(ProviderErrorKind.OVERLOADED, POOL_FULL)], name="busy"
    )
    routes = [web.get("/metrics", metrics_handler(metrics))]
    async with running_server([agent], ServerOptions(), observer=metrics, extra_routes=routes) as server:
        chat = f"{server.url}/v1/chat/completions"
        async with http.post(chat, json={"model": "busy", "messages": user("x")}) as response:
            assert response.status == 503
            error = (await response.json())["error"]
        assert error["code"] == "overloaded"
        assert "was not called" in error["message"]
        assert "max_connections" not in error["message"]  # internals stay in the log
        async with http.post(chat, json={"model": "busy", "messages": user("x"), "stream": True}) as response:
            assert response.status == 200
            frames = parse_sse(await response.text())
        text = "".join(str(frame) for frame in frames)
        assert "was not called" in text
        assert "did not start responding" not in text
        async with http.get(f"{server.url}/metrics") as response:
            scraped = await response.text()
    assert samples(scraped, "aura_requests_total")[(("agent", "busy"), ("status", "503"))] == 1
    durations = samples(scraped, "aura_stream_duration_seconds_count")
    assert durations[(("agent", "busy"), ("outcome", "overloaded"))] == 1

"""`/metrics` stays small whatever the model or the clients send: invented tool names, unknown models."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from aura.adapters.telemetry import ServerMetrics, metrics_handler
from aura.testing import FunctionToolset, call_tools, reply
from tests.integration.http.support import make_agent, running_server, user


def series(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(found.labels.items())): found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name
    }


async def test_300_invented_tool_names_keep_metrics_small(http: aiohttp.ClientSession) -> None:
    tools = FunctionToolset("local")

    def echo(message: str) -> str:
        return message

    tools.add(echo)
    invented = [(f"made_up_tool_{index:03d}", {}) for index in range(300)]
    agent = make_agent(
        [call_tools([*invented, ("echo", {"message": "hi"})]), reply("done")], name="calc", toolsets=[tools]
    )
    metrics = ServerMetrics()
    routes = [web.get("/metrics", metrics_handler(metrics))]
    other = make_agent([reply("hi")], name="other")  # with two agents an unknown model is a 404
    async with running_server([agent, other], observer=metrics, extra_routes=routes) as server:
        payload = {"model": "calc", "messages": user("x")}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            assert response.status == 200
        for index in range(300):  # clients naming models that do not exist
            payload = {"model": f"no-such-model-{index}", "messages": user("x")}
            async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
                assert response.status == 404
        async with http.get(f"{server.url}/metrics") as response:
            text = await response.text()

    assert "made_up_tool" not in text
    assert "no-such-model" not in text
    calls = series(text, "aura_tool_calls_total")
    assert calls == {
        (("outcome", "error"), ("tool", "unknown")): 300.0,
        (("outcome", "success"), ("tool", "echo")): 1.0,
    }
    assert series(text, "aura_requests_total") == {
        (("agent", "calc"), ("status", "200")): 1.0,
        (("agent", "unknown"), ("status", "404")): 300.0,
    }
    assert len(text.encode()) < 16_000  # 1.5 MB before the names were bounded

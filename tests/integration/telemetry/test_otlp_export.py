"""Tracing configured from the environment exports a turn's spans to a real OTLP/HTTP endpoint on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from aura.adapters.telemetry.otel import OpenTelemetryTracer, configure_tracing
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import TurnFinished
from aura.domain.tools import RequestContext
from aura.ports.tracer import SpanKind
from aura.testing import FunctionToolset, ScriptedChatModel, call_tools, reply


class Collector:
    """The OTLP/HTTP traces endpoint, decoding every protobuf export request it receives."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []

    async def traces(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        self.requests.append(message)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, Collector]]:
    receiver = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(address[1] for address in runner.addresses if isinstance(address, tuple))
    try:
        yield f"http://127.0.0.1:{port}", receiver
    finally:
        await runner.cleanup()


def plain(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


def make_agent(tracer: OpenTelemetryTracer) -> Agent:
    tools = FunctionToolset("local")
    tools.add(lambda message: f"echo: {message}", name="echo")
    tools.add(lambda a, b: a + b, name="add")
    model = ScriptedChatModel(
        [call_tools([("echo", {"message": "hi"}), ("add", {"a": 1, "b": 2})]), reply("3")],
        provider="openai",
        model_name="gpt-test",
    )
    return Agent(AgentSettings(name="calc", system_prompt="You add."), model, [tools], tracer=tracer)


async def test_a_turn_is_exported_as_one_trace_to_the_otlp_endpoint(collector: tuple[str, Collector]) -> None:
    base, receiver = collector
    tracer = configure_tracing(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": base,
            "OTEL_SERVICE_NAME": "aura-it",
            "OTEL_RECORD_CONTENT": "true",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=sre",
        }
    )
    assert isinstance(tracer, OpenTelemetryTracer)
    request_span = tracer.start_span("POST /v1/chat/completions", SpanKind.CHAIN, {"http.request_id": "req_1"})
    agent = make_agent(tracer)
    async with asyncio.timeout(10):
        final = await agent.run("What is 1 + 2?", RequestContext(request_id="req_1", parent_span=request_span))
    request_span.end()
    assert isinstance(final, TurnFinished)
    # The batch exporter posts from its own thread with blocking I/O; the collector runs on this loop.
    assert await asyncio.to_thread(tracer.shutdown, 10.0)

    assert receiver.headers
    assert receiver.headers[0]["x-team"] == "sre"
    assert receiver.headers[0]["content-type"] == "application/x-protobuf"
    resources = [rs for message in receiver.requests for rs in message.resource_spans]
    assert {
        plain(attribute.value)
        for rs in resources
        for attribute in rs.resource.attributes
        if attribute.key == "service.name"
    } == {"aura-it"}
    spans = [span for rs in resources for scope in rs.scope_spans for span in scope.spans]
    assert sorted(span.name for span in spans) == [
        "POST /v1/chat/completions",
        "agent.turn",
        "llm.call",
        "llm.call",
        "tool.call",
        "tool.call",
    ]
    assert {span.trace_id.hex() for span in spans} == {request_span.trace_id}
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        expected_parent = {
            "POST /v1/chat/completions": None,
            "agent.turn": "POST /v1/chat/completions",
            "llm.call": "agent.turn",
            "tool.call": "agent.turn",
        }[span.name]
        actual_parent = by_id[span.parent_span_id].name if span.parent_span_id else None
        assert actual_parent == expected_parent, span.name
    kinds = {span.name: {a.key: plain(a.value) for a in span.attributes}["openinference.span.kind"] for span in spans}
    assert kinds == {
        "POST /v1/chat/completions": "CHAIN",
        "agent.turn": "AGENT",
        "llm.call": "LLM",
        "tool.call": "TOOL",
    }
    tool_outputs = {
        attributes["tool.name"]: attributes["output.value"]
        for attributes in (
            {a.key: plain(a.value) for a in span.attributes} for span in spans if span.name == "tool.call"
        )
    }
    assert tool_outputs == {"echo": "echo: hi", "add": "3"}

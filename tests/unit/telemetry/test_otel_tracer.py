"""The OpenTelemetry tracer under a real agent turn: span tree, OpenInference attributes, truncation, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.telemetry.otel import SPAN_KIND_ATTRIBUTE, OpenTelemetryTracer, truncate_utf8
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import TextDelta, TurnEvent, TurnFinished
from aura.domain.tools import RequestContext
from aura.domain.usage import Usage
from aura.domain.vector_search import VectorSearchToolset
from aura.ports.tracer import SpanKind
from aura.ports.vector_store import Document
from aura.testing import FunctionToolset, ScriptedChatModel, call_tool, call_tools, reply

ECHO_SCHEMA = {
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
    "additionalProperties": False,
}
ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
LONG_RESULT = "é" * 600  # 1200 UTF-8 bytes


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def toolset() -> FunctionToolset:
    tools = FunctionToolset("local")

    def echo(message: str) -> str:
        return f"echo: {message}"

    def add(a: int, b: int) -> int:
        return a + b

    def long_text() -> str:
        return LONG_RESULT

    def boom() -> str:
        raise RuntimeError("disk on fire")

    tools.add(echo, parameters=ECHO_SCHEMA, description="Echo a message")
    tools.add(add, parameters=ADD_SCHEMA, description="Add two integers")
    tools.add(long_text, description="A long answer")
    tools.add(boom, description="Always fails")
    return tools


def two_tool_turn(
    calls: Sequence[tuple[str, dict[str, object]]] = (("echo", {"message": "hi"}), ("add", {"a": 1, "b": 2})),
) -> ScriptedChatModel:
    return ScriptedChatModel(
        [
            call_tools(list(calls), call_ids=[f"call_{i}" for i in range(len(calls))], usage=Usage.of(20, 7)),
            reply("The answer is ", "3.", usage=Usage.of(35, 4)),
        ],
        provider="openai",
        model_name="gpt-test",
    )


async def run_turn(
    tracer: OpenTelemetryTracer,
    model: ScriptedChatModel,
    prompt: str = "What is 1 + 2?",
    context: RequestContext | None = None,
) -> list[TurnEvent]:
    agent = Agent(AgentSettings(name="calc", system_prompt="You add."), model, [toolset()], tracer=tracer)
    async with asyncio.timeout(10):
        return [event async for event in agent.run_turn(prompt, context)]


def by_name(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def only(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [span] = by_name(spans, name)
    return span


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_turn_with_two_tool_calls_builds_one_trace_agent_root_llm_and_tool_children(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    events = await run_turn(OpenTelemetryTracer(provider), two_tool_turn())
    assert isinstance(events[-1], TurnFinished)
    assert events[-1].error is None

    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == ["agent.turn", "llm.call", "llm.call", "tool.call", "tool.call"]
    root = only(spans, "agent.turn")
    assert root.parent is None
    assert root.context is not None
    assert {span.context.trace_id for span in spans if span.context} == {root.context.trace_id}
    for span in [*by_name(spans, "llm.call"), *by_name(spans, "tool.call")]:
        assert parent_id(span) == root.context.span_id
    kinds = {span.name: attributes(span)[SPAN_KIND_ATTRIBUTE] for span in spans}
    assert kinds == {"agent.turn": "AGENT", "llm.call": "LLM", "tool.call": "TOOL"}
    assert all(span.status.status_code is not StatusCode.ERROR for span in spans)


async def test_llm_and_agent_spans_carry_model_provider_and_token_counts(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await run_turn(OpenTelemetryTracer(provider), two_tool_turn())
    spans = exporter.get_finished_spans()

    first, second = sorted(by_name(spans, "llm.call"), key=lambda span: str(attributes(span)["agent.turn"]))
    for span in (first, second):
        assert attributes(span)["llm.model_name"] == "gpt-test"
        assert attributes(span)["llm.provider"] == "openai"
    assert {k: v for k, v in attributes(first).items() if k.startswith("llm.token_count")} == {
        "llm.token_count.prompt": 20,
        "llm.token_count.completion": 7,
        "llm.token_count.total": 27,
    }
    assert attributes(second)["llm.token_count.prompt"] == 35
    assert attributes(second)["llm.token_count.completion"] == 4
    root = attributes(only(spans, "agent.turn"))
    assert root["llm.model_name"] == "gpt-test"
    assert root["agent.name"] == "calc"
    # The turn view: the first round's prompt plus every completion.
    assert (root["llm.token_count.prompt"], root["llm.token_count.completion"], root["llm.token_count.total"]) == (
        20,
        11,
        31,
    )
    assert root["llm.token_count.tool_completion"] == 7


async def test_tool_spans_name_the_tool_and_hide_payloads_without_content_recording(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await run_turn(OpenTelemetryTracer(provider, record_content=False), two_tool_turn())
    spans = exporter.get_finished_spans()

    tools = {attributes(span)["tool.name"]: attributes(span) for span in by_name(spans, "tool.call")}
    assert set(tools) == {"echo", "add"}
    assert tools["echo"]["tool.call_id"] == "call_0"
    assert tools["add"]["tool.call_id"] == "call_1"
    content_keys = {"tool.parameters", "input.value", "output.value"}
    for span in spans:
        recorded = set(attributes(span))
        assert not recorded & content_keys, span.name
        assert not any(key.startswith(("llm.input_messages", "llm.output_messages")) for key in recorded)


async def test_content_recording_puts_prompts_answers_and_tool_payloads_on_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await run_turn(OpenTelemetryTracer(provider, record_content=True), two_tool_turn())
    spans = exporter.get_finished_spans()

    root = attributes(only(spans, "agent.turn"))
    assert root["input.value"] == "What is 1 + 2?"
    assert root["output.value"] == "The answer is 3."
    tools = {attributes(span)["tool.name"]: attributes(span) for span in by_name(spans, "tool.call")}
    assert tools["echo"]["tool.parameters"] == '{"message": "hi"}'
    assert tools["echo"]["input.value"] == '{"message": "hi"}'
    assert tools["echo"]["output.value"] == "echo: hi"
    assert tools["add"]["output.value"] == "3"
    first_llm = next(attributes(s) for s in by_name(spans, "llm.call") if attributes(s)["agent.turn"] == 0)
    assert first_llm["llm.input_messages.0.message.role"] == "system"
    assert first_llm["llm.input_messages.1.message.role"] == "user"
    assert first_llm["llm.input_messages.1.message.content"] == "What is 1 + 2?"
    prefix = "llm.output_messages.0.message.tool_calls"
    assert first_llm[f"{prefix}.0.tool_call.function.name"] == "echo"
    assert first_llm[f"{prefix}.1.tool_call.function.name"] == "add"


async def test_long_values_are_cut_at_a_utf8_boundary_with_an_ellipsis(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider, record_content=True, max_value_length=101)
    await run_turn(tracer, two_tool_turn([("long_text", {})]))
    tool = attributes(only(exporter.get_finished_spans(), "tool.call"))

    output = tool["output.value"]
    assert isinstance(output, str)
    assert output == "é" * 50 + "..."  # 101 bytes would split the 51st two-byte "é"
    assert tool["tool.result.length"] == len(LONG_RESULT)  # numbers are never cut


async def test_a_failing_tool_marks_its_span_as_error_with_the_message(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await run_turn(OpenTelemetryTracer(provider), two_tool_turn([("echo", {"message": "ok"}), ("boom", {})]))
    spans = exporter.get_finished_spans()

    tools = {attributes(span)["tool.name"]: span for span in by_name(spans, "tool.call")}
    failed = tools["boom"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "Tool returned an error: disk on fire"
    assert tools["echo"].status.status_code is not StatusCode.ERROR
    assert only(spans, "agent.turn").status.status_code is not StatusCode.ERROR  # the model recovered


async def test_a_request_span_parents_the_turn_and_shares_its_trace_id(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    request_span = tracer.start_span("POST /v1/chat/completions", SpanKind.CHAIN, {"http.request_id": "req_1"})
    await run_turn(tracer, two_tool_turn(), context=RequestContext(request_id="req_1", parent_span=request_span))
    request_span.end()

    spans = exporter.get_finished_spans()
    request = only(spans, "POST /v1/chat/completions")
    assert request.context is not None
    assert attributes(request)[SPAN_KIND_ATTRIBUTE] == "CHAIN"
    assert parent_id(only(spans, "agent.turn")) == request.context.span_id
    assert request_span.trace_id == trace.format_trace_id(request.context.trace_id)
    assert request_span.trace_id is not None
    assert len(request_span.trace_id) == 32
    assert int(request_span.trace_id, 16) != 0
    assert {span.context.trace_id for span in spans if span.context} == {request.context.trace_id}


async def test_a_span_without_parent_joins_the_callers_current_otel_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    with provider.get_tracer("embedding-app").start_as_current_span("app.handle") as outer:
        await run_turn(tracer, two_tool_turn())
    root = only(exporter.get_finished_spans(), "agent.turn")
    assert parent_id(root) == outer.get_span_context().span_id


def test_record_error_sets_error_status_with_secrets_masked(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    span = OpenTelemetryTracer(provider).start_span("llm.call", SpanKind.LLM)
    span.record_error("401 from provider: invalid key sk-abcdefghijklmnopqrstuvwx")
    span.end()

    [finished] = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.status.description == "401 from provider: invalid key sk-***"


def test_calls_after_end_are_ignored_and_end_is_idempotent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    span = OpenTelemetryTracer(provider).start_span("tool.call", SpanKind.TOOL, {"tool.name": "echo"})
    span.end()
    span.set_attribute("late", "value")
    span.record_error("late error")
    span.end()

    [finished] = exporter.get_finished_spans()
    assert "late" not in attributes(finished)
    assert finished.status.status_code is StatusCode.UNSET


def test_every_port_span_kind_becomes_an_openinference_kind(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = OpenTelemetryTracer(provider)
    for kind in SpanKind:
        tracer.start_span(kind.name.lower(), kind).end()
    recorded = {span.name: attributes(span)[SPAN_KIND_ATTRIBUTE] for span in exporter.get_finished_spans()}
    assert recorded == {"agent": "AGENT", "llm": "LLM", "tool": "TOOL", "retriever": "RETRIEVER", "chain": "CHAIN"}


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_bad_max_value_length_is_rejected_with_its_name(bad: object) -> None:
    with pytest.raises(ValueError, match="max_value_length"):
        OpenTelemetryTracer(TracerProvider(shutdown_on_exit=False), max_value_length=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven char", 10, "eleven cha..."),
        ("aé", 2, "a..."),  # "é" is two bytes: never half of it
        ("🙂🙂", 5, "🙂..."),  # four-byte characters
        ("anything at all", 0, "anything at all"),  # 0 = no limit
    ],
)
def test_truncate_utf8_cases(value: str, limit: int, expected: str) -> None:
    assert truncate_utf8(value, limit) == expected


@given(st.text(), st.integers(min_value=1, max_value=64))
def test_truncate_utf8_keeps_a_valid_prefix_within_the_byte_limit(value: str, limit: int) -> None:
    result = truncate_utf8(value, limit)
    if len(value.encode("utf-8", "replace")) <= limit:
        assert result == value
    else:
        assert result.endswith("...")
        kept = result.removesuffix("...")
        assert value.startswith(kept)
        assert len(kept.encode("utf-8")) <= limit
        assert len(value[: len(kept) + 1].encode("utf-8")) > limit  # nothing more would have fit


async def test_closing_a_turn_mid_round_still_ends_every_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    model = ScriptedChatModel([reply("first ", "second ", "third")], provider="openai", model_name="gpt-test")
    agent = Agent(AgentSettings(name="calc", system_prompt="You add."), model, [], tracer=OpenTelemetryTracer(provider))
    turn = cast(AsyncGenerator[TurnEvent, None], agent.run_turn("hi"))  # it is an async generator
    first = await anext(turn)  # the generator is now suspended inside the model round
    assert isinstance(first, TextDelta)
    await turn.aclose()  # what the HTTP adapter does when a client disconnects or a stream times out
    for _ in range(5):  # nested generators not closed explicitly are finalized by the loop shortly after
        await asyncio.sleep(0)

    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == ["agent.turn", "llm.call"]


async def searchable_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(HashingEmbedder(dimensions=64))
    await store.upsert(
        [
            Document("geo-1", "Paris is the capital of France", {"source": "geo.md"}),
            Document("geo-2", "Lyon is a city in France", {"source": "geo.md"}),
        ]
    )
    return store


async def test_a_vector_search_opens_a_retriever_span_under_its_tool_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    search = {"query": "capital of France", "limit": 2, "min_score": None, "label_filters": None}
    model = ScriptedChatModel([call_tool("vector_search_geo", search), reply("Paris.")])
    tracer = OpenTelemetryTracer(provider, record_content=True)
    toolset = VectorSearchToolset("geo", await searchable_store())
    agent = Agent(AgentSettings(name="geo", system_prompt="Look it up."), model, [toolset], tracer=tracer)
    async with asyncio.timeout(10):
        await agent.run("What is the capital of France?")

    spans = exporter.get_finished_spans()
    retrieval = only(spans, "vector.search")
    tool = only(spans, "tool.call")
    assert tool.context is not None
    assert parent_id(retrieval) == tool.context.span_id
    recorded = attributes(retrieval)
    assert recorded[SPAN_KIND_ATTRIBUTE] == "RETRIEVER"
    assert recorded["input.value"] == "capital of France"
    assert recorded["retrieval.documents.0.document.content"] == "Paris is the capital of France"
    assert recorded["retrieval.documents.0.document.id"] == "geo-1"
    assert isinstance(recorded["retrieval.documents.0.document.score"], float)

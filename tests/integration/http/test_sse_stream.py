"""Raw SSE over a real socket: framing, ordering, tool-result modes, aura.* events, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from aura.adapters.http import ServerOptions, ToolResultMode
from aura.domain.errors import ProviderErrorKind
from aura.domain.events import FinishReason, ModelEvent, ModelFinished, TextDelta, UsageReported
from aura.domain.tools import ProgressUpdate, ToolCallContext
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest
from aura.ports.tracer import SpanKind
from aura.testing import FunctionToolset, ScriptedRound, call_tool, call_tools, fail, reply
from tests.integration.http.support import (
    chunks,
    content_of,
    events,
    iter_frames,
    make_agent,
    running_server,
    stream_frames,
    user,
)

ANY_OBJECT = {"type": "object", "properties": {}}


class Gate:
    """Lets a test see a tool start and learn whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def hang(self) -> str:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return "never"


def tools_with(**functions: Any) -> FunctionToolset:
    toolset = FunctionToolset("local")
    for name, function in functions.items():
        toolset.add(function, name=name, parameters=ANY_OBJECT)
    return toolset


async def work(context: ToolCallContext) -> str:
    for step in (1, 2, 3):
        await context.report_progress(ProgressUpdate(step, 3, f"step {step}"))
    return "work finished: " + "r" * 200


async def test_aura_events_lifecycle_order_and_correlation(http: aiohttp.ClientSession) -> None:
    agent = make_agent(
        [
            call_tools([("work", {}), ("quick", {"n": 1})], call_ids=["c1", "c2"], text="Let me look."),
            call_tool("quick", {"n": 2}, call_id="c3"),
            reply("Here it is.", usage=Usage.of(40, 9)),
        ],
        alias="sre",
        toolsets=[tools_with(work=work, quick=lambda n: f"quick {n}")],
        context_window=128000,
    )
    options = ServerOptions(aura_custom_events=True, tool_result_max_length=20)
    async with running_server([agent], options) as server:
        frames = await stream_frames(
            http, server.url, {"messages": user("go"), "metadata": {"chat_session_id": "s-77"}}
        )

    assert frames[0].event == "aura.session_info"
    assert frames[0].data == {
        "model": "scripted/scripted-model",
        "model_context_limit": 128000,
        "agent_id": "sre",
        "session_id": "s-77",
    }
    assert frames[1].kind == "comment"
    assert frames[1].raw == ": heartbeat"
    for event in events(frames):
        assert event.data["session_id"] == "s-77"
        assert event.data["agent_id"] == "sre"
        assert "trace_id" not in event.data  # tracing is off
        assert None not in event.data.values()

    position = {id(frame): index for index, frame in enumerate(frames)}
    for tool_id in ("c1", "c2", "c3"):
        requested = [f for f in events(frames, "aura.tool_requested") if f.data["tool_id"] == tool_id]
        started = [f for f in events(frames, "aura.tool_start") if f.data["tool_id"] == tool_id]
        completed = [f for f in events(frames, "aura.tool_complete") if f.data["tool_id"] == tool_id]
        assert len(requested) == len(started) == len(completed) == 1
        progress = [
            f for f in events(frames, "aura.progress") if f.data["progress_token"] == started[0].data["progress_token"]
        ]
        order = [position[id(requested[0])], position[id(started[0])]]
        order += [position[id(p)] for p in progress]
        order.append(position[id(completed[0])])
        assert order == sorted(order), tool_id
    assert all("tool_calls" not in chunk["choices"][0]["delta"] for chunk in chunks(frames))

    work_progress = [f.data for f in events(frames, "aura.progress")]
    assert [p["percent"] for p in work_progress] == [33, 66, 100]
    assert [p["message"] for p in work_progress] == ["step 1", "step 2", "step 3"]
    assert all(p["phase"] == "mcp_progress" and p["tool_id"] == "c1" for p in work_progress)

    complete_c1 = next(f.data for f in events(frames, "aura.tool_complete") if f.data["tool_id"] == "c1")
    assert complete_c1["success"] is True
    assert complete_c1["result"] == "work finished: rrrrr... [truncated]"
    assert isinstance(complete_c1["duration_ms"], int)
    requested_c2 = next(f.data for f in events(frames, "aura.tool_requested") if f.data["tool_id"] == "c2")
    assert requested_c2["arguments"] == {"n": 1}

    tool_usage = [f.data for f in events(frames, "aura.tool_usage")]
    assert [sorted(u["tool_ids"]) for u in tool_usage] == [["c1", "c2"], ["c3"]]
    [usage_event] = events(frames, "aura.usage")
    assert usage_event.data["prompt_tokens"] == 10  # first round's prompt
    assert usage_event.data["completion_tokens"] == 5 + 5 + 9
    final = chunks(frames)[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"] == {"prompt_tokens": 60, "completion_tokens": 19, "total_tokens": 79}
    assert frames.index(usage_event) < len(frames) - 2
    assert frames[-1].kind == "done"
    assert content_of(frames) == "Let me look.\n\nHere it is."


async def test_open_web_ui_mode_shows_each_server_call_as_a_done_panel_in_the_content(
    http: aiohttp.ClientSession,
) -> None:
    agent = make_agent(
        [
            call_tools([("quick", {"n": 1}), ("quick", {"n": 2})], call_ids=["a", "b"]),
            call_tool("quick", {"n": 3}, call_id="c"),
            reply("done"),
        ],
        toolsets=[tools_with(quick=lambda n: f"Mock tool executed successfully: {n}")],
    )
    options = ServerOptions(tool_result_mode=ToolResultMode.OPEN_WEB_UI, tool_result_max_length=0)
    async with running_server([agent], options) as server:
        frames = await stream_frames(http, server.url, {"messages": user("go")})
    assert all("tool_calls" not in chunk["choices"][0]["delta"] for chunk in chunks(frames))
    content = content_of(frames)
    panels = re.findall(r'<details type="tool_calls" done="true" id="(\w)" name="quick" [^>]*>\n', content)
    assert sorted(panels) == ["a", "b", "c"]
    for n in (1, 2, 3):
        assert f"<summary>Tool Executed</summary>\nMock tool executed successfully: {n}\n</details>" in content
    assert content.endswith("</details>\n\ndone")
    assert chunks(frames)[-1]["choices"][0]["finish_reason"] == "stop"
    assert events(frames) == []  # custom events stay off


async def test_first_role_rule_and_exactly_one_finish_reason(http: aiohttp.ClientSession) -> None:
    agent = make_agent(
        [call_tool("quick", {"n": 1}), reply("After ", "tools.")], toolsets=[tools_with(quick=lambda n: "q")]
    )
    async with running_server([agent]) as server:
        frames = await stream_frames(http, server.url, {"messages": user("go")})
    all_chunks = chunks(frames)
    deltas = [c["choices"][0]["delta"] for c in all_chunks]
    with_role = [d for d in deltas if "role" in d]
    assert with_role == [{"role": "assistant", "content": "After "}]
    finishes = [c for c in all_chunks if "finish_reason" in c["choices"][0]]
    assert len(finishes) == 1
    assert finishes[0] is all_chunks[-1]
    assert finishes[0]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert (
        finishes[0]["usage"]["total_tokens"]
        == finishes[0]["usage"]["prompt_tokens"] + finishes[0]["usage"]["completion_tokens"]
    )
    assert all("usage" not in c for c in all_chunks[:-1])
    assert len({c["id"] for c in all_chunks}) == 1
    assert len({c["created"] for c in all_chunks}) == 1
    assert frames[-1].kind == "done"


async def test_response_headers_and_session_header(http: aiohttp.ClientSession) -> None:
    async with running_server([make_agent([reply("hi")])]) as server:
        payload = {"messages": user("x"), "stream": True}
        async with http.post(
            f"{server.url}/v1/chat/completions", json=payload, headers={"X-Chat-Session-Id": "from-header"}
        ) as response:
            await response.read()
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["X-Chat-Session-Id"] == "from-header"


async def test_incoming_headers_reach_tools_lower_cased(http: aiohttp.ClientSession) -> None:
    def whoami(context: ToolCallContext) -> str:
        return f"auth={context.request.headers.get('authorization')} session={context.request.session_id}"

    toolset = FunctionToolset("local")
    toolset.add(whoami, parameters=ANY_OBJECT)
    agent = make_agent([call_tool("whoami", {}), reply("ok")], toolsets=[toolset])
    options = ServerOptions(aura_custom_events=True, tool_result_max_length=0)
    async with running_server([agent], options) as server:
        frames = await stream_frames(
            http,
            server.url,
            {"messages": user("x")},
            headers={"Authorization": "Token pd_test_token_12345", "x-openwebui-chat-id": "owui-1"},
        )
    [complete] = events(frames, "aura.tool_complete")
    assert complete.data["result"] == "auth=Token pd_test_token_12345 session=owui-1"


async def test_provider_error_mid_stream_is_a_text_chunk_then_final_without_usage(http: aiohttp.ClientSession) -> None:
    agent = make_agent([fail(ProviderErrorKind.SERVER_ERROR, "secret internal detail", after=["Partial"])])
    async with running_server([agent]) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x")})
    deltas = [c["choices"][0]["delta"] for c in chunks(frames)]
    assert deltas[0] == {"role": "assistant", "content": "Partial"}
    assert deltas[1]["content"].startswith(
        "\n\nThe upstream model provider (scripted/scripted-model) returned an error"
    )
    final = chunks(frames)[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in final
    assert frames[-1].kind == "done"
    assert all("secret internal detail" not in frame.raw for frame in frames)


async def test_reasoning_events_need_both_switches(http: aiohttp.ClientSession) -> None:
    def thinking_round() -> ScriptedRound:
        return ScriptedRound(text=("Answer",), reasoning=("Let me think",))

    agent = make_agent([], then=lambda _: thinking_round())
    options = ServerOptions(aura_custom_events=True, aura_emit_reasoning=True)
    async with running_server([agent], options) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x")})
    [reasoning] = events(frames, "aura.reasoning")
    assert reasoning.data["content"] == "Let me think"
    assert content_of(frames) == "Answer"  # reasoning never appears in content
    async with running_server([agent], ServerOptions(aura_custom_events=True)) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x")})
    assert events(frames, "aura.reasoning") == []


async def test_heartbeats_at_start_and_while_a_tool_runs(http: aiohttp.ClientSession) -> None:
    async def slow() -> str:
        await asyncio.sleep(0.5)
        return "slow done"

    agent = make_agent([call_tool("slow", {}), reply("ok")], toolsets=[tools_with(slow=slow)])
    options = ServerOptions(heartbeat_interval_secs=0.05)
    async with running_server([agent], options) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x")})
    assert frames[0].raw == ": heartbeat"  # the first tick fires at once
    assert sum(frame.raw == ": heartbeat" for frame in frames) >= 3
    assert frames[-1].kind == "done"


async def test_first_chunk_timeout_ends_the_stream_with_a_note(http: aiohttp.ClientSession) -> None:
    agent = make_agent([ScriptedRound(text=("too late",), delay=30)])
    options = ServerOptions(first_chunk_timeout_secs=0.2)
    async with running_server([agent], options) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x")})
    deltas = [c["choices"][0]["delta"] for c in chunks(frames)]
    assert deltas[0]["role"] == "assistant"
    assert "did not start responding within 0.2 seconds" in deltas[0]["content"]
    assert "too late" not in content_of(frames)
    final = chunks(frames)[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in final
    assert frames[-1].kind == "done"


async def test_stream_timeout_ends_the_stream_and_cancels_the_tool(http: aiohttp.ClientSession) -> None:
    gate = Gate()
    agent = make_agent(
        [call_tool("hang", {}, text="Working on it."), reply("never")], toolsets=[tools_with(hang=gate.hang)]
    )
    options = ServerOptions(streaming_timeout_secs=0.5, aura_custom_events=True)
    async with running_server([agent], options) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x")})
        await asyncio.wait_for(gate.cancelled.wait(), 5)
    text = content_of(frames)
    assert text.startswith("Working on it.\n\nThe response took longer than the 0.5-second limit")
    final = chunks(frames)[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in final
    assert frames[-1].kind == "done"
    assert events(frames, "aura.tool_complete") == []
    [usage_event] = events(frames, "aura.usage")  # turn usage so far (the first round finished)
    assert usage_event.data["prompt_tokens"] == 10


async def test_client_disconnect_cancels_the_running_tool(http: aiohttp.ClientSession) -> None:
    gate = Gate()
    agent = make_agent([call_tool("hang", {}), reply("never")], toolsets=[tools_with(hang=gate.hang)])
    async with running_server([agent], ServerOptions(aura_custom_events=True)) as server:
        payload = {"messages": user("x"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            async for frame in iter_frames(response):
                if frame.event == "aura.tool_start":
                    break
            assert gate.started.is_set()
            response.close()
        await asyncio.wait_for(gate.cancelled.wait(), 5)


async def test_non_streaming_client_disconnect_cancels_the_running_tool(http: aiohttp.ClientSession) -> None:
    gate = Gate()
    agent = make_agent([call_tool("hang", {}), reply("never")], toolsets=[tools_with(hang=gate.hang)])
    async with running_server([agent]) as server:
        request = asyncio.create_task(http.post(f"{server.url}/v1/chat/completions", json={"messages": user("x")}))
        await asyncio.wait_for(gate.started.wait(), 5)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await asyncio.wait_for(gate.cancelled.wait(), 5)


async def test_non_streaming_timeout_is_504_without_text(http: aiohttp.ClientSession) -> None:
    gate = Gate()
    agent = make_agent([call_tool("hang", {}), reply("never")], toolsets=[tools_with(hang=gate.hang)])
    async with running_server([agent], ServerOptions(streaming_timeout_secs=0.3)) as server:
        async with http.post(f"{server.url}/v1/chat/completions", json={"messages": user("x")}) as response:
            body = await response.json()
        await asyncio.wait_for(gate.cancelled.wait(), 5)
    assert response.status == 504
    assert body["error"]["type"] == "upstream_error"
    assert "0.3-second limit" in body["error"]["message"]


class CountingModel:
    """Streams `count` big text deltas and records how many it has produced so far."""

    provider = "counting"
    model_name = "big"

    def __init__(self, count: int, size: int) -> None:
        self.count = count
        self.size = size
        self.produced = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        for index in range(self.count):
            self.produced += 1
            yield TextDelta(f"<{index:05d}>" + "x" * self.size)
        yield UsageReported(Usage.of(1, 1))
        yield ModelFinished(FinishReason.STOP)

    async def aclose(self) -> None:
        return None


async def test_backpressure_stalls_the_turn_and_drops_nothing(http: aiohttp.ClientSession) -> None:
    model = CountingModel(count=512, size=64 * 1024)
    agent = make_agent(model)
    async with running_server([agent], ServerOptions(streaming_buffer_size=1)) as server:
        payload = {"messages": user("x"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            first = await response.content.readline()
            assert first.startswith(b": heartbeat")
            # Stop reading until the producer has stalled: its count no longer moves.
            previous = -1
            for _ in range(100):
                if model.produced == previous:
                    break
                previous = model.produced
                await asyncio.sleep(0.2)
            assert model.produced == previous
            assert model.produced < model.count
            rest = await response.read()
    received = [block.strip() for block in rest.split(b"\n\n") if block.strip().startswith(b"data: {")]
    text_chunks = [line for line in received if b'"content"' in line]
    assert len(text_chunks) == model.count
    for index, line in enumerate(text_chunks):
        assert f"<{index:05d}>".encode() in line
    assert rest.endswith(b"data: [DONE]\n\n")


class RecordingSpan:
    def __init__(self, name: str, attributes: Mapping[str, Any]) -> None:
        self.name = name
        self.attributes = dict(attributes)
        self.errors: list[str] = []
        self.ended = False

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def record_error(self, message: str) -> None:
        self.errors.append(message)

    def end(self) -> None:
        self.ended = True

    @property
    def trace_id(self) -> str:
        return "ab" * 16


class RecordingTracer:
    records_content = False

    def __init__(self) -> None:
        self.spans: list[RecordingSpan] = []

    def start_span(self, name: str, kind: SpanKind, attributes: Any = None, parent: Any = None) -> RecordingSpan:
        span = RecordingSpan(name, attributes or {})
        self.spans.append(span)
        return span


async def test_trace_id_of_the_request_span_is_on_every_event(http: aiohttp.ClientSession) -> None:
    tracer = RecordingTracer()
    agent = make_agent([call_tool("quick", {"n": 1}), reply("ok")], toolsets=[tools_with(quick=lambda n: "q")])
    async with running_server([agent], ServerOptions(aura_custom_events=True), tracer=tracer) as server:
        frames = await stream_frames(http, server.url, {"messages": user("x"), "metadata": {"chat_session_id": "s9"}})
    assert events(frames)
    assert all(event.data["trace_id"] == "ab" * 16 for event in events(frames))
    [span] = tracer.spans
    assert span.ended
    assert span.attributes["session.id"] == "s9"
    assert str(span.attributes["http.request_id"]).startswith("req_")


async def test_disconnect_while_backpressured_still_cancels_running_tools(http: aiohttp.ClientSession) -> None:
    gate = Gate()

    async def chatty(context: ToolCallContext) -> str:
        for step in range(100_000):
            await context.report_progress(ProgressUpdate(step, None, "p" * 2000))
        return "done"

    agent = make_agent(
        [call_tools([("hang", {}), ("chatty", {})]), reply("x")], toolsets=[tools_with(hang=gate.hang, chatty=chatty)]
    )
    options = ServerOptions(aura_custom_events=True, streaming_buffer_size=1)
    async with running_server([agent], options) as server:
        payload = {"messages": user("x"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            await response.content.readline()
            await asyncio.wait_for(gate.started.wait(), 5)
            await asyncio.sleep(0.5)  # let progress events fill every buffer: the producer now waits
            response.close()
        await asyncio.wait_for(gate.cancelled.wait(), 5)

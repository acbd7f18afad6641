"""Provider faults through the real OpenAI adapter and a fake upstream: nothing lost, the server keeps serving.

Each test serves an agent whose model is `OpenAIChatModel` pointed at a local fake OpenAI server, so the
failure travels through the real SDK, the adapter's error mapping and retries, the turn and the SSE writer.
"""

from __future__ import annotations

import asyncio

import aiohttp

from aura.adapters.http import ServerOptions
from aura.adapters.llm.openai import OpenAIChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.agent import Agent, AgentSettings
from aura.testing import FunctionToolset
from tests.integration.faults.support import assert_closed_properly, assert_still_serving, stream
from tests.integration.faults.upstream import Behaviour, FakeOpenAI, Step
from tests.integration.http.support import content_of, running_server, user

FAST_RETRY = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05)
PROVIDER_FAILED = "The upstream model provider (openai/gpt-fake) returned an error"


def openai_agent(upstream: FakeOpenAI, toolsets: list[FunctionToolset] | None = None) -> Agent:
    model = OpenAIChatModel("gpt-fake", "sk-fake-upstream-key", upstream.url, request_timeout=30, retry=FAST_RETRY)
    return Agent(AgentSettings(name="assistant", system_prompt="You help."), model, toolsets or [])


async def test_provider_error_event_mid_stream(http: aiohttp.ClientSession) -> None:
    async with FakeOpenAI() as upstream, running_server([openai_agent(upstream)]) as server:
        upstream.then(Step(Behaviour.ERROR_EVENT_AFTER_TEXT, ("Partial", " answer")))
        frames = await stream(http, server.url)
        final = assert_closed_properly(frames)
        await assert_still_serving(http, server.url, "fine")
    text = content_of(frames)
    assert text.startswith("Partial answer\n\n")
    assert PROVIDER_FAILED in text
    assert "usage" not in final  # no usage after a failure
    assert "sk-fake-upstream-key" not in text


async def test_provider_connection_dropped_mid_stream(http: aiohttp.ClientSession) -> None:
    async with FakeOpenAI() as upstream, running_server([openai_agent(upstream)]) as server:
        upstream.then(Step(Behaviour.DROP_AFTER_TEXT, ("Partial",)))
        frames = await stream(http, server.url)
        assert_closed_properly(frames)
        await assert_still_serving(http, server.url, "fine")
    assert content_of(frames).startswith("Partial\n\n")
    assert len(upstream.requests) == 2  # text had been streamed: the failed call was not retried


async def test_provider_500_on_the_round_after_a_tool_call(http: aiohttp.ClientSession) -> None:
    """The stream is already open (a tool ran) when every attempt at the next LLM round gets HTTP 500."""
    tools = FunctionToolset("local")
    tools.add(
        lambda city: f"sunny in {city}",
        name="weather",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    async with FakeOpenAI() as upstream, running_server([openai_agent(upstream, [tools])]) as server:
        upstream.then(
            Step(Behaviour.TOOL_CALL, tool_name="weather", tool_arguments={"city": "Paris"}),
            Step(Behaviour.HTTP_500),
            Step(Behaviour.HTTP_500),
        )
        frames = await stream(http, server.url)
        assert_closed_properly(frames)
        await assert_still_serving(http, server.url, "fine")
    tool_chunks = [f for f in frames if f.kind == "chunk" and "tool_calls" in f.data["choices"][0]["delta"]]
    assert tool_chunks == []  # the server ran the tool: it is never streamed as a call for the client
    assert PROVIDER_FAILED in content_of(frames)
    assert len(upstream.requests) == 4  # tool round, two attempts of the failing round, the next request


async def test_provider_500_before_any_text_non_streaming_is_a_502(http: aiohttp.ClientSession) -> None:
    async with FakeOpenAI() as upstream, running_server([openai_agent(upstream)]) as server:
        upstream.then(Step(Behaviour.HTTP_500), Step(Behaviour.HTTP_500))
        async with http.post(f"{server.url}/v1/chat/completions", json={"messages": user("hi")}) as response:
            status, body = response.status, await response.json()
        await assert_still_serving(http, server.url, "fine")
    assert status == 502
    assert body["error"]["type"] == "upstream_error"
    assert "Traceback" not in body["error"]["message"]


async def test_provider_never_sends_a_first_chunk(http: aiohttp.ClientSession) -> None:
    options = ServerOptions(first_chunk_timeout_secs=0.5)
    async with FakeOpenAI() as upstream, running_server([openai_agent(upstream)], options) as server:
        for behaviour in (Behaviour.NO_RESPONSE, Behaviour.SILENT_AFTER_HEADERS):
            upstream.then(Step(behaviour))
            frames = await stream(http, server.url)
            assert_closed_properly(frames)
            assert "did not start responding within 0.5 seconds" in content_of(frames)
        await wait_until(lambda: upstream.abandoned == 2, "the upstream calls to be abandoned")
        await assert_still_serving(http, server.url, "fine")


async def wait_until(condition: object, what: str, within: float = 10.0) -> None:
    assert callable(condition)
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")

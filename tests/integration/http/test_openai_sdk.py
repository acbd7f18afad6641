"""The official `openai` SDK as the client: the server must look like OpenAI to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
from openai import AsyncOpenAI

from aura.adapters.http import ServerOptions
from aura.domain.errors import ProviderErrorKind
from aura.domain.usage import Usage
from aura.testing import FunctionToolset, call_tool, fail, reply
from tests.integration.http.support import RunningServer, make_agent, running_server


def client_for(server: RunningServer) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=20)


def echo_tools() -> FunctionToolset:
    tools = FunctionToolset("local")
    tools.add(
        lambda message: f"echo: {message}",
        name="echo",
        parameters={"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    )
    return tools


@pytest.fixture
async def two_agents() -> AsyncIterator[RunningServer]:
    devops = make_agent(
        [call_tool("echo", {"message": "ping"}, text="Checking."), reply("All ", "good.", usage=Usage.of(20, 6))],
        name="DevOps Assistant",
        alias="devops",
        toolsets=[echo_tools()],
        model_owner="mezmo",
        created_at_ms=1_700_000_000_123,
    )
    research = make_agent([reply("Research answer.")], name="research")
    async with running_server([devops, research]) as server:
        yield server


async def test_non_streaming_completion(two_agents: RunningServer) -> None:
    client = client_for(two_agents)
    completion = await client.chat.completions.create(
        model="devops", messages=[{"role": "user", "content": "status?"}], metadata={"chat_session_id": "sess-42"}
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "scripted/scripted-model"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Checking.\n\nAll good."
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        30,
        11,
        41,
    )
    assert completion.to_dict()["metadata"] == {"chat_session_id": "sess-42"}


async def test_streaming_completion(two_agents: RunningServer) -> None:
    client = client_for(two_agents)
    stream = await client.chat.completions.create(
        model="devops", messages=[{"role": "user", "content": "status?"}], stream=True
    )
    text = []
    tool_names: list[str] = []
    finish_reasons = []
    ids = set()
    final_usage = None
    async for chunk in stream:
        if not chunk.choices:  # aura.* events would arrive as choice-less objects
            continue
        ids.add(chunk.id)
        delta = chunk.choices[0].delta
        text.append(delta.content or "")
        tool_names.extend(call.function.name or "" for call in delta.tool_calls or [] if call.function)
        if chunk.choices[0].finish_reason:
            finish_reasons.append(chunk.choices[0].finish_reason)
            final_usage = chunk.usage
    assert "".join(text) == "Checking.\n\nAll good."
    assert tool_names == []  # the server runs its tools: the client has no call to run
    assert finish_reasons == ["stop"]
    assert final_usage is not None
    assert final_usage.total_tokens == 41
    assert len(ids) == 1


async def test_sdk_tolerates_aura_events_when_guarded() -> None:
    agent = make_agent([call_tool("echo", {"message": "x"}), reply("done")], toolsets=[echo_tools()])
    async with running_server([agent], ServerOptions(aura_custom_events=True)) as server:
        stream = await client_for(server).chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "go"}], stream=True
        )
        text = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(text) == "done"


async def test_models_list(two_agents: RunningServer) -> None:
    models = [model async for model in client_for(two_agents).models.list()]
    assert [model.id for model in models] == ["devops", "research"]
    assert models[0].owned_by == "mezmo"
    assert models[0].created == 1_700_000_000
    assert models[1].owned_by == "scripted"
    assert models[1].created > 1_700_000_000  # server start time


async def test_model_selected_by_name_behind_alias(two_agents: RunningServer) -> None:
    completion = await client_for(two_agents).chat.completions.create(
        model="research", messages=[{"role": "user", "content": "q"}]
    )
    assert completion.choices[0].message.content == "Research answer."


async def test_unknown_model_raises_not_found(two_agents: RunningServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client_for(two_agents).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "q"}]
        )
    error = caught.value
    assert error.status_code == 404
    assert error.code == "model_not_found"
    assert error.param == "model"
    assert error.type == "invalid_request_error"
    assert error.body == {
        "message": "The model `gpt-4o` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


async def test_bad_request_error_shape(two_agents: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client_for(two_agents).chat.completions.create(
            model="devops", messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
        )
    assert caught.value.status_code == 400
    assert caught.value.message.endswith("Last message must be from user, got: assistant")
    assert caught.value.type == "invalid_request_error"


async def test_provider_failure_before_text_is_502_with_the_safe_message() -> None:
    agent = make_agent([fail(ProviderErrorKind.SERVER_ERROR, "upstream said secret-token-123")])
    async with running_server([agent]) as server:
        with pytest.raises(openai.InternalServerError) as caught:
            await client_for(server).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert caught.value.status_code == 502
    assert "scripted/scripted-model" in caught.value.message
    assert "secret-token-123" not in str(caught.value.body)
    assert caught.value.code == "provider"


async def test_provider_timeout_before_text_is_504() -> None:
    agent = make_agent([fail(ProviderErrorKind.TIMEOUT, "read timeout")])
    async with running_server([agent]) as server:
        with pytest.raises(openai.APIStatusError) as caught:
            await client_for(server).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    assert caught.value.status_code == 504
    assert "timed out" in caught.value.message


async def test_provider_failure_after_text_is_200_with_the_message_appended() -> None:
    agent = make_agent([fail(ProviderErrorKind.SERVER_ERROR, "boom", after=["Partial answer"])])
    async with running_server([agent]) as server:
        completion = await client_for(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q"}]
        )
    content = completion.choices[0].message.content or ""
    assert content.startswith(
        "Partial answer\n\nThe upstream model provider (scripted/scripted-model) returned an error"
    )
    assert "boom" not in content


async def test_max_tokens_reached_gives_finish_reason_length() -> None:
    agent = make_agent([reply("long answer", usage=Usage.of(5, 50))], then=reply("long answer", usage=Usage.of(5, 50)))
    async with running_server([agent]) as server:
        client = client_for(server)
        completion = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q"}], max_tokens=50
        )
        assert completion.choices[0].finish_reason == "length"
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q"}], max_tokens=50, stream=True
        )
        reasons = [chunk.choices[0].finish_reason async for chunk in stream if chunk.choices]
    assert [reason for reason in reasons if reason] == ["length"]

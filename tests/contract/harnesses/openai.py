"""OpenAI harness: the fake answers `POST /v1/chat/completions` with `chat.completion.chunk` SSE and `[DONE]`.

The chunks follow what api.openai.com sends (a role chunk first, tool calls as an opening fragment with id
and name then argument pieces by `index`, a finish chunk, a usage chunk with empty `choices` only when the
request asked for `stream_options.include_usage`); reasoning uses the `reasoning_content` field of
DeepSeek/vLLM/llama.cpp, since OpenAI itself streams none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.llm.openai import OpenAIChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.schema_profiles import OPENAI
from aura.ports.chat_model import ChatModel
from tests.contract.fake_server import FakeProviderServer
from tests.contract.scenario import (
    FailAfterFirstChunk,
    HarnessTraits,
    HttpFailure,
    MalformedChunk,
    ProviderHarness,
    Response,
    Scenario,
    SentMessage,
    SentRequest,
    SentTool,
    SentToolCall,
    Step,
)

MODEL = "gpt-4o-mini"
# Not `sk-`-shaped on purpose: the adapter must redact the exact key it holds, not just key-like tokens.
API_KEY = "contract-openai-key-7f3a9c51e2"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def error_object(status: int, message: str) -> dict[str, Any]:
    error_type, code = _ERROR_TYPES.get(status, ("server_error", None))
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


class FakeOpenAIServer(FakeProviderServer):
    paths = ("/v1/chat/completions",)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(error_object(401, "Incorrect API key provided."), status=401)
        if isinstance(step, HttpFailure):
            headers = {"Retry-After": "0"} if step.status == 429 else {}
            return web.json_response(error_object(step.status, step.message), status=step.status, headers=headers)
        model = str(body.get("model"))
        stream = await self.open_event_stream(request)
        await self.send_event(stream, _chunk(model, {"role": "assistant", "content": "", "refusal": None}))
        if isinstance(step, MalformedChunk):
            await self.send_event(stream, '{"id":"chatcmpl-fake","object":"chat.completion.chunk","choices":[{"delta":')
            await self.send_event(stream, "[DONE]")
        elif isinstance(step, FailAfterFirstChunk):
            await self.send_event(stream, _chunk(model, {"content": step.response.text_chunks[0]}))
            message = "The server had an error while processing your request. Sorry about that!"
            await self.send_event(stream, error_object(step.status, message))
        else:
            for data in response_chunks(model, step, include_usage=_wants_usage(body)):
                await self.send_event(stream, data)
            await self.send_event(stream, "[DONE]")
        await stream.write_eof()
        return stream


def response_chunks(model: str, response: Response, *, include_usage: bool) -> list[dict[str, Any]]:
    chunks = [_chunk(model, {"reasoning_content": text}) for text in response.reasoning_chunks]
    chunks += [_chunk(model, {"content": text}) for text in response.text_chunks]
    for index, call in enumerate(response.tool_calls):
        opening = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        chunks.append(_chunk(model, {"tool_calls": [opening]}))
        for piece in call.argument_pieces:
            chunks.append(_chunk(model, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    chunks.append(_chunk(model, {}, finish_reason="tool_calls" if response.tool_calls else "stop"))
    if include_usage:
        usage = {
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "total_tokens": response.prompt_tokens + response.completion_tokens,
        }
        chunks.append({**_chunk(model, {}), "choices": [], "usage": usage})
    return chunks


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def _wants_usage(body: Mapping[str, object]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


class OpenAIHarness:
    name = "openai"
    traits = HarnessTraits(tool_call_ids_preserved=True, api_key=API_KEY, schema_profile=OPENAI)

    def __init__(self) -> None:
        self.server = FakeOpenAIServer()

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def load(self, scenario: Scenario) -> None:
        self.server.load(scenario)

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        return self.server.requests

    def make_model(self) -> ChatModel:
        return OpenAIChatModel(MODEL, API_KEY, f"{self.server.base_url}/v1", request_timeout=10.0, retry=FAST_RETRY)

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        system: list[str] = []
        messages: list[SentMessage] = []
        for message in body["messages"]:
            role, content = message["role"], message.get("content")
            if role == "system":
                system.append(content)
            elif role == "tool":
                messages.append(SentMessage("tool", content, tool_call_id=message["tool_call_id"]))
            else:
                calls = tuple(
                    SentToolCall(call["id"], call["function"]["name"], json.loads(call["function"]["arguments"]))
                    for call in message.get("tool_calls", ())
                )
                messages.append(SentMessage(role, _text(content), calls))
        tools = tuple(
            SentTool(
                tool["function"]["name"],
                tool["function"]["description"],
                tool["function"]["parameters"],
                strict=tool["function"].get("strict", False),
            )
            for tool in body.get("tools", ())
        )
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        return SentRequest("\n\n".join(system), tuple(messages), tools, body.get("temperature"), max_tokens)


def _text(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    assert isinstance(content, list)
    return "".join(part["text"] for part in content if part.get("type") == "text")


def make_harness() -> ProviderHarness:
    return OpenAIHarness()

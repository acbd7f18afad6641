"""Anthropic harness: the fake answers `POST /v1/messages` with the Messages API event stream.

Events are those api.anthropic.com sends: `message_start`, `ping`, per block `content_block_start` /
`content_block_delta` (`thinking_delta` + `signature_delta`, `text_delta`, `input_json_delta` starting with
an empty fragment) / `content_block_stop`, then `message_delta` (stop reason, output tokens) and
`message_stop`; a failure mid-stream is an `event: error`. The key is accepted as `x-api-key` or as a
Bearer token (the installed SDK sends the latter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.llm.anthropic import AnthropicChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.schema_profiles import ANTHROPIC
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

MODEL = "claude-test-sonnet"
API_KEY = "contract-anthropic-key-41b8d07c"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_object(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


Event = tuple[str, dict[str, Any]]


class FakeAnthropicServer(FakeProviderServer):
    paths = ("/v1/messages",)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if API_KEY not in (request.headers.get("x-api-key"), bearer):
            return web.json_response(error_object(401, "invalid x-api-key"), status=401)
        if "anthropic-version" not in request.headers:
            return web.json_response(error_object(400, "anthropic-version header is required"), status=400)
        if isinstance(step, HttpFailure):
            headers = {"retry-after": "0"} if step.status == 429 else {}
            return web.json_response(error_object(step.status, step.message), status=step.status, headers=headers)
        model = str(body.get("model"))
        stream = await self.open_event_stream(request)
        if isinstance(step, MalformedChunk):
            await self._send_all(stream, [_message_start(model, 5), _block_start(0, {"type": "text", "text": ""})])
            await self.send_event(
                stream, '{"type":"content_block_delta","index":0,"delta":{"type":"text_de', "content_block_delta"
            )
        elif isinstance(step, FailAfterFirstChunk):
            first = Response(text_chunks=step.response.text_chunks[:1])
            await self._send_all(stream, response_events(model, first)[:4])  # start, ping, block start, 1st delta
            await self.send_event(stream, error_object(step.status, "Internal server error"), "error")
        else:
            await self._send_all(stream, response_events(model, step))
        await stream.write_eof()
        return stream

    async def _send_all(self, stream: web.StreamResponse, events: Sequence[Event]) -> None:
        for name, data in events:
            await self.send_event(stream, data, name)


def response_events(model: str, response: Response) -> list[Event]:
    events: list[Event] = [_message_start(model, response.prompt_tokens), ("ping", {"type": "ping"})]
    index = 0
    if response.reasoning_chunks:
        events.append(_block_start(index, {"type": "thinking", "thinking": "", "signature": ""}))
        events += [_delta(index, {"type": "thinking_delta", "thinking": text}) for text in response.reasoning_chunks]
        events.append(_delta(index, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}))
        events.append(_block_stop(index))
        index += 1
    if response.text_chunks:
        events.append(_block_start(index, {"type": "text", "text": ""}))
        events += [_delta(index, {"type": "text_delta", "text": text}) for text in response.text_chunks]
        events.append(_block_stop(index))
        index += 1
    for call in response.tool_calls:
        events.append(_block_start(index, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}))
        for piece in ("", *call.argument_pieces):
            events.append(_delta(index, {"type": "input_json_delta", "partial_json": piece}))
        events.append(_block_stop(index))
        index += 1
    stop_reason = "tool_use" if response.tool_calls else "end_turn"
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": response.completion_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _message_start(model: str, input_tokens: int) -> Event:
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        },
    }
    return "message_start", {"type": "message_start", "message": message}


def _block_start(index: int, block: dict[str, Any]) -> Event:
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _block_stop(index: int) -> Event:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


class AnthropicHarness:
    name = "anthropic"
    traits = HarnessTraits(tool_call_ids_preserved=True, api_key=API_KEY, schema_profile=ANTHROPIC)

    def __init__(self) -> None:
        self.server = FakeAnthropicServer()

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
        return AnthropicChatModel(MODEL, API_KEY, self.server.base_url, request_timeout=10.0, retry=FAST_RETRY)

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        messages: list[SentMessage] = []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                messages.append(SentMessage(message["role"], content))
                continue
            text = "".join(block["text"] for block in content if block["type"] == "text")
            calls = tuple(
                SentToolCall(block["id"], block["name"], block["input"])
                for block in content
                if block["type"] == "tool_use"
            )
            messages.extend(
                SentMessage("tool", _result_text(block["content"]), tool_call_id=block["tool_use_id"])
                for block in content
                if block["type"] == "tool_result"
            )
            if text or calls:
                messages.append(SentMessage(message["role"], text, calls))
        tools = tuple(
            SentTool(tool["name"], tool["description"], tool["input_schema"]) for tool in body.get("tools", ())
        )
        return SentRequest(
            body.get("system", ""), tuple(messages), tools, body.get("temperature"), body.get("max_tokens")
        )


def _result_text(content: object) -> str:
    if isinstance(content, str):
        return content
    assert isinstance(content, list)
    return "".join(block["text"] for block in content if block["type"] == "text")


def make_harness() -> ProviderHarness:
    return AnthropicHarness()

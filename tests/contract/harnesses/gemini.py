"""Gemini harness: the fake answers `:streamGenerateContent?alt=sse` with GenerateContentResponse SSE."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.llm.gemini import GeminiChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.schema_profiles import GEMINI
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
from tests.contract.wire.arguments import joined_arguments

MODEL = "gemini-test-flash"
API_KEY = "fake-gemini-key-for-the-local-fake"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def _chunk(parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0, **candidate}],
        "modelVersion": MODEL,
    }


def response_chunks(response: Response) -> list[dict[str, Any]]:
    """The GenerateContentResponse chunks of one streamed answer (function calls arrive whole)."""
    chunks = [_chunk([{"text": text, "thought": True}]) for text in response.reasoning_chunks]
    chunks += [_chunk([{"text": text}]) for text in response.text_chunks]
    if response.tool_calls:
        calls = [
            {"functionCall": {"name": call.name, "args": joined_arguments(call.argument_pieces)}}
            for call in response.tool_calls
        ]
        chunks.append(_chunk(calls))
    final = _chunk([{"text": ""}], finishReason="STOP")
    final["usageMetadata"] = {
        "promptTokenCount": response.prompt_tokens,
        "candidatesTokenCount": response.completion_tokens,
        "totalTokenCount": response.prompt_tokens + response.completion_tokens,
    }
    chunks.append(final)
    return chunks


class FakeGeminiServer(FakeProviderServer):
    """Answers `POST /{version}/models/{model}:streamGenerateContent?alt=sse` like the Gemini API."""

    paths = ("/{api_version}/models/{model_and_method}",)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        if not request.path.endswith(":streamGenerateContent") or request.query.get("alt") != "sse":
            return web.json_response(error_body(404, f"unknown method {request.path}"), status=404)
        if request.headers.get("x-goog-api-key") != API_KEY:
            return web.json_response(error_body(400, "API key not valid. Please pass a valid API key."), status=400)
        if isinstance(step, HttpFailure):
            return web.json_response(error_body(step.status, step.message), status=step.status)
        stream = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await stream.prepare(request)
        if isinstance(step, Response):
            events = [_sse(chunk) for chunk in response_chunks(step)]
        elif isinstance(step, FailAfterFirstChunk):
            first = _chunk([{"text": step.response.text_chunks[0]}]) if step.response.text_chunks else _chunk([])
            events = [_sse(first), _sse(error_body(step.status, "scripted failure after the first chunk"))]
        else:
            assert isinstance(step, MalformedChunk)
            events = [b'data: {"candidates": [{"content": {"parts": [{"text": "broken\r\n\r\n']
        for event in events:
            await stream.write(event)
        await stream.write_eof()
        return stream


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\r\n\r\n".encode()


class GeminiHarness:
    name = "gemini"
    traits = HarnessTraits(api_key=API_KEY, schema_profile=GEMINI)

    def __init__(self) -> None:
        self.server = FakeGeminiServer()

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
        return GeminiChatModel(MODEL, API_KEY, self.server.base_url, request_timeout=10.0, retry=FAST_RETRY)

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        instruction = body.get("systemInstruction") or {}
        system = "".join(part.get("text", "") for part in instruction.get("parts", ()))
        messages: list[SentMessage] = []
        for content in body["contents"]:
            parts = content["parts"]
            if content["role"] == "model":
                text = "".join(part.get("text", "") for part in parts)
                calls = tuple(
                    SentToolCall(
                        part["functionCall"].get("id"), part["functionCall"]["name"], part["functionCall"]["args"]
                    )
                    for part in parts
                    if "functionCall" in part
                )
                messages.append(SentMessage("assistant", text, calls))
                continue
            texts: list[str] = []
            for part in parts:
                if "functionResponse" in part:
                    response = part["functionResponse"]
                    output = response["response"].get("output", response["response"].get("error", ""))
                    messages.append(SentMessage("tool", str(output), tool_call_id=response.get("id")))
                elif "text" in part:
                    texts.append(part["text"])
            if texts:
                messages.append(SentMessage("user", "".join(texts)))
        tools = tuple(
            SentTool(
                declaration["name"],
                declaration.get("description", ""),
                declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema", {})),
            )
            for tool in body.get("tools", ())
            for declaration in tool.get("functionDeclarations", ())
        )
        temperature = body.get("generationConfig", {}).get("temperature")
        max_tokens = body.get("generationConfig", {}).get("maxOutputTokens")
        return SentRequest(system, tuple(messages), tools, temperature, max_tokens)


def make_harness() -> ProviderHarness:
    return GeminiHarness()

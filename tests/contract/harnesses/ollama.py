"""Ollama harness: the fake answers `POST /api/chat` with NDJSON lines like `ollama serve` does.

Ollama sends each tool call complete, so the fake joins a scenario's argument pieces into one object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from aura.adapters.llm.ollama import OllamaChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.schema_profiles import OLLAMA
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

MODEL = "llama-test:8b"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
_CREATED_AT = "2026-01-01T00:00:00.000000Z"


def _line(message: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "created_at": _CREATED_AT, "message": {"role": "assistant", **message}, **extra}


def response_lines(response: Response) -> list[dict[str, Any]]:
    """The NDJSON objects of one streamed answer."""
    lines = [_line({"content": "", "thinking": text}, done=False) for text in response.reasoning_chunks]
    lines += [_line({"content": text}, done=False) for text in response.text_chunks]
    if response.tool_calls:
        calls = [
            {"function": {"name": call.name, "arguments": joined_arguments(call.argument_pieces)}}
            for call in response.tool_calls
        ]
        lines.append(_line({"content": "", "tool_calls": calls}, done=False))
    lines.append(
        _line(
            {"content": ""},
            done=True,
            done_reason="stop",
            total_duration=1000,
            prompt_eval_count=response.prompt_tokens,
            eval_count=response.completion_tokens,
        )
    )
    return lines


class FakeOllamaServer(FakeProviderServer):
    """Answers `POST /api/chat` like `ollama serve`."""

    paths = ("/api/chat",)

    async def respond(self, request: web.Request, body: dict[str, object], step: Step) -> web.StreamResponse:
        if isinstance(step, HttpFailure):
            return web.json_response({"error": step.message}, status=step.status)
        stream = web.StreamResponse(status=200, headers={"Content-Type": "application/x-ndjson"})
        await stream.prepare(request)
        if isinstance(step, Response):
            lines = [json.dumps(line).encode() for line in response_lines(step)]
        elif isinstance(step, FailAfterFirstChunk):
            first = step.response.text_chunks[0] if step.response.text_chunks else ""
            lines = [
                json.dumps(_line({"content": first}, done=False)).encode(),
                json.dumps({"error": "scripted failure after the first chunk"}).encode(),
            ]
        else:
            assert isinstance(step, MalformedChunk)
            lines = [b'{"model": "llama-test:8b", "message": {"role": "assistant", "content": "bro']
        for line in lines:
            await stream.write(line + b"\n")
        await stream.write_eof()
        return stream


class OllamaHarness:
    name = "ollama"
    traits = HarnessTraits(schema_profile=OLLAMA)

    def __init__(self) -> None:
        self.server = FakeOllamaServer()

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def load(self, scenario: Scenario) -> None:
        self.server.load(scenario)

    @property
    def requests(self) -> Sequence[dict[str, object]]:
        return self.server.requests

    def make_model(
        self, *, fallback_tool_parsing: bool = False, options: Mapping[str, Any] | None = None
    ) -> OllamaChatModel:
        return OllamaChatModel(
            MODEL,
            self.server.base_url,
            fallback_tool_parsing=fallback_tool_parsing,
            options=options,
            request_timeout=10.0,
            retry=FAST_RETRY,
        )

    def extract_request(self, body: Mapping[str, Any]) -> SentRequest:
        system: list[str] = []
        messages: list[SentMessage] = []
        for message in body["messages"]:
            role, content = message["role"], message.get("content", "")
            if role == "system":
                system.append(content)
            elif role == "tool":
                messages.append(SentMessage("tool", content))
            else:
                calls = tuple(
                    SentToolCall(None, call["function"]["name"], call["function"]["arguments"])
                    for call in message.get("tool_calls", ())
                )
                messages.append(SentMessage(role, content, calls))
        tools = tuple(
            SentTool(tool["function"]["name"], tool["function"]["description"], tool["function"]["parameters"])
            for tool in body.get("tools", ())
        )
        temperature = body.get("options", {}).get("temperature")
        max_tokens = body.get("options", {}).get("num_predict")
        return SentRequest("\n\n".join(system), tuple(messages), tools, temperature, max_tokens)


def make_harness() -> ProviderHarness:
    return OllamaHarness()

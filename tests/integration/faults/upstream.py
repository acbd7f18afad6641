"""A fake OpenAI upstream for the fault tests: real HTTP + SSE on 127.0.0.1, one scripted behaviour per request."""

from __future__ import annotations

import asyncio
import enum
import json
import time
from typing import Any

import attrs
from aiohttp import web


class Behaviour(enum.Enum):
    STREAM = "stream"
    """Stream the text chunks, usage and `[DONE]`."""
    TOOL_CALL = "tool_call"
    """Stream one tool call (`tool_name`, `tool_arguments`)."""
    ERROR_EVENT_AFTER_TEXT = "error_event_after_text"
    """Stream the text chunks, then an in-stream `{"error": ...}` event with a 500 code, then close."""
    DROP_AFTER_TEXT = "drop_after_text"
    """Stream the text chunks, then cut the TCP connection."""
    HTTP_500 = "http_500"
    """Answer 500 with an OpenAI error body."""
    SILENT_AFTER_HEADERS = "silent_after_headers"
    """Send the 200 SSE headers, then nothing (until the client gives up)."""
    NO_RESPONSE = "no_response"
    """Read the request and never answer at all."""


@attrs.frozen
class Step:
    behaviour: Behaviour
    text: tuple[str, ...] = ("Hello", " world")
    tool_name: str = ""
    tool_arguments: dict[str, Any] = attrs.field(factory=dict)


class FakeOpenAI:
    """`POST /v1/chat/completions` answering each request with the next `Step` (then `default`)."""

    def __init__(self, default: Step | None = None) -> None:
        self.steps: list[Step] = []
        self.default = default or Step(Behaviour.STREAM, ("fine",))
        self.requests: list[dict[str, Any]] = []
        self.abandoned = 0
        """Requests whose client went away while we were still answering (the server cancelled them)."""
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def then(self, *steps: Step) -> None:
        self.steps.extend(steps)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        step = self.steps.pop(0) if self.steps else self.default
        try:
            return await self._answer(request, step)
        except asyncio.CancelledError:
            self.abandoned += 1
            raise

    async def _answer(self, request: web.Request, step: Step) -> web.StreamResponse:
        behaviour = step.behaviour
        if behaviour is Behaviour.HTTP_500:
            body = {"error": {"message": "upstream exploded", "type": "server_error", "param": None, "code": None}}
            return web.json_response(body, status=500)
        if behaviour is Behaviour.NO_RESPONSE:
            await asyncio.sleep(3600)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if behaviour is Behaviour.SILENT_AFTER_HEADERS:
            await asyncio.sleep(3600)
        if behaviour is Behaviour.TOOL_CALL:
            call = {
                "index": 0,
                "id": f"call_{len(self.requests)}",
                "type": "function",
                "function": {"name": step.tool_name, "arguments": json.dumps(step.tool_arguments)},
            }
            await _send(response, _chunk({"role": "assistant", "tool_calls": [call]}))
            await _send(response, _chunk({}, "tool_calls"))
            await _send(response, "[DONE]")
            return response
        for piece in step.text:
            await _send(response, _chunk({"content": piece}))
        if behaviour is Behaviour.ERROR_EVENT_AFTER_TEXT:
            await _send(
                response, {"error": {"message": "internal failure mid-stream", "type": "server_error", "code": 500}}
            )
            return response
        if behaviour is Behaviour.DROP_AFTER_TEXT:
            assert request.transport is not None
            request.transport.close()
            return response
        await _send(response, _chunk({}, "stop"))
        usage = {"prompt_tokens": 12, "completion_tokens": len(step.text), "total_tokens": 12 + len(step.text)}
        await _send(response, {**_chunk_base(), "choices": [], "usage": usage})
        await _send(response, "[DONE]")
        return response


def _chunk_base() -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": "gpt-fake"}


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {**_chunk_base(), "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


async def _send(response: web.StreamResponse, data: dict[str, Any] | str) -> None:
    payload = data if isinstance(data, str) else json.dumps(data)
    await response.write(f"data: {payload}\n\n".encode())

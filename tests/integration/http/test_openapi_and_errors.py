"""`/openapi.json` describes the real responses (validated here), and every error uses the OpenAI envelope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import schemathesis
from jsonschema import Draft202012Validator

from aura.adapters.http import ServerOptions
from aura.adapters.http.app import SERVER_STATE
from aura.adapters.http.openapi import EVENT_SCHEMAS, openapi_document
from aura.domain.agent import Agent, AgentSettings
from aura.domain.errors import ProviderErrorKind
from aura.domain.events import TurnEvent
from aura.domain.tools import ProgressUpdate, ToolCallContext
from aura.testing import FunctionToolset, ScriptedChatModel, ScriptedRound, call_tool, fail, reply
from tests.integration.http.support import (
    RunningServer,
    chunks,
    content_of,
    events,
    make_agent,
    running_server,
    stream_frames,
    user,
)


async def progress_tool(context: ToolCallContext) -> str:
    await context.report_progress(ProgressUpdate(1, 2))
    return "ok"


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    toolset = FunctionToolset("local")
    toolset.add(progress_tool, name="work", parameters={"type": "object", "properties": {}})
    thinking = ScriptedRound(text=("Done.",), reasoning=("hmm",))
    main = make_agent(
        [call_tool("work", {}, text="Working."), thinking], alias="main", toolsets=[toolset], context_window=1000
    )
    other = make_agent([fail(ProviderErrorKind.SERVER_ERROR, "x")], name="broken")
    options = ServerOptions(aura_custom_events=True, aura_emit_reasoning=True, max_body_bytes=4096)
    async with running_server([main, other], options) as running:
        yield running


async def document(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/openapi.json") as response:
        assert response.status == 200
        doc: dict[str, Any] = await response.json()
    Draft202012Validator.check_schema({**doc["components"]["schemas"]["ChatCompletion"]})
    return doc


def validator(doc: dict[str, Any], schema: str) -> Draft202012Validator:
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{schema}"})


def check(doc: dict[str, Any], schema: str, instance: Any) -> None:
    errors = [error.message for error in validator(doc, schema).iter_errors(instance)]
    assert errors == [], f"{schema}: {errors} for {instance}"


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> str:
    response = doc["paths"][path][method]["responses"][str(status)]
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


async def test_responses_match_the_openapi_document(http: aiohttp.ClientSession, server: RunningServer) -> None:
    doc = await document(http, server.url)
    assert doc["openapi"].startswith("3.1")

    async with http.get(f"{server.url}/health") as response:
        check(doc, response_schema(doc, "/health", "get", 200), await response.json())
    async with http.get(f"{server.url}/ready") as response:
        check(doc, response_schema(doc, "/ready", "get", 200), await response.json())
    async with http.get(f"{server.url}/v1/models") as response:
        check(doc, response_schema(doc, "/v1/models", "get", 200), await response.json())

    request_body = {"model": "main", "messages": user("go"), "metadata": {"chat_session_id": "s1"}}
    check(doc, "ChatCompletionRequest", request_body)
    async with http.post(f"{server.url}/v1/chat/completions", json=request_body) as response:
        assert response.status == 200
        check(doc, response_schema(doc, "/v1/chat/completions", "post", 200), await response.json())


async def test_a_stream_conforms_to_the_document_as_schemathesis_reads_it(server: RunningServer) -> None:
    """Schemathesis (tests/fuzz) reads a `text/event-stream` schema as the schema of each event (OpenAPI 3.2 style)."""
    operation = schemathesis.openapi.from_dict(openapi_document())["/v1/chat/completions"]["POST"]
    case = operation.Case(body={"model": "main", "messages": user("go"), "stream": True}, media_type="application/json")
    response = await asyncio.to_thread(case.call_and_validate, base_url=server.url, timeout=30)
    assert response.headers["content-type"] == ["text/event-stream"]
    assert b"event: aura.tool_complete" in response.content


MODEL_NOT_FOUND = "The model `{}` does not exist or you do not have access to it."


async def test_retrieve_model_answers_the_listed_entry_or_404(
    http: aiohttp.ClientSession, server: RunningServer
) -> None:
    doc = await document(http, server.url)
    async with http.get(f"{server.url}/v1/models") as response:
        listed = {entry["id"]: entry for entry in (await response.json())["data"]}
    for model in ("main", "broken"):
        async with http.get(f"{server.url}/v1/models/{model}") as response:
            assert response.status == 200
            body = await response.json()
        check(doc, response_schema(doc, "/v1/models/{model}", "get", 200), body)
        tools = body.pop("tools")
        assert body == listed[model]
        assert all(tool["approval"]["required"] is False for tool in tools)  # these agents have no [approval]
    async with http.get(f"{server.url}/v1/models/tester") as response:  # the name of the agent aliased `main`
        assert (response.status, (await response.json())["id"]) == (200, "main")

    async with http.get(f"{server.url}/v1/models/gpt-4o") as response:
        assert response.status == 404
        error = await response.json()
    check(doc, response_schema(doc, "/v1/models/{model}", "get", 404), error)
    assert error == {
        "error": {
            "message": MODEL_NOT_FOUND.format("gpt-4o"),
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


async def test_retrieve_model_with_one_agent_still_rejects_other_ids_and_accepts_slashes(
    http: aiohttp.ClientSession,
) -> None:
    async with running_server([make_agent(alias="team/sre")]) as running:
        async with http.get(f"{running.url}/v1/models/team/sre") as response:
            assert response.status == 200
            assert (await response.json())["id"] == "team/sre"
        async with http.get(f"{running.url}/v1/models/anything") as response:
            assert response.status == 404
            assert (await response.json())["error"]["code"] == "model_not_found"


async def test_stream_frames_match_the_openapi_document(http: aiohttp.ClientSession, server: RunningServer) -> None:
    doc = await document(http, server.url)
    frames = await stream_frames(http, server.url, {"model": "main", "messages": user("go")})
    for chunk in chunks(frames):
        check(doc, "ChatCompletionChunk", chunk)
    seen = set()
    for event in events(frames):
        assert event.event in EVENT_SCHEMAS
        seen.add(event.event)
        check(doc, EVENT_SCHEMAS[event.event], event.data)
    assert seen == set(EVENT_SCHEMAS)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/v1/chat/completions", b"{oops", 400, "Malformed JSON in request body"),
        ("POST", "/v1/chat/completions", b'{"messages": [{"role": 1}]}', 400, "messages[0].role: expected a string"),
        ("POST", "/v1/chat/completions", b'{"model": "main", "messages": []}', 400, "No messages provided"),
        (
            "POST",
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": "x"}]}',
            400,
            "you must provide a model",
        ),
        (
            "POST",
            "/v1/chat/completions",
            b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "The model `nope`",
        ),
        (
            "POST",
            "/v1/chat/completions",
            b'{"model": "broken", "messages": [{"role": "user", "content": "x"}]}',
            502,
            "The upstream model provider",
        ),
        (
            "POST",
            "/v1/chat/completions",
            b'{"model": "main", "messages": [{"role": "user", "content": "x"}], '
            b'"metadata": {"chat_session_id": "a\\r\\nSet-Cookie: x=1"}}',
            400,
            "metadata.chat_session_id: must not contain control characters",
        ),
        (
            "POST",
            "/v1/chat/completions",
            b'{"model": "main", "stream": true, "messages": [{"role": "user", "content": "x"}], '
            b'"metadata": {"chat_session_id": "\\u0000"}}',
            400,
            "metadata.chat_session_id: must not contain control characters",
        ),
        ("POST", "/v1/chat/completions", b'{"messages": "' + b"x" * 5000 + b'"}', 413, "4096"),
        ("GET", "/v1/chat/completions", None, 405, "Method GET is not allowed"),
        ("GET", "/v2/whatever", None, 404, "Not found: GET /v2/whatever"),
    ],
)
async def test_errors_use_the_openai_envelope(
    http: aiohttp.ClientSession,
    server: RunningServer,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    message: str,
) -> None:
    doc = await document(http, server.url)
    async with http.request(method, f"{server.url}{path}", data=body) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        payload = await response.json()
    check(doc, "Error", payload)
    assert message in payload["error"]["message"]
    assert "Traceback" not in payload["error"]["message"]


async def test_chunked_body_over_the_limit_is_413(http: aiohttp.ClientSession, server: RunningServer) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async with http.post(f"{server.url}/v1/chat/completions", data=body()) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "request_too_large"


class ExplodingAgent(Agent):
    """An agent whose turn raises outright: a bug the server must contain."""

    def run_turn(self, history: Any, context: Any = None) -> AsyncIterator[TurnEvent]:
        raise RuntimeError("internal secret detail")


def exploding_agent() -> ExplodingAgent:
    return ExplodingAgent(AgentSettings(name="boom", system_prompt="x"), ScriptedChatModel([]))


async def test_unexpected_exceptions_become_500_json(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_server([exploding_agent()]) as running:
        response = await http.post(f"{running.url}/v1/chat/completions", json={"messages": user("x")})
        payload = await response.json()
    assert response.status == 500
    assert payload == {
        "error": {"message": "Internal server error", "type": "internal_error", "param": None, "code": None}
    }
    assert "internal secret detail" in caplog.text  # logged with its traceback, never sent


async def test_unexpected_exception_in_a_stream_still_ends_it_cleanly(http: aiohttp.ClientSession) -> None:
    async with running_server([exploding_agent()]) as running:
        frames = await stream_frames(http, running.url, {"messages": user("x")})
    assert "An internal error ended this response" in content_of(frames)
    assert chunks(frames)[-1]["choices"][0]["finish_reason"] == "stop"
    assert frames[-1].kind == "done"
    assert all("internal secret detail" not in frame.raw for frame in frames)


async def test_every_path_answers_503_json_once_shutdown_began(http: aiohttp.ClientSession) -> None:
    async with running_server([make_agent([reply("x")])]) as running:
        running.app[SERVER_STATE].coordinator.begin()
        for method, path in (
            ("GET", "/health"),
            ("GET", "/ready"),
            ("GET", "/v1/models"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/nope"),
        ):
            async with http.request(method, f"{running.url}{path}", json={}) as response:
                assert response.status == 503
                assert await response.json() == {
                    "error": {
                        "message": "Server is shutting down",
                        "type": "service_unavailable",
                        "param": None,
                        "code": None,
                    }
                }

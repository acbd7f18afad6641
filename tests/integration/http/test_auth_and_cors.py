"""API-key authentication and CORS on a real server: 401 in the OpenAI shape, `/health` open, CORS headers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from aura.adapters.http import ServerOptions
from aura.domain.tools import ToolCallContext
from aura.testing import FunctionToolset, call_tool, reply
from tests.integration.http.support import chunks, content_of, make_agent, parse_sse, running_server, user

KEY = "sk-aura-test-0123456789abcdef"
SECOND_KEY = "sk-aura-test-second-key-00000"
WRONG_KEY = "sk-aura-test-not-the-right-key"
AUTH_OPTIONS = ServerOptions(api_keys=(KEY, SECOND_KEY))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any, str]:
    text = await response.text()
    return response.status, await response.json() if response.content_type == "application/json" else None, text


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key. Send it in the Authorization header as 'Authorization: Bearer <key>'."),
        (bearer(WRONG_KEY), "Incorrect API key provided."),
        ({"Authorization": f"Basic {KEY}"}, "Malformed Authorization header."),
        ({"Authorization": "Bearer"}, "Malformed Authorization header."),
        ({"Authorization": f"Bearer {KEY} extra"}, "Malformed Authorization header."),
    ],
)
async def test_requests_without_a_valid_key_get_401_in_the_openai_shape(
    http: aiohttp.ClientSession, headers: dict[str, str], message: str
) -> None:
    async with running_server([make_agent([reply("never")])], AUTH_OPTIONS) as server:
        for method, path in (
            ("GET", "/v1/models"),
            ("GET", "/v1/models/tester"),
            ("POST", "/v1/chat/completions"),
            ("GET", "/openapi.json"),
        ):
            async with http.request(method, f"{server.url}{path}", json={"messages": user("x")}, headers=headers) as r:
                status, body, text = await answer(r)
                challenge = r.headers.get("WWW-Authenticate", "")
            assert status == 401, (path, text)
            assert body["error"]["message"].startswith(message)
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["code"] == "invalid_api_key"
            assert body["error"]["param"] is None
            assert challenge.startswith('Bearer realm="aura"')
            assert KEY not in text
            assert WRONG_KEY not in text


async def test_health_stays_open(http: aiohttp.ClientSession) -> None:
    async with running_server([make_agent()], AUTH_OPTIONS) as server, http.get(f"{server.url}/health") as response:
        assert response.status == 200
        assert await response.json() == {"status": "healthy"}


async def test_every_configured_key_opens_every_route(http: aiohttp.ClientSession) -> None:
    agent = make_agent([reply("Hello ", "there")], then=reply("again"))
    async with running_server([agent], AUTH_OPTIONS) as server:
        async with http.get(f"{server.url}/v1/models", headers=bearer(KEY)) as response:
            assert response.status == 200
        payload = {"messages": user("hi"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload, headers=bearer(SECOND_KEY)) as r:
            assert r.status == 200
            frames = parse_sse(await r.text())
        lower_scheme = {"Authorization": f"bearer {KEY}"}
        async with http.post(
            f"{server.url}/v1/chat/completions", json={"messages": user("hi")}, headers=lower_scheme
        ) as response:
            assert response.status == 200
            assert (await response.json())["choices"][0]["message"]["content"] == "again"
    assert content_of(frames) == "Hello there"
    assert frames[-1].kind == "done"


async def test_the_key_is_not_forwarded_to_tools(http: aiohttp.ClientSession) -> None:
    seen: list[dict[str, str]] = []

    def look(context: ToolCallContext) -> str:
        seen.append(dict(context.request.headers))
        return "looked"

    toolset = FunctionToolset("local")
    toolset.add(look, parameters={"type": "object", "properties": {}})
    agent = make_agent([call_tool("look", {}), reply("done")], toolsets=[toolset])
    async with (
        running_server([agent], AUTH_OPTIONS) as server,
        http.post(
            f"{server.url}/v1/chat/completions",
            json={"messages": user("x")},
            headers={**bearer(KEY), "X-User-Token": "user-token"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
    assert len(seen) == 1
    assert "authorization" not in seen[0]
    assert seen[0]["x-user-token"] == "user-token"


async def test_without_keys_the_authorization_header_still_reaches_tools(http: aiohttp.ClientSession) -> None:
    """Auth off (the default): a client's own token may be forwarded to MCP servers as before."""
    seen: list[dict[str, str]] = []

    def look(context: ToolCallContext) -> str:
        seen.append(dict(context.request.headers))
        return "looked"

    toolset = FunctionToolset("local")
    toolset.add(look, parameters={"type": "object", "properties": {}})
    agent = make_agent([call_tool("look", {}), reply("done")], toolsets=[toolset])
    async with (
        running_server([agent]) as server,
        http.post(
            f"{server.url}/v1/chat/completions", json={"messages": user("x")}, headers=bearer("user-own-token")
        ) as response,
    ):
        assert response.status == 200
    assert seen[0]["authorization"] == "Bearer user-own-token"


async def test_cors_is_off_by_default(http: aiohttp.ClientSession) -> None:
    origin = {"Origin": "https://chat.example.com"}
    async with running_server([make_agent([reply("hi")])]) as server:
        async with http.get(f"{server.url}/v1/models", headers=origin) as response:
            assert response.status == 200
            assert "Access-Control-Allow-Origin" not in response.headers
        preflight = {**origin, "Access-Control-Request-Method": "POST"}
        async with http.options(f"{server.url}/v1/chat/completions", headers=preflight) as response:
            assert response.status == 405
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_preflight_and_streaming_response_for_an_allowed_origin(http: aiohttp.ClientSession) -> None:
    origin = "https://chat.example.com"
    options = ServerOptions(cors_allow_origins=(origin,), api_keys=(KEY,))
    async with running_server([make_agent([reply("Hi")])], options) as server:
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
        }
        async with http.options(f"{server.url}/v1/chat/completions", headers=preflight) as response:
            assert response.status == 204  # no key needed: browsers never send credentials on a preflight
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert response.headers["Access-Control-Allow-Headers"] == "authorization, content-type, x-stainless-os"
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
        payload = {"messages": user("hi"), "stream": True}
        headers = {"Origin": origin, **bearer(KEY)}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload, headers=headers) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert response.headers["Access-Control-Expose-Headers"] == "X-Chat-Session-Id"
            assert "Origin" in response.headers["Vary"]
            frames = parse_sse(await response.text())
        async with http.get(f"{server.url}/v1/models", headers={"Origin": origin}) as response:
            assert response.status == 401  # the error is readable by the page too
            assert response.headers["Access-Control-Allow-Origin"] == origin
    assert chunks(frames)[-1]["choices"][0]["finish_reason"] == "stop"


async def test_cors_refuses_an_origin_not_on_the_list(http: aiohttp.ClientSession) -> None:
    options = ServerOptions(cors_allow_origins=("https://chat.example.com",))
    async with running_server([make_agent([reply("Hi")])], options) as server:
        preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        async with http.options(f"{server.url}/v1/chat/completions", headers=preflight) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "origin_not_allowed"
            assert "Access-Control-Allow-Origin" not in response.headers
        async with http.get(f"{server.url}/v1/models", headers={"Origin": "https://evil.example"}) as response:
            assert response.status == 200
            assert "Access-Control-Allow-Origin" not in response.headers

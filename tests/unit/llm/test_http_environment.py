"""The proxy an aiohttp-based adapter takes from the environment (`_http.proxy_route_from_environment`), and an
`OpenAIChatModel` request really going through such a proxy (a loopback aiohttp server standing in for it)."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from aura.adapters.llm._http import ProxyRoute, proxy_route_from_environment
from aura.adapters.llm.openai import OpenAIChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import FinishReason, ModelEvent, ModelFinished, TextDelta
from aura.domain.messages import UserMessage
from aura.ports.chat_model import ChatRequest

PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
)
KEY = "test-key-abcdef123456"
REQUEST = ChatRequest((UserMessage("Hi"),))
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay=0.001)
FINISHED = ModelFinished(FinishReason.STOP)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # set, it makes urllib ignore HTTP_PROXY (CGI)


# --- the route from the environment -------------------------------------------------------------


def test_without_proxy_variables_requests_go_direct() -> None:
    assert proxy_route_from_environment("https", "api.openai.com") == ProxyRoute()
    assert proxy_route_from_environment("http", "127.0.0.1") == ProxyRoute()
    assert ProxyRoute().url is None
    assert ProxyRoute().headers is None


def test_https_proxy_is_used_for_https_and_not_for_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.corp:3128")
    assert proxy_route_from_environment("https", "api.openai.com") == ProxyRoute(URL("http://secure-proxy.corp:3128"))
    assert proxy_route_from_environment("http", "llm.internal") == ProxyRoute()


def test_http_proxy_is_used_for_http_and_not_for_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.corp:8080")
    assert proxy_route_from_environment("http", "llm.internal") == ProxyRoute(URL("http://plain-proxy.corp:8080"))
    assert proxy_route_from_environment("https", "api.openai.com") == ProxyRoute()


def test_lower_case_variables_count_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://lower.corp:3128")
    assert proxy_route_from_environment("https", "api.openai.com").url == URL("http://lower.corp:3128")


def test_all_proxy_is_the_fallback_for_every_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://everything.corp:1080")
    assert proxy_route_from_environment("https", "api.openai.com").url == URL("http://everything.corp:1080")
    assert proxy_route_from_environment("http", "llm.internal").url == URL("http://everything.corp:1080")
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.corp:3128")
    assert proxy_route_from_environment("https", "api.openai.com").url == URL("http://secure-proxy.corp:3128")
    assert proxy_route_from_environment("http", "llm.internal").url == URL("http://everything.corp:1080")


@pytest.mark.parametrize(
    ("no_proxy", "host", "direct"),
    [
        ("api.openai.com", "api.openai.com", True),
        ("openai.com", "api.openai.com", True),
        (".openai.com", "api.openai.com", True),
        ("localhost, api.openai.com", "api.openai.com", True),
        ("*", "api.openai.com", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("example.com", "api.openai.com", False),
        ("notopenai.com", "openai.com", False),
    ],
)
def test_no_proxy_sends_matching_hosts_direct(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, host: str, direct: bool
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://secure-proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    route = proxy_route_from_environment("https", host)
    assert route == (ProxyRoute() if direct else ProxyRoute(URL("http://secure-proxy.corp:3128")))


def test_loopback_is_not_bypassed_when_no_proxy_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy.corp:8080")
    assert proxy_route_from_environment("http", "127.0.0.1").url == URL("http://plain-proxy.corp:8080")
    assert proxy_route_from_environment("http", "localhost").url == URL("http://plain-proxy.corp:8080")


def test_credentials_in_the_proxy_url_become_a_proxy_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@secure-proxy.corp:3128")
    route = proxy_route_from_environment("https", "api.openai.com")
    assert route.url == URL("http://secure-proxy.corp:3128")
    assert route.url is not None
    assert (route.url.user, route.url.password) == (None, None)
    assert route.headers is not None
    assert set(route.headers) == {"Proxy-Authorization"}
    scheme, _, encoded = route.headers["Proxy-Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "user:p@ss"


def test_a_user_without_password_is_sent_with_an_empty_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://alice@plain-proxy.corp:8080")
    route = proxy_route_from_environment("http", "llm.internal")
    assert route.url == URL("http://plain-proxy.corp:8080")
    assert route.headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"alice:").decode()}


def test_a_proxy_address_without_scheme_is_taken_as_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "secure-proxy.corp:3128")
    route = proxy_route_from_environment("https", "api.openai.com")
    assert route.url == URL("http://secure-proxy.corp:3128")
    assert route.headers is None


# --- a request through a proxy ------------------------------------------------------------------

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """A loopback HTTP server answering every request (whatever its target: a proxy gets absolute URLs and
    `CONNECT host:port`) with `handler`; yields its port."""
    runner = web.ServerRunner(web.Server(handler, access_log=None), shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def record(request: web.BaseRequest, body: bytes, seen: list[dict[str, Any]]) -> None:
    seen.append(
        {
            "method": request.method,
            "target": request.raw_path,
            "headers": dict(request.headers),
            "body": json.loads(body) if body else None,
        }
    )


def answering(text: str, seen: list[dict[str, Any]]) -> Handler:
    """A handler recording each request's target and headers, answering a short event stream."""

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        record(request, await request.read(), seen)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    return handle


async def collect(model: OpenAIChatModel) -> list[ModelEvent]:
    try:
        return [item async for item in model.stream(REQUEST)]
    finally:
        await model.aclose()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_plain_http_request_goes_through_the_proxy_with_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, Any]] = []
    async with serving(answering("via the proxy", seen)) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:p%40ss@127.0.0.1:{port}")
        # a host only the proxy can reach: were the proxy skipped, the name would not even resolve
        model = OpenAIChatModel("gpt-4o", KEY, "http://upstream.invalid/v1", retry=FAST_RETRY)
        assert await collect(model) == [TextDelta("via the proxy"), FINISHED]
    [request] = seen
    assert (request["method"], request["target"]) == ("POST", "http://upstream.invalid/v1/chat/completions")
    assert request["headers"].get("Proxy-Authorization") == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert request["headers"]["Host"] == "upstream.invalid"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "gpt-4o"


async def test_an_https_request_tunnels_through_the_proxy_with_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    async def refuse(request: web.BaseRequest) -> web.StreamResponse:
        record(request, b"", seen)
        return web.Response(status=407, text="who are you?")

    async with serving(refuse) as port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{port}")
        model = OpenAIChatModel("gpt-4o", KEY, "https://upstream.invalid/v1", retry=RetryPolicy(max_attempts=1))
        with pytest.raises(ProviderError) as refused:
            await collect(model)
    assert refused.value.kind is ProviderErrorKind.AUTHENTICATION  # the proxy's credentials, not worth a retry
    assert "407" in refused.value.message
    assert "proxy" in refused.value.message
    [request] = seen
    assert (request["method"], request["target"]) == ("CONNECT", "upstream.invalid:443")
    assert request["headers"]["Proxy-Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert KEY not in json.dumps(request)  # the API key only goes inside the tunnel


async def test_loopback_goes_through_the_proxy_unless_no_proxy_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    async with serving(answering("direct", seen)) as port:
        base_url = f"http://127.0.0.1:{port}/v1"
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
        with pytest.raises(ProviderError) as refused:
            await collect(OpenAIChatModel("gpt-4o", KEY, base_url, retry=FAST_RETRY))
        assert refused.value.kind is ProviderErrorKind.CONNECTION  # the (absent) proxy was tried
        assert seen == []
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        assert await collect(OpenAIChatModel("gpt-4o", KEY, base_url, retry=FAST_RETRY)) == [
            TextDelta("direct"),
            ModelFinished(FinishReason.STOP),
        ]
    [request] = seen
    assert request["target"] == "/v1/chat/completions"
    assert "Proxy-Authorization" not in request["headers"]


async def test_the_proxy_is_looked_up_once_per_adapter_session(monkeypatch: pytest.MonkeyPatch) -> None:
    direct: list[dict[str, Any]] = []
    proxied: list[dict[str, Any]] = []
    async with serving(answering("direct", direct)) as port, serving(answering("proxied", proxied)) as proxy_port:
        model = OpenAIChatModel("gpt-4o", KEY, f"http://127.0.0.1:{port}/v1", retry=FAST_RETRY)
        try:
            assert [item async for item in model.stream(REQUEST)] == [TextDelta("direct"), FINISHED]
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
            assert [item async for item in model.stream(REQUEST)] == [TextDelta("direct"), FINISHED]
        finally:
            await model.aclose()
        # a new session (after aclose) reads the environment again
        assert await collect(model) == [TextDelta("proxied"), FINISHED]
    assert (len(direct), len(proxied)) == (2, 1)


async def test_proxy_credentials_are_not_sent_once_the_environment_no_longer_names_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct: list[dict[str, Any]] = []
    proxied: list[dict[str, Any]] = []
    async with serving(answering("direct", direct)) as port, serving(answering("proxied", proxied)) as proxy_port:
        model = OpenAIChatModel("gpt-4o", KEY, f"http://127.0.0.1:{port}/v1", retry=FAST_RETRY)
        monkeypatch.setenv("HTTP_PROXY", f"http://user:secret@127.0.0.1:{proxy_port}")
        assert await collect(model) == [TextDelta("proxied"), FINISHED]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert await collect(model) == [TextDelta("direct"), FINISHED]
    assert "Proxy-Authorization" in proxied[0]["headers"]
    assert "Proxy-Authorization" not in direct[0]["headers"]

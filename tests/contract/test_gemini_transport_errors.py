"""Which transport google-genai runs on under the Gemini adapter, and the errors it really raises there.

google-genai picks aiohttp for its async client whenever aiohttp is installed (Aura depends on it), and
httpx/httpx2 only otherwise; these tests pin that and check the adapter maps what that transport raises.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from aura.adapters.llm.gemini import GeminiChatModel
from aura.adapters.llm.retry import RetryPolicy
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.messages import UserMessage
from aura.ports.chat_model import ChatRequest

HELLO = ChatRequest((UserMessage("hi"),))
NO_RETRY = RetryPolicy(max_attempts=1)
API_KEY = "contract-gemini-key-51e2a7"
CALL_TIMEOUT = 15.0


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def failure(model: GeminiChatModel) -> ProviderError:
    async def consume() -> None:
        async for _ in model.stream(HELLO):
            pass

    try:
        with pytest.raises(ProviderError) as raised:
            await asyncio.wait_for(consume(), CALL_TIMEOUT)
    finally:
        await model.aclose()
    return raised.value


@pytest.fixture
async def stalling_server() -> AsyncIterator[str]:
    """Accepts the request and never answers."""

    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(CALL_TIMEOUT * 2)
        return web.Response()

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", stall)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_google_genai_runs_on_aiohttp_here() -> None:
    model = GeminiChatModel("gemini-test", API_KEY, "http://127.0.0.1:9")
    assert model._client._api_client._use_aiohttp()


async def test_an_unreachable_endpoint_is_a_connection_error_without_the_key() -> None:
    model = GeminiChatModel("gemini-test", API_KEY, f"http://127.0.0.1:{unused_port()}", retry=NO_RETRY)
    error = await failure(model)
    assert error.kind is ProviderErrorKind.CONNECTION
    assert error.retryable
    assert API_KEY not in str(error)


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(stalling_server: str) -> None:
    model = GeminiChatModel("gemini-test", API_KEY, stalling_server, request_timeout=1.0, retry=NO_RETRY)
    error = await failure(model)
    assert error.kind is ProviderErrorKind.TIMEOUT
    assert error.retryable

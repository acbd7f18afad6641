"""Schemathesis against the server's `/openapi.json`: no 5xx, no traceback, responses match the document.

The server runs on 127.0.0.1 in a background thread (its own event loop), because schemathesis calls
it synchronously. The schema is built from `openapi_document()` at import time (schemathesis' lazy
`from_fixture` loader does not work with pytest 9) and a first test proves it is exactly what the
live server serves at `/openapi.json`. Examples are bounded so the suite stays fast; the corpus is
not persisted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from aura.adapters.http import ServerOptions, create_app, start_app
from aura.adapters.http.openapi import openapi_document
from aura.domain.agent import Agent, AgentSettings
from aura.testing import ScriptedChatModel, reply

MAX_EXAMPLES = 40
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "aiohttp/web_protocol.py")


class ThreadedServer:
    """An aura app served from a background thread's event loop."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="schemathesis-server", daemon=True)
        self._runner: Any = None

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self._runner, port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _start(self) -> tuple[Any, int]:
        agents = [
            Agent(AgentSettings(name="alpha", system_prompt="x"), ScriptedChatModel([], then=reply("a", "ok"))),
            Agent(AgentSettings(name="beta", system_prompt="x"), ScriptedChatModel([], then=reply("b"))),
        ]
        app = create_app(agents, self.options, default_agent="alpha")
        return await start_app(app, "127.0.0.1", 0)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


API_KEY = "sk-aura-fuzz-0123456789abcdef"


@pytest.fixture(scope="module", params=["open", "api-keys"])
def server(request: pytest.FixtureRequest) -> Iterator[ThreadedServer]:
    """The server as shipped (no auth) and with API keys on (the fuzzed requests then carry the key)."""
    keys = (API_KEY,) if request.param == "api-keys" else ()
    with ThreadedServer(ServerOptions(first_chunk_timeout_secs=5, streaming_timeout_secs=10, api_keys=keys)) as running:
        yield running


schema = schemathesis.openapi.from_dict(openapi_document())


def test_the_fuzzed_document_is_the_one_the_server_serves(server: ThreadedServer) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"} if server.options.api_keys else {}
    served = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=headers)
    assert served.raw_schema == openapi_document()


@schemathesis.check
def no_traceback_in_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """A response never shows a Python traceback or file path, whatever the input."""
    body = response.text if isinstance(response.text, str) else ""
    for marker in TRACEBACK_MARKERS:
        if marker in body:
            raise AssertionError(f"response body shows internals ({marker!r}): {body[:300]!r}")
    return None


@schemathesis.check
def accepts_valid_requests_ending_with_a_user_message(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' own positive-data check, minus the one rule JSON Schema cannot state.

    The document says (in prose) that the last message must come from the user; a schema cannot
    constrain the last array item, so schema-valid bodies ending with another role are a 400 by
    design. Every other schema-valid chat request must be accepted.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or case.operation.path != "/v1/chat/completions":
        return None
    body = case.body
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    if messages[-1].get("role") != "user":
        return None
    if response.status_code == 400:
        raise AssertionError(f"a schema-valid request ending with a user message was rejected: {response.text[:300]}")
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_document(case: Any, server: ThreadedServer) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"} if server.options.api_keys else None
    case.call_and_validate(
        base_url=server.url,
        headers=headers,
        additional_checks=[no_traceback_in_body, accepts_valid_requests_ending_with_a_user_message],
        excluded_checks=[positive_data_acceptance],
        timeout=30,
    )

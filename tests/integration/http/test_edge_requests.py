"""Requests aiohttp cannot parse, and oversized session ids, against a real server on loopback (raw sockets).

Such requests are answered in the OpenAI error envelope, logged as one INFO line without a traceback, and
neither the answer nor the log repeats the request's header lines (which can hold a credential no masking
pattern recognises).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from aura.adapters.http.limits import MAX_SESSION_ID_LENGTH
from aura.adapters.telemetry import configure_logging
from aura.testing import reply
from tests.integration.http.support import RunningServer, make_agent, running_server, user

pytestmark = pytest.mark.timeout(60)

SECRET = "tenantSECRETvalue123"


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The server's log as JSON lines, at INFO for every logger (aiohttp's included)."""
    root, aura = logging.getLogger(), logging.getLogger("aura")
    saved = (root.level, aura.level)
    stream = io.StringIO()
    handler = configure_logging("INFO", json=True, stream=stream, environ={})
    root.setLevel(logging.INFO)  # aiohttp.server and aiohttp.access too: nothing of theirs may slip through
    yield stream
    root.removeHandler(handler)
    root.setLevel(saved[0])
    aura.setLevel(saved[1])


@pytest.fixture
async def server(log: io.StringIO) -> AsyncIterator[RunningServer]:
    agent = make_agent([reply("Hello.")], then=reply("Again."))
    async with running_server([agent]) as running:
        yield running


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer until the server closes; (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):  # the server may answer and close before it read everything
            await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def records(log: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def assert_one_quiet_line(log: io.StringIO) -> dict[str, Any]:
    """One INFO line and no traceback (besides the access log line, which holds the status, not the head)."""
    lines = [line for line in records(log) if line["logger"] != "aiohttp.access"]
    assert [line["level"] for line in lines] == ["INFO"], lines
    assert "exception" not in lines[0]
    return lines[0]


def envelope(body: bytes) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


async def test_a_control_character_in_a_header_is_refused_without_repeating_the_line(
    server: RunningServer, log: io.StringIO
) -> None:
    request = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Tenant-Auth: {SECRET}\x01\r\n\r\n".encode()
    status, headers, body = await exchange(port_of(server), request)

    assert status == 400
    assert headers["content-type"].startswith("application/json")
    error = envelope(body)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("Bad HTTP request: ")
    assert SECRET not in body.decode("latin-1")
    line = assert_one_quiet_line(log)
    assert line["logger"] == "aura.adapters.http.edge"
    assert SECRET not in log.getvalue()
    assert "X-Tenant-Auth" not in log.getvalue()


async def test_a_100_kb_header_gets_the_envelope_and_one_line(server: RunningServer, log: io.StringIO) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"q" * 100_000 + b"\r\n\r\n"
    status, _, body = await exchange(port_of(server), request)

    assert status == 400
    error = envelope(body)
    assert error["code"] == "header_too_large"
    assert "8190 bytes" in error["message"]
    assert b"qqqq" not in body
    assert_one_quiet_line(log)
    assert "qqqq" not in log.getvalue()


async def test_2000_headers_get_the_envelope_and_one_line(server: RunningServer, log: io.StringIO) -> None:
    many = "".join(f"X-H{index}: v{index}\r\n" for index in range(2000))
    status, _, body = await exchange(port_of(server), f"GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())

    assert status == 400
    error = envelope(body)
    assert error["code"] == "too_many_headers"
    assert "128 headers" in error["message"]
    assert_one_quiet_line(log)


async def test_garbage_instead_of_http_gets_the_envelope(server: RunningServer, log: io.StringIO) -> None:
    status, _, body = await exchange(port_of(server), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    assert status == 400
    assert envelope(body)["type"] == "invalid_request_error"
    assert all(line["level"] in ("DEBUG", "INFO") for line in records(log))


async def test_the_server_still_answers_after_bad_requests(server: RunningServer) -> None:
    await exchange(port_of(server), f"GET /health HTTP/1.1\r\nX-A: {SECRET}\x01\r\n\r\n".encode())
    status, _, body = await exchange(port_of(server), b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert json.loads(body) == {"status": "healthy"}


# --- session ids ------------------------------------------------------------------------------------


def chat_request(body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n{head}\r\n"
    ).encode() + payload


async def test_an_over_long_session_header_is_a_400_naming_the_header_and_the_limit(
    server: RunningServer, log: io.StringIO
) -> None:
    session = "s" * 8000
    request = chat_request({"messages": user("Hi")}, {"X-Chat-Session-Id": session})
    status, headers, body = await exchange(port_of(server), request)

    assert status == 400
    error = envelope(body)
    assert error["param"] == "X-Chat-Session-Id"
    assert error["code"] == "session_id_too_long"
    assert f"at most {MAX_SESSION_ID_LENGTH} characters" in error["message"]
    assert "8000" in error["message"]
    assert "x-chat-session-id" not in headers
    assert session not in log.getvalue()


async def test_an_over_long_metadata_session_id_is_a_400_naming_the_field(server: RunningServer) -> None:
    body = {"messages": user("Hi"), "metadata": {"chat_session_id": "m" * 16_000}}
    status, _, answer = await exchange(port_of(server), chat_request(body, {}))

    assert status == 400
    error = envelope(answer)
    assert error["param"] == "metadata.chat_session_id"
    assert error["code"] == "session_id_too_long"


async def test_a_session_id_at_the_limit_is_echoed_and_readable_by_aiohttp(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    session = "c" * MAX_SESSION_ID_LENGTH
    async with http.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": user("Hi"), "stream": True},
        headers={"X-Chat-Session-Id": session},
    ) as response:
        assert response.status == 200
        assert response.headers["X-Chat-Session-Id"] == session
        assert b"data: [DONE]" in await response.read()


async def test_a_malformed_chunked_body_is_a_400_not_a_500(server: RunningServer, log: io.StringIO) -> None:
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\nZZZ-not-a-size\r\n\r\n'
    )
    status, _, body = await exchange(port_of(server), request)

    assert status == 400
    assert envelope(body)["type"] == "invalid_request_error"
    assert all(line["level"] in ("DEBUG", "INFO") for line in records(log)), records(log)
    assert "Traceback" not in log.getvalue()

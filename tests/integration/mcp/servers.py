"""Starting real MCP servers for the integration tests: our fixture server and npm's server-everything."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from aura.adapters.mcp import McpToolset, SseTransport, StdioTransport, StreamableHttpTransport

REPO = Path(__file__).resolve().parents[3]
FIXTURE_SERVER = REPO / "tests" / "fixtures" / "mcp_servers" / "fixture_server.py"
NPM_EVERYTHING = (
    REPO / "tests" / "npm" / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
)
TRANSPORTS = ("stdio", "sse", "streamable-http")
HTTP_TRANSPORTS = ("sse", "streamable-http")
READY_TIMEOUT = 30.0

Transport = StdioTransport | StreamableHttpTransport | SseTransport


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """An HTTP MCP server in a subprocess on 127.0.0.1; `start()` returns once the port accepts connections."""

    def __init__(self, command: Sequence[str], port: int, *, env: Mapping[str, str] | None = None, log: Path) -> None:
        self.command = list(command)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"MCP test server exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"MCP test server did not listen on port {self.port} within {READY_TIMEOUT} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def fixture_command(transport: str, *, port: int | None = None, record: Path | None = None) -> list[str]:
    command = [sys.executable, str(FIXTURE_SERVER), transport]
    if port is not None:
        command += ["--port", str(port)]
    if record is not None:
        command += ["--record", str(record)]
    return command


def fixture_server(transport: str, logs: Path, *, record: Path | None = None, port: int | None = None) -> ServerProcess:
    """Our fixture server over an HTTP `transport`, on `port` (or a free one), its output in `logs`; not started."""
    port = port or free_port()
    command = fixture_command(transport, port=port, record=record)
    return ServerProcess(command, port, log=logs / f"mcp-{transport}-{port}.log")


@contextlib.contextmanager
def running_fixture_servers(
    transports: Iterable[str], logs: Path, *, records: Mapping[str, Path] | None = None
) -> Iterator[dict[str, ServerProcess]]:
    """Our fixture server over each HTTP transport (recording to `records[transport]`), all stopped afterwards."""
    started: dict[str, ServerProcess] = {}
    try:
        for transport in transports:
            started[transport] = fixture_server(transport, logs, record=(records or {}).get(transport)).start()
        yield started
    finally:
        for server in started.values():
            server.stop()


@contextlib.contextmanager
def running_fixture_server(transport: str, logs: Path, *, record: Path | None = None) -> Iterator[ServerProcess]:
    """`running_fixture_servers` for one transport."""
    with running_fixture_servers([transport], logs, records={transport: record} if record else None) as started:
        yield started[transport]


def fixture_url(transport: str, port: int) -> str:
    return f"http://127.0.0.1:{port}/sse" if transport == "sse" else f"http://127.0.0.1:{port}/mcp"


def http_transport(
    transport: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    headers_from_request: Mapping[str, str] | None = None,
) -> SseTransport | StreamableHttpTransport:
    kind = SseTransport if transport == "sse" else StreamableHttpTransport
    return kind(url, headers=dict(headers or {}), headers_from_request=dict(headers_from_request or {}))


def read_events(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


async def wait_for(condition: Callable[[], bool], *, within: float = 10.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fails the test (instead of hanging) after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


async def close_all(toolsets: Sequence[McpToolset]) -> None:
    await asyncio.gather(*(toolset.aclose() for toolset in toolsets))


def node_available() -> bool:
    return shutil.which("node") is not None and NPM_EVERYTHING.exists()

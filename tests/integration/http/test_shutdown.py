"""Graceful shutdown of a real server process (SIGTERM), and phase 2 in-process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from aura.adapters.http.server import shutdown_gracefully
from aura.testing import FunctionToolset, call_tool, reply
from tests.integration.http.support import (
    Frame,
    chunks,
    content_of,
    free_port,
    iter_frames,
    make_agent,
    running_server,
    user,
    wait_until_healthy,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


class ServerProcess:
    """The shutdown test server in a subprocess; its stderr is collected line by line as it runs."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    def count(self, fragment: str) -> int:
        return sum(fragment in line for line in self.lines)

    async def wait_for_lines(self, fragment: str, count: int) -> None:
        """Until `count` stderr lines contain `fragment` (fails if the process exits first)."""
        while self.count(fragment) < count:
            if self._reader.done():
                raise AssertionError(f"server exited before logging {fragment!r} {count}x:\n{self.log}")
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 30)

    async def stderr(self) -> str:
        """The whole log, once the process has closed its stderr."""
        await asyncio.wait_for(asyncio.shield(self._reader), 30)
        return self.log

    @property
    def log(self) -> str:
        return "\n".join(self.lines)


@contextlib.asynccontextmanager
async def server_process(grace: float) -> AsyncIterator[ServerProcess]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.http.shutdown_server",
        str(port),
        str(grace),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = ServerProcess(process, f"http://127.0.0.1:{port}")
    try:
        await wait_until_serving(server)
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server.stderr()


async def wait_until_serving(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        await wait_until_healthy(http, server.url, server.process, within=20, log=server.stderr)


async def exit_code(process: asyncio.subprocess.Process, within: float) -> int:
    try:
        return await asyncio.wait_for(process.wait(), within)
    except TimeoutError:
        raise AssertionError("the server process did not exit") from None


async def status_of(url: str, method: str, path: str) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh,
        fresh.request(method, f"{url}{path}", json={"messages": user("x")}) as response,
    ):
        return response.status, await response.json()


async def test_sigterm_during_a_long_stream() -> None:
    async with server_process(grace=1.0) as server, aiohttp.ClientSession() as http:
        process, url = server.process, server.url
        payload = {"model": "slow", "messages": user("talk"), "stream": True}
        async with http.post(f"{url}/v1/chat/completions", json=payload) as response:
            frames: list[Frame] = []
            stream = iter_frames(response)
            async for frame in stream:
                frames.append(frame)
                if frame.kind == "chunk":
                    break
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            health = await status_of(url, "GET", "/health")
            chat = await status_of(url, "POST", "/v1/chat/completions")
            frames.extend([frame async for frame in stream])
        code = await exit_code(process, 20)
        log = await server.stderr()

    assert health == (
        503,
        {"error": {"message": "Server is shutting down", "type": "service_unavailable", "param": None, "code": None}},
    )
    assert chat[0] == 503
    text = content_of(frames)
    assert text.startswith("w0 ")
    assert "w399" not in text  # cut short after the grace period, not finished
    assert "The server is shutting down" in text
    final = chunks(frames)[-1]
    assert final["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert frames[-1].kind == "done"
    assert code == 0, log
    assert "Received SIGTERM, initiating graceful shutdown" in log


async def test_stream_that_finishes_within_the_grace_period_completes_then_exits() -> None:
    async with server_process(grace=30.0) as server, aiohttp.ClientSession() as http:
        process, url = server.process, server.url
        payload = {"model": "short", "messages": user("talk"), "stream": True}
        async with http.post(f"{url}/v1/chat/completions", json=payload) as response:
            stream = iter_frames(response)
            frames = [await anext(stream)]
            process.send_signal(signal.SIGTERM)
            frames.extend([frame async for frame in stream])
        code = await exit_code(process, 20)  # well before the 30 s grace period: it exits when idle
    assert content_of(frames) == "".join(f"w{i} " for i in range(10))
    assert "usage" in chunks(frames)[-1]
    assert frames[-1].kind == "done"
    assert code == 0


async def test_idle_server_exits_at_once() -> None:
    async with server_process(grace=60.0) as server:
        server.process.send_signal(signal.SIGINT)
        assert await exit_code(server.process, 20) == 0


async def test_sigterm_answers_hanging_non_streaming_requests_503_and_cancels_their_turns() -> None:
    async with (
        server_process(grace=1.0) as server,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http,
    ):

        async def complete(model: str) -> tuple[int, object, str | None]:
            payload = {"model": model, "messages": user("x")}
            async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
                return response.status, await response.json(), response.headers.get("Connection")

        requests = [asyncio.create_task(complete(model)) for model in ("hang-tool", "hang-tool", "hang-model")]
        await server.wait_for_lines("tool started", 2)
        await server.wait_for_lines("model started", 1)
        server.process.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*requests)
        code = await exit_code(server.process, 20)
        log = await server.stderr()

    shut_down = {
        "error": {
            "message": "The server shut down before the answer was ready. Please try again.",
            "type": "service_unavailable",
            "param": None,
            "code": None,
        }
    }
    assert answers == [(503, shut_down, "close")] * 3
    assert code == 0, log
    assert server.count("tool cancelled") == 2, log
    assert server.count("model cancelled") == 1, log
    assert "stopping 3 active request(s), 0 of them stream(s)" in log


async def test_phase_two_closes_streams_and_cancels_their_turns(http: aiohttp.ClientSession) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hang() -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    toolset = FunctionToolset("local")
    toolset.add(hang, parameters={"type": "object", "properties": {}})
    agent = make_agent([call_tool("hang", {}, text="Working."), reply("never")], toolsets=[toolset])
    async with running_server([agent]) as server:
        payload = {"messages": user("x"), "stream": True}
        async with http.post(f"{server.url}/v1/chat/completions", json=payload) as response:
            reading = asyncio.create_task(response.read())
            await asyncio.wait_for(started.wait(), 5)
            await asyncio.wait_for(shutdown_gracefully(server.app, 0.2), 10)
            body = (await asyncio.wait_for(reading, 5)).decode()
        await asyncio.wait_for(cancelled.wait(), 5)
    assert body.endswith('"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    assert "The server is shutting down" in body


async def test_zero_grace_with_no_streams_returns_immediately() -> None:
    async with running_server([make_agent([reply("x")])]) as server:
        await asyncio.wait_for(shutdown_gracefully(server.app, 0.0), 5)

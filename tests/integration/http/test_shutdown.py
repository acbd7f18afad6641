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
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@contextlib.asynccontextmanager
async def server_process(grace: float) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
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
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, process)
        yield process, url
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_until_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            if process.returncode is not None:
                raise AssertionError(f"server exited early: {await stderr_of(process)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("server did not become healthy")


async def stderr_of(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    return (await process.stderr.read()).decode(errors="replace")


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
    async with server_process(grace=1.0) as (process, url), aiohttp.ClientSession() as http:
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
        log = await stderr_of(process)

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
    async with server_process(grace=30.0) as (process, url), aiohttp.ClientSession() as http:
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
    async with server_process(grace=60.0) as (process, _):
        process.send_signal(signal.SIGINT)
        assert await exit_code(process, 20) == 0


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

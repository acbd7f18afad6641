"""SIGTERM with 20 streams in flight: every stream ends with a final chunk and `[DONE]`, the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp

from tests.integration.faults.support import (
    assert_closed_properly,
    exit_code_and_log,
    killed_if_still_running,
    wait_until_healthy,
)
from tests.integration.http.support import Frame, content_of, free_port, iter_frames, user

REPO = Path(__file__).resolve().parents[3]
STREAMS = 20
GRACE_SECS = 2.0


async def read_stream(http: aiohttp.ClientSession, url: str, model: str, first: asyncio.Event) -> list[Frame]:
    payload = {"model": model, "messages": user("talk"), "stream": True}
    frames: list[Frame] = []
    async with http.post(f"{url}/v1/chat/completions", json=payload) as response:
        assert response.status == 200
        async for frame in iter_frames(response):
            frames.append(frame)
            if frame.kind == "chunk":
                first.set()
    return frames


async def test_sigterm_with_20_streams_in_flight() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # `slow` streams for 20 s (cut by phase 2), `short` for about 1 s (finishes within the grace period)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.http.shutdown_server",
        str(port),
        str(GRACE_SECS),
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with killed_if_still_running(process):
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
            await wait_until_healthy(http, url, process)
            models = ["slow" if i % 2 == 0 else "short" for i in range(STREAMS)]
            started = [asyncio.Event() for _ in models]
            readers = [
                asyncio.create_task(read_stream(http, url, model, first))
                for model, first in zip(models, started, strict=True)
            ]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 30)
            process.send_signal(signal.SIGTERM)
            results = await asyncio.wait_for(asyncio.gather(*readers), 40)
        code, log = await exit_code_and_log(process, 30)

    assert code == 0, log
    for model, frames in zip(models, results, strict=True):
        final = assert_closed_properly(frames)
        text = content_of(frames)
        if model == "short":
            assert text == "".join(f"w{i} " for i in range(10))
            assert "usage" in final
        else:
            assert text.startswith("w0 ")
            assert "The server is shutting down" in text
    assert "Received SIGTERM, initiating graceful shutdown" in log
    assert "did not close in time" not in log

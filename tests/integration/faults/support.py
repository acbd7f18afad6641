"""What every fault test checks: an accepted stream ends with a final chunk and `[DONE]`, nothing after it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from tests.integration.http.support import Frame, chunks, content_of, parse_sse, user, wait_until_healthy


def assert_closed_properly(frames: Sequence[Frame]) -> dict[str, Any]:
    """The stream's last frame is `[DONE]`, right after a final chunk with a finish reason; returns that chunk."""
    assert frames, "empty stream"
    assert frames[-1].kind == "done", f"stream did not end with [DONE]: {frames[-3:]}"
    assert sum(frame.kind == "done" for frame in frames) == 1
    final = [frame for frame in frames if frame.kind == "chunk"][-1]
    assert final.data["choices"][0]["finish_reason"] in ("stop", "length"), final.data
    assert final.data["choices"][0]["delta"] == {}
    after_final = frames[frames.index(final) + 1 : -1]
    assert all(frame.kind in ("event", "comment") for frame in after_final), after_final
    return final.data


async def stream(http: aiohttp.ClientSession, url: str, text: str = "hi", **payload: Any) -> list[Frame]:
    body = {"messages": user(text), "stream": True, **payload}
    async with http.post(f"{url}/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        return parse_sse(await response.text())


async def assert_still_serving(http: aiohttp.ClientSession, url: str, expected_text: str, **payload: Any) -> None:
    """A fresh stream after the fault completes normally."""
    frames = await stream(http, url, **payload)
    final = assert_closed_properly(frames)
    assert content_of(frames) == expected_text
    assert "usage" in final


@contextlib.asynccontextmanager
async def killed_if_still_running(process: asyncio.subprocess.Process) -> AsyncIterator[asyncio.subprocess.Process]:
    """The block's `process`; killed (and reaped) after the block if it has not exited by then."""
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def exit_code_and_log(process: asyncio.subprocess.Process, within: float) -> tuple[int, str]:
    """Waits up to `within` s for `process` to exit; its exit code and its stderr (which must be a pipe)."""
    code = await asyncio.wait_for(process.wait(), within)
    assert process.stderr is not None
    return code, (await process.stderr.read()).decode(errors="replace")


__all__ = [
    "assert_closed_properly",
    "assert_still_serving",
    "chunks",
    "exit_code_and_log",
    "killed_if_still_running",
    "stream",
    "wait_until_healthy",
]

"""Where the streaming overhead goes: the same server with `OpenAIChatModel` vs a lean SSE reader (not a test).

    python bench/load_stream_parsing.py [--levels 100 1000]

Serves one agent with `create_app` in a worker process, twice: once with the real `OpenAIChatModel`
(aiohttp and its own SSE reader, with timeouts, error mapping and retries) and once with `LeanSseModel`, a
minimal ChatModel that reads the upstream's SSE lines with aiohttp and `json.loads` (text only: no tools,
no errors, no retries, so it is an experiment, not an adapter). Both run against the fake upstream of
`load_streams.py`; the difference between the two rows is the provider adapter's per-chunk cost, since
the HTTP adapter and the domain turn are the same code in both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_streams

from aura.adapters.http import ServerOptions, create_app, start_app
from aura.domain.agent import Agent, AgentSettings
from aura.domain.events import FinishReason, ModelEvent, ModelFinished, TextDelta, UsageReported
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatModel, ChatRequest


class LeanSseModel:
    """Text-only OpenAI-compatible streaming with plain `json.loads` per chunk."""

    provider = "openai"
    model_name = "bench"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session: aiohttp.ClientSession | None = None

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        async with self.session.post(f"{self.base_url}/chat/completions", json=body) as response:
            async for line in response.content:
                if not line.startswith(b"data: "):
                    continue
                data = line[6:].strip()
                if data == b"[DONE]":
                    break
                chunk = json.loads(data)
                usage = chunk.get("usage")
                if usage:
                    yield UsageReported(Usage.of(usage["prompt_tokens"], usage["completion_tokens"]))
                for choice in chunk.get("choices", ()):
                    text = choice["delta"].get("content")
                    if text:
                        yield TextDelta(text)
        yield ModelFinished(FinishReason.STOP)

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


def serve(kind: str, port: int, upstream: str) -> None:
    from aura.adapters.llm.openai import OpenAIChatModel

    async def main() -> None:
        model: ChatModel
        if kind == "lean":
            model = LeanSseModel(f"{upstream}/v1")
        else:
            model = OpenAIChatModel("bench", "sk-bench", f"{upstream}/v1")
        agent = Agent(AgentSettings(name="bench", system_prompt="x"), model)
        await start_app(create_app([agent], ServerOptions(first_chunk_timeout_secs=0)), "127.0.0.1", port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def compare(levels: list[int]) -> None:
    upstream_port = load_streams.free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    command = [sys.executable, load_streams.SCRIPT, "upstream", str(upstream_port), "32", "0.02"]
    print(
        "| model adapter | streams | req/s | server CPU ms/req | TTFT p50 ms | peak RSS MiB |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    with load_streams.process(command) as fake:
        for kind in ("OpenAIChatModel", "lean"):
            port = load_streams.free_port()
            server = multiprocessing.get_context("spawn").Process(target=serve, args=(kind, port, upstream))
            server.start()
            try:
                await load_streams.wait_for_port(port, fake)
                assert server.pid is not None
                for level in levels:
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    result = await load_streams.run_level(url, level, max(200, 2 * level), server.pid)
                    print(
                        f"| {kind} | {level} | {result['requests_per_sec']:.1f} | "
                        f"{result['server_cpu_ms_per_request']:.2f} | {result['ttft_p50_ms']:.0f} | "
                        f"{result['peak_rss_mib']:.0f} |",
                        flush=True,
                    )
            finally:
                server.terminate()
                server.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 1000])
    asyncio.run(compare(parser.parse_args().levels))
    return 0


if __name__ == "__main__":
    sys.exit(main())

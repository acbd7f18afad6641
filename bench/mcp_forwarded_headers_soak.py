"""Soak benchmark: `aura serve` RSS over time while requests forward distinct header values to an MCP server.

    python bench/mcp_forwarded_headers_soak.py                         # 10 minutes, 40 distinct values
    python bench/mcp_forwarded_headers_soak.py --minutes 2 --distinct 0 # every request a new value

Three processes on 127.0.0.1: our MCP fixture server (streamable HTTP), a fake OpenAI upstream that asks for the
`echo` tool once per turn and then answers, and `aura serve` with that MCP server's `X-Tenant` header forwarded
from the request (`headers_from_request`). Each distinct value gets its own MCP session (see docs/mcp.md), so with
more distinct values than `pool_max_idle` (32) sessions are opened and closed all the time. The client keeps
`--concurrency` requests in flight, each with a value drawn from `--distinct` values (0: a new value every
request), and prints the server's RSS every `--sample-secs`. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

# the process helpers of the load benchmark (as bench/load_stream_parsing.py uses them)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_streams import cpu_seconds, free_port, process, rss_bytes, wait_for_port

REPO = Path(__file__).resolve().parents[1]
FIXTURE_SERVER = REPO / "tests" / "fixtures" / "mcp_servers" / "fixture_server.py"
CHAT_PATH = "/v1/chat/completions"


def upstream_app(tool_for: Callable[[str], str | None] = lambda text: "echo") -> web.Application:
    """Turn one: a call to the tool `tool_for(<user message>)` (an answer if None); after the tool result: "done"."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        last = body["messages"][-1]
        tool = tool_for(last["content"]) if last["role"] == "user" else None
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 0, "model": "soak"}
        if tool is None:
            deltas = [({"role": "assistant", "content": "done"}, None), ({}, "stop")]
        else:
            call = {"index": 0, "id": "call_1", "type": "function"}
            call["function"] = {"name": tool, "arguments": '{"message": "soak"}'}
            deltas = [({"role": "assistant", "tool_calls": [call]}, None), ({}, "tool_calls")]
        for delta, finish in deltas:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post(CHAT_PATH, chat)
    return app


def rss_mib(pid: int) -> float:
    return rss_bytes(pid) / 2**20


AURA_CONFIG = """
[llm]
provider = "openai"
api_key = "sk-soak-not-a-real-key"
model = "soak"
base_url = "{upstream}/v1"

[agent]
name = "soak"
system_prompt = "You are a soak test."

[mcp.servers.tenant]
transport = "http_streamable"
url = "{mcp}/mcp"
headers_from_request = {{ "X-Tenant" = "x-tenant" }}
"""


async def soak(args: argparse.Namespace) -> list[dict[str, float]]:
    upstream_port, mcp_port, aura_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        config = Path(workdir) / "soak.toml"
        config.write_text(
            AURA_CONFIG.format(upstream=f"http://127.0.0.1:{upstream_port}", mcp=f"http://127.0.0.1:{mcp_port}")
        )
        up = stack.enter_context(process([sys.executable, __file__, "upstream", str(upstream_port)]))
        mcp = stack.enter_context(
            process([sys.executable, str(FIXTURE_SERVER), "streamable-http", "--port", str(mcp_port)])
        )
        await wait_for_port(upstream_port, up)
        await wait_for_port(mcp_port, mcp)
        env = {"CONFIG_PATH": str(config), "PORT": str(aura_port), "LOG_LEVEL": "WARNING"}
        aura = stack.enter_context(process([sys.executable, "-m", "aura.entrypoints.cli", "serve"], env))
        await wait_for_port(aura_port, aura)
        return await drive(f"http://127.0.0.1:{aura_port}{CHAT_PATH}", aura.pid, args)


async def drive(url: str, pid: int, args: argparse.Namespace) -> list[dict[str, float]]:
    body = json.dumps({"model": "soak", "messages": [{"role": "user", "content": "echo something"}]}).encode()
    counts = {"ok": 0, "failed": 0, "tool_errors": 0}
    serial = iter(range(10**12))
    deadline = time.monotonic() + args.minutes * 60
    samples: list[dict[str, float]] = []
    started, cpu_start = time.monotonic(), cpu_seconds(pid)

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            tenant = f"tenant-{random.randrange(args.distinct) if args.distinct else next(serial)}"
            headers = {"Content-Type": "application/json", "X-Tenant": tenant}
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    answer = await response.json()
                    ok = response.status == 200 and answer["choices"][0]["message"]["content"].endswith("done")
                    counts["ok" if ok else "failed"] += 1
                    if ok and "failed" in answer["choices"][0]["message"]["content"].lower():
                        counts["tool_errors"] += 1
            except Exception as error:
                counts["failed"] += 1
                if counts["failed"] <= 3:
                    print(f"  request failed: {error!r}", file=sys.stderr)

    async def sampler() -> None:
        while time.monotonic() < deadline:
            elapsed = time.monotonic() - started
            sample = {
                "seconds": elapsed,
                "requests": counts["ok"],
                "failed": counts["failed"],
                "rss_mib": rss_mib(pid),
                "cpu_seconds": cpu_seconds(pid) - cpu_start,
            }
            samples.append(sample)
            print(
                f"{elapsed:6.0f} s  {sample['requests']:7d} ok  {sample['failed']:4d} failed  "
                f"RSS {sample['rss_mib']:6.1f} MiB  CPU {sample['cpu_seconds']:6.1f} s",
                flush=True,
            )
            await asyncio.sleep(min(args.sample_secs, max(deadline - time.monotonic(), 0.1)))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(sampler(), *(worker(session) for _ in range(args.concurrency)))
    samples.append(
        {
            "seconds": time.monotonic() - started,
            "requests": counts["ok"],
            "failed": counts["failed"],
            "rss_mib": rss_mib(pid),
            "cpu_seconds": cpu_seconds(pid) - cpu_start,
        }
    )
    return samples


def summary(samples: list[dict[str, float]], args: argparse.Namespace) -> str:
    warm = [s for s in samples if s["seconds"] >= args.warmup_secs] or samples
    low, high = min(s["rss_mib"] for s in warm), max(s["rss_mib"] for s in warm)
    last = samples[-1]
    return (
        f"{args.minutes:g} min, {args.concurrency} concurrent, "
        f"{args.distinct or 'every request a new'} distinct X-Tenant value(s): {last['requests']:.0f} requests "
        f"({last['requests'] / max(last['seconds'], 1):.1f}/s), {last['failed']:.0f} failed; RSS after "
        f"{args.warmup_secs:g} s between {low:.1f} and {high:.1f} MiB (spread {100 * (high - low) / low:.1f} %), "
        f"first {samples[0]['rss_mib']:.1f}, last {last['rss_mib']:.1f} MiB; server CPU {last['cpu_seconds']:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "upstream":
        web.run_app(upstream_app(), host="127.0.0.1", port=int(argv[1]), print=None, access_log=None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--distinct", type=int, default=40, help="distinct header values (0: a new one each time)")
    parser.add_argument("--sample-secs", type=float, default=30.0)
    parser.add_argument("--warmup-secs", type=float, default=60.0, help="RSS spread is measured after this")
    parser.add_argument("--json", type=Path, default=None, help="also write the samples here")
    args = parser.parse_args(argv)
    samples = asyncio.run(soak(args))
    print(summary(samples, args))
    if args.json is not None:
        args.json.write_text(json.dumps(samples, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

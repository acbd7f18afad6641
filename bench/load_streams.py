"""Load benchmark: concurrent SSE streams through `aura serve` against a pass-through floor (not a test).

    python bench/load_streams.py                      # levels 1, 100 and 1000 concurrent streams
    python bench/load_streams.py --levels 1 100 --tokens 64 --token-interval-ms 10 --json results.json
    python bench/load_streams.py --held-streams 5000 --tokens 10 --token-interval-ms 2000   # held-streams mode
    python bench/load_streams.py --levels 100 1000 --responses   # also /v1/responses, against chat completions

Three processes are started on 127.0.0.1:

- a fake OpenAI upstream that streams `--tokens` chunks per request, one every `--token-interval-ms`;
- the floor: a minimal aiohttp pass-through proxy (reads the request, opens the upstream stream,
  copies its bytes to the client; no parsing, no validation);
- `aura serve` with a one-agent config whose OpenAI `base_url` is the fake upstream.

For each level this process (the load client) keeps `level` streams open at once until
`--requests` have completed, and reports requests/s, p50/p99 time to first token (request sent ->
first content chunk received), the server's peak RSS and its growth per concurrent stream. Both
targets see exactly the same upstream and client; the only difference is what sits in the middle.
The client, upstream and server share the machine's cores, so figures are comparative, not absolute.

With `--responses`, the same `aura serve` is also loaded through `/v1/responses` (target `aura-responses`: the
Responses SSE events instead of chat-completion chunks) and the report compares its server CPU per request with
chat completions'.

Held-streams mode (`--held-streams N`): only `aura serve` (default timeouts, first-chunk timeout included) with
N slow streams open at the same time on one agent — each upstream stream lasts `tokens x interval`, longer than
it takes to open them all. It reports how many streams completed with every token, how many failed and why, how
many were open at once, time to first token, the server's peak RSS and CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

DEFAULT_LEVELS = (1, 100, 1000)
SCRIPT = str(Path(__file__).resolve())
CHAT_PATH = "/v1/chat/completions"
RESPONSES_PATH = "/v1/responses"


# --- the fake upstream ------------------------------------------------------------------------------


def upstream_app(tokens: int, interval: float) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench","choices":'
        for index in range(tokens):
            delta = f'{{"role":"assistant","content":"t{index} "}}' if index == 0 else f'{{"content":"t{index} "}}'
            await response.write(f'data: {base}[{{"index":0,"delta":{delta},"finish_reason":null}}]}}\n\n'.encode())
            if interval:
                await asyncio.sleep(interval)
        await response.write(f'data: {base}[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}\n\n'.encode())
        usage = f'"usage":{{"prompt_tokens":10,"completion_tokens":{tokens},"total_tokens":{tokens + 10}}}'
        await response.write(f"data: {base}[],{usage}}}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post(CHAT_PATH, chat)
    return app


# --- the floor: a pass-through proxy ----------------------------------------------------------------


def proxy_app(upstream: str) -> web.Application:
    session: aiohttp.ClientSession | None = None

    async def start(app: web.Application) -> None:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def stop(app: web.Application) -> None:
        if session is not None:
            await session.close()

    async def chat(request: web.Request) -> web.StreamResponse:
        assert session is not None
        body = await request.read()
        async with session.post(upstream + CHAT_PATH, data=body, headers={"Content-Type": "application/json"}) as up:
            response = web.StreamResponse(status=up.status, headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            async for data in up.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response

    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post(CHAT_PATH, chat)
    return app


def serve_forever(app: web.Application, port: int) -> None:
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


# --- process helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread (the event loop is busy driving the load)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str] | None = None, *, quiet: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` running for the block (stdout discarded; stderr too when `quiet`), then terminated."""
    stderr = subprocess.DEVNULL if quiet else None
    child = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def wait_for_port(port: int, child: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{child.args} exited with {child.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {within} s")


# --- the load client ----------------------------------------------------------------------------------


async def one_stream(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[float, float]:
    """(time to first content chunk, total time) of one streamed request (chat completions or Responses)."""
    responses = url.endswith(RESPONSES_PATH)
    first_marker = b'"response.output_text.delta"' if responses else b'"content"'
    last_marker = b"event: response.completed" if responses else b"data: [DONE]"
    started = time.perf_counter()
    first: float | None = None
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        if response.status != 200:
            raise RuntimeError(f"status {response.status}: {(await response.text())[:200]}")
        done = False
        async for line in response.content:
            if first is None and first_marker in line:
                first = time.perf_counter() - started
            if line.startswith(last_marker):
                done = True
        if not done:
            raise RuntimeError(f"stream ended without {last_marker.decode()}")
    return (first if first is not None else float("nan")), time.perf_counter() - started


def request_body(url: str) -> bytes:
    if url.endswith(RESPONSES_PATH):  # `store: false`: the floor stores nothing either
        return json.dumps({"model": "bench", "stream": True, "store": False, "input": "go"}).encode()
    return json.dumps({"model": "bench", "stream": True, "messages": [{"role": "user", "content": "go"}]}).encode()


async def run_level(url: str, concurrency: int, requests: int, server_pid: int) -> dict[str, Any]:
    body = request_body(url)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600)
    ttfts: list[float] = []
    failures = 0
    remaining = requests
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await one_stream(session, url, body)  # warm up (connections, imports, first-call costs)
        idle_rss = rss_bytes(server_pid)

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                try:
                    ttft, _ = await one_stream(session, url, body)
                    ttfts.append(ttft)
                except Exception as error:
                    failures += 1
                    if failures <= 3:
                        print(f"  request failed: {error}", file=sys.stderr)

        with PeakRss(server_pid) as peak:
            started, cpu_before = time.perf_counter(), cpu_seconds(server_pid)
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed, cpu_used = time.perf_counter() - started, cpu_seconds(server_pid) - cpu_before
    ttfts.sort()
    return {
        "concurrency": concurrency,
        "requests": len(ttfts),
        "failures": failures,
        "requests_per_sec": len(ttfts) / elapsed,
        "server_cpu_ms_per_request": 1000 * cpu_used / max(len(ttfts), 1),
        "ttft_p50_ms": 1000 * statistics.median(ttfts) if ttfts else float("nan"),
        "ttft_p99_ms": 1000 * ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))] if ttfts else float("nan"),
        "idle_rss_mib": idle_rss / 2**20,
        "peak_rss_mib": peak.peak / 2**20,
        "rss_per_stream_kib": max(peak.peak - idle_rss, 0) / 1024 / concurrency,
    }


async def one_held_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, tokens: int, open_now: list[int]
) -> tuple[str, float]:
    """('ok' or why it failed, time to first content chunk) of one held stream."""
    started = time.perf_counter()
    first = float("nan")
    chunks = 0
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            if response.status != 200:
                return f"HTTP {response.status}", first
            open_now[0] += 1
            open_now[1] = max(open_now[1], open_now[0])
            try:
                async for line in response.content:
                    if line.startswith(b"data: {") and b'"content":"t' in line:
                        if chunks == 0:
                            first = time.perf_counter() - started
                        chunks += 1
                    elif line.startswith(b"data: [DONE]"):
                        return ("ok" if chunks == tokens else f"{chunks} of {tokens} tokens"), first
                return "no [DONE]", first
            finally:
                open_now[0] -= 1
    except Exception as error:
        return type(error).__name__, first


async def run_held(url: str, streams: int, tokens: int, server_pid: int) -> dict[str, Any]:
    body = json.dumps({"model": "bench", "stream": True, "messages": [{"role": "user", "content": "go"}]}).encode()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=900)) as session:
        await one_stream(session, url, body)  # warm up
        idle_rss = rss_bytes(server_pid)
        open_now = [0, 0]  # streams open now, most open at once
        with PeakRss(server_pid) as peak:
            started, cpu_before = time.perf_counter(), cpu_seconds(server_pid)
            tasks = []
            for index in range(streams):  # open them over a few seconds rather than in one SYN flood
                tasks.append(asyncio.create_task(one_held_stream(session, url, body, tokens, open_now)))
                if index % 100 == 99:
                    await asyncio.sleep(0.05)
            outcomes = await asyncio.gather(*tasks)
            elapsed, cpu_used = time.perf_counter() - started, cpu_seconds(server_pid) - cpu_before
    reasons: dict[str, int] = {}
    for outcome, _ in outcomes:
        reasons[outcome] = reasons.get(outcome, 0) + 1
    ttfts = sorted(ttft for outcome, ttft in outcomes if outcome == "ok")
    return {
        "streams": streams,
        "completed": reasons.pop("ok", 0),
        "failed": reasons,
        "most_open_at_once": open_now[1],
        "seconds": elapsed,
        "server_cpu_seconds": cpu_used,
        "ttft_p50_ms": 1000 * statistics.median(ttfts) if ttfts else float("nan"),
        "ttft_p99_ms": 1000 * ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))] if ttfts else float("nan"),
        "idle_rss_mib": idle_rss / 2**20,
        "peak_rss_mib": peak.peak / 2**20,
    }


async def held_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    async with targets(args, held=True) as servers:
        url, pid = servers["aura"]
        print(f"aura: {args.held_streams} held streams ...", file=sys.stderr, flush=True)
        return await run_held(url, args.held_streams, args.tokens, pid)


def held_report(result: dict[str, Any], args: argparse.Namespace) -> str:
    failed = ", ".join(f"{count} {why}" for why, count in result["failed"].items()) or "none"
    return "\n".join(
        [
            f"{result['streams']} held streams on one agent, {args.tokens} tokens each, one every "
            f"{args.token_interval_ms:g} ms; {os.cpu_count()} CPU(s)",
            "",
            "| streams | completed | most open at once | failed | wall s | server CPU s | TTFT p50 ms | TTFT p99 ms "
            "| idle RSS MiB | peak RSS MiB |",
            "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
            f"| {result['streams']} | {result['completed']} | {result['most_open_at_once']} | {failed} | "
            f"{result['seconds']:.1f} | {result['server_cpu_seconds']:.1f} | {result['ttft_p50_ms']:.0f} | "
            f"{result['ttft_p99_ms']:.0f} | {result['idle_rss_mib']:.0f} | {result['peak_rss_mib']:.0f} |",
        ]
    )


AURA_CONFIG = """
[llm]
provider = "openai"
api_key = "sk-bench-not-a-real-key"
model = "bench"
base_url = "{upstream}/v1"
request_timeout_secs = 600

[agent]
name = "bench"
system_prompt = "You are a benchmark."
"""


@contextlib.asynccontextmanager
async def targets(args: argparse.Namespace, *, held: bool = False) -> AsyncIterator[dict[str, tuple[str, int]]]:
    """Start the upstream, the proxy and aura serve; yields {name: (chat URL, server pid)}."""
    script = SCRIPT
    upstream_port, proxy_port, aura_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    interval = str(args.token_interval_ms / 1000)
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        config = Path(workdir) / "bench.toml"
        config.write_text(AURA_CONFIG.format(upstream=upstream))
        up = stack.enter_context(
            process([sys.executable, script, "upstream", str(upstream_port), str(args.tokens), interval])
        )
        aura_env = {
            "CONFIG_PATH": str(config),
            "PORT": str(aura_port),
            "STREAMING_BUFFER_SIZE": "400",
            "FIRST_CHUNK_TIMEOUT_SECS": "0",
            "STREAMING_TIMEOUT_SECS": "0",
        }
        if args.log_level != "default":  # "default": no LOG_LEVEL, the server's default (INFO lines per request)
            aura_env["LOG_LEVEL"] = args.log_level
        if held:  # the server's own defaults: the first-chunk timeout must not fire on a held stream
            del aura_env["FIRST_CHUNK_TIMEOUT_SECS"], aura_env["STREAMING_TIMEOUT_SECS"]
        aura = stack.enter_context(process([sys.executable, "-m", "aura.entrypoints.cli", "serve"], aura_env))
        children = [(upstream_port, up), (aura_port, aura)]
        servers = {"aura": (f"http://127.0.0.1:{aura_port}{CHAT_PATH}", aura.pid)}
        if getattr(args, "responses", False) and not held:
            servers["aura-responses"] = (f"http://127.0.0.1:{aura_port}{RESPONSES_PATH}", aura.pid)
        if not held:
            proxy = stack.enter_context(process([sys.executable, script, "proxy", str(proxy_port), upstream]))
            children.append((proxy_port, proxy))
            servers["passthrough"] = (f"http://127.0.0.1:{proxy_port}{CHAT_PATH}", proxy.pid)
        for port, child in children:
            await wait_for_port(port, child)
        yield servers


def requests_for(level: int, args: argparse.Namespace) -> int:
    return args.requests if args.requests else max(30, level * 2)


async def benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    async with targets(args) as servers:
        for level in args.levels:
            for name, (url, pid) in servers.items():
                print(f"{name}: {level} concurrent stream(s) ...", file=sys.stderr, flush=True)
                result = await run_level(url, level, requests_for(level, args), pid)
                results.append({"target": name, **result})
    return results


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.tokens} tokens per stream, one every {args.token_interval_ms:g} ms; {os.cpu_count()} CPU(s)",
        "",
        "| target | streams | requests | req/s | server CPU ms/req | TTFT p50 ms | TTFT p99 ms | peak RSS MiB "
        "| RSS/stream KiB | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['target']} | {r['concurrency']} | {r['requests']} | {r['requests_per_sec']:.1f} | "
            f"{r['server_cpu_ms_per_request']:.2f} | {r['ttft_p50_ms']:.1f} | {r['ttft_p99_ms']:.1f} | "
            f"{r['peak_rss_mib']:.0f} | "
            f"{r['rss_per_stream_kib']:.0f} | {r['failures']} |"
        )
    lines += [
        "",
        "| streams | aura / floor req/s | aura / floor server CPU per request | aura / floor TTFT p50 |",
        "|---:|---:|---:|---:|",
    ]
    by_key = {(r["target"], r["concurrency"]): r for r in results}
    for level in args.levels:
        aura, floor = by_key.get(("aura", level)), by_key.get(("passthrough", level))
        if aura and floor:
            lines.append(
                f"| {level} | {aura['requests_per_sec'] / floor['requests_per_sec']:.2f} | "
                f"{aura['server_cpu_ms_per_request'] / floor['server_cpu_ms_per_request']:.2f} | "
                f"{aura['ttft_p50_ms'] / floor['ttft_p50_ms']:.2f} |"
            )
    responses_rows = [
        (level, by_key.get(("aura", level)), by_key.get(("aura-responses", level))) for level in args.levels
    ]
    if any(chat and resp for _, chat, resp in responses_rows):
        lines += ["", "| streams | Responses / chat completions server CPU per request |", "|---:|---:|"]
        for level, chat, resp in responses_rows:
            if chat and resp:
                ratio = resp["server_cpu_ms_per_request"] / chat["server_cpu_ms_per_request"]
                lines.append(f"| {level} | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "upstream":
        port, tokens, interval = int(argv[1]), int(argv[2]), float(argv[3])
        serve_forever(upstream_app(tokens, interval), port)
        return 0
    if argv and argv[0] == "proxy":
        serve_forever(proxy_app(argv[2]), int(argv[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=list(DEFAULT_LEVELS), help="concurrent streams")
    parser.add_argument("--tokens", type=int, default=32, help="chunks per upstream stream")
    parser.add_argument("--token-interval-ms", type=float, default=20.0, help="upstream delay between chunks")
    parser.add_argument("--requests", type=int, default=0, help="requests per level (default: max(30, 2 x level))")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument(
        "--log-level", default="WARNING", help="aura serve's LOG_LEVEL; 'default' leaves it unset (INFO per request)"
    )
    parser.add_argument("--held-streams", type=int, default=0, help="held-streams mode: this many streams at once")
    parser.add_argument(
        "--responses", action="store_true", help="also load /v1/responses and compare it with chat completions"
    )
    args = parser.parse_args(argv)
    if args.held_streams:
        held = asyncio.run(held_benchmark(args))
        print(held_report(held, args))
        if args.json is not None:
            args.json.write_text(json.dumps(held, indent=2))
        return 0
    results = asyncio.run(benchmark(args))
    print(report(results, args))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Server CPU of one MCP tool round in `aura serve`, and where it goes (not a test: it prints figures).

    python bench/mcp_round_cpu.py                     # 400 requests a mode, 4 at a time, default (INFO) logs
    python bench/mcp_round_cpu.py --requests 1000 --profile --top 25
    python bench/mcp_round_cpu.py --transport stdio --log-level WARNING

Three processes on 127.0.0.1: our MCP fixture server (streamable HTTP, or a stdio child of `aura serve`), a fake
OpenAI upstream, and `aura serve` with one agent that has the fixture server's tools. The upstream picks its answer
from the user message, so one server runs three kinds of request (non-streaming chat completions):

- `plain`:   one model round, answered at once;
- `unknown`: the model asks for a tool that does not exist (the agent answers it with an error result), then a
  second model round answers: a tool round without MCP;
- `mcp`:     the model asks for the fixture server's `echo`, then a second round answers: a tool round with one
  MCP call.

For each mode the client drives `--requests` requests (`--concurrency` at a time, after a warm-up) and reads the
server's CPU time from /proc before and after. `mcp - plain` is what a tool round costs the server; `mcp - unknown`
is the MCP call alone (the second model round and the tool dispatch cancel out).

With `--profile` the server runs under cProfile (CPU clock) for the measured window only (SIGUSR1 starts it, SIGUSR2
writes the stats), once for `unknown` and once for `mcp`; the report groups the functions' own time by where they
live (MCP SDK, anyio/httpx, pydantic, Aura, json, logging, asyncio, aiohttp, builtins) per request, so the
difference of the two columns is the MCP call's split. Profiling slows the server down; read its shares, not its ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import web

# the process helpers of the load benchmark (as bench/load_stream_parsing.py uses them)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_streams import cpu_seconds, free_port, process, wait_for_port
from mcp_forwarded_headers_soak import upstream_app

REPO = Path(__file__).resolve().parents[1]
FIXTURE_SERVER = REPO / "tests" / "fixtures" / "mcp_servers" / "fixture_server.py"
CHAT_PATH = "/v1/chat/completions"
MODES = ("plain", "unknown", "mcp")
TOOL_OF_MODE = {"unknown": "no_such_tool", "mcp": "echo"}


# --- the server, optionally profiled ----------------------------------------------------------------


def serve_profiled(stats_file: str, argv: list[str]) -> int:
    """`aura serve` in this process; SIGUSR1 starts a CPU-clock profile, SIGUSR2 stops it and writes the stats."""
    from aura.entrypoints.cli import main as aura_main

    profiler = cProfile.Profile(time.process_time)

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(stats_file)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    return aura_main(["serve", *argv])


AURA_CONFIG = """
[llm]
provider = "openai"
api_key = "sk-round-not-a-real-key"
model = "round"
base_url = "{upstream}/v1"

[agent]
name = "round"
system_prompt = "You are a benchmark."

[mcp.servers.fixture]
{server}
required = true
"""


@contextlib.contextmanager
def servers(args: argparse.Namespace, workdir: Path, stats_file: Path | None) -> Iterator[tuple[str, int]]:
    """Starts the upstream, the MCP server (HTTP) and `aura serve`; yields the chat URL and the server's pid."""
    upstream_port, mcp_port, aura_port = free_port(), free_port(), free_port()
    if args.transport == "stdio":
        server = f'transport = "stdio"\ncmd = ["python", "{FIXTURE_SERVER}", "stdio"]'
    else:
        server = f'transport = "http_streamable"\nurl = "http://127.0.0.1:{mcp_port}/mcp"'
    config = workdir / "round.toml"
    config.write_text(AURA_CONFIG.format(upstream=f"http://127.0.0.1:{upstream_port}", server=server))
    with contextlib.ExitStack() as stack:
        up = stack.enter_context(process([sys.executable, __file__, "upstream", str(upstream_port)], quiet=True))
        asyncio.run(wait_for_port(upstream_port, up))
        if args.transport != "stdio":
            command = [sys.executable, str(FIXTURE_SERVER), "streamable-http", "--port", str(mcp_port)]
            mcp = stack.enter_context(process(command, quiet=True))
            asyncio.run(wait_for_port(mcp_port, mcp))
        env = {"CONFIG_PATH": str(config), "PORT": str(aura_port), "LOG_LEVEL": args.log_level}
        if stats_file is None:
            command = [sys.executable, "-m", "aura.entrypoints.cli", "serve"]
        else:
            command = [sys.executable, __file__, "serve-profiled", str(stats_file)]
        aura = stack.enter_context(process(command, env, quiet=not args.server_log))
        asyncio.run(wait_for_port(aura_port, aura))
        yield f"http://127.0.0.1:{aura_port}{CHAT_PATH}", aura.pid


# --- the client -------------------------------------------------------------------------------------


async def drive(url: str, mode: str, requests: int, concurrency: int) -> int:
    """Sends `requests` non-streaming requests of `mode`, `concurrency` at a time; returns how many failed."""
    body = json.dumps({"model": "round", "messages": [{"role": "user", "content": mode}]}).encode()
    headers = {"Content-Type": "application/json"}
    remaining = iter(range(requests))
    failed = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        for _ in remaining:
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 200 or not answer["choices"][0]["message"]["content"].endswith("done"):
                    failed += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return failed


def measure(url: str, pid: int, mode: str, args: argparse.Namespace, *, profile: bool = False) -> dict[str, Any]:
    asyncio.run(drive(url, mode, args.warmup, args.concurrency))
    if profile:
        signal_and_settle(pid, signal.SIGUSR1)
    before, started = cpu_seconds(pid), time.monotonic()
    failed = asyncio.run(drive(url, mode, args.requests, args.concurrency))
    cpu, wall = cpu_seconds(pid) - before, time.monotonic() - started
    if profile:
        signal_and_settle(pid, signal.SIGUSR2)
    return {"mode": mode, "requests": args.requests, "failed": failed, "cpu_ms": 1000 * cpu / args.requests, "s": wall}


def signal_and_settle(pid: int, signum: int) -> None:
    os.kill(pid, signum)
    time.sleep(0.5)  # the handler runs at the server's next bytecode; the stats file is written by then


# --- grouping a profile -----------------------------------------------------------------------------

GROUPS = (  # (group, path fragments); the first that matches a function's file wins
    ("MCP SDK", ("/mcp/",)),
    ("anyio / httpx transport", ("/anyio/", "/sniffio/", "/httpx", "/httpcore", "/h11/", "/httpx_sse/")),
    ("pydantic", ("/pydantic",)),
    ("Aura", ("/aura/",)),
    ("aiohttp (server, model client)", ("/aiohttp/", "/multidict/", "/yarl/", "/frozenlist/", "/propcache/")),
    ("json", ("/json/",)),
    ("logging", ("/logging/",)),
    ("asyncio", ("/asyncio/", "/selectors.py")),
)
BUILTINS = "builtins and C functions"
REST = "the rest (contextlib, typing, attrs, otel, ...)"


def group_of(filename: str, function: str) -> str:
    if filename == "~":
        return "json" if "json" in function else BUILTINS
    for group, fragments in GROUPS:
        if any(fragment in filename for fragment in fragments):
            return group
    return REST


def grouped(stats_file: Path, requests: int) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """Own time per group in ms per request, and the top Aura functions (ms per request, name)."""
    stats = pstats.Stats(str(stats_file))
    groups: dict[str, float] = defaultdict(float)
    aura: list[tuple[float, str]] = []
    for (filename, line, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        group = group_of(filename, function)
        groups[group] += 1000 * own / requests
        if group == "Aura":
            aura.append((1000 * own / requests, f"{filename.split('/aura/', 1)[1]}:{line} {function}"))
    return dict(groups), sorted(aura, reverse=True)


def profile_report(profiles: dict[str, Path], requests: int, top: int) -> str:
    unknown, unknown_aura = grouped(profiles["unknown"], requests)
    mcp, mcp_aura = grouped(profiles["mcp"], requests)
    names = sorted(set(unknown) | set(mcp), key=lambda name: -(mcp.get(name, 0) - unknown.get(name, 0)))
    delta_total = sum(mcp.values()) - sum(unknown.values())
    lines = [
        "profiled (CPU clock, own time per request; profiling inflates every figure):",
        f"  {'where':48} {'unknown':>9} {'mcp':>9} {'mcp-unknown':>12} {'share':>7}",
    ]
    for name in names:
        delta = mcp.get(name, 0) - unknown.get(name, 0)
        share = 100 * delta / delta_total if delta_total else 0.0
        lines.append(f"  {name:48} {unknown.get(name, 0):9.3f} {mcp.get(name, 0):9.3f} {delta:12.3f} {share:6.1f}%")
    lines.append(f"  {'total':48} {sum(unknown.values()):9.3f} {sum(mcp.values()):9.3f} {delta_total:12.3f}")
    lines.append("top Aura functions in `mcp`, against `unknown` (own ms per request):")
    unknown_by_name = {name: ms for ms, name in unknown_aura}
    lines += [f"  {ms:7.3f} {unknown_by_name.get(name, 0.0):7.3f}  {name}" for ms, name in mcp_aura[:top]]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace) -> str:
    lines = [
        f"{args.transport}, {args.requests} requests a mode ({args.warmup} warm-up), {args.concurrency} at a time, "
        f"LOG_LEVEL={args.log_level}"
    ]
    with tempfile.TemporaryDirectory() as workdir:
        with servers(args, Path(workdir), None) as (url, pid):
            results = {mode: measure(url, pid, mode, args) for mode in MODES}
        for result in results.values():
            lines.append(
                f"  {result['mode']:8} {result['cpu_ms']:6.2f} ms server CPU a request "
                f"({result['requests'] / result['s']:.0f} requests/s, {result['failed']} failed)"
            )
        plain, unknown, mcp = (results[mode]["cpu_ms"] for mode in MODES)
        lines.append(f"  a tool round with one MCP call (mcp - plain):   {mcp - plain:6.2f} ms")
        lines.append(f"  the MCP call alone (mcp - unknown):             {mcp - unknown:6.2f} ms")
        lines.append(f"  a tool round without MCP (unknown - plain):     {unknown - plain:6.2f} ms")
        if args.profile:
            profiles: dict[str, Path] = {}
            for mode in ("unknown", "mcp"):
                stats_file = Path(workdir) / f"{mode}.prof"
                with servers(args, Path(workdir), stats_file) as (url, pid):
                    measure(url, pid, mode, args, profile=True)
                profiles[mode] = stats_file
            lines.append(profile_report(profiles, args.requests, args.top))
            if args.keep_profiles is not None:
                for mode, path in profiles.items():
                    (args.keep_profiles / path.name).write_bytes(path.read_bytes())
                    lines.append(f"  kept {args.keep_profiles / path.name} ({mode})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "upstream":
        app = upstream_app(TOOL_OF_MODE.get)  # the soak's upstream, its tool picked by the user message (the mode)
        web.run_app(app, host="127.0.0.1", port=int(argv[1]), print=None, access_log=None)
        return 0
    if argv and argv[0] == "serve-profiled":
        return serve_profiled(argv[1], argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["streamable-http", "stdio"], default="streamable-http")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--server-log", action="store_true", help="show the server's log (hidden by default)")
    parser.add_argument("--profile", action="store_true", help="also profile the server (unknown and mcp)")
    parser.add_argument("--top", type=int, default=15, help="Aura functions listed from the profile")
    parser.add_argument("--keep-profiles", type=Path, default=None, help="copy the .prof files into this folder")
    print(benchmark(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

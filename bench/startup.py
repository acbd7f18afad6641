"""Startup benchmark: `aura serve` process start to the first `GET /health` 200 (not a test).

    python bench/startup.py                 # 5 runs of a one-agent config without MCP servers
    python bench/startup.py --runs 10 --modules

Each run starts `python -m aura.entrypoints.cli serve` (what the `aura` script runs) with a
one-agent OpenAI config that has no MCP servers, polls `/health` every 5 ms until it answers 200,
prints the time from `Popen` to that answer, and stops the server with SIGTERM. `--modules` also
lists which heavy optional packages each server had imported when it stopped (printed by an
`atexit` hook); `python -X importtime -m aura.entrypoints.cli serve` shows what each one costs.
The figures include the interpreter's own start (about 20-40 ms) and move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CONFIG = """
[llm]
provider = "openai"
api_key = "sk-bench-0000000000000000"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:9/v1"

[agent]
name = "startup"
system_prompt = "You are a benchmark."
"""
# Packages a config without MCP servers, vector stores or other providers should not need.
HEAVY = ("mcp", "fastapi", "werkzeug", "starlette", "anthropic", "aioboto3", "google.genai", "ollama", "qdrant_client")


MODULES_MARK = "IMPORTED-MODULES"
REPORT_MODULES = f"""
import atexit, sys
atexit.register(lambda: print("{MODULES_MARK}", *sorted(sys.modules), file=sys.stderr))
from aura.entrypoints.cli import main
sys.exit(main(["serve"]))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def one_run(config: Path, modules: bool) -> tuple[float, list[str]]:
    port = free_port()
    env = {**os.environ, "CONFIG_PATH": str(config), "PORT": str(port), "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "aura.entrypoints.cli", "serve"]
    if modules:
        command = [sys.executable, "-c", REPORT_MODULES]
    with tempfile.TemporaryFile("w+") as log:  # a pipe that nobody reads could fill up and stall the server
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        try:
            while not healthy(port):
                if child.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"aura serve exited with {child.returncode}: {log.read()[-2000:]}")
                if time.perf_counter() - started > 60:
                    raise RuntimeError("no /health 200 within 60 s")
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
        log.seek(0)
        stderr = log.read()
    imported = {name for line in stderr.splitlines() if line.startswith(MODULES_MARK) for name in line.split()[1:]}
    return elapsed, sorted(name for name in HEAVY if name in imported)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modules", action="store_true", help="also list the heavy packages each run imported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        config = Path(workdir) / "startup.toml"
        config.write_text(CONFIG)
        times = []
        for index in range(args.runs):
            elapsed, heavy = one_run(config, args.modules)
            times.append(elapsed)
            extra = f"  heavy imports: {', '.join(heavy) or 'none'}" if args.modules else ""
            print(f"run {index + 1}: {elapsed * 1000:.0f} ms to the first /health 200{extra}")
    print(
        f"startup to first /health 200: median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {len(times)} runs"
    )


if __name__ == "__main__":
    main()

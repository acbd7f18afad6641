"""`aura serve` as a process: `/metrics` with MCP server health, and `--workers 2` sharing one port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.http.support import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[3]
FIXTURE_MCP_SERVER = REPO / "tests" / "fixtures" / "mcp_servers" / "fixture_server.py"
KEY = "sk-aura-serve-test-0123456789"

CONFIG = f"""
[llm]
provider = "openai"
api_key = "sk-upstream-not-used"
model = "gpt-4o"
base_url = "http://127.0.0.1:9/v1"

[agent]
name = "assistant"
system_prompt = "You help."

[mcp.servers.fixture]
transport = "stdio"
cmd = ["{sys.executable}", "{FIXTURE_MCP_SERVER}", "stdio"]
"""

PLAIN_CONFIG = """
[llm]
provider = "openai"
api_key = "sk-upstream-not-used"
model = "gpt-4o"
base_url = "http://127.0.0.1:9/v1"

[agent]
name = "assistant"
system_prompt = "You help."
"""


def sample(text: str, name: str, labels: Mapping[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and dict(found.labels) == dict(labels):
                return found.value
    return None


class ServeProcess:
    """`aura serve` in a subprocess, its stderr collected line by line while it runs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    async def current_log(self) -> str:
        return self.log

    async def wait_for_line(self, fragment: str, count: int = 1, within: float = 60.0) -> None:
        for _ in range(int(within * 10)):
            if sum(fragment in line for line in self.lines) >= count:
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        raise AssertionError(f"never saw {count} x {fragment!r}:\n{self.log}")

    async def exit_code(self, within: float) -> int:
        code = await asyncio.wait_for(self.process.wait(), within)
        await asyncio.wait_for(self._reader, 10)
        return code


@contextlib.asynccontextmanager
async def aura_serve(*args: str, env: Mapping[str, str]) -> AsyncIterator[ServeProcess]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aura.entrypoints.cli",
        "serve",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # a process group of its own, as a terminal would give it
    )
    serving = ServeProcess(process)
    try:
        yield serving
    finally:
        if process.returncode is None:  # only when the test failed
            for pid in worker_pids(serving.log):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.kill()
            await process.wait()


def worker_pids(log: str) -> list[int]:
    return [int(line.split("(pid ")[1].split(")")[0]) for line in log.splitlines() if ") listening on port" in line]


async def test_metrics_report_requests_and_mcp_server_health(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {KEY}"}
    env = {"CONFIG_PATH": str(config), "PORT": str(port), "AURA_API_KEYS": KEY}
    async with aura_serve(env=env) as serving, aiohttp.ClientSession() as http:
        await wait_until_healthy(http, url, serving.process, log=serving.current_log)
        async with http.post(f"{url}/v1/chat/completions", data=b"{not json", headers=auth) as response:
            assert response.status == 400
        async with http.get(f"{url}/metrics", headers=auth) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        serving.process.send_signal(signal.SIGTERM)
        code = await serving.exit_code(30)
        log = serving.log
    assert code == 0, log
    assert sample(text, "aura_mcp_server_up", {"server": "fixture"}) == 1
    assert sample(text, "aura_requests_total", {"agent": "unknown", "status": "400"}) == 1
    assert "API-key authentication is on (1 key(s))" in log
    assert KEY not in log


async def test_two_workers_share_the_port_and_sigterm_stops_both(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(PLAIN_CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    requests = 25  # odd: the two workers cannot have counted the same number
    async with aura_serve("--workers", "2", env={"CONFIG_PATH": str(config), "PORT": str(port)}) as serving:
        await serving.wait_for_line(") listening on port", count=2)
        # a fresh connection per request, so the kernel picks a worker each time
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            for _ in range(requests):
                async with http.post(f"{url}/v1/chat/completions", data=b"{bad") as response:
                    assert response.status == 400
            counts: set[float] = set()
            for _ in range(60):  # each scrape lands on one worker, whose registry counts only its own requests
                async with http.get(f"{url}/metrics") as response:
                    counted = sample(
                        await response.text(), "aura_requests_total", {"agent": "unknown", "status": "400"}
                    )
                counts.add(counted or 0.0)
                if len(counts) == 2:
                    break
        serving.process.send_signal(signal.SIGTERM)
        code = await serving.exit_code(60)
        log = serving.log
    assert len(counts) == 2, f"every scrape reached the same worker: {counts}"
    assert sum(counts) == requests
    assert code == 0, log
    pids = worker_pids(log)
    assert len(pids) == 2, log
    assert serving.process.pid not in pids
    for pid in pids:
        assert not pid_alive(pid), f"worker {pid} outlived the supervisor"
    assert log.count("Received SIGTERM, initiating graceful shutdown") == 3  # the supervisor and each worker, once


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_ctrl_c_to_the_process_group_stops_each_worker_once(tmp_path: Path) -> None:
    """A terminal sends SIGINT to the whole group: workers must get one SIGTERM, from the supervisor."""
    config = tmp_path / "agent.toml"
    config.write_text(PLAIN_CONFIG)
    port = free_port()
    async with aura_serve("--workers", "2", env={"CONFIG_PATH": str(config), "PORT": str(port)}) as serving:
        await serving.wait_for_line(") listening on port", count=2)
        os.killpg(serving.process.pid, signal.SIGINT)
        code = await serving.exit_code(60)
        log = serving.log
    assert code == 0, log
    assert "Received SIGINT, initiating graceful shutdown; stopping 2 worker(s)" in log
    assert log.count("Received SIGTERM, initiating graceful shutdown") == 2, log  # once per worker
    assert "no active requests; shutting down" in log


async def test_a_worker_that_cannot_listen_stops_the_server_with_status_1(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(PLAIN_CONFIG)
    with socket.socket() as taken:  # a listener without SO_REUSEPORT: nobody else may bind the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with aura_serve("--workers", "2", env={"CONFIG_PATH": str(config), "PORT": str(port)}) as serving:
            code = await serving.exit_code(90)
            log = serving.log
    assert code == 1, log
    assert "before it was listening" in log
    assert f"cannot listen on 127.0.0.1:{port}" in log


async def test_a_config_error_is_reported_once_before_any_worker_starts(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(PLAIN_CONFIG.replace('model = "gpt-4o"', "model = 42"))
    async with aura_serve("--workers", "3", env={"CONFIG_PATH": str(config), "PORT": str(free_port())}) as serving:
        code = await serving.exit_code(60)
        log = serving.log
    assert code == 1
    assert log.count("Configuration error:") == 1, log
    assert "llm.model" in log
    assert "starting" not in log  # no worker was started

"""`aura serve --workers N`: a worker that is not listening by the startup deadline fails the start."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from aura.adapters.http import ServerOptions
from aura.entrypoints.workers import supervise_workers
from tests.integration.http.support import free_port

# A required MCP server that never answers the MCP handshake keeps the worker in its startup until
# `connect_timeout_secs`, long after the (shortened) startup deadline. It exits by itself soon after.
HANGING_CONFIG = f"""
[llm]
provider = "openai"
api_key = "sk-upstream-not-used"
model = "gpt-4o"
base_url = "http://127.0.0.1:9/v1"

[agent]
name = "assistant"
system_prompt = "You help."

[mcp.servers.silent]
transport = "stdio"
cmd = ["{sys.executable}", "-c", "import time; time.sleep(30)"]
required = true
connect_timeout_secs = 60
"""


@pytest.mark.timeout(90)
def test_a_worker_not_listening_by_the_deadline_fails_the_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(HANGING_CONFIG)
    options = ServerOptions(config=str(config), port=free_port(), workers=2, shutdown_timeout_secs=1)
    with caplog.at_level(logging.INFO, logger="aura.serve"):
        code = supervise_workers(options, startup_secs=3)
    assert code == 1
    late = [record.getMessage() for record in caplog.records if "did not start listening" in record.getMessage()]
    assert late, caplog.text
    assert "within 3 s (the startup deadline)" in late[0]
    assert "A worker failed to start" in caplog.text

"""`aura serve` imports what its configuration needs: no MCP SDK without MCP servers, no FastAPI & co. ever.

The MCP SDK alone is about a second of imports, and `dependency_injector` imports FastAPI, Starlette and
Werkzeug when they are installed; a server without MCP servers must start without any of them. Checked in a
fresh interpreter that builds the CLI parser (which imports every command module, as `aura serve` does) and
serves a one-agent config until it listens.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

CONFIG = """
[llm]
provider = "openai"
api_key = "sk-test-0000000000000000"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:9/v1"

[agent]
name = "plain"
system_prompt = "You answer."
"""

SERVE_AND_REPORT = """
import asyncio, json, os, signal, sys
from aura.entrypoints import cli
from aura.entrypoints.serve_command import serve
from aura.adapters.http import ServerOptions

cli.build_parser()

def listening(port):
    print(json.dumps(sorted(sys.modules)), flush=True)
    # after this callback the server installs its signal handlers, then stops gracefully on SIGTERM
    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

sys.exit(asyncio.run(serve(ServerOptions(config=sys.argv[1], port=0, shutdown_timeout_secs=0), on_listening=listening)))
"""

NOT_NEEDED = ("mcp", "aura.adapters.mcp", "fastapi", "starlette", "werkzeug", "pydantic_settings")


def imported_modules(config: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", SERVE_AND_REPORT, str(config)], capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout.splitlines()[0])
    return set(modules)


def test_serving_a_config_without_mcp_servers_imports_no_mcp_sdk_and_no_web_frameworks(tmp_path: Path) -> None:
    config = tmp_path / "plain.toml"
    config.write_text(CONFIG)
    modules = imported_modules(config)

    assert "aura.adapters.llm.openai" in modules  # the run did build the agent and serve it
    assert "aura.adapters.http.server" in modules
    unexpected = sorted(name for name in modules if name.split(".")[0] in NOT_NEEDED or name in NOT_NEEDED)
    assert unexpected == []

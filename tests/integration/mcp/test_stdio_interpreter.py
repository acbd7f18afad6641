"""`python` in a stdio server's command means the interpreter running Aura, whatever PATH holds.

The quickstart's SRE server is started as `python examples/sre_tools/server.py`; run as `.venv/bin/aura` without
activating the venv, PATH's `python` is the system one (no `mcp` module there). These tests put a `python` on PATH
that cannot serve MCP and check the server still comes up with its tools.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from aura.adapters.mcp import McpToolset, StdioTransport
from aura.adapters.mcp.stdio import resolve_command

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[3]
SRE_SERVER = REPO / "examples" / "sre_tools" / "server.py"


@pytest.fixture
def wrong_pythons_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH whose `python`, `python3` and `other-tool` print a marker and fail, like a system Python without mcp."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "python3", "other-tool"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho 'wrong {name} from PATH' >&2\nexit 3\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return bin_dir


def test_python_names_resolve_to_the_running_interpreter_and_others_stay() -> None:
    assert resolve_command("python") == sys.executable
    assert resolve_command("python3") == sys.executable
    assert resolve_command("python3.11") == "python3.11"
    assert resolve_command("/usr/bin/python3") == "/usr/bin/python3"
    assert resolve_command("npx") == "npx"


@pytest.mark.parametrize("command", ["python", "python3"])
async def test_sre_server_started_as_python_gets_its_tools_despite_path(
    wrong_pythons_on_path: Path, command: str
) -> None:
    toolset = McpToolset("sre_tools", StdioTransport(command, [str(SRE_SERVER)]), required=True)
    try:
        await toolset.start()
        names = {tool.name for tool in await toolset.list_tools()}
    finally:
        await toolset.aclose()
    assert {"disk_usage", "load_average", "memory_usage", "top_processes", "tail_log", "host_uptime"} <= names


async def test_other_commands_are_still_looked_up_on_path(wrong_pythons_on_path: Path) -> None:
    from aura.adapters.mcp import McpServerUnavailable

    toolset = McpToolset("other", StdioTransport("other-tool", []), required=True, connect_timeout=10)
    try:
        with pytest.raises(McpServerUnavailable, match="wrong other-tool from PATH"):
            await toolset.start()
    finally:
        await toolset.aclose()

"""A stdio server that dies at startup is reported with what it wrote to stderr."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aura.adapters.mcp import McpServerUnavailable, McpToolset, StdioTransport


async def test_required_server_failure_names_the_servers_own_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_server.py"
    toolset = McpToolset("broken", StdioTransport(sys.executable, [str(missing)]), required=True, connect_timeout=20)
    try:
        with pytest.raises(McpServerUnavailable) as caught:
            await toolset.start()
    finally:
        await toolset.aclose()
    message = str(caught.value)
    assert "required MCP server 'broken'" in message
    assert "server stderr:" in message
    assert "no_such_server.py" in message


async def test_optional_server_failure_is_logged_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('config file /etc/x.yaml not found', file=sys.stderr)\nsys.exit(3)\n")
    toolset = McpToolset("crashy", StdioTransport(sys.executable, [str(script)]), connect_timeout=20)
    try:
        with caplog.at_level("WARNING", logger="aura.mcp.crashy"):
            await toolset.start()
        assert await toolset.list_tools() == []
    finally:
        await toolset.aclose()
    assert "server stderr: config file /etc/x.yaml not found" in caplog.text

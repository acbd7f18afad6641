"""`ReplayMcpServer`: a real MCP server (stdio or streamable HTTP) that serves one evaluation case's tools and
answers every call from the case's recordings.

The tools are listed exactly as the case declares them (name, title, description, input schema,
annotations); a call is answered by the recording its arguments match (`ReplayTool.answer`: exact, then
subset, then pattern, then the tool's default, else an error naming the arguments). Every call is logged,
in memory (`calls`) and, with `call_log`, as one JSON line per call appended to a file, which is how the
evaluation runner learns what a server in another process was asked.

Run one with `aura eval replay CASE [--transport streamable-http --port N] [--log calls.jsonl]`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, InputRequiredResult, TextContent, Tool, ToolAnnotations

from aura.domain.eval_case import EvalCase, ReplayTool

ReplayTransport = Literal["stdio", "streamable-http"]


class ReplayMcpServer(MCPServer[Any]):
    """Serves `case.tools` and replays their recordings; `calls` lists every call answered, in order."""

    def __init__(self, case: EvalCase, *, call_log: Path | None = None) -> None:
        super().__init__(
            name=f"replay-{case.id}",
            instructions=f"Recorded tools of the incident {case.title or case.id!r} (replayed).",
            log_level="WARNING",
        )
        self.case = case
        self.calls: list[dict[str, Any]] = []
        self._call_log = call_log
        self._lock = threading.Lock()

    async def list_tools(self) -> list[Tool]:
        return [_listed(tool) for tool in self.case.tools]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self.case.tool(name)
        if tool is None:
            known = ", ".join(t.name for t in self.case.tools)
            self._log({"tool": name, "arguments": arguments, "matched": "unknown-tool", "is_error": True})
            return CallToolResult(
                content=[TextContent(type="text", text=f"Unknown tool {name!r}; tools: {known}")], is_error=True
            )
        answer = tool.answer(arguments)
        self._log({"tool": name, "arguments": arguments, "matched": answer.matched, "is_error": answer.is_error})
        return CallToolResult(
            content=[TextContent(type="text", text=answer.output)],
            structured_content=dict(answer.structured) if answer.structured is not None else None,
            is_error=answer.is_error,
        )

    def _log(self, entry: dict[str, Any]) -> None:
        entry = {"seq": len(self.calls) + 1, "at": round(time.time(), 3), **entry}
        with self._lock:
            self.calls.append(entry)
            if self._call_log is not None:
                with self._call_log.open("a", encoding="utf-8") as file:
                    file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    def serve(self, transport: ReplayTransport = "stdio", *, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Serve until the client disconnects (stdio) or the process is stopped (HTTP, path `/mcp`)."""
        if transport == "stdio":
            self.run("stdio")
        else:
            self.run("streamable-http", host=host, port=port)


def _listed(tool: ReplayTool) -> Tool:
    annotations = ToolAnnotations.model_validate(dict(tool.annotations)) if tool.annotations else None
    return Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=_plain(tool.input_schema),
        annotations=annotations,
    )


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a schema (tuples from frozen data become lists)."""
    loaded: dict[str, Any] = json.loads(json.dumps(value))
    return loaded


def read_call_log(path: Path) -> list[dict[str, Any]]:
    """The calls a replay server appended to `path` (none if it does not exist)."""
    if not path.exists():
        return []
    calls = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            if isinstance(entry, dict):
                calls.append(entry)
    return calls

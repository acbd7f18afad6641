"""Built-in read-only filesystem tools (`[tools] filesystem = true`): `read_file` and `list_directory`.

Every path is resolved (symlinks followed) and must stay inside `root`; sensitive locations are refused by path
component (`.ssh`, `.aws`, `/etc`, `/proc`, ...), not by substring, so `/home/u/etcetera` is fine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aura.domain.approval_policy import ToolAnnotations
from aura.domain.tools import ToolCallContext, ToolResult, ToolSpec

_READ_ONLY = ToolAnnotations(read_only=True)

MAX_FILE_BYTES = 1_048_576
MAX_ENTRIES = 1000
DENIED_TOP_LEVEL = ("etc", "proc", "sys", "dev")
DENIED_COMPONENTS = (".ssh", ".aws", ".config", ".gnupg", ".kube")
DENIED_PREFIXES = (("var", "log"),)

_PATH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "Path relative to the tools' root directory"}},
    "required": ["path"],
    "additionalProperties": False,
}


class FilesystemToolset:
    """Read-only access to the files below one root directory."""

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root).expanduser().resolve()
        if not self._root.is_dir():
            raise ValueError(f"filesystem_root {self._root} is not a directory")

    @property
    def name(self) -> str:
        return "filesystem"

    @property
    def root(self) -> Path:
        return self._root

    async def list_tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec(
                "read_file",
                f"Read a UTF-8 text file below {self._root} (at most 1 MiB).",
                _PATH_SCHEMA,
                annotations=_READ_ONLY,
                builtin_read_only=True,
            ),
            ToolSpec(
                "list_directory",
                f"List the entries of a directory below {self._root}.",
                _PATH_SCHEMA,
                annotations=_READ_ONLY,
                builtin_read_only=True,
            ),
        ]

    async def call_tool(self, name: str, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        raw = arguments.get("path")
        if not isinstance(raw, str) or not raw:
            return ToolResult.error("Invalid tool arguments: 'path' must be a non-empty string")
        try:
            path = self._resolve(raw)
        except PermissionError as error:
            return ToolResult.error(f"Permission denied: {error}")
        except FileNotFoundError:
            return ToolResult.error(f"Path not found: {raw}")
        if name == "read_file":
            return await asyncio.to_thread(self._read_file, path)
        if name == "list_directory":
            return await asyncio.to_thread(self._list_directory, path)
        return ToolResult.error(f"Tool not found: {name}")

    def _resolve(self, raw: str) -> Path:
        candidate = Path(raw).expanduser()
        path = (candidate if candidate.is_absolute() else self._root / candidate).resolve(strict=True)
        if not path.is_relative_to(self._root):
            raise PermissionError(f"{raw} is outside the allowed root {self._root}")
        parts = path.parts[1:]
        if parts and parts[0] in DENIED_TOP_LEVEL:
            raise PermissionError(f"access to /{parts[0]} is not allowed")
        if any(tuple(parts[: len(prefix)]) == prefix for prefix in DENIED_PREFIXES):
            raise PermissionError("access to /var/log is not allowed")
        denied = next((part for part in parts if part in DENIED_COMPONENTS), None)
        if denied is not None:
            raise PermissionError(f"access to {denied} directories is not allowed")
        return path

    def _read_file(self, path: Path) -> ToolResult:
        if not path.is_file():
            return ToolResult.error("Invalid path: Path is not a file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return ToolResult.error(f"Permission denied: File too large: {size} bytes (limit: {MAX_FILE_BYTES} bytes)")
        try:
            return ToolResult(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            return ToolResult.error(f"Invalid file: {path.name} is not UTF-8 text")

    def _list_directory(self, path: Path) -> ToolResult:
        if not path.is_dir():
            return ToolResult.error("Invalid path: Path is not a directory")
        entries = []
        for child in sorted(path.iterdir())[:MAX_ENTRIES]:
            is_file = child.is_file()
            entries.append(
                {
                    "name": child.name,
                    "path": str(child),
                    "is_file": is_file,
                    "is_dir": child.is_dir(),
                    "size": child.stat().st_size if is_file else None,
                }
            )
        listing = {"path": str(path), "entries": entries, "total_count": len(entries)}
        return ToolResult(json.dumps(listing, separators=(",", ":")), structured=listing)

    async def aclose(self) -> None:
        return None

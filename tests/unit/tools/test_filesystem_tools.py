"""The built-in read-only filesystem tools, on a real temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aura.adapters.tools.filesystem import MAX_FILE_BYTES, FilesystemToolset
from aura.domain.tools import ToolCallContext

CONTEXT = ToolCallContext(call_id="c1", tool_name="read_file")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "disk.md").write_text("# Disk full\nrm old logs\n")
    (tmp_path / "etcetera.txt").write_text("not /etc")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("secret")
    return tmp_path


async def test_reads_a_file_relative_to_the_root(root: Path) -> None:
    result = await FilesystemToolset(root).call_tool("read_file", {"path": "runbooks/disk.md"}, CONTEXT)
    assert not result.is_error
    assert result.content == "# Disk full\nrm old logs\n"


async def test_names_that_merely_contain_a_denied_word_are_allowed(root: Path) -> None:
    result = await FilesystemToolset(root).call_tool("read_file", {"path": "etcetera.txt"}, CONTEXT)
    assert result.content == "not /etc"


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", ".ssh/id_rsa"])
async def test_escapes_and_sensitive_directories_are_refused(root: Path, path: str) -> None:
    (root.parent / "outside.txt").write_text("x")
    result = await FilesystemToolset(root).call_tool("read_file", {"path": path}, CONTEXT)
    assert result.is_error
    assert result.content.startswith("Permission denied:")


async def test_symlink_out_of_the_root_is_refused(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("secret")
    (root / "link.txt").symlink_to(outside)
    result = await FilesystemToolset(root).call_tool("read_file", {"path": "link.txt"}, CONTEXT)
    assert result.is_error
    assert "outside the allowed root" in result.content


async def test_missing_file_too_large_and_binary_are_errors(root: Path) -> None:
    tools = FilesystemToolset(root)
    missing = await tools.call_tool("read_file", {"path": "nope.md"}, CONTEXT)
    assert missing.content == "Path not found: nope.md"
    (root / "big.log").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    big = await tools.call_tool("read_file", {"path": "big.log"}, CONTEXT)
    assert "File too large" in big.content
    (root / "blob.bin").write_bytes(b"\xff\xfe\x00")
    binary = await tools.call_tool("read_file", {"path": "blob.bin"}, CONTEXT)
    assert binary.is_error
    assert "not UTF-8" in binary.content
    directory = await tools.call_tool("read_file", {"path": "runbooks"}, CONTEXT)
    assert directory.content == "Invalid path: Path is not a file"


async def test_lists_a_directory_as_json(root: Path) -> None:
    result = await FilesystemToolset(root).call_tool("list_directory", {"path": "runbooks"}, CONTEXT)
    listing = json.loads(result.content)
    assert listing["total_count"] == 1
    entry = listing["entries"][0]
    assert entry["name"] == "disk.md"
    assert entry["is_file"] is True
    assert entry["size"] == len("# Disk full\nrm old logs\n")


async def test_tool_specs_are_strict_schemas(root: Path) -> None:
    from tests.unit.strict_schema_checker import check_strict_schema

    specs = await FilesystemToolset(root).list_tools()
    assert [s.name for s in specs] == ["read_file", "list_directory"]
    for spec in specs:
        assert check_strict_schema(dict(spec.parameters)) == []


def test_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a directory"):
        FilesystemToolset(tmp_path / "missing")

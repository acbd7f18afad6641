"""Code blocks of the docs, run as written by the tests that keep the docs true."""

from __future__ import annotations

import asyncio
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def marked_block(doc: Path, marker: str, language: str) -> str:
    """The first ```language block after `<!-- marker -->` in `doc`."""
    return doc.read_text().split(f"<!-- {marker} -->", 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def curl_commands(block: str) -> list[str]:
    """The `curl` commands of a bash block, in order, with their `\\` continuation lines joined."""
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith("curl "):
            commands.append(line)
        elif commands and commands[-1].endswith("\\"):
            commands[-1] += "\n" + line
    return commands


async def run_command(argv: list[str], *, within: float = 60) -> str:
    """Run a command; its standard output, or an assertion error with its standard error."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode == 0, stderr.decode() + stdout.decode()
    return stdout.decode()

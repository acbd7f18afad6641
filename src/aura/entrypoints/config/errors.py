"""Configuration errors: one exception that says which file, which key and what was expected."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import attrs

from aura.domain.errors import AuraError

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key_path(path: KeyPath) -> str:
    """`("mcp", "servers", "github", "url")` -> `mcp.servers.github.url`; list indices as `[1]`.

    Keys that are not TOML bare keys are quoted, as they would be written in the file.
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        key = part if _BARE_KEY.match(part) else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
        text += f".{key}" if text else key
    return text


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a config file: where (key path) and what (never the secret value itself)."""

    path: KeyPath
    message: str

    def __str__(self) -> str:
        where = format_key_path(self.path)
        return f"{where}: {self.message}" if where else self.message


class ConfigError(AuraError):
    """A configuration could not be loaded. The message names the file, the key path and what was expected.

    `problems` lists every problem found in the file (all of them, so one run shows everything to fix).
    """

    def __init__(
        self,
        message: str,
        *,
        source: Path | None = None,
        problems: Sequence[ConfigProblem] = (),
    ) -> None:
        self.source = source
        self.problems = tuple(problems)
        self.detail = message
        super().__init__(_render(message, source, self.problems))

    @classmethod
    def from_problems(cls, source: Path | None, problems: Sequence[ConfigProblem]) -> ConfigError:
        if len(problems) == 1:
            return cls(str(problems[0]), source=source, problems=problems)
        return cls(f"{len(problems)} problems", source=source, problems=problems)

    @property
    def message(self) -> str:
        return str(self)


def _render(message: str, source: Path | None, problems: tuple[ConfigProblem, ...]) -> str:
    prefix = f"{source}: " if source is not None else ""
    if len(problems) <= 1:
        return prefix + message
    lines = [f"{prefix}{message}:"]
    lines.extend(f"  - {problem}" for problem in problems)
    return "\n".join(lines)

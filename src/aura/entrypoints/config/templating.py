"""`{{ env.NAME }}` and `{{ env.NAME | default: 'x' }}` placeholders in config string values.

Substitution walks the parsed TOML tree and rewrites string values only, not the file's text: a value
containing quotes, backslashes or newlines cannot break or inject TOML, comments are never looked at,
and table keys are left alone. A substituted value is always a string.

Grammar: `NAME` matches `[A-Z_][A-Z0-9_]*` (a lowercase name is not a placeholder and stays as
written); the default is single-quoted and may be empty. A defaulted placeholder never fails (an
empty variable counts as set); every unset simple placeholder is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from aura.entrypoints.config.errors import KeyPath, format_key_path

PLACEHOLDER = re.compile(
    r"\{\{\s*env\.(?P<name>[A-Z_][A-Z0-9_]*)\s*(?:\|\s*default\s*:\s*'(?P<default>[^']*)'\s*)?\}\}"
)


@attrs.frozen
class MissingVariable:
    name: str
    paths: tuple[KeyPath, ...]


@attrs.frozen
class TemplateResult:
    value: Any
    missing: tuple[MissingVariable, ...]

    def missing_message(self) -> str:
        """Every missing variable, where it is used and how to set it."""
        names = ", ".join(variable.name for variable in self.missing)
        lines = [f"missing environment variable(s): {names}"]
        for variable in self.missing:
            where = ", ".join(format_key_path(path) for path in variable.paths)
            lines.append(f"  {variable.name} (used at {where})")
        lines.append("To fix this, export them in your shell or put them in a .env file next to the config:")
        lines.extend(f"  export {variable.name}=your_value" for variable in self.missing)
        return "\n".join(lines)


def render_env_placeholders(document: Any, environ: Mapping[str, str]) -> TemplateResult:
    """Replace placeholders in every string value of a parsed TOML document."""
    missing: dict[str, list[KeyPath]] = {}

    def render_string(text: str, path: KeyPath) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group("name")
            default = match.group("default")
            value = environ.get(name)
            if value is not None:
                return value
            if default is not None:
                return default
            paths = missing.setdefault(name, [])
            if path not in paths:
                paths.append(path)
            return match.group(0)

        return PLACEHOLDER.sub(substitute, text)

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            return render_string(value, path)
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        return value

    rendered = walk(document, ())
    return TemplateResult(rendered, tuple(MissingVariable(name, tuple(paths)) for name, paths in missing.items()))

"""Evaluation case files: reading them (one TOML file, or a directory with `case.toml`) and writing them.

The format is in docs/eval.md; `aura.domain.eval_case.parse_case` checks it. A directory case may keep
long tool outputs in files next to `case.toml` (`output_file = "outputs/logs.txt"`).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

import tomli_w

from aura.domain.eval_case import CaseError, EvalCase, case_document, parse_case

CASE_FILE = "case.toml"


def load_case(path: Path) -> EvalCase:
    """One case from a `.toml` file or a directory holding `case.toml`. Raises `CaseError`."""
    file = path / CASE_FILE if path.is_dir() else path
    base = file.parent.resolve()
    default_id = path.name if path.is_dir() else path.stem
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(str(file), "", "case file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CaseError(str(file), "", f"cannot read the file ({error})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CaseError(str(file), "", f"invalid TOML: {error}") from None

    def read_file(name: str) -> str:
        target = (base / name).resolve()
        if not target.is_relative_to(base):
            raise OSError(f"{name!r} is outside the case directory")
        return target.read_text(encoding="utf-8")

    return parse_case(document, source=str(path), default_id=default_id, read_file=read_file)


def discover_cases(paths: Sequence[str | Path]) -> list[EvalCase]:
    """Every case under `paths`, in order: a file is a case; a directory with `case.toml` is a case; any other
    directory holds cases (its `*.toml` files and case directories, sorted by name, searched recursively).

    Raises `CaseError` for a bad case, a path that does not exist, no case at all, or two cases with one id.
    """
    cases: list[EvalCase] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise CaseError(str(path), "", "no such file or directory")
        found = _cases_under(path)
        if not found:
            raise CaseError(str(path), "", f"no cases found (expected *.toml files or directories with {CASE_FILE})")
        cases.extend(load_case(case_path) for case_path in found)
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise CaseError(case.source, "id", f"duplicate case id {case.id!r} (also in {seen[case.id]})")
        seen[case.id] = case.source
    return cases


def _cases_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if (path / CASE_FILE).is_file():
        return [path]
    found: list[Path] = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix == ".toml":
            found.append(entry)
        elif entry.is_dir():
            found.extend(_cases_under(entry))
    return found


def case_toml(case: EvalCase) -> str:
    """The TOML text of a case (long outputs as multi-line strings)."""
    return tomli_w.dumps(case_document(case), multiline_strings=True)


def write_case(case: EvalCase, path: Path) -> Path:
    """Write `case` to `path` (a `.toml` file; a directory gets `case.toml`), atomically. Returns the file."""
    file = path / CASE_FILE if path.is_dir() or path.suffix != ".toml" else path
    file.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(case_toml(case))
        os.replace(temporary, file)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return file

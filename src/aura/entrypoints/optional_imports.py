"""Importing a library without the optional integrations it would pick up just because they are installed.

`dependency_injector` probes for FastAPI, Starlette, Werkzeug, fast-depends and pydantic(-settings) when it is
imported, and imports whichever is installed (a development environment usually has several): about 0.3 s of
`aura serve`'s startup for features the server never uses (FastAPI `Depends` markers, Werkzeug proxies,
`Configuration.from_pydantic`). `aura serve` imports the container inside `without_modules(...)` so those
probes see "not installed"; the modules stay importable by anything that needs them afterwards.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Final

# What `dependency_injector` looks for at import time and `aura serve` never uses.
DEPENDENCY_INJECTOR_EXTRAS: Final = (
    "fastapi",
    "fast_depends",
    "starlette",
    "werkzeug",
    "pydantic_settings",
    "pydantic",
)


class _Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is not imported during this import", name=fullname)
        return None


@contextmanager
def without_modules(names: Iterable[str]) -> Iterator[None]:
    """Inside the block, importing any of these top-level packages (not imported yet) fails as if absent."""
    refused = frozenset(name for name in names if name not in sys.modules)
    finder = _Refuse(refused)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)

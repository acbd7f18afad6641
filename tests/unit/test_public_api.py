"""`import aura`: one flat, curated namespace that imports its heavy parts only when used."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import aura

INIT = Path(aura.__file__)


def test_every_public_name_resolves() -> None:
    for name in aura.__all__:
        assert getattr(aura, name) is not None, name


def test_all_the_lazy_table_and_the_type_checking_imports_agree() -> None:
    tree = ast.parse(INIT.read_text())
    checked: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                checked.update(alias.asname or alias.name for alias in statement.names)
    exported = set(aura.__all__) - {"__version__"}
    assert exported == set(aura._EXPORTS)
    assert exported == checked


def test_importing_aura_loads_no_sdk() -> None:
    code = (
        "import sys, aura; from aura import Agent, AgentSettings, FunctionToolset;"
        "heavy = [m for m in ('mcp', 'openai', 'anthropic', 'aiohttp', 'qdrant_client', 'google.genai',"
        " 'opentelemetry', 'dependency_injector') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = aura.NoSuchThing  # type: ignore[attr-defined]


def test_the_readme_library_example_imports_only_from_aura() -> None:
    readme = (INIT.parents[2] / "README.md").read_text()
    section = readme.split("## As a library", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    imports = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.ImportFrom)]
    assert imports
    assert {node.module for node in imports} <= {"aura", "__future__"}


def test_embedding_examples_import_only_from_aura() -> None:
    examples = sorted((INIT.parents[2] / "examples" / "embedding").glob("*.py"))
    assert examples
    for example in examples:
        tree = ast.parse(example.read_text())
        modules = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        aura_modules = {module for module in modules if module.split(".")[0] == "aura"}
        assert aura_modules <= {"aura"}, f"{example.name} imports {sorted(aura_modules)}"

"""The quickstart's SRE tools (examples/sre_tools/server.py), called as functions: what a small model reads back."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SERVER = Path(__file__).parents[2] / "examples" / "sre_tools" / "server.py"


@pytest.fixture(scope="module")
def sre() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sre_tools_server", SERVER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_disk_usage_of_a_path_that_does_not_exist_measures_the_filesystem_that_would_hold_it(
    sre: ModuleType, tmp_path: Path
) -> None:
    # a 135M model writes paths such as /System/Library/Codec/DiskOutput.dll: measured, not failed
    result = sre.disk_usage(str(tmp_path / "no" / "such" / "file.dll"))
    assert result["path"] == str(tmp_path)
    assert sre.disk_usage("/")["path"] == "/"
    assert 0 <= float(result["used_percent"]) <= 100


def test_load_average_has_short_figures_under_names_without_digits(sre: ModuleType) -> None:
    result = sre.load_average()
    assert set(result) == {"one_minute", "five_minutes", "fifteen_minutes", "cpu_count"}
    for name in ("one_minute", "five_minutes", "fifteen_minutes"):
        assert result[name] == round(result[name], 2)

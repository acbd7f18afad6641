"""`aura check` says which tools of each agent will ask for approval, and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.approvals.serving import agent_config


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aura.entrypoints.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_prints_the_policy_and_with_tools_each_verdict(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(agent_config("http://127.0.0.1:9/v1", tmp_path / "calls.jsonl"))

    plain = check(str(config))
    with_tools = check(str(config), "--tools")

    assert plain.returncode == 0, plain.stderr
    assert "approval:          default by-annotation, decisions awaited 300 s" in plain.stdout
    assert "rule 0: server 'kube' tool 'scale_*' -> always" in plain.stdout
    assert "tools of agent" not in plain.stdout  # nothing is connected without --tools
    assert with_tools.returncode == 0, with_tools.stderr
    verdicts = {
        line.split()[0]: line.split(None, 1)[1]
        for line in with_tools.stdout.splitlines()
        if line.startswith("  ") and ("ASKS" in line or "runs" in line)
    }
    assert verdicts["get_pods"].startswith("runs: default rule → by-annotation: readOnlyHint: true")
    assert verdicts["restart_deployment"].startswith("ASKS: default rule → by-annotation: destructiveHint: true")
    assert verdicts["scale_deployment"].startswith("ASKS: rule server='kube' tool='scale_*' → always")
    assert verdicts["describe_node"].startswith("ASKS")
    assert "no annotations" in verdicts["describe_node"]

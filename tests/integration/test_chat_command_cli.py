"""`aura chat` as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_bad_config_exits_1_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[llm]\nprovider = "openai"\nmodel = "m"\n[agent]\nname = "a"\n')
    result = subprocess.run(
        [sys.executable, "-m", "aura.entrypoints.cli", "chat", "-c", str(config), "-m", "hi"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Configuration error" in result.stderr
    assert "bad.toml" in result.stderr
    assert "Traceback" not in result.stderr

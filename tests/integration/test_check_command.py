"""`aura check` as a real process: summaries for good configs, one clear error (no traceback) for bad ones."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aura.entrypoints.cli import main

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "examples"
SECRET = "sk-integration-secret-42"
DUMMY_ENV = {
    "OPENAI_API_KEY": SECRET,
    "ANTHROPIC_API_KEY": SECRET,
    "GEMINI_API_KEY": SECRET,
    "GITHUB_TOKEN": SECRET,
}


def aura_check(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run `aura check` in a fresh interpreter, with CONFIG_PATH / DEFAULT_AGENT not inherited."""
    environment = {key: value for key, value in os.environ.items() if key not in {"CONFIG_PATH", "DEFAULT_AGENT"}}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aura.entrypoints.cli", "check", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_every_example_passes_the_check_in_one_directory(tmp_path: Path) -> None:
    examples = [
        EXAMPLES / "reference.toml",
        EXAMPLES / "quickstart.toml",
        *sorted((EXAMPLES / "minimal").glob("*.toml")),
    ]
    for example in examples:
        shutil.copy(example, tmp_path / example.name)
    result = aura_check(str(tmp_path), env=DUMMY_ENV)
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path}: 8 agents OK" in result.stdout
    ids = [line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("agent '")]
    assert ids == ["anthropic", "bedrock", "gemini", "local", "ollama", "openai", "sre", "reference"]
    assert SECRET not in result.stdout + result.stderr


def test_bad_config_exits_1_with_one_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[llm]\nprovider = "openai"\napi_key = "{SECRET}"\nmodle = "gpt-4o"\n'
        '[agent]\nname = "A"\nsystem_prompt = "x"\n'
    )
    result = aura_check(str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Configuration error: {path}: 2 problems:")
    assert "llm.model: missing required key (expected a string)" in result.stderr
    assert "llm.modle: unknown key for provider 'openai'; did you mean 'model'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


# The variations below run the command in-process (same code path, no interpreter start-up per case).


def check_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, **env: str | None
) -> tuple[int, str, str]:
    for name in ("CONFIG_PATH", "DEFAULT_AGENT", *env):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_missing_and_empty_variables_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = str(EXAMPLES / "minimal" / "openai.toml")
    code, _, err = check_in_process(capsys, monkeypatch, path, OPENAI_API_KEY="")
    assert code == 1
    assert "llm.api_key: an API key is required for provider 'openai'" in err
    code, _, err = check_in_process(capsys, monkeypatch, path, OPENAI_API_KEY=None)
    assert code == 1
    assert f"Configuration error: {path}: missing environment variable(s): OPENAI_API_KEY" in err


def test_config_path_env_and_default_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = check_in_process(capsys, monkeypatch)
    assert code == 1
    assert err.startswith("Configuration error: config.toml: config file not found")
    (tmp_path / "config.toml").write_text(
        '[llm]\nprovider = "ollama"\nmodel = "qwen3"\n[agent]\nname = "Default"\nsystem_prompt = "x"\n'
    )
    code, out, err = check_in_process(capsys, monkeypatch)
    assert code == 0, err
    assert "config.toml: 1 agent OK" in out
    code, out, err = check_in_process(capsys, monkeypatch, CONFIG_PATH=str(EXAMPLES / "minimal" / "ollama.toml"))
    assert code == 0, err
    assert "agent 'ollama'  (default agent)" in out


def test_default_agent_is_validated(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    directory = str(EXAMPLES / "minimal")
    code, out, err = check_in_process(capsys, monkeypatch, directory, "--default-agent", "gemini", **DUMMY_ENV)
    assert code == 0, err
    assert "agent 'gemini'  (default agent)" in out
    code, out, err = check_in_process(capsys, monkeypatch, directory, DEFAULT_AGENT="gpt", **DUMMY_ENV)
    assert (code, out) == (1, "")
    assert "DEFAULT_AGENT 'gpt' does not match any loaded agent name or alias" in err


def test_dotenv_next_to_the_config_is_used_unless_disabled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)
    path = tmp_path / "agent.toml"
    path.write_text((EXAMPLES / "minimal" / "openai.toml").read_text())
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    code, out, err = check_in_process(capsys, monkeypatch, str(path), OPENAI_API_KEY=None)
    assert code == 0, err
    assert f"(read {tmp_path / '.env'})" in out
    assert SECRET not in out
    code, out, err = check_in_process(capsys, monkeypatch, str(path), "--no-dotenv", OPENAI_API_KEY=None)
    assert code == 1
    assert "missing environment variable(s): OPENAI_API_KEY" in err


@pytest.mark.parametrize(
    "path",
    [
        "reference.toml",
        "quickstart.toml",
        "minimal",
        *(f"minimal/{f.name}" for f in sorted((EXAMPLES / "minimal").glob("*.toml"))),
    ],
)
def test_each_example_passes_the_check(
    path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = check_in_process(capsys, monkeypatch, str(EXAMPLES / path), **DUMMY_ENV)
    assert code == 0, err
    assert f"{EXAMPLES / path}: " in out
    assert SECRET not in out + err


def test_reference_summary_shows_the_resolved_agent_with_secrets_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = check_in_process(capsys, monkeypatch, str(EXAMPLES / "reference.toml"), **DUMMY_ENV)
    assert code == 0, err
    assert "agent 'reference'  (default agent)" in out
    assert "model:             openai/gpt-4o" in out
    assert "api_key:           ***" in out
    assert "turn_depth:        5" in out
    assert "github: http_streamable  https://api.githubcopilot.com/mcp/  headers: Authorization=***" in out
    assert "time: stdio  uvx mcp-server-time --local-timezone UTC  env: TZ=***" in out
    assert "docs: qdrant collection 'docs' at http://localhost:6334, api_key ***" in out
    assert SECRET not in out


def test_directory_summary_has_no_default_agent_when_several_are_loaded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = check_in_process(capsys, monkeypatch, str(EXAMPLES / "minimal"), **DUMMY_ENV)
    assert code == 0, err
    assert "minimal: 6 agents OK" in out
    assert "(default agent)" not in out


def test_templated_secrets_inside_urls_and_arguments_are_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "secrets.toml"
    config.write_text(
        '[llm]\nprovider = "openai"\napi_key = "{{ env.OPENAI_API_KEY }}"\nmodel = "gpt-4o"\n'
        'base_url = "https://user:{{ env.PROXY_PASSWORD }}@proxy.example/v1"\n'
        '[agent]\nname = "a"\nsystem_prompt = "p"\n'
        '[mcp.servers.x]\ntransport = "http_streamable"\nurl = "http://127.0.0.1:9/mcp?token={{ env.MCP_TOKEN }}"\n'
        '[mcp.servers.y]\ntransport = "stdio"\ncmd = ["/bin/tool", "--key", "{{ env.MCP_TOKEN }}"]\n'
    )
    secrets = {"OPENAI_API_KEY": "sk-abcdefabcdef123456", "PROXY_PASSWORD": "hunter2hunter2", "MCP_TOKEN": "mcp-XYZ789"}
    monkeypatch.chdir(tmp_path)
    code, out, _ = check_in_process(capsys, monkeypatch, str(config), **secrets)  # type: ignore[arg-type]
    assert code == 0
    for value in secrets.values():
        assert value not in out
    assert "/bin/tool --key ***" in out
    assert "proxy.example/v1" in out


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def store_config(tmp_path: Path, url: str, *, required: bool) -> Path:
    config = tmp_path / "stores.toml"
    config.write_text(
        '[llm]\nprovider = "openai"\nmodel = "m"\napi_key = "x"\n[agent]\nname = "sre"\nsystem_prompt = "s"\n'
        f'[[vector_stores]]\ntype = "qdrant"\nname = "runbooks"\ncollection_name = "runbooks"\nurl = "{url}"\n'
        f"required = {str(required).lower()}\n"
        'embedding_model = { provider = "local", model = "hashing" }\n'
        f'[[vector_stores]]\ntype = "qdrant"\nname = "notes"\ncollection_name = "notes"\npath = "{tmp_path / "q"}"\n'
        'embedding_model = { provider = "local", model = "hashing" }\n'
    )
    return config


def test_check_with_tools_names_an_unreachable_required_vector_store_and_exits_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = aura_check(str(store_config(tmp_path, url, required=True)), "--tools")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    runbooks = next(line for line in lines if line.strip().startswith("runbooks") and "UNREACHABLE" in line)
    assert "UNREACHABLE (required)" in runbooks
    assert url in runbooks
    assert "cannot reach Qdrant" in runbooks
    assert any(line.split() == ["notes", "reachable", "(required)"] for line in lines), result.stdout


def test_check_with_tools_reports_an_unreachable_optional_store_and_exits_0(tmp_path: Path) -> None:
    result = aura_check(str(store_config(tmp_path, f"http://127.0.0.1:{closed_port()}", required=False)), "--tools")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(optional: /ready stays 200 while it is down)" in result.stdout
    assert "UNREACHABLE (optional)" in result.stdout


def test_check_without_tools_connects_no_store(tmp_path: Path) -> None:
    result = aura_check(str(store_config(tmp_path, f"http://127.0.0.1:{closed_port()}", required=True)))
    assert result.returncode == 0, result.stderr
    assert "vector stores of agent" not in result.stdout

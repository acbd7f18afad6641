"""The examples work: embedding programs run, complete and multi-agent configs pass `aura check`, and the
multi-agent directory serves each agent through the HTTP server to the official `openai` SDK.

Programs and `aura check` run as real processes (`sys.executable`), all started at once per module so the
file stays fast; nothing here touches the network (models are scripted or never called).
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import attrs
import openai
import pytest
from dependency_injector import providers
from openai import AsyncOpenAI

from aura.adapters.http import ServerOptions, create_app, start_app
from aura.domain.agent import Agent
from aura.domain.messages import ToolResultMessage
from aura.entrypoints.config import AgentFile, ConfigError, LoadedConfig, load_config
from aura.entrypoints.config.schema import llm_model_name
from aura.entrypoints.container import container_for
from aura.entrypoints.serve_command import start_agents
from aura.ports.chat_model import ChatRequest
from aura.testing import ScriptedChatModel, ScriptedRound, call_tool, reply

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "examples"
EMBEDDING = EXAMPLES / "embedding"
COMPLETE = sorted((EXAMPLES / "complete").glob("*.toml"))
MULTI_AGENT = EXAMPLES / "multi-agent"
PROCESS_TIMEOUT = 90
MCP_AVAILABLE = (
    importlib.util.find_spec("aura.adapters.mcp") is not None and importlib.util.find_spec("mcp") is not None
)
REQUIRED_PLACEHOLDER = re.compile(r"\{\{\s*env\.([A-Z_][A-Z0-9_]*)\s*\}\}")  # without `| default: ...`


def clean_environment(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The test's environment minus anything that would change what the programs load, plus `extra`."""
    dropped = {"CONFIG_PATH", "DEFAULT_AGENT", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL"}
    environment = {key: value for key, value in os.environ.items() if key not in dropped}
    environment.update(extra)
    return environment


def dummy_values(*paths: Path) -> dict[str, str]:
    """A fake value for every `{{ env.X }}` without a default in the files (secrets get recognisable values)."""
    names = sorted({name for path in paths for name in REQUIRED_PLACEHOLDER.findall(path.read_text())})
    return {name: f"dummy-{name.lower()}-value" for name in names}


@attrs.frozen
class Finished:
    returncode: int
    stdout: str
    stderr: str


def run_all(commands: Mapping[str, tuple[list[str], dict[str, str], Path]]) -> dict[str, Finished]:
    """Start every command at once, then wait for each (the CPU-bound start-ups overlap)."""
    started = {
        name: subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, (argv, env, cwd) in commands.items()
    }
    finished: dict[str, Finished] = {}
    try:
        for name, process in started.items():
            stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT)
            finished[name] = Finished(process.returncode, stdout, stderr)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return finished


# -------------------------------------------------------------------------------- embedding programs


@pytest.fixture(scope="module")
def embedding_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Finished]:
    """Each program, run from an unrelated directory (examples must not depend on the working directory)."""
    elsewhere = tmp_path_factory.mktemp("cwd")
    environment = clean_environment()
    programs = {
        "custom_chat_model": [str(EMBEDDING / "custom_chat_model.py")],
        "custom_chat_model_no_service": [str(EMBEDDING / "custom_chat_model.py"), "good morning"],
        "override_provider": [str(EMBEDDING / "override_provider.py")],
        "serve_in_code": [str(EMBEDDING / "serve_in_code.py")],
    }
    if MCP_AVAILABLE:
        programs["python_and_mcp_tools"] = [str(EMBEDDING / "python_and_mcp_tools.py")]
    return run_all({name: ([sys.executable, *args], environment, elsewhere) for name, args in programs.items()})


def succeeded(run: Finished) -> list[str]:
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout.splitlines()


def test_custom_chat_model_calls_the_tool_then_answers_from_its_result(embedding_runs: dict[str, Finished]) -> None:
    lines = succeeded(embedding_runs["custom_chat_model"])
    assert lines[0] == 'tool requested: service_status({"service": "checkout"})'
    assert lines[1].startswith("tool completed: service_status -> ")
    assert json.loads(lines[1].split(" -> ", 1)[1]) == {
        "service": "checkout",
        "status": "degraded",
        "error_rate": 0.042,
        "p99_ms": 1840,
    }
    assert "model: rules/service-status-v1" in lines
    assert "answer: checkout is degraded: error rate 4.2%, p99 latency 1840 ms." in lines
    assert any(re.fullmatch(r"usage: \d+ tokens in 2 rounds", line) for line in lines), lines


def test_custom_chat_model_answers_without_a_tool_when_no_service_is_named(
    embedding_runs: dict[str, Finished],
) -> None:
    lines = succeeded(embedding_runs["custom_chat_model_no_service"])
    assert not any(line.startswith("tool ") for line in lines)
    assert "answer: I can report the status of these services: checkout, payments, search." in lines


@pytest.mark.skipif(not MCP_AVAILABLE, reason="the MCP adapter (aura.adapters.mcp) is not importable in this build")
def test_python_tool_and_mcp_tools_serve_one_agent(embedding_runs: dict[str, Finished]) -> None:
    lines = succeeded(embedding_runs["python_and_mcp_tools"])
    tools = lines[0].removeprefix("tools: ").split(", ")
    assert {"who_is_on_call", "host_uptime", "disk_usage", "tail_log"} <= set(tools)  # Python + MCP, one list
    on_call = next(line for line in lines if line.startswith("tool who_is_on_call: "))
    assert on_call == 'tool who_is_on_call: ok: {"team":"platform","on_call":"Dana (+1 555 0100)"}'
    uptime = next(line for line in lines if line.startswith("tool host_uptime: "))
    assert uptime.startswith("tool host_uptime: ok: ")
    assert json.loads(uptime.split(": ", 2)[2])["uptime_seconds"] > 0  # a real answer from the MCP server
    assert re.fullmatch(
        r"answer: The host has been up for \d+\.\d h\. On call for platform: Dana \(\+1 555 0100\)\.", lines[-1]
    )


def test_override_provider_keeps_the_config_and_swaps_the_model(embedding_runs: dict[str, Finished]) -> None:
    run = embedding_runs["override_provider"]
    lines = succeeded(run)
    assert "agent: deploy (Deploy Assistant), turn_depth 3" in lines
    assert "model: scripted/deploy-script (the config said openai/gpt-4o)" in lines
    assert "answer: Pipeline web#1423 is in canary and healthy; safe to proceed." in lines
    assert 'api_key = "***"' in lines
    assert "sk-never-used" not in run.stdout + run.stderr


def test_serve_in_code_answers_through_the_http_api(embedding_runs: dict[str, Finished]) -> None:
    lines = succeeded(embedding_runs["serve_in_code"])
    assert lines == [
        "models: triage (owned by sre-team), Scribe (owned by scripted)",
        "triage: You asked: What broke at 10:02?",
        "Scribe: Timeline: 10:02 alert, 10:05 ack, 10:20 mitigated.",
    ]


# ----------------------------------------------------------------------------------- aura check


def aura_check_command(path: Path, environment: dict[str, str]) -> tuple[list[str], dict[str, str], Path]:
    return [sys.executable, "-m", "aura.entrypoints.cli", "check", "--no-dotenv", str(path)], environment, REPO


@pytest.fixture(scope="module")
def check_runs() -> dict[str, Finished]:
    commands = {path.name: aura_check_command(path, clean_environment(dummy_values(path))) for path in COMPLETE}
    commands["multi-agent"] = aura_check_command(
        MULTI_AGENT, clean_environment(dummy_values(*MULTI_AGENT.glob("*.toml")))
    )
    return run_all(commands)


def agent_ids(stdout: str) -> list[str]:
    return [line.split("'")[1] for line in stdout.splitlines() if line.startswith("agent '")]


def test_the_complete_examples_are_the_three_sre_agents() -> None:
    assert [path.name for path in COMPLETE] == [
        "devops-assistant.toml",
        "incident-response.toml",
        "kubernetes-sre.toml",
    ]


@pytest.mark.parametrize(
    ("filename", "agent_id", "mcp_servers"),
    [
        ("devops-assistant.toml", "devops", 3),
        ("incident-response.toml", "incident-response", 3),
        ("kubernetes-sre.toml", "kubernetes-sre", 2),
    ],
)
def test_complete_example_passes_aura_check(
    check_runs: dict[str, Finished], filename: str, agent_id: str, mcp_servers: int
) -> None:
    run = check_runs[filename]
    lines = succeeded(run)
    assert lines[0] == f"{EXAMPLES / 'complete' / filename}: 1 agent OK"
    assert agent_ids(run.stdout) == [agent_id]
    assert f"  mcp servers ({mcp_servers}, schema sanitizing on):" in lines
    assert "  vector stores (1):" in lines
    assert "forwarded: " in run.stdout  # every complete example forwards a per-user header to an MCP server
    assert "not in this build" not in run.stdout  # only base dependencies are needed
    for name, value in dummy_values(EXAMPLES / "complete" / filename).items():
        if name.endswith(("_KEY", "_TOKEN", "_AUTHORIZATION")):
            assert value not in run.stdout + run.stderr, f"{name} leaked"


def test_multi_agent_directory_passes_aura_check_in_file_order(check_runs: dict[str, Finished]) -> None:
    run = check_runs["multi-agent"]
    lines = succeeded(run)
    assert lines[0] == f"{MULTI_AGENT}: 3 agents OK"
    assert agent_ids(run.stdout) == ["sre/host", "incident/scribe", "runbooks"]
    assert "not in this build" not in run.stdout


def test_multi_agent_directory_names_the_missing_variables() -> None:
    """Without the dummy values the check fails, naming the file and the variable (the same code `aura check` runs)."""
    with pytest.raises(ConfigError) as caught:
        load_config(MULTI_AGENT, environ={}, dotenv=False)
    message = str(caught.value)
    assert "host-inspector.toml" in message
    assert "OPENAI_API_KEY" in message


# ------------------------------------------------------------------------- multi-agent over HTTP


def scripted_model_for(agent_file: AgentFile) -> ScriptedChatModel:
    """Answers as the agent would, offline: calls `host_uptime` when offered, then answers from its result."""
    agent_id = agent_file.id

    def next_round(request: ChatRequest) -> ScriptedRound:
        last = request.messages[-1]
        if isinstance(last, ToolResultMessage):
            uptime = json.loads(last.content)["uptime_seconds"]
            return reply(f"[{agent_id}] host up for {uptime} s")
        if any(tool.name == "host_uptime" for tool in request.tools):
            return call_tool("host_uptime", {})
        return reply(f"[{agent_id}] ", f"answer from {agent_file.config.agent.name}")

    # The same provider and model name as the config, so /v1/models and responses look as in production.
    llm = agent_file.config.llm
    return ScriptedChatModel([], then=next_round, provider=llm.provider, model_name=llm_model_name(llm))


@pytest.fixture
def multi_agent_config(monkeypatch: pytest.MonkeyPatch) -> LoadedConfig:
    # The host inspector's MCP server is `python examples/sre_tools/server.py`, relative to the repository root,
    # found on PATH: make `python` this interpreter (it has the `mcp` package).
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    environ = dummy_values(*MULTI_AGENT.glob("*.toml"))
    return load_config(MULTI_AGENT, environ=environ, dotenv=False)


@pytest.fixture
async def served_multi_agent(multi_agent_config: LoadedConfig) -> AsyncIterator[AsyncOpenAI]:
    agents: list[Agent] = []
    for agent_file in multi_agent_config.agents:
        container = container_for(agent_file)
        container.chat_model.override(providers.Object(scripted_model_for(agent_file)))
        agents.append(container.agent())
    runner = None
    try:
        await start_agents(agents)  # connects the stdio MCP server, as `aura serve` does
        app = create_app(agents, ServerOptions())
        runner, port = await start_app(app, "127.0.0.1", 0)
        async with AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=30
        ) as client:
            yield client
    finally:
        if runner is not None:
            await runner.cleanup()
        for agent in agents:
            await agent.aclose()


@pytest.mark.skipif(not MCP_AVAILABLE, reason="the MCP adapter (aura.adapters.mcp) is not importable in this build")
async def test_multi_agent_directory_served_and_selected_by_model(
    served_multi_agent: AsyncOpenAI, multi_agent_config: LoadedConfig
) -> None:
    client = served_multi_agent
    models = await client.models.list()
    assert [model.id for model in models.data] == ["sre/host", "incident/scribe", "runbooks"]  # load order
    assert [model.owned_by for model in models.data] == ["sre", "sre", "sre"]  # model_owner from the files

    for agent_file in multi_agent_config.agents:
        completion = await client.chat.completions.create(
            model=agent_file.id, messages=[{"role": "user", "content": "How is it going?"}]
        )
        assert completion.model == agent_file.config.model_string
        content = completion.choices[0].message.content or ""
        assert content.startswith(f"[{agent_file.id}] "), content

        stream = await client.chat.completions.create(
            model=agent_file.id, messages=[{"role": "user", "content": "And now?"}], stream=True
        )
        streamed = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert streamed.startswith(f"[{agent_file.id}] "), streamed

    host = await client.chat.completions.create(model="sre/host", messages=[{"role": "user", "content": "uptime?"}])
    assert re.fullmatch(r"\[sre/host\] host up for \d+ s", host.choices[0].message.content or "")  # real MCP tool

    by_name = await client.chat.completions.create(
        model="Incident Scribe", messages=[{"role": "user", "content": "timeline please"}]
    )
    assert by_name.choices[0].message.content == "[incident/scribe] answer from Incident Scribe"

    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_dummy_values_cover_only_placeholders_without_defaults(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text('a = "{{ env.NEEDED }}"\nb = "{{ env.OPTIONAL | default: \'x\' }}"\n# {{ env.IN_COMMENT }}\n')
    assert set(dummy_values(config)) == {"NEEDED", "IN_COMMENT"}  # comments count too: harmless extras


# ------------------------------------------------------------------------------ snippets in the docs


def python_snippets(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("doc", ["library.md", "clients.md"])
def test_python_snippets_in_the_docs_compile_and_import_real_names(doc: str) -> None:
    """Snippets cannot drift from the API: each parses, and every name they import from aura exists."""
    snippets = python_snippets(REPO / "docs" / doc)
    assert snippets
    for snippet in snippets:
        tree = compile(snippet, doc, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("aura", "openai"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{doc}: {node.module} has no {alias.name}"

"""Config -> objects: each provider, transport and store is wired to its adapter with the configured values."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aura.adapters.llm.retry import RetryPolicy
from aura.entrypoints import factories
from aura.entrypoints.config import (
    AgentConfig,
    AgentSection,
    AnthropicConfig,
    BedrockConfig,
    BedrockKbStoreConfig,
    ConfigError,
    GeminiConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    McpConfig,
    OllamaConfig,
    OpenAIConfig,
    OpenAIEmbeddingConfig,
    QdrantStoreConfig,
    Secret,
    SseServerConfig,
    StdioServerConfig,
    ToolsConfig,
)
from aura.entrypoints.factories import (
    build_agent_settings,
    build_chat_model,
    build_toolsets,
    check_available,
    retry_policy,
)

OPENAI = OpenAIConfig(model="gpt-4o", api_key=Secret("sk-test"))
AGENT = AgentSection(name="Tester", system_prompt="You test.")


def config(**changes: object) -> AgentConfig:
    values: dict[str, object] = {"llm": OPENAI, "agent": AGENT, **changes}
    return AgentConfig(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ settings


def test_agent_settings_carry_every_agent_key() -> None:
    section = AgentSection(
        name="Ops",
        alias="ops",
        system_prompt="Be careful.",
        context=("Cluster: prod",),
        temperature=0.3,
        max_tokens=500,
        reasoning_effort="high",
        turn_depth=2,
        context_window=64000,
        created_at=1_700_000_000_000,
        model_owner="sre-team",
        tool_timeout_secs=12.5,
        max_tool_result_chars=2000,
    )
    settings = build_agent_settings(config(agent=section))
    assert settings.id == "ops"
    assert settings.full_system_prompt == "Be careful.\n\nCluster: prod"
    assert (settings.temperature, settings.max_tokens, settings.reasoning_effort) == (0.3, 500, "high")
    assert (settings.turn_depth, settings.context_window, settings.model_owner) == (2, 64000, "sre-team")
    assert (settings.created_at_ms, settings.tool_timeout_secs, settings.max_tool_result_chars) == (
        1_700_000_000_000,
        12.5,
        2000,
    )


def test_llm_max_tokens_is_the_fallback_and_zero_timeout_means_none() -> None:
    llm = OpenAIConfig(model="m", api_key=Secret("k"), max_tokens=777)
    agent = AgentSection(name="A", system_prompt="x", tool_timeout_secs=0)
    settings = build_agent_settings(config(llm=llm, agent=agent), default_created_at_ms=42)
    assert settings.max_tokens == 777
    assert settings.tool_timeout_secs is None
    assert settings.created_at_ms == 42


def test_invalid_config_built_in_code_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"llm\.api_key: an API key is required"):
        build_agent_settings(config(llm=OpenAIConfig(model="m", api_key=Secret(""))))


def test_retry_policy_counts_retries_not_attempts() -> None:
    assert retry_policy(OpenAIConfig(model="m", api_key=Secret("k"), max_retries=0)) == RetryPolicy(max_attempts=1)
    assert retry_policy(OPENAI).max_attempts == 4


# ---------------------------------------------------------------------------------------- chat model


@pytest.mark.parametrize(
    ("llm", "module"),
    [
        (OpenAIConfig(model="gpt-4o", api_key=Secret("k"), base_url="http://127.0.0.1:9/v1"), "openai"),
        (AnthropicConfig(model="claude-sonnet-4-5", api_key=Secret("k"), max_tokens=1024), "anthropic"),
        (GeminiConfig(model="gemini-2.5-flash", api_key=Secret("k")), "gemini"),
        (BedrockConfig(model="us.anthropic.claude", region="us-east-1", endpoint_url="http://127.0.0.1:9"), "bedrock"),
        (OllamaConfig(model="qwen3:8b", num_ctx=8192, fallback_tool_parsing=True), "ollama"),
    ],
)
async def test_each_provider_builds_its_adapter(llm: object, module: str) -> None:
    pytest.importorskip(f"aura.adapters.llm.{module}")
    model = build_chat_model(llm)  # type: ignore[arg-type]
    try:
        assert model.provider == llm.provider  # type: ignore[attr-defined]
        assert model.model_name == llm.model  # type: ignore[attr-defined]
        assert type(model).__module__ == f"aura.adapters.llm.{module}"
    finally:
        await model.aclose()


def test_llamacpp_with_a_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("aura.adapters.llm.llamacpp")
    llm = LlamaCppConfig(model_path=str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError) as caught:
        build_chat_model(llm)
    assert "does not exist" in str(caught.value)
    assert caught.value.problems[0].path == ("llm",)


def test_adapter_refusing_a_value_becomes_a_config_error() -> None:
    pytest.importorskip("aura.adapters.llm.openai")
    with pytest.raises(ConfigError, match="provider 'openai': "):
        build_chat_model(OpenAIConfig(model="gpt-4o", api_key=Secret("k"), request_timeout_secs=-1))


def test_provider_missing_from_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(factories.LLM_ADAPTERS, "openai", ("aura.adapters.llm.no_such_adapter", ""))
    with pytest.raises(ConfigError) as caught:
        build_chat_model(OPENAI)
    assert str(caught.value) == "provider 'openai' is not available in this build"
    assert check_available(config()) == ["provider 'openai' is not available in this build"]


def test_adapter_whose_sdk_is_missing_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "aura_test_adapter_needing_sdk.py").write_text("import aura_test_sdk_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(factories.LLM_ADAPTERS, "openai", ("aura_test_adapter_needing_sdk", "pip install something"))
    with pytest.raises(ConfigError) as caught:
        build_chat_model(OPENAI)
    assert str(caught.value) == (
        "provider 'openai' needs the Python package 'aura_test_sdk_that_is_not_installed', which is not installed "
        "(pip install something)"
    )
    sys.modules.pop("aura_test_adapter_needing_sdk", None)


def test_check_available_is_empty_when_every_adapter_is_present() -> None:
    pytest.importorskip("aura.adapters.llm.openai")
    mcp = pytest.importorskip("aura.adapters.mcp")
    if not hasattr(mcp, "McpToolset"):
        pytest.skip("MCP adapter not complete in this build")
    store = BedrockKbStoreConfig(name="kb", knowledge_base_id="KB", region="us-east-1")
    servers = {"s": SseServerConfig(url="http://127.0.0.1:9/sse")}
    assert check_available(config(mcp=McpConfig(servers=servers), vector_stores=(store,))) == []


# ------------------------------------------------------------------------------------------ toolsets


def mcp_module() -> object:
    mcp = pytest.importorskip("aura.adapters.mcp")
    if not hasattr(mcp, "McpToolset"):
        pytest.skip("MCP adapter not complete in this build")
    return mcp


async def test_mcp_servers_become_toolsets_in_config_order() -> None:
    mcp = mcp_module()
    servers = {
        "gh": HttpStreamableServerConfig(
            url="http://127.0.0.1:9/mcp",
            headers={"Authorization": Secret("Bearer t"), "X-Empty": Secret("")},
            headers_from_request={"X-User": "x-user"},
            timeout_secs=30,
            connect_timeout_secs=2,
            required=True,
            description="GitHub",
        ),
        "old": SseServerConfig(url="http://127.0.0.1:9/sse", timeout_secs=0),
        "local": StdioServerConfig(cmd=("npx", "-y", "pkg"), args=("stdio",), env={"T": Secret("v")}, cwd="/tmp"),
        "cmd": StdioServerConfig(command="uvx", args=("mcp-server-time",)),
    }
    toolsets = build_toolsets(config(mcp=McpConfig(sanitize_schemas=False, servers=servers)))
    try:
        assert [toolset.name for toolset in toolsets] == ["gh", "old", "local", "cmd"]
        gh, old, local, cmd = toolsets
        assert isinstance(gh.transport, mcp.StreamableHttpTransport)  # type: ignore[attr-defined]
        assert dict(gh.transport.headers) == {"Authorization": "Bearer t"}  # type: ignore[attr-defined]
        assert dict(gh.transport.headers_from_request) == {"X-User": "x-user"}  # type: ignore[attr-defined]
        assert (gh.call_timeout, gh.connect_timeout, gh.required, gh.description) == (30, 2, True, "GitHub")  # type: ignore[attr-defined]
        assert gh.sanitize_schemas is False  # type: ignore[attr-defined]
        assert isinstance(old.transport, mcp.SseTransport)  # type: ignore[attr-defined]
        assert old.call_timeout is None  # type: ignore[attr-defined]
        transport = local.transport  # type: ignore[attr-defined]
        assert (transport.command, tuple(transport.args)) == ("npx", ("-y", "pkg", "stdio"))
        assert (dict(transport.env), transport.cwd) == ({"T": "v"}, "/tmp")
        assert (cmd.transport.command, tuple(cmd.transport.args)) == ("uvx", ("mcp-server-time",))  # type: ignore[attr-defined]
    finally:
        for toolset in toolsets:
            await toolset.aclose()


async def test_vector_stores_become_search_tools() -> None:
    pytest.importorskip("aura.adapters.vectors.qdrant")
    pytest.importorskip("aura.adapters.embeddings.openai")
    embedding = OpenAIEmbeddingConfig(
        model="text-embedding-3-small", api_key=Secret("k"), base_url="http://127.0.0.1:9"
    )
    stores = (
        InMemoryStoreConfig(name="runbooks", context_prefix="Runbooks", embedding_model=embedding),
        QdrantStoreConfig(name="docs", collection_name="docs", embedding_model=embedding),
        BedrockKbStoreConfig(name="kb", knowledge_base_id="KB", region="us-east-1", endpoint_url="http://127.0.0.1:9"),
    )
    toolsets = build_toolsets(config(vector_stores=stores))
    try:
        names = [spec.name for toolset in toolsets for spec in await toolset.list_tools()]
        assert names == ["vector_search_runbooks", "vector_search_docs", "vector_search_kb"]
        runbooks_spec = (await toolsets[0].list_tools())[0]
        assert "Runbooks" in runbooks_spec.description
    finally:
        for toolset in toolsets:
            await toolset.aclose()


def test_qdrant_url_and_path_together_is_a_config_error() -> None:
    store = QdrantStoreConfig(name="q", collection_name="c", url="http://q:6334", path="/tmp/q")
    with pytest.raises(ConfigError, match=r"vector_stores\[0\].path: give either `url`"):
        build_agent_settings(config(vector_stores=(store,)))


def test_filesystem_tools_are_built_below_their_root(tmp_path: Path) -> None:
    from aura.adapters.tools.filesystem import FilesystemToolset

    toolsets = build_toolsets(config(tools=ToolsConfig(filesystem=True, filesystem_root=str(tmp_path))))
    filesystem = [t for t in toolsets if isinstance(t, FilesystemToolset)]
    assert len(filesystem) == 1
    assert filesystem[0].root == tmp_path.resolve()


def test_filesystem_root_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tools.filesystem_root: .* is not a directory"):
        build_toolsets(config(tools=ToolsConfig(filesystem=True, filesystem_root=str(tmp_path / "nope"))))

"""The shipped example configs load (with dummy credentials) into what their comments promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.entrypoints.config import (
    AnthropicConfig,
    BedrockConfig,
    BedrockKbStoreConfig,
    GeminiConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    LocalEmbeddingConfig,
    OllamaConfig,
    OpenAIConfig,
    OpenAIEmbeddingConfig,
    QdrantStoreConfig,
    Secret,
    SseServerConfig,
    StdioServerConfig,
    dump_config,
    load_config,
    parse_agent_config,
)

EXAMPLES = Path(__file__).parents[3] / "examples"
DUMMY_ENV = {
    "OPENAI_API_KEY": "sk-dummy-openai",
    "ANTHROPIC_API_KEY": "sk-dummy-anthropic",
    "GEMINI_API_KEY": "dummy-gemini",
    "GITHUB_TOKEN": "ghp_dummy",
}


def test_reference_example_sets_every_section() -> None:
    loaded = load_config(EXAMPLES / "reference.toml", environ=DUMMY_ENV, dotenv=False)
    config = loaded.agents[0].config
    assert config.llm == OpenAIConfig(
        model="gpt-4o",
        api_key=Secret("sk-dummy-openai"),
        base_url="https://api.openai.com/v1",
        max_tokens=4096,
        request_timeout_secs=600,
        max_retries=3,
    )
    agent = config.agent
    assert config.id == "reference"
    assert agent.context == ("Environment: staging.", "Answer in English.")
    assert (agent.reasoning_effort, agent.turn_depth, agent.context_window) == ("medium", 5, 128000)
    assert (agent.created_at, agent.model_owner) == (1735689600000, "my-team")
    assert config.mcp is not None
    assert list(config.mcp.servers) == ["github", "legacy", "time"]
    github, legacy, time_server = config.mcp.servers.values()
    assert isinstance(github, HttpStreamableServerConfig)
    assert github.headers["Authorization"] == Secret("Bearer ghp_dummy")
    assert isinstance(legacy, SseServerConfig)
    assert legacy.headers["DD-API-KEY"] == Secret("")
    assert isinstance(time_server, StdioServerConfig)
    assert time_server.argv == ("uvx", "mcp-server-time", "--local-timezone", "UTC")
    runbooks, docs, handbook = config.vector_stores
    assert isinstance(runbooks, InMemoryStoreConfig)
    assert runbooks.embedding_model == LocalEmbeddingConfig()
    assert isinstance(docs, QdrantStoreConfig)
    assert docs.embedding_model == OpenAIEmbeddingConfig(
        model="text-embedding-3-small", api_key=Secret("sk-dummy-openai")
    )
    assert isinstance(handbook, BedrockKbStoreConfig)
    assert handbook.knowledge_base_id == "KB12345678"
    assert config.tools is not None
    assert config.tools.filesystem is False


def test_reference_example_survives_a_dump_and_load() -> None:
    config = load_config(EXAMPLES / "reference.toml", environ=DUMMY_ENV, dotenv=False).agents[0].config
    assert parse_agent_config(dump_config(config), environ={}).config == config


@pytest.mark.parametrize(
    ("filename", "config_class", "agent_id", "model_string"),
    [
        ("openai.toml", OpenAIConfig, "openai", "openai/gpt-4o"),
        ("anthropic.toml", AnthropicConfig, "anthropic", "anthropic/claude-sonnet-4-5"),
        ("bedrock.toml", BedrockConfig, "bedrock", "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("gemini.toml", GeminiConfig, "gemini", "gemini/gemini-2.5-flash"),
        ("ollama.toml", OllamaConfig, "ollama", "ollama/qwen3:8b"),
        ("llamacpp.toml", LlamaCppConfig, "local", "llamacpp/smollm2-135m"),
    ],
)
def test_minimal_examples(filename: str, config_class: type, agent_id: str, model_string: str) -> None:
    config = load_config(EXAMPLES / "minimal" / filename, environ=DUMMY_ENV, dotenv=False).agents[0].config
    assert isinstance(config.llm, config_class)
    assert config.id == agent_id
    assert config.model_string == model_string
    assert config.mcp is None
    assert config.vector_stores == ()


def test_minimal_directory_serves_six_distinct_agents() -> None:
    loaded = load_config(EXAMPLES / "minimal", environ=DUMMY_ENV, dotenv=False)
    assert loaded.ids == ("anthropic", "bedrock", "gemini", "local", "ollama", "openai")


def test_example_defaults_come_from_templates() -> None:
    loaded = load_config(EXAMPLES / "minimal", environ={**DUMMY_ENV, "AWS_REGION": "eu-central-1"}, dotenv=False)
    bedrock = loaded.find("bedrock")
    ollama = loaded.find("ollama")
    assert bedrock is not None
    assert ollama is not None
    assert isinstance(bedrock.config.llm, BedrockConfig)
    assert bedrock.config.llm.region == "eu-central-1"
    assert isinstance(ollama.config.llm, OllamaConfig)
    assert ollama.config.llm.base_url == "http://localhost:11434"

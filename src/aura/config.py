"""The typed configuration, for building in code what a TOML file says (`from aura import config`).

    from aura import AgentContainer, config

    agent_config = config.AgentConfig(
        llm=config.OpenAIConfig(model="gpt-4o", api_key=config.Secret("sk-...")),
        agent=config.AgentSection(name="Assistant", system_prompt="You are helpful."),
    )
    container = AgentContainer(config=agent_config)

Every key is documented in `docs/configuration.md`; `dump_config` writes the equivalent TOML.
"""

from aura.entrypoints.config import (
    DEFAULT_CONFIG_PATH,
    AgentConfig,
    AgentFile,
    AgentSection,
    AnthropicConfig,
    BedrockConfig,
    BedrockEmbeddingConfig,
    BedrockKbStoreConfig,
    ConfigError,
    ConfigProblem,
    EmbeddingModelConfig,
    GeminiConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    LlmConfig,
    LoadedConfig,
    LocalEmbeddingConfig,
    McpConfig,
    McpServerConfig,
    OllamaConfig,
    OpenAIConfig,
    OpenAIEmbeddingConfig,
    QdrantStoreConfig,
    Secret,
    SseServerConfig,
    StdioServerConfig,
    ToolsConfig,
    VectorStoreConfig,
    dump_config,
    load_config,
    parse_agent_config,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "AgentConfig",
    "AgentFile",
    "AgentSection",
    "AnthropicConfig",
    "BedrockConfig",
    "BedrockEmbeddingConfig",
    "BedrockKbStoreConfig",
    "ConfigError",
    "ConfigProblem",
    "EmbeddingModelConfig",
    "GeminiConfig",
    "HttpStreamableServerConfig",
    "InMemoryStoreConfig",
    "LlamaCppConfig",
    "LlmConfig",
    "LoadedConfig",
    "LocalEmbeddingConfig",
    "McpConfig",
    "McpServerConfig",
    "OllamaConfig",
    "OpenAIConfig",
    "OpenAIEmbeddingConfig",
    "QdrantStoreConfig",
    "Secret",
    "SseServerConfig",
    "StdioServerConfig",
    "ToolsConfig",
    "VectorStoreConfig",
    "dump_config",
    "load_config",
    "parse_agent_config",
]

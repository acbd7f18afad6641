"""Property: any valid config built in code dumps to TOML and loads back equal."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aura.entrypoints.config import (
    AgentConfig,
    AgentSection,
    AnthropicConfig,
    BedrockConfig,
    BedrockEmbeddingConfig,
    BedrockKbStoreConfig,
    GeminiConfig,
    HttpStreamableServerConfig,
    InMemoryStoreConfig,
    LlamaCppConfig,
    LocalEmbeddingConfig,
    McpConfig,
    OllamaConfig,
    OpenAIConfig,
    OpenAIEmbeddingConfig,
    QdrantStoreConfig,
    Secret,
    SseServerConfig,
    StdioServerConfig,
    ToolsConfig,
    dump_config,
    validate_config,
)
from tests.unit.config.helpers import parse

# Any text a TOML string can hold, minus `{{` (a placeholder would be templated on load: that is the point).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12).filter(lambda s: "{{" not in s)
non_blank = text.filter(lambda s: s.strip() != "")
keys = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)
secrets = st.builds(Secret, text)
non_blank_secrets = st.builds(Secret, non_blank)
uint32 = st.integers(0, 2**32 - 1)
seconds = st.floats(0.001, 10_000, allow_nan=False, allow_infinity=False)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


urls = st.builds(
    "{}://{}:{}/{}".format,
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6})?", fullmatch=True),
    st.integers(1, 65535),
    st.from_regex(r"[a-z0-9/_-]{0,20}", fullmatch=True),
)
common_llm: dict[str, Any] = {
    "max_tokens": maybe(st.integers(1, 2**32 - 1)),
    "request_timeout_secs": seconds,
    "max_retries": st.integers(0, 10),
}
keyed = {"model": non_blank, "api_key": non_blank_secrets, "base_url": maybe(urls)}
toml_scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), text)
llms = st.one_of(
    st.builds(OpenAIConfig, **keyed, **common_llm),
    st.builds(AnthropicConfig, **keyed, **common_llm),
    st.builds(GeminiConfig, **keyed, **common_llm),
    st.builds(
        BedrockConfig, model=non_blank, region=non_blank, profile=maybe(text), endpoint_url=maybe(text), **common_llm
    ),
    st.builds(
        OllamaConfig,
        model=non_blank,
        base_url=urls,
        fallback_tool_parsing=st.booleans(),
        num_ctx=maybe(uint32),
        num_predict=maybe(uint32),
        additional_params=st.dictionaries(keys, toml_scalars, max_size=3),
        api_key=maybe(secrets),
        **common_llm,
    ),
    st.builds(
        LlamaCppConfig,
        model=maybe(non_blank),
        model_path=maybe(non_blank),
        n_ctx=uint32,
        n_threads=maybe(uint32),
        tool_calling=st.sampled_from(["fallback", "native"]),
        **common_llm,
    ),
)
agents = st.builds(
    AgentSection,
    name=non_blank,
    system_prompt=text,
    alias=maybe(non_blank),
    context=st.lists(text, max_size=3).map(tuple),
    temperature=maybe(st.floats(0, 2)),
    max_tokens=maybe(st.integers(1, 2**32 - 1)),
    reasoning_effort=maybe(st.sampled_from(["minimal", "low", "medium", "high"])),
    turn_depth=uint32,
    context_window=maybe(uint32),
    created_at=maybe(st.integers(0, 2**63 - 1)),
    model_owner=maybe(text),
    tool_timeout_secs=st.floats(0, 10_000),
    max_tool_result_chars=uint32,
)
server_common: dict[str, Any] = {
    "description": maybe(text),
    "timeout_secs": st.floats(0, 10_000),
    "connect_timeout_secs": seconds,
    "required": st.booleans(),
}
http_keys: dict[str, Any] = {
    "url": urls,
    "headers": st.dictionaries(keys, secrets, max_size=3),
    "headers_from_request": st.dictionaries(keys, text, max_size=3),
}
servers = st.one_of(
    st.builds(HttpStreamableServerConfig, **http_keys, **server_common),
    st.builds(SseServerConfig, **http_keys, **server_common),
    st.builds(
        StdioServerConfig,
        cmd=st.lists(non_blank, min_size=1, max_size=3).map(tuple),
        args=st.lists(text, max_size=3).map(tuple),
        env=st.dictionaries(keys, secrets, max_size=3),
        cwd=maybe(text),
        **server_common,
    ),
    st.builds(StdioServerConfig, command=non_blank, args=st.lists(text, max_size=3).map(tuple), **server_common),
)
embeddings = st.one_of(
    st.builds(OpenAIEmbeddingConfig, model=text, api_key=non_blank_secrets, base_url=maybe(text)),
    st.builds(BedrockEmbeddingConfig, model=text, region=non_blank, profile=maybe(text), endpoint_url=maybe(text)),
    st.builds(LocalEmbeddingConfig, model=text),
)
stores = st.one_of(
    st.builds(
        InMemoryStoreConfig, name=non_blank, context_prefix=maybe(text), path=maybe(text), embedding_model=embeddings
    ),
    st.builds(
        QdrantStoreConfig,
        name=non_blank,
        context_prefix=maybe(text),
        collection_name=non_blank,
        url=maybe(text),
        api_key=maybe(secrets),
        embedding_model=embeddings,
    ),
    st.builds(
        BedrockKbStoreConfig,
        name=non_blank,
        context_prefix=maybe(text),
        knowledge_base_id=non_blank,
        region=non_blank,
        profile=maybe(text),
        endpoint_url=maybe(text),
    ),
)


def unique_names(items: list[Any]) -> tuple[Any, ...]:
    seen: set[str] = set()
    return tuple(item for item in items if not (item.name in seen or seen.add(item.name)))


configs = st.builds(
    AgentConfig,
    llm=llms,
    agent=agents,
    mcp=maybe(st.builds(McpConfig, sanitize_schemas=st.booleans(), servers=st.dictionaries(keys, servers, max_size=3))),
    vector_stores=st.lists(stores, max_size=3).map(unique_names),
    tools=maybe(
        st.one_of(
            st.builds(ToolsConfig, filesystem=st.just(False), custom_tools=st.lists(text, max_size=2).map(tuple)),
            st.builds(ToolsConfig, filesystem=st.just(True), filesystem_root=maybe(text)),
        )
    ),
)


@settings(max_examples=300, deadline=None)
@given(configs)
def test_any_valid_config_dumps_and_loads_back_equal(config: AgentConfig) -> None:
    assert validate_config(config) == []
    assert parse(dump_config(config)) == config


def test_carriage_returns_survive_a_dump() -> None:
    config = AgentConfig(
        llm=OpenAIConfig(model="m", api_key=Secret("k")),
        agent=AgentSection(name="A\r\n", system_prompt="one\r\ntwo\nthree"),
    )
    assert parse(dump_config(config)) == config


def test_dump_is_readable_toml() -> None:
    config = AgentConfig(
        llm=OpenAIConfig(model="gpt-4o", api_key=Secret("sk-1")),
        agent=AgentSection(name="A", system_prompt="Line one.\nLine two."),
        mcp=McpConfig(servers={"gh": HttpStreamableServerConfig(url="http://x/mcp")}),
    )
    assert dump_config(config) == (
        '[llm]\nprovider = "openai"\nmodel = "gpt-4o"\napi_key = "sk-1"\n\n'
        '[agent]\nname = "A"\nsystem_prompt = """\nLine one.\nLine two."""\n\n'
        '[mcp.servers.gh]\ntransport = "http_streamable"\nurl = "http://x/mcp"\n'
    )

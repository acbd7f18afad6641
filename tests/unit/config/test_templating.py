"""`{{ env.X }}` templating: the documented cases and the safety of substituting parsed values."""

from __future__ import annotations

from aura.entrypoints.config import HttpStreamableServerConfig, OllamaConfig, OpenAIConfig
from aura.entrypoints.config.templating import render_env_placeholders
from tests.unit.config.helpers import MINIMAL_AGENT, config_error, parse, with_openai


def test_commented_placeholders_are_ignored() -> None:
    text = (
        """
# api_key = "{{ env.COMMENTED_OUT }}"
[llm]
provider = "openai"
api_key = "{{ env.KEY }}"  # inline: {{ env.ALSO_COMMENTED }}
model = "gpt-4o"
"""
        + MINIMAL_AGENT
    )
    config = parse(text, {"KEY": "sk-1"})
    assert isinstance(config.llm, OpenAIConfig)
    assert config.llm.api_key.reveal() == "sk-1"


def test_default_used_when_unset_and_env_wins_when_set() -> None:
    text = with_openai(
        '[mcp.servers.m]\ntransport = "http_streamable"\n'
        "url = \"http://{{ env.HOST | default: '127.0.0.1' }}:9999/mcp\"\n"
    )
    unset = parse(text).mcp_servers["m"]
    set_ = parse(text, {"HOST": "mock-mcp"}).mcp_servers["m"]
    assert isinstance(unset, HttpStreamableServerConfig)
    assert isinstance(set_, HttpStreamableServerConfig)
    assert unset.url == "http://127.0.0.1:9999/mcp"
    assert set_.url == "http://mock-mcp:9999/mcp"


def test_empty_variable_counts_as_set_and_empty_default_is_allowed() -> None:
    text = with_openai("model_owner = \"x{{ env.OWNER | default: 'fallback' }}y\"\n")
    assert parse(text, {"OWNER": ""}).agent.model_owner == "xy"
    text = with_openai("model_owner = \"x{{ env.OWNER | default: '' }}y\"\n")
    assert parse(text).agent.model_owner == "xy"


def test_substitution_inside_a_header_value() -> None:
    text = with_openai(
        '[mcp.servers.gh]\ntransport = "http_streamable"\nurl = "http://x/mcp"\n'
        'headers = { Authorization = "Bearer {{ env.MCP_TOKEN }}" }\n'
    )
    server = parse(text, {"MCP_TOKEN": "t0k3n"}).mcp_servers["gh"]
    assert isinstance(server, HttpStreamableServerConfig)
    assert server.headers["Authorization"].reveal() == "Bearer t0k3n"


def test_env_value_in_additional_params_stays_a_string() -> None:
    text = '[llm]\nprovider = "ollama"\nmodel = "q"\n[llm.additional_params]\nseed = "{{ env.SEED }}"\ntop_k = 20\n'
    llm = parse(text + MINIMAL_AGENT, {"SEED": "12345"}).llm
    assert isinstance(llm, OllamaConfig)
    assert llm.additional_params == {"seed": "12345", "top_k": 20}


def test_lowercase_name_is_not_a_placeholder() -> None:
    text = with_openai('model_owner = "{{ env.lower_case }}"\n')
    assert parse(text).agent.model_owner == "{{ env.lower_case }}"


def test_several_placeholders_and_flexible_whitespace() -> None:
    text = with_openai("model_owner = \"{{env.A}}-{{   env.B   |   default:   'b'   }}-{{ env.A }}\"\n")
    assert parse(text, {"A": "a"}).agent.model_owner == "a-b-a"


def test_provider_tag_can_be_templated() -> None:
    text = '[llm]\nprovider = "{{ env.LLM_PROVIDER }}"\nmodel = "m"\napi_key = "k"\n' + MINIMAL_AGENT
    assert parse(text, {"LLM_PROVIDER": "anthropic"}).llm.provider == "anthropic"


def test_values_with_quotes_newlines_and_backslashes_cannot_inject_toml() -> None:
    nasty = 'a"b\\c\nd = "injected"\n[agent]\nname = "evil'
    config = parse(with_openai('model_owner = "{{ env.NASTY }}"\n'), {"NASTY": nasty})
    assert config.agent.model_owner == nasty
    assert config.agent.name == "Assistant"


def test_substituted_values_are_not_templated_again() -> None:
    config = parse(with_openai('model_owner = "{{ env.OUTER }}"\n'), {"OUTER": "{{ env.INNER }}"})
    assert config.agent.model_owner == "{{ env.INNER }}"


def test_placeholders_in_array_items_and_nested_tables() -> None:
    text = with_openai(
        '[mcp.servers.s]\ntransport = "stdio"\ncmd = ["{{ env.PY }}", "server.py"]\nenv = { TOKEN = "{{ env.T }}" }\n'
    )
    server = parse(text, {"PY": "python3", "T": "secret"}).mcp_servers["s"]
    assert server.argv == ("python3", "server.py")  # type: ignore[union-attr]
    assert server.env["TOKEN"].reveal() == "secret"  # type: ignore[union-attr]


def test_keys_are_not_templated() -> None:
    rendered = render_env_placeholders({"{{ env.K }}": "{{ env.K }}"}, {"K": "v"})
    assert rendered.value == {"{{ env.K }}": "v"}
    assert rendered.missing == ()


def test_missing_variables_are_deduplicated_in_order_of_occurrence() -> None:
    rendered = render_env_placeholders({"a": "{{ env.B }} {{ env.A }}", "b": ["{{ env.B }}"]}, {})
    assert [variable.name for variable in rendered.missing] == ["B", "A"]
    assert rendered.missing[0].paths == (("a",), ("b", 0))


def test_missing_variable_error_does_not_leak_other_values() -> None:
    error = config_error(
        with_openai('model_owner = "{{ env.MISSING }}"\n').replace("sk-test", "{{ env.KEY }}"), {"KEY": "sk-secret"}
    )
    assert "MISSING (used at agent.model_owner)" in str(error)
    assert "sk-secret" not in str(error)

"""Shared helpers for the config tests: parse TOML text with a given environment, capture errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from aura.entrypoints.config import AgentConfig, ConfigError, parse_agent_config

MINIMAL_AGENT = """
[agent]
name = "Assistant"
system_prompt = "You are helpful."
"""

OPENAI_LLM = """
[llm]
provider = "openai"
api_key = "sk-test"
model = "gpt-4o"
"""


def parse(text: str, environ: Mapping[str, str] | None = None) -> AgentConfig:
    return parse_agent_config(text, source=Path("agent.toml"), environ=environ or {}).config


def config_error(text: str, environ: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_agent_config(text, source=Path("agent.toml"), environ=environ or {})
    return caught.value


def with_openai(extra: str = "") -> str:
    return OPENAI_LLM + MINIMAL_AGENT + extra

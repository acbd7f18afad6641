"""Loading agent configs from a TOML file or a directory of them.

Per file: read -> parse TOML -> substitute `{{ env.X }}` in string values -> structure into
`AgentConfig` -> semantic checks. A directory loads every `*.toml` in it (sorted by name, not
recursive); the first bad file stops loading (no partial load). Then agent ids must be unique across
files. Every failure is one `ConfigError` naming the file, the key path and what was expected.

A `.env` file in the working directory and one next to the config are read for templating (the
one next to the config wins); variables already set in the environment always win over both.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs
from dotenv import dotenv_values, load_dotenv

from aura.entrypoints.config.converter import structure_agent_config
from aura.entrypoints.config.errors import ConfigError, ConfigProblem
from aura.entrypoints.config.schema import AgentConfig, OllamaConfig, validate_config
from aura.entrypoints.config.templating import render_env_placeholders

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = "config.toml"


@attrs.frozen
class AgentFile:
    """One loaded agent config and the file it came from."""

    source: Path
    config: AgentConfig
    loaded_at_ms: int = attrs.field(factory=lambda: int(time.time() * 1000))
    warnings: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def created_at_ms(self) -> int:
        """`[agent] created_at`, else the time the file was loaded (`/v1/models` `created` * 1000)."""
        created = self.config.agent.created_at
        return created if created is not None else self.loaded_at_ms


@attrs.frozen
class LoadedConfig:
    """Every agent from a config path, in load order (which is the `/v1/models` order)."""

    path: Path
    agents: tuple[AgentFile, ...]
    env_files: tuple[Path, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(agent.id for agent in self.agents)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(warning for agent in self.agents for warning in agent.warnings)

    def find(self, agent_id: str) -> AgentFile | None:
        """The agent whose id (alias, else name) is `agent_id`; else the one agent whose name it is.

        An agent's name is accepted when it has an alias, as long as no other agent has that name.
        """
        found = next((agent for agent in self.agents if agent.id == agent_id), None)
        if found is not None:
            return found
        by_name = [agent for agent in self.agents if agent.config.agent.name == agent_id]
        return by_name[0] if len(by_name) == 1 else None

    def default_agent(self, default_agent: str | None) -> AgentFile | None:
        """The agent a request without `model` goes to: `DEFAULT_AGENT`, else the only agent, else none.

        Raises `ConfigError` when `default_agent` names no loaded agent (a startup error).
        """
        if default_agent is not None:
            return resolve_default_agent(self, default_agent)
        return self.agents[0] if len(self.agents) == 1 else None


def resolve_default_agent(loaded: LoadedConfig, default_agent: str) -> AgentFile:
    """Validate `DEFAULT_AGENT`: it must name a loaded agent (see `LoadedConfig.find`)."""
    found = loaded.find(default_agent)
    if found is not None:
        return found
    known = ", ".join(f"'{agent_id}'" for agent_id in loaded.ids) or "none"
    raise ConfigError(
        f"DEFAULT_AGENT '{default_agent}' does not match any loaded agent name or alias (loaded: {known})"
    )


def config_files(path: Path) -> list[Path]:
    """The files a config path stands for: the file itself, or a directory's `*.toml` sorted by name."""
    if path.is_dir():
        files = sorted(entry for entry in path.iterdir() if entry.suffix == ".toml")
        if not files:
            raise ConfigError("no .toml configuration files found in directory", source=path)
        return files
    if not path.exists():
        raise ConfigError(
            "config file not found (pass a path or set CONFIG_PATH; a directory loads every *.toml in it)",
            source=path,
        )
    return [path]


def dotenv_files(path: Path) -> list[Path]:
    """`.env` files that apply to a config path, weakest first: the working directory, then next to the config."""
    config_dir = path if path.is_dir() else path.parent
    candidates = [Path.cwd() / ".env", config_dir / ".env"]
    found: list[Path] = []
    for candidate in candidates:
        if candidate.is_file() and all(not candidate.samefile(seen) for seen in found):
            found.append(candidate)
    return found


def config_environment(
    path: Path, environ: Mapping[str, str] | None = None, *, dotenv: bool = True
) -> tuple[dict[str, str], list[Path]]:
    """The variables templating sees: `.env` files under the real environment (which always wins)."""
    base = dict(os.environ if environ is None else environ)
    if not dotenv:
        return base, []
    files = dotenv_files(path)
    merged: dict[str, str] = {}
    for env_file in files:
        merged.update({key: value for key, value in dotenv_values(env_file).items() if value is not None})
    merged.update(base)
    return merged, files


def export_dotenv(path: str | Path) -> list[Path]:
    """Load the `.env` files of a config path into `os.environ` without overriding set variables.

    For `aura serve`: SDKs that read the environment themselves (AWS, OTel) then see them too.
    """
    files = dotenv_files(Path(path))
    for env_file in reversed(files):  # strongest first: load_dotenv never overrides what is set
        load_dotenv(env_file, override=False)
    return files


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None, dotenv: bool = True) -> LoadedConfig:
    """Load every agent from a config file or directory. Raises `ConfigError` on the first bad file.

    `environ` replaces `os.environ` for templating (tests pass their own); `dotenv=False` skips `.env`.
    """
    root = Path(path)
    files = config_files(root)
    environment, env_files = config_environment(root, environ, dotenv=dotenv)
    loaded_at_ms = int(time.time() * 1000)
    agents = [load_agent_file(file, environment, loaded_at_ms=loaded_at_ms) for file in files]
    check_unique_ids(agents)
    for agent in agents:
        for warning in agent.warnings:
            logger.warning("%s", warning)
    return LoadedConfig(root, tuple(agents), tuple(env_files))


def load_agent_file(path: Path, environ: Mapping[str, str], *, loaded_at_ms: int | None = None) -> AgentFile:
    """Load one agent config file."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a TOML file", source=path) from None
    except FileNotFoundError:
        raise ConfigError("config file not found", source=path) from None
    except OSError as error:
        raise ConfigError(f"cannot read the file ({error.strerror or type(error).__name__})", source=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text (invalid byte at offset {error.start})", source=path) from None
    return parse_agent_config(text, source=path, environ=environ, loaded_at_ms=loaded_at_ms)


def parse_agent_config(
    text: str,
    *,
    source: Path = Path("<string>"),
    environ: Mapping[str, str] | None = None,
    loaded_at_ms: int | None = None,
) -> AgentFile:
    """Parse one agent config from TOML text (the file-free core of `load_agent_file`)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML: {error}", source=source) from None
    rendered = render_env_placeholders(document, os.environ if environ is None else environ)
    if rendered.missing:
        raise ConfigError(rendered.missing_message(), source=source)
    config = structure_agent_config(rendered.value)
    if not isinstance(config, AgentConfig):
        raise ConfigError.from_problems(source, config)
    problems = validate_config(config)
    if problems:
        raise ConfigError.from_problems(source, problems)
    return AgentFile(
        source,
        config,
        loaded_at_ms if loaded_at_ms is not None else int(time.time() * 1000),
        tuple(_warnings(source, config)),
    )


def _warnings(source: Path, config: AgentConfig) -> list[str]:
    warnings: list[str] = []
    if isinstance(config.llm, OllamaConfig) and config.llm.api_key is not None:
        warnings.append(f"{source}: llm.api_key is ignored for provider 'ollama' (Ollama takes no API key)")
    if config.tools is not None and config.tools.custom_tools:
        names = ", ".join(config.tools.custom_tools)
        warnings.append(f"{source}: tools.custom_tools is not supported and is ignored ({names})")
    return warnings


def check_unique_ids(agents: list[AgentFile]) -> None:
    """Agent ids must be unique across files (a request names one by id); the error names both files."""
    alias_owner: dict[str, AgentFile] = {}
    id_owner: dict[str, AgentFile] = {}
    for agent in agents:
        alias = agent.config.agent.alias
        if alias is not None and alias in alias_owner:
            first = alias_owner[alias]
            raise ConfigError(
                f"duplicate alias '{alias}' in {first.source} and {agent.source}: every agent needs a unique alias",
                problems=[ConfigProblem(("agent", "alias"), f"duplicate alias '{alias}'")],
            )
        if agent.id in id_owner:
            first = id_owner[agent.id]
            raise ConfigError(
                f"agent id '{agent.id}' is used by both {first.source} and {agent.source}: "
                "multiple configurations with the same agent name; use an alias to differentiate them",
                problems=[ConfigProblem(("agent",), f"duplicate agent id '{agent.id}'")],
            )
        if alias is not None:
            alias_owner[alias] = agent
        id_owner[agent.id] = agent

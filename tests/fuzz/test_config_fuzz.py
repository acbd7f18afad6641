"""Config fuzzing: whatever the file holds, loading it raises `ConfigError` or succeeds, never anything else.

Three sources of input: arbitrary text, arbitrary bytes on disk, and real example configs with a few
keys replaced by arbitrary TOML values, deleted, or joined by unknown keys (most bugs hide just next to
valid input, which pure noise rarely reaches).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura.entrypoints.config import ConfigError, load_config
from aura.entrypoints.config.loader import parse_agent_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("**/*.toml"))
SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class AnyEnvironment(Mapping[str, str]):
    """Every `{{ env.NAME }}` resolves, so mutated files get past templating into the schema."""

    def __getitem__(self, key: str) -> str:
        return "fuzz-value"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True


ENVIRONMENT = AnyEnvironment()
BASES = [tomllib.loads(path.read_text()) for path in EXAMPLES]


def key_paths(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key path (tables, arrays and leaves) in a parsed TOML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from key_paths(value, (*prefix, index))


toml_text = st.text(max_size=30) | st.sampled_from(
    ["", " ", "{{ env.X }}", "{{ env.X | default: 'y' }}", "{{", "}}", "{{ nope }}", "http://", "stdio", "openai"]
)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    toml_text,
    st.datetimes(),
    st.dates(),
    st.times(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(key_paths(document))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = document
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[last] = draw(toml_values)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(st.text(min_size=1, max_size=10))] = draw(toml_values)
        else:
            parent[last] = draw(toml_values)
    return document


def loads_or_config_error(text: str) -> str | None:
    """None when the text loads, else the `ConfigError` message (any other exception fails the test)."""
    try:
        parse_agent_config(text, source=Path("fuzz.toml"), environ=ENVIRONMENT)
    except ConfigError as error:
        message = str(error)
    else:
        return None
    assert message.strip(), "a ConfigError must say what is wrong"
    return message


def test_the_bases_are_the_shipped_examples() -> None:
    assert len(BASES) >= 5


@SETTINGS
@given(mutated_documents())
def test_mutated_example_configs_raise_only_config_errors(document: dict[str, Any]) -> None:
    loads_or_config_error(tomli_w.dumps(document))


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text_raises_only_config_errors(text: str) -> None:
    loads_or_config_error(text)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300))
def test_arbitrary_bytes_on_disk_raise_only_config_errors(tmp_path_factory: Any, content: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "agent.toml"
    path.write_bytes(content)
    message = "loaded"
    try:
        load_config(path, environ=ENVIRONMENT, dotenv=False)
    except ConfigError as error:
        message = str(error)
    assert message.strip()

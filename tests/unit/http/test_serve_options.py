"""`ServerOptions` validation and the `aura serve` flag / environment parsing."""

from __future__ import annotations

import argparse

import pytest

from aura.adapters.http.options import ServerOptions, ToolResultMode
from aura.entrypoints import serve_command


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ServerOptions:
    parser = argparse.ArgumentParser()
    serve_command.add_arguments(parser)
    return serve_command.options_from(parser.parse_args(argv), environ or {})


def test_defaults_match_the_spec() -> None:
    options = parse([])
    assert options == ServerOptions()
    assert (options.config, options.host, options.port) == ("config.toml", "127.0.0.1", 8080)
    assert (options.streaming_timeout_secs, options.first_chunk_timeout_secs) == (900, 30)
    assert (options.streaming_buffer_size, options.tool_result_max_length, options.shutdown_timeout_secs) == (
        400,
        100,
        30,
    )
    assert options.tool_result_mode is ToolResultMode.NONE
    assert not options.aura_custom_events
    assert not options.aura_emit_reasoning
    assert options.default_agent is None
    assert options.max_body_bytes == 2 * 1024 * 1024
    assert options.heartbeat_interval_secs == 15


def test_environment_is_read_and_the_flag_wins() -> None:
    environ = {
        "CONFIG_PATH": "configs/",
        "HOST": "0.0.0.0",
        "PORT": "3000",
        "TOOL_RESULT_MODE": "aura",
        "AURA_CUSTOM_EVENTS": "YES",
        "STREAMING_TIMEOUT_SECS": "0",
        "DEFAULT_AGENT": "devops",
    }
    options = parse(["--port", "4000", "--tool-result-mode", "open-web-ui"], environ)
    assert options.port == 4000
    assert options.tool_result_mode is ToolResultMode.OPEN_WEB_UI
    assert options.config == "configs/"
    assert options.host == "0.0.0.0"
    assert options.aura_custom_events is True
    assert options.streaming_timeout_secs == 0
    assert options.default_agent == "devops"


@pytest.mark.parametrize(
    ("word", "expected"), [("true", True), ("1", True), ("Yes", True), ("FALSE", False), ("0", False), ("no", False)]
)
def test_booleans(word: str, expected: bool) -> None:
    assert parse(["--aura-custom-events", word]).aura_custom_events is expected
    assert parse([], {"AURA_EMIT_REASONING": word}).aura_emit_reasoning is expected


def test_a_bare_boolean_flag_means_true() -> None:
    assert parse(["--aura-custom-events"]).aura_custom_events is True


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            ["--tool-result-mode", "passthrough"],
            {},
            "--tool-result-mode: invalid tool result mode 'passthrough'; allowed values: none, open-web-ui, aura",
        ),
        ([], {"TOOL_RESULT_MODE": "x"}, "TOOL_RESULT_MODE: invalid tool result mode 'x'"),
        (["--aura-custom-events", "maybe"], {}, "allowed values: true, 1, yes, false, 0, no"),
        (
            [],
            {"STREAMING_BUFFER_SIZE": "0"},
            "STREAMING_BUFFER_SIZE: invalid value '0': streaming_buffer_size must be >= 1",
        ),
        (["--port", "70000"], {}, "--port: invalid value '70000': port must be between 0 and 65535"),
        (["--first-chunk-timeout-secs", "-1"], {}, "--first-chunk-timeout-secs: invalid value '-1': first_chunk"),
        (
            ["--tool-result-max-length", "lots"],
            {},
            "--tool-result-max-length: invalid value 'lots'; expected an integer",
        ),
        (["--shutdown-timeout-secs", "inf"], {}, "expected a finite number of seconds"),
    ],
)
def test_bad_values_name_the_option_and_what_is_allowed(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(serve_command.OptionError) as caught:
        parse(argv, environ)
    assert message in str(caught.value)


def test_run_exits_2_on_a_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    serve_command.add_arguments(parser)
    assert serve_command.run(parser.parse_args(["--tool-result-mode", "bad"])) == 2
    assert "allowed values: none, open-web-ui, aura" in capsys.readouterr().err


def test_server_options_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="streaming_buffer_size must be >= 1"):
        ServerOptions(streaming_buffer_size=0)
    with pytest.raises(ValueError, match="allowed values: none, open-web-ui, aura"):
        ServerOptions(tool_result_mode="passthrough")
    with pytest.raises(ValueError, match="shutdown_timeout_secs must be >= 0"):
        ServerOptions(shutdown_timeout_secs=-1)


def test_reasoning_needs_custom_events() -> None:
    assert not ServerOptions(aura_emit_reasoning=True).emits_reasoning
    assert ServerOptions(aura_emit_reasoning=True, aura_custom_events=True).emits_reasoning

"""JSON logging: one object per line, correlation ids from the context, secrets masked everywhere."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from aura.adapters.telemetry.logging import (
    SecretMaskingFilter,
    configure_logging,
    current_log_context,
    log_context,
    mask_secrets,
    reset_log_context,
    secret_env_values,
    set_log_context,
)

OPENAI_KEY = "sk-proj-AbCdEf0123456789XyZ"
ENV = {
    "OPENAI_API_KEY": OPENAI_KEY,
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "HOME": "/root",
}

logger = logging.getLogger("aura.tests.telemetry")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Installs JSON logging into a buffer; restores the logging setup afterwards."""
    root = logging.getLogger()
    aura = logging.getLogger("aura")
    saved = (root.level, aura.level)
    stream = io.StringIO()
    handler = configure_logging("INFO", json=True, stream=stream, environ=ENV)
    yield stream
    root.removeHandler(handler)
    root.setLevel(saved[0])
    aura.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_event_is_one_json_line_with_ts_level_logger_and_message(output: io.StringIO) -> None:
    logger.info("tool %s finished in %d ms", "echo", 12)
    logger.warning("second\nline")

    first, second = lines(output)
    assert first["level"] == "INFO"
    assert first["logger"] == "aura.tests.telemetry"
    assert first["message"] == "tool echo finished in 12 ms"
    assert first["ts"].endswith("Z")
    assert first["ts"][:2] == "20"
    assert second["message"] == "second\nline"
    assert len(output.getvalue().splitlines()) == 2  # the newline stayed inside the JSON string


def test_ids_come_from_the_log_context_and_disappear_after_it(output: io.StringIO) -> None:
    with log_context(request_id="req_1", session_id="sess_1", agent_id="calc"):
        logger.info("inside")
    logger.info("outside")

    inside, outside = lines(output)
    assert (inside["request_id"], inside["session_id"], inside["agent_id"]) == ("req_1", "sess_1", "calc")
    assert not {"request_id", "session_id", "agent_id", "trace_id"} & set(outside)


def test_nested_contexts_add_ids_and_restore_the_outer_ones(output: io.StringIO) -> None:
    with log_context(request_id="req_1", session_id="sess_1"):
        with log_context(agent_id="calc", trace_id="0af7651916cd43dd8448eb211c80319c"):
            logger.info("inner")
        logger.info("outer")

    inner, outer = lines(output)
    assert inner["request_id"] == "req_1"
    assert inner["agent_id"] == "calc"
    assert inner["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "agent_id" not in outer


async def test_tasks_created_inside_a_request_keep_its_ids(output: io.StringIO) -> None:
    async def producer() -> None:
        await asyncio.sleep(0)
        logger.info("from the producer task")

    with log_context(request_id="req_7", session_id="sess_7", agent_id="calc"):
        task = asyncio.create_task(producer())
    with log_context(request_id="req_other"):
        await asyncio.wait_for(task, 5)

    [line] = lines(output)
    assert line["request_id"] == "req_7"


def test_the_setter_form_is_undone_by_its_token(output: io.StringIO) -> None:
    token = set_log_context(request_id="req_9")
    assert current_log_context().request_id == "req_9"
    logger.info("set")
    reset_log_context(token)
    assert current_log_context().request_id is None
    assert lines(output)[0]["request_id"] == "req_9"


def test_ids_given_as_extra_win_and_other_extras_are_fields(output: io.StringIO) -> None:
    with log_context(request_id="req_1"):
        logger.info("explicit", extra={"request_id": "req_override", "tool": "echo", "duration_ms": 5})
    [line] = lines(output)
    assert line["request_id"] == "req_override"
    assert line["tool"] == "echo"
    assert line["duration_ms"] == 5


def test_secrets_in_messages_and_arguments_are_masked(output: io.StringIO) -> None:
    logger.info("calling with Authorization: Bearer abcdef123456 and %s", {"api_key": "hunter2hunter2"})
    logger.info("key from env is %s", OPENAI_KEY)
    logger.info("aws secret %s", ENV["AWS_SECRET_ACCESS_KEY"])

    text = output.getvalue()
    for secret in ("abcdef123456", "hunter2hunter2", OPENAI_KEY, ENV["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in text
    first, second, third = lines(output)
    assert "Authorization: Bearer ***" in first["message"]
    assert "'api_key': '***'" in first["message"]
    assert second["message"] == "key from env is ***"
    assert third["message"] == "aws secret ***"


def test_secrets_in_tracebacks_and_extras_are_masked(output: io.StringIO) -> None:
    try:
        raise RuntimeError(f"provider refused key {OPENAI_KEY}")
    except RuntimeError:
        logger.exception("call failed", extra={"header": "Bearer zyxwvu987654"})

    [line] = lines(output)
    assert OPENAI_KEY not in json.dumps(line)
    assert "RuntimeError: provider refused key ***" in line["exception"]
    assert line["header"] == "Bearer ***"


def test_text_mode_appends_the_ids_and_masks_too() -> None:
    stream = io.StringIO()
    root, aura = logging.getLogger(), logging.getLogger("aura")
    saved = (root.level, aura.level)
    handler = configure_logging(logging.DEBUG, json=False, stream=stream, environ=ENV)
    try:
        with log_context(request_id="req_1", agent_id="calc"):
            logger.debug("using %s", OPENAI_KEY)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        aura.setLevel(saved[1])
    line = stream.getvalue().strip()
    assert line.endswith("DEBUG aura.tests.telemetry: using *** [request_id=req_1 agent_id=calc]")


def test_configuring_again_replaces_the_handler_instead_of_doubling_lines(output: io.StringIO) -> None:
    second = io.StringIO()
    handler = configure_logging("INFO", json=True, stream=second, environ=ENV)
    try:
        logger.info("once")
    finally:
        logging.getLogger().removeHandler(handler)
    assert output.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


def test_third_party_loggers_stay_at_warning_when_aura_logs_info(output: io.StringIO) -> None:
    logging.getLogger("some.sdk").info("chatty")
    logging.getLogger("some.sdk").warning("important")
    assert [line["message"] for line in lines(output)] == ["important"]


def test_an_unknown_level_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD", json=True, stream=io.StringIO())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc", "Authorization: Bearer ***"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', '{"authorization": "Basic ***"}'),
        ("header x-api-key=abc123secret&q=1", "header x-api-key=***&q=1"),
        ('"password": "pa55word!"', '"password": "***"'),
        ("token sk-ant-api03-abcdefghijklmnop rejected", "token sk-*** rejected"),
        ("aws AKIAIOSFODNN7EXAMPLE used", "aws *** used"),
        ("google AIzaSyA-1234567890abcdefghijklmnopqrstu", "google ***"),
        ("forwarded Bearer 0123456789abcdef", "forwarded Bearer ***"),
    ],
)
def test_mask_secrets_patterns(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "usage: prompt_tokens=12 completion_tokens=5 total_tokens=17",
        "max_tokens: 8192, tool_timeout_secs: 300",
        "session sess_abc123 request req_def456",
        "a basic question about skiing",
        "the bearer of bad news",
        "Basic auth is configured for the proxy",
    ],
)
def test_mask_secrets_leaves_ordinary_text_alone(text: str) -> None:
    assert mask_secrets(text) == text


def test_secret_env_values_pick_secret_names_and_skip_short_values() -> None:
    values = secret_env_values(
        {
            "OPENAI_API_KEY": OPENAI_KEY,
            "GITHUB_TOKEN": "ghp_shortish_but_long_enough",
            "DB_PASSWORD": "correct-horse",
            "MY_SERVICE_KEY": "abcdefgh1234",
            "AURA_CUSTOM_EVENTS": "true",
            "SOME_TOKEN_FLAG": "1",
            "PATH": "/usr/bin:/bin",
        }
    )
    assert set(values) == {OPENAI_KEY, "ghp_shortish_but_long_enough", "correct-horse", "abcdefgh1234"}


def test_the_masking_filter_survives_bad_format_arguments() -> None:
    record = logging.makeLogRecord({"msg": "two %s %s", "args": (OPENAI_KEY,), "levelno": logging.INFO})
    assert SecretMaskingFilter(environ={}).filter(record) is True
    assert OPENAI_KEY not in record.getMessage()

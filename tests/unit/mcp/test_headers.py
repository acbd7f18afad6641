"""Header resolution for HTTP MCP servers: static plus forwarded, case-insensitive, per request."""

from __future__ import annotations

import logging

import pytest

from aura.adapters.mcp.headers import header_set_key, resolve_headers, validate_header_config


def test_static_headers_alone_when_nothing_is_forwarded() -> None:
    assert resolve_headers({"X-Api-Key": "k"}, {}, {"authorization": "Bearer t"}) == {"X-Api-Key": "k"}


def test_forwarded_header_is_looked_up_case_insensitively_and_sent_under_its_configured_name() -> None:
    resolved = resolve_headers({}, {"Authorization": "X-User-Token"}, {"x-user-token": "Token abc"})

    assert resolved == {"Authorization": "Token abc"}


def test_forwarded_value_replaces_a_static_header_of_any_casing() -> None:
    resolved = resolve_headers(
        {"authorization": "Bearer service", "X-Other": "o"},
        {"Authorization": "authorization"},
        {"Authorization": "Bearer user"},
    )

    assert resolved == {"Authorization": "Bearer user", "X-Other": "o"}


def test_absent_incoming_header_keeps_the_static_value_and_adds_nothing() -> None:
    resolved = resolve_headers(
        {"Authorization": "Bearer service"}, {"Authorization": "authorization", "X-T": "x-t"}, {}
    )

    assert resolved == {"Authorization": "Bearer service"}


def test_values_are_forwarded_verbatim() -> None:
    for value in ("Bearer abc", "Token xyz", "ApiKey k=v; q", "  spaced  "):
        assert resolve_headers({}, {"Authorization": "a"}, {"a": value}) == {"Authorization": value}


def test_only_mapped_headers_are_forwarded() -> None:
    resolved = resolve_headers(
        {}, {"X-Tenant": "x-tenant"}, {"x-tenant": "acme", "cookie": "s=1", "authorization": "t"}
    )

    assert resolved == {"X-Tenant": "acme"}


def test_unsendable_incoming_value_is_skipped_with_a_warning_naming_the_header_not_the_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("aura.mcp.test")
    with caplog.at_level(logging.WARNING, logger="aura.mcp.test"):
        resolved = resolve_headers(
            {"Authorization": "static"}, {"Authorization": "a"}, {"a": "evil\r\nX: y"}, logger=logger
        )

    assert resolved == {"Authorization": "static"}
    assert "'a'" in caplog.text
    assert "evil" not in caplog.text


def test_header_set_key_ignores_name_casing_and_order() -> None:
    assert header_set_key({"A": "1", "b": "2"}) == header_set_key({"B": "2", "a": "1"})
    assert header_set_key({"A": "1"}) != header_set_key({"A": "2"})


@pytest.mark.parametrize(
    ("headers", "from_request", "expected"),
    [
        ({"Bad Name": "v"}, {}, "'Bad Name' is not a valid HTTP header name"),
        ({"X-Key": "line\nbreak"}, {}, "headers.X-Key: the value must be"),
        ({"X-Key": "a", "x-key": "b"}, {}, "'x-key' and 'X-Key' name the same header"),
        ({}, {"Out Going": "in"}, "'Out Going' is not a valid HTTP header name"),
        ({}, {"Authorization": "bad name"}, "headers_from_request.Authorization: 'bad name'"),
        ({}, {"A": "x", "a": "y"}, "'a' and 'A' name the same header"),
    ],
)
def test_config_validation_names_the_header(
    headers: dict[str, str], from_request: dict[str, str], expected: str
) -> None:
    with pytest.raises(ValueError, match=r"^Server: ") as raised:
        validate_header_config("Server", headers, from_request)

    assert expected in str(raised.value)


def test_config_validation_never_echoes_a_value() -> None:
    with pytest.raises(ValueError) as raised:
        validate_header_config("Server", {"Authorization": "Bearer s3cret\n"}, {})

    assert "s3cret" not in str(raised.value)

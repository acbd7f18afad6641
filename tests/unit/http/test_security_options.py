"""API keys, CORS origins and workers: validation in `ServerOptions`, parsing in `aura serve`, key checking."""

from __future__ import annotations

import argparse

import pytest

from aura.adapters.http.options import ServerOptions
from aura.adapters.http.security import ApiKeyVerifier, CorsPolicy, invalid_origin_reason
from aura.entrypoints import serve_command

KEY = "sk-aura-0123456789abcdef"
OTHER_KEY = "sk-aura-fedcba9876543210"


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ServerOptions:
    parser = argparse.ArgumentParser()
    serve_command.add_arguments(parser)
    return serve_command.options_from(parser.parse_args(argv), environ or {})


def test_auth_cors_and_workers_are_off_by_default() -> None:
    options = parse([])
    assert options.api_keys == ()
    assert not options.auth_enabled
    assert options.cors_allow_origins == ()
    assert options.workers == 1
    assert not options.reuse_port


def test_keys_come_from_the_environment_separated_by_commas() -> None:
    options = parse([], {"AURA_API_KEYS": f" {KEY} ,{OTHER_KEY},, "})
    assert options.api_keys == (KEY, OTHER_KEY)
    assert options.auth_enabled


def test_repeated_api_key_flags_win_over_the_environment() -> None:
    options = parse(["--api-key", KEY, "--api-key", OTHER_KEY], {"AURA_API_KEYS": "sk-ignored-key-000000"})
    assert options.api_keys == (KEY, OTHER_KEY)


def test_the_options_repr_never_shows_a_key() -> None:
    options = parse(["--api-key", KEY])
    assert KEY not in repr(options)
    assert KEY not in str(options)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AURA_API_KEYS": " , "}, "AURA_API_KEYS: no value given"),
        (
            {"AURA_API_KEYS": f"{KEY},bad key"},
            "AURA_API_KEYS: invalid value: api_keys[1] cannot be used as an API key: it contains whitespace",
        ),
        ({"AURA_API_KEYS": "clé-secrète-0123"}, "api_keys[0] cannot be used as an API key: it contains whitespace"),
    ],
)
def test_unusable_keys_are_refused_without_quoting_them(environ: dict[str, str], message: str) -> None:
    with pytest.raises(serve_command.OptionError) as caught:
        parse([], environ)
    assert message in str(caught.value)
    for key in environ["AURA_API_KEYS"].split(","):
        if key.strip():
            assert key.strip() not in str(caught.value)


def test_server_options_refuse_an_unusable_key_without_quoting_it() -> None:
    with pytest.raises(ValueError, match=r"api_keys\[1\] cannot be used as an API key: it is empty") as caught:
        ServerOptions(api_keys=(KEY, ""))
    assert KEY not in str(caught.value)


def test_cors_origins_are_parsed_and_checked() -> None:
    options = parse(["--cors-allow-origins", "https://chat.example.com, http://localhost:3000"])
    assert options.cors_allow_origins == ("https://chat.example.com", "http://localhost:3000")
    assert parse([], {"CORS_ALLOW_ORIGINS": "*"}).cors_allow_origins == ("*",)
    with pytest.raises(
        serve_command.OptionError, match=r"--cors-allow-origins: invalid value: .*'https://chat.example.com/'.*slash"
    ):
        parse(["--cors-allow-origins", "https://chat.example.com/"])


@pytest.mark.parametrize(
    ("origin", "valid"),
    [
        ("*", True),
        ("https://a.example", True),
        ("http://localhost:8080", True),
        ("https://a.example/path", False),
        ("a.example", False),
        ("", False),
        ("https://", False),
    ],
)
def test_origin_rules(origin: str, valid: bool) -> None:
    assert (invalid_origin_reason(origin) is None) is valid


def test_workers_need_a_fixed_port() -> None:
    assert parse(["--workers", "3"]).workers == 3
    assert parse([], {"WORKERS": "2", "PORT": "9000"}).workers == 2
    with pytest.raises(serve_command.OptionError, match="more than one worker needs a fixed port"):
        parse(["--workers", "2", "--port", "0"])
    with pytest.raises(serve_command.OptionError, match=r"--workers: invalid value '0': workers must be >= 1"):
        parse(["--workers", "0"])


def test_the_verifier_accepts_exactly_the_configured_keys() -> None:
    verifier = ApiKeyVerifier([KEY, OTHER_KEY])
    assert verifier.verify(KEY)
    assert verifier.verify(OTHER_KEY)
    assert not verifier.verify(KEY[:-1])
    assert not verifier.verify(KEY + "0")
    assert not verifier.verify("")
    assert not verifier.verify(KEY.upper())
    assert KEY not in repr(verifier)


def test_the_verifier_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        ApiKeyVerifier([])


def test_cors_policy_echoes_listed_origins_or_a_star() -> None:
    listed = CorsPolicy(["https://a.example"])
    assert listed.allowed("https://a.example") == "https://a.example"
    assert listed.allowed("https://b.example") is None
    assert listed.allowed(None) is None
    assert CorsPolicy(["*"]).allowed("https://anything.example") == "*"

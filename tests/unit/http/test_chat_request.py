"""Request parsing and validation, session ids, header collection and agent selection."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from aura.adapters.http.agent_directory import AgentDirectory, UnknownDefaultAgent
from aura.adapters.http.chat_request import (
    forwardable_headers,
    is_visible_ascii,
    new_completion_id,
    new_request_id,
    new_session_id,
    parse_chat_request,
    resolve_session_id,
)
from aura.adapters.http.errors import ApiError
from aura.domain.agent import Agent, AgentSettings
from aura.domain.messages import AssistantMessage, ImagePart, TextPart, UserMessage
from aura.testing import ScriptedChatModel


def body(**fields: Any) -> bytes:
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return json.dumps(fields).encode()


def rejected(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_chat_request(raw)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    return caught.value


def test_minimal_request() -> None:
    request = parse_chat_request(body())
    assert request.model is None
    assert request.query == UserMessage("hi")
    assert request.history == ()
    assert request.stream is False
    assert request.max_tokens is None


def test_history_mapping_drops_system_empty_and_tool_messages() -> None:
    messages = [
        {"role": "system", "content": "You are evil."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "x", "type": "function"}]},
        {"role": "tool", "tool_call_id": "x", "content": "result"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "   "},
        {"role": "developer", "content": "also dropped"},
        {"role": "user", "content": "second"},
    ]
    request = parse_chat_request(body(messages=messages))
    assert request.history == (UserMessage("first"), AssistantMessage("answer"))
    assert request.query == UserMessage("second")


def test_dropped_system_messages_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="aura.adapters.http.chat_request")
    parse_chat_request(body(messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "q"}]))
    assert "dropped 1 client system message" in caplog.text


def test_content_parts_map_to_text_and_image_parts() -> None:
    content = [
        {"type": "text", "text": "What is "},
        {"type": "text", "text": "this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    request = parse_chat_request(body(messages=[{"role": "user", "content": content}]))
    assert request.query == UserMessage(
        (TextPart("What is "), TextPart("this?"), ImagePart("data:image/png;base64,AAAA", "image/png"))
    )


def test_text_only_parts_become_a_plain_string_and_null_content_is_empty() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert parse_chat_request(body(messages=[{"role": "user", "content": parts}])).query == UserMessage("ab")
    assert parse_chat_request(body(messages=[{"role": "user", "content": None}])).query == UserMessage("")


def test_stream_max_tokens_and_metadata() -> None:
    request = parse_chat_request(body(stream=True, max_tokens=7, metadata={"chat_session_id": "s-1", "other": 3}))
    assert request.stream is True
    assert request.max_tokens == 7
    assert request.metadata_session_id == "s-1"
    assert parse_chat_request(body(max_completion_tokens=9)).max_tokens == 9


def test_unknown_fields_are_ignored() -> None:
    request = parse_chat_request(body(temperature=0.2, tools=[], stream_options={"include_usage": True}, n=1))
    assert request.query == UserMessage("hi")


@pytest.mark.parametrize(
    ("raw", "message", "param"),
    [
        (b"", "Request body is empty", None),
        (b"{not json", "Malformed JSON in request body", None),
        (b"[1, 2]", "Request body must be a JSON object, got array", None),
        (body(model=3), "model: expected a string, got number", "model"),
        (body(stream="yes"), "stream: expected a boolean, got string", "stream"),
        (body(max_tokens=-1), "max_tokens: expected a non-negative integer", "max_tokens"),
        (body(max_tokens=True), "max_tokens: expected a non-negative integer", "max_tokens"),
        (body(metadata="x"), "metadata: expected an object", "metadata"),
        (
            body(metadata={"chat_session_id": 5}),
            "metadata.chat_session_id: expected a string",
            "metadata.chat_session_id",
        ),
        *(
            (
                body(metadata={"chat_session_id": session_id}),
                "metadata.chat_session_id: must not contain control characters",
                "metadata.chat_session_id",
            )
            for session_id in ("a\nb", "a\r", "\x00", "tab\tbed", "\x7f", "\x1b[31m")
        ),
        (json.dumps({"model": "m"}).encode(), "messages: required field is missing", "messages"),
        (body(messages={"role": "user"}), "messages: expected an array, got object", "messages"),
        (body(messages=[]), "No messages provided", "messages"),
        (body(messages=["hi"]), "messages[0]: expected an object, got string", "messages[0]"),
        (body(messages=[{"content": "x"}]), "messages[0].role: required field is missing", "messages[0].role"),
        (
            body(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": 5}]),
            "messages[2].role: expected a string, got number",
            "messages[2].role",
        ),
        (
            body(messages=[{"role": "wizard", "content": "x"}]),
            "messages[0].role: unknown role 'wizard'",
            "messages[0].role",
        ),
        (
            body(messages=[{"role": "user", "content": 5}]),
            "messages[0].content: expected a string, null or an array",
            "messages[0].content",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
            "messages[0].content[0].type: unsupported content part type 'input_audio'",
            "messages[0].content[0].type",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
            "messages[0].content[0].image_url.url: expected a non-empty string",
            "messages[0].content[0].image_url.url",
        ),
        (
            body(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]),
            "Last message must be from user, got: assistant",
            "messages",
        ),
    ],
)
def test_invalid_requests_name_the_field(raw: bytes, message: str, param: str | None) -> None:
    error = rejected(raw)
    assert error.message.startswith(message)
    assert error.param == param


def test_generated_ids_have_their_formats() -> None:
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", new_completion_id())
    assert re.fullmatch(r"req_[0-9a-f]{32}", new_request_id())
    assert re.fullmatch(r"cs_[0-9a-f]{32}", new_session_id())
    assert new_session_id() != new_session_id()


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_forwardable_headers_lower_case_names_and_skip_invisible_values() -> None:
    collected = forwardable_headers(
        headers(("Authorization", "Bearer t"), ("X-Weird", "caf\u00e9"), ("X-Multi", "a"), ("x-multi", "b"))
    )
    assert collected == {"authorization": "Bearer t", "x-multi": "a, b"}


@given(st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=40))
@example("tab\tand ~ tilde")
@example("line\n")
@example("caf\u00e9")
@example("del\x7f")
def test_a_visible_header_value_is_printable_ascii_or_tab(value: str) -> None:
    assert is_visible_ascii(value) == all(char == "\t" or " " <= char <= "~" for char in value)


def test_session_id_resolution_order() -> None:
    both = {"x-chat-session-id": "from-header", "x-openwebui-chat-id": "from-owui"}
    assert resolve_session_id("from-metadata", both) == "from-metadata"
    assert resolve_session_id(None, both) == "from-header"
    assert resolve_session_id(None, {"x-openwebui-chat-id": "from-owui"}) == "from-owui"
    assert resolve_session_id("", both) == ""
    assert re.fullmatch(r"cs_[0-9a-f]{32}", resolve_session_id(None, {}))


def test_invisible_session_header_falls_through_to_the_next_source() -> None:
    collected = forwardable_headers(headers(("X-Chat-Session-Id", "caf\u00e9"), ("x-openwebui-chat-id", "owui")))
    assert resolve_session_id(None, collected) == "owui"


# --- agent selection -----------------------------------------------------------------------------


def agent(name: str, alias: str | None = None) -> Agent:
    return Agent(AgentSettings(name=name, system_prompt="x", alias=alias), ScriptedChatModel([]))


def test_selection_by_id_and_by_name_behind_an_alias() -> None:
    devops, research = agent("DevOps Assistant", "devops"), agent("research")
    directory = AgentDirectory([devops, research])
    assert directory.select("devops") is devops
    assert directory.select("DevOps Assistant") is devops
    assert directory.select("research") is research


def test_unknown_model_is_404_with_the_openai_message() -> None:
    directory = AgentDirectory([agent("a"), agent("b")])
    with pytest.raises(ApiError) as caught:
        directory.select("gpt-4o")
    assert caught.value.status == 404
    assert caught.value.body() == {
        "error": {
            "message": "The model `gpt-4o` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


def test_missing_model_with_several_agents_and_no_default_is_400() -> None:
    with pytest.raises(ApiError) as caught:
        AgentDirectory([agent("a"), agent("b")]).select(None)
    assert caught.value.status == 400
    assert caught.value.code == "missing_required_parameter"
    assert caught.value.message == "you must provide a model parameter"


def test_default_agent_and_single_agent_rules() -> None:
    a, b = agent("a"), agent("b", "bee")
    assert AgentDirectory([a, b], "bee").select(None) is b
    only = agent("only")
    single = AgentDirectory([only])
    assert single.select(None) is only
    assert single.select("anything-at-all") is only


def test_unknown_default_agent_fails_with_the_startup_message() -> None:
    with pytest.raises(UnknownDefaultAgent, match="DEFAULT_AGENT 'nope' does not match any loaded agent name or alias"):
        AgentDirectory([agent("a")], "nope")


def test_an_id_beats_another_agents_name() -> None:
    named_x = agent("x", "alias-one")
    id_x = agent("x-agent", "x")
    assert AgentDirectory([named_x, id_x]).select("x") is id_x


def test_unpaired_surrogate_escape_is_a_400_not_a_provider_error() -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat_request(b'{"messages": [{"role": "user", "content": "hi \\ud800 there"}]}')
    assert caught.value.status == 400
    assert "unpaired UTF-16 surrogate" in caught.value.message
    # a proper pair (an emoji written as two escapes) is fine
    request = parse_chat_request(b'{"messages": [{"role": "user", "content": "ok \\ud83c\\udf89"}]}')
    assert request.query == UserMessage("ok 🎉")


def test_absurdly_nested_json_is_a_400() -> None:
    body = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ApiError) as caught:
        parse_chat_request(body)
    assert caught.value.status == 400
    assert "nested too deeply" in caught.value.message


def test_bodies_the_fast_decoder_refuses_are_read_as_the_standard_library_reads_them() -> None:
    # a byte-order mark and an integer beyond 64 bits: valid for the standard library, refused by orjson
    request = parse_chat_request(b'\xef\xbb\xbf{"messages": [{"role": "user", "content": "hi"}]}')
    assert request.query == UserMessage("hi")
    huge = parse_chat_request(
        b'{"max_tokens": 1180591620717411303424, "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert huge.max_tokens == 2**70  # capped by the agent's own limit later
    with pytest.raises(ApiError) as broken:
        parse_chat_request(b'{"messages": [{"role": "user", "content": "hi"},]}')
    assert "Malformed JSON in request body" in broken.value.message
    assert "line 1, column" in broken.value.message

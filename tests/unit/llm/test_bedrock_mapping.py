"""BedrockChatModel: Converse request mapping, event-stream framing and stream edge cases.

Wire tests run the real aioboto3 client against a loopback fake that writes AWS event-stream bytes.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from aura.adapters.llm.bedrock import BedrockChatModel, converse_messages, converse_params
from aura.domain.errors import ProviderError, ProviderErrorKind
from aura.domain.events import FinishReason, ModelFinished, TextDelta, ToolCallReady, UsageReported
from aura.domain.messages import (
    AssistantMessage,
    ImagePart,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from aura.domain.tools import ToolSpec
from aura.domain.usage import Usage
from aura.ports.chat_model import ChatRequest, GenerationSettings
from tests.contract.harnesses.bedrock import DUMMY_AWS_ENV, MODEL_ID, SECRET_ACCESS_KEY, BedrockHarness
from tests.contract.scenario import Response, Scenario, StreamedToolCall
from tests.contract.wire import eventstream
from tests.contract.wire.raw_server import RawReply, RawReplyServer
from tests.unit.llm.helpers import FAST, HELLO, collect, collect_until_error

PNG_BYTES = b"\x89PNG\r\n\x1a\nfake"
NESTED_SCHEMA = {
    "type": "object",
    "properties": {
        "filter": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "values": {"type": "array", "items": {"type": "string"}}},
            "required": ["field", "values"],
            "additionalProperties": False,
        },
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["filter", "limit"],
    "additionalProperties": False,
}
EVENT_STREAM = "application/vnd.amazon.eventstream"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in DUMMY_AWS_ENV.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


@pytest.fixture
async def raw(aws_env: None) -> AsyncIterator[RawReplyServer]:
    server = RawReplyServer(["/model/{model_id}/converse-stream"])
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def harness() -> AsyncIterator[BedrockHarness]:
    built = BedrockHarness()
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


def model_for(base_url: str, **kwargs: object) -> BedrockChatModel:
    return BedrockChatModel(MODEL_ID, "us-east-1", endpoint_url=base_url, request_timeout=10.0, retry=FAST, **kwargs)  # type: ignore[arg-type]


def frames(*messages: bytes) -> RawReply:
    return RawReply(messages, content_type=EVENT_STREAM)


# --- pure mapping -------------------------------------------------------------------------------


def test_params_carry_system_inference_config_and_tool_schemas_verbatim() -> None:
    request = ChatRequest(
        (SystemMessage("Be terse."), SystemMessage("  "), SystemMessage("Cluster: prod."), UserMessage("hi")),
        (ToolSpec("search", "Search things", NESTED_SCHEMA), ToolSpec("ping", "")),
        GenerationSettings(temperature=0.3, max_tokens=512, reasoning_effort="high"),
    )
    params = converse_params(MODEL_ID, request)
    assert params["modelId"] == MODEL_ID
    assert params["system"] == [{"text": "Be terse."}, {"text": "Cluster: prod."}]
    assert params["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.3}
    search, ping = params["toolConfig"]["tools"]
    assert search == {
        "toolSpec": {"name": "search", "description": "Search things", "inputSchema": {"json": NESTED_SCHEMA}}
    }
    assert "description" not in ping["toolSpec"], "Converse rejects an empty description"


def test_unset_settings_and_no_tools_leave_the_optional_blocks_out() -> None:
    params = converse_params(MODEL_ID, HELLO)
    assert set(params) == {"modelId", "messages"}


def test_tool_results_ride_in_one_user_turn_so_roles_alternate() -> None:
    messages = converse_messages(
        (
            SystemMessage("sys"),
            UserMessage("Weather in Oslo and Rome?"),
            AssistantMessage(
                "Checking.",
                (
                    ToolCall("tu_1", "get_weather", '{"city": "Oslo"}'),
                    ToolCall("tu_2", "get_weather", '{"city":"Rome"}'),
                ),
            ),
            ToolResultMessage("tu_1", "get_weather", "cold"),
            ToolResultMessage("tu_2", "get_weather", "backend down", is_error=True),
            UserMessage("Thanks, and Paris?"),
        )
    )
    assert [message["role"] for message in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "tu_1", "name": "get_weather", "input": {"city": "Oslo"}}},
        {"toolUse": {"toolUseId": "tu_2", "name": "get_weather", "input": {"city": "Rome"}}},
    ]
    assert messages[2]["content"] == [
        {"toolResult": {"toolUseId": "tu_1", "content": [{"text": "cold"}], "status": "success"}},
        {"toolResult": {"toolUseId": "tu_2", "content": [{"text": "backend down"}], "status": "error"}},
        {"text": "Thanks, and Paris?"},
    ]


def test_blank_blocks_are_dropped_and_unparseable_arguments_become_an_empty_object() -> None:
    messages = converse_messages(
        (
            UserMessage("q"),
            AssistantMessage("", (ToolCall("tu_1", "ping", "not json"), ToolCall("tu_2", "ping", ""))),
            ToolResultMessage("tu_1", "ping", ""),
            AssistantMessage("   "),
        )
    )
    assert messages[1]["content"] == [
        {"toolUse": {"toolUseId": "tu_1", "name": "ping", "input": {}}},
        {"toolUse": {"toolUseId": "tu_2", "name": "ping", "input": {}}},
    ]
    assert messages[2]["content"][0]["toolResult"]["content"] == [{"text": "(no output)"}]
    assert len(messages) == 3, "an assistant turn with only whitespace is not sent"


def test_data_url_images_become_bytes_and_remote_urls_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
    [message] = converse_messages(
        (UserMessage((TextPart("What is this?"), ImagePart(data_url), ImagePart("https://example.com/cat.png"))),)
    )
    assert message["content"] == [
        {"text": "What is this?"},
        {"image": {"format": "png", "source": {"bytes": PNG_BYTES}}},
    ]
    assert "image skipped" in caplog.text


# --- event-stream framing -----------------------------------------------------------------------


def test_encoded_frames_parse_with_botocore_and_a_bad_crc_is_rejected() -> None:
    good = eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hé"}})
    parser = EventStreamBuffer()
    parser.add_data(good + eventstream.exception("throttlingException", "slow down"))
    first, second = list(parser)
    assert first.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(first.payload) == {"contentBlockIndex": 0, "delta": {"text": "hé"}}
    assert second.headers[":exception-type"] == "throttlingException"

    broken = EventStreamBuffer()
    broken.add_data(eventstream.corrupt(good))
    with pytest.raises(ChecksumMismatch):
        list(broken)


# --- against the fake ---------------------------------------------------------------------------


async def test_request_on_the_wire_is_signed_and_carries_images_as_base64(harness: BedrockHarness) -> None:
    data_url = "data:image/jpeg;base64," + base64.b64encode(PNG_BYTES).decode()
    harness.load(Scenario((Response(text_chunks=("ok",)),)))
    request = ChatRequest(
        (UserMessage((TextPart("look"), ImagePart(data_url))),), (ToolSpec("search", "s", NESTED_SCHEMA),)
    )
    await collect(harness.make_model(), request)
    [received] = harness.server.recorded
    assert received.path == f"/model/{MODEL_ID}/converse-stream"
    assert received.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKE")
    assert SECRET_ACCESS_KEY not in json.dumps(dict(received.headers))
    content = received.body["messages"][0]["content"]  # type: ignore[index]
    assert content[1] == {"image": {"format": "jpeg", "source": {"bytes": base64.b64encode(PNG_BYTES).decode()}}}
    assert received.body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"] == NESTED_SCHEMA  # type: ignore[index]


async def test_tool_call_keeps_the_provider_id_and_assembles_input_fragments(harness: BedrockHarness) -> None:
    call = StreamedToolCall(
        "tooluse_Ab12", "search", ('{"filter": {"field": "x", ', '"values": ["a"]}, "limit": null}')
    )
    harness.load(
        Scenario((Response(text_chunks=("Let me look.",), tool_calls=(call,), prompt_tokens=9, completion_tokens=4),))
    )
    events = await collect(harness.make_model())
    assert events == [
        TextDelta("Let me look."),
        ToolCallReady(ToolCall("tooluse_Ab12", "search", '{"filter": {"field": "x", "values": ["a"]}, "limit": null}')),
        UsageReported(Usage(9, 4, 13)),
        ModelFinished(FinishReason.TOOL_CALLS),
    ]


async def test_max_tokens_stop_reason_is_a_length_finish(raw: RawReplyServer) -> None:
    raw.queue(
        frames(
            eventstream.event("messageStart", {"role": "assistant"}),
            eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Once upon"}}),
            eventstream.event("contentBlockStop", {"contentBlockIndex": 0}),
            eventstream.event("messageStop", {"stopReason": "max_tokens"}),
        )
    )
    events = await collect(model_for(raw.base_url))
    assert events == [TextDelta("Once upon"), ModelFinished(FinishReason.LENGTH)]


async def test_a_tool_block_the_stream_never_closes_is_still_delivered(raw: RawReplyServer) -> None:
    raw.queue(
        frames(
            eventstream.event("messageStart", {"role": "assistant"}),
            eventstream.event(
                "contentBlockStart",
                {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tu_9", "name": "ping"}}},
            ),
            eventstream.event("messageStop", {"stopReason": "tool_use"}),
        )
    )
    events = await collect(model_for(raw.base_url))
    assert events == [ToolCallReady(ToolCall("tu_9", "ping", "{}")), ModelFinished(FinishReason.TOOL_CALLS)]


async def test_a_stream_cut_before_message_stop_is_an_error_after_the_text(raw: RawReplyServer) -> None:
    raw.queue(
        frames(
            eventstream.event("messageStart", {"role": "assistant"}),
            eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "half"}}),
        )
    )
    model = model_for(raw.base_url)
    seen, error = await collect_until_error(model)
    assert seen == [TextDelta("half")]
    assert error.kind is ProviderErrorKind.CONNECTION
    assert "messageStop" in error.message
    assert len(raw.recorded) == 1


@pytest.mark.parametrize(
    ("exception_type", "message", "kind"),
    [
        ("throttlingException", "Too many requests", ProviderErrorKind.RATE_LIMITED),
        ("internalServerException", "Internal error", ProviderErrorKind.SERVER_ERROR),
        ("serviceUnavailableException", "Try again", ProviderErrorKind.SERVER_ERROR),
        ("modelStreamErrorException", "The model stream failed", ProviderErrorKind.SERVER_ERROR),
        ("validationException", "Malformed input request", ProviderErrorKind.BAD_REQUEST),
        ("validationException", "Input is too long for requested model.", ProviderErrorKind.CONTEXT_OVERFLOW),
    ],
)
async def test_an_exception_event_after_text_ends_the_stream_with_its_kind(
    raw: RawReplyServer, exception_type: str, message: str, kind: ProviderErrorKind
) -> None:
    raw.queue(
        frames(
            eventstream.event("messageStart", {"role": "assistant"}),
            eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}),
            eventstream.exception(exception_type, message),
        )
    )
    seen, error = await collect_until_error(model_for(raw.base_url))
    assert seen == [TextDelta("partial")]
    assert error.kind is kind
    assert message in error.message
    assert len(raw.recorded) == 1, "text was already delivered, so no retry"


async def test_throttling_inside_the_stream_before_any_content_is_retried(raw: RawReplyServer) -> None:
    raw.queue(
        frames(
            eventstream.event("messageStart", {"role": "assistant"}),
            eventstream.exception("throttlingException", "Too many tokens, please wait before trying again."),
        ),
        frames(
            eventstream.event("messageStart", {"role": "assistant"}),
            eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "ok"}}),
            eventstream.event("messageStop", {"stopReason": "end_turn"}),
        ),
    )
    events = await collect(model_for(raw.base_url))
    assert events == [TextDelta("ok"), ModelFinished(FinishReason.STOP)]
    assert len(raw.recorded) == 2


async def test_validation_error_about_input_length_is_a_context_overflow(raw: RawReplyServer) -> None:
    raw.queue(
        RawReply(
            (json.dumps({"message": "Input is too long for requested model."}).encode(),),
            status=400,
            headers=(("x-amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),),
        )
    )
    with pytest.raises(ProviderError) as raised:
        await collect(model_for(raw.base_url))
    assert raised.value.kind is ProviderErrorKind.CONTEXT_OVERFLOW
    assert raised.value.status_code == 400
    assert len(raw.recorded) == 1


async def test_missing_credentials_are_a_clear_authentication_error(
    raw: RawReplyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The aws_env fixture already removed every network-backed provider (IMDS, container, web identity)
    # and points the shared files at /dev/null, so the chain finds nothing without leaving the process.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ProviderError) as raised:
        await collect(model_for(raw.base_url))
    assert raised.value.kind is ProviderErrorKind.AUTHENTICATION
    assert "credentials" in raised.value.message
    assert raw.recorded == [], "nothing is sent unsigned"


async def test_an_unknown_profile_is_an_authentication_error_naming_it(raw: RawReplyServer) -> None:
    assert os.environ["AWS_CONFIG_FILE"] == os.devnull
    with pytest.raises(ProviderError) as raised:
        await collect(model_for(raw.base_url, profile="no-such-profile"))
    assert raised.value.kind is ProviderErrorKind.AUTHENTICATION
    assert "no-such-profile" in raised.value.message


def test_constructor_rejects_an_empty_model_id() -> None:
    with pytest.raises(ValueError, match="model"):
        BedrockChatModel("", "us-east-1")

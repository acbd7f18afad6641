"""The size limits of MCP results: the legacy SSE reader's per-event bound and the cap on what the model sees."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from mcp import types

from aura.adapters.mcp.results import cap_text, convert_call_result
from aura.adapters.mcp.sse import BoundedSseReader, SkippedEvent, SseEvent


def frames(*events: bytes) -> bytes:
    return b"".join(events)


def test_events_are_read_across_pieces_and_line_endings() -> None:
    reader = BoundedSseReader(1024)
    stream = b'event: endpoint\r\ndata: /messages?s=1\r\n\r\n: ping\n\ndata: {"a":\ndata: 1}\n\n'
    events = [event for i in range(len(stream)) for event in reader.feed(stream[i : i + 1])]
    assert events == [SseEvent("endpoint", b"/messages?s=1"), SseEvent("message", b'{"a":\n1}')]


def test_an_event_over_the_limit_is_skipped_with_its_request_id_and_reading_goes_on() -> None:
    reader = BoundedSseReader(1000)
    big = json.dumps({"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "x" * 50_000}]}})
    stream = frames(b"event: message\ndata: " + big.encode() + b"\n\n", b'data: {"jsonrpc":"2.0","id":8}\n\n')
    events = [event for start in range(0, len(stream), 4096) for event in reader.feed(stream[start : start + 4096])]
    skipped, after = events
    assert isinstance(skipped, SkippedEvent)
    assert skipped.size >= 50_000
    assert skipped.request_id() == 7
    assert len(skipped.head) + len(skipped.tail) < 2000  # nothing of the bulk was kept
    assert after == SseEvent("message", b'{"jsonrpc":"2.0","id":8}')


def test_the_request_id_is_also_found_at_the_end_of_a_skipped_message() -> None:
    reader = BoundedSseReader(100)
    big = '{"result":{"content":[{"type":"text","text":"' + "y" * 5000 + '"}]},"jsonrpc":"2.0","id":"req-9"}'
    [skipped] = reader.feed(b"data: " + big.encode() + b"\n\n")
    assert isinstance(skipped, SkippedEvent)
    assert skipped.request_id() == "req-9"


def test_a_skipped_message_without_a_visible_id_has_none() -> None:
    [skipped] = BoundedSseReader(10).feed(b"data: " + b"z" * 100 + b"\n\n")
    assert isinstance(skipped, SkippedEvent)
    assert skipped.request_id() is None


@given(st.text(min_size=0, max_size=300), st.integers(min_value=1, max_value=400))
def test_cap_text_keeps_whole_characters_within_the_limit(text: str, limit: int) -> None:
    capped, cut = cap_text(text, limit)
    if len(text.encode("utf-8", "surrogatepass")) <= limit:
        assert (capped, cut) == (text, False)
    else:
        assert cut
        kept = capped.partition("\n\n[Result cut:")[0]
        assert text.startswith(kept)
        assert len(kept.encode("utf-8", "surrogatepass")) <= limit


def test_a_result_over_the_cap_is_cut_with_a_note_naming_the_server() -> None:
    result = types.CallToolResult(content=[types.TextContent(type="text", text="é" * 1000)])
    converted = convert_call_result(result, 101, "docs")
    kept, _, note = converted.content.partition("\n\n[Result cut:")
    assert kept == "é" * 50  # 100 bytes: the 51st character would need bytes 101-102
    assert "the tool returned 2,000 bytes; only the first 101 are shown" in note
    assert "max_result_bytes of MCP server 'docs'" in note
    assert not converted.is_error

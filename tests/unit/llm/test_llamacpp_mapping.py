"""How the llama.cpp adapter renders the conversation for each tool-calling style (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.adapters.llm.llamacpp import _as_chunk, _render, resolve_model_path, tool_instructions
from aura.domain.errors import ProviderError
from aura.domain.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage
from aura.domain.tools import ToolSpec

CALL = ToolCall("call_1", "disk_usage", '{"path": "/"}')
ASSISTANT = AssistantMessage("Checking.", (CALL,))
RESULT = ToolResultMessage("call_1", "disk_usage", '{"used_percent": 93}')


def test_native_style_keeps_openai_tool_structure() -> None:
    assert _render(ASSISTANT, "native") == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "disk_usage", "arguments": '{"path": "/"}'}}
        ],
    }
    assert _render(RESULT, "native") == {"role": "tool", "tool_call_id": "call_1", "content": '{"used_percent": 93}'}


def test_tags_style_writes_calls_in_the_format_the_fallback_parser_reads() -> None:
    rendered = _render(ASSISTANT, "tags")
    assert rendered["content"] == 'Checking. <tool_call>{"name": "disk_usage", "arguments": {"path": "/"}}</tool_call>'
    assert _render(RESULT, "tags") == {"role": "user", "content": 'The tool disk_usage returned: {"used_percent": 93}'}


def test_prose_style_has_no_markup_and_reports_failures() -> None:
    assert "<tool_call>" not in _render(ASSISTANT, "prose")["content"]
    assert "disk_usage" in _render(ASSISTANT, "prose")["content"]
    failed = ToolResultMessage("call_1", "disk_usage", "permission denied", is_error=True)
    assert _render(failed, "prose")["content"] == "The tool disk_usage failed: permission denied"
    assert _render(UserMessage("hi"), "prose") == {"role": "user", "content": "hi"}


def test_tool_instructions_name_every_tool_and_show_the_format() -> None:
    tools = (ToolSpec("disk_usage", "Disk usage", {"type": "object", "properties": {"path": {"type": "string"}}}),)
    text = tool_instructions(tools)
    assert "- disk_usage: Disk usage" in text
    assert '<tool_call>{"name": "disk_usage", "arguments": {}}</tool_call>' in text


def test_a_whole_completion_becomes_one_chunk_with_indexed_tool_calls() -> None:
    response = {
        "choices": [
            {
                "message": {"content": None, "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": "{}"}}]},
                "finish_reason": "tool_calls",
            }
        ]
    }
    chunk = _as_chunk(response)
    delta = chunk["choices"][0]["delta"]
    assert delta["tool_calls"] == [{"index": 0, "id": "x", "function": {"name": "f", "arguments": "{}"}}]
    assert chunk["choices"][0]["finish_reason"] == "tool_calls"


def test_model_path_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="does not exist"):
        resolve_model_path(None, str(tmp_path / "missing.gguf"))
    with pytest.raises(ProviderError, match="unknown bundled model 'gpt-9'"):
        resolve_model_path("gpt-9", None)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(None, str(gguf)) == gguf

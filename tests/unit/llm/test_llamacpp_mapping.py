"""What the llama.cpp adapter lets the model read: rendering, template, grammar (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aura.adapters.llm.llamacpp import (
    CHATML_TEMPLATE,
    ChatTemplate,
    decision_grammar,
    native_tool_instructions,
    render_messages,
    resolve_model_path,
    short_description,
    tool_instructions,
)
from aura.domain.errors import ProviderError
from aura.domain.messages import AssistantMessage, SystemMessage, ToolCall, ToolResultMessage, UserMessage
from aura.domain.tools import ToolSpec

CALL = ToolCall("call_1", "disk_usage", '{"path": "/"}')
ASSISTANT = AssistantMessage("Checking.", (CALL,))
RESULT = ToolResultMessage("call_1", "disk_usage", '{"used_percent": 93, "note": "<b>&\'"}')
DISK = ToolSpec(
    "disk_usage",
    'Total, used and free space of the filesystem holding `path`, in GiB and "percent" used. Reads statvfs.',
    {"type": "object", "properties": {"path": {"type": "string"}}},
)
TOP = ToolSpec(
    "top_processes",
    "The busiest processes.",
    {"type": "object", "properties": {"limit": {"type": "integer"}, "sort_by": {"enum": ["cpu", "memory"]}}},
)


def test_native_style_writes_calls_as_the_grammar_format_and_results_as_user_turns() -> None:
    chat = render_messages((SystemMessage("Be brief."), UserMessage("disk?"), ASSISTANT, RESULT), (DISK,), "native")
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
    assert chat[0]["content"].startswith("Be brief.\n\nTools you can call:\n- disk_usage(path: string): ")
    assert chat[2]["content"] == 'Checking.\nfunctions.disk_usage:\n{"path": "/"}'
    assert chat[3]["content"] == (
        'Result of disk_usage: {"used_percent": 93, "note": "<b>&\'"}\n\n'
        'Answer "disk?" in one or two sentences, quoting the figures above.'
    )


def test_tags_style_writes_calls_in_the_format_the_fallback_parser_reads() -> None:
    chat = render_messages((UserMessage("disk?"), ASSISTANT), (DISK,), "tags")
    assert chat[0]["role"] == "system"  # instructions without a system prompt of the agent's own
    assert '<tool_call>{"name": "disk_usage", "arguments": {}}</tool_call>' in chat[0]["content"]
    assert chat[2]["content"] == 'Checking.\n<tool_call>{"name": "disk_usage", "arguments": {"path": "/"}}</tool_call>'


def test_failed_results_say_so_and_consecutive_turns_of_one_role_merge() -> None:
    failed = ToolResultMessage("call_2", "top_processes", "permission denied", is_error=True)
    chat = render_messages((UserMessage("q"), ASSISTANT, RESULT, failed), (), "native")
    assert chat[-1] == {
        "role": "user",
        "content": f"Result of disk_usage: {RESULT.content}\n\nThe tool top_processes failed: permission denied"
        '\n\nAnswer "q" in one or two sentences, quoting the figures above.',
    }


def test_nothing_is_html_escaped_in_the_rendered_prompt() -> None:
    template = ChatTemplate(CHATML_TEMPLATE, eos_token="<|im_end|>")
    chat = render_messages(
        (SystemMessage('Say "hi" & <wave>'), UserMessage("q"), ASSISTANT, RESULT), (DISK, TOP), "native"
    )
    prompt = template.render(chat)
    for escaped in ("&#34;", "&quot;", "&amp;", "&lt;", "&#39;"):
        assert escaped not in prompt
    assert 'Say "hi" & <wave>' in prompt
    assert '{"path": "/"}' in prompt
    assert '"cpu" | "memory"' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert template.stop == ("<|im_end|>",)


def test_a_models_own_template_is_used_with_tojson_and_no_escaping() -> None:
    template = ChatTemplate(
        "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content | tojson }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}",
        bos_token="<s>",
        eos_token="</s>",
    )
    content = 'a "b" <c>'
    prompt = template.render([{"role": "user", "content": content}])
    assert prompt == "<s>[user] " + json.dumps(content) + "\n[assistant]"
    assert template.stop == ("</s>",)


def test_long_descriptions_are_cut_to_their_first_sentence() -> None:
    assert short_description("Short one.") == "Short one."
    long = "First sentence here. " + "More words " * 30
    assert short_description(long) == "First sentence here."
    assert len(short_description("x" * 500)) <= 160


def test_instructions_list_every_tool_with_its_arguments() -> None:
    native = native_tool_instructions((DISK, TOP))
    assert '- top_processes(limit: integer, sort_by: "cpu" | "memory"): The busiest processes.' in native
    assert "functions.<tool name>:" in native
    fallback = tool_instructions((DISK,))
    assert "- disk_usage(path: string): " in fallback
    assert '<tool_call>{"name": "disk_usage", "arguments": {}}</tool_call>' in fallback


def test_decision_grammar_offers_a_message_or_exactly_the_tools() -> None:
    assert decision_grammar(["disk_usage", 'we"ird']) == (
        'root ::= "message:" | "functions.disk_usage:" | "functions.we\\"ird:"\n'
    )
    assert decision_grammar(["disk_usage", "load_average"], message=False) == (
        'root ::= "functions.disk_usage:" | "functions.load_average:"\n'
    )


def test_model_path_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="does not exist"):
        resolve_model_path(None, str(tmp_path / "missing.gguf"))
    with pytest.raises(ProviderError, match="unknown bundled model 'gpt-9'"):
        resolve_model_path("gpt-9", None)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(None, str(gguf)) == gguf


def test_likely_tools_keeps_the_tools_that_share_words_with_the_question() -> None:
    from aura.adapters.llm.llamacpp import likely_tools

    uptime = ToolSpec("host_uptime", "Seconds since boot, to correlate incidents with restarts.", {"type": "object"})
    tools = (DISK, TOP, uptime)
    assert likely_tools("Is /var running out of disk space?", tools, 2) == [DISK]
    assert likely_tools("Did the server restart recently?", tools, 2) == [uptime]
    assert likely_tools("Hello there", tools, 2) == list(tools)  # nothing in common: every tool
    assert likely_tools("disk space", tools, 0) == list(tools)  # 0 = no limit


def test_string_arguments_get_a_length_limit_for_the_grammar() -> None:
    from aura.adapters.llm.llamacpp import MAX_STRING_ARGUMENT_CHARS, bounded_strings

    bounded = bounded_strings(
        TOP.parameters | {"properties": {**TOP.parameters["properties"], "path": {"type": "string"}}}
    )
    assert bounded["properties"]["path"] == {"type": "string", "maxLength": MAX_STRING_ARGUMENT_CHARS}
    assert bounded["properties"]["sort_by"] == {"enum": ["cpu", "memory"]}
    assert bounded_strings({"type": "object"}) == {"type": "object"}


def test_optional_string_arguments_are_bounded_too() -> None:
    from aura.adapters.llm.llamacpp import MAX_STRING_ARGUMENT_CHARS, bounded_strings

    schema = {"type": "object", "properties": {"path": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    assert bounded_strings(schema)["properties"]["path"]["anyOf"] == [
        {"type": "string", "maxLength": MAX_STRING_ARGUMENT_CHARS},
        {"type": "null"},
    ]

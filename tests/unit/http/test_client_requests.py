"""Request parsing for client tools, tool-result continuations, OpenWebUI tool panels and background tasks."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aura.adapters.http.chat_request import client_tool_specs, parse_chat_request
from aura.adapters.http.errors import ApiError
from aura.adapters.http.openwebui import background_task_kind, fold_tool_panels, render_tool_panel
from aura.domain.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage
from aura.domain.tools import ToolSpec


def body(messages: list[dict[str, Any]], **fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": messages, **fields}).encode()


def rejected(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_chat_request(raw)
    assert caught.value.status == 400
    return caught.value


def call(call_id: str, name: str = "glob_files", arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


USER = {"role": "user", "content": "find python files"}


# --- continuations ---------------------------------------------------------------------------------


def test_a_conversation_ending_in_tool_results_continues_the_turn() -> None:
    messages = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [call("c1"), call("c2", "read_file", '{"p":1}')]},
        {"role": "tool", "tool_call_id": "c2", "content": "contents"},
        {"role": "tool", "tool_call_id": "c1", "content": "a.py"},
    ]
    request = parse_chat_request(body(messages))
    assert request.continues is True
    assert request.messages == (
        UserMessage("find python files"),
        AssistantMessage("", (ToolCall("c1", "glob_files", "{}"), ToolCall("c2", "read_file", '{"p":1}'))),
        ToolResultMessage("c2", "read_file", "contents"),
        ToolResultMessage("c1", "glob_files", "a.py"),
    )


def test_several_client_rounds_after_the_user_message() -> None:
    messages = [
        USER,
        {"role": "assistant", "content": "", "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.py"},
        {"role": "assistant", "content": "Now reading.", "tool_calls": [call("c2", "read_file")]},
        {"role": "tool", "tool_call_id": "c2", "content": "print(1)"},
    ]
    request = parse_chat_request(body(messages))
    assert [message.role for message in request.messages] == ["user", "assistant", "tool", "assistant", "tool"]


@pytest.mark.parametrize(
    ("messages", "message", "param"),
    [
        (
            [USER, {"role": "assistant", "content": "", "tool_calls": [call("c1")]}, {"role": "tool", "content": "x"}],
            "messages[2].tool_call_id: expected a non-empty string",
            "messages[2].tool_call_id",
        ),
        (
            [
                USER,
                {"role": "assistant", "content": "", "tool_calls": [call("c1")]},
                {"role": "tool", "tool_call_id": "zz", "content": "x"},
            ],
            "messages[2].tool_call_id: 'zz' answers no tool call of the assistant message before it",
            "messages[2].tool_call_id",
        ),
        (
            [USER, {"role": "tool", "tool_call_id": "c1", "content": "x"}],
            "messages[1].tool_call_id: 'c1' answers no tool call",
            "messages[1].tool_call_id",
        ),
        (
            [
                USER,
                {"role": "assistant", "content": "", "tool_calls": [call("c1"), call("c2")]},
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ],
            "messages[1].tool_calls[1]: tool call 'c2' has no tool result message",
            "messages[1].tool_calls[1]",
        ),
        (
            [{"role": "tool", "tool_call_id": "c1", "content": "x"}],
            "messages: a conversation that ends in tool results must contain the user message",
            "messages",
        ),
        (
            [
                USER,
                {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "function": {}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ],
            "messages[1].tool_calls[0].function.name: expected a non-empty string",
            "messages[1].tool_calls[0].function.name",
        ),
        (
            [
                USER,
                {"role": "assistant", "content": "", "tool_calls": [call("c1")]},
                {"role": "user", "content": "hm"},
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ],
            "messages[3].tool_call_id: 'c1' answers no tool call",
            "messages[3].tool_call_id",
        ),
    ],
)
def test_bad_continuations_are_400s_naming_the_problem(
    messages: list[dict[str, Any]], message: str, param: str
) -> None:
    error = rejected(body(messages))
    assert error.message.startswith(message), error.message
    assert error.param == param


def test_earlier_turns_tool_traffic_is_folded_into_notes() -> None:
    messages = [
        {"role": "user", "content": "count pods"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [call("c1", "count_pods", '{"ns":"prod"}')]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "There are 42 pods."},
        {"role": "user", "content": "thanks"},
    ]
    request = parse_chat_request(body(messages))
    assert request.continues is False
    assert request.messages == (
        UserMessage("count pods"),
        AssistantMessage(
            'Checking.\n[Earlier tool call: count_pods({"ns":"prod"}) returned: 42]\n\nThere are 42 pods.'
        ),
        UserMessage("thanks"),
    )


# --- OpenWebUI's tool panels ---------------------------------------------------------------------------


def owui_tokenize(content: str) -> list[dict[str, Any]]:
    """The `details` tokens OpenWebUI 0.12's Markdown extension finds (`src/lib/utils/marked/extension.ts`).

    Block-level: a token may start only at the beginning of the content or of a line after a blank line.
    """
    tokens = []
    for match in re.finditer(r"(?:^|\n\n)(<details(\s+[^>]*)?>\n)", content):
        start = match.start(1)
        src = content[start:]
        depth, index = 1, len("<details")
        while depth > 0 and index < len(src):
            if src.startswith("<details", index):
                depth += 1
            elif src.startswith("</details>", index):
                depth -= 1
            if depth > 0:
                index += 1
        assert depth == 0, "unclosed <details>"
        full = src[: index + len("</details>")]
        tag = match.group(1)
        attributes = dict(re.findall(r'(\w+)="(.*?)"', tag))
        inner = full[len(tag) : -10].strip()
        summary = re.match(r"^<summary>(.*?)</summary>\n", inner)
        text = inner[summary.end() :].strip() if summary else inner
        tokens.append({"attributes": attributes, "summary": summary.group(1) if summary else "", "text": text})
    return tokens


def panel_view(token: dict[str, Any]) -> dict[str, Any]:
    """What `ToolCallDisplay.svelte` shows for a token: name, done, input, result, error mark."""
    attributes = token["attributes"]
    # `getDetailTextContent`: decode, drop a `<summary>` the tokenizer left in, trim
    text = re.sub(r"<summary>.*?</summary>", "", html.unescape(token["text"]), flags=re.IGNORECASE).strip()
    result = text or html.unescape(attributes.get("result", ""))
    return {
        "name": attributes["name"],
        "done": attributes.get("done") == "true",
        "input": json.loads(html.unescape(attributes["arguments"])),
        "result": result,
        "error": result.strip().lower().startswith("error:"),
    }


@pytest.mark.parametrize(
    "result",
    ["plain", 'with "quotes" and <tags> & </details> inside', "multi\nline\n\nresult", "Error: boom"],
)
def test_a_panel_renders_in_openwebui_as_a_done_tool_call(result: str) -> None:
    panel = render_tool_panel(ToolCall("call_1", "search", '{"q": "a \\"b\\" <c>"}'), result, False)
    [token] = owui_tokenize("Some text.\n\n" + panel + "\nAnswer.")
    assert token["attributes"]["type"] == "tool_calls"
    assert panel_view(token) == {
        "name": "search",
        "done": True,
        "input": {"q": 'a "b" <c>'},
        "result": result,
        "error": result.startswith("Error:"),
    }


def test_a_failed_tools_panel_reads_as_an_error() -> None:
    [token] = owui_tokenize(render_tool_panel(ToolCall("c", "t", "{}"), "disk on fire", True))
    assert panel_view(token)["error"] is True
    assert panel_view(token)["result"] == "Error: disk on fire"


def test_panels_fold_into_notes_and_old_style_result_attributes_too() -> None:
    ours = render_tool_panel(ToolCall("c1", "count_pods", '{"ns": "prod"}'), "42 <pods>", False)
    old = (
        '<details type="tool_calls" done="true" id="x" name="echo" '
        'arguments="&quot;{\\&quot;text\\&quot;: \\&quot;hi\\&quot;}&quot;" result="&quot;hi&quot;" '
        'files="" embeds="">\n<summary>Tool Executed</summary>\n</details>\n'
    )
    folded = fold_tool_panels(f"Checking.\n\n{ours}\n\n{old}\nDone.")
    assert "<details" not in folded
    assert folded == (
        'Checking.\n\n[Earlier tool call: count_pods({"ns":"prod"}) returned: 42 <pods>]\n\n\n'
        '[Earlier tool call: echo({"text": "hi"}) returned: hi]\n\nDone.'
    )


def test_history_with_panels_reaches_the_model_folded() -> None:
    panel = render_tool_panel(ToolCall("c1", "count_pods", "{}"), "42", False)
    messages = [
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": f"{panel}\nThere are 42."},
        {"role": "user", "content": "and now?"},
    ]
    request = parse_chat_request(body(messages))
    assert request.messages[1] == AssistantMessage("[Earlier tool call: count_pods({}) returned: 42]\n\nThere are 42.")


# --- the request's tools -----------------------------------------------------------------------------


def test_client_tool_specs_from_openai_function_tools() -> None:
    tools = [
        {"type": "function", "function": {"name": "glob", "description": "Find", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "now"}},
        {"type": "function", "function": {"name": "later", "description": None, "parameters": None}},  # null = absent
    ]
    assert client_tool_specs(tools) == (
        ToolSpec("glob", "Find", {"type": "object"}),
        ToolSpec("now", "", {"type": "object", "properties": {}}),
        ToolSpec("later", "", {"type": "object", "properties": {}}),
    )
    assert client_tool_specs(None) == ()


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ({}, "tools: expected an array, got object"),
        ([3], "tools[0]: expected an object, got number"),
        ([{"type": "custom", "custom": {}}], "tools[0].type: unsupported tool type 'custom'"),
        ([{"type": "function"}], "tools[0].function: expected an object, got null"),
        ([{"type": "function", "function": {"name": ""}}], "tools[0].function.name: expected a non-empty string"),
        (
            [{"type": "function", "function": {"name": "x", "parameters": []}}],
            "tools[0].function.parameters: expected a JSON Schema object, got array",
        ),
    ],
)
def test_malformed_tools_are_400s(tools: Any, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        client_tool_specs(tools)
    assert caught.value.message.startswith(message)


def test_tool_choice_none_is_noted() -> None:
    assert parse_chat_request(body([USER], tool_choice="none")).tool_choice_none is True
    assert parse_chat_request(body([USER], tool_choice="auto")).tool_choice_none is False


# --- background tasks -----------------------------------------------------------------------------------

TITLE = """### Task:
Generate a concise title summarizing the chat history.
### Guidelines:
- Keep it short.
### Chat History:
<chat_history>
USER: count pods
ASSISTANT: 42
</chat_history>"""


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        (TITLE, "title"),
        (TITLE.replace("Generate a concise title summarizing", "Generate 1-3 broad tags categorizing"), "tags"),
        (
            TITLE.replace("Generate a concise title summarizing the chat history.", "Predict 3-5 useful messages"),
            "follow_ups",
        ),
        (TITLE.replace("Generate a concise title", "You are an autocompletion system. Generate"), "autocomplete"),
        (TITLE.replace("Generate a concise title", "Make a haiku"), "other"),
        ("### Task:\nGenerate a concise title summarizing the chat history.", None),  # no chat history quoted
        ("What is a ### Task: heading?\n<chat_history>", None),
        ("count pods", None),
    ],
)
def test_openwebui_background_tasks_are_recognised_by_their_prompt(prompt: str, kind: str | None) -> None:
    assert background_task_kind(prompt) == kind
    assert parse_chat_request(body([{"role": "user", "content": prompt}])).task_kind == kind


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=40)


@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,20}", fullmatch=True),
    arguments=st.dictionaries(_TEXT, _TEXT, max_size=3),
    result=_TEXT,
    before=_TEXT,
)
def test_any_panel_renders_as_one_done_tool_call_and_folds_away(
    name: str, arguments: dict[str, str], result: str, before: str
) -> None:
    call = ToolCall("call_1", name, json.dumps(arguments))
    panel = render_tool_panel(call, result, False)
    content = f"{before}\n\n{panel}\nafter" if before else f"{panel}\nafter"
    tokens = [token for token in owui_tokenize(content) if token["attributes"].get("type") == "tool_calls"]
    [token] = tokens
    view = panel_view(token)
    assert view["name"] == name
    assert view["done"] is True
    assert view["input"] == arguments
    assert view["result"] == result.strip()  # OpenWebUI trims the body
    folded = fold_tool_panels(content)
    assert '<details type="tool_calls"' not in folded
    assert f"[Earlier tool call: {name}(" in folded

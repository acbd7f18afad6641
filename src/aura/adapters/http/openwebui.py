"""What the server knows about OpenWebUI's formats: its tool panels and its background task prompts.

OpenWebUI (0.12) shows a tool call it ran itself as a `<details type="tool_calls" …>` block in the
assistant message's content; its Markdown renderer (`src/lib/utils/marked/extension.ts`) turns the
block into a tool panel (`ToolCallDisplay.svelte`): name, arguments (`Input`) and result (the block's
body, after its `<summary>` line), marked done when `done="true"`, red when the result reads as an
error (text starting with `Error:`). The opening tag must be followed by a newline and start a block
(a blank line before it). Attribute values are read with the regex `(\\w+)="(.*?)"` and HTML-decoded,
so they are HTML-escaped here (no raw `"`, `<` or `>` inside) and the arguments hold JSON; the body is
HTML-escaped too, so a result cannot close or open a block.

OpenWebUI sends those blocks back in the assistant messages of the next request's history.
`fold_tool_panels` turns each into one short plain-text line, so the model reads what was done
without markup and nothing is ever run again.

Besides the chat, OpenWebUI asks the same model for a title, tags, follow-up suggestions, search
queries and autocompletions: one non-streaming request each, whose only message is a prompt built from
its templates (`DEFAULT_*_GENERATION_PROMPT_TEMPLATE` in `open_webui/config.py`). It does not forward
its `metadata.task` to an OpenAI connection, so the prompt is what identifies them.
"""

from __future__ import annotations

import html
import json
import re

from aura.domain.messages import ToolCall

# Panels OpenWebUI renders itself; Aura writes the same so the UI cannot tell them apart.
_PANEL = (
    '<details type="tool_calls" done="true" id="{id}" name="{name}" arguments="{arguments}">\n'
    "<summary>Tool Executed</summary>\n{result}\n</details>\n"
)
_PANEL_RE = re.compile(r'<details\s+type="tool_calls"([^>]*)>(.*?)</details>\n?', re.DOTALL | re.IGNORECASE)
_SUMMARY_RE = re.compile(r"^\s*<summary>.*?</summary>", re.DOTALL | re.IGNORECASE)
_ATTRIBUTE_RE = re.compile(r'(\w+)="([^"]*)"')
FOLDED_RESULT_CHARS = 300
"""How much of an earlier tool result a folded panel keeps."""


def _escaped(value: str) -> str:
    return html.escape(value, quote=True)


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _arguments_json(arguments: str) -> str:
    """The call's arguments as compact JSON (a string holding the raw text when they are not JSON)."""
    try:
        return _json_text(json.loads(arguments) if arguments.strip() else {})
    except json.JSONDecodeError:
        return _json_text(arguments)


def render_tool_panel(call: ToolCall, result: str, is_error: bool) -> str:
    """One server-side tool call and its result as OpenWebUI's own tool panel, done.

    A failure's text is prefixed with `Error: ` (unless it reads like that already) because that is
    how the panel recognises one.
    """
    if is_error and not result.lstrip().lower().startswith("error:"):
        result = f"Error: {result}"
    return _PANEL.format(
        id=_escaped(call.id),
        name=_escaped(call.name),
        arguments=_escaped(_arguments_json(call.arguments)),
        result=_escaped(result),
    )


def _unwrapped(value: str) -> str:
    """An attribute value as text: HTML-decoded, and JSON-decoded when it is a JSON string."""
    text = html.unescape(value)
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return text
    return decoded if isinstance(decoded, str) else _json_text(decoded)


def _folded(match: re.Match[str]) -> str:
    attributes = dict(_ATTRIBUTE_RE.findall(match.group(1)))
    name = html.unescape(attributes.get("name", "")) or "a tool"
    arguments = _unwrapped(attributes.get("arguments", ""))
    # The result is the body (OpenWebUI 0.12, and Aura) or the `result` attribute (OpenWebUI 0.6).
    body = html.unescape(_SUMMARY_RE.sub("", match.group(2))).strip()
    result = body or _unwrapped(attributes.get("result", ""))
    if len(result) > FOLDED_RESULT_CHARS:
        result = result[:FOLDED_RESULT_CHARS] + "…"
    note = f"[Earlier tool call: {name}({arguments})"
    note += f" returned: {result}]" if result else "]"
    return note + "\n"


def fold_tool_panels(content: str) -> str:
    """Assistant text with every OpenWebUI tool panel replaced by a one-line note of what ran."""
    if "<details" not in content:
        return content
    return _PANEL_RE.sub(_folded, content)


def tool_call_note(name: str, arguments: str, result: str | None) -> str:
    """The same one-line note for a structured tool call (and its result) of an earlier turn."""
    note = f"[Earlier tool call: {name}({arguments})"
    if result is None:
        return note + "]"
    if len(result) > FOLDED_RESULT_CHARS:
        result = result[:FOLDED_RESULT_CHARS] + "…"
    return f"{note} returned: {result}]"


# First lines of OpenWebUI's task prompts (0.12 and earlier wordings), after its `### Task:` heading.
_TASK_KINDS = (
    ("title", ("generate a concise title", "generate a concise, 3-5 word title")),
    ("tags", ("generate 1-3 broad tags",)),
    ("follow_ups", ("predict 3-5 useful messages", "suggest 3-5 relevant follow-up questions")),
    ("queries", ("analyze the chat history to determine the necessity of generating search queries",)),
    ("autocomplete", ("you are an autocompletion system",)),
    ("image_prompt", ("generate a detailed prompt for am image generation task",)),
)


def background_task_kind(prompt: str) -> str | None:
    """The kind of OpenWebUI background task this last user message asks for, or None for a chat message.

    Its task prompts start with `### Task:` and quote the conversation inside `<chat_history>`; the
    first line after the heading names the task (`other` when it is a wording this server does not know).
    """
    text = prompt.lstrip()
    if not text.startswith("### Task:") or "<chat_history>" not in text:
        return None
    heading = text[len("### Task:") :].lstrip().lower()
    for kind, openings in _TASK_KINDS:
        if heading.startswith(openings):
            return kind
    return "other"

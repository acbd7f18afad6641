"""What the clients make of Aura's answers: ports of the parsing code of OpenWebUI 0.12 and LangChain.

Each port follows its client's source closely enough that a chunk shape the client would mishandle fails here:

- `OpenWebUIStream` — `open_webui/utils/middleware.py` (0.12.4, streaming response handler, ~4740-5500):
  lines split on `\\n`, only `data:` lines parsed; a dict with `event` is forwarded as a UI event, `type` starting
  with `response.` or equal to `error` is a Responses event, a frame without `choices` but with a truthy `error`
  is shown as a failed response; `delta.tool_calls` are collected by `index` as calls OpenWebUI must run itself;
  `delta.content` is appended to the message text; `delta.role` is never read.
- `owui_panels` — its Markdown `details` extension (`src/lib/utils/marked/extension.ts`) and `ToolCallDisplay.svelte`.
- `LangChainStream` — `@langchain/openai` (as pinned by `@librechat/agents`), `ChatOpenAI._streamResponseChunks`
  and `_convertCompletionsDeltaToBaseMessageChunk`: a chunk without `choices[0].delta` is skipped; the role of a
  chunk is `delta.role ?? <the role of an earlier chunk>`; only an `assistant` role makes an `AIMessageChunk` that
  keeps `tool_call_chunks` — any other (or none) builds a generic message chunk that drops them.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import attrs


@attrs.define
class OpenWebUIStream:
    content: str = ""
    tool_calls: list[dict[str, Any]] = attrs.Factory(list)
    finish_reason: str | None = None
    errors: list[Any] = attrs.Factory(list)
    ui_events: list[Any] = attrs.Factory(list)
    responses_events: list[Any] = attrs.Factory(list)
    usage: dict[str, Any] | None = None

    @classmethod
    def parse(cls, body: str) -> OpenWebUIStream:
        stream = cls()
        for raw_line in body.split("\n"):
            line = raw_line.strip()
            if not line or not line.startswith("data:"):
                continue
            try:
                data = json.loads(line[5:].strip())
            except json.JSONDecodeError:
                continue  # `data: [DONE]`
            if not isinstance(data, dict):
                continue
            stream._chunk(data)
        return stream

    def _chunk(self, data: dict[str, Any]) -> None:
        if "event" in data:
            self.ui_events.append(data["event"])
            return
        kind = data.get("type")
        if isinstance(kind, str) and (kind.startswith("response.") or kind == "error"):
            self.responses_events.append(data)
            return
        choices = data.get("choices", [])
        if data.get("usage"):
            self.usage = data["usage"]
        if not choices:
            if data.get("error", {}):
                self.errors.append(data["error"])
            return
        if choices[0].get("finish_reason"):
            self.finish_reason = choices[0]["finish_reason"]
        delta = choices[0].get("delta", {})
        for piece in delta.get("tool_calls") or []:
            index = piece.get("index")
            current = next((call for call in self.tool_calls if call.get("index") == index), None)
            if current is None:
                piece = json.loads(json.dumps(piece))
                piece.setdefault("function", {}).setdefault("name", "")
                piece["function"].setdefault("arguments", "")
                self.tool_calls.append(piece)
            else:
                function = piece.get("function", {})
                if function.get("name"):
                    current["function"]["name"] = function["name"]
                if function.get("arguments") is not None:
                    current["function"]["arguments"] += function["arguments"]
        value = delta.get("content")
        if value:
            self.content += value if isinstance(value, str) else f"{value}"


def owui_panels(content: str) -> list[dict[str, Any]]:
    """The tool panels OpenWebUI 0.12 renders from message text: name, done, input, result, error mark."""
    panels = []
    for match in re.finditer(r"(?:^|\n\n)(<details(\s+[^>]*)?>\n)", content):
        src = content[match.start(1) :]
        depth, index = 1, len("<details")
        while depth > 0 and index < len(src):
            if src.startswith("<details", index):
                depth += 1
            elif src.startswith("</details>", index):
                depth -= 1
            if depth > 0:
                index += 1
        if depth:
            continue
        tag = match.group(1)
        attributes = dict(re.findall(r'(\w+)="(.*?)"', tag))
        if attributes.get("type") != "tool_calls":
            continue
        inner = src[len(tag) : index].strip()
        text = re.sub(r"<summary>.*?</summary>", "", html.unescape(inner), flags=re.IGNORECASE).strip()
        result = text or html.unescape(attributes.get("result", ""))
        done = attributes.get("done") == "true"
        panels.append(
            {
                "id": attributes.get("id"),
                "name": attributes.get("name"),
                "done": done,
                "input": _unwrap_json(html.unescape(attributes.get("arguments", ""))),
                "result": result,
                "error": done and result.strip().lower().startswith(("error:", "exception:", "traceback")),
            }
        )
    return panels


def _unwrap_json(text: str) -> Any:
    value: Any = text
    while isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            break
    return value


@attrs.define
class LangChainStream:
    """The message `@langchain/openai` assembles from a stream (AIMessageChunk concatenation)."""

    content: str = ""
    tool_call_chunks: dict[int, dict[str, str]] = attrs.Factory(dict)
    dropped_tool_call_chunks: int = 0
    message_classes: set[str] = attrs.Factory(set)
    finish_reason: str | None = None

    @classmethod
    def parse(cls, body: str) -> LangChainStream:
        stream = cls()
        default_role: str | None = None
        for block in body.split("\n\n"):
            data_lines = [line[len("data: ") :] for line in block.split("\n") if line.startswith("data: ")]
            if not data_lines or data_lines[0] == "[DONE]":
                continue
            data = json.loads("\n".join(data_lines))
            choices = data.get("choices") or []
            if not choices or choices[0].get("delta") is None:
                continue
            delta = choices[0]["delta"]
            role = delta.get("role") or default_role
            stream._chunk(delta, role)
            default_role = delta.get("role") or default_role
            if choices[0].get("finish_reason"):
                stream.finish_reason = choices[0]["finish_reason"]
        return stream

    def _chunk(self, delta: dict[str, Any], role: str | None) -> None:
        self.content += delta.get("content") or ""
        pieces = delta.get("tool_calls") or []
        if role != "assistant":
            self.message_classes.add("ChatMessageChunk")
            self.dropped_tool_call_chunks += len(pieces)
            return
        self.message_classes.add("AIMessageChunk")
        for piece in pieces:
            merged = self.tool_call_chunks.setdefault(piece["index"], {"id": "", "name": "", "args": ""})
            merged["id"] += piece.get("id") or ""
            merged["name"] += piece.get("function", {}).get("name") or ""
            merged["args"] += piece.get("function", {}).get("arguments") or ""

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """`AIMessage.tool_calls` after the chunks are concatenated (args parsed as JSON)."""
        return [
            {"id": chunk["id"], "name": chunk["name"], "args": json.loads(chunk["args"] or "{}")}
            for _, chunk in sorted(self.tool_call_chunks.items())
        ]

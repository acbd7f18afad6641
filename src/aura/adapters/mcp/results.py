"""Turning an MCP `CallToolResult` into the text a model reads.

* `structuredContent`, when present, wins: compact JSON, and kept as `ToolResult.structured`.
* Otherwise the content parts are rendered and joined with a newline: text as is, embedded text
  resources inlined under a `[Resource: uri]` line, binary payloads (images, audio, blobs)
  summarised by type and size (their base64 would only burn context), resource links named.
* `isError` becomes a tool error the model sees: `Tool returned an error: ...`.
* Text longer than the server's `max_result_bytes` (UTF-8) is cut there, with a note saying so.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import types

from aura.domain.tools import ToolResult

TOOL_ERROR_PREFIX = "Tool returned an error: "


def convert_call_result(result: types.CallToolResult, max_bytes: int | None = None, server: str = "") -> ToolResult:
    """The model's view of a result; text beyond `max_bytes` UTF-8 bytes is cut with a note (`server` names it)."""
    structured = result.structured_content
    rendered = "\n".join(render_content_block(block) for block in result.content)
    structured_text = None if structured is None else _compact_json(structured)
    if result.is_error:
        # The explanation of a failure is usually in the text parts, not in structured data.
        detail = rendered or structured_text or "(no details)"
        content, cut = cap_text(TOOL_ERROR_PREFIX + detail, max_bytes, server)
        return ToolResult(content=content, is_error=True, structured=None if cut else structured)
    content, cut = cap_text(structured_text if structured_text is not None else rendered, max_bytes, server)
    # Structured data that did not fit is not kept either: it would carry the same bulk past the cap.
    return ToolResult(content=content, structured=None if cut else structured)


def cap_text(text: str, max_bytes: int | None, server: str = "") -> tuple[str, bool]:
    """`text` cut to `max_bytes` UTF-8 bytes (on a character boundary) plus a note; the flag says it was cut."""
    if max_bytes is None or len(text) <= max_bytes // 4:  # at most 4 bytes a character: it fits
        return text, False
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= max_bytes:
        return text, False
    kept = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return kept + truncation_note(len(encoded), max_bytes, server), True


def truncation_note(size: int, max_bytes: int, server: str = "") -> str:
    where = f"MCP server {server!r}" if server else "this MCP server"
    return (
        f"\n\n[Result cut: the tool returned {size:,} bytes; only the first {max_bytes:,} are shown "
        f"(max_result_bytes of {where}). Ask the tool for less data, e.g. a narrower query or one page.]"
    )


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def render_content_block(block: Any) -> str:
    """One content part as text; unknown part types are named rather than dropped silently."""
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[Image: {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if isinstance(block, types.AudioContent):
        return f"[Audio: {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, types.TextResourceContents):
            return f"[Resource: {resource.uri}]\n{resource.text}"
        mime = f"{resource.mime_type}, " if resource.mime_type else ""
        return f"[Resource: {resource.uri}, {mime}{_decoded_size(resource.blob)} bytes]"
    if isinstance(block, types.ResourceLink):
        details = ", ".join(part for part in (block.name, block.mime_type) if part)
        return f"[Resource link: {block.uri}{' (' + details + ')' if details else ''}]"
    kind = getattr(block, "type", type(block).__name__)
    return f"[Unsupported content: {kind}]"


def _decoded_size(data: str) -> int:
    """Bytes a base64 payload decodes to, computed from its length (no need to decode it)."""
    stripped = "".join(data.split())
    padding = len(stripped) - len(stripped.rstrip("="))
    return max(len(stripped) * 3 // 4 - padding, 0)

"""Converting MCP `CallToolResult`s into what the model reads."""

from __future__ import annotations

import base64

from mcp import types

from aura.adapters.mcp.results import convert_call_result


def text(value: str) -> types.TextContent:
    return types.TextContent(type="text", text=value)


def test_text_parts_are_joined_with_newlines() -> None:
    result = convert_call_result(types.CallToolResult(content=[text("one"), text("two"), text("three")]))

    assert (result.content, result.is_error, result.structured) == ("one\ntwo\nthree", False, None)


def test_empty_content_is_an_empty_string() -> None:
    assert convert_call_result(types.CallToolResult(content=[])).content == ""


def test_structured_content_wins_as_compact_json_and_is_kept() -> None:
    data = {"city": "Zürich", "temps": [1.5, 2], "ok": True}
    result = convert_call_result(types.CallToolResult(content=[text("a rendering")], structured_content=data))

    assert result.content == '{"city":"Zürich","temps":[1.5,2],"ok":true}'
    assert result.structured == data


def test_images_and_audio_are_summarised_by_type_and_decoded_size() -> None:
    png = base64.b64encode(b"\x89PNG" + b"\x00" * 96).decode()  # 100 bytes
    wav = base64.b64encode(b"RIFF1").decode()  # 5 bytes, padded base64
    result = convert_call_result(
        types.CallToolResult(
            content=[
                types.ImageContent(type="image", data=png, mime_type="image/png"),
                types.AudioContent(type="audio", data=wav, mime_type="audio/wav"),
            ]
        )
    )

    assert result.content == "[Image: image/png, 100 bytes]\n[Audio: audio/wav, 5 bytes]"


def test_embedded_text_resources_are_inlined_and_blobs_summarised() -> None:
    result = convert_call_result(
        types.CallToolResult(
            content=[
                types.EmbeddedResource(
                    type="resource", resource=types.TextResourceContents(uri="file:///a.md", text="# A\nbody")
                ),
                types.EmbeddedResource(
                    type="resource",
                    resource=types.BlobResourceContents(
                        uri="file:///b.bin", blob=base64.b64encode(b"12345678").decode(), mime_type="x/y"
                    ),
                ),
                types.EmbeddedResource(
                    type="resource", resource=types.BlobResourceContents(uri="file:///c", blob="AAAA")
                ),
            ]
        )
    )

    assert result.content == (
        "[Resource: file:///a.md]\n# A\nbody\n[Resource: file:///b.bin, x/y, 8 bytes]\n[Resource: file:///c, 3 bytes]"
    )


def test_resource_links_are_named() -> None:
    result = convert_call_result(
        types.CallToolResult(
            content=[
                types.ResourceLink(type="resource_link", uri="file:///r.txt", name="report", mime_type="text/plain"),
                types.ResourceLink(type="resource_link", uri="file:///bare", name=""),
            ]
        )
    )

    assert result.content == "[Resource link: file:///r.txt (report, text/plain)]\n[Resource link: file:///bare]"


def test_is_error_becomes_a_tool_error_with_the_servers_explanation() -> None:
    result = convert_call_result(types.CallToolResult(content=[text("bad input: x < 0")], is_error=True))

    assert result.is_error
    assert result.content == "Tool returned an error: bad input: x < 0"


def test_is_error_prefers_text_over_structured_details_and_never_is_empty() -> None:
    with_both = convert_call_result(
        types.CallToolResult(content=[text("denied")], structured_content={"code": 403}, is_error=True)
    )
    structured_only = convert_call_result(
        types.CallToolResult(content=[], structured_content={"code": 403}, is_error=True)
    )
    bare = convert_call_result(types.CallToolResult(content=[], is_error=True))

    assert with_both.content == "Tool returned an error: denied"
    assert structured_only.content == 'Tool returned an error: {"code":403}'
    assert bare.content == "Tool returned an error: (no details)"

"""The Responses API reads its body as chat completions do: every undecodable body is a 400 that says why."""

from __future__ import annotations

import pytest

from aura.adapters.http.errors import ApiError
from aura.adapters.http.responses_request import parse_responses_request


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"input": "hi",}', "Malformed JSON in request body"),
        (b'{"input": "\xff"}', "not valid UTF-8"),
        (b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply to be a Responses API request"),
        (b'{"input": "hi \\ud800 there"}', "unpaired UTF-16 surrogate"),
    ],
)
def test_an_undecodable_body_is_a_400_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_responses_request(body)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_what_only_the_standard_library_reads_is_still_read() -> None:
    request = parse_responses_request(b'\xef\xbb\xbf{"input": "hi", "metadata": {"n": "1"}}')  # a byte-order mark
    assert request.metadata == {"n": "1"}

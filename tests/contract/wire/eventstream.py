"""Encoder for the AWS event-stream binary framing (`application/vnd.amazon.eventstream`).

One message is: a 12-byte prelude (total length, headers length, both big-endian uint32, then the
CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of everything before it. Headers are
encoded as name length (1 byte), name, value type (7 = string), value length (2 bytes), value.
The fake Bedrock server writes these bytes so that botocore's real parser reads them.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping

_STRING_HEADER = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def encode_headers(headers: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        name_bytes = name.encode("utf-8")
        value_bytes = value.encode("utf-8")
        out += bytes([len(name_bytes)]) + name_bytes + bytes([_STRING_HEADER])
        out += struct.pack(">H", len(value_bytes)) + value_bytes
    return bytes(out)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One complete event-stream message with valid prelude and message CRCs."""
    header_bytes = encode_headers(headers)
    total_length = _PRELUDE.size + _CRC.size + len(header_bytes) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total_length, len(header_bytes))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + header_bytes + payload
    return head + _CRC.pack(zlib.crc32(head))


def event(event_type: str, body: Mapping[str, object]) -> bytes:
    """A ConverseStream event such as `contentBlockDelta` with its JSON body."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body).encode("utf-8"))


def exception(exception_type: str, message: str) -> bytes:
    """A modeled in-stream exception such as `throttlingException`."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode("utf-8"))


def corrupt(message: bytes) -> bytes:
    """The same message with a wrong trailing CRC, which a reader must reject."""
    return message[:-4] + _CRC.pack((zlib.crc32(message[:-4]) + 1) & 0xFFFFFFFF)

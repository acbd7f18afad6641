"""How every session store turns values into text and checks a time to live: one rule for all adapters."""

from __future__ import annotations

import json
from typing import Any

from aura.ports.session_store import JsonObject, SessionStoreError


def check_ttl(ttl_secs: float) -> None:
    if not ttl_secs > 0:
        raise ValueError(f"ttl_secs must be positive, got {ttl_secs!r}")


def encode(value: JsonObject) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise SessionStoreError(f"a session store value must be JSON-compatible: {error}") from None


def decode(text: str | bytes) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise SessionStoreError(f"a session store entry is not a JSON object (got {type(value).__name__})")
    return value

"""Tool-call arguments as complete-call providers (Gemini, Ollama) send them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def joined_arguments(pieces: Sequence[str]) -> Any:
    """A scenario's argument pieces joined and decoded: these providers send each call whole."""
    text = "".join(pieces)
    return json.loads(text) if text.strip() else {}

"""Tool-call arguments as a JSON object, for the providers whose APIs take an object rather than text."""

from __future__ import annotations

import json
import logging
from typing import Any

from aura.domain.messages import ToolCall

logger = logging.getLogger(__name__)


def arguments_object(call: ToolCall, provider: str) -> dict[str, Any]:
    """The call's arguments as an object: unparseable text becomes `{}` (logged), other JSON `{"value": ...}`."""
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        logger.warning("%s: arguments of tool call %s are not valid JSON; sent as {}", provider, call.id)
        return {}
    return value if isinstance(value, dict) else {"value": value}

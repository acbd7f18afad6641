"""`RequestScope`: what the server enters around each chat completion, e.g. log correlation.

The HTTP adapter does not know about logging setup (that is the telemetry adapter's job), so the
entrypoint passes something like `aura.adapters.telemetry.log_context`: every line logged while a
request is handled, including by the tasks it starts (SSE producer, turn, tool calls, which copy
the context), then carries the request's ids.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Protocol


class RequestScope(Protocol):
    """Returns a context manager entered around the handling of one request.

    The server enters it twice, nested: first with only `request_id` (before the body is parsed),
    then with every id once the agent and session are known. An id is None when it is not known
    (yet); `trace_id` is None when tracing is off.
    """

    def __call__(
        self,
        *,
        request_id: str | None,
        session_id: str | None,
        agent_id: str | None,
        trace_id: str | None,
    ) -> AbstractContextManager[object]: ...


def no_request_scope(
    *,
    request_id: str | None,
    session_id: str | None,
    agent_id: str | None,
    trace_id: str | None,
) -> AbstractContextManager[object]:
    """The default `RequestScope`: does nothing."""
    return contextlib.nullcontext()

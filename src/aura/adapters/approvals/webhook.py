"""The approval webhook: tell an outside approver (a chat-ops bot, a ticketing system) that a decision is wanted.

The request is signed like the decisions that come back: `X-Aura-Signature: sha256=<hex>` is HMAC-SHA256 with the
configured secret over `<X-Aura-Timestamp>.<body>`. The approver answers later with `POST /v1/approvals/{id}`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence

import aiohttp

from aura.adapters.per_event_loop import PerEventLoop
from aura.domain.approvals import ApprovalNotifier, ParkedTurn, PendingApproval, approval_signature
from aura.domain.tools import RequestContext

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Aura-Signature"
TIMESTAMP_HEADER = "X-Aura-Timestamp"
AGENT_HEADER = "X-Aura-Agent"


class ApprovalWebhook(ApprovalNotifier):
    """POSTs one JSON document per held call to `url`; `forward_headers` are copied from the chat request."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        forward_headers: Sequence[str] = (),
        static_headers: Mapping[str, str] | None = None,
        timeout_secs: float = 10.0,
        decide_base_url: str | None = None,
    ) -> None:
        self._url = url
        self._secret = secret
        self._forward = tuple(name.lower() for name in forward_headers)
        self._static = dict(static_headers or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout_secs)
        self._decide_base = decide_base_url.rstrip("/") if decide_base_url else ""
        self._sessions: PerEventLoop[aiohttp.ClientSession] = PerEventLoop(
            lambda: aiohttp.ClientSession(timeout=self._timeout), lambda session: session.close()
        )

    async def approval_requested(self, pending: PendingApproval, parked: ParkedTurn, context: RequestContext) -> None:
        document = {
            "type": "approval_requested",
            "decision_id": pending.decision_id,
            "agent": parked.agent_id,
            "session_id": parked.session_id,
            "tool": pending.call.name,
            "server": pending.server,
            "arguments": pending.call.arguments,
            "reason": pending.why,
            "model_reason": pending.model_reason,
            "expires_at": int(pending.expires_at),
            "decide_url": f"{self._decide_base}/v1/approvals/{pending.decision_id}",
        }
        body = json.dumps(document, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {**self._static, "Content-Type": "application/json", AGENT_HEADER: parked.agent_id}
        for name in self._forward:
            value = context.headers.get(name)
            if value is not None:
                headers[name] = value
        headers[TIMESTAMP_HEADER] = timestamp
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = approval_signature(self._secret, timestamp, body)
        session = await self._sessions.get()
        async with session.post(self._url, data=body, headers=headers) as response:
            if response.status >= 300:
                # the URL may carry a token in its query: name only its host
                host = response.url.host or "?"
                raise RuntimeError(f"approval webhook at {host} answered HTTP {response.status}")
        logger.info("approval webhook notified for %s", pending.decision_id)

    async def aclose(self) -> None:
        await self._sessions.aclose()

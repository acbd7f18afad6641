"""`POST /v1/approvals/{decision_id}`: a decision from outside the chat (an operator's tool, a webhook approver).

The decision is recorded in the session store exactly once; the parked turn resumes with it in the response to the
conversation's next message. When the agent's approval webhook has a secret, the decision must be signed with it
(`X-Aura-Timestamp` + `X-Aura-Signature`, as the webhook's own requests are): a forged, stale or replayed decision is a
401 and is logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from aura.adapters.http.agent_directory import AgentDirectory
from aura.adapters.http.chat_request import json_body
from aura.adapters.http.errors import ApiError, invalid_request
from aura.domain.approvals import (
    SIGNATURE_PREFIX,
    ApprovalDecision,
    ApprovalExpired,
    ApprovalGate,
    Decision,
    DecisionConflict,
    DecisionSource,
    PendingApproval,
    UnknownApproval,
    signature_matches,
)

logger = logging.getLogger(__name__)

APPROVALS_PATH = "/v1/approvals/{decision_id}"
SIGNATURE_HEADER = "X-Aura-Signature"
TIMESTAMP_HEADER = "X-Aura-Timestamp"
#: how far a signed decision's timestamp may be from the server's clock
SIGNATURE_TOLERANCE_SECS = 300
USED_SIGNATURES = "approval_signatures"
MAX_REASON_CHARS = 2000


class ApprovalsHandler:
    """Finds the approval among the agents' gates (they share one store), checks the signature, records."""

    def __init__(self, directory: AgentDirectory, *, approver_header: str | None) -> None:
        self._gates = [agent.approval_gate for agent in directory.agents if agent.approval_gate is not None]
        self._approver_header = approver_header

    async def decide(self, request: web.Request) -> web.Response:
        decision_id = request.match_info["decision_id"]
        raw = await request.read()
        gate, pending, _ = await self._find(decision_id)
        if gate.decision_secret is not None:
            await _verify_signature(gate, request, raw, decision_id)
        decision = self._parse(raw, request, signed=gate.decision_secret is not None)
        try:
            await gate.decide(decision_id, decision)
        except DecisionConflict as error:
            logger.info("approval %s: second decision refused (already %s)", decision_id, error)
            raise ApiError(409, f"Approval {decision_id} has already been decided.", code="already_decided") from None
        except ApprovalExpired:
            raise ApiError(
                409, f"Approval {decision_id} expired before this decision; it was denied.", code="approval_expired"
            ) from None
        except UnknownApproval:
            raise _unknown(decision_id) from None
        return web.json_response(_view(gate, pending, decision, status="recorded"))

    async def show(self, request: web.Request) -> web.Response:
        decision_id = request.match_info["decision_id"]
        gate, pending, decision = await self._find(decision_id)
        return web.json_response(_view(gate, pending, decision, status="decided" if decision else "pending"))

    async def _find(self, decision_id: str) -> tuple[ApprovalGate, PendingApproval, ApprovalDecision | None]:
        for gate in self._gates:
            found = await gate.pending(decision_id)
            if found is not None:
                return gate, found[0], found[1]
        if any(not gate.store.shared for gate in self._gates):
            raise ApiError(
                404,
                f"No pending approval has the id {decision_id} in this server process. Pending approvals are kept in "
                "each process's memory: with --workers > 1 or several pods, set SESSION_STORE_URL to a shared Redis "
                "so any process can decide them.",
                "not_found_error",
                code="approval_not_found",
            )
        raise _unknown(decision_id)

    def _parse(self, raw: bytes, request: web.Request, *, signed: bool) -> ApprovalDecision:
        body: Any = json_body(raw or b"{}", "an approval decision")
        if not isinstance(body, dict):
            raise invalid_request("The body must be a JSON object.")
        value = body.get("decision")
        if value not in ("approve", "deny"):
            raise invalid_request('"decision" must be "approve" or "deny".', "decision")
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
            raise invalid_request(f'"reason" must be a string of at most {MAX_REASON_CHARS} characters.', "reason")
        approver = body.get("approver")
        if approver is not None and not isinstance(approver, str):
            raise invalid_request('"approver" must be a string.', "approver")
        if self._approver_header is not None and request.headers.get(self._approver_header):
            approver = request.headers[self._approver_header]
        source = DecisionSource.WEBHOOK if signed else DecisionSource.API
        return ApprovalDecision(Decision(value), source, reason, approver[:200] if approver else None)


async def _verify_signature(gate: ApprovalGate, request: web.Request, raw: bytes, decision_id: str) -> None:
    secret = gate.decision_secret
    assert secret is not None
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    peer = request.remote or "?"
    if not timestamp.isdigit() or not signature.startswith(SIGNATURE_PREFIX):
        logger.warning("approval %s: unsigned decision refused (from %s)", decision_id, peer)
        raise _unauthorized("This decision must be signed (X-Aura-Timestamp and X-Aura-Signature).")
    if abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_SECS:
        logger.warning("approval %s: stale signed decision refused (from %s)", decision_id, peer)
        raise _unauthorized("The decision's timestamp is too old or in the future.")
    if not signature_matches(secret, timestamp, raw, signature):
        logger.warning("approval %s: decision with a wrong signature refused (from %s)", decision_id, peer)
        raise _unauthorized("The decision's signature does not match.")
    # a valid signature is accepted once: a captured request sent again is a replay
    first_use = await gate.store.put_if_absent(
        USED_SIGNATURES,
        signature.removeprefix(SIGNATURE_PREFIX),
        {"decision_id": decision_id},
        ttl_secs=2 * SIGNATURE_TOLERANCE_SECS,
    )
    if not first_use:
        logger.warning("approval %s: replayed decision refused (from %s)", decision_id, peer)
        raise _unauthorized("This signed decision was already used.")


def _view(
    gate: ApprovalGate, pending: PendingApproval, decision: ApprovalDecision | None, *, status: str
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": pending.decision_id,
        "object": "approval",
        "status": status,
        "agent": gate.agent_id,
        "tool": pending.call.name,
        "server": pending.server,
        "arguments": pending.call.arguments,
        "reason": pending.why,
        "expires_at": int(pending.expires_at),
    }
    if decision is not None:
        view["decision"] = decision.to_json()
    return view


def _unknown(decision_id: str) -> ApiError:
    return ApiError(404, f"No pending approval has the id {decision_id}.", "not_found_error", code="approval_not_found")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, "authentication_error", code="invalid_signature")

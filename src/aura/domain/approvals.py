"""Human approval of tool calls: park a turn whose calls need a decision, resume it when the decision arrives.

A parked turn lives in the session store (shared between workers when it is Redis), so a decision posted to one
worker resumes a turn parked on another. A decision arrives by the person's next chat message ("approve", "deny",
"approve all"), by `POST /v1/approvals/{id}`, or from an approval webhook's approver; it is applied exactly once
(`put_if_absent` for decisions, `take` for the parked turn). An undecided approval expires into a denial.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from aura.domain.approval_policy import ApprovalPolicy
from aura.domain.messages import (
    AssistantMessage,
    Message,
    ToolCall,
    UserMessage,
    message_from_json,
    message_to_json,
    tool_call_from_json,
    tool_call_to_json,
)
from aura.domain.tools import RequestContext
from aura.ports.clock import Clock
from aura.ports.session_store import SessionStore

logger = logging.getLogger(__name__)

PARKED_TURNS = "parked_turns"
APPROVALS = "approvals"
DECISIONS = "approval_decisions"
SESSIONS = "approval_sessions"
APPROVE_ALL = "approval_approve_all"

DECISION_ID_PATTERN = re.compile(r"\bapr_[0-9a-f]{24}\b")
# how long a decided or parked entry outlives its expiry, so a late decision gets a clear 409/410, not a 404
GRACE_SECS = 3600.0


class Decision(enum.Enum):
    APPROVE = "approve"
    DENY = "deny"


class DecisionSource(enum.Enum):
    CHAT = "chat"
    API = "api"
    WEBHOOK = "webhook"
    EXPIRY = "expiry"


@attrs.frozen
class ApprovalDecision:
    decision: Decision
    source: DecisionSource
    reason: str | None = None
    approver: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "source": self.source.value,
            "reason": self.reason,
            "approver": self.approver,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApprovalDecision:
        return cls(Decision(data["decision"]), DecisionSource(data["source"]), data.get("reason"), data.get("approver"))


@attrs.frozen
class PendingApproval:
    """One held tool call: what will run, why it asks, until when a decision is accepted (unix seconds)."""

    decision_id: str
    call: ToolCall
    server: str
    tool: str
    why: str
    model_reason: str
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "call": tool_call_to_json(self.call),
            "server": self.server,
            "tool": self.tool,
            "why": self.why,
            "model_reason": self.model_reason,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingApproval:
        return cls(
            data["decision_id"],
            tool_call_from_json(data["call"]),
            data["server"],
            data["tool"],
            data["why"],
            data["model_reason"],
            float(data["expires_at"]),
        )


@attrs.frozen
class ParkedTurn:
    """Enough to resume a turn: the conversation so far (without the system prompt), the round that asked, the calls
    that wait for a decision. The round's other calls have already run; their results are in `messages`."""

    turn_id: str
    agent_id: str
    session_id: str
    messages: tuple[Message, ...]
    round_index: int
    pending: tuple[PendingApproval, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "turn_id": self.turn_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "messages": [message_to_json(m) for m in self.messages],
            "round_index": self.round_index,
            "pending": [p.to_json() for p in self.pending],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParkedTurn:
        return cls(
            data["turn_id"],
            data["agent_id"],
            data["session_id"],
            tuple(message_from_json(m) for m in data["messages"]),
            int(data["round_index"]),
            tuple(PendingApproval.from_json(p) for p in data["pending"]),
        )


@attrs.frozen
class ResumedTurn:
    """A parked turn taken from the store, with a decision for every held call."""

    parked: ParkedTurn
    decisions: Mapping[str, ApprovalDecision]


class ApprovalNotifier(Protocol):
    """Tells someone outside the chat that a decision is wanted (the approval webhook)."""

    async def approval_requested(
        self, pending: PendingApproval, parked: ParkedTurn, context: RequestContext
    ) -> None: ...


class DecisionConflict(Exception):
    """A second decision for the same approval (HTTP 409)."""


class UnknownApproval(Exception):
    """No pending approval has this id, or it expired long ago (HTTP 404)."""


class ApprovalExpired(Exception):
    """The approval expired before this decision arrived; it was treated as a denial (HTTP 409)."""


@attrs.frozen
class ChatAnswer:
    """What a person typed in answer to an approval request."""

    decision: Decision
    all_calls: bool = False
    reason: str | None = None


_ANSWER = re.compile(
    r"^\s*(?P<word>approve(?:d)?|yes|y|ok|go ahead|deny|denied|no|n|reject)(?P<all>\s+all)?\s*[.!]?\s*"
    r"(?:[:,\-–—]\s*(?P<reason>.*))?$",
    re.IGNORECASE | re.DOTALL,
)
_APPROVING = {"approve", "approved", "yes", "y", "ok", "go ahead"}


def parse_chat_answer(text: str) -> ChatAnswer | None:
    """`approve`, `approve all`, `deny`, `deny: too risky` (and yes/no); None when the text is something else.

    Lines quoting the decision id are ignored, so "approve apr_…" and a pasted id work too.
    """
    cleaned = DECISION_ID_PATTERN.sub("", text).strip()
    if len(cleaned) > 500:
        return None
    match = _ANSWER.match(cleaned)
    if match is None:
        return None
    decision = Decision.APPROVE if match["word"].lower() in _APPROVING else Decision.DENY
    reason = (match["reason"] or "").strip() or None
    return ChatAnswer(decision, all_calls=bool(match["all"]), reason=reason)


def new_decision_id() -> str:
    return "apr_" + secrets.token_hex(12)


def approval_request_text(pending: Sequence[PendingApproval], timeout_secs: float) -> str:
    """The plain text any chat UI shows: what will run, with which arguments, and how to answer."""
    minutes = max(1, round(timeout_secs / 60))
    lines = ["**Approval needed** before I run " + ("this tool:" if len(pending) == 1 else "these tools:"), ""]
    for item in pending:
        lines.append(f"- `{item.call.name}` with arguments `{_compact_arguments(item.call.arguments)}`")
        lines.append(f"  (asks because: {item.why}; decision id `{item.decision_id}`)")
    lines += [
        "",
        "Reply **approve** to run it, **deny** (optionally `deny: reason`) to refuse, or **approve all** to also run "
        f"further calls in this conversation without asking. Without an answer within {minutes} minute"
        f"{'s' if minutes != 1 else ''} it is denied.",
    ]
    return "\n".join(lines)


def _compact_arguments(arguments: str) -> str:
    try:
        text = json.dumps(json.loads(arguments), separators=(", ", ": "), ensure_ascii=False)
    except (json.JSONDecodeError, ValueError):
        text = arguments
    return text if len(text) <= 400 else text[:400] + "…"


SIGNATURE_PREFIX = "sha256="


def approval_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, as `sha256=<hex>`: signs webhook requests and the decisions sent back.

    The timestamp inside the signed text is what makes a replayed old message detectable.
    """
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(approval_signature(secret, timestamp, body), signature)


class ApprovalGate:
    """The agent's approval policy, applied with a session store; one per agent.

    `decision_secret`, when set (the approval webhook's secret), is what a decision posted from outside the chat must
    be signed with.
    """

    def __init__(
        self,
        policy: ApprovalPolicy,
        store: SessionStore,
        clock: Clock,
        *,
        agent_id: str,
        notifier: ApprovalNotifier | None = None,
        decision_secret: str | None = None,
    ) -> None:
        self.policy = policy
        self.store = store
        self.clock = clock
        self.agent_id = agent_id
        self.notifier = notifier
        self.decision_secret = decision_secret

    async def pending(self, decision_id: str) -> tuple[PendingApproval, ApprovalDecision | None] | None:
        """A pending approval of this agent and its decision so far; None when this agent has no such approval."""
        record = await self.store.get(APPROVALS, decision_id)
        if record is None or record.get("agent_id") != self.agent_id:
            return None
        decided = await self.store.get(DECISIONS, decision_id)
        return PendingApproval.from_json(record), None if decided is None else ApprovalDecision.from_json(decided)

    @property
    def ttl_secs(self) -> float:
        return self.policy.timeout_secs + GRACE_SECS

    async def session_approves_all(self, session_id: str) -> bool:
        return await self.store.get(APPROVE_ALL, self._session_key(session_id)) is not None

    async def park(self, parked: ParkedTurn, context: RequestContext) -> None:
        await self.store.put(PARKED_TURNS, parked.turn_id, parked.to_json(), self.ttl_secs)
        await self.store.put(SESSIONS, self._session_key(parked.session_id), {"turn_id": parked.turn_id}, self.ttl_secs)
        for pending in parked.pending:
            record = {"turn_id": parked.turn_id, "agent_id": parked.agent_id, **pending.to_json()}
            await self.store.put(APPROVALS, pending.decision_id, record, self.ttl_secs)
            logger.info(
                "approval requested: id=%s agent=%s tool=%s session=%s",
                pending.decision_id,
                parked.agent_id,
                pending.call.name,
                parked.session_id,
            )
            if self.notifier is not None:
                try:
                    await self.notifier.approval_requested(pending, parked, context)
                except Exception as error:  # the chat still shows the request; a dead webhook must not kill the turn
                    logger.warning("approval webhook failed for %s: %s", pending.decision_id, error)

    async def resume(self, history: Sequence[Message], context: RequestContext) -> ResumedTurn | None:
        """The parked turn this request answers, taken from the store, with its decisions; None to run a new turn.

        The conversation is found by its session id, else by a decision id quoted in the last assistant message (a
        chat client that sends no session id still re-sends the approval text). Each held call's decision is the one
        recorded (API, webhook), else a denial when it expired, else the person's answer in this message. When the
        person wrote something that is no answer, the held calls are denied (they moved on) and a new turn runs.
        """
        turn_id = await self._parked_turn_id(history, context)
        if turn_id is None:
            return None
        stored = await self.store.get(PARKED_TURNS, turn_id)
        if stored is None:
            return None
        parked = ParkedTurn.from_json(stored)
        answer = parse_chat_answer(_last_user_text(history))
        now = self.clock.now()
        decisions: dict[str, ApprovalDecision] = {}
        for pending in parked.pending:
            recorded = await self.store.get(DECISIONS, pending.decision_id)
            if recorded is not None:
                decisions[pending.decision_id] = ApprovalDecision.from_json(recorded)
            elif now >= pending.expires_at:
                decisions[pending.decision_id] = await self._record(
                    pending, ApprovalDecision(Decision.DENY, DecisionSource.EXPIRY, "no decision before it expired")
                )
            elif answer is not None:
                chat = ApprovalDecision(answer.decision, DecisionSource.CHAT, answer.reason, context.approver)
                decisions[pending.decision_id] = await self._record(pending, chat)
        if len(decisions) < len(parked.pending):
            # the person moved on without answering: deny what is still open, then treat the message as a new turn
            for pending in parked.pending:
                if pending.decision_id not in decisions:
                    await self._record(
                        pending,
                        ApprovalDecision(Decision.DENY, DecisionSource.CHAT, "the user replied without approving"),
                    )
            await self.store.delete(PARKED_TURNS, turn_id)
            return None
        taken = await self.store.take(PARKED_TURNS, turn_id)
        if taken is None:  # another worker resumed it between our read and now
            return None
        await self.store.delete(SESSIONS, self._session_key(parked.session_id))
        if answer is not None and answer.all_calls and answer.decision is Decision.APPROVE:
            await self.store.put(
                APPROVE_ALL, self._session_key(parked.session_id), {"by": context.approver}, self.ttl_secs
            )
        return ResumedTurn(parked, decisions)

    async def decide(self, decision_id: str, decision: ApprovalDecision) -> PendingApproval:
        """Record a decision from outside the chat (API or webhook approver): exactly once, before expiry."""
        record = await self.store.get(APPROVALS, decision_id)
        if record is None:
            raise UnknownApproval(decision_id)
        pending = PendingApproval.from_json(record)
        existing = await self.store.get(DECISIONS, decision_id)
        if existing is not None:
            raise DecisionConflict(ApprovalDecision.from_json(existing).decision.value)
        if self.clock.now() >= pending.expires_at:
            await self._record(
                pending, ApprovalDecision(Decision.DENY, DecisionSource.EXPIRY, "no decision before it expired")
            )
            raise ApprovalExpired(decision_id)
        if not await self.store.put_if_absent(DECISIONS, decision_id, decision.to_json(), self.ttl_secs):
            raise DecisionConflict("decided concurrently")
        _log_decision(pending, decision)
        return pending

    async def _record(self, pending: PendingApproval, decision: ApprovalDecision) -> ApprovalDecision:
        """Store a decision unless one is there already; the stored one wins (exactly once)."""
        if await self.store.put_if_absent(DECISIONS, pending.decision_id, decision.to_json(), self.ttl_secs):
            _log_decision(pending, decision)
            return decision
        existing = await self.store.get(DECISIONS, pending.decision_id)
        return decision if existing is None else ApprovalDecision.from_json(existing)

    async def _parked_turn_id(self, history: Sequence[Message], context: RequestContext) -> str | None:
        by_session = await self.store.get(SESSIONS, self._session_key(context.session_id))
        if by_session is not None:
            return str(by_session["turn_id"])
        for message in reversed(history):
            if isinstance(message, AssistantMessage):
                for decision_id in DECISION_ID_PATTERN.findall(message.content):
                    record = await self.store.get(APPROVALS, decision_id)
                    if record is not None and record.get("agent_id") == self.agent_id:
                        return str(record["turn_id"])
                return None
        return None

    def _session_key(self, session_id: str) -> str:
        return f"{self.agent_id}:{session_id}"


def _log_decision(pending: PendingApproval, decision: ApprovalDecision) -> None:
    logger.info(
        "approval %s: id=%s tool=%s by=%s via=%s reason=%s",
        "approved" if decision.decision is Decision.APPROVE else "denied",
        pending.decision_id,
        pending.call.name,
        decision.approver or "-",
        decision.source.value,
        decision.reason or "-",
    )


def denial_text(decision: ApprovalDecision) -> str:
    who = f" by {decision.approver}" if decision.approver else ""
    if decision.source is DecisionSource.EXPIRY:
        return "Denied: nobody approved this tool call before the approval expired. Do not retry it unasked."
    why = f": {decision.reason}" if decision.reason else ""
    return f"Denied{who}: a person refused to run this tool call{why}. Do not retry it unasked."


def _last_user_text(history: Sequence[Message]) -> str:
    for message in reversed(history):
        if isinstance(message, UserMessage):
            return message.text
        if isinstance(message, AssistantMessage):
            return ""
    return ""

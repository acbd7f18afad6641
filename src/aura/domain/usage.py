"""Token usage, kept in the three distinct forms the API reports."""

from __future__ import annotations

import attrs


@attrs.frozen
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
        )

    @staticmethod
    def of(prompt_tokens: int, completion_tokens: int) -> Usage:
        return Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)


@attrs.define
class UsageTracker:
    """Accumulates per-round usage into the aggregate and the turn view.

    aggregate: sums of every round (what the final chunk and JSON `usage` report).
    turn: prompt tokens of the first round + all completion tokens ("context size after this turn",
    reported by `aura.usage` and tracing).
    """

    aggregate: Usage = Usage()
    first_prompt_tokens: int | None = None
    completion_tokens: int = 0
    tool_completion_tokens: int = 0
    rounds: int = 0

    def record(self, usage: Usage, *, round_called_tools: bool) -> None:
        self.rounds += 1
        self.aggregate = self.aggregate + usage
        if self.first_prompt_tokens is None and usage.prompt_tokens > 0:
            self.first_prompt_tokens = usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if round_called_tools:
            self.tool_completion_tokens += usage.completion_tokens

    @property
    def turn(self) -> Usage:
        return Usage.of(self.first_prompt_tokens or 0, self.completion_tokens)

    @property
    def known(self) -> bool:
        return self.rounds > 0

"""Retrying a provider stream before its first event: exponential backoff with full jitter.

Once an event has been passed downstream the stream is never retried (the client already saw
text), so a failure after the first byte surfaces as an error on the stream.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

import attrs

from aura.domain.errors import ProviderError

T = TypeVar("T")


@attrs.frozen
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter backoff for the given 0-based attempt; honours a server's Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        delay = random.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_delay))
        return delay


async def stream_with_retries(
    open_stream: Callable[[], AsyncIterator[T]],
    classify: Callable[[Exception], ProviderError | None],
    policy: RetryPolicy,
    *,
    retry_after: Callable[[Exception], float | None] = lambda _: None,
) -> AsyncGenerator[T, None]:
    """Yield from `open_stream()`, reopening it on retryable errors raised before the first item.

    `classify` maps an SDK exception to a `ProviderError` (None: not a provider error, re-raise).
    """
    attempt = 0
    while True:
        yielded = False
        try:
            stream = open_stream()
            try:
                async for item in stream:
                    yielded = True
                    yield item
            finally:
                # an early stop by the consumer closes the provider stream (and its connection) right away
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()
            return
        except ProviderError as error:
            failure: ProviderError = error
            cause: Exception = error
        except Exception as error:
            classified = classify(error)
            if classified is None:
                raise
            failure, cause = classified, error
        if yielded or not failure.retryable or attempt + 1 >= policy.max_attempts:
            raise failure from (cause if cause is not failure else None)
        await asyncio.sleep(policy.delay(attempt, retry_after(cause)))
        attempt += 1

"""The tracing port: the domain opens spans without knowing about OpenTelemetry."""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

logger = logging.getLogger(__name__)

AttributeValue = str | int | float | bool


class SpanKind(enum.Enum):
    """OpenInference span kinds."""

    AGENT = "AGENT"
    LLM = "LLM"
    TOOL = "TOOL"
    RETRIEVER = "RETRIEVER"
    CHAIN = "CHAIN"


@runtime_checkable
class Span(Protocol):
    """A started span; ended explicitly so it can live across `yield`s of an async generator."""

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None: ...

    def record_error(self, message: str) -> None: ...

    def end(self) -> None: ...

    @property
    def trace_id(self) -> str | None:
        """32-hex trace id when tracing is on."""
        ...


@runtime_checkable
class Tracer(Protocol):
    """Starts spans with an explicit parent (no ambient context, which async generators break)."""

    @property
    def records_content(self) -> bool:
        """Whether prompts, answers and tool payloads may be recorded (OTEL_RECORD_CONTENT)."""
        ...

    def start_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: Span | None = None,
    ) -> Span: ...


class _NoopSpan:
    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        return None

    def record_error(self, message: str) -> None:
        return None

    def end(self) -> None:
        return None

    @property
    def trace_id(self) -> str | None:
        return None


class NoopTracer:
    """Tracing off: one shared span object, nothing recorded."""

    _span = _NoopSpan()

    @property
    def records_content(self) -> bool:
        return False

    def start_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: Span | None = None,
    ) -> Span:
        return self._span


class GuardedTracer:
    """Forwards to a tracer but never lets its failure reach a turn: a tracing bug is logged once.

    A span that fails to start is replaced by a no-op span, so the work it would have traced still runs.
    """

    def __init__(self, inner: Tracer) -> None:
        self.inner = inner
        self._warned = False

    def failed(self, method: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                "tracer %s.%s failed; traces may be incomplete", type(self.inner).__name__, method, exc_info=True
            )

    @property
    def records_content(self) -> bool:
        try:
            return bool(self.inner.records_content)
        except Exception:
            self.failed("records_content")
            return False

    def start_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: Span | None = None,
    ) -> Span:
        inner_parent = parent.inner if isinstance(parent, _GuardedSpan) else parent
        try:
            span = self.inner.start_span(name, kind, attributes, inner_parent)
        except Exception:
            self.failed("start_span")
            return NoopTracer._span
        return _GuardedSpan(span, self)


class _GuardedSpan:
    __slots__ = ("_tracer", "inner")

    def __init__(self, inner: Span, tracer: GuardedTracer) -> None:
        self.inner = inner
        self._tracer = tracer

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        try:
            self.inner.set_attribute(key, value)
        except Exception:
            self._tracer.failed("Span.set_attribute")

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        try:
            self.inner.set_attributes(attributes)
        except Exception:
            self._tracer.failed("Span.set_attributes")

    def record_error(self, message: str) -> None:
        try:
            self.inner.record_error(message)
        except Exception:
            self._tracer.failed("Span.record_error")

    def end(self) -> None:
        try:
            self.inner.end()
        except Exception:
            self._tracer.failed("Span.end")

    @property
    def trace_id(self) -> str | None:
        try:
            return self.inner.trace_id
        except Exception:
            self._tracer.failed("Span.trace_id")
            return None


def guarded(tracer: Tracer) -> Tracer:
    """`tracer` behind a `GuardedTracer`, unless it is the no-op tracer (nothing to guard) or already guarded."""
    if isinstance(tracer, NoopTracer | GuardedTracer):
        return tracer
    return GuardedTracer(tracer)

"""The tracing port: the domain opens spans without knowing about OpenTelemetry."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

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

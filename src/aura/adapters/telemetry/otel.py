"""The `Tracer` port on the OpenTelemetry SDK, with OpenInference attributes, and its env-driven setup.

The domain opens spans with an explicit parent (async generators break OTel's ambient context);
this adapter turns that parent into an OTel context, stamps `openinference.span.kind`, and cuts long
string values so one huge prompt or tool result cannot bloat an export batch.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.re import parse_env_headers

from aura.adapters.telemetry.logging import mask_secrets
from aura.ports.tracer import AttributeValue, NoopTracer, Span, SpanKind, Tracer

logger = logging.getLogger(__name__)

INSTRUMENTATION_NAME = "aura"
SPAN_KIND_ATTRIBUTE = "openinference.span.kind"
TRUNCATION_SUFFIX = "..."
DEFAULT_SERVICE_NAME = "aura"
DEFAULT_CONTENT_MAX_LENGTH = 1000
# An LLM span records two attributes per input message; the SDK default of 128 would silently drop
# most of a long conversation.
DEFAULT_SPAN_ATTRIBUTE_COUNT_LIMIT = 1024
SHUTDOWN_TIMEOUT_SECS = 5.0
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")


def truncate_utf8(value: str, max_bytes: int) -> str:
    """`value` cut to at most `max_bytes` UTF-8 bytes (never inside a character) plus `...`; 0 = no limit."""
    if max_bytes <= 0 or len(value) * 4 <= max_bytes:  # 4 bytes is the widest UTF-8 character
        return value
    encoded = value.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", "ignore") + TRUNCATION_SUFFIX


class OpenTelemetrySpan:
    """One OTel span behind the port's `Span`; ignores calls after `end()` instead of warning."""

    __slots__ = ("_ended", "_max_value_length", "otel_span")

    def __init__(self, otel_span: trace.Span, max_value_length: int) -> None:
        self.otel_span = otel_span
        self._max_value_length = max_value_length
        self._ended = False

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self._ended:
            return
        if isinstance(value, str):
            value = truncate_utf8(value, self._max_value_length)
        self.otel_span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def record_error(self, message: str) -> None:
        if self._ended:
            return
        description = truncate_utf8(mask_secrets(message), self._max_value_length)
        self.otel_span.set_status(Status(StatusCode.ERROR, description))

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self.otel_span.end()

    @property
    def trace_id(self) -> str | None:
        context = self.otel_span.get_span_context()
        return trace.format_trace_id(context.trace_id) if context.is_valid else None


class OpenTelemetryTracer:
    """The `Tracer` port on an OTel `TracerProvider` (the global one when none is given).

    `record_content` allows prompts, answers and tool payloads on spans (OTEL_RECORD_CONTENT);
    every string value is cut to `max_value_length` UTF-8 bytes (0: unlimited). A span without a
    parent joins the caller's current OTel context, so an embedding application's span becomes
    the parent of Aura's request span.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        record_content: bool = False,
        max_value_length: int = DEFAULT_CONTENT_MAX_LENGTH,
    ) -> None:
        if isinstance(max_value_length, bool) or not isinstance(max_value_length, int) or max_value_length < 0:
            raise ValueError(
                f"OpenTelemetryTracer: max_value_length must be a non-negative integer, got {max_value_length!r}"
            )
        self._provider = tracer_provider
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(INSTRUMENTATION_NAME)
        self._record_content = record_content
        self.max_value_length = max_value_length

    @property
    def records_content(self) -> bool:
        return self._record_content

    @property
    def tracer_provider(self) -> trace.TracerProvider | None:
        """The provider given at construction (None: the global one, which this tracer never shuts down)."""
        return self._provider

    def start_span(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None = None,
        parent: Span | None = None,
    ) -> Span:
        context = trace.set_span_in_context(parent.otel_span) if isinstance(parent, OpenTelemetrySpan) else None
        otel_span = self._tracer.start_span(name, context=context, attributes={SPAN_KIND_ATTRIBUTE: kind.value})
        span = OpenTelemetrySpan(otel_span, self.max_value_length)
        if attributes:
            span.set_attributes(attributes)
        return span

    def force_flush(self, timeout_secs: float = SHUTDOWN_TIMEOUT_SECS) -> bool:
        """Export finished spans now; blocks (call it from a thread inside an event loop). True if done in time."""
        flush = getattr(self._provider, "force_flush", None)
        if flush is None:
            return True
        return bool(flush(int(timeout_secs * 1000)))

    def shutdown(self, timeout_secs: float = SHUTDOWN_TIMEOUT_SECS) -> bool:
        """Flush and stop the exporter within `timeout_secs`; True if it finished in time.

        The SDK's own shutdown waits up to 30 s for an unreachable collector, so it runs in a
        daemon thread that is abandoned after the limit. Blocks: call it after the event loop,
        or with `asyncio.to_thread`.
        """
        stop = getattr(self._provider, "shutdown", None)
        if stop is None:
            return True
        worker = threading.Thread(target=stop, name="aura-otel-shutdown", daemon=True)
        worker.start()
        worker.join(timeout_secs)
        if worker.is_alive():
            logger.warning(
                "OpenTelemetry exporter did not shut down within %g s; unexported spans are dropped", timeout_secs
            )
            return False
        return True


@attrs.frozen
class TracingSettings:
    """What `configure_tracing` read from the environment."""

    endpoint: str | None
    service_name: str = DEFAULT_SERVICE_NAME
    record_content: bool = False
    content_max_length: int = DEFAULT_CONTENT_MAX_LENGTH
    headers: Mapping[str, str] = attrs.field(factory=dict)
    timeout_secs: float | None = None
    protocol: str = "http/protobuf"
    attribute_count_limit: int = DEFAULT_SPAN_ATTRIBUTE_COUNT_LIMIT

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None


def tracing_settings(environ: Mapping[str, str]) -> TracingSettings:
    """Read the OTEL_* variables; a bad value is logged (naming the variable) and replaced by its default."""
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    disabled = _flag(environ, "OTEL_SDK_DISABLED", default=False)
    traces_endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    endpoint = None
    if base and not disabled:
        endpoint = traces_endpoint or _traces_url(base)
    headers_text = environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    timeout_text = environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or environ.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    ).strip() or "http/protobuf"
    return TracingSettings(
        endpoint=endpoint,
        service_name=environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME,
        record_content=_flag(environ, "OTEL_RECORD_CONTENT", default=False),
        content_max_length=_count(environ, "OTEL_CONTENT_MAX_LENGTH", DEFAULT_CONTENT_MAX_LENGTH),
        headers=dict(parse_env_headers(headers_text, liberal=True)),
        timeout_secs=_seconds(timeout_text),
        protocol=protocol,
        attribute_count_limit=_count(environ, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", DEFAULT_SPAN_ATTRIBUTE_COUNT_LIMIT),
    )


def configure_tracing(
    environ: Mapping[str, str], *, exporter: SpanExporter | None = None
) -> OpenTelemetryTracer | NoopTracer:
    """An exporting `OpenTelemetryTracer` when OTEL_EXPORTER_OTLP_ENDPOINT is set, else the free `NoopTracer`.

    Exports OTLP over HTTP/protobuf with a batch processor (its own thread, so the event loop never
    waits on the collector). `exporter` replaces the OTLP exporter (tests, custom backends). The
    provider is not installed globally; call `shutdown()` on the tracer at exit. If the exporter
    cannot be built, a warning is logged and tracing stays off, as the server must run regardless.
    """
    settings = tracing_settings(environ)
    if not settings.enabled:
        return NoopTracer()
    if exporter is None:
        try:
            exporter = _otlp_exporter(settings)
        except Exception as error:  # a broken exporter setup must not stop the server
            logger.warning("OpenTelemetry export disabled: cannot create the OTLP exporter: %s", error)
            return NoopTracer()
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.service_name}),
        span_limits=SpanLimits(max_span_attributes=settings.attribute_count_limit),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    logger.info(
        "OpenTelemetry tracing on: service %s, exporting to %s (content recording %s)",
        settings.service_name,
        _without_credentials(settings.endpoint),
        "on" if settings.record_content else "off",
    )
    return OpenTelemetryTracer(
        provider, record_content=settings.record_content, max_value_length=settings.content_max_length
    )


def _otlp_exporter(settings: TracingSettings) -> SpanExporter:
    if settings.protocol == "grpc":
        raise RuntimeError(
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the opentelemetry-exporter-otlp-proto-grpc package, which is "
            "not installed; use http/protobuf (collector port 4318, Phoenix port 6006)"
        )
    if settings.protocol != "http/protobuf":
        raise RuntimeError(f"OTEL_EXPORTER_OTLP_PROTOCOL={settings.protocol!r} is not supported; use http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.endpoint, headers=settings.headers, timeout=settings.timeout_secs)


def _traces_url(base: str) -> str:
    """`<base>/v1/traces`, the signal path appended to the base URL's path (its query string kept)."""
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/v1/traces"))


def _without_credentials(url: str | None) -> str:
    """The URL minus any `user:password@` part, safe to log."""
    parts = urllib.parse.urlsplit(url or "")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _flag(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    word = environ.get(name, "").strip().lower()
    if not word:
        return default
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    logger.warning("%s=%r is not a boolean (true/1/yes or false/0/no); using %s", name, word, default)
    return default


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        logger.warning("%s=%r is not a non-negative integer; using %d", name, text, default)
        return default
    return value


def _seconds(text: str | None) -> float | None:
    """OTLP timeouts are seconds in the Python SDK (not the spec's milliseconds); a bad value keeps its default."""
    if not text or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        logger.warning("OTLP exporter timeout %r is not a number of seconds; using the SDK default", text)
        return None
    return value if value > 0 else None


def shutdown_tracing(tracer: Tracer, timeout_secs: float = SHUTDOWN_TIMEOUT_SECS) -> bool:
    """Flush and stop `tracer` if it exports (the server's exit path); any other tracer is left alone."""
    if isinstance(tracer, OpenTelemetryTracer):
        return tracer.shutdown(timeout_secs)
    return True


if TYPE_CHECKING:
    _PORT_CHECK: type[Tracer] = OpenTelemetryTracer  # mypy: the class satisfies the port

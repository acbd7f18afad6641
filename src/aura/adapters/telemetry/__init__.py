"""Observability adapters: OpenTelemetry tracing with OpenInference attributes, JSON logs, Prometheus metrics."""

from aura.adapters.telemetry.logging import (
    JsonLogFormatter,
    LogContext,
    LogContextFilter,
    SecretMaskingFilter,
    TextLogFormatter,
    configure_logging,
    current_log_context,
    log_context,
    mask_secrets,
    reset_log_context,
    set_log_context,
)
from aura.adapters.telemetry.metrics import ServerMetrics, StreamObservation, metrics_handler
from aura.adapters.telemetry.otel import (
    OpenTelemetrySpan,
    OpenTelemetryTracer,
    TracingSettings,
    configure_tracing,
    shutdown_tracing,
    tracing_settings,
    truncate_utf8,
)

__all__ = [
    "JsonLogFormatter",
    "LogContext",
    "LogContextFilter",
    "OpenTelemetrySpan",
    "OpenTelemetryTracer",
    "SecretMaskingFilter",
    "ServerMetrics",
    "StreamObservation",
    "TextLogFormatter",
    "TracingSettings",
    "configure_logging",
    "configure_tracing",
    "current_log_context",
    "log_context",
    "mask_secrets",
    "metrics_handler",
    "reset_log_context",
    "set_log_context",
    "shutdown_tracing",
    "tracing_settings",
    "truncate_utf8",
]

"""The OpenAPI 3.1 description of the server, served at `GET /openapi.json`.

Schemas are plain JSON Schema 2020-12 (OpenAPI 3.1), closed with `additionalProperties: false` on
responses so the integration tests can validate real responses against this document and catch
drift in either direction. SSE frames are described by `ChatCompletionChunk` and the `Aura*Event`
schemas (the JSON after `data: `).
"""

from __future__ import annotations

import copy
from typing import Any

from aura import __version__

_STRING_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_INT = {"type": "integer", "minimum": 0}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _event(fields: dict[str, Any], required: list[str], description: str) -> dict[str, Any]:
    correlation = {"agent_id": {"type": "string"}, "session_id": {"type": "string"}, "trace_id": {"type": "string"}}
    schema = _closed({**fields, **correlation}, [*required, "agent_id", "session_id"])
    schema["description"] = description
    return schema


_ERROR_RESPONSE = {"content": {"application/json": {"schema": _ref("Error")}}}

_SCHEMAS: dict[str, Any] = {
    "Error": _closed(
        {
            "error": _closed(
                {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": _STRING_OR_NULL,
                    "code": _STRING_OR_NULL,
                },
                ["message", "type", "param", "code"],
            )
        },
        ["error"],
    ),
    "Health": _closed({"status": {"const": "healthy"}}, ["status"]),
    "Readiness": _closed(
        {
            "status": {"enum": ["ready", "not_ready"]},
            "checks": {
                "type": "object",
                "description": "`<agent id>/vector_store/<store name>` -> its state. Where and why a check failed "
                "is logged, never shown here.",
                "additionalProperties": {"enum": ["ok", "unreachable", "unreachable (optional)", "not checked"]},
            },
        },
        ["status", "checks"],
    ),
    "Model": _closed(
        {
            "id": {"type": "string", "description": "The agent id: its alias if set, else its name."},
            "object": {"const": "model"},
            "created": _INT,
            "owned_by": {"type": "string"},
        },
        ["id", "object", "created", "owned_by"],
    ),
    "ToolInfo": _closed(
        {
            "name": {"type": "string", "description": "The name the model calls it by."},
            "description": {"type": "string"},
            "toolset": {"type": "string", "description": "The MCP server id or built-in toolset it comes from."},
            "annotations": {"type": "object", "description": "The MCP tool annotations the server published."},
            "approval": _closed(
                {
                    "required": {"type": "boolean"},
                    "rule": {"enum": ["always", "never", "by-annotation"]},
                    "reason": {"type": "string"},
                },
                ["required", "rule", "reason"],
            ),
        },
        ["name", "description", "toolset", "annotations", "approval"],
    ),
    "Approval": _closed(
        {
            "id": {"type": "string"},
            "object": {"const": "approval"},
            "status": {"enum": ["pending", "decided", "recorded"]},
            "agent": {"type": "string"},
            "tool": {"type": "string"},
            "server": {"type": "string"},
            "arguments": {"type": "string", "description": "The call's arguments, as the model wrote them (JSON)."},
            "reason": {"type": "string", "description": "Why the call needs approval."},
            "expires_at": _INT,
            "decision": {"type": "object"},
        },
        ["id", "object", "status", "agent", "tool", "server", "arguments", "reason", "expires_at"],
    ),
    "ApprovalDecisionRequest": {
        "type": "object",
        "properties": {
            "decision": {"enum": ["approve", "deny"]},
            "reason": {"type": "string", "maxLength": 2000},
            "approver": {"type": "string"},
        },
        "required": ["decision"],
    },
    "ResponsesRequest": {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
            "instructions": {"type": ["string", "null"]},
            "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {},
            "previous_response_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 128},
            "store": {"type": "boolean"},
            "stream": {"type": "boolean"},
            "metadata": {"type": ["object", "null"], "additionalProperties": {"type": "string"}, "maxProperties": 16},
        },
        "required": ["input"],
    },
    "ResponseObject": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "response"},
            "created_at": _INT,
            "status": {"enum": ["completed", "failed", "incomplete", "in_progress"]},
            "model": {"type": "string"},
            "output": {"type": "array", "items": {"type": "object", "required": ["type"]}},
            "usage": {"type": ["object", "null"]},
            "error": {"type": ["object", "null"]},
            "previous_response_id": {"type": ["string", "null"]},
        },
        "required": ["id", "object", "created_at", "status", "model", "output"],
    },
    "ModelList": _closed(
        {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}}, ["object", "data"]
    ),
    "ContentPart": {
        "oneOf": [
            _closed({"type": {"const": "text"}, "text": {"type": "string"}}, ["type", "text"]),
            _closed({"type": {"const": "refusal"}, "refusal": {"type": "string"}}, ["type", "refusal"]),
            {
                "type": "object",
                "properties": {
                    "type": {"const": "image_url"},
                    "image_url": {
                        "type": "object",
                        "properties": {"url": {"type": "string", "minLength": 1}, "detail": {"type": "string"}},
                        "required": ["url"],
                    },
                },
                "required": ["type", "image_url"],
            },
        ]
    },
    "ChatMessage": {
        "type": "object",
        "description": "Client `system`/`developer` messages are dropped (the agent's system prompt is used); "
        "`tool_calls` and `tool` messages of earlier turns and OpenWebUI tool panels are folded into notes. The last "
        "message must be `user`, or (client tools) the `tool` results answering every call of the assistant message "
        "before them.",
        "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
            "content": {
                "oneOf": [{"type": "string"}, {"type": "null"}, {"type": "array", "items": _ref("ContentPart")}]
            },
            "tool_calls": {
                "description": "Assistant messages: OpenAI tool calls (each `id`, `function.name`, "
                "`function.arguments`); checked strictly after the last user message, folded when earlier."
            },
            "tool_call_id": {"description": "Tool messages: the id of the call answered (a string)."},
        },
        "required": ["role"],
    },
    "ChatCompletionRequest": {
        "type": "object",
        "description": "Other OpenAI fields (temperature, stream_options, ...) are accepted and ignored.",
        "properties": {
            "tools": {
                "type": ["array", "null"],
                "items": _ref("FunctionTool"),
                "description": "Client tools: offered only by an agent with [agent.client_tools], else ignored.",
            },
            "tool_choice": {"description": '`"none"` offers no client tools; other values are ignored.'},
            "model": {**_STRING_OR_NULL, "description": "Agent id or name; optional with one agent or DEFAULT_AGENT."},
            "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
            "stream": {"type": ["boolean", "null"]},
            "max_tokens": {"type": ["integer", "null"], "minimum": 0},
            "max_completion_tokens": {"type": ["integer", "null"], "minimum": 0},
            "metadata": {
                "type": ["object", "null"],
                "properties": {
                    "chat_session_id": {
                        "type": "string",
                        "pattern": "^[^\\x00-\\x1f\\x7f]*$",
                        "description": "Echoed in the X-Chat-Session-Id header: no control characters.",
                    }
                },
            },
        },
        "required": ["messages"],
    },
    "FunctionTool": {
        "type": "object",
        "description": "Checked for every agent, including one that ignores the request's tools.",
        "properties": {
            "type": {"const": "function"},
            "function": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    # null is read as absent (some clients send it for a tool without a docstring or arguments)
                    "description": _STRING_OR_NULL,
                    "parameters": {"type": ["object", "null"]},
                },
                "required": ["name"],
            },
        },
        "required": ["function"],
    },
    "ToolCall": _closed(
        {
            "id": {"type": "string"},
            "type": {"const": "function"},
            "function": _closed({"name": {"type": "string"}, "arguments": {"type": "string"}}, ["name", "arguments"]),
        },
        ["id", "type", "function"],
    ),
    "Usage": _closed(
        {"prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT},
        ["prompt_tokens", "completion_tokens", "total_tokens"],
    ),
    "ChatCompletion": _closed(
        {
            "id": {"type": "string", "pattern": "^chatcmpl-"},
            "object": {"const": "chat.completion"},
            "created": _INT,
            "model": {"type": "string", "description": "`<provider>/<model>` of the agent."},
            "choices": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": _closed(
                    {
                        "index": {"const": 0},
                        "message": _closed(
                            {
                                "role": {"const": "assistant"},
                                "content": {"type": ["string", "null"]},
                                "tool_calls": {"type": "array", "minItems": 1, "items": _ref("ToolCall")},
                            },
                            ["role", "content"],
                        ),
                        "finish_reason": {"enum": ["stop", "length", "tool_calls"]},
                    },
                    ["index", "message", "finish_reason"],
                ),
            },
            "usage": _ref("Usage"),
            "metadata": _closed({"chat_session_id": {"type": "string"}}, ["chat_session_id"]),
        },
        ["id", "object", "created", "model", "choices", "usage", "metadata"],
    ),
    "ToolCallDelta": _closed(
        {
            "index": _INT,
            "id": {"type": "string"},
            "type": {"const": "function"},
            "function": _closed({"name": {"type": "string"}, "arguments": {"type": "string"}}, ["name", "arguments"]),
        },
        ["index", "id", "type", "function"],
    ),
    "ChatCompletionChunk": _closed(
        {
            "id": {"type": "string", "pattern": "^chatcmpl-"},
            "object": {"const": "chat.completion.chunk"},
            "created": _INT,
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": _closed(
                    {
                        "index": {"const": 0},
                        "delta": _closed(
                            {
                                "role": {"const": "assistant"},
                                "content": {"type": "string"},
                                "tool_calls": {"type": "array", "minItems": 1, "items": _ref("ToolCallDelta")},
                            },
                            [],
                        ),
                        "finish_reason": {"enum": ["stop", "length", "tool_calls"]},
                    },
                    ["index", "delta"],
                ),
            },
            "usage": _ref("Usage"),
        },
        ["id", "object", "created", "model", "choices"],
    ),
    "AuraSessionInfoEvent": _event(
        {"model": {"type": "string"}, "model_context_limit": _INT}, ["model"], "event: aura.session_info"
    ),
    "AuraToolRequestedEvent": _event(
        {"tool_id": {"type": "string"}, "tool_name": {"type": "string"}, "arguments": {}},
        ["tool_id", "tool_name", "arguments"],
        "event: aura.tool_requested",
    ),
    "AuraToolStartEvent": _event(
        {
            "tool_id": {"type": "string"},
            "tool_name": {"type": "string"},
            "progress_token": {"type": ["string", "integer"]},
        },
        ["tool_id", "tool_name"],
        "event: aura.tool_start",
    ),
    "AuraProgressEvent": _event(
        {
            "message": {"type": "string"},
            "phase": {"const": "mcp_progress"},
            "percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "progress_token": {"type": ["string", "integer"]},
            "tool_id": {"type": "string"},
        },
        ["message", "phase"],
        "event: aura.progress",
    ),
    "AuraToolCompleteEvent": _event(
        {
            "tool_id": {"type": "string"},
            "tool_name": {"type": "string"},
            "duration_ms": _INT,
            "success": {"type": "boolean"},
            "result": {"type": "string"},
            "error_message": {"type": "string"},
        },
        ["tool_id", "tool_name", "duration_ms", "success"],
        "event: aura.tool_complete (`result` on success, truncated; `error_message` on failure, in full)",
    ),
    "AuraReasoningEvent": _event({"content": {"type": "string"}}, ["content"], "event: aura.reasoning"),
    "AuraToolUsageEvent": _event(
        {
            "tool_ids": {"type": "array", "items": {"type": "string"}},
            "prompt_tokens": _INT,
            "completion_tokens": _INT,
            "total_tokens": _INT,
        },
        ["tool_ids", "prompt_tokens", "completion_tokens", "total_tokens"],
        "event: aura.tool_usage",
    ),
    "AuraUsageEvent": _event(
        {"prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT},
        ["prompt_tokens", "completion_tokens", "total_tokens"],
        "event: aura.usage",
    ),
}

EVENT_SCHEMAS = {
    "aura.session_info": "AuraSessionInfoEvent",
    "aura.tool_requested": "AuraToolRequestedEvent",
    "aura.tool_start": "AuraToolStartEvent",
    "aura.progress": "AuraProgressEvent",
    "aura.tool_complete": "AuraToolCompleteEvent",
    "aura.reasoning": "AuraReasoningEvent",
    "aura.tool_usage": "AuraToolUsageEvent",
    "aura.usage": "AuraUsageEvent",
}
"""SSE event name → the component schema of its `data:` JSON."""

# OpenAPI 3.2 reads the schema of a `text/event-stream` response as the schema of each event, as a
# client parses it (schemathesis does so for 3.1 documents too); `data` is JSON text or `[DONE]`.
_SCHEMAS["ModelDetail"] = _closed(
    {**_SCHEMAS["Model"]["properties"], "tools": {"type": "array", "items": _ref("ToolInfo")}},
    [*_SCHEMAS["Model"]["required"], "tools"],
)
_SCHEMAS["ServerSentEvent"] = _closed(
    {
        "event": {
            "enum": ["message", *EVENT_SCHEMAS],
            "description": "`message` (no `event:` line) for `data: <ChatCompletionChunk>` and `data: [DONE]`; "
            "an `aura.*` name for `data: <Aura*Event>`.",
        },
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
    ["data"],
)

_SCHEMAS["ResponsesServerSentEvent"] = _closed(
    {
        "event": {
            "type": "string",
            "pattern": "^(response[.][a-z_.]+|error)$",
            "description": "The Responses event type (`response.created`, `response.output_text.delta`, ...); "
            "`data` is the event as JSON, with the same `type` and a `sequence_number`. `: heartbeat` comments "
            "carry no event.",
        },
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
    ["event", "data"],
)

_UNAVAILABLE = {"description": "The server is shutting down.", **_ERROR_RESPONSE}
_UNAUTHORIZED = {
    "description": "API-key authentication is on and the `Authorization: Bearer <key>` header is missing, "
    "malformed or holds an unknown key (code `invalid_api_key`).",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    **_ERROR_RESPONSE,
}

_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "Liveness",
            "description": "Never needs an API key; asks no dependency.",
            "security": [],
            "responses": {
                "200": {"description": "Serving.", "content": {"application/json": {"schema": _ref("Health")}}},
                "503": _UNAVAILABLE,
            },
        }
    },
    "/ready": {
        "get": {
            "summary": "Readiness",
            "description": "Never needs an API key. Asks every vector store an agent searches (each within 2 s; "
            "the answer is reused for 5 s); 503 while a required one cannot be reached.",
            "security": [],
            "responses": {
                "200": {
                    "description": "Every required dependency answers.",
                    "content": {"application/json": {"schema": _ref("Readiness")}},
                },
                "503": {
                    "description": "A required dependency cannot be reached (a `Readiness` body with "
                    "`status: not_ready`), or the server is shutting down (an `Error` body).",
                    "content": {"application/json": {"schema": {"oneOf": [_ref("Readiness"), _ref("Error")]}}},
                },
            },
        }
    },
    "/v1/models": {
        "get": {
            "summary": "The served agents, as OpenAI models",
            "responses": {
                "200": {
                    "description": "One entry per agent.",
                    "content": {"application/json": {"schema": _ref("ModelList")}},
                },
                "401": _UNAUTHORIZED,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/models/{model}": {
        "get": {
            "summary": "One served agent, as an OpenAI model",
            "parameters": [
                {
                    "name": "model",
                    "in": "path",
                    "required": True,
                    "description": "The agent id (its alias if set, else its name); the name is accepted too.",
                    "schema": {"type": "string", "minLength": 1},
                }
            ],
            "responses": {
                "200": {
                    "description": "The agent, with `tools`: each tool it offers, its MCP annotations and whether a "
                    "call waits for a person's approval.",
                    "content": {"application/json": {"schema": _ref("ModelDetail")}},
                },
                "401": _UNAUTHORIZED,
                "404": {"description": "No such agent (code `model_not_found`).", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/approvals/{decision_id}": {
        "parameters": [
            {
                "name": "decision_id",
                "in": "path",
                "required": True,
                "description": "The id shown in the approval request (`apr_...`).",
                "schema": {"type": "string", "minLength": 1},
            }
        ],
        "get": {
            "summary": "A pending approval and its decision so far",
            "responses": {
                "200": {"description": "The approval.", "content": {"application/json": {"schema": _ref("Approval")}}},
                "401": _UNAUTHORIZED,
                "404": {"description": "No such approval (code `approval_not_found`).", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
            },
        },
        "post": {
            "summary": "Approve or deny a held tool call",
            "description": "Recorded exactly once; the parked turn resumes in the response to the conversation's "
            "next message. With an approval webhook secret, the body must be signed (`X-Aura-Timestamp`, "
            "`X-Aura-Signature: sha256=<HMAC-SHA256 of '<timestamp>.<body>'>`).",
            "parameters": [
                {"name": "X-Aura-Timestamp", "in": "header", "required": False, "schema": {"type": "string"}},
                {"name": "X-Aura-Signature", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ApprovalDecisionRequest")}},
            },
            "responses": {
                "200": {
                    "description": "The decision was recorded.",
                    "content": {"application/json": {"schema": _ref("Approval")}},
                },
                "400": {"description": "The body is not a valid decision.", **_ERROR_RESPONSE},
                "401": {"description": "A missing, forged, stale or replayed signature.", **_ERROR_RESPONSE},
                "404": {"description": "No such approval (code `approval_not_found`).", **_ERROR_RESPONSE},
                "409": {"description": "Already decided, or expired (a denial).", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/responses": {
        "post": {
            "summary": "Run one agent turn, answered in the OpenAI Responses format",
            "description": "The same turn as chat completions. `input` is a string or input items (messages, "
            "`function_call_output` for client tools); `previous_response_id` continues a stored response's "
            "conversation. With `stream: true` the answer is an SSE stream of Responses events (`event: <type>` + "
            "`data: <event>`), ending with `response.completed`, `response.incomplete` or `response.failed`.",
            "parameters": [
                {"name": "X-Chat-Session-Id", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ResponsesRequest")}},
            },
            "responses": {
                "200": {
                    "description": "A `response` object, or with `stream: true` an SSE stream of Responses events.",
                    "content": {
                        "application/json": {"schema": _ref("ResponseObject")},
                        "text/event-stream": {"schema": _ref("ResponsesServerSentEvent")},
                    },
                },
                "400": {"description": "The request is not valid; `param` names the field.", **_ERROR_RESPONSE},
                "401": _UNAUTHORIZED,
                "404": {
                    "description": "Unknown model, or `previous_response_id` not found (code `not_found`).",
                    **_ERROR_RESPONSE,
                },
                "413": {"description": "The body is too large.", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
            },
        }
    },
    "/v1/responses/{response_id}": {
        "parameters": [
            {"name": "response_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        ],
        "get": {
            "summary": "A stored response",
            "responses": {
                "200": {
                    "description": "The response.",
                    "content": {"application/json": {"schema": _ref("ResponseObject")}},
                },
                "401": _UNAUTHORIZED,
                "404": {"description": "Never stored, deleted or expired (code `not_found`).", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
            },
        },
        "delete": {
            "summary": "Delete a stored response",
            "responses": {
                "200": {
                    "description": "Deleted.",
                    "content": {
                        "application/json": {
                            "schema": _closed(
                                {"id": {"type": "string"}, "object": {"const": "response"}, "deleted": {"const": True}},
                                ["id", "object", "deleted"],
                            )
                        }
                    },
                },
                "401": _UNAUTHORIZED,
                "404": {"description": "Never stored, deleted or expired (code `not_found`).", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
            },
        },
    },
    "/v1/chat/completions": {
        "post": {
            "summary": "Run one agent turn",
            "parameters": [
                {"name": "X-Chat-Session-Id", "in": "header", "required": False, "schema": {"type": "string"}},
                {"name": "x-openwebui-chat-id", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ChatCompletionRequest")}},
            },
            "responses": {
                "200": {
                    "description": "A `chat.completion` object, or with `stream: true` an SSE stream of "
                    "`chat.completion.chunk` frames (`data: <ChatCompletionChunk>`), optional `aura.*` events "
                    "(`event: <name>` + `data: <Aura*Event>`), `: heartbeat` comments and `data: [DONE]`.",
                    "headers": {"X-Chat-Session-Id": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {"schema": _ref("ChatCompletion")},
                        "text/event-stream": {"schema": _ref("ServerSentEvent")},
                    },
                },
                "400": {"description": "Malformed body or invalid field (the message names it).", **_ERROR_RESPONSE},
                "401": _UNAUTHORIZED,
                "404": {"description": "Unknown model.", **_ERROR_RESPONSE},
                "413": {"description": "Body over the size limit.", **_ERROR_RESPONSE},
                "502": {"description": "Non-streaming: the provider failed before any text.", **_ERROR_RESPONSE},
                "503": _UNAVAILABLE,
                "504": {"description": "Non-streaming: the provider or the turn timed out.", **_ERROR_RESPONSE},
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {
                "200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}},
                "401": _UNAUTHORIZED,
                "503": _UNAVAILABLE,
            },
        }
    },
}


_SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "Only when the server is started with API keys (AURA_API_KEYS or --api-key).",
    }
}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may mutate it)."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Aura OpenAI-compatible API",
                "version": __version__,
                "description": "Every error body is the OpenAI envelope `Error`.",
            },
            "paths": _PATHS,
            # Authentication is optional (AURA_API_KEYS): either no credentials or a bearer key.
            "security": [{}, {"bearerAuth": []}],
            "components": {"schemas": _SCHEMAS, "securitySchemes": _SECURITY_SCHEMES},
        }
    )

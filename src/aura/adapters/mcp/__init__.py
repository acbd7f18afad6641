"""MCP toolsets: the tools of MCP servers over stdio, legacy SSE and streamable HTTP (docs/mcp.md)."""

from aura.adapters.mcp.sse import SseTransport
from aura.adapters.mcp.stdio import StdioTransport
from aura.adapters.mcp.streamable_http import StreamableHttpTransport
from aura.adapters.mcp.toolset import McpServerUnavailable, McpToolset

__all__ = ["McpServerUnavailable", "McpToolset", "SseTransport", "StdioTransport", "StreamableHttpTransport"]

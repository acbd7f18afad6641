"""Aura: declarative LLM agents with MCP tools and RAG, served over an OpenAI-compatible API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aura-agents")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

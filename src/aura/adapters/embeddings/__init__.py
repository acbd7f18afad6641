"""Embedders (`aura.ports.vector_store.Embedder`): OpenAI, AWS Bedrock, and fully offline local ones.

Import the submodule you need; each pulls in only its own SDK.
"""

"""Vector stores (`aura.ports.vector_store.VectorStore`): in-memory (numpy), Qdrant, Bedrock knowledge bases.

Import the submodule you need; each pulls in only its own SDK.
"""

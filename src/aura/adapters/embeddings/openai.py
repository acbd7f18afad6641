"""OpenAI (and OpenAI-compatible) embeddings through the official SDK."""

from __future__ import annotations

import re
from collections.abc import Sequence

import openai

from aura.adapters.per_event_loop import PerEventLoop
from aura.domain.vector_search import EmbeddingError
from aura.ports.vector_store import EmbeddingPurpose

# Known sizes let a store create its collection before the first call; others are learned from it.
KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{3})[A-Za-z0-9_\-*]*")


class OpenAIEmbedder:
    """Embeds texts with `POST /v1/embeddings`, `batch_size` texts per request.

    `base_url` points it at any OpenAI-compatible server (Azure gateways, vLLM, Ollama's `/v1`).
    The SDK retries connection errors, 429 and 5xx `max_retries` times with backoff.
    """

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        *,
        batch_size: int = 256,
        dimensions: int | None = None,
        request_timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if not model:
            raise ValueError("OpenAIEmbedder: 'model' must not be empty")
        if batch_size < 1:
            raise ValueError(f"OpenAIEmbedder: 'batch_size' must be at least 1, got {batch_size}")
        self.model = model
        self._api_key = api_key
        self._batch_size = batch_size
        self._requested_dimensions = dimensions
        self._dimensions = dimensions or KNOWN_DIMENSIONS.get(model)

        # one SDK client per event loop: its pooled connections belong to the loop that opened them
        def new_client() -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=request_timeout, max_retries=max_retries
            )

        self._clients = PerEventLoop(new_client, openai.AsyncOpenAI.close)

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(list(texts[start : start + self._batch_size])))
        if vectors:
            self._dimensions = len(vectors[0])
        return vectors

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        # The API rejects empty strings; a blank chunk still needs a vector to keep positions aligned.
        inputs = [text if text.strip() else " " for text in batch]
        client = await self._clients.get()
        try:
            if self._requested_dimensions is None:
                response = await client.embeddings.create(model=self.model, input=inputs, encoding_format="float")
            else:
                response = await client.embeddings.create(
                    model=self.model, input=inputs, encoding_format="float", dimensions=self._requested_dimensions
                )
        except openai.APIStatusError as error:
            raise EmbeddingError(
                f"OpenAI embeddings request for model '{self.model}' failed (HTTP {error.status_code}): "
                f"{self._redact(_error_message(error))}"
            ) from None
        except openai.APITimeoutError:
            raise EmbeddingError(f"OpenAI embeddings request for model '{self.model}' timed out") from None
        except openai.APIConnectionError as error:
            raise EmbeddingError(
                f"could not reach the OpenAI embeddings endpoint for model '{self.model}': {self._redact(str(error))}"
            ) from None
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs):
            raise EmbeddingError(
                f"OpenAI embeddings for model '{self.model}' returned {len(data)} vectors for {len(inputs)} inputs"
            )
        vectors = [list(item.embedding) for item in data]
        if any(not vector for vector in vectors):
            raise EmbeddingError(f"OpenAI embeddings for model '{self.model}' returned an empty vector")
        return vectors

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _KEY_PATTERN.sub(r"\1***", text)

    async def aclose(self) -> None:
        await self._clients.aclose()


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return message
        inner = body.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message

"""AWS Bedrock embeddings (Titan text v1/v2, Cohere embed) through `InvokeModel`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, TypeGuard

import botocore.exceptions

from aura.adapters.aws_client import LazyAwsClient
from aura.domain.vector_search import EmbeddingError
from aura.ports.vector_store import EmbeddingPurpose

TITAN_V1_DIMENSIONS = 1536
DEFAULT_DIMENSIONS = 1024
COHERE_BATCH_SIZE = 96  # the most texts Cohere embed accepts per call
_TITAN_V2 = "amazon.titan-embed-text-v2"
_TITAN_V1 = "amazon.titan-embed-text-v1"
_COHERE = "cohere.embed-"
_INFERENCE_PROFILE_GEOGRAPHIES = {"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"}


def _family(model: str) -> str:
    # Cross-region inference profiles prefix the model id with a geography, e.g. `us.cohere.embed-v4:0`.
    geography, _, rest = model.partition(".")
    bare = rest if geography in _INFERENCE_PROFILE_GEOGRAPHIES else model
    if bare.startswith(_TITAN_V2):
        return "titan-v2"
    if bare.startswith(_TITAN_V1):
        return "titan-v1"
    if bare.startswith(_COHERE):
        return "cohere"
    raise ValueError(
        f"unsupported Bedrock embedding model: {model} (supported: {_TITAN_V2}*, {_TITAN_V1}*, {_COHERE}*)"
    )


class BedrockEmbedder:
    """Embeds texts with Bedrock `InvokeModel`, using the request shape of the model's family.

    Titan takes one text per call (sent `max_concurrency` at a time); Cohere takes up to 96 per call
    and is told whether it embeds documents (`search_document`) or a query (`search_query`).
    `dimensions` applies to Titan v2 (256, 512 or 1024).
    """

    def __init__(
        self,
        model: str,
        region: str,
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        dimensions: int | None = None,
        max_concurrency: int = 8,
        request_timeout: float = 60.0,
    ) -> None:
        if not region:
            raise ValueError(f"BedrockEmbedder: 'region' is required for model '{model}'")
        self.model = model
        self._family = _family(model)
        if self._family == "titan-v1":
            self._dimensions = TITAN_V1_DIMENSIONS
        elif self._family == "titan-v2":
            self._dimensions = dimensions or DEFAULT_DIMENSIONS
        else:
            self._dimensions = DEFAULT_DIMENSIONS
        self._limit = asyncio.Semaphore(max_concurrency)
        self._client = LazyAwsClient(
            "bedrock-runtime",
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            request_timeout=request_timeout,
            max_attempts=4,  # the first try and three retries
        )

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        if not texts:
            return []
        client = await self._get_client()
        if self._family == "cohere":
            batches = [list(texts[i : i + COHERE_BATCH_SIZE]) for i in range(0, len(texts), COHERE_BATCH_SIZE)]
            results = await asyncio.gather(*(self._embed_cohere(client, batch, purpose) for batch in batches))
            vectors = [vector for batch_vectors in results for vector in batch_vectors]
        else:
            vectors = list(await asyncio.gather(*(self._embed_titan(client, text) for text in texts)))
        self._dimensions = len(vectors[0])
        return vectors

    async def _embed_titan(self, client: Any, text: str) -> list[float]:
        body: dict[str, Any] = {"inputText": text}
        if self._family == "titan-v2":
            body.update({"dimensions": self._dimensions, "normalize": True})
        answer = await self._invoke(client, body)
        embedding = answer.get("embedding")
        if not _is_vector(embedding):
            raise EmbeddingError(f"Bedrock model '{self.model}' answered without an 'embedding' vector")
        return [float(x) for x in embedding]

    async def _embed_cohere(self, client: Any, texts: list[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        body = {
            "texts": texts,
            "input_type": "search_query" if purpose == "query" else "search_document",
            "truncate": "END",
        }
        answer = await self._invoke(client, body)
        embeddings = answer.get("embeddings")
        if isinstance(embeddings, dict):  # embed v4 / `embedding_types` shape: {"float": [[...]]}
            embeddings = embeddings.get("float")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts) or not all(map(_is_vector, embeddings)):
            raise EmbeddingError(f"Bedrock model '{self.model}' answered without one vector per text in 'embeddings'")
        return [[float(x) for x in vector] for vector in embeddings]

    async def _invoke(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self._limit:
                response = await client.invoke_model(
                    modelId=self.model,
                    body=json.dumps(body),
                    contentType="application/json",
                    accept="application/json",
                )
                raw = await response["body"].read()
        except botocore.exceptions.ClientError as error:
            details = error.response.get("Error", {})
            raise EmbeddingError(
                f"Bedrock InvokeModel for '{self.model}' failed: "
                f"{details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise EmbeddingError(f"Bedrock InvokeModel for '{self.model}' failed: {error}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise EmbeddingError(f"Bedrock model '{self.model}' answered with a body that is not JSON") from None
        if not isinstance(answer, dict):
            raise EmbeddingError(f"Bedrock model '{self.model}' answered with JSON that is not an object")
        return answer

    async def _get_client(self) -> Any:
        try:
            return await self._client.get()
        except botocore.exceptions.BotoCoreError as error:
            raise EmbeddingError(f"cannot create the Bedrock client for '{self.model}': {error}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _is_vector(value: Any) -> TypeGuard[list[float]]:
    return isinstance(value, list) and bool(value) and all(isinstance(x, int | float) for x in value)

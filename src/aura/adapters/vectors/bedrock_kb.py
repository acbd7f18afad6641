"""An AWS Bedrock knowledge base as a read-only vector store (the `Retrieve` API)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import botocore.exceptions

from aura.adapters.aws_client import LazyAwsClient
from aura.domain.vector_search import ReadOnlyStoreError, VectorStoreError
from aura.ports.vector_store import Document, SearchHit

# Where `location.<key>` holds the URI of the source document, by location type.
_LOCATION_URI_KEYS = {
    "s3Location": "uri",
    "webLocation": "url",
    "confluenceLocation": "url",
    "salesforceLocation": "url",
    "sharePointLocation": "url",
    "customDocumentLocation": "id",
    "kendraDocumentLocation": "uri",
    "sqlLocation": "query",
}


class BedrockKnowledgeBaseStore:
    """Searches a Bedrock knowledge base; AWS embeds the query and owns the index.

    Label filters become a Retrieve `filter` (`equals`, combined with `andAll`), matched against
    the documents' metadata attributes. Ingestion happens in AWS (a data source sync), so
    `upsert` raises `ReadOnlyStoreError`. `endpoint_url` points the client at a local fake.
    """

    def __init__(
        self,
        knowledge_base_id: str,
        region: str,
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        if not knowledge_base_id:
            raise ValueError("BedrockKnowledgeBaseStore: 'knowledge_base_id' must not be empty")
        if not region:
            raise ValueError(
                f"BedrockKnowledgeBaseStore: 'region' is required for knowledge base '{knowledge_base_id}'"
            )
        self.knowledge_base_id = knowledge_base_id
        self._client = LazyAwsClient(
            "bedrock-agent-runtime",
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            request_timeout=request_timeout,
            max_attempts=4,  # the first try and three retries
        )

    async def search(
        self, query: str, limit: int, label_filters: Mapping[str, Any] | None = None
    ) -> Sequence[SearchHit]:
        if limit < 1:
            return []
        vector_search: dict[str, Any] = {"numberOfResults": limit}
        if label_filters:
            vector_search["filter"] = _retrieval_filter(label_filters)
        client = await self._get_client()
        try:
            response = await client.retrieve(
                knowledgeBaseId=self.knowledge_base_id,
                retrievalQuery={"text": query},
                retrievalConfiguration={"vectorSearchConfiguration": vector_search},
            )
        except botocore.exceptions.ClientError as error:
            details = error.response.get("Error", {})
            raise VectorStoreError(
                f"Bedrock KB retrieve failed for knowledge base '{self.knowledge_base_id}': "
                f"{details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise VectorStoreError(
                f"Bedrock KB retrieve failed for knowledge base '{self.knowledge_base_id}': {error}"
            ) from None
        hits = []
        for result in response.get("retrievalResults", []):
            text = (result.get("content") or {}).get("text")
            if not isinstance(text, str) or not text:
                continue  # image or row results carry no passage the model can read
            hits.append(SearchHit(text, float(result.get("score") or 0.0), _metadata(result)))
        return hits

    async def upsert(self, documents: Sequence[Document]) -> int:
        raise ReadOnlyStoreError(
            f"knowledge base '{self.knowledge_base_id}' is a managed store: ingest through AWS "
            "(add the files to its data source and start a sync), not with `aura ingest`"
        )

    async def delete_where(self, metadata: Mapping[str, Any], keep_ids: Collection[str] = ()) -> int:
        raise ReadOnlyStoreError(
            f"knowledge base '{self.knowledge_base_id}' is a managed store: remove documents through AWS"
        )

    async def _get_client(self) -> Any:
        try:
            return await self._client.get()
        except botocore.exceptions.BotoCoreError as error:
            raise VectorStoreError(
                f"cannot create the Bedrock agent runtime client for knowledge base '{self.knowledge_base_id}': {error}"
            ) from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _retrieval_filter(label_filters: Mapping[str, Any]) -> dict[str, Any]:
    conditions = []
    for key, value in label_filters.items():
        if value is None or isinstance(value, dict | list):
            raise VectorStoreError(f"label filter '{key}' has a value Bedrock cannot match exactly: {value!r}")
        conditions.append({"equals": {"key": key, "value": value}})
    return conditions[0] if len(conditions) == 1 else {"andAll": conditions}


def _metadata(result: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = dict(result.get("metadata") or {})
    location = result.get("location") or {}
    if location.get("type"):
        metadata["type"] = location["type"]
    for location_key, uri_key in _LOCATION_URI_KEYS.items():
        uri = (location.get(location_key) or {}).get(uri_key)
        if isinstance(uri, str) and uri:
            metadata.setdefault("source", uri)
            break
    return metadata

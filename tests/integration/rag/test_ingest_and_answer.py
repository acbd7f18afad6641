"""`aura ingest` end to end: files → chunks → store on disk → an agent's `vector_search_docs` → the answer.

The agent is assembled by the same container `aura serve` uses, from the same config file, with only
the chat model swapped for a scripted one: this proves serving reads what ingesting wrote.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from dependency_injector import providers

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.adapters.vectors.qdrant import QdrantVectorStore
from aura.domain.messages import ToolResultMessage
from aura.entrypoints import cli
from aura.entrypoints.config import load_config
from aura.entrypoints.container import container_for
from aura.entrypoints.ingest_command import collect_files, document_id, ingest_files
from aura.ports.chat_model import ChatRequest
from aura.testing import ScriptedChatModel, ScriptedRound, call_tool, reply

TOKEN_PASSAGE = "API tokens are rotated with `aura-admin token rotate --all`; old tokens stop working after 24 hours."

AGENT = """
[llm]
provider = "openai"
api_key = "sk-not-used"
model = "gpt-4o"

[agent]
name = "Docs Assistant"
system_prompt = "Answer from the documentation."
"""


def write_docs(root: Path) -> Path:
    docs = root / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "security.md").write_text(
        "# Security\n\nUse SSO for every account.\n\n" + TOKEN_PASSAGE + "\n", encoding="utf-8"
    )
    (docs / "billing.txt").write_text("Invoices are emailed on the first day of each month.\n", encoding="utf-8")
    (docs / "notes.rst").write_text("Release notes live in the changelog.\n", encoding="utf-8")
    (docs / "image.png").write_bytes(b"\x89PNG not text")  # not a text suffix: not walked
    (docs / ".drafts").mkdir()
    (docs / ".drafts" / "secret.md").write_text("draft", encoding="utf-8")  # hidden: skipped
    return docs


def write_config(root: Path, store: str) -> Path:
    config = root / "agent.toml"
    config.write_text(AGENT + store, encoding="utf-8")
    return config


def in_memory_store(root: Path) -> str:
    index = root / "index" / "docs.npz"
    return f"""
[[vector_stores]]
type = "in_memory"
name = "docs"
context_prefix = "Product documentation"
path = "{index.as_posix()}"
embedding_model = {{ provider = "local", model = "hashing" }}
"""


async def ingest(*argv: str) -> int:
    # `aura ingest` runs its own event loop, so it gets a thread of its own here.
    return await asyncio.to_thread(cli.main, ["ingest", *argv])


def answer_from_tool_result(request: ChatRequest) -> ScriptedRound:
    result = request.messages[-1]
    assert isinstance(result, ToolResultMessage)
    passage = json.loads(result.content)["results"][0]["content"]
    return reply(f"According to the docs: {passage}")


async def test_ingested_docs_reach_the_model_and_the_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = write_docs(tmp_path)
    config = write_config(tmp_path, in_memory_store(tmp_path))

    assert await ingest(str(config), "--store", "docs", str(docs)) == 0
    out, err = capsys.readouterr()
    assert "Ingested 3 files as 3 chunks into vector store 'docs' (in_memory, file " in out
    assert "ingest: [##############################] 3/3 chunks (100%)" in err

    loaded = load_config(config, environ={})
    container = container_for(loaded.agents[0])
    model = ScriptedChatModel(
        [call_tool("vector_search_docs", {"query": "how do I rotate API tokens", "limit": 2}), answer_from_tool_result]
    )
    container.chat_model.override(providers.Object(model))
    agent = container.agent()
    try:
        final = await agent.run("How do I rotate API tokens?")
    finally:
        await agent.aclose()

    assert final.error is None
    [tool_spec] = [spec for spec in model.requests[0].tools if spec.name == "vector_search_docs"]
    assert "Product documentation" in tool_spec.description
    tool_message = model.requests[1].messages[-1]
    assert isinstance(tool_message, ToolResultMessage)
    assert not tool_message.is_error
    output = json.loads(tool_message.content)
    assert output["results"][0]["metadata"]["source"].endswith("security.md")
    assert output["results"][0]["metadata"]["title"] == "Security"
    assert TOKEN_PASSAGE in output["results"][0]["content"]
    assert output["formatted_results"].startswith("Product documentation\n\nResult 1")
    assert TOKEN_PASSAGE in final.content


async def test_ingesting_the_same_files_twice_adds_no_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = write_docs(tmp_path)
    config = write_config(tmp_path, in_memory_store(tmp_path))
    for _ in range(2):
        assert (
            await ingest(str(config), "--store", "docs", str(docs), "--chunk-size", "60", "--chunk-overlap", "10") == 0
        )
    store = InMemoryVectorStore(HashingEmbedder(), str(tmp_path / "index" / "docs.npz"))
    expected_chunks = int(capsys.readouterr().out.split(" as ")[-1].split()[0])
    assert expected_chunks > 3  # the small chunk size split the security guide
    assert await store.count() == expected_chunks


async def test_ingest_into_embedded_qdrant_then_search(tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    store_config = f"""
[[vector_stores]]
type = "qdrant"
name = "docs"
collection_name = "docs"
path = "{(tmp_path / "qdrant").as_posix()}"
embedding_model = {{ provider = "local", model = "hashing" }}
"""
    config = write_config(tmp_path, store_config)
    assert await ingest(str(config), "--store", "docs", str(docs)) == 0
    assert await ingest(str(config), "--store", "docs", str(docs)) == 0
    store = QdrantVectorStore(HashingEmbedder(), "docs", path=str(tmp_path / "qdrant"))
    try:
        assert await store.count() == 3
        [hit] = await store.search("rotate API tokens", 1)
        assert TOKEN_PASSAGE in hit.content
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("store", "argv", "code", "message"),
    [
        ("", ["--store", "nope", "DOCS"], 2, "no vector store named 'nope'"),
        ("IN_MEMORY", ["--store", "missing", "DOCS"], 2, "configured stores: 'docs'"),
        ("IN_MEMORY", ["--store", "docs", "DOCS/missing-dir"], 2, "no such file or directory"),
        ("IN_MEMORY", ["--store", "docs", "DOCS", "--chunk-overlap", "900"], 2, "--chunk-overlap must be"),
        ("IN_MEMORY", ["--store", "docs", "DOCS", "--batch-size", "0"], 2, "--batch-size must be at least 1"),
        (
            '[[vector_stores]]\ntype = "in_memory"\nname = "docs"\n'
            'embedding_model = { provider = "local", model = "hashing" }\n',
            ["--store", "docs", "DOCS"],
            2,
            "in_memory without `path`",
        ),
        (
            '[[vector_stores]]\ntype = "bedrock_kb"\nname = "docs"\nknowledge_base_id = "KB1"\nregion = "us-east-1"\n',
            ["--store", "docs", "DOCS"],
            1,
            "managed store: ingest through AWS",
        ),
    ],
)
async def test_bad_ingest_requests_fail_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str, argv: list[str], code: int, message: str
) -> None:
    docs = write_docs(tmp_path)
    config = write_config(tmp_path, in_memory_store(tmp_path) if store == "IN_MEMORY" else store)
    args = [arg.replace("DOCS", str(docs)) for arg in argv]
    assert await ingest(str(config), *args) == code
    assert message in capsys.readouterr().err


async def test_non_utf8_files_are_skipped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("Good text.", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00broken")
    store = InMemoryVectorStore(HashingEmbedder())
    summary = await ingest_files(store, collect_files([tmp_path]), chunk_size=100, overlap=10)
    assert (summary.files, summary.chunks) == (1, 1)
    assert summary.skipped == (f"{tmp_path / 'bad.txt'}: not UTF-8 text",)
    [hit] = await store.search("good", 1)
    assert hit.metadata["id"] == document_id(str(tmp_path / "good.md"), 0, "Good text.")

"""Qdrant failures as one line a person can act on: which folder or URL, and what to do."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aura.adapters.embeddings.local import HashingEmbedder
from aura.adapters.vectors.qdrant import QdrantVectorStore
from aura.domain.vector_search import VectorStoreError

pytestmark = pytest.mark.timeout(90)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


@pytest.mark.parametrize("grpc", [False, True])
async def test_an_unreachable_url_is_named_in_one_line(grpc: bool) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    store = QdrantVectorStore(HashingEmbedder(64), "docs", url=url, timeout=5)
    if grpc:
        store._client = type(store._client)(
            url=url, prefer_grpc=True, grpc_port=port, timeout=5, check_compatibility=False
        )
    try:
        with pytest.raises(VectorStoreError) as caught:
            await store.count()
    finally:
        await store.aclose()
    message = str(caught.value)
    assert url in message
    assert "cannot reach" in message
    assert "\n" not in message
    assert "AioRpcError" not in message


def test_ingest_into_a_folder_held_by_another_process_prints_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "qdrant"
    config = tmp_path / "agent.toml"
    config.write_text(
        '[llm]\nprovider = "openai"\nmodel = "m"\napi_key = "x"\n[agent]\nname = "a"\nsystem_prompt = "s"\n'
        f'[[vector_stores]]\ntype = "qdrant"\nname = "docs"\ncollection_name = "docs"\npath = "{folder}"\n'
        'embedding_model = { provider = "local", model = "hashing" }\n'
    )
    (tmp_path / "a.md").write_text("# A\n\nhello\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from qdrant_client import QdrantClient; c = QdrantClient(path={str(folder)!r}); "
         "print('ready', flush=True); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        result = subprocess.run(
            [sys.executable, "-m", "aura.entrypoints.cli", "ingest", str(config), "--store", "docs",
             str(tmp_path / "a.md")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        holder.communicate("", timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(folder) in lines[0]
    assert "another process" in lines[0]


async def test_credentials_in_the_url_never_reach_an_error_message() -> None:
    url = f"http://reader:s3cret-pass@127.0.0.1:{closed_port()}"
    store = QdrantVectorStore(HashingEmbedder(64), "docs", url=url, timeout=5)
    try:
        with pytest.raises(VectorStoreError) as caught:
            await store.check()
    finally:
        await store.aclose()
    message = str(caught.value)
    assert "s3cret-pass" not in message
    assert "reader" not in message
    assert f"at http://***@127.0.0.1:{url.rsplit(':', 1)[1]}: cannot reach Qdrant" in message

"""Search latency of the vector stores Aura runs in-process: `in_memory` (numpy) and Qdrant embedded mode.

    python bench/vector_search.py                      # 10k and 100k chunks, both stores
    python bench/vector_search.py --sizes 10000 --queries 500 --stores in_memory qdrant_disk

Qdrant's embedded mode keeps every point in process memory and searches them the same way with or
without `path`; `path` only adds an SQLite write per point at ingest time (slow: minutes for 100k).
So `qdrant_embedded` (in memory) is the default and `qdrant_disk` is there to time ingestion.

Vectors are random, of the local embedder's size (384, all-MiniLM-L6-v2), so the figures measure the
store (similarity scan + top-k + result mapping), not an embedding model. Each configuration stops
after `--queries` searches or `--budget` seconds, whichever comes first. A benchmark prints figures;
it asserts nothing.

Matrix-vector products are memory-bound: on a busy machine OpenBLAS threads get in each other's way,
and `OPENBLAS_NUM_THREADS=1` can be several times faster. The header prints the setting in force.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

from aura.adapters.embeddings.local import MINILM_DIMENSIONS
from aura.adapters.vectors.in_memory import InMemoryVectorStore
from aura.adapters.vectors.qdrant import QdrantVectorStore
from aura.ports.vector_store import Document, EmbeddingPurpose, VectorStore

UPSERT_BATCH = 5_000


class RandomEmbedder:
    """Unit-length random vectors: documents get the next rows of a pre-drawn matrix, queries fresh ones."""

    def __init__(self, dimensions: int, seed: int = 7) -> None:
        self.model = f"random-{dimensions}"
        self._dimensions = dimensions
        self._random = np.random.default_rng(seed)

    @property
    def dimensions(self) -> int | None:
        return self._dimensions

    async def embed(self, texts: Sequence[str], purpose: EmbeddingPurpose) -> list[list[float]]:
        vectors = self._random.standard_normal((len(texts), self._dimensions)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.tolist()  # type: ignore[no-any-return]


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def fill(store: VectorStore, size: int) -> float:
    started = time.perf_counter()
    for start in range(0, size, UPSERT_BATCH):
        count = min(UPSERT_BATCH, size - start)
        await store.upsert(
            [Document(f"doc-{i}", f"chunk {i}", {"source": f"file-{i % 100}.md"}) for i in range(start, start + count)]
        )
    return time.perf_counter() - started


async def measure(store: VectorStore, queries: int, budget: float, limit: int) -> list[float]:
    await store.search("warm-up", limit)
    latencies: list[float] = []
    deadline = time.perf_counter() + budget
    while len(latencies) < queries and time.perf_counter() < deadline:
        started = time.perf_counter()
        await store.search("query", limit)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def run_one(kind: str, size: int, args: argparse.Namespace, workdir: str) -> None:
    embedder = RandomEmbedder(args.dimensions)
    store: VectorStore
    if kind == "in_memory":
        store = InMemoryVectorStore(embedder)
    elif kind == "qdrant_disk":
        store = QdrantVectorStore(embedder, f"bench_{size}", path=f"{workdir}/qdrant_{size}")
    else:
        store = QdrantVectorStore(embedder, f"bench_{size}")
    try:
        fill_seconds = await fill(store, size)
        latencies = await measure(store, args.queries, args.budget, args.limit)
    finally:
        await store.aclose()
    print(
        f"{kind:<16} {size:>8,} {fill_seconds:>9.1f} {len(latencies):>8} "
        f"{statistics.median(latencies):>9.2f} {percentile(latencies, 0.99):>9.2f}",
        flush=True,
    )


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="chunks per store")
    parser.add_argument(
        "--stores",
        nargs="+",
        default=["in_memory", "qdrant_embedded"],
        choices=["in_memory", "qdrant_embedded", "qdrant_disk"],
    )
    parser.add_argument("--queries", type=int, default=200, help="searches per configuration (at most)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of searching per configuration (at most)")
    parser.add_argument("--limit", type=int, default=5, help="results per search")
    parser.add_argument("--dimensions", type=int, default=MINILM_DIMENSIONS)
    args = parser.parse_args(argv)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"vector search latency, {args.dimensions} dimensions, top {args.limit}, numpy {np.__version__}, "
        f"OPENBLAS_NUM_THREADS={threads}, {os.cpu_count()} CPUs"
    )
    print(f"{'store':<16} {'chunks':>8} {'fill (s)':>9} {'queries':>8} {'p50 (ms)':>9} {'p99 (ms)':>9}")
    with tempfile.TemporaryDirectory(prefix="aura-bench-") as workdir:
        for kind in args.stores:
            for size in args.sizes:
                await run_one(kind, size, args, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

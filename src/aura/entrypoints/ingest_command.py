"""`aura ingest CONFIG --store NAME PATH...`: chunk, embed and index documents into a configured vector store.

The store is built by the composition root `aura serve` uses (`aura.entrypoints.container`), so
ingesting and serving open the very same index with the very same embedder.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit, urlunsplit

import attrs

from aura.domain.vector_search import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, VectorStoreError, chunk_text
from aura.ports.vector_store import Document, VectorStore

if TYPE_CHECKING:
    from aura.entrypoints.config import LoadedConfig, VectorStoreConfig

INGESTED_SUFFIXES = (".md", ".markdown", ".txt", ".rst")
DEFAULT_BATCH_SIZE = 64


class IngestError(Exception):
    """Bad input to `aura ingest` (unknown store, missing path, unreadable file); the message says which."""


def describe_store_config(config: VectorStoreConfig) -> str:
    """Where a store lives, for the summary line (never its credentials)."""
    from aura.entrypoints.config import BedrockKbStoreConfig, InMemoryStoreConfig

    if isinstance(config, InMemoryStoreConfig):
        return f"in_memory, file {config.path}"
    if isinstance(config, BedrockKbStoreConfig):
        return f"bedrock_kb {config.knowledge_base_id}"
    where = _without_credentials(config.url) if config.url else config.path or ":memory:"
    return f"qdrant collection '{config.collection_name}' at {where}"


def _without_credentials(url: str) -> str:
    parsed = urlsplit(url)
    if parsed.username is None and parsed.password is None:
        return url
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return urlunsplit(parsed._replace(netloc=netloc))


# --- ingestion -------------------------------------------------------------------------------------


@attrs.frozen
class SourceFile:
    """A file to ingest and the name it is recorded under (`source` metadata, part of chunk ids)."""

    path: Path
    source: str


@attrs.frozen
class IngestSummary:
    files: int
    chunks: int
    skipped: tuple[str, ...] = ()
    stale_removed: int = 0


def collect_files(paths: Sequence[str | Path]) -> list[SourceFile]:
    """Files named directly, plus every *.md / *.markdown / *.txt / *.rst under named directories.

    Hidden files and directories are skipped. The recorded source is the path as given,
    normalized, so re-running the same command yields the same chunk ids.
    """
    found: dict[str, SourceFile] = {}
    for given in paths:
        root = Path(given)
        if root.is_file():
            source = os.path.normpath(str(given))
            found.setdefault(source, SourceFile(root, source))
        elif root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if path.is_file() and path.suffix.lower() in INGESTED_SUFFIXES:
                    source = os.path.normpath(os.path.join(str(given), str(relative)))
                    found.setdefault(source, SourceFile(path, source))
        else:
            raise IngestError(f"no such file or directory: {given}")
    return list(found.values())


def document_id(source: str, index: int, text: str) -> str:
    """`<source>#<chunk index>:<content hash>`: the same chunk of the same file always gets the same id."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{source}#{index}:{digest}"


def _title(text: str) -> str | None:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip() or None
        if stripped:
            return None
    return None


def documents_for(file: SourceFile, text: str, *, chunk_size: int, overlap: int) -> list[Document]:
    title = _title(text)
    documents = []
    for index, chunk in enumerate(chunk_text(text, chunk_size, overlap)):
        metadata: dict[str, str | int] = {"source": file.source, "chunk": index}
        if title:
            metadata["title"] = title
        documents.append(Document(document_id(file.source, index, chunk), chunk, metadata))
    return documents


class ProgressBar:
    """Progress on a text stream: redrawn in place on a terminal, one line per 10 % otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int, label: str = "chunks") -> None:
        self._stream = stream
        self._total = max(total, 0)
        self._label = label
        self._interactive = stream.isatty()
        self._last_decile = -1

    def update(self, done: int) -> None:
        percent = 100 if self._total == 0 else min(100, done * 100 // self._total)
        filled = self.WIDTH * percent // 100
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self._total} {self._label} ({percent}%)"
        if self._interactive:
            self._stream.write(f"\r{line}")
            if done >= self._total:
                self._stream.write("\n")
        elif percent // 10 > self._last_decile:
            self._last_decile = percent // 10
            self._stream.write(f"ingest: {line}\n")
        self._stream.flush()


async def ingest_files(
    store: VectorStore,
    files: Sequence[SourceFile],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_CHUNK_OVERLAP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: TextIO | None = None,
) -> IngestSummary:
    """Chunk every file, then embed and upsert the chunks `batch_size` at a time.

    Files that are not UTF-8 text are skipped (and listed in the summary). Upserts replace chunks
    with the same id, so ingesting an unchanged file again changes nothing; afterwards the chunks a
    changed file no longer has are deleted (searches never see the file missing in between).
    """
    if batch_size < 1:
        raise IngestError(f"--batch-size must be at least 1, got {batch_size}")
    documents: list[Document] = []
    ids_by_source: dict[str, set[str]] = {}
    skipped: list[str] = []
    ingested_files = 0
    for file in files:
        try:
            text = file.path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as error:
            reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else error.strerror or str(error)
            skipped.append(f"{file.source}: {reason}")
            continue
        file_documents = documents_for(file, text, chunk_size=chunk_size, overlap=overlap)
        if file_documents:
            ingested_files += 1
            documents.extend(file_documents)
            ids_by_source.setdefault(file.source, set()).update(document.id for document in file_documents)
    bar = ProgressBar(progress, len(documents)) if progress is not None else None
    done = 0
    for start in range(0, len(documents), batch_size):
        batch = documents[start : start + batch_size]
        await store.upsert(batch)
        done += len(batch)
        if bar is not None:
            bar.update(done)
    stale = 0
    for source, ids in ids_by_source.items():
        stale += await store.delete_where({"source": source}, keep_ids=ids)
    return IngestSummary(ingested_files, len(documents), tuple(skipped), stale)


# --- the command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="agent config file or directory naming the vector store")
    parser.add_argument("--store", required=True, metavar="NAME", help="name of the [[vector_stores]] entry to fill")
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="files, or directories walked for *.md, *.markdown, *.txt, *.rst"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"maximum characters per chunk (default {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument(
        "--chunk-overlap",
        type=int,
        default=DEFAULT_CHUNK_OVERLAP,
        help=f"characters repeated from the previous chunk (default {DEFAULT_CHUNK_OVERLAP})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"chunks embedded and written per request (default {DEFAULT_BATCH_SIZE})",
    )


def find_store(loaded: LoadedConfig, name: str) -> VectorStoreConfig:
    """The `[[vector_stores]]` entry called `name` (the same in every agent file that names it)."""
    matches = [
        (store, agent.source) for agent in loaded.agents for store in agent.config.vector_stores if store.name == name
    ]
    if not matches:
        known = sorted({store.name for agent in loaded.agents for store in agent.config.vector_stores})
        listed = ", ".join(f"'{n}'" for n in known) if known else "none"
        raise IngestError(f"no vector store named '{name}' in {loaded.path} (configured stores: {listed})")
    store, source = matches[0]
    for other, other_source in matches[1:]:
        if other != store:
            raise IngestError(
                f"vector store '{name}' is configured differently in {source} and {other_source}; "
                "pass one of those files as CONFIG"
            )
    return store


def run(args: argparse.Namespace) -> int:
    from aura.entrypoints.config import ConfigError, InMemoryStoreConfig, load_config
    from aura.entrypoints.container import build_vector_store

    try:
        if args.chunk_size < 1 or not 0 <= args.chunk_overlap < args.chunk_size:
            raise IngestError(
                f"--chunk-overlap must be at least 0 and below --chunk-size "
                f"(got size {args.chunk_size}, overlap {args.chunk_overlap})"
            )
        if args.batch_size < 1:
            raise IngestError(f"--batch-size must be at least 1, got {args.batch_size}")
        loaded = load_config(args.config)
        store_config = find_store(loaded, args.store)
        if isinstance(store_config, InMemoryStoreConfig) and not store_config.path:
            raise IngestError(
                f"vector store '{store_config.name}' is in_memory without `path`: the index would vanish when "
                'this command exits; set `path = "<file>.npz"` in its [[vector_stores]] entry'
            )
        files = collect_files(args.paths)
        if not files:
            raise IngestError("no *.md, *.markdown, *.txt or *.rst files found under " + ", ".join(args.paths))
        store = build_vector_store(store_config)
    except (ConfigError, IngestError, ValueError) as error:
        print(f"aura ingest: {error}", file=sys.stderr)
        return 2
    except VectorStoreError as error:  # e.g. an embedded Qdrant folder held by a running `aura serve`
        print(f"aura ingest: {error}", file=sys.stderr)
        return 1
    where = describe_store_config(store_config)
    try:
        summary = asyncio.run(_ingest_and_close(store, files, args))
    except (VectorStoreError, IngestError) as error:
        print(f"aura ingest: {error}", file=sys.stderr)
        return 1
    for reason in summary.skipped:
        print(f"aura ingest: skipped {reason}", file=sys.stderr)
    print(
        f"Ingested {summary.files} file{'s' if summary.files != 1 else ''} as {summary.chunks} "
        f"chunk{'s' if summary.chunks != 1 else ''} into vector store '{store_config.name}' ({where})"
        + (f"; removed {summary.stale_removed} outdated chunk(s)" if summary.stale_removed else "")
    )
    return 0


async def _ingest_and_close(store: VectorStore, files: Sequence[SourceFile], args: argparse.Namespace) -> IngestSummary:
    try:
        return await ingest_files(
            store,
            files,
            chunk_size=args.chunk_size,
            overlap=args.chunk_overlap,
            batch_size=args.batch_size,
            progress=sys.stderr,
        )
    finally:
        await store.aclose()

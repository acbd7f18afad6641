"""How often does retrieval over this repository's docs/ find the section that answers a paraphrased question?

Chunks docs/*.md the way `aura ingest` does (`documents_for`), embeds them with each local embedder, and for each of
the questions below checks whether one of the top-k chunks lies in the expected section (file + heading). The
questions are written in other words than the docs (no copied phrases), as a person would ask. Prints recall@1/3/5
and indexing speed (chunks/s) per embedder and chunking setting.

    python bench/retrieval_quality.py               # hashing-384, hashing-2048, and MiniLM when the extra is installed
    python bench/retrieval_quality.py --verbose     # also the misses at 5
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path

import numpy as np

from aura.adapters.embeddings.local import LocalEmbedder, minilm_available
from aura.entrypoints.ingest_command import SourceFile, documents_for

DOCS = Path(__file__).resolve().parents[1] / "docs"

# (question, file under docs/, the heading of the section that answers it: its text starts with this)
QUESTIONS: list[tuple[str, str, str]] = [
    ("How do I hook the chat web interface up to this server?", "clients.md", "OpenWebUI"),
    ("Which Python client library can talk to the server, and how?", "clients.md", "The official `openai` SDK"),
    ("Can I try the endpoint from a shell with a plain HTTP command?", "clients.md", "curl"),
    ("In what order are settings files and environment overrides read?", "configuration.md", "Where the configuration"),
    (
        "How do I run a model on my own machine through its HTTP daemon?",
        "configuration.md",
        '`[llm]` provider = "ollama"',
    ),
    ("Which options does the in-process GGUF model take?", "configuration.md", '`[llm]` provider = "llamacpp"'),
    ("How many tool rounds may one user message trigger?", "configuration.md", "`[agent]`"),
    (
        "How do I launch a tool server as a child process?",
        "configuration.md",
        '`[mcp.servers.<id>]` transport = "stdio"',
    ),
    ("What keys does the on-disk numpy index need?", "configuration.md", '`[[vector_stores]]` type = "in_memory"'),
    ("Which command-line flags change the HTTP server without editing the file?", "configuration.md", "Server options"),
    ("How do I build a container image of the service?", "deployment.md", "Docker"),
    ("How do I run the vector database next to the app with one compose file?", "deployment.md", "Docker Compose"),
    ("What do I need for a cluster deployment with pods and probes?", "deployment.md", "Kubernetes"),
    ("Can one machine run several server processes sharing a port?", "deployment.md", "Several processes"),
    ("What should I verify before going to production?", "deployment.md", "Checklist"),
    (
        "How do I swap a component for my own implementation in tests?",
        "library.md",
        "From configuration, with overrides",
    ),
    ("Is there a fake model I can script in unit tests?", "library.md", "Testing with `aura.testing`"),
    ("What happens when a tool server is offline at boot?", "mcp.md", "Startup and servers that are down"),
    ("How are caller headers passed on to remote tool servers?", "mcp.md", "Header forwarding"),
    ("How are clashing tool names and odd schemas handled?", "mcp.md", "Tool names and schemas"),
    ("How do I send spans to a tracing UI?", "observability.md", "Tracing"),
    ("Which counters and histograms can Prometheus scrape?", "observability.md", "Metrics"),
    ("What does a log line look like, and how do I make it JSON?", "observability.md", "Logging"),
    ("How do I let a small local model emit tool calls as text?", "ollama-guide.md", "3. Fallback tool-call parsing"),
    ("How fast is streaming under many concurrent clients?", "performance.md", "Streaming load"),
    ("How often does the bundled small model pick the right tool?", "performance.md", "Local model tool calling"),
    ("How do I load my markdown files into the search index from the command line?", "rag.md", "`aura ingest`"),
    ("Why can't I fill the embedded vector folder while the server runs?", "rag.md", "Qdrant"),
    ("What arguments does the search tool accept and what does it return?", "rag.md", "The tool the model sees"),
    ("Which embedding options work without any network?", "rag.md", "Embedding models"),
    ("What happens to a request from arrival to the last byte?", "request-lifecycle.md", "One request"),
    (
        "What does the server do with open streams when it is asked to stop?",
        "request-lifecycle.md",
        "Graceful shutdown",
    ),
    ("How do I require a bearer token from callers?", "security.md", "API keys"),
    ("Which browser origins may call the API?", "security.md", "CORS"),
    ("What do the keep-alive comment lines in a stream mean?", "streaming-api-guide.md", "Heartbeats"),
    ("Which extra named events describe tool activity in a stream?", "streaming-api-guide.md", "`aura.*` events"),
    ("How are tool outputs shown to the chat client?", "streaming-api-guide.md", "Tool-result modes"),
    (
        "What does a stream look like when it ends early because of a timeout?",
        "streaming-api-guide.md",
        "Errors, timeouts",
    ),
]
CHUNKINGS = [(800, 100), (400, 50), (1600, 200)]
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)


def sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading) per heading: a section runs to the next heading of the same or a higher level."""
    found = [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(text)]
    spans = []
    for i, (start, level, title) in enumerate(found):
        end = next((s for s, lvl, _ in found[i + 1 :] if lvl <= level), len(text))
        spans.append((start, end, title))
    return spans


def positions(chunk: str, text: str) -> list[int]:
    """Where the chunk's paragraphs sit in the file (the overlap fragment at its start is skipped)."""
    found = []
    for paragraph in chunk.split("\n\n"):
        probe = paragraph.strip()[:80]
        if len(probe) >= 12:
            at = text.find(probe)
            if at >= 0:
                found.append(at)
    return found


def expected_span(text: str, heading: str, name: str) -> tuple[int, int]:
    for start, end, title in sections(text):
        if title.startswith(heading):
            return start, end
    raise SystemExit(f"bench/retrieval_quality.py: docs/{name} has no heading starting with {heading!r}")


async def measure(model: str, size: int, overlap: int, verbose: bool) -> tuple[float, float, float, float, int]:
    texts = {path.name: path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md"))}
    chunks: list[tuple[str, str]] = []  # (file name, chunk)
    for name, text in texts.items():
        for document in documents_for(SourceFile(DOCS / name, name), text, chunk_size=size, overlap=overlap):
            chunks.append((name, document.text))
    embedder = LocalEmbedder(model)
    await embedder.embed(["warm up"], "document")  # loading the model is not indexing speed
    started = time.perf_counter()
    matrix = np.asarray(await embedder.embed([chunk for _, chunk in chunks], "document"), dtype=np.float32)
    speed = len(chunks) / (time.perf_counter() - started)
    queries = np.asarray(await embedder.embed([q for q, _, _ in QUESTIONS], "query"), dtype=np.float32)
    hits = {1: 0, 3: 0, 5: 0}
    for (question, name, heading), query in zip(QUESTIONS, queries, strict=True):
        start, end = expected_span(texts[name], heading, name)
        ranked = np.argsort(-(matrix @ query))[:5]
        good = [
            chunks[i][0] == name and any(start <= at < end for at in positions(chunks[i][1], texts[name]))
            for i in ranked
        ]
        for k in hits:
            hits[k] += any(good[:k])
        if verbose and not any(good):
            print(f"    miss: {question!r} -> {[chunks[i][0] for i in ranked]}", file=sys.stderr)
    total = len(QUESTIONS)
    return hits[1] / total, hits[3] / total, hits[5] / total, speed, len(chunks)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--embedders", help="comma-separated LocalEmbedder models (default: all available)")
    parser.add_argument("--chunkings", help="comma-separated size/overlap pairs, e.g. 800/100,1600/200")
    args = parser.parse_args()
    models = ["hashing-384", "hashing-2048"] + (["all-MiniLM-L6-v2"] if minilm_available() else [])
    if args.embedders:
        models = args.embedders.split(",")
    chunkings = CHUNKINGS
    if args.chunkings:
        chunkings = [(int(a), int(b)) for a, b in (pair.split("/") for pair in args.chunkings.split(","))]
    print(f"{len(QUESTIONS)} questions over docs/*.md")
    print(f"{'embedder':18} {'chunking':>9} {'chunks':>6} {'R@1':>5} {'R@3':>5} {'R@5':>5} {'chunks/s':>9}")
    for model in models:
        for size, overlap in chunkings:
            r1, r3, r5, speed, count = await measure(model, size, overlap, args.verbose)
            row = f"{model:18} {f'{size}/{overlap}':>9} {count:>6} {r1:>5.2f} {r3:>5.2f} {r5:>5.2f} {speed:>9.1f}"
            print(row, flush=True)


if __name__ == "__main__":
    asyncio.run(main())

# syntax=docker/dockerfile:1
# Aura server image: `docker build -t aura .`, then
#   docker run -p 8080:8080 -v "$PWD/configs:/app/config:ro" -e OPENAI_API_KEY aura
# CONFIG_PATH is the directory /app/config: every *.toml mounted there is one agent.
# Optional extras (e.g. `--build-arg AURA_EXTRAS=local,embeddings` for the in-process llama.cpp model and local
# embeddings) need a compiler, which only the builder stage gets.

ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------------------------------------- builder
FROM python:${PYTHON_VERSION}-slim AS builder

ARG AURA_EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN if [ -n "$AURA_EXTRAS" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /build
# Only what the package build reads, so unrelated changes keep the layer cache.
COPY pyproject.toml README.md ./
COPY src/ ./src/
RUN pip install --upgrade pip \
    && if [ -n "$AURA_EXTRAS" ]; then pip install ".[${AURA_EXTRAS}]"; else pip install .; fi \
    && python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim AS runtime

LABEL org.opencontainers.image.title="aura" \
      org.opencontainers.image.description="Declarative LLM agents with MCP tools and RAG behind an OpenAI-compatible API" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid so Kubernetes `runAsNonRoot` can verify it and mounted volumes get predictable owners.
RUN groupadd --system --gid 10001 aura \
    && useradd --system --uid 10001 --gid aura --home-dir /app --no-create-home --shell /usr/sbin/nologin aura

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The read-only SRE toolbox MCP server used by examples/multi-agent and the quickstart (`python examples/...`).
COPY examples/sre_tools/ ./examples/sre_tools/
RUN mkdir -p /app/config /app/data && chown aura:aura /app/data

ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    CONFIG_PATH=/app/config

USER 10001:10001
EXPOSE 8080

# /health answers 200 while serving and 503 once a graceful shutdown has begun; urlopen raises on both 503 and a
# refused connection, so the check fails then. Python's urllib avoids installing curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]

# SIGTERM starts the graceful shutdown (SHUTDOWN_TIMEOUT_SECS, default 30 s); give `docker stop -t` at least that + 15.
STOPSIGNAL SIGTERM
ENTRYPOINT ["aura"]
CMD ["serve"]

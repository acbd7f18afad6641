#!/usr/bin/env bash
# OpenWebUI against Aura, for real: NOT run in CI (OpenWebUI installs ~7 GB). Run it before changing how Aura talks
# to chat UIs:
#
#   bash scripts/compat-openwebui.sh
#
# 1. installs OpenWebUI (OWUI_VERSION, default 0.12.4) and playwright into their own venv (OWUI_VENV, default
#    ~/.cache/aura-compat/owui-venv; never the repo's venv);
# 2. starts the fake OpenAI upstream (tests/integration/clients/fake_upstream.py: answers "call echo …" with a tool
#    call), `aura serve` with an agent that has one real MCP server (tests/fixtures/mcp_servers/fixture_server.py,
#    whose `echo` tool it calls), and OpenWebUI offline with Aura as its OpenAI connection;
# 3. for each TOOL_RESULT_MODE in MODES (default "none open-web-ui aura") and each AURA_CUSTOM_EVENTS in EVENTS
#    (default "false true": the six combinations) restarts Aura that way and runs
#    scripts/compat-openwebui-driver.py in OpenWebUI's venv: signs up the admin through OpenWebUI's API, chats
#    twice through its API (title, tags and follow-ups included), checks the stored chat (no error, no failed tool
#    call, a done tool panel in open-web-ui mode) and — when Debian's `chromium` is installed
#    (`apt-get install -y chromium`) — logs in with it through playwright and saves docs/images/openwebui-<mode>.png
#    (with custom events off; with them on: openwebui-<mode>-events.png in the temp dir).
#
# Knobs: AURA_VENV (the repo's venv with aura installed, default .venv), SCREENSHOTS (directory, default docs/images;
# empty = none), RECORD_DIR (record OpenWebUI's requests to Aura per mode with scripts/record-client-requests.py into
# RECORD_DIR/openwebui-<version>-<mode>[-events].json), KEEP=1 (keep the temp dir). To try another checkout
# of Aura with the same venv: PYTHONPATH=<checkout>/src bash scripts/compat-openwebui.sh.
# Exits 1 when a check failed in any mode.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

OWUI_VERSION="${OWUI_VERSION:-0.12.4}"
OWUI_VENV="${OWUI_VENV:-$HOME/.cache/aura-compat/owui-venv}"
AURA_VENV="${AURA_VENV:-.venv}"
MODES="${MODES:-none open-web-ui aura}"
SCREENSHOTS="${SCREENSHOTS-docs/images}"
RECORD_DIR="${RECORD_DIR:-}"
EVENTS="${EVENTS:-false true}"
AURA_PY="$AURA_VENV/bin/python"

if [ ! -x "$AURA_PY" ] || ! "$AURA_PY" -c "import aura" 2>/dev/null; then
  echo "no aura in $AURA_VENV: run scripts/test.sh once, or set AURA_VENV" >&2
  exit 2
fi
if [ "$("$OWUI_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("open-webui"))' 2>/dev/null)" != "$OWUI_VERSION" ]; then
  echo "== installing open-webui==$OWUI_VERSION into $OWUI_VENV (~7 GB, takes a while)" >&2
  python3 -m venv "$OWUI_VENV"
  "$OWUI_VENV/bin/pip" install --quiet "open-webui==$OWUI_VERSION"
fi
if [ -n "$SCREENSHOTS" ]; then
  if ! "$OWUI_VENV/bin/python" -c "import playwright" 2>/dev/null; then
    "$OWUI_VENV/bin/pip" install --quiet playwright   # drives the system chromium: no browser download
  fi
  if [ ! -x /usr/bin/chromium ]; then
    echo "no /usr/bin/chromium (apt-get install -y chromium): no screenshots" >&2
    SCREENSHOTS=""
  else
    mkdir -p "$SCREENSHOTS"
  fi
fi

WORK="$(mktemp -d -t aura-compat-owui.XXXXXX)"
PIDS=()
AURA_PID=""
PROXY_PID=""
cleanup() {
  for pid in "${PIDS[@]}" $AURA_PID $PROXY_PID; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = "1" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { "$AURA_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {  # url, seconds, pid
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    if ! kill -0 "$3" 2>/dev/null || [ $SECONDS -gt $deadline ]; then return 1; fi
    sleep 1
  done
}

UPSTREAM_PORT="$(free_port)"; AURA_PORT="$(free_port)"; PROXY_PORT="$(free_port)"; OWUI_PORT="$(free_port)"
FRONT_PORT="$AURA_PORT"
if [ -n "$RECORD_DIR" ]; then FRONT_PORT="$PROXY_PORT"; mkdir -p "$RECORD_DIR"; fi

"$AURA_PY" tests/integration/clients/fake_upstream.py --port "$UPSTREAM_PORT" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)

cat >"$WORK/agent.toml" <<EOF
[llm]
provider = "openai"
api_key = "fake-upstream-key"
model = "fake-model"
base_url = "http://127.0.0.1:$UPSTREAM_PORT/v1"

[agent]
name = "Echo Agent"
alias = "echo-agent"
system_prompt = "You are a helpful assistant. Use the tools when asked."
turn_depth = 3

[mcp.servers.fixture]
transport = "stdio"
cmd = ["$AURA_PY", "$REPO/tests/fixtures/mcp_servers/fixture_server.py", "stdio"]
description = "Echo and other test tools"
EOF

echo "== starting OpenWebUI $OWUI_VERSION on 127.0.0.1:$OWUI_PORT (data in $WORK/owui)" >&2
mkdir -p "$WORK/owui"
(
  cd "$WORK"
  env DATA_DIR="$WORK/owui" WEBUI_SECRET_KEY="compat-$RANDOM-$RANDOM-$RANDOM-secret-key-padding" WEBUI_AUTH=True \
    ENABLE_OLLAMA_API=False OPENAI_API_BASE_URL="http://127.0.0.1:$FRONT_PORT/v1" OPENAI_API_KEY=sk-compat-unused \
    ENABLE_FORWARD_USER_INFO_HEADERS=True \
    OFFLINE_MODE=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAG_EMBEDDING_ENGINE=openai \
    BYPASS_EMBEDDING_AND_RETRIEVAL=True ENABLE_VERSION_UPDATE_CHECK=false \
    ANONYMIZED_TELEMETRY=false DO_NOT_TRACK=true SCARF_NO_ANALYTICS=true \
    "$OWUI_VENV/bin/open-webui" serve --host 127.0.0.1 --port "$OWUI_PORT"
) >"$WORK/owui.log" 2>&1 &
OWUI_PID=$!
PIDS+=("$OWUI_PID")

FAILED=""
for EVENTS_ON in $EVENTS; do
for MODE in $MODES; do
  RUN="$MODE"
  if [ "$EVENTS_ON" = true ]; then RUN="$MODE-events"; fi
  echo "== aura serve with TOOL_RESULT_MODE=$MODE AURA_CUSTOM_EVENTS=$EVENTS_ON" >&2
  CONFIG_PATH="$WORK/agent.toml" TOOL_RESULT_MODE="$MODE" AURA_CUSTOM_EVENTS="$EVENTS_ON" \
    "$AURA_PY" -m aura.entrypoints.cli serve --host 127.0.0.1 --port "$AURA_PORT" >"$WORK/aura-$RUN.log" 2>&1 &
  AURA_PID=$!
  if ! wait_http "http://127.0.0.1:$AURA_PORT/health" 60 "$AURA_PID"; then
    cat "$WORK/aura-$RUN.log" >&2
    exit 1
  fi
  if [ -n "$RECORD_DIR" ]; then
    "$AURA_PY" scripts/record-client-requests.py --port "$PROXY_PORT" --target "http://127.0.0.1:$AURA_PORT" \
      --out "$RECORD_DIR/openwebui-$OWUI_VERSION-$RUN.json" \
      --client "open-webui $OWUI_VERSION, TOOL_RESULT_MODE=$MODE AURA_CUSTOM_EVENTS=$EVENTS_ON" \
      >"$WORK/record-$RUN.log" 2>&1 &
    PROXY_PID=$!
    sleep 2
  fi
  if ! wait_http "http://127.0.0.1:$OWUI_PORT/health" 300 "$OWUI_PID"; then
    tail -50 "$WORK/owui.log" >&2
    exit 1
  fi
  SHOT=()
  if [ -n "$SCREENSHOTS" ]; then
    SHOT=(--screenshot "$SCREENSHOTS/openwebui-$MODE.png")
    if [ "$EVENTS_ON" = true ]; then SHOT=(--screenshot "$WORK/openwebui-$RUN.png"); fi
  fi
  if ! "$OWUI_VENV/bin/python" scripts/compat-openwebui-driver.py --owui "http://127.0.0.1:$OWUI_PORT" \
      --model echo-agent --mode "$MODE" "${SHOT[@]}"; then
    FAILED="$FAILED $RUN"
    echo "-- aura log ($RUN):" >&2; tail -20 "$WORK/aura-$RUN.log" >&2
  fi
  kill "$AURA_PID" $PROXY_PID 2>/dev/null || true
  wait "$AURA_PID" $PROXY_PID 2>/dev/null || true
  AURA_PID=""
  PROXY_PID=""
done
done

if [ -n "$FAILED" ]; then
  echo "OpenWebUI $OWUI_VERSION: checks FAILED in mode(s):$FAILED" >&2
  exit 1
fi
echo "OpenWebUI $OWUI_VERSION: all checks passed (TOOL_RESULT_MODE: $MODES; AURA_CUSTOM_EVENTS: $EVENTS)" >&2

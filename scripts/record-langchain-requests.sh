#!/usr/bin/env bash
# Record the requests LibreChat's client stack (`@langchain/openai` ChatOpenAI, tests/npm) sends to Aura, into
# tests/fixtures/clients/langchain-<scenario>.json (see that directory's README.md). Needs `npm ci --prefix tests/npm`.
#
#   bash scripts/record-langchain-requests.sh
#
# Starts the fake upstream, `aura serve` with two agents (`echo-agent`: one MCP server; `client-agent`: the same plus
# `[agent.client_tools]`, so it offers the request's `get_weather` to the model) and the recording proxy
# (scripts/record-client-requests.py), then runs tests/npm/langchain_client.mjs once per scenario through the proxy.
# AURA_VENV: the venv with aura (default .venv); OUT: where to write (default tests/fixtures/clients).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
AURA_PY="${AURA_VENV:-.venv}/bin/python"
OUT="${OUT:-tests/fixtures/clients}"
mkdir -p "$OUT"
WORK="$(mktemp -d -t aura-record-langchain.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$AURA_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

UPSTREAM_PORT="$(free_port)"; AURA_PORT="$(free_port)"; PROXY_PORT="$(free_port)"
"$AURA_PY" tests/integration/clients/fake_upstream.py --port "$UPSTREAM_PORT" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)

mkdir -p "$WORK/agents"
for AGENT in echo-agent client-agent; do
  {
    printf '[llm]\nprovider = "openai"\napi_key = "fake-upstream-key"\nmodel = "fake-model"\n'
    printf 'base_url = "http://127.0.0.1:%s/v1"\n\n' "$UPSTREAM_PORT"
    printf '[agent]\nname = "%s"\nsystem_prompt = "You are a helpful assistant. Use the tools when asked."\n' "$AGENT"
    printf 'turn_depth = 3\n\n'
    if [ "$AGENT" = client-agent ]; then printf '[agent.client_tools]\nenabled = true\nallow = ["get_weather"]\n\n'; fi
    printf '[mcp.servers.fixture]\ntransport = "stdio"\ncmd = ["%s", "%s", "stdio"]\n' \
      "$AURA_PY" "$REPO/tests/fixtures/mcp_servers/fixture_server.py"
  } >"$WORK/agents/$AGENT.toml"
done
CONFIG_PATH="$WORK/agents" "$AURA_PY" -m aura.entrypoints.cli serve --host 127.0.0.1 --port "$AURA_PORT" \
  >"$WORK/aura.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$AURA_PORT/health" || { cat "$WORK/aura.log" >&2; exit 1; }

VERSIONS="$(cd tests/npm && node -e 'const l=require("./package-lock.json").packages; console.log(`@langchain/openai ${l["node_modules/@langchain/openai"].version}, @langchain/core ${l["node_modules/@langchain/core"].version}, openai ${l["node_modules/openai"].version}, node ${process.version}`)')"
record() {  # file scenario model prompt
  rm -f "$OUT/$1"
  "$AURA_PY" scripts/record-client-requests.py --port "$PROXY_PORT" --target "http://127.0.0.1:$AURA_PORT" \
    --out "$OUT/$1" --client "$VERSIONS: $2" >"$WORK/proxy.log" 2>&1 &
  local proxy=$!
  sleep 1
  node tests/npm/langchain_client.mjs "$2" --base-url "http://127.0.0.1:$PROXY_PORT/v1" --model "$3" --prompt "$4"
  kill "$proxy"; wait "$proxy" 2>/dev/null || true
}
record langchain-invoke.json invoke echo-agent "Hello there"
record langchain-stream.json stream echo-agent "Hello there"
record langchain-stream-server-tool.json stream echo-agent "Please call echo with hello"
record langchain-tools-invoke.json tools-invoke client-agent 'What is the weather? Please call get_weather {"city": "Paris"}'
record langchain-tools-stream.json tools-stream client-agent 'What is the weather? Please call get_weather {"city": "Paris"}'
record langchain-tools-stream-mixed.json tools-stream client-agent 'Please call get_weather {"city": "Paris"} and call echo {"message": "hi"}'
echo "recorded into $OUT" >&2

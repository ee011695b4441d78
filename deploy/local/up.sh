#!/usr/bin/env bash
# Local cluster: installs dependencies, builds, starts one CPU worker and one
# router, waits until ready, sends one chat completion, then serves until
# Ctrl-C (both processes are stopped on exit).
#
#   deploy/local/up.sh [--model DIR] [--port 8080] [--worker-port 50051] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
MODEL="$(cd "$ROOT/.." && pwd)/shared/models/stories260K"
PORT=8080
WPORT=50051
THREADS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --worker-port) WPORT="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    *) echo "up.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -d "$MODEL" ] || { echo "up.sh: model directory not found: $MODEL" >&2; exit 2; }

bash deploy/install_deps.sh
CACHE="${INFERNUM_BAZEL_CACHE:-$HOME/.cache/infernum-bazel-disk}"
bazel build -c opt --disk_cache="$CACHE" //worker:infernum-worker //router:infernum-router
BIN="$(bazel info -c opt --disk_cache="$CACHE" bazel-bin 2>/dev/null)"
LOGS="$ROOT/_out/local"
mkdir -p "$LOGS"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "stopped worker and router"
}
trap cleanup EXIT INT TERM

"$BIN/worker/server/infernum-worker" --model "$MODEL" --listen "127.0.0.1:$WPORT" \
  --threads "$THREADS" >"$LOGS/worker.log" 2>&1 &
pids+=($!)
"$BIN/router/infernum-router" --listen "127.0.0.1:$PORT" --workers "127.0.0.1:$WPORT" \
  >"$LOGS/router.log" 2>&1 &
pids+=($!)

echo "waiting for the router at http://127.0.0.1:$PORT ..."
for _ in $(seq 1 600); do
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "a process exited; logs in $LOGS" >&2; tail -n 20 "$LOGS"/*.log >&2; exit 1; }
  done
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "router not ready; logs in $LOGS" >&2; exit 1; }
MODEL_ID=$(curl -s "http://127.0.0.1:$PORT/v1/models" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
echo "ready: model $MODEL_ID"
echo "--- POST /v1/chat/completions"
curl -s "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"$MODEL_ID\", \"messages\": [{\"role\": \"user\", \"content\": \"Once upon a time\"}], \"max_tokens\": 64, \"temperature\": 0}"
echo
echo "serving on http://127.0.0.1:$PORT (logs in $LOGS); Ctrl-C to stop"
wait

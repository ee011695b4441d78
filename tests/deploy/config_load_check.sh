#!/usr/bin/env bash
# Loads router / worker YAML files with the real binaries' config loaders.
#
#   tests/deploy/config_load_check.sh DIR
#
# DIR holds <role>-*.yaml files (+ <role>-*.name, a description), written by
# k8s_validate.cjs / compose_check.py --dump-configs. Binaries come from
# $INFERNUM_BIN (bazel-bin); without them every file is reported SKIP and the
# exit status is 0.
#
# There is no --check-config flag, so each binary is started on loopback with
# the file and overrides for what only exists in the deployment:
#   router: --listen 127.0.0.1:0 (worker DNS names need not resolve: discovery
#           retries in the background);
#   worker: --model stories260K --backend cpu --kv-cache-memory 16MiB
#           --max-model-len 0 --listen/--metrics-listen 127.0.0.1:0.
# The file's values of those overridden keys are parsed (type, byte-size
# syntax) but not range-checked by the binary; compose_check.py and
# k8s_validate.cjs check listen ports and backend themselves. Every other key
# is loaded and validated as in production.
# A config error exits at once with status 2 and one line on stderr (both
# binaries' contract); "listening on" means the file was accepted. The
# process is then stopped with SIGTERM (by its pid).
set -uo pipefail
dir="$1"
ROUTER="${INFERNUM_BIN:-}/router/infernum-router"
WORKER="${INFERNUM_BIN:-}/worker/server/infernum-worker"
SHARED="${INFERNUM_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}"
MODEL="$SHARED/models/stories260K"
fails=0

if [ -z "${INFERNUM_BIN:-}" ] || [ ! -x "$ROUTER" ] || [ ! -x "$WORKER" ]; then
  for f in "$dir"/*.yaml; do echo "SKIP $(cat "${f%.yaml}.name") (no binaries: set INFERNUM_BIN to bazel-bin)"; done
  exit 0
fi
if [ ! -f "$MODEL/config.json" ]; then
  echo "SKIP worker configs: stories260K not found under $SHARED (set INFERNUM_SHARED)"
fi

# stop PID: SIGTERM, then SIGKILL if it is still there after 30 s.
stop() {
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# start_and_wait NAME LOG CMD... : 0 if the process reached "listening on".
start_and_wait() {
  local name="$1" log="$2"; shift 2
  "$@" >"$log" 2>&1 &
  local pid=$! rc
  for _ in $(seq 1 600); do  # up to 60 s (model loading on a busy machine)
    if grep -q "listening on" "$log"; then
      stop "$pid"
      echo "ok   $name"; return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; rc=$?
      echo "FAIL $name: exited with status $rc:"; sed 's/^/       /' "$log" | tail -n 5
      return 1
    fi
    sleep 0.1
  done
  stop "$pid"
  echo "FAIL $name: did not report \"listening on\" within 60 s"; tail -n 5 "$log"
  return 1
}

# The worker's --metrics-listen override, where the binary has the flag.
worker_extra=()
"$WORKER" --help 2>&1 | grep -q -- "--metrics-listen" && worker_extra+=(--metrics-listen 127.0.0.1:0)

for f in "$dir"/*.yaml; do
  [ -f "$f" ] || continue
  name="$(cat "${f%.yaml}.name")"
  log="${f%.yaml}.log"
  case "$(basename "$f")" in
    router-*)
      start_and_wait "$name (infernum-router)" "$log" "$ROUTER" --config "$f" --listen 127.0.0.1:0 || fails=$((fails + 1))
      ;;
    worker-*)
      [ -f "$MODEL/config.json" ] || { echo "SKIP $name"; continue; }
      start_and_wait "$name (infernum-worker)" "$log" "$WORKER" --config "$f" \
        --model "$MODEL" --backend cpu --listen 127.0.0.1:0 --kv-cache-memory 16MiB --max-model-len 0 \
        "${worker_extra[@]}" || fails=$((fails + 1))
      ;;
  esac
done
exit $((fails > 0))

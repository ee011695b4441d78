# Shell helpers for end-to-end tests: start real workers and a router on
# loopback ports and stop them. Source it; call e2e_init first.
#
# Binaries come from $INFERNUM_BIN (a bazel-bin folder), default: `bazel info
# bazel-bin` of the main build (tests/run.sh builds //... first).

e2e_init() {
  E2E_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  E2E_SHARED="${INFERNUM_SHARED:-$(cd "$E2E_ROOT/.." && pwd)/shared}"
  E2E_MODEL="$E2E_SHARED/models/stories260K"
  if [ -z "${INFERNUM_BIN:-}" ]; then
    INFERNUM_BIN="$(cd "$E2E_ROOT" && bazel info bazel-bin 2>/dev/null)"
  fi
  E2E_TMP="$(mktemp -d)"
  E2E_PIDS=()
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  for p in "${E2E_PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$E2E_TMP"
}

e2e_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# e2e_start_worker NAME [extra flags...]: starts a worker on a free port and
# sets WORKER_PORT_<NAME> and WORKER_PID_<NAME>.
e2e_start_worker() {
  local name="$1"; shift
  local port; port=$(e2e_free_port)
  "$INFERNUM_BIN/worker/server/infernum-worker" --model "$E2E_MODEL" \
    --listen "127.0.0.1:$port" --threads 1 "$@" >"$E2E_TMP/worker_$name.log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  for _ in $(seq 1 600); do
    grep -q "listening on" "$E2E_TMP/worker_$name.log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$E2E_TMP/worker_$name.log"; return 1; }
    sleep 0.1
  done
  grep -q "listening on" "$E2E_TMP/worker_$name.log" || { cat "$E2E_TMP/worker_$name.log"; return 1; }
  printf -v "WORKER_PORT_$name" '%s' "$port"
  printf -v "WORKER_PID_$name" '%s' "$pid"
}

# e2e_start_router WORKERS(host:port,...) [extra flags...]: sets ROUTER_URL.
e2e_start_router() {
  local workers="$1"; shift
  local port; port=$(e2e_free_port)
  "$INFERNUM_BIN/router/infernum-router" --listen "127.0.0.1:$port" --workers "$workers" "$@" \
    >"$E2E_TMP/router.log" 2>&1 &
  ROUTER_PID=$!
  E2E_PIDS+=("$ROUTER_PID")
  ROUTER_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 600); do
    curl -sf "$ROUTER_URL/health" >/dev/null 2>&1 && return 0
    kill -0 "$ROUTER_PID" 2>/dev/null || { cat "$E2E_TMP/router.log"; return 1; }
    sleep 0.1
  done
  cat "$E2E_TMP/router.log"
  return 1
}

# Shell helpers for end-to-end tests: start real workers and a router on
# loopback ports and stop them. Source it; call e2e_init first.
#
# Binaries come from $INFERNUM_BIN (a bazel-bin folder), default: `bazel info
# bazel-bin` of the main build (tests/run.sh builds //... first).
#
# Every process started here is killed (SIGCONT then SIGKILL) when the
# sourcing script exits; when it exits non-zero, the tail of every process
# log is printed first.

e2e_init() {
  E2E_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  E2E_SHARED="${INFERNUM_SHARED:-$(cd "$E2E_ROOT/.." && pwd)/shared}"
  E2E_MODEL="$E2E_SHARED/models/stories260K"
  if [ -z "${INFERNUM_BIN:-}" ]; then
    INFERNUM_BIN="$(cd "$E2E_ROOT" && bazel info bazel-bin 2>/dev/null)"
  fi
  E2E_PY=/usr/bin/python3
  E2E_TMP="$(mktemp -d)"
  E2E_PIDS=()
  E2E_FAILS=0
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] || [ "${E2E_FAILS:-0}" != 0 ]; then e2e_dump_logs; fi
  for p in "${E2E_PIDS[@]:-}"; do
    [ -n "$p" ] && kill -CONT "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$E2E_TMP"
  return "$rc"
}

# Prints the last lines of every process log (on failure): 60 lines
# besides the router's JSON access log, then the last 5 access log lines.
# With E2E_KEEP_LOGS=DIR the whole logs are also copied there.
e2e_dump_logs() {
  local f
  for f in "$E2E_TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") (last 60 lines, then 5 access log lines)"
    grep -v '^{"ts"' "$f" | tail -n 60
    grep '^{"ts"' "$f" | tail -n 5
  done
  if [ -n "${E2E_KEEP_LOGS:-}" ]; then
    mkdir -p "$E2E_KEEP_LOGS" && cp "$E2E_TMP"/*.log "$E2E_KEEP_LOGS/" 2>/dev/null
  fi
}

# check NAME STATUS: prints "ok   NAME" or "FAIL NAME" and counts failures.
check() {
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; E2E_FAILS=$((E2E_FAILS + 1)); fi
}

# e2e_finish: prints the failure count; exit status 0 iff none.
e2e_finish() {
  echo "$E2E_FAILS failures"
  [ "$E2E_FAILS" = 0 ]
}

e2e_free_port() {
  "$E2E_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# e2e_wait_log FILE PATTERN PID [TENTHS]: waits for an extended regex in FILE
# while PID lives (default 120 s). Returns 1 if PID died or time ran out.
e2e_wait_log() {
  local file="$1" pattern="$2" pid="$3" tenths="${4:-1200}"
  for _ in $(seq 1 "$tenths"); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -qE "$pattern" "$file" 2>/dev/null
}

# e2e_start_worker NAME [extra flags...]: starts a worker on a free port and
# sets WORKER_PORT_<NAME>, WORKER_PID_<NAME> and WORKER_ADDR_<NAME>. With
# --metrics-listen (or --config, whose file must then set metrics_listen)
# among the flags it also sets WORKER_METRICS_<NAME>
# (http://HOST:PORT from the "metrics listening on" log line). $E2E_MODEL is
# the model; WORKER_PORT_<NAME> set beforehand picks the port (restarts).
e2e_start_worker() {
  local name="$1"; shift
  local pv="WORKER_PORT_$name"
  local port="${!pv:-}"
  [ -n "$port" ] || port=$(e2e_free_port)
  printf '%s\0' "$E2E_MODEL" "$@" >"$E2E_TMP/worker_$name.args"
  local log="$E2E_TMP/worker_$name.log"
  [ -f "$log" ] && cat "$log" >>"$E2E_TMP/worker_$name.previous.log"
  "$INFERNUM_BIN/worker/server/infernum-worker" --model "$E2E_MODEL" \
    --listen "127.0.0.1:$port" --threads 1 "$@" >"$log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  if ! e2e_wait_log "$log" "infernum-worker listening on" "$pid"; then
    echo "worker $name did not start:"; cat "$log"; return 1
  fi
  printf -v "WORKER_PORT_$name" '%s' "$port"
  printf -v "WORKER_PID_$name" '%s' "$pid"
  printf -v "WORKER_ADDR_$name" '%s' "127.0.0.1:$port"
  case " $* " in
    *" --metrics-listen "* | *" --config "*)
      if ! e2e_wait_log "$log" "metrics listening on" "$pid" 300; then
        echo "worker $name: no 'metrics listening on' line:"; cat "$log"; return 1
      fi
      local hp
      hp=$(grep -oE "metrics listening on [^ ]+" "$log" | head -1 | awk '{print $4}')
      printf -v "WORKER_METRICS_$name" '%s' "http://$hp"
      ;;
  esac
}

# e2e_restart_worker NAME: starts NAME again on its old port with the same
# model and flags (after it was killed or exited).
e2e_restart_worker() {
  local name="$1"
  local args=()
  mapfile -d '' args <"$E2E_TMP/worker_$name.args"
  E2E_MODEL="${args[0]}" e2e_start_worker "$name" "${args[@]:1}"
}

# e2e_wait_exit PID [TENTHS]: waits for PID (a child) to exit; sets
# E2E_EXIT_CODE. Returns 1 if it still runs after the time (default 60 s).
e2e_wait_exit() {
  local pid="$1" tenths="${2:-600}"
  for _ in $(seq 1 "$tenths"); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      E2E_EXIT_CODE=$?
      return 0
    fi
    sleep 0.1
  done
  E2E_EXIT_CODE=
  return 1
}

# e2e_start_router WORKERS(host:port,...) [extra flags...]: sets ROUTER_URL
# and ROUTER_PID. WORKERS may be "" when the flags give --config.
# ROUTER_NAME (default "router") names the log file.
e2e_start_router() {
  local workers="$1"; shift
  local port; port=$(e2e_free_port)
  local log="$E2E_TMP/${ROUTER_NAME:-router}.log"
  local wflags=()
  [ -n "$workers" ] && wflags=(--workers "$workers")
  "$INFERNUM_BIN/router/infernum-router" --listen "127.0.0.1:$port" "${wflags[@]}" "$@" \
    >"$log" 2>&1 &
  ROUTER_PID=$!
  E2E_PIDS+=("$ROUTER_PID")
  ROUTER_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$ROUTER_URL/health" 2>/dev/null && return 0
    kill -0 "$ROUTER_PID" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.1
  done
  cat "$log"
  return 1
}

# e2e_wait_ready URL [TENTHS]: waits until GET URL/ready answers 200.
e2e_wait_ready() {
  local url="$1" tenths="${2:-1200}"
  for _ in $(seq 1 "$tenths"); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/ready")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

# e2e_random_model DIR [key=value...]: a config + tokenizer folder for a model
# with random weights (start its worker with --load-format dummy). Extra
# arguments are config.json overrides as key=value (integers).
e2e_random_model() {
  local dir="$1"; shift
  mkdir -p "$dir"
  cp "$E2E_MODEL/tokenizer.json" "$E2E_MODEL/tokenizer_config.json" "$dir/"
  "$E2E_PY" - "$E2E_MODEL/config.json" "$dir/config.json" "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    c[k] = int(v)
json.dump(c, open(sys.argv[2], "w"))
PY
}

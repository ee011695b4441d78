#!/usr/bin/env bash
# The infernum-worker binary: YAML config + flag override, readiness line,
# clean exit 0 on SIGTERM and on SIGINT, exit 2 with one stderr line for bad
# settings.
set -uo pipefail
BIN="$1"
MODEL="${INFERNUM_SHARED:-/work/shared}/models/stories260K"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
fails=0
check() {  # check NAME STATUS
  if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

# start_worker SIGNAL: starts the worker, waits for its line, sends SIGNAL,
# checks the exit status.
start_and_stop() {
  local sig="$1"
  cat >"$TMP/worker.yaml" <<YAML
model: $MODEL
listen: 127.0.0.1:50051
threads: 1
kv_cache_memory: 1MiB
served_model_name: from-yaml
YAML
  rm -f "$TMP/fifo"; mkfifo "$TMP/fifo"
  "$BIN" --config "$TMP/worker.yaml" --listen 127.0.0.1:0 >"$TMP/fifo" 2>"$TMP/err" &
  local pid=$!
  local line=""
  read -r -t 60 line <"$TMP/fifo"
  [[ "$line" =~ ^infernum-worker\ listening\ on\ 127\.0\.0\.1:([0-9]+)\ model=from-yaml$ ]] &&
    [ "${BASH_REMATCH[1]}" != 0 ] && [ "${BASH_REMATCH[1]}" != 50051 ]
  check "readiness line with the picked port ($line)" $?
  kill -s "$sig" "$pid"
  wait "$pid"
  local rc=$?
  [ "$rc" = 0 ]; check "$sig -> exit 0 (rc=$rc)" $?
}
start_and_stop TERM
start_and_stop INT

expect_exit2() {  # expect_exit2 NAME ARGS...
  local name="$1"; shift
  "$BIN" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  local rc=$?
  local lines; lines=$(wc -l <"$TMP/err")
  [ "$rc" = 2 ] && [ "$lines" = 1 ]
  check "$name -> exit 2, one line (rc=$rc: $(head -c 160 "$TMP/err"))" $?
}
expect_exit2 "no model" --listen 127.0.0.1:0
expect_exit2 "missing model dir" --model /nonexistent/dir
expect_exit2 "missing config file" --config /nonexistent/worker.yaml
printf 'model: %s\nmax_num_seqs: lots\n' "$MODEL" >"$TMP/bad.yaml"
expect_exit2 "bad YAML value" --config "$TMP/bad.yaml"
expect_exit2 "bad byte size" --model "$MODEL" --kv-cache-memory 12 parsecs
expect_exit2 "unknown flag" --model "$MODEL" --turbo
expect_exit2 "bad backend" --model "$MODEL" --backend tpu
expect_exit2 "bad listen address" --model "$MODEL" --listen 127.0.0.1:99999
expect_exit2 "bad metrics address" --model "$MODEL" --metrics-listen 9090

"$BIN" --help >"$TMP/out" 2>&1
[ $? = 0 ] && grep -q -- "--kv-cache-memory" "$TMP/out"
check "--help lists the flags" $?

[ "$fails" = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all passed"

#!/usr/bin/env bash
# Benchmark (not run in CI): the router's own overhead (issue 4). One CPU
# worker (stories260K) and one router on loopback; each round, one
# `infernum bench serve` invocation sends the same load through the router
# (HTTP/SSE) and straight to the worker's gRPC port, and reports the p50
# TTFT delta and the output tokens/s ratio router/grpc.
#
#   INFERNUM_BIN=<dir> tests/e2e/bench_router_overhead.sh
#
# INFERNUM_BIN: a bazel-bin folder (worker/server/infernum-worker,
# router/infernum-router, cli/infernum) or the deploy bundle's bin/
# (_bundle/bin/{infernum-worker,infernum-router,infernum}: then the
# bundle's run.sh library path is used, and its shared/ test data unless
# INFERNUM_SHARED is set). No Bazel needed with a bundle:
#   tar xJf _out/infernum-bundle.tar.xz -C /tmp
#   INFERNUM_BIN=/tmp/_bundle/bin tests/e2e/bench_router_overhead.sh
#
# CPU layout (taskset), whole physical cores each (SMT siblings together):
# - >= 6 cores: the worker, the router and the load generator on disjoint
#   cores: a quarter of the cores each (at least 2) for the worker (which
#   gets --threads = its CPUs) and the router, the rest for the client; e.g.
#   16 CPUs without SMT: worker 0-3, router 4-7, client 8-15.
# - 2 to 5 cores: the worker alone on the first core (--threads 1), the
#   router and the load generator together on the others. Both runs of a
#   round then give the worker the same core, and the router competes with
#   the client, not with the worker.
# - 1 core, or PIN=0: unpinned, everything shares every CPU.
#
# Per round it prints the two runs' p50 TTFT and tokens/s, the delta and
# ratio, and the router's and worker's CPU time per output token of the
# router run (from /proc/PID/stat); then the medians and the target
# (router adds <= 1 ms p50 TTFT and <= 5% output tokens/s: ratio >= 0.95).
#
# Knobs (environment): ROUNDS (3) NUM_PROMPTS (512) CONCURRENCY (64)
# INPUT_LEN (64) OUTPUT_LEN (64) PIN (auto | 0 | 1) WORKER_CPUS
# ROUTER_CPUS CLIENT_CPUS (taskset lists, override the layout)
# WORKER_THREADS, JSON_DIR (keep each round's bench JSON there), MODEL (a
# model directory: config.json + tokenizer files; default stories260K),
# WORKER_ARGS (extra worker flags, e.g. "--load-format dummy" for a folder
# holding a shape's config.json and a tokenizer but no weights).
# Exit status: 0 when every round completed every request (targets met or
# not), 1 otherwise.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# ---- binaries, libraries, test data ----
if [ -n "${INFERNUM_BIN:-}" ] && [ -x "$INFERNUM_BIN/infernum-router" ]; then
  bundle="$(cd "$INFERNUM_BIN/.." && pwd)"  # A deploy bundle.
  if [ -x "$bundle/run.sh" ]; then eval "$("$bundle/run.sh" --print-env)"; fi
  if [ -z "${INFERNUM_SHARED:-}" ] && [ -d "$bundle/shared/models" ]; then
    export INFERNUM_SHARED="$bundle/shared"
  fi
  WORKER_BIN="$INFERNUM_BIN/infernum-worker"
  ROUTER_BIN="$INFERNUM_BIN/infernum-router"
  BENCH_BIN="$INFERNUM_BIN/infernum"
fi
source "$here/cluster_lib.sh"
e2e_init  # INFERNUM_BIN defaults to bazel-bin; E2E_TMP, cleanup on exit.
E2E_MODEL="${MODEL:-$E2E_MODEL}"
read -r -a worker_args <<<"${WORKER_ARGS:-}"
WORKER_BIN="${WORKER_BIN:-$INFERNUM_BIN/worker/server/infernum-worker}"
ROUTER_BIN="${ROUTER_BIN:-$INFERNUM_BIN/router/infernum-router}"
BENCH_BIN="${BENCH_BIN:-$INFERNUM_BIN/cli/infernum}"
command -v "$E2E_PY" >/dev/null 2>&1 || E2E_PY=python3
for b in "$WORKER_BIN" "$ROUTER_BIN" "$BENCH_BIN"; do
  [ -x "$b" ] || { echo "missing binary: $b (set INFERNUM_BIN)"; exit 1; }
done
[ -f "$E2E_MODEL/config.json" ] || { echo "no model at $E2E_MODEL"; exit 1; }

ROUNDS="${ROUNDS:-3}"; NUM_PROMPTS="${NUM_PROMPTS:-512}"
CONCURRENCY="${CONCURRENCY:-64}"; INPUT_LEN="${INPUT_LEN:-64}"
OUTPUT_LEN="${OUTPUT_LEN:-64}"; PIN="${PIN:-auto}"
ulimit -n 65536 2>/dev/null || true

# ---- CPU layout ----
# Prints "NCPU WORKER ROUTER CLIENT": the usable CPUs and a split of them
# into three comma lists, keeping SMT siblings (one physical core) together:
# a quarter of the cores each (at least 2 from 6 cores on) for the worker
# and the router, the rest for the client ("-" for an empty list).
layout() {
  "$E2E_PY" - <<'PY'
import os
cpus = sorted(os.sched_getaffinity(0))
def siblings(c):
    try:
        text = open(f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list").read()
    except OSError:
        return (c,)
    out = []
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return tuple(x for x in out if x in cpus) or (c,)
cores = []
for c in cpus:
    g = siblings(c)
    if g not in cores:
        cores.append(g)
n = len(cores)
if n >= 6:
    share = max(n // 4, 2)
    parts = [cores[:share], cores[share:2 * share], cores[2 * share:]]
else:  # The router and the client share what the worker leaves.
    parts = [cores[:1], cores[1:], cores[1:]]
lists = [",".join(str(c) for g in part for c in g) for part in parts]
print(len(cpus), *[l or "-" for l in lists])
PY
}
read -r ncpu lw lr lc < <(layout)
if [ "$PIN" = auto ]; then
  PIN=0
  [ "$lc" != - ] && command -v taskset >/dev/null 2>&1 && PIN=1
fi
if [ "$PIN" = 1 ]; then
  if [ "$lc" = - ] && [ -z "${WORKER_CPUS:-}${ROUTER_CPUS:-}${CLIENT_CPUS:-}" ]; then
    echo "PIN=1 on $ncpu CPUs needs WORKER_CPUS, ROUTER_CPUS and CLIENT_CPUS"; exit 1
  fi
  WORKER_CPUS="${WORKER_CPUS:-$lw}"; ROUTER_CPUS="${ROUTER_CPUS:-$lr}"
  CLIENT_CPUS="${CLIENT_CPUS:-$lc}"
  n_worker=$(tr ',' '\n' <<<"$WORKER_CPUS" | wc -l)
  WORKER_THREADS="${WORKER_THREADS:-$n_worker}"
  # Command prefixes (taskset execs the program: $! stays its PID).
  WPIN=(taskset -c "$WORKER_CPUS"); RPIN=(taskset -c "$ROUTER_CPUS")
  CPIN=(taskset -c "$CLIENT_CPUS")
  echo "layout: $ncpu CPUs; worker on CPUs $WORKER_CPUS (--threads $WORKER_THREADS)," \
    "router on $ROUTER_CPUS, load generator on $CLIENT_CPUS"
else
  WORKER_THREADS="${WORKER_THREADS:-1}"
  WPIN=(); RPIN=(); CPIN=()
  echo "layout: unpinned ($ncpu CPUs shared by worker --threads $WORKER_THREADS," \
    "router and load generator; pinning needs >= 2 cores and taskset)"
fi

# ---- processes ----
http_code() {  # http_code URL: the HTTP status of GET URL (000 if none).
  "$E2E_PY" - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}

wport=$(e2e_free_port)
"${WPIN[@]}" "$WORKER_BIN" --model "$E2E_MODEL" --listen "127.0.0.1:$wport" \
  --threads "$WORKER_THREADS" "${worker_args[@]}" >"$E2E_TMP/worker.log" 2>&1 &
WPID=$!
E2E_PIDS+=("$WPID")
e2e_wait_log "$E2E_TMP/worker.log" "infernum-worker listening on" "$WPID" ||
  { echo "worker did not start"; exit 1; }
WORKER_ADDR="127.0.0.1:$wport"

rport=$(e2e_free_port)
"${RPIN[@]}" "$ROUTER_BIN" --listen "127.0.0.1:$rport" --workers "$WORKER_ADDR" \
  --no-access-log >"$E2E_TMP/router.log" 2>&1 &
RPID=$!
E2E_PIDS+=("$RPID")
ROUTER_URL="http://127.0.0.1:$rport"
for _ in $(seq 1 600); do
  [ "$(http_code "$ROUTER_URL/health")" = 200 ] && break
  kill -0 "$RPID" 2>/dev/null || break
  sleep 0.1
done
[ "$(http_code "$ROUTER_URL/health")" = 200 ] || { echo "router not healthy"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
BENCH=("$BENCH_BIN" bench serve --url "$ROUTER_URL" --compare-grpc "$WORKER_ADDR"
  --concurrency "$CONCURRENCY" --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN")

echo "\$ ${BENCH[*]} --num-prompts $NUM_PROMPTS --json" | sed "s|$(dirname "$BENCH_BIN")/||"
# Warm-up (not reported): first allocations in the worker and router.
"${CPIN[@]}" "${BENCH[@]}" --num-prompts "$CONCURRENCY" --json >/dev/null ||
  { echo "warm-up run failed"; exit 1; }

# ---- rounds ----
# One bench invocation runs the router load first, then the gRPC load; the
# router is idle during the latter, so its CPU over the round is the router
# run's (plus 5 s health polls).
failed=0
for round in $(seq 1 "$ROUNDS"); do
  out="$E2E_TMP/round_$round.json"
  r0=$(cpu_ticks "$RPID"); w0=$(cpu_ticks "$WPID")
  "${CPIN[@]}" "${BENCH[@]}" --num-prompts "$NUM_PROMPTS" --json >"$out"
  rc=$?
  r1=$(cpu_ticks "$RPID"); w1=$(cpu_ticks "$WPID")
  [ "$rc" = 0 ] || failed=1
  [ -n "${JSON_DIR:-}" ] && mkdir -p "$JSON_DIR" && cp "$out" "$JSON_DIR/"
  echo "$round $rc $((r1 - r0)) $((w1 - w0))" >>"$E2E_TMP/cpu.txt"
done

"$E2E_PY" - "$E2E_TMP" "$ROUNDS" "$TICK" "$NUM_PROMPTS" <<'PY' || failed=1
import json, statistics, sys
tmp, rounds, tick, num = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cpu = {int(l.split()[0]): l.split()[1:] for l in open(f"{tmp}/cpu.txt")}
deltas, ratios, router_us = [], [], []
ok = True
print(f"{'round':>5} {'router ttft p50':>16} {'grpc ttft p50':>14} {'delta ms':>9}"
      f" {'router tok/s':>13} {'grpc tok/s':>11} {'ratio':>7} {'router us/tok':>14}"
      f" {'worker us/tok':>14}  completed")
for r in range(1, rounds + 1):
    try:
        out = json.loads(open(f"{tmp}/round_{r}.json").read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        print(f"{r:>5} no result (bench exit status {cpu[r][0]})")
        ok = False
        continue
    ro, gr = out["runs"]["router"], out["runs"]["grpc"]
    d = out["overhead"]["p50_ttft_delta_ms"]
    q = out["overhead"]["output_throughput_ratio"]
    toks = max(ro["output_tokens"], 1)
    rus = float(cpu[r][1]) / tick / toks * 1e6
    wus = float(cpu[r][2]) / tick / toks * 1e6  # Both runs' worker time.
    deltas.append(d); ratios.append(q); router_us.append(rus)
    done = f"{ro['completed']}+{gr['completed']}/{2 * num}"
    print(f"{r:>5} {ro['ttft_ms']['p50']:>16.2f} {gr['ttft_ms']['p50']:>14.2f} {d:>+9.2f}"
          f" {ro['output_throughput']:>13.0f} {gr['output_throughput']:>11.0f} {q:>7.3f}"
          f" {rus:>14.1f} {wus / 2:>14.1f}  {done}")
    for name, run in (("router", ro), ("grpc", gr)):
        if run["failed"] or run["completed"] != num:
            ok = False
            print(f"      {name}: {run['failed']} failed; first error: {run['first_error']}")
if deltas:
    md, mq = statistics.median(deltas), statistics.median(ratios)
    print(f"median over {len(deltas)} rounds: p50 TTFT delta {md:+.3f} ms, output tok/s"
          f" ratio router/grpc {mq:.4f}, router CPU {statistics.median(router_us):.1f} us/token")
    print(f"target (delta <= 1 ms and ratio >= 0.95): "
          f"{'MET' if md <= 1.0 and mq >= 0.95 else 'NOT MET'}")
sys.exit(0 if ok and deltas else 1)
PY
exit "$failed"

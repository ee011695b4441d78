#!/usr/bin/env bash
# Benchmark (not run in CI): prefix_aware vs round_robin routing on a
# shared-prefix workload, then a 1,000-concurrent-stream load on one router.
#
#   INFERNUM_BIN=<bazel-bin> tests/e2e/bench_prefix_routing.sh [prefix|streams|all]
#
# Part 1 (prefix): 3 CPU workers serving a random-weight Llama whose prefill
# dominates (hidden 256, 4 layers, context 4096, Llama-2's tokenizer), a
# KV cache per worker that holds only a few of the system prompts, and for
# each policy in turn fresh workers (empty prefix caches) and a router.
# `infernum bench serve --dataset shared-prefix` sends the same requests to
# both and reads the workers' /metrics around the run; the script prints
# prefill tokens computed, TTFT p50/p99 and output tok/s side by side.
#
# Part 2 (streams): one router over 2 stories260K workers, 1,000 streams at
# once (short outputs), repeated ROUNDS times; every request must complete,
# and the router's RSS is sampled before, during (max) and after each round,
# with the peak of its in-flight worker streams (router /metrics).
#
# Knobs (environment): NUM_PREFIXES (8) PREFIX_LEN (1000) SUFFIX_LEN (32)
# NUM_PROMPTS (160) CONCURRENCY (6) OUTPUT_LEN (32) KV_CACHE (24MiB)
# HIDDEN (256) LAYERS (4) THREADS (1) STREAMS (1000) ROUNDS (3)
# STREAM_OUTPUT_LEN (64).
set -uo pipefail
source "$(dirname "$0")/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT"
MODE="${1:-all}"
NUM_PREFIXES="${NUM_PREFIXES:-8}"; PREFIX_LEN="${PREFIX_LEN:-1000}"; SUFFIX_LEN="${SUFFIX_LEN:-32}"
NUM_PROMPTS="${NUM_PROMPTS:-160}"; CONCURRENCY="${CONCURRENCY:-6}"; OUTPUT_LEN="${OUTPUT_LEN:-32}"
KV_CACHE="${KV_CACHE:-24MiB}"; HIDDEN="${HIDDEN:-256}"; LAYERS="${LAYERS:-4}"; THREADS="${THREADS:-1}"
STREAMS="${STREAMS:-1000}"; ROUNDS="${ROUNDS:-3}"; STREAM_OUTPUT_LEN="${STREAM_OUTPUT_LEN:-64}"
BENCH="$INFERNUM_BIN/cli/infernum"
ulimit -n 65536 2>/dev/null || true

# ---- part 1: prefix_aware vs round_robin ----
run_policy() {  # run_policy POLICY: fresh workers + router, one bench run
  local policy="$1" names=() addrs=() metrics=()
  local M="$E2E_TMP/pm"
  for i in 1 2 3; do
    local n="${policy}_$i"
    unset "WORKER_PORT_$n"
    E2E_MODEL="$M" e2e_start_worker "$n" --load-format dummy --served-model-name pm \
      --threads "$THREADS" --kv-cache-memory "$KV_CACHE" --metrics-listen 127.0.0.1:0 || return 1
    local av="WORKER_ADDR_$n" mv="WORKER_METRICS_$n"
    names+=("$n"); addrs+=("${!av}"); metrics+=("${!mv}")
  done
  grep -h "KV blocks" "$E2E_TMP/worker_${policy}_1.log" | sed 's/^.*serving/  worker: serving/'
  cat >"$E2E_TMP/$policy.yaml" <<EOF
models:
  - name: pm
    workers: [$(IFS=,; echo "${addrs[*]}")]
    policy: $policy
refresh_interval_s: 1
EOF
  ROUTER_NAME="router_$policy" e2e_start_router "" --config "$E2E_TMP/$policy.yaml" || return 1
  e2e_wait_ready "$ROUTER_URL" || return 1
  local cmd=("$BENCH" bench serve --url "$ROUTER_URL" --dataset shared-prefix
    --num-prefixes "$NUM_PREFIXES" --prefix-len "$PREFIX_LEN" --suffix-len "$SUFFIX_LEN"
    --num-prompts "$NUM_PROMPTS" --concurrency "$CONCURRENCY" --output-len "$OUTPUT_LEN"
    --metrics-url "$(IFS=,; echo "${metrics[*]}")" --seed 1 --json)
  echo "  \$ ${cmd[*]}" | sed "s|$INFERNUM_BIN/||"
  "${cmd[@]}" >"$E2E_TMP/bench_$policy.json" || { echo "bench failed"; return 1; }
  [ -n "${BENCH_JSON_DIR:-}" ] && cp "$E2E_TMP/bench_$policy.json" "$BENCH_JSON_DIR/"
  kill -KILL "$ROUTER_PID" 2>/dev/null
  for n in "${names[@]}"; do local pv="WORKER_PID_$n"; kill -KILL "${!pv}" 2>/dev/null; done
  wait 2>/dev/null
}

part_prefix() {
  echo "== prefix_aware vs round_robin: $NUM_PROMPTS requests, $NUM_PREFIXES prefixes x" \
    "$PREFIX_LEN tokens + $SUFFIX_LEN-token suffixes, concurrency $CONCURRENCY," \
    "output $OUTPUT_LEN; 3 workers (hidden $HIDDEN, $LAYERS layers, $THREADS thread(s)," \
    "KV cache $KV_CACHE each)"
  # Llama-2's tokenizer: random outputs are then mostly ordinary pieces (with
  # stories260K's, half the vocab is byte tokens and streams often show no
  # text until the end, which hides the first token from the client).
  e2e_random_model "$E2E_TMP/pm" hidden_size="$HIDDEN" intermediate_size=$((HIDDEN * 3)) \
    num_hidden_layers="$LAYERS" num_attention_heads=8 num_key_value_heads=4 \
    head_dim=$((HIDDEN / 8)) max_position_embeddings=4096 vocab_size=32000
  cp "$E2E_SHARED/models/tokenizers/llama2/tokenizer.json" \
    "$E2E_SHARED/models/tokenizers/llama2/tokenizer_config.json" "$E2E_TMP/pm/"
  for policy in round_robin prefix_aware; do
    echo "-- $policy"
    run_policy "$policy" || { e2e_dump_logs; return 1; }
  done
  "$E2E_PY" - "$E2E_TMP/bench_round_robin.json" "$E2E_TMP/bench_prefix_aware.json" <<'PY'
import json, sys
rr, pa = (json.loads(open(p).read().strip().splitlines()[-1])["runs"]["router"] for p in sys.argv[1:])
rows = [("completed / failed", lambda r: f"{r['completed']} / {r['failed']}"),
        ("prefill tokens computed", lambda r: f"{r['workers'].get('prefill_tokens_computed', 'n/a'):.0f}"),
        ("prompt tokens", lambda r: f"{r['workers'].get('prompt_tokens', 0):.0f}"),
        ("prefix cache hit tokens", lambda r: f"{r['workers'].get('prefix_cache_hits', 0):.0f}"),
        ("TTFT p50 (ms)", lambda r: f"{r['ttft_ms']['p50']:.1f}"),
        ("TTFT p99 (ms)", lambda r: f"{r['ttft_ms']['p99']:.1f}"),
        ("E2E p50 (ms)", lambda r: f"{r['e2e_ms']['p50']:.1f}"),
        ("TPOT p50 (ms)", lambda r: f"{r['tpot_ms']['p50']:.2f}"),
        ("output tok/s", lambda r: f"{r['output_throughput']:.1f}"),
        ("duration (s)", lambda r: f"{r['duration_s']:.1f}")]
print(f"{'':28}{'round_robin':>14}{'prefix_aware':>14}")
for name, get in rows:
    print(f"{name:28}{get(rr):>14}{get(pa):>14}")
ratio = rr["ttft_ms"]["p50"] / max(pa["ttft_ms"]["p50"], 1e-9)
for name, r in (("round_robin", rr), ("prefix_aware", pa)):
    if r["first_error"]:
        print(f"first error ({name}): {r['first_error']}")
print(f"p50 TTFT round_robin / prefix_aware = {ratio:.2f}x (target >= 2x): "
      f"{'MET' if ratio >= 2 else 'NOT MET'}")
PY
}

# ---- part 2: 1,000 concurrent streams on one router ----
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }

part_streams() {
  echo "== $STREAMS concurrent streams x $ROUNDS rounds on one router (stories260K, 2 workers)"
  unset WORKER_PORT_s1 WORKER_PORT_s2
  e2e_start_worker s1 --max-num-seqs 512 || return 1
  e2e_start_worker s2 --max-num-seqs 512 || return 1
  ROUTER_NAME=router_streams e2e_start_router "$WORKER_ADDR_s1,$WORKER_ADDR_s2" \
    --http-threads $((STREAMS + 64)) --no-access-log || return 1
  echo "  router RSS before: $(rss_kb "$ROUTER_PID") kB"
  for round in $(seq 1 "$ROUNDS"); do
    local cmd=("$BENCH" bench serve --url "$ROUTER_URL" --num-prompts "$STREAMS"
      --concurrency "$STREAMS" --input-len 32 --output-len "$STREAM_OUTPUT_LEN" --vocab-size 512 --json)
    [ "$round" = 1 ] && echo "  \$ ${cmd[*]}" | sed "s|$INFERNUM_BIN/||"
    "${cmd[@]}" >"$E2E_TMP/streams_$round.json" &
    local bpid=$! peak=0 inflight=0
    while kill -0 "$bpid" 2>/dev/null; do
      local r; r=$(rss_kb "$ROUTER_PID"); [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
      local f; f=$("$E2E_PY" tests/e2e/cluster_client.py metric "$ROUTER_URL" \
        'infernum_router:worker_in_flight' 2>/dev/null | cut -d. -f1)
      [[ "$f" =~ ^[0-9]+$ ]] && [ "$f" -gt "$inflight" ] && inflight=$f
      sleep 0.3
    done
    wait "$bpid"; local rc=$?
    sleep 2
    "$E2E_PY" - "$E2E_TMP/streams_$round.json" "$round" "$peak" "$(rss_kb "$ROUTER_PID")" "$rc" "$inflight" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["runs"]["router"]
print(f"  round {sys.argv[2]}: completed {r['completed']} failed {r['failed']} "
      f"(rc {sys.argv[5]}), {r['output_tokens']} tokens in {r['duration_s']:.1f}s, "
      f"TTFT p50 {r['ttft_ms']['p50']:.0f} ms p99 {r['ttft_ms']['p99']:.0f} ms; "
      f"peak router in-flight streams {sys.argv[6]}; "
      f"router RSS peak {sys.argv[3]} kB, after {sys.argv[4]} kB"
      + (f"; first error: {r['first_error']}" if r['first_error'] else ""))
PY
  done
  kill -0 "$ROUTER_PID" && echo "  router still serving: /health $(curl -s -o /dev/null -w '%{http_code}' "$ROUTER_URL/health")"
}

case "$MODE" in
  prefix) part_prefix ;;
  streams) part_streams ;;
  *) part_prefix; part_streams ;;
esac

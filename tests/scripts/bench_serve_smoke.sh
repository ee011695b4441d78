#!/usr/bin/env bash
# Smoke test of `infernum bench serve`: one real CPU worker (stories260K) and
# a router on loopback; the same load through the router (HTTP/SSE) and
# straight to the worker (gRPC). Checks counts, not timings.
set -uo pipefail
source "$(dirname "$0")/../e2e/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT"
e2e_start_worker a || exit 1
e2e_start_router "127.0.0.1:$WORKER_PORT_a" || exit 1
echo "router at $ROUTER_URL, worker 127.0.0.1:$WORKER_PORT_a"

"$INFERNUM_BIN/cli/infernum" bench serve --url "$ROUTER_URL" \
  --compare-grpc "127.0.0.1:$WORKER_PORT_a" --num-prompts 16 --concurrency 4 \
  --input-len 32 --output-len 16 --json >"$E2E_TMP/bench.json"
rc=$?
cat "$E2E_TMP/bench.json"
[ $rc = 0 ] || { echo "FAIL bench serve exited $rc"; exit 1; }

/usr/bin/python3 - "$E2E_TMP/bench.json" <<'PY' || exit 1
import json, sys
out = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
fails = []
def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        fails.append(name)
runs = out["runs"]
check("both modes ran", sorted(runs) == ["grpc", "router"])
for mode, r in runs.items():
    check(f"{mode}: 0 failed ({r['first_error']})", r["failed"] == 0)
    check(f"{mode}: 16 completed", r["completed"] == 16)
    check(f"{mode}: 16*16 output tokens", r["output_tokens"] == 16 * 16)
    for m in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
        check(f"{mode}: {m} p50 <= p99", r[m]["p50"] <= r[m]["p99"])
    check(f"{mode}: ttft <= e2e", r["ttft_ms"]["p99"] <= r["e2e_ms"]["p99"])
check("overhead reported", "p50_ttft_delta_ms" in out["overhead"])
sys.exit(1 if fails else 0)
PY

# Bad flags: one line on stderr, exit 2.
"$INFERNUM_BIN/cli/infernum" bench serve --url "$ROUTER_URL" --concurrency -1 \
  2>"$E2E_TMP/err.txt"
rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$E2E_TMP/err.txt")" = 1 ] ||
  { echo "FAIL bad flag: rc=$rc"; cat "$E2E_TMP/err.txt"; exit 1; }
echo "ok   bad flag exits 2"
echo "bench serve smoke: all passed"

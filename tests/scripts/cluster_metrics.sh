#!/usr/bin/env bash
# Metrics end to end: a router and two CPU workers (stories260K) on loopback,
# each worker with its Prometheus endpoint (one set by --metrics-listen, one
# by the worker.yaml key metrics_listen, both on port 0). Both /metrics
# outputs must parse with Debian's python3-prometheus-client and the
# counters must move by exactly what the served requests report. See
# tests/e2e/metrics_client.py.
set -uo pipefail
source "$(dirname "$0")/../e2e/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT/tests/e2e"
if ! "$E2E_PY" -c 'import prometheus_client.parser' 2>/dev/null; then
  echo "python3-prometheus-client missing: installing it"
  apt-get install -y -qq python3-prometheus-client >/dev/null 2>&1 ||
    { echo "FAIL cannot install python3-prometheus-client (deploy/install_deps.sh)"; exit 1; }
fi

e2e_start_worker m1 --metrics-listen 127.0.0.1:0 || exit 1
printf 'metrics_listen: 127.0.0.1:0\nmax_num_seqs: 64\n' >"$E2E_TMP/m2.yaml"
e2e_start_worker m2 --config "$E2E_TMP/m2.yaml" || exit 1
[ "${WORKER_METRICS_m1#http://127.0.0.1:}" != "$WORKER_PORT_m1" ]
check "m1 metrics on their own port ($WORKER_METRICS_m1, gRPC $WORKER_PORT_m1)" $?
cat >"$E2E_TMP/router.yaml" <<EOF
models:
  - name: stories260K
    workers: [$WORKER_ADDR_m1, $WORKER_ADDR_m2]
    policy: round_robin
refresh_interval_s: 0.5
EOF
e2e_start_router "" --config "$E2E_TMP/router.yaml" || exit 1
e2e_wait_ready "$ROUTER_URL"; check "router ready" $?
"$E2E_PY" metrics_client.py --url "$ROUTER_URL" --workers "$WORKER_METRICS_m1,$WORKER_METRICS_m2" \
  --worker-addrs "$WORKER_ADDR_m1,$WORKER_ADDR_m2"
check "router and worker metrics" $?

# `infernum bench serve --dataset shared-prefix --metrics-url`: the worker
# counters it reports are the workers' own.
"$INFERNUM_BIN/cli/infernum" bench serve --url "$ROUTER_URL" --dataset shared-prefix \
  --num-prefixes 2 --prefix-len 96 --suffix-len 8 --num-prompts 12 --concurrency 3 \
  --output-len 4 --metrics-url "$WORKER_METRICS_m1,$WORKER_METRICS_m2" --json >"$E2E_TMP/bench.json"
check "bench serve shared-prefix ran (rc $?)" $?
"$E2E_PY" - "$E2E_TMP/bench.json" <<'PY'
import json, sys
out = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
r = out["runs"]["router"]
w = r["workers"]
print("bench:", json.dumps(w), "completed", r["completed"])
assert out["dataset"] == "shared-prefix" and out["prefix_len"] == 96, out
assert r["completed"] == 12 and r["failed"] == 0, r
assert w["prompt_tokens"] == 12 * (96 + 8), w
assert w["generation_tokens"] == 12 * 4, w
assert 0 < w["prefix_cache_hits"] < w["prompt_tokens"], w
assert w["prefill_tokens_computed"] == w["prompt_tokens"] - w["prefix_cache_hits"], w
PY
check "bench serve --metrics-url: prompt / generation tokens match the workload, prefix hits > 0" $?
e2e_finish

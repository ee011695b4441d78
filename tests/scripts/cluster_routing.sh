#!/usr/bin/env bash
# Routing policies end to end: three CPU workers (stories260K, each with
# /metrics) and three routers over the same workers: prefix_aware,
# round_robin (control) and least_load. See tests/e2e/routing_client.py for
# the checks.
set -uo pipefail
source "$(dirname "$0")/../e2e/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT/tests/e2e"

# Worker 1 runs at most 8 sequences so that the least_load check can pile up
# a queue on it.
e2e_start_worker r1 --metrics-listen 127.0.0.1:0 --max-num-seqs 8 || exit 1
e2e_start_worker r2 --metrics-listen 127.0.0.1:0 || exit 1
e2e_start_worker r3 --metrics-listen 127.0.0.1:0 || exit 1
W="[$WORKER_ADDR_r1, $WORKER_ADDR_r2, $WORKER_ADDR_r3]"

# router_for NAME POLICY: a router over the three workers with that policy.
router_for() {
  cat >"$E2E_TMP/$1.yaml" <<EOF
models:
  - name: stories260K
    workers: $W
    policy: $2
    prefix_aware:
      balance_abs_threshold: 2
      balance_rel_threshold: 1.5
      max_blocks_per_worker: 4096
refresh_interval_s: 0.2
request_timeout_s: 300
EOF
  [ "$2" = prefix_aware ] || sed -i '/prefix_aware:$/,/max_blocks_per_worker/d' "$E2E_TMP/$1.yaml"
  ROUTER_NAME="$1" e2e_start_router "" --config "$E2E_TMP/$1.yaml" || return 1
  e2e_wait_ready "$ROUTER_URL" || { echo "$1 never ready"; return 1; }
}
router_for router_prefix prefix_aware || exit 1; PREFIX_URL=$ROUTER_URL
router_for router_rr round_robin || exit 1; RR_URL=$ROUTER_URL
router_for router_ll least_load || exit 1; LL_URL=$ROUTER_URL
echo "workers $WORKER_ADDR_r1 $WORKER_ADDR_r2 $WORKER_ADDR_r3;" \
  "metrics $WORKER_METRICS_r1 $WORKER_METRICS_r2 $WORKER_METRICS_r3"

"$E2E_PY" routing_client.py --prefix-url "$PREFIX_URL" --rr-url "$RR_URL" --ll-url "$LL_URL" \
  --metrics "$WORKER_METRICS_r1,$WORKER_METRICS_r2,$WORKER_METRICS_r3" \
  --grpc "$WORKER_ADDR_r1,$WORKER_ADDR_r2,$WORKER_ADDR_r3"
check "routing policies" $?
e2e_finish

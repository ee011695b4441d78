#!/usr/bin/env bash
# Failover end to end: two models, three CPU workers on loopback (model A =
# stories260K on a1 and a2, model B = random weights on b1) behind one router
# configured with `models:`. 50 concurrent streaming greedy requests (plus a
# few of model B) must all complete with exactly the uninterrupted reference
# text while a model-A worker (whichever runs some of them when tokens flow:
# the router may briefly eject a slow worker on a loaded machine) is
#   1. killed with SIGKILL mid-stream (requests migrate),
#   2. sent SIGTERM (it drains: no request fails, it exits 0),
#   3. frozen with SIGSTOP (stall_timeout_s 2: the stall is detected and the
#      requests migrate; SIGCONT afterwards),
# and finally the router itself gets SIGTERM mid-stream (open streams finish,
# it exits 0).
set -uo pipefail
source "$(dirname "$0")/../e2e/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT/tests/e2e"
PY="$E2E_PY"
metric() { "$PY" cluster_client.py metric "$@"; }

RAND="$E2E_TMP/rand"
e2e_random_model "$RAND"
e2e_start_worker a1 --metrics-listen 127.0.0.1:0 || exit 1
e2e_start_worker a2 --metrics-listen 127.0.0.1:0 || exit 1
E2E_MODEL="$RAND" e2e_start_worker b1 --load-format dummy --served-model-name rand || exit 1

cat >"$E2E_TMP/router.yaml" <<EOF
models:
  - name: stories260K
    workers: [$WORKER_ADDR_a1, $WORKER_ADDR_a2]
  - name: rand
    workers: [$WORKER_ADDR_b1]
refresh_interval_s: 0.5
eject_backoff_initial_s: 0.5
eject_backoff_max_s: 2
stall_timeout_s: 2
request_timeout_s: 180
max_worker_attempts: 3
max_migrations: 3
shutdown_grace_s: 60
EOF
e2e_start_router "" --config "$E2E_TMP/router.yaml" || exit 1
echo "router $ROUTER_URL; a1 $WORKER_ADDR_a1 a2 $WORKER_ADDR_a2 (stories260K), b1 $WORKER_ADDR_b1 (rand)"
e2e_wait_ready "$ROUTER_URL"; check "/ready 200 with every model served" $?
models=$(curl -s "$ROUTER_URL/v1/models" | "$PY" -c 'import json,sys; print(",".join(sorted(m["id"] for m in json.load(sys.stdin)["data"])))')
[ "$models" = "rand,stories260K" ]; check "/v1/models lists both models ($models)" $?

# wait_in_rotation NAME: until the router reports worker NAME healthy again
# (router metric worker_healthy) and routes requests to it (its own
# request_success_total moves).
wait_in_rotation() {
  local av="WORKER_ADDR_$1" mv="WORKER_METRICS_$1" ok=1
  for _ in $(seq 1 600); do
    [ "$(metric "$ROUTER_URL" 'infernum_router:worker_healthy' "worker=${!av}")" = 1.0 ] && ok=0 && break
    sleep 0.1
  done
  [ "$ok" = 0 ] && "$PY" failover_client.py until-served --url "$ROUTER_URL" --metrics "${!mv}"
}

# ---- reference: the same requests, uninterrupted ----
"$PY" failover_client.py reference --url "$ROUTER_URL" --out "$E2E_TMP/ref.json"
check "reference run" $? || true
[ -s "$E2E_TMP/ref.json" ] || exit 1
# Independent check of the reference: the CLI's greedy output for a few
# prompts (no router, no gRPC) must be the same text.
"$PY" - "$E2E_TMP/ref.json" >"$E2E_TMP/cli_prompts.txt" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
for k in list(k for k in ref if k.startswith("stories260K|"))[:4]:
    print(json.dumps(k.split("|", 1)[1]))
PY
"$INFERNUM_BIN/cli/infernum" generate --model "$E2E_MODEL" -i "$E2E_TMP/cli_prompts.txt" \
  -o "$E2E_TMP/cli_out.jsonl" --max-tokens 400 --temperature 0 --ignore-eos --threads 1 \
  >"$E2E_TMP/cli.log" 2>&1
"$PY" - "$E2E_TMP/ref.json" "$E2E_TMP/cli_out.jsonl" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == 4, rows
for r in rows:
    want = ref["stories260K|" + r["prompt"]]
    assert r["text"] == want, (r["prompt"], r["text"][:80], want[:80])
PY
check "reference equals 'infernum generate' (greedy, ignore_eos) for 4 prompts" $?

grew() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[2]) > float(sys.argv[1]) else 1)' "$@" 2>/dev/null; }
# storm SIGNAL LABEL: the workload while SIGNAL goes to whichever model-A
# worker runs some of it when tokens flow; sets V (its name), VPID, VADDR.
storm() {
  "$PY" failover_client.py storm --url "$ROUTER_URL" --ref "$E2E_TMP/ref.json" --signal "$1" \
    --victims "a1=$WORKER_PID_a1=$WORKER_ADDR_a1,a2=$WORKER_PID_a2=$WORKER_ADDR_a2" \
    --victim-out "$E2E_TMP/victim" --late 8 --label "$2"
  local rc=$?
  V=$(cat "$E2E_TMP/victim" 2>/dev/null || echo a1)
  local pv="WORKER_PID_$V" av="WORKER_ADDR_$V"
  VPID=${!pv}; VADDR=${!av}
  return $rc
}

# ---- 1. SIGKILL a model-A worker mid-stream: its requests migrate ----
mig0=$(metric "$ROUTER_URL" 'infernum_router:migrations_total')
ej0=$(metric "$ROUTER_URL" 'infernum_router:worker_ejections_total')
[ "$ej0" = absent ] && ej0=0
storm KILL "SIGKILL"
check "SIGKILL $V mid-stream: no lost or duplicated tokens" $?
mig1=$(metric "$ROUTER_URL" 'infernum_router:migrations_total')
grew "$mig0" "$mig1"; check "router migrations_total grew ($mig0 -> $mig1)" $?
for _ in $(seq 1 100); do
  ej1=$(metric "$ROUTER_URL" 'infernum_router:worker_ejections_total' "worker=$VADDR")
  grew "$ej0" "$ej1" && break; sleep 0.1
done
grew "$ej0" "$ej1"; check "router worker_ejections_total{worker=$V} grew ($ej0 -> $ej1)" $?
e2e_wait_exit "$VPID" 50
e2e_restart_worker "$V" || exit 1
wait_in_rotation "$V"; check "restarted $V back in rotation (worker_healthy 1, serves requests)" $?

# ---- 2. SIGTERM: the worker drains ----
storm TERM "SIGTERM"
check "SIGTERM $V mid-stream: every request completes" $?
e2e_wait_exit "$VPID" 900; check "$V exited after draining" $?
[ "${E2E_EXIT_CODE:-x}" = 0 ]; check "$V drain exit status 0 (got ${E2E_EXIT_CODE:-still running})" $?
e2e_restart_worker "$V" || exit 1
wait_in_rotation "$V"; check "restarted $V back in rotation" $?

# ---- 3. SIGSTOP: the stall is detected, requests migrate ----
st0=$(metric "$ROUTER_URL" 'infernum_router:stalls_total')
storm STOP "SIGSTOP"
check "SIGSTOP $V mid-stream: stall detected, every request completes" $?
st1=$(metric "$ROUTER_URL" 'infernum_router:stalls_total')
grew "$st0" "$st1"; check "router stalls_total grew ($st0 -> $st1)" $?
kill -CONT "$VPID"
kill -0 "$VPID" 2>/dev/null; check "$V alive after SIGCONT" $?
wait_in_rotation "$V"; check "$V back in rotation after SIGCONT" $?

# ---- 4. SIGTERM the router: open streams finish, then it exits 0 ----
"$PY" failover_client.py storm --url "$ROUTER_URL" --ref "$E2E_TMP/ref.json" \
  --signal TERM --victims "router=$ROUTER_PID=" --grpc "$WORKER_ADDR_a1,$WORKER_ADDR_a2" \
  --label "SIGTERM router"
check "router SIGTERM mid-stream: open streams complete" $?
e2e_wait_exit "$ROUTER_PID" 900
[ "${E2E_EXIT_CODE:-x}" = 0 ]; check "router exit status 0 after SIGTERM (got ${E2E_EXIT_CODE:-still running})" $?
for w in a1 a2 b1; do
  pv="WORKER_PID_$w"; kill -0 "${!pv}" 2>/dev/null; check "worker $w still alive" $?
done

# ---- 5. SIGTERM a router while requests wait in a worker's queue ----
# q1 runs one sequence at a time, so of 4 streams 3 wait for their first
# token when the router gets SIGTERM; they are open requests too.
E2E_MODEL="$RAND" e2e_start_worker q1 --load-format dummy --served-model-name queued \
  --max-num-seqs 1 || exit 1
cat >"$E2E_TMP/router2.yaml" <<EOF
models:
  - name: queued
    workers: [$WORKER_ADDR_q1]
stall_timeout_s: 60
shutdown_grace_s: 120
EOF
ROUTER_NAME=router2 e2e_start_router "" --config "$E2E_TMP/router2.yaml" || exit 1
e2e_wait_ready "$ROUTER_URL" || exit 1
"$PY" failover_client.py drain-queued --url "$ROUTER_URL" --pid "$ROUTER_PID" --model-b queued
check "router SIGTERM: requests still queued at the worker complete too" $?
e2e_wait_exit "$ROUTER_PID" 1500
[ "${E2E_EXIT_CODE:-x}" = 0 ]; check "router2 exit status 0 (got ${E2E_EXIT_CODE:-still running})" $?
e2e_finish

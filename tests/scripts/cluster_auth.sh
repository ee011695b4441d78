#!/usr/bin/env bash
# Auth, admission and probes end to end: real CPU workers (stories260K, and a
# slow random-weight model whose long streams hold admission slots) behind
# routers configured for each case. See tests/e2e/auth_client.py.
set -uo pipefail
source "$(dirname "$0")/../e2e/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT/tests/e2e"
PY="$E2E_PY"

SLOWM="$E2E_TMP/slow"
e2e_random_model "$SLOWM" hidden_size=512 intermediate_size=1536 num_hidden_layers=8 \
  num_attention_heads=8 num_key_value_heads=4 head_dim=64 max_position_embeddings=4096
e2e_start_worker a1 || exit 1
E2E_MODEL="$SLOWM" e2e_start_worker s1 --load-format dummy --served-model-name slow || exit 1

# write_config NAME EXTRA-YAML: router.yaml with both models plus EXTRA.
write_config() {
  cat >"$E2E_TMP/$1.yaml" <<EOF
models:
  - name: stories260K
    workers: [$WORKER_ADDR_a1]
  - name: slow
    workers: [$WORKER_ADDR_s1]
refresh_interval_s: 0.3
eject_backoff_initial_s: 0.3
eject_backoff_max_s: 1
$2
EOF
}
start() {  # start NAME EXTRA-YAML: sets ROUTER_URL
  write_config "$1" "$2"
  ROUTER_NAME="$1" e2e_start_router "" --config "$E2E_TMP/$1.yaml" || return 1
  e2e_wait_ready "$ROUTER_URL" || { echo "$1 never ready"; return 1; }
}

# ---- auth table: keys from the config and from the environment ----
INFERNUM_API_KEYS="sk-env-gamma, sk-env-delta" start auth "api_keys: [sk-alpha, sk-beta]" || exit 1
AUTH_URL=$ROUTER_URL; AUTH_PID=$ROUTER_PID
"$PY" auth_client.py table --url "$AUTH_URL" --keys sk-alpha,sk-beta,sk-env-gamma,sk-env-delta \
  --metrics-auth 0 --log "$E2E_TMP/auth.log"
check "auth table (metrics_require_auth false)" $?

MYKEYS_VAR="E2E_KEYS_$$"  # api_key_env: a variable name of our own
export "$MYKEYS_VAR=sk-custom-env"
start auth_metrics "api_keys: [sk-alpha]
api_key_env: $MYKEYS_VAR
metrics_require_auth: true" || exit 1
"$PY" auth_client.py table --url "$ROUTER_URL" --keys sk-alpha,sk-custom-env --metrics-auth 1
check "auth table (metrics_require_auth true, api_key_env)" $?
unset "$MYKEYS_VAR"

# ---- admission ----
start admission "max_concurrent_requests: 2
max_queued_requests: 2
queue_timeout_s: 120" || exit 1
"$PY" auth_client.py admission --url "$ROUTER_URL" --limit 2 --queue 2
check "admission: 429 + Retry-After past max_concurrent_requests + max_queued_requests" $?

start queue_timeout "max_concurrent_requests: 1
max_queued_requests: 4
queue_timeout_s: 2" || exit 1
"$PY" auth_client.py queue-timeout --url "$ROUTER_URL"
check "admission: queue_timeout_s -> 429" $?

write_config per_model "max_queued_requests: 0"
"$PY" - "$E2E_TMP/per_model.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read().replace("  - name: slow\n", "  - name: slow\n    max_concurrent: 1\n")
open(p, "w").write(s)
PY
ROUTER_NAME=per_model e2e_start_router "" --config "$E2E_TMP/per_model.yaml" || exit 1
e2e_wait_ready "$ROUTER_URL" || exit 1
"$PY" auth_client.py per-model --url "$ROUTER_URL"
check "admission: per-model max_concurrent" $?

# ---- /ready follows the workers of every model (on the auth router) ----
code() { curl -s -o "$E2E_TMP/probe.json" -w '%{http_code}' "$AUTH_URL$1"; }
kill -KILL "$WORKER_PID_a1"
e2e_wait_exit "$WORKER_PID_a1" 100
for _ in $(seq 1 600); do [ "$(code /ready)" = 503 ] && break; sleep 0.1; done
[ "$(code /ready)" = 503 ] && "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$E2E_TMP/probe.json"
check "/ready -> 503 with a JSON body once stories260K has no worker ($(head -c 200 "$E2E_TMP/probe.json"))" $?
[ "$(code /live)" = 200 ]; check "/live stays 200" $?
served() {  # the ids GET /v1/models lists, comma-separated
  curl -s -H 'Authorization: Bearer sk-alpha' "$AUTH_URL/v1/models" |
    "$PY" -c 'import json,sys; print(",".join(sorted(m["id"] for m in json.load(sys.stdin)["data"])))'
}
m=$(served); [ "$m" = slow ]; check "/v1/models lists only what is served now ($m)" $?
c=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer sk-alpha' -H 'Content-Type: application/json' \
  -d '{"model":"stories260K","prompt":"Once","max_tokens":4}' "$AUTH_URL/v1/completions")
[ "$c" = 503 ]; check "a request for the model without workers -> 503 (got $c)" $?
c=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer sk-alpha' -H 'Content-Type: application/json' \
  -d '{"model":"slow","prompt":"Once","max_tokens":2}' "$AUTH_URL/v1/completions")
[ "$c" = 200 ]; check "the other model still serves (got $c)" $?
e2e_restart_worker a1 || exit 1
e2e_wait_ready "$AUTH_URL" 600; check "/ready -> 200 again once the worker is back" $?
m=$(served); [ "$m" = "slow,stories260K" ]; check "/v1/models lists stories260K again ($m)" $?
kill -0 "$AUTH_PID"; check "auth router alive" $?
e2e_finish

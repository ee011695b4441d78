#!/usr/bin/env bash
# End-to-end: a real router and two real CPU workers (stories260K) on loopback,
# driven by the official OpenAI Node SDK, curl (raw SSE framing and every
# error class) and a Python gRPC client (cancellation frees the worker).
set -uo pipefail
source "$(dirname "$0")/../e2e/cluster_lib.sh"
e2e_init
cd "$E2E_ROOT"
fails=0
check() { if [ "$2" = 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

# A second, slow model (random weights at a larger shape, stories260K's
# tokenizer) so that cancellation happens while generation is still running.
SLOW="$E2E_TMP/slow"; mkdir -p "$SLOW"
cp "$E2E_MODEL/tokenizer.json" "$E2E_MODEL/tokenizer_config.json" "$SLOW/"
/usr/bin/python3 - "$E2E_MODEL/config.json" "$SLOW/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
         num_attention_heads=8, num_key_value_heads=4, head_dim=64,
         max_position_embeddings=4096)
json.dump(c, open(sys.argv[2], "w"))
PY
e2e_start_worker a || exit 1
e2e_start_worker b || exit 1
E2E_MODEL="$SLOW" e2e_start_worker c --load-format dummy --served-model-name slow || exit 1
e2e_start_router "127.0.0.1:$WORKER_PORT_a,127.0.0.1:$WORKER_PORT_b,127.0.0.1:$WORKER_PORT_c" || exit 1
echo "router at $ROUTER_URL, workers $WORKER_PORT_a $WORKER_PORT_b (stories260K) $WORKER_PORT_c (slow)"

# Expected greedy outputs from the CLI (an independent path: no router, no gRPC).
MAX=40
prompts=("Once upon a time" "The little dog" "Tom and Sue went" "One day, a bird" \
         "Lily liked to" "The sun was" "A big red ball" "There was a cat")
printf '%s\n' "${prompts[@]}" | /usr/bin/python3 -c 'import json,sys; [print(json.dumps(l.rstrip("\n"))) for l in sys.stdin]' >"$E2E_TMP/prompts.txt"
"$INFERNUM_BIN/cli/infernum" generate --model "$E2E_MODEL" -i "$E2E_TMP/prompts.txt" \
  -o "$E2E_TMP/expected.jsonl" --max-tokens "$MAX" --temperature 0 --threads 1 || { echo "generate failed"; exit 1; }
MODEL_ID=$(curl -s "$ROUTER_URL/v1/models" | /usr/bin/python3 -c 'import json,sys; print([m["id"] for m in json.load(sys.stdin)["data"] if m["id"] != "slow"][0])')
export EXPECTED_JSON=$(/usr/bin/python3 - "$E2E_TMP/expected.jsonl" "$MODEL_ID" "$MAX" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
first = rows[0]
text = first["text"]
mid = len(text) // 2
stop = text[mid:mid + 4]
print(json.dumps({
    "model_id": sys.argv[2], "max_tokens": int(sys.argv[3]),
    "prompt": first["prompt"], "greedy_text": text, "stop_string": stop,
    "concurrent": [{"prompt": r["prompt"], "text": r["text"]} for r in rows],
}))
PY
)
export ROUTER_URL
node --test tests/e2e/openai_sdk.test.mjs >"$E2E_TMP/node.log" 2>&1
rc=$?; grep -E "^# (pass|fail)|^not ok" "$E2E_TMP/node.log"; [ $rc = 0 ] || cat "$E2E_TMP/node.log" | tail -60
check "OpenAI Node SDK suite" $rc

# Raw SSE framing with curl.
curl -sN "$ROUTER_URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\":\"$MODEL_ID\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":12,\"temperature\":0,\"stream\":true}" \
  -D "$E2E_TMP/sse.headers" >"$E2E_TMP/sse.txt"
/usr/bin/python3 - "$E2E_TMP/sse.txt" "$E2E_TMP/sse.headers" <<'PY'
import json, sys
body = open(sys.argv[1]).read()
headers = open(sys.argv[2]).read().lower()
assert "content-type: text/event-stream" in headers, headers
events = body.split("\n\n")
assert events[-1] == "", "stream ends with a blank line"
events = events[:-1]
assert events[-1] == "data: [DONE]", events[-1]
for e in events[:-1]:
    assert e.startswith("data: "), e
    obj = json.loads(e[len("data: "):])
    assert obj["object"] == "chat.completion.chunk", obj
print("sse events:", len(events))
PY
check "curl: SSE framing (data: lines, [DONE], text/event-stream)" $?

# Every error class: right status, OpenAI error body, and the router keeps serving.
expect_error() {  # expect_error NAME STATUS CURL-ARGS...
  local name="$1" want="$2"; shift 2
  local code
  code=$(curl -s -o "$E2E_TMP/err.json" -w '%{http_code}' "$@")
  /usr/bin/python3 -c '
import json,sys
e=json.load(open(sys.argv[1]))["error"]
assert isinstance(e["message"],str) and e["message"] and "type" in e and "param" in e and "code" in e, e' "$E2E_TMP/err.json" 2>/dev/null
  local shape=$?
  [ "$code" = "$want" ] && [ "$shape" = 0 ]
  check "$name -> $code (want $want) $(head -c 160 "$E2E_TMP/err.json")" $?
}
J=(-H 'Content-Type: application/json')
C="$ROUTER_URL/v1/chat/completions"
P="$ROUTER_URL/v1/completions"
expect_error "malformed JSON" 400 "${J[@]}" -d '{"model": ' "$C"
head -c 300 /dev/urandom >"$E2E_TMP/garbage"
expect_error "garbage bytes" 400 "${J[@]}" --data-binary @"$E2E_TMP/garbage" "$C"
expect_error "wrong content type" 400 -H 'Content-Type: text/plain' -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"x\"}" "$P"
expect_error "huge number" 400 "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"x\",\"max_tokens\":1e308}" "$P"
expect_error "negative max_tokens" 400 "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"x\",\"max_tokens\":-5}" "$P"
expect_error "wrong type" 400 "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"x\",\"temperature\":\"hot\"}" "$P"
expect_error "out of range" 400 "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"x\",\"top_p\":7}" "$P"
expect_error "empty messages" 400 "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"messages\":[]}" "$C"
expect_error "context overflow" 400 "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"x\",\"max_tokens\":100000}" "$P"
expect_error "unknown model" 404 "${J[@]}" -d '{"model":"nope","prompt":"x"}' "$P"
head -c 6000000 /dev/zero | tr '\0' 'a' | sed 's/^/{"model":"m","prompt":"/; s/$/"}/' >"$E2E_TMP/big.json"
expect_error "oversized body" 413 "${J[@]}" --data-binary @"$E2E_TMP/big.json" "$P"
ok=$(curl -s "${J[@]}" -d "{\"model\":\"$MODEL_ID\",\"prompt\":\"Once\",\"max_tokens\":4,\"temperature\":0}" "$P" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["choices"]))')
[ "$ok" = 1 ]; check "router still serves after bad input" $?
for w in a b; do
  pv="WORKER_PID_$w"; kill -0 "${!pv}" 2>/dev/null; check "worker $w still alive" $?
done

# Cancellation: streaming clients that go away mid-generation free the worker
# at once (the slow model is still generating when they leave).
curl_pids=()
for i in 1 2 3 4; do
  curl -sN "${J[@]}" -d '{"model":"slow","prompt":"Once upon a time","max_tokens":2000,"ignore_eos":true,"stream":true}' "$P" >"$E2E_TMP/cancel_$i.txt" 2>/dev/null &
  curl_pids+=($!)
done
for _ in $(seq 1 100); do
  started=1
  for i in 1 2 3 4; do grep -q '"text"' "$E2E_TMP/cancel_$i.txt" 2>/dev/null || started=0; done
  [ "$started" = 1 ] && break
  sleep 0.2
done
lc=$(/usr/bin/python3 tests/e2e/worker_load.py "127.0.0.1:$WORKER_PORT_c")
/usr/bin/python3 -c 'import json,sys; l=json.loads(sys.argv[1]); assert l["running"]>=1 and l["blocks_used"]>0, l' "$lc"
check "slow worker busy before the clients leave: $lc" $?
for p in "${curl_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
freed=1
for _ in $(seq 1 30); do
  lc=$(/usr/bin/python3 tests/e2e/worker_load.py "127.0.0.1:$WORKER_PORT_c")
  if /usr/bin/python3 -c '
import json,sys
l=json.loads(sys.argv[1])
assert l["running"]==0 and l["waiting"]==0 and l["blocks_used"]==0, l' "$lc" 2>/dev/null; then freed=0; break; fi
  sleep 0.2
done
! grep -q "DONE" "$E2E_TMP"/cancel_*.txt; check "cancelled streams were cut mid-generation" $?
check "client disconnect frees the worker (running 0, blocks 0): $lc" $freed

echo "$fails failures"
[ "$fails" = 0 ]

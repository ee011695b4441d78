#!/usr/bin/env bash
# `infernum bench` end to end on the CPU (stories260K): every figure of the
# device benchmark printed, the --json file agreeing with the text, the
# throughput mode's table unchanged, bad flags => one line on stderr and
# exit 2, and --backend cuda without a GPU => exit 2 naming "no CUDA device".
set -uo pipefail
BIN="$1"
M="${INFERNUM_SHARED:-/work/shared}/models/stories260K"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
PY=/usr/bin/python3
fails=0
source tests/cli/check_lib.sh  # check, expect_exit2
S=(--model "$M" --threads 1 --reps 1 --copy-mib 8)

# The whole device benchmark in one run, with throughput and JSON.
"$BIN" bench "${S[@]}" --prompt-len 32 --decode-len 8 --prefill-len 64 \
  --gemm-shape 16x64x64 --throughput 16:8,8:4 --num-requests 4 \
  --no-cuda-graphs --json "$TMP/b.json" >"$TMP/full" 2>"$TMP/full.err"
rc=$?; [ "$rc" = 0 ]; check "device benchmark runs (rc=$rc: $(head -c 300 "$TMP/full.err"))" $?
cat "$TMP/full"
for label in "memory bandwidth" "device copy " "GEMM peak " "prefill  " \
    "prefill compute" "decode  " "decode roofline" "decode fraction" \
    "output tokens/s" "TTFT mean/p50/p99" "ITL mean/p50/p99" "peak KV cache usage"; do
  grep -q "^$label" "$TMP/full"; check "prints '$label'" $?
done
n=$(grep -c "^output tokens/s" "$TMP/full"); [ "$n" = 2 ]; check "one table per throughput shape ($n)" $?
! grep -q "one-at-a-time" "$TMP/full"; check "no one-at-a-time runs by default" $?
grep -q "^prefill .*(64 tokens, batch 1)" "$TMP/full"; check "prefill of --prefill-len tokens" $?
"$PY" - "$TMP/b.json" "$TMP/full" <<'EOF'
import json, re, sys
j = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
def line(label):
    return float(re.search(r"^" + label + r"\s+([\d.]+)", text, re.M).group(1))
assert j["complete"] is True
assert j["device"] == "cpu" and j["cuda_graphs"] is False
d, p = j["decode"], j["prefill"]
assert abs(line("decode") - d["tok_s"]) <= 0.006, (line("decode"), d)
assert abs(line("decode fraction") - 100 * d["roofline_fraction"]) <= 0.06
assert abs(d["roofline_tok_s"] * d["bytes_per_token"] - j["roofline_bandwidth_bytes_per_s"]) <= 1e-6 * j["roofline_bandwidth_bytes_per_s"]
assert p["tokens"] == 64 and p["flops"] > 0 and p["gemm_peak_fraction"] > 0
assert abs(line("GEMM peak") - j["gemm_peak"]["tflop_s"]) <= 0.0006
assert j["copy_bandwidth"]["convention"].startswith("bytes read + bytes written")
t = j["throughput"]
assert [(r["input_len"], r["output_len"], r["num_requests"]) for r in t] == [(16, 8, 4), (8, 4, 4)], t
for r in t:
    # ignore_eos is the default with --throughput: every request runs full.
    assert abs(r["output_tok_s"] * r["wall_s"] - 4 * r["output_len"]) < 1e-6 * r["output_tok_s"], r
    assert 0 < r["ttft_ms"]["p50"] <= r["ttft_ms"]["p99"] * (1 + 1e-9)
EOF
check "JSON agrees with the text and the workload" $?

# The CPU default (docs/perf.md): the decode run's prefill is the figure.
"$BIN" bench "${S[@]}" --prompt-len 16 --decode-len 4 >"$TMP/def" 2>&1
rc=$?; [ "$rc" = 0 ]; check "default run (rc=$rc)" $?
grep -q "^prefill .*(16 tokens, batch 1)" "$TMP/def"; check "default prefill = --prompt-len" $?
grep -q "^memory bandwidth .*read+write" "$TMP/def"; check "memory bandwidth line kept" $?

# The throughput mode (--num-requests alone) keeps its two-column table.
"$BIN" bench --model "$M" --threads 1 --num-requests 3 --input-len 8 \
  --output-len 4 --ignore-eos >"$TMP/tp" 2>&1
rc=$?; [ "$rc" = 0 ]; check "throughput mode (rc=$rc)" $?
grep -q "concurrent  *one-at-a-time" "$TMP/tp"; check "throughput mode compares both" $?

# --kv-cache-dtype: the same --kv-cache-memory holds twice the blocks in bf16
# as in f32 (stories260K: 2 * 5 layers * 4 kv heads * 8 dims * 16 tokens *
# 4 bytes = 20480 per f32 block), and the table names the dtype.
TPK=(--model "$M" --threads 1 --num-requests 3 --input-len 8 --output-len 4
  --ignore-eos --no-sequential --kv-cache-memory 1MiB)
kv_blocks() {  # kv_blocks DTYPE -> "BLOCKS DTYPE" from the throughput table
  "$BIN" bench "${TPK[@]}" --kv-cache-dtype "$1" 2>&1 |
    sed -n 's/^(KV cache: \([0-9]*\) blocks, \([a-z0-9]*\);.*/\1 \2/p'
}
f32=$(kv_blocks f32); bf16=$(kv_blocks bf16); auto=$(kv_blocks auto)
[ "$f32" = "51 f32" ] && [ "$bf16" = "102 bf16" ] && [ "$auto" = "$f32" ]
check "KV blocks in 1MiB: f32 '$f32', bf16 '$bf16', auto '$auto'" $?
"$BIN" bench "${S[@]}" --prompt-len 16 --decode-len 4 --prefill-len 16 \
  --kv-cache-dtype bf16 --json "$TMP/kv.json" >"$TMP/kv" 2>&1
rc=$?; [ "$rc" = 0 ]; check "device benchmark with --kv-cache-dtype bf16 (rc=$rc)" $?
grep -q "^decode roofline .*, KV bf16)" "$TMP/kv"; check "decode roofline names the KV dtype" $?
"$PY" - "$TMP/kv.json" "$M/config.json" <<'EOF'
import json, sys
j, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert j["kv_cache_dtype"] == "bf16" and j["decode"]["kv_cache_dtype"] == "bf16", j
# K and V, every layer, 2 bytes each.
want = 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * c["head_dim"] * 2
assert j["decode"]["kv_bytes_per_context_token"] == want, (j["decode"], want)
EOF
check "JSON: KV dtype bf16, bf16 bytes per context token" $?

# Bad flags.
expect_exit2 "bad kv cache dtype" "$BIN" bench "${S[@]}" --kv-cache-dtype int8
grep -q -- "--kv-cache-dtype" "$TMP/err"; check "bad kv cache dtype names the flag" $?
expect_exit2 "gpu memory utilization > 1" "$BIN" bench "${S[@]}" --gpu-memory-utilization 1.5
expect_exit2 "gpu memory utilization 0" "$BIN" bench "${S[@]}" --gpu-memory-utilization 0
expect_exit2 "bad throughput spec" "$BIN" bench "${S[@]}" --throughput 12x
expect_exit2 "throughput beyond context" "$BIN" bench "${S[@]}" --throughput 500:100
expect_exit2 "input-len with throughput" "$BIN" bench "${S[@]}" --throughput 8:8 --input-len 8
expect_exit2 "zero prefill" "$BIN" bench "${S[@]}" --prefill-len 0
expect_exit2 "prefill beyond context" "$BIN" bench "${S[@]}" --prefill-len 100000
expect_exit2 "bad gemm shape" "$BIN" bench "${S[@]}" --gemm-shape 3x3
expect_exit2 "unwritable json" "$BIN" bench "${S[@]}" --json "$TMP/no/such/dir/b.json"
expect_exit2 "json in throughput mode" "$BIN" bench "${S[@]}" --num-requests 2 --json "$TMP/x.json"
expect_exit2 "unknown flag" "$BIN" bench "${S[@]}" --bogus

# --backend cuda: on a machine without a GPU, a clear one-line error.
"$BIN" bench "${S[@]}" --backend cuda --prompt-len 8 --decode-len 2 --prefill-len 16 \
  >"$TMP/cuda" 2>"$TMP/cuda.err"
rc=$?
if [ "$rc" = 0 ]; then  # A GPU is present: the run must be the CUDA one.
  grep -q "^backend  *cuda" "$TMP/cuda"; check "--backend cuda runs on the GPU" $?
else
  [ "$rc" = 2 ] && grep -q "no CUDA device" "$TMP/cuda.err" && [ "$(wc -l <"$TMP/cuda.err")" = 1 ]
  check "--backend cuda without a GPU (rc=$rc: $(cat "$TMP/cuda.err"))" $?
fi

echo "$fails failure(s)"
[ "$fails" = 0 ]

#!/usr/bin/env bash
# The GPU session in one script: device checks, every gpu test, sanitizers,
# the benchmarks and the PyTorch peer, all from the deploy bundle (no Bazel
# on the device), with each step's log and a summary under $OUT.
#
#   tests/gpu/run_device.sh [PHASE...]        (from the repo root)
#
# PHASEs, always run in this order (default: check tests worker bench peer
# sanitize; all of them take longer than one 600 s device command, so a
# session runs `check tests worker sanitize`, then `check bench`, then
# `check peer router`):
#   check     nvidia-smi; ldd of every bundled binary (no "not found");
#             cuBLAS 13, compute-sanitizer and torch present
#   tests     every *_test binary of the bundle (gtest XML in $OUT/xml)
#   worker    infernum-worker --backend cuda (Llama-3.2-1B shape, dummy):
#             exits 2 at start-up when the KV cache cannot hold one
#             max-length sequence; serves with a KV cache plan otherwise
#   bench     infernum bench --backend cuda on the Llama-3.1-8B shape, dummy
#             weights, one process: copy bandwidth and GEMM peak of the
#             device, batch-1 decode, prefill 2048, offline throughput of 256
#             requests at 1024-in/128-out and 128-in/128-out ($OUT/bench.json);
#             then cuda_bench (per-kernel timings) and batch-1 decode with
#             --no-cuda-graphs ($OUT/bench_no_graphs.json)
#   peer      tests/gpu/peer_torch_compile.py on the same shape
#   router    tests/e2e/bench_router_overhead.sh (issue 4, CPU only): the
#             router's overhead over direct gRPC at concurrency 64, with
#             worker, router and load generator pinned to disjoint cores
#   sanitize  compute-sanitizer memcheck and racecheck on the op tests
# Environment:
#   OUT           where everything goes (default /tmp/infernum-gpu-out)
#   BUNDLE        the bundle tarball (default _out/infernum-bundle.tar.xz)
#   BUNDLE_DIR    an unpacked _bundle instead (no extraction)
#   DEADLINE_S    no step starts after this many seconds (default 560: the
#                 device `run` tool stops a command at 600 s, or earlier when
#                 less device time is left: then pass min(560, budget_left_s
#                 - 60) from the tool's `status`); steps left out are listed
#                 as SKIP (deadline) in the summary
#   MODEL_CONFIG  default: the bundle's configs/llama-3.1-8b.json
# Writes $OUT/summary.md, summary.json, bench*.json, and run.tgz holding
# steps.tsv, logs/ and xml/ (the device tool returns at most 8 files). Exit 0
# when every step that ran passed and every test binary ran tests (a binary
# whose tests all skipped means the device was not usable), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.."
here="$(pwd)/tests/gpu"
OUT="${OUT:-/tmp/infernum-gpu-out}"
DEADLINE_S="${DEADLINE_S:-560}"
start=$(date +%s)
mkdir -p "$OUT/logs" "$OUT/xml"
: > "$OUT/steps.tsv"

phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(check tests worker bench peer sanitize)
want() { local p; for p in "${phases[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
for p in "${phases[@]}"; do
  case "$p" in check|tests|worker|bench|peer|sanitize|router) ;;
    *) echo "run_device.sh: unknown phase '$p'" >&2; exit 2 ;; esac
done

# --- the bundle ---
if [ -z "${BUNDLE_DIR:-}" ]; then
  tarball="${BUNDLE:-_out/infernum-bundle.tar.xz}"
  if [ ! -f "$tarball" ]; then
    echo "run_device.sh: no bundle at $tarball (run deploy/bundle.sh, carry _out)" >&2
    exit 2
  fi
  dest=/tmp/infernum-bundle
  rm -rf "$dest" && mkdir -p "$dest"
  tar xJf "$tarball" -C "$dest" || { echo "cannot unpack $tarball" >&2; exit 2; }
  BUNDLE_DIR="$dest/_bundle"
fi
B="$BUNDLE_DIR"
# Python (torch, Triton's compiler calls), nvidia-smi and the summarizer run
# with the machine's own libraries: the bundle's (Debian's libstdc++ among
# them) are for the bundle's binaries only.
HOST_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
host() { LD_LIBRARY_PATH="$HOST_LD_LIBRARY_PATH" PYTHONUNBUFFERED=1 "$@"; }
eval "$("$B/run.sh" --print-env)"
export INFERNUM_SHARED="$B/shared"
# Test scratch stays out of $OUT: the device tool brings back 8 files.
export TEST_TMPDIR=/tmp/infernum-gpu-tmp B HOST_LD_LIBRARY_PATH
rm -rf "$TEST_TMPDIR" && mkdir -p "$TEST_TMPDIR"
CONFIG="${MODEL_CONFIG:-$B/shared/models/configs/llama-3.1-8b.json}"

# step NAME MIN_S MAX_S CMD...: runs CMD with a MAX_S timeout (cut to the
# time left) into logs/NAME.log, unless fewer than MIN_S seconds are left.
step() {
  local name="$1" min="$2" max="$3"; shift 3
  local left=$(( DEADLINE_S - ($(date +%s) - start) ))
  if [ "$left" -lt "$min" ]; then
    printf '%s\tSKIP\t-\t0\tdeadline (%ss left, needs %ss)\n' "$name" "$left" "$min" >> "$OUT/steps.tsv"
    echo "== $name: SKIP (deadline)"
    return 0
  fi
  [ "$max" -gt "$left" ] && max="$left"
  echo "== $name (up to ${max}s): $*"
  local t0=$(date +%s.%N)
  if declare -F "$1" > /dev/null; then  # A function of this script.
    timeout --kill-after=10 "$max" bash -c "$(declare -f "$1"); $*" \
      > "$OUT/logs/$name.log" 2>&1
  else
    timeout --kill-after=10 "$max" "$@" > "$OUT/logs/$name.log" 2>&1
  fi
  local rc=$?
  local dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  local status=PASS
  [ "$rc" -ne 0 ] && status=FAIL
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status=TIMEOUT
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$dt" "$*" >> "$OUT/steps.tsv"
  echo "   $status (rc $rc, ${dt}s)"; tail -n 3 "$OUT/logs/$name.log" | sed 's/^/   | /'
}

sanitizer=""
for c in "$(command -v compute-sanitizer 2>/dev/null)" /usr/local/cuda/bin/compute-sanitizer \
         /usr/local/cuda-13*/bin/compute-sanitizer; do
  [ -n "$c" ] && [ -x "$c" ] && sanitizer="$c" && break
done
export sanitizer

check_ldd() {
  local bad=0 b out
  for b in "$B"/bin/*; do
    out="$("$B/run.sh" --ldd "$(basename "$b")" 2>&1)" || bad=1
    printf -- '--- %s\n%s\n' "$(basename "$b")" "$out"
    if grep -q "not found" <<< "$out"; then bad=1; fi
  done
  return $bad
}

check_env() {
  host nvidia-smi || return 1
  host nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv || true
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  local found=0 d
  for d in ${LD_LIBRARY_PATH//:/ }; do
    [ -e "$d/libcublasLt.so.13" ] && echo "cuBLAS 13: $d" && found=1
  done
  echo "compute-sanitizer: ${sanitizer:-absent}"
  host python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' || true
  [ "$found" -eq 1 ] || { echo "libcublasLt.so.13 not found"; return 1; }
}

worker_check() {
  local w="$B/bin/infernum-worker" log="$TEST_TMPDIR/worker.log" rc i
  local args=(--backend cuda --load-format dummy --listen 127.0.0.1:0
    --model-config "$B/shared/models/configs/llama-3.2-1b.json")
  echo "## --gpu-memory-utilization 0.02: must exit 2 at start-up"
  "$w" "${args[@]}" --gpu-memory-utilization 0.02 > "$log" 2>&1
  rc=$?
  cat "$log"
  echo "exit status $rc"
  [ "$rc" -eq 2 ] && grep -q "not enough device memory for the KV cache" "$log" \
    || return 1
  echo "## defaults: must serve, with a KV cache plan"
  "$w" "${args[@]}" > "$log" 2>&1 &
  local pid=$!
  for i in $(seq 1 150); do
    grep -q "listening on" "$log" && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 1
  done
  kill -TERM "$pid" 2> /dev/null
  wait "$pid"
  rc=$?
  cat "$log"
  echo "exit status $rc after SIGTERM"
  grep -q "listening on" "$log" && grep -q "KV cache plan" "$log" && [ "$rc" -eq 0 ]
}

if want check; then
  step check_device 5 60 check_env
  step check_ldd 5 60 check_ldd
fi

if want tests; then
  for t in "$B"/bin/*_test; do
    name="$(basename "$t")"
    step "test_$name" 30 300 "$t" --gtest_output="xml:$OUT/xml/$name.xml"
  done
fi

if want worker; then
  step worker_memory_plan 60 200 worker_check
fi

if want bench; then
  # Every issue-6 figure from one process (one load of the 8B weights): the
  # device's copy bandwidth and bf16 GEMM rate, batch-1 decode against the
  # roofline, prefill of 2048 tokens against the GEMM rate, then offline
  # throughput of 256 requests per shape. $OUT/bench.json is rewritten after
  # each phase, so a step cut short keeps what it measured.
  dummy=(--backend cuda --config "$CONFIG" --load-format dummy)
  step bench_cuda 150 300 "$B/bin/infernum" bench "${dummy[@]}" \
    --prompt-len 128 --decode-len 128 --prefill-len 2048 --reps 3 \
    --throughput 1024:128,128:128 --num-requests 256 --max-num-batched-tokens 8192 \
    --gpu-memory-utilization 0.9 --json "$OUT/bench.json"
  # The per-kernel breakdown (and cuda_bench's own copy / GEMM figures).
  step cuda_bench 60 120 "$B/bin/cuda_bench"
  # Batch-1 decode without CUDA graphs (the decode run's prefill only).
  step bench_cuda_no_graphs 45 90 "$B/bin/infernum" bench "${dummy[@]}" \
    --prompt-len 128 --decode-len 128 --prefill-len 128 --reps 3 \
    --no-cuda-graphs --json "$OUT/bench_no_graphs.json"
fi

if want peer; then
  step peer_torch_compile 120 330 env LD_LIBRARY_PATH="$HOST_LD_LIBRARY_PATH" \
    PYTHONUNBUFFERED=1 python3 "$here/peer_torch_compile.py" \
    --config "$CONFIG" --prompt-len 128 --decode-steps 128 --warmup 8
fi

if want router; then
  step router_overhead 60 240 env INFERNUM_BIN="$B/bin" ROUNDS=3 \
    JSON_DIR="$OUT/router_overhead" "$(pwd)/tests/e2e/bench_router_overhead.sh"
fi

if want sanitize; then
  if [ -z "$sanitizer" ]; then
    printf 'sanitize\tSKIP\t-\t0\tno compute-sanitizer on this machine\n' >> "$OUT/steps.tsv"
  else
    # The op tests (cuda_gpu_test) and the cuda case of the backend op
    # tests. Racecheck only where kernels share memory (attention, norms,
    # softmax/argmax, sampler); cuBLAS and graph capture are left out.
    # The allocator test asks cudaMalloc for 1 TiB on purpose: memcheck
    # reports failed API calls, so it is left out there.
    cs=("$sanitizer" --error-exitcode 99 --print-limit 50)
    step memcheck_cuda_gpu_test 60 200 "${cs[@]}" --tool memcheck \
      --leak-check full "$B/bin/cuda_gpu_test" \
      --gtest_filter='-CudaMatmulTest.MemoryStreamsEventsAndAllocator'
    step racecheck_cuda_gpu_test 60 200 "${cs[@]}" --tool racecheck \
      --racecheck-report hazard "$B/bin/cuda_gpu_test" \
      --gtest_filter='CudaAttention*:CudaOps*:CudaSampling*'
    step memcheck_backend_ops 30 90 "${cs[@]}" --tool memcheck \
      "$B/bin/backend_ops_test" --gtest_filter='*/cuda'
  fi
fi

# The summary's status is 1 when a test binary ran no test (all skipped:
# the device was not usable) or a step failed.
host python3 "$here/summarize_device_run.py" --out "$OUT" --config "$CONFIG"
rc=$?
cat "$OUT/summary.md" 2>/dev/null
# The device tool brings back at most 8 files: the summaries and bench JSON
# stay as they are, everything else (logs, gtest XML, steps.tsv, router
# rounds) goes into run.tgz.
packed=()
for f in logs xml steps.tsv router_overhead; do
  [ -e "$OUT/$f" ] && packed+=("$f")
done
if [ ${#packed[@]} -gt 0 ] && tar czf "$OUT/run.tgz" -C "$OUT" "${packed[@]}"; then
  (cd "$OUT" && rm -rf "${packed[@]}")
fi
exit $rc

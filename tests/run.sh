#!/usr/bin/env bash
# The test command (README): installs what is missing, builds everything with
# Bazel offline, runs every test, and ends with one line "N passed, N failed".
#
#   tests/run.sh            # everything
#   tests/run.sh --quick    # skip the AddressSanitizer pass
#
# Environment: INFERNUM_SHARED (default: ../shared next to the repo) holds the
# test models; INFERNUM_BAZEL_CACHE (default ~/.cache/infernum-bazel-disk) is
# the Bazel disk cache that makes a fresh clone build quickly.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
export INFERNUM_SHARED="${INFERNUM_SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
CACHE="${INFERNUM_BAZEL_CACHE:-$HOME/.cache/infernum-bazel-disk}"
mkdir -p "$CACHE"
LOGDIR="$ROOT/_out/test-logs"
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"

# ---- 1. Debian packages (idempotent, no prompts) ----
bash "$ROOT/deploy/install_deps.sh" || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

# ---- 2. npm packages for the reference implementations ----
if ! (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >"$LOGDIR/npm.log" 2>&1); then
  cat "$LOGDIR/npm.log"; echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1
fi

BAZEL=(bazel)
BFLAGS=(--disk_cache="$CACHE" --test_env=INFERNUM_SHARED="$INFERNUM_SHARED")
[ -n "${CI:-}" ] && BFLAGS+=(--config=ci)

passed=0; failed=0; failures=()
record() {  # record NAME STATUS(0=pass)
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

# ---- 3. Build ----
if ! "${BAZEL[@]}" build "${BFLAGS[@]}" //... 2>&1 | tail -n 30; then :; fi
if ! "${BAZEL[@]}" build "${BFLAGS[@]}" //... >/dev/null 2>&1; then
  echo "BUILD FAILED"; echo "0 passed, 1 failed"; exit 1
fi

# ---- 4. Bazel tests (every gtest case counts) ----
count_bazel_tests() {  # count_bazel_tests LABEL-OF-RUN TESTLOGS-DIR
  local counts
  counts=$(/usr/bin/python3 "$ROOT/tests/count_test_xml.py" "$2" "$1")
  local p f
  p=$(echo "$counts" | sed -n 1p); f=$(echo "$counts" | sed -n 2p)
  passed=$((passed + p)); failed=$((failed + f))
  while IFS= read -r line; do [ -n "$line" ] && failures+=("$line"); done < <(echo "$counts" | tail -n +3)
}
"${BAZEL[@]}" test "${BFLAGS[@]}" --test_tag_filters=-manual //... 2>&1 | tee "$LOGDIR/bazel-test.log" | grep -E "PASSED|FAILED|TIMEOUT|NO STATUS|Executed" || true
count_bazel_tests "" "$("${BAZEL[@]}" info "${BFLAGS[@]}" bazel-testlogs 2>/dev/null)"

# ---- 5. AddressSanitizer pass over the loaders and the tokenizer ----
if [ "$QUICK" = 0 ]; then
  ASAN_TARGETS=(//models/io/... //models/tokenizer/...)
  "${BAZEL[@]}" test "${BFLAGS[@]}" --config=asan --test_tag_filters=-manual,-no_asan "${ASAN_TARGETS[@]}" 2>&1 | tee "$LOGDIR/bazel-asan.log" | grep -E "PASSED|FAILED|TIMEOUT|Executed" || true
  count_bazel_tests "asan:" "$("${BAZEL[@]}" info "${BFLAGS[@]}" --config=asan bazel-testlogs 2>/dev/null)"
fi

# ---- 6. Script tests outside Bazel (need npm packages or several processes) ----
INFERNUM_BIN="$("${BAZEL[@]}" info "${BFLAGS[@]}" bazel-bin 2>/dev/null)"
export INFERNUM_BIN
for t in tests/scripts/*.sh; do
  [ -f "$t" ] || continue
  name=$(basename "$t" .sh)
  echo "== $name"
  if bash "$t" >"$LOGDIR/$name.log" 2>&1; then
    record "$name" 0; tail -n 3 "$LOGDIR/$name.log"
  else
    record "$name" 1; tail -n 40 "$LOGDIR/$name.log"
  fi
done

# ---- 7. Formatting ----
mapfile -t srcs < <(git ls-files '*.cc' '*.h' '*.cu' '*.cuh')
if [ "${#srcs[@]}" -gt 0 ] && ! clang-format --dry-run -Werror "${srcs[@]}" >"$LOGDIR/clang-format.log" 2>&1; then
  record clang-format 1; head -n 20 "$LOGDIR/clang-format.log"
else
  record clang-format 0
fi

if [ "${#failures[@]}" -gt 0 ]; then
  echo "Failed:"; printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Fuzzes the harnesses of tests/fuzz with clang's libFuzzer (+ ASan, UBSan),
# outside Bazel (its toolchain is gcc), and merges what each run found into
# the checked-in corpus (corpus/<harness>.b64) that CI replays
# (bazel test //tests/fuzz/...).
#
#   tests/fuzz/run_libfuzzer.sh [SECONDS per harness (default 120)] [HARNESS...]
#
# Needs clang (Debian clang-14 ships libFuzzer) and the Debian -dev packages
# tests/run.sh installs. A failing input is written to /tmp/infernum-fuzz/
# (crash-*, with the reason on stderr); once fixed, add it to the corpus as
# a line of `base64 -w0 crash-...`. Environment: INFERNUM_SHARED (default
# ../shared next to the repo).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-120}"
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] &&
  harnesses=(request_fuzz chat_fuzz tokenizer_fuzz stream_fuzz)
export INFERNUM_SHARED="${INFERNUM_SHARED:-$(cd .. && pwd)/shared}"
work=/tmp/infernum-fuzz
mkdir -p "$work"

absl=(status statusor strings cord cordz_info cord_internal str_format_internal
  throw_delegate raw_logging_internal int128 strings_internal base
  spinlock_wait cordz_functions cordz_handle synchronization time
  exponential_biased stacktrace symbolize hash city low_level_hash
  raw_hash_set)
libs=(-licuuc -licui18n -licudata "${absl[@]/#/-labsl_}")
tokenizer_srcs=($(ls models/tokenizer/*.cc | grep -v _test.cc))
sources() {  # The sources each harness links.
  case "$1" in
    request_fuzz) echo router/api/openai_request.cc router/api/json_fields.cc \
      router/api/errors.cc common/status.cc ;;
    tokenizer_fuzz) echo "${tokenizer_srcs[@]}" common/status.cc ;;
    stream_fuzz) echo "${tokenizer_srcs[@]}" router/api/stop_matcher.cc \
      common/status.cc ;;
    chat_fuzz) echo "${tokenizer_srcs[@]}" router/api/openai_request.cc \
      router/api/json_fields.cc router/api/errors.cc \
      router/api/chat_template.cc router/api/chat_template_render.cc \
      common/status.cc ;;
    *) echo "unknown harness $1" >&2; return 1 ;;
  esac
}

for h in "${harnesses[@]}"; do
  bin="$work/$h"
  echo "== $h: building"
  # shellcheck disable=SC2046
  clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
    "tests/fuzz/$h.cc" $(sources "$h") "${libs[@]}" -o "$bin"
  # The checked-in corpus is one base64 input per line; libFuzzer wants a
  # folder of files.
  packed="tests/fuzz/corpus/$h.b64"
  corpus="$work/$h.corpus"
  rm -rf "$corpus" "$work/$h.new" && mkdir -p "$corpus" "$work/$h.new"
  n=0
  if [ -f "$packed" ]; then
    while IFS= read -r line; do
      if [ -z "$line" ] || [ "${line:0:1}" = "#" ]; then continue; fi
      n=$((n + 1))
      printf '%s' "$line" | base64 -d > "$corpus/$n"
    done < "$packed"
  fi
  echo "== $h: fuzzing ${seconds}s from $n inputs"
  (cd "$work" && "$bin" -max_total_time="$seconds" -max_len=2048 \
    -rss_limit_mb=4096 "$work/$h.new" "$corpus")
  # Keep the smallest set of inputs that covers what both sets cover.
  "$bin" -merge=1 -max_len=2048 "$corpus" "$work/$h.new" 2>&1 | tail -1
  for f in "$corpus"/*; do base64 -w0 "$f"; echo; done | sort -u > "$packed"
  echo "== $h: $(wc -l < "$packed") inputs in $packed"
  rm -rf "$work/$h.new" "$corpus"
done

#!/usr/bin/env bash
# End-to-end checks of the infernum CLI: golden greedy text on stories260K,
# tokenize/detokenize round trips, and bad input => one line on stderr, exit 2.
set -uo pipefail
BIN="$1"
SHARED="${INFERNUM_SHARED:-/work/shared}/models"
M="$SHARED/stories260K"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
fails=0
source tests/cli/check_lib.sh  # check, expect_exit2

# Golden: ../shared/models/README.md documents the greedy continuation.
out=$("$BIN" generate --model "$M" --prompt "Once upon a time" --max-tokens 30 --temperature 0 --threads 1)
want=", there was a little girl named Lily. She loved to play outside in the park. One day,"
[ "$out" = "$want" ]; check "greedy continuation equals README golden text" $?

# Seeded sampling is reproducible and differs across seeds.
a=$("$BIN" generate --model "$M" --prompt "Once" --max-tokens 40 --temperature 1 --seed 7)
b=$("$BIN" generate --model "$M" --prompt "Once" --max-tokens 40 --temperature 1 --seed 7)
c=$("$BIN" generate --model "$M" --prompt "Once" --max-tokens 40 --temperature 1 --seed 8)
[ "$a" = "$b" ]; check "same seed, same text" $?
[ "$a" != "$c" ]; check "different seed, different text" $?

# Logprobs: one JSON line per generated token on stderr.
"$BIN" generate --model "$M" --prompt "Once" --max-tokens 5 --temperature 0 --logprobs 3 \
  --ignore-eos >/dev/null 2>"$TMP/lp"
n=$(grep -c '"top_logprobs"' "$TMP/lp"); [ "$n" = 5 ]; check "logprobs lines ($n)" $?

# tokenize / detokenize round trip (stories260K ids documented in README).
ids=$(printf '"Once upon a time"\n' | "$BIN" tokenize --model "$M")
[ "$ids" = "[1,403,407,261,378]" ]; check "tokenize golden ids ($ids)" $?
ids2=$(printf '"Once upon a time"\n' | "$BIN" tokenize --model "$M" --add-special-tokens=false)
[ "$ids2" = "[403,407,261,378]" ]; check "tokenize without special tokens ($ids2)" $?
txt=$(printf '[1,403,407,261,378]\n' | "$BIN" detokenize --model "$M" --skip-special-tokens)
[ "$txt" = '"Once upon a time"' ]; check "detokenize ($txt)" $?

# --kv-cache-dtype bf16: the CPU attends over a bf16 KV cache (the text may
# differ from the f32 golden one, but generation runs to the end).
out=$("$BIN" generate --model "$M" --prompt "Once upon a time" --max-tokens 30 \
  --temperature 0 --threads 1 --kv-cache-dtype bf16 2>"$TMP/kv.err"); rc=$?
[ "$rc" = 0 ] && [ -n "$out" ]; check "generate --kv-cache-dtype bf16 (rc=$rc: $(head -c 200 "$TMP/kv.err"))" $?
out=$("$BIN" generate --model "$M" --prompt "Once upon a time" --max-tokens 30 \
  --temperature 0 --threads 1 --kv-cache-dtype f32)
[ "$out" = "$want" ]; check "--kv-cache-dtype f32 (the cpu default) keeps the golden text" $?
"$BIN" generate --help | grep -q -- "--kv-cache-dtype"; check "generate --help lists --kv-cache-dtype" $?

# Bad input: one line on stderr, exit code 2, no crash.
expect_exit2 "unknown kv cache dtype" "$BIN" generate --model "$M" --kv-cache-dtype fp8
grep -q -- "--kv-cache-dtype: unknown KV cache dtype 'fp8'" "$TMP/err"; check "message names the flag and value" $?
expect_exit2 "f16 kv cache on cpu" "$BIN" generate --model "$M" --kv-cache-dtype f16
grep -q "not supported on the cpu backend" "$TMP/err"; check "message names the backend" $?
expect_exit2 "no command" "$BIN"
expect_exit2 "unknown command" "$BIN" frobnicate
expect_exit2 "unknown flag" "$BIN" generate --model "$M" --bogus
expect_exit2 "missing dir" "$BIN" generate --model "$TMP/nope"
expect_exit2 "bad number" "$BIN" generate --model "$M" --max-tokens ten
expect_exit2 "negative max tokens" "$BIN" generate --model "$M" --max-tokens -3
expect_exit2 "bad temperature" "$BIN" generate --model "$M" --temperature -1
expect_exit2 "bad top-p" "$BIN" generate --model "$M" --top-p 0
expect_exit2 "config without dummy" "$BIN" bench --config "$M/config.json"
expect_exit2 "tokenize without model" "$BIN" tokenize
bad="$TMP/bad"; rm -rf "$bad"; mkdir -p "$bad"
cp "$M"/* "$bad"/ 2>/dev/null; chmod -R u+w "$bad"
echo '{"hidden_size": "big"' >"$bad/config.json"
expect_exit2 "malformed config.json" "$BIN" generate --model "$bad"
cp "$M/config.json" "$bad/config.json"; chmod u+w "$bad/config.json"
head -c 5000 "$M/model.safetensors" >"$bad/model.safetensors"
expect_exit2 "truncated safetensors" "$BIN" generate --model "$bad"
cp "$M/model.safetensors" "$bad/model.safetensors"; chmod u+w "$bad/model.safetensors"
echo '{"model": {"type": "BPE", "vocab": [' >"$bad/tokenizer.json"
expect_exit2 "malformed tokenizer.json" "$BIN" generate --model "$bad"
printf 'not json\n' | "$BIN" tokenize --model "$M" >/dev/null 2>"$TMP/err"; rc=$?
[ "$rc" = 2 ]; check "tokenize malformed line (rc=$rc)" $?
printf '[1, -5]\n' | "$BIN" detokenize --model "$M" >/dev/null 2>"$TMP/err"; rc=$?
[ "$rc" = 2 ]; check "detokenize negative id (rc=$rc)" $?
printf '[99999]\n' | "$BIN" detokenize --model "$M" >/dev/null 2>"$TMP/err"; rc=$?
[ "$rc" = 2 ]; check "detokenize out-of-range id (rc=$rc)" $?

echo "$fails failures"
[ "$fails" = 0 ]

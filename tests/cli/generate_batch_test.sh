#!/usr/bin/env bash
# `infernum generate -i`: many prompts through the engine at once. Checks the
# prompt-file format (JSON string lines, raw lines, blank lines skipped), that
# every record equals the single-prompt (--prompt) output of the same prompt,
# that engine flags do not change greedy outputs, and bad input handling.
set -uo pipefail
BIN="$1"
M="${INFERNUM_SHARED:-/work/shared}/models/stories260K"
TMP="${TEST_TMPDIR:-$(mktemp -d)}"
PY=/usr/bin/python3
fails=0
source tests/cli/check_lib.sh  # check, expect_exit2
field() {  # field FILE INDEX KEY -> JSON value of KEY in record INDEX
  "$PY" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(json.dumps(r[int(sys.argv[2])][sys.argv[3]]))' "$@"
}

P="$TMP/prompts.txt"
printf '"Once upon a time"\nLily and Tom\n\n   \n"Tom had a \\"big\\" dog"\n{"not": "a string"}\nOnce upon a time\n' >"$P"
G=(--model "$M" --max-tokens 24 --temperature 0 --threads 1)
"$BIN" generate "${G[@]}" -i "$P" -o "$TMP/a.jsonl"; rc=$?
[ "$rc" = 0 ]; check "prompt file runs (rc=$rc)" $?
n=$(wc -l <"$TMP/a.jsonl"); [ "$n" = 5 ]; check "one record per non-blank line ($n)" $?
[ "$(field "$TMP/a.jsonl" 2 prompt)" = '"Tom had a \"big\" dog"' ]; check "JSON string line is decoded" $?
[ "$(field "$TMP/a.jsonl" 3 prompt)" = '"{\"not\": \"a string\"}"' ]; check "non-string JSON line is raw text" $?
[ "$(field "$TMP/a.jsonl" 2 line)" = 5 ]; check "line numbers skip blank lines" $?

# Every record equals the streamed single-prompt output.
for i in 0 1 2 3 4; do
  prompt=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[int(sys.argv[2])])["prompt"])' "$TMP/a.jsonl" $i)
  single=$("$BIN" generate "${G[@]}" --prompt "$prompt")
  batch=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[int(sys.argv[2])])["text"])' "$TMP/a.jsonl" $i)
  [ "$single" = "$batch" ]; check "record $i equals --prompt output" $?
done

# Engine settings do not change greedy outputs.
"$BIN" generate "${G[@]}" -i "$P" -o "$TMP/b.jsonl" --no-chunked-prefill --no-enable-prefix-caching \
  --max-num-seqs 2 --block-size 8 --max-num-batched-tokens 64
"$BIN" generate "${G[@]}" -i "$P" -o "$TMP/c.jsonl" --num-kv-blocks 6 --max-num-batched-tokens 5
for f in b c; do
  same=$("$PY" -c 'import json,sys; a=[json.loads(l)["token_ids"] for l in open(sys.argv[1])]; b=[json.loads(l)["token_ids"] for l in open(sys.argv[2])]; print(int(a==b))' "$TMP/a.jsonl" "$TMP/$f.jsonl")
  [ "$same" = 1 ]; check "outputs unchanged by engine flags ($f)" $?
done

# stdin, and a prompt too long for the context: an error record, exit 1.
long=$("$PY" -c 'print(" ".join(["once"] * 600))')
printf 'Once\n%s\n' "$long" | "$BIN" generate "${G[@]}" -i - >"$TMP/d.jsonl"; rc=$?
[ "$rc" = 1 ]; check "failed prompt => exit 1 (rc=$rc)" $?
[ "$(field "$TMP/d.jsonl" 1 finish_reason)" = '"error"' ]; check "too-long prompt gets an error record" $?
[ "$(field "$TMP/d.jsonl" 0 finish_reason)" = '"length"' ]; check "the other prompt still runs" $?

expect_exit2 "-o without -i" "$BIN" generate --model "$M" -o "$TMP/x.jsonl"
expect_exit2 "missing prompt file" "$BIN" generate --model "$M" -i "$TMP/nope.txt"
expect_exit2 "--prompt with -i" "$BIN" generate --model "$M" -i "$P" --prompt hi
expect_exit2 "bad --kv-cache-memory" "$BIN" generate --model "$M" --prompt hi --kv-cache-memory lots
expect_exit2 "zero --block-size" "$BIN" generate --model "$M" --prompt hi --block-size 0
expect_exit2 "tiny KV cache" "$BIN" generate --model "$M" --prompt hi --kv-cache-memory 1K
expect_exit2 "prompt over the context" "$BIN" generate --model "$M" --prompt "$long"

echo "$fails failures"
[ "$fails" = 0 ]

#!/usr/bin/env bash
# Tokenizer parity test: Infernum's tokenizer vs Hugging Face's (Rust
# `tokenizers` via its Node binding, cross-checked with tokenizers.js) on
# tests/tokenizer/corpus.jsonl for every tokenizer in shared/models.
# Exits non-zero on any mismatch; prints a summary.
#
#   tests/tokenizer/run_parity.sh            (from anywhere in the repo)
# Needs: node + `npm ci --prefix tests/node` (done here if node_modules is
# missing), /usr/bin/python3, Bazel via tools/bazelw (slot $BZ, default
# "parity"). Shared data: $INFERNUM_SHARED, else <repo>/../shared, else
# /work/shared.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

shared="${INFERNUM_SHARED:-}"
if [[ -z "$shared" ]]; then
  if [[ -d "$repo/../shared/models" ]]; then shared="$repo/../shared"; else shared=/work/shared; fi
fi
models="$shared/models"
[[ -d "$models/tokenizers" ]] || { echo "run_parity: no tokenizers under $models" >&2; exit 2; }

if [[ ! -d tests/node/node_modules/@huggingface/tokenizers || ! -d tests/node/node_modules/tokenizers ]]; then
  npm ci --prefix tests/node --no-audit --no-fund
fi

if [[ -n "${INFERNUM_BIN:-}" ]]; then
  # tests/run.sh has built //... already; use its outputs.
  bin="$INFERNUM_BIN/tests/tokenizer/tokenize_corpus"
else
  export BZ="${BZ:-parity}"
  tools/bazelw build //tests/tokenizer:tokenize_corpus >/dev/null 2>&1 ||
    tools/bazelw build //tests/tokenizer:tokenize_corpus
  bin="$(tools/bazelw info bazel-bin 2>/dev/null)/tests/tokenizer/tokenize_corpus"
fi

names=(stories260K llama2 mistral llama3 qwen3 gemma3 deepseek_v3 gptoss)
specs=("stories260K=$models/stories260K")
for n in "${names[@]:1}"; do specs+=("$n=$models/tokenizers/$n"); done

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
corpus=tests/tokenizer/corpus.jsonl

echo "== reference: Hugging Face tokenizers (Rust) + tokenizers.js"
node tests/tokenizer/hf_encode.mjs "$corpus" "$out" "${specs[@]}"
echo "== ours: //tests/tokenizer:tokenize_corpus"
"$bin" "$corpus" "$out" "${specs[@]}"
echo "== compare"
/usr/bin/python3 tests/tokenizer/compare_parity.py "$corpus" "$out" "${names[@]}"

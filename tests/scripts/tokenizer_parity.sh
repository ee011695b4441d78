#!/usr/bin/env bash
# C++ tokenizer vs @huggingface/tokenizers (npm) on the corpus, all families.
set -euo pipefail
exec bash "$(dirname "$0")/../tokenizer/run_parity.sh"

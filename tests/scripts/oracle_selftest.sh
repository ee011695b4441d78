#!/usr/bin/env bash
# The PyTorch oracle's own tests and its check against the stories260K golden
# values of ../shared/models/README.md.
set -euo pipefail
exec bash "$(dirname "$0")/../oracle/run_tests.sh"

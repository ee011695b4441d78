#!/usr/bin/env bash
# infernum-worker from a Python gRPC client (tests/worker_py): greedy output
# equals `infernum generate`, ModelInfo / GetLoad / health, errors, cancel,
# SIGTERM, bad configs. Needs the binaries built (tests/run.sh builds //...).
# Binaries: $INFERNUM_WORKER_BIN / $INFERNUM_CLI_BIN, else `bazel info
# bazel-bin`, else _bazel/bin.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
MODEL="${INFERNUM_SHARED:-/work/shared}/models/stories260K"
WORKER="${INFERNUM_WORKER_BIN:-}"
CLI="${INFERNUM_CLI_BIN:-}"
if [ -z "$WORKER" ] || [ -z "$CLI" ]; then
  BIN_DIR=$(bazel info bazel-bin 2>/dev/null || true)
  [ -x "$BIN_DIR/worker/server/infernum-worker" ] || BIN_DIR="$ROOT/_bazel/bin"
  WORKER="${WORKER:-$BIN_DIR/worker/server/infernum-worker}"
  CLI="${CLI:-$BIN_DIR/cli/infernum}"
fi
for b in "$WORKER" "$CLI"; do
  [ -x "$b" ] || { echo "FAIL missing binary $b (build //worker:infernum-worker //cli:infernum)"; exit 1; }
done
exec /usr/bin/python3 "$ROOT/tests/worker_py/worker_grpc_check.py" \
  --worker "$WORKER" --cli "$CLI" --model "$MODEL" --proto-root "$ROOT/proto"

#!/usr/bin/env bash
# CI check of deploy/ (Dockerfiles, docker-compose, Kubernetes) without a
# container engine or a cluster (none runs in CI):
#
#   1. k8s      deploy/k8s rendered (kustomize subset) and every object
#               validated offline with npm kubernetes-models (+ the
#               prometheus-operator CRD models), unknown fields rejected,
#               cross-references and Infernum rules checked
#               (tests/deploy/k8s_validate.cjs);
#   2. compose  `docker-compose config` (Debian's docker-compose, no daemon)
#               for the gpu and cpu profiles + cross-checks
#               (tests/deploy/compose_check.py);
#   3. docker   Dockerfile lint-level checks (tests/deploy/dockerfile_lint.py);
#   4. configs  every router / worker YAML of compose and of the k8s
#               ConfigMaps (and the images' defaults) loaded by the real
#               binaries from $INFERNUM_BIN; skipped without them
#               (tests/deploy/config_load_check.sh);
#   5. selftest each validator rejects deliberately broken copies
#               (tests/deploy/mutation_selftest.py).
#
# Needs: node + tests/node/node_modules (npm ci), docker-compose and
# python3-yaml (deploy/install_deps.sh). Exit status 0 iff every step passed;
# the last line is "deploy_validate: N passed, M failed" (steps).
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0; failures=()

step() {  # step NAME CMD... : runs CMD, shows its output, records the result
  local name="$1"; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}

prereqs() {
  local ok=0
  [ -d tests/node/node_modules/kubernetes-models ] || { echo "missing npm packages: run (cd tests/node && npm ci)"; ok=1; }
  command -v docker-compose >/dev/null || { echo "missing docker-compose: run deploy/install_deps.sh"; ok=1; }
  $PY -c 'import yaml' 2>/dev/null || { echo "missing python3-yaml: run deploy/install_deps.sh"; ok=1; }
  return $ok
}

configs() {
  mkdir -p "$tmp/configs"
  cp deploy/docker/router.yaml "$tmp/configs/router-docker-default.yaml"
  echo "docker image default router.yaml" > "$tmp/configs/router-docker-default.name"
  cp deploy/docker/worker.yaml "$tmp/configs/worker-docker-default.yaml"
  echo "docker image default worker.yaml" > "$tmp/configs/worker-docker-default.name"
  bash tests/deploy/config_load_check.sh "$tmp/configs"
}

if ! prereqs; then
  echo "deploy_validate: 0 passed, 1 failed"; exit 1
fi
step "k8s manifests (kubernetes-models)" node tests/deploy/k8s_validate.cjs --kustomize deploy/k8s \
  --external-secret infernum-api-keys \
  --adapter-values deploy/k8s/extras/prometheus-adapter-values.yaml --dump-configs "$tmp/configs"
step "docker-compose (gpu, cpu profiles)" $PY tests/deploy/compose_check.py \
  --compose deploy/compose/docker-compose.yml --profiles gpu,cpu --dump-configs "$tmp/configs"
step "Dockerfile lint" $PY tests/deploy/dockerfile_lint.py --dockerfile deploy/docker/Dockerfile \
  --context . --install-deps deploy/install_deps.sh
step "configs loaded by the binaries" configs
step "validator self-test (broken copies rejected)" $PY tests/deploy/mutation_selftest.py

[ "${#failures[@]}" -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "deploy_validate: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

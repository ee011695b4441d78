#!/usr/bin/env bash
# Installs the Debian packages Infernum builds and tests with. Idempotent: does
# nothing when everything is present. Runs apt-get non-interactively.
set -euo pipefail
PKGS=(
  bazel-bootstrap g++ git clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libcpp-httplib-dev libyaml-cpp-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libicu-dev
  python3 python3-torch python3-numpy python3-grpcio python3-grpc-tools
  python3-jinja2 python3-prometheus-client python3-yaml
  curl
  docker-compose   # `docker-compose config` validates deploy/compose (no daemon needed)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: any install that provides node and npm will do (the machine may
# carry a newer one than Debian's).
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
[ "${#missing[@]}" -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

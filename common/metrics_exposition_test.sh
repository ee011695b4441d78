#!/usr/bin/env bash
# Renders random metric registries with metrics_render_tool and parses them
# with Debian's python3-prometheus-client (apt-get install
# python3-prometheus-client); see metrics_exposition_check.py.
# Args: RENDER_TOOL CHECK_SCRIPT
set -euo pipefail
if ! /usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null; then
  echo "python3-prometheus-client is not installed:" \
    "apt-get install -y python3-prometheus-client" >&2
  exit 1
fi
exec /usr/bin/python3 "$2" "$1"

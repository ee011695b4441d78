#!/usr/bin/env bash
# Runs the oracle self-tests and the stories260K golden check.
set -euo pipefail
cd "$(dirname "$0")"
/usr/bin/python3 test_oracle.py
/usr/bin/python3 check_golden.py

#!/usr/bin/env bash
# The GPU check (issue 16): bash benchmarks/gpu_check.sh [--smoke] [--out DIR] [--keep-work]
# Writes DIR/gpu_check.json (default results/); see benchmarks/gpu_check.py for the steps.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PY" ]; then
  PY="$(command -v python3)"
fi
exec "$PY" -m benchmarks.gpu_check "$@"

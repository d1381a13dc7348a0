#!/usr/bin/env bash
# Installs the pinned uv (requirements-tools.lock, hashes checked) into .tools/. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
want=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements-tools.lock)
if [ ! -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$want" ]; then
  rm -rf .tools
  "$PYTHON" -m venv .tools
  .tools/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-tools.lock
fi

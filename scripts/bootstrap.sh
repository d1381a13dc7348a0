#!/usr/bin/env bash
# Creates .venv from the lock, exactly: `bootstrap.sh` for the demo (requirements.lock),
# `bootstrap.sh test` for the tests (requirements-test.lock). Safe to re-run; a package that
# the lock does not name is removed, a hash that does not match fails the install.
# FRESH_VENV=1 deletes .venv first (CI builds it from scratch on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
lock=requirements.lock
[ "${1:-}" = "test" ] && lock=requirements-test.lock

"$PYTHON" scripts/lockfile.py check
bash scripts/tools.sh
export UV_PYTHON_DOWNLOADS=never
[ "${FRESH_VENV:-0}" = "1" ] && rm -rf .venv
[ -x .venv/bin/python ] || .tools/bin/uv venv --quiet --python "$PYTHON" .venv
.tools/bin/uv pip sync --quiet --python .venv/bin/python --require-hashes "$lock"
# The project itself, editable, built with the locked setuptools (no isolated build that
# would fetch an unlocked one).
.tools/bin/uv pip install --quiet --python .venv/bin/python --no-deps --no-build-isolation -e .

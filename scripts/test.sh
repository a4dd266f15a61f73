#!/usr/bin/env bash
# Set up everything the tests need, then check everything CI checks, in this order:
#   1. lint: ruff format --check and ruff check (configured in pyproject.toml)
#   2. types: mypy (see the marked place below)
#   3. the real install: scripts/check_install.sh builds the wheel, installs it with no extras into a fresh
#      venv and runs the demo and a smoke test there (PLW_SKIP_INSTALL_CHECK=1 skips it for a quick local run)
#   4. the JS unit tests (vitest)
#   5. the whole pytest suite, slow and browser tests included (headless Chromium)
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate

echo "test.sh: ruff"
ruff format --check .
ruff check .

echo "test.sh: mypy (the public API's modules, [tool.mypy] in pyproject.toml)"
mypy

echo "test.sh: docs/api.md from the docstrings (fails on an undocumented public parameter or a stale page)"
python docs/make_api_reference.py --check

if [ "${PLW_SKIP_INSTALL_CHECK:-0}" != "1" ]; then
  echo "test.sh: the wheel in a clean venv"
  bash scripts/check_install.sh
fi

echo "test.sh: vitest"
(cd js && { [ -d node_modules ] || npm install --no-audit --no-fund --silent; } && npm test --silent)

echo "test.sh: pytest"
python -m pytest -q --durations=25 "$@"

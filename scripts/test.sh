#!/usr/bin/env bash
# Set up everything the tests need, then run the whole suite (slow tests included): Python tests,
# the JS unit tests (vitest) and the browser tests in headless Chromium.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
(cd js && { [ -d node_modules ] || npm install --no-audit --no-fund --silent; } && npm test --silent)
python -m pytest -q "$@"

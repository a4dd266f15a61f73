#!/usr/bin/env bash
# Create .venv (once) and install everything the demo and the tests need: the package (its install builds
# the JS bundle with npm), the test extras, Debian's Chromium for the browser tests, MyST's parser and anywidget
# host for the MyST browser tests (tests/myst_host, from its lockfile) and jupyter-book 2 in a venv of its own
# (.venv-jb2: the main venv holds jupyter-book 1, and the two cannot share one). Idempotent.
# TORCH_SPEC picks the torch build: the default pins the CPU wheel these machines carry locally;
# elsewhere, install torch first (see pytorch.org) and set TORCH_SPEC=torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! python -c "import torch" >/dev/null 2>&1; then
  python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
fi
python -m pip install -q -e ".[test]"
if [ ! -f pinn_landscape_widget/static/widget.js ] || [ ! -f pinn_landscape_widget/static/embed/plw-embed.js ]; then
  # e.g. an editable install that skipped the hook
  (cd js && npm install --no-audit --no-fund --silent && npm run build --silent)
fi
if [ "${PLW_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "setup: Chromium is missing; install Debian's 'chromium' package for the browser tests" >&2
  fi
fi
if [ "${PLW_SKIP_BROWSER:-0}" != "1" ]; then
  # MyST's own directive parser and anywidget host (@myst-theme/anywidget), for tests/test_*myst*.py (~15 s)
  if [ ! -f tests/myst_host/node_modules/.package-lock.json ] ||
    [ tests/myst_host/package-lock.json -nt tests/myst_host/node_modules/.package-lock.json ]; then
    (cd tests/myst_host && npm ci --no-audit --no-fund --silent)
  fi
  # jupyter-book 2 (the MyST engine, ~30 s) for tests/test_book_myst.py
  if [ ! -x .venv-jb2/bin/jupyter-book ]; then
    "$PY" -m venv .venv-jb2
    .venv-jb2/bin/python -m pip install -q "jupyter-book==2.1.7"
  fi
fi

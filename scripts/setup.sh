#!/usr/bin/env bash
# Create .venv (once) and install the package with its test extras. Idempotent; safe to re-run.
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

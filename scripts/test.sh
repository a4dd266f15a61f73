#!/usr/bin/env bash
# Set up everything the tests need, then check everything CI checks, in this order:
#   1. setup: scripts/setup.sh (the venv, the package and its test extras, Chromium)
#   2. lint: ruff format --check and ruff check (configured in pyproject.toml)
#   3. types: mypy (see the marked place below)
#   4. docs/api.md from the docstrings
#   5. the real install: the wheel is built once; scripts/check_install.sh installs it with no extras into a
#      fresh venv and runs the demo and a smoke test there (PLW_SKIP_INSTALL_CHECK=1 skips it)
#   6. the JS unit tests (vitest)
#   7. the whole pytest suite, every tier: unit, integration, slow, the quick studies, the Jupyter Book's
#      notebooks, the browser tests (headless Chromium); tests/test_packaging.py reads the wheel of step 5
# The book build (it executes every notebook, ~3 minutes) starts in the background right after setup, so it
# runs while steps 2-6 do; pytest's book tests wait for it. Each stage's wall time is printed at the end,
# and pytest prints each tier's.
#
# `bash scripts/test.sh --quick`: the inner loop (2-3 minutes): no setup when .venv exists, lint, types, the
# API page, vitest and the unit tier of pytest (no install check, integration, slow, studies, book, browser).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` or `bash scripts/test.sh --quick -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
if [ "${1:-}" = "--quick" ]; then
  QUICK=1
  export PLW_QUICK=1  # tests/conftest.py: the every-problem tests on a representative few
  shift
fi

T0=$(date +%s.%N)
STAGES=()
BOOK_DIR=""
WHEEL_DIR=""
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
STAGE=""
stage() {  # stage NAME COMMAND...: run it, print and keep its wall time
  STAGE=$1
  shift
  echo "test.sh [$(since "$T0") s] $STAGE"
  STAGE_T0=$(date +%s.%N)
  "$@"
  STAGES+=("$(printf '%-38s %7s s' "$STAGE" "$(since "$STAGE_T0")")")
  STAGE=""
}
finish() {
  local rc=$?
  [ -z "$STAGE" ] || STAGES+=("$(printf '%-38s %7s s  FAILED' "$STAGE" "$(since "$STAGE_T0")")")
  if [ -n "$BOOK_DIR" ]; then
    if [ -f "$BOOK_DIR/returncode" ]; then
      STAGES+=("$(printf '%-38s %7s s' "(book build, in the background)" "$(cut -d' ' -f2 "$BOOK_DIR/returncode")")")
    elif [ -n "${BOOK_PID:-}" ]; then
      kill -TERM -- "-$BOOK_PID" 2>/dev/null || kill -TERM "$BOOK_PID" 2>/dev/null || true  # and its kernels
    fi
    rm -rf "$BOOK_DIR"
  fi
  [ -z "$WHEEL_DIR" ] || rm -rf "$WHEEL_DIR"
  echo "test.sh: wall time per stage"
  for s in "${STAGES[@]}"; do echo "  $s"; done
  printf '  %-38s %7s s%s\n' "total" "$(since "$T0")" "$([ $rc -eq 0 ] || echo "  (FAILED, exit $rc)")"
  exit $rc
}
trap finish EXIT

if [ $QUICK = 1 ] && [ -x .venv/bin/python ]; then
  echo "test.sh --quick: .venv exists, no setup (run scripts/setup.sh after changing dependencies)"
else
  stage "setup" bash scripts/setup.sh
fi
. .venv/bin/activate

if [ $QUICK = 0 ] && [ $# -eq 0 ]; then
  # the whole suite: start the Jupyter Book build now (tests/book.py); pytest finds it through PLW_BOOK_DIR
  BOOK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/plw-book.XXXXXX")
  export PLW_BOOK_DIR=$BOOK_DIR
  # in a process group of its own, so that stopping it stops the kernels it started
  if command -v setsid >/dev/null; then setsid python -m tests.book "$BOOK_DIR" >/dev/null 2>&1 & else
    python -m tests.book "$BOOK_DIR" >/dev/null 2>&1 &
  fi
  BOOK_PID=$!
fi

stage "ruff" bash -c 'ruff format --check . && ruff check .'
# the public API's modules, [tool.mypy] in pyproject.toml
stage "mypy" mypy
# fails on an undocumented public parameter or a stale page
stage "api docs (make_api_reference --check)" python docs/make_api_reference.py --check

if [ $QUICK = 0 ] && [ "${PLW_SKIP_INSTALL_CHECK:-0}" != "1" ]; then
  WHEEL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/plw-wheel.XXXXXX")
  stage "wheel" python -m pip wheel --no-deps -q -w "$WHEEL_DIR" .
  PLW_WHEEL=$(ls "$WHEEL_DIR"/pinn_landscape_widget-*.whl)
  export PLW_WHEEL  # check_install.sh installs it, tests/test_packaging.py reads it
  stage "install check (check_install.sh)" bash scripts/check_install.sh
fi

stage "vitest" bash -c 'cd js && { [ -d node_modules ] || npm install --no-audit --no-fund --silent; } && npm test --silent'

if [ $QUICK = 1 ]; then
  stage "pytest (unit tier)" python -m pytest -q --durations=25 -m "not (slow or integration or studies or book or browser or gpu)" "$@"
else
  stage "pytest" python -m pytest -q --durations=25 "$@"
fi

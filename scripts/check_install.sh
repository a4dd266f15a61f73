#!/usr/bin/env bash
# What `pip install pinn-landscape-widget` gives a user, checked for real: build the wheel from this checkout,
# install it with no extras into a fresh virtual environment that holds only torch and the wheel's own
# dependencies, and run there, outside the checkout: the demo, a smoke test of the public API (a widget from
# a trained run, to_html, plot to PNG, to_pythreejs, an optional feature's error) and `pinn-landscape compute`.
#
# Called by scripts/test.sh; runs on its own too (it sets up .venv first when there is none). The wheel
# build ships the JS bundle in pinn_landscape_widget/static/ (setup.sh builds it; without it the build hook
# runs npm). pip's cache is reused and nothing is byte-compiled at install, so a run takes 1-3 minutes
# (mostly writing torch into the venv and importing it). The scratch folder (~1.3 GB, torch included) is
# deleted in the background once the checks pass, so a slow disk does not hold up the test run.
# TORCH_SPEC picks the torch build as in setup.sh. PLW_KEEP_INSTALL_CHECK=1 keeps the scratch folder.
# PLW_WHEEL=path installs that wheel instead of building one (scripts/test.sh builds it once for this and pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  PLW_SKIP_BROWSER=1 bash scripts/setup.sh
fi
BUILDER=$PWD/.venv/bin/python  # builds the wheel and runs pip (>= 22.3, for --python) into the fresh venv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/plw-check-install.XXXXXX")
START=$SECONDS
step() { printf 'check_install [%3ds] %s\n' $((SECONDS - START)) "$*"; }
finish() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "check_install: FAILED (exit $rc) after $((SECONDS - START)) s; files in $WORK" >&2
  elif [ "${PLW_KEEP_INSTALL_CHECK:-0}" = "1" ]; then
    echo "check_install: files kept in $WORK"
  else
    rm -rf "$WORK" >/dev/null 2>&1 </dev/null &
    disown
  fi
}
trap finish EXIT

if [ -n "${PLW_WHEEL:-}" ]; then  # scripts/test.sh built it from this checkout (tests/test_packaging.py reads it too)
  WHEEL=$(realpath "$PLW_WHEEL")
  step "the wheel scripts/test.sh built: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) kB)"
else
  step "building the wheel"
  "$BUILDER" -m pip wheel --no-deps -q -w "$WORK/dist" .
  WHEEL=$(ls "$WORK"/dist/pinn_landscape_widget-*.whl)
  step "built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) kB)"
fi

step "fresh venv: torch and the wheel, no extras"
"${PYTHON:-python3}" -m venv --without-pip "$WORK/venv"
VENV=$WORK/venv
# one resolve for both; --no-compile skips writing .pyc files for ~50 packages (the interpreter does it lazily)
"$BUILDER" -m pip --python "$VENV/bin/python" install -q --no-compile --root-user-action=ignore \
  "${TORCH_SPEC:-torch==2.13.0}" "$WHEEL"
step "installed $("$BUILDER" -m pip --python "$VENV/bin/python" list --format=freeze 2>/dev/null | wc -l) distributions"

# run as a user would: from a folder outside the checkout, no PYTHONPATH, a new per-user cache (the C
# kernels are built from the wheel's sources at first use)
mkdir -p "$WORK/run"
cd "$WORK/run"
export XDG_CACHE_HOME=$WORK/cache
unset PYTHONPATH
PY=$VENV/bin/python

"$PY" - <<'EOF'
import importlib.util
# the check means something only if the extras' packages are really absent
present = [m for m in ("nbformat", "nbconvert", "dask", "distributed", "jupyter_book", "myst_nb", "pytest")
           if importlib.util.find_spec(m) is not None]
assert not present, f"the plain install has packages only extras should bring: {present}"
EOF

step "pinn-landscape demo"
"$VENV/bin/pinn-landscape" demo --out demo --steps 10 --resolution 9 --quiet
for f in landscape.html poisson1d_strong.nc poisson1d_deep_ritz.nc poisson1d_strong.png poisson1d_deep_ritz.png; do
  [ -s "demo/$f" ] || { echo "check_install: the demo did not write demo/$f" >&2; exit 1; }
done

step "smoke test of the public API"
"$PY" - "$VENV" <<'EOF'
import pathlib
import shutil
import sys

import pinn_landscape_widget as plw

venv = pathlib.Path(sys.argv[1]).resolve()
assert venv in pathlib.Path(plw.__file__).resolve().parents, f"imported {plw.__file__}, not the installed wheel"

run = plw.train("poisson1d", "deep_ritz", steps=10, progress=False)
w = plw.LandscapeWidget(run, resolution=9).wait(300)
assert not w.error, w.error
page = w.to_html("widget.html").read_text(encoding="utf-8")
assert "widget-state+json" in page and len(page) > 100_000, "to_html wrote no self-contained page"

ds = plw.landscape(run, resolution=9, progress=False)
assert ds.loss.shape == (9, 9) and abs(float(ds.loss[4, 4]) - ds.attrs["loss_center"]) < 1e-6
plw.plot(ds).savefig("plot.png")
assert pathlib.Path("plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

mesh = plw.to_pythreejs(ds)
assert mesh.geometry.attributes["position"].array.shape == (81, 3)
plw.to_pythreejs(ds, scene=True)

try:  # a feature of the "book" extra says so
    plw.notebook_to_html
except ImportError as exc:
    assert 'pip install "pinn-landscape-widget[book]"' in str(exc), exc
else:
    raise AssertionError("notebook_to_html imported without nbconvert")

if shutil.which("cc") or shutil.which("gcc"):  # the fused C kernels built from the wheel's own sources
    built = list(pathlib.Path("../cache/pinn-landscape-widget").rglob("*.so"))
    assert built, "the C kernels were not built from the installed sources"
print(f"plw {plw.__version__}: widget, to_html, plot, to_pythreejs ok")
EOF

step "pinn-landscape compute"
"$VENV/bin/pinn-landscape" compute --problem poisson1d --formulation strong --steps 10 --resolution 9 \
  --out compute.nc --quiet
"$PY" -c "import xarray as xr; ds = xr.open_dataset('compute.nc'); assert ds.loss.shape == (9, 9), ds"

step "passed"

#!/usr/bin/env bash
# Set up, train the default poisson1d PINNs (strong form and Deep Ritz), compute their landscapes and write
# demo-output/landscape.html (self-contained: open it in any browser), NetCDF files and PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."
PLW_SKIP_BROWSER=1 bash scripts/setup.sh  # the demo needs no browser
. .venv/bin/activate
pinn-landscape demo --out demo-output "$@"

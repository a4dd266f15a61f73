#!/usr/bin/env bash
# Set up, train the default poisson1d PINN with the Deep Ritz loss and write its 51 x 51 landscape.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
pinn-landscape compute --problem poisson1d --formulation deep_ritz --resolution 51 --out demo-output/poisson1d_deep_ritz.nc "$@"

#!/usr/bin/env bash
# One prepared pass on a lent GPU machine: the GPU tests, the landscape benchmark at 41x41 and 201x201,
# the generic path (any nn.Module through torch.func) and training against a plain PyTorch loop on the GPU. (benchmarks/bench_problems.py measures on the CPU only.)
# Run from the repository root; results land in $OUT (or benchmarks/results when OUT is unset).
set -uo pipefail
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
python3 benchmarks/bench_landscape.py --device cuda --threads 16 --resolution 41 --repeats 3 --out "$OUT/gpu_41.json"
python3 benchmarks/bench_landscape.py --device cuda --threads 16 --resolution 201 --repeats 3 --loop-repeats 1 --out "$OUT/gpu_201.json"
python3 benchmarks/bench_landscape.py --device cuda --threads 16 --resolution 201 --repeats 3 --compile --no-loop --out "$OUT/gpu_201_compile.json"
python3 benchmarks/bench_generic.py --device cuda --threads 16 --resolution 101 --repeats 2 --out "$OUT/gpu_generic_101.json"
python3 benchmarks/bench_training.py --device cuda --threads 16 --steps 1000 --repeats 3 --out "$OUT/gpu_training.json"

#!/usr/bin/env bash
# The fast CRF's CUDA path on a GPU machine: exactness tests against pydensecrf, then bench/crf.py on the GPU.
# Usage (on a machine with CUDA, torch, numba and a pydensecrf2 build): bash bench/gpu_check.sh [OUTDIR]
# Logs go to OUTDIR (default: .). The Qt tests are not run here; they need no GPU.
set -u
out="${1:-.}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, numba, llvmlite, numpy, torch, cv2; print(sys.version.split()[0], 'numba', numba.__version__, 'llvmlite', llvmlite.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cpus', len(__import__('os').sched_getaffinity(0)))" || exit 1
python3 -c "import pydensecrf.densecrf" || exit 1
timeout 420 python3 -m pytest -q -p no:cacheprovider tests/engine/crf/test_torch.py tests/engine/crf/test_fast.py \
    tests/engine/crf/test_fast_parts.py tests/engine/crf/test_reference.py tests/engine/crf/test_constraints.py 2>&1 | tee "$out/tests.log" | tail -25
timeout 400 python3 bench/crf.py --device cuda 2>&1 | tee "$out/bench_cuda.log"

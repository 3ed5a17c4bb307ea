#!/usr/bin/env bash
# `make bundle`: a CPU-only PyInstaller bundle in dist/deeplab-annotator/, built in its own venv (build/bundle-venv)
# so the project venv's CUDA torch never leaks in. Prints the build time, the size and any CUDA library found.
# TORCH_SPEC picks the torch to bundle (default torch==2.13.0, which must resolve to a CPU build, e.g. a local
# +cpu wheel on pip's find-links or a CPU wheel index given in PIP_INDEX_URL); the build stops if it is CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=build/bundle-venv
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install -q "$TORCH_SPEC"
"$VENV/bin/python" -c 'import sys, torch; sys.exit("torch %s is a CUDA build (%s); set TORCH_SPEC to a CPU wheel" % (torch.__version__, torch.version.cuda)) if torch.version.cuda else print("torch", torch.__version__, "(CPU)")'
# the app's dependencies except torchvision, which the app never imports (PyPI's wheel does not load beside a +cpu torch)
$PIP install -q "PySide6-Essentials>=6.6,<6.12" "pydensecrf2>=1.1" "opencv-python-headless>=4.8" "numpy>=1.24" \
    "pillow>=10" "numba>=0.59" "pycocotools>=2.0.7" "pyinstaller>=6"
rm -rf dist/deeplab-annotator build/pyinstaller
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/deeplab-annotator.spec
cuda=$(find dist/deeplab-annotator -type f -name '*.so*' | grep -E \
    'lib(cuda|cudart|cudnn|cublas|cufft|curand|cusolver|cusparse|nccl|nvrtc|nvJitLink|cupti|torch_cuda|c10_cuda)' || true)
if [ -n "$cuda" ]; then
    echo "CUDA libraries in the bundle:"; echo "$cuda"; exit 1
fi
echo "bundle: dist/deeplab-annotator ($(du -sh dist/deeplab-annotator | cut -f1), $(find dist/deeplab-annotator -type f | wc -l) files, no CUDA libraries); built in $(( $(date +%s) - start )) s"

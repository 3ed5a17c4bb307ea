"""Test-wide setup: Qt runs offscreen so CI needs no display; the repo root is importable."""
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:  # one torch thread per test process: small tensors run faster and the 2-core CI box is not oversubscribed
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

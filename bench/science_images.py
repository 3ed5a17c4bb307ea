"""Reading scientific images: a float32 multi-band TIFF (tifffile, band choice, percentile stretch) against an 8-bit
RGB TIFF of the same size (Pillow, no scaling) in the same run, and the percentile limits measured on the bounded
subsample against numpy's percentile of the whole band.

    .venv/bin/python bench/science_images.py [--mp 25] [--bands 4] [--quick]

Goal: the stretch is not what a large scientific image costs; reading it is (the float file is 4x bands/3 the
bytes of the 8-bit one), and the percentile limits take a small, size-independent time.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tifffile  # noqa: E402

from engine.io.images import read_image  # noqa: E402
from engine.io.scaling import ImageScaling, band_limits  # noqa: E402


def _best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mp", type=float, default=25.0, help="image size in megapixels (default 25)")
    ap.add_argument("--bands", type=int, default=4, help="bands of the float32 file (default 4)")
    ap.add_argument("--quick", action="store_true", help="4 MP, one run each")
    args = ap.parse_args(argv)
    mp, runs = (4.0, 1) if args.quick else (args.mp, 3)
    side = int(np.sqrt(mp * 1e6))
    rng = np.random.default_rng(0)
    print(f"{side}x{side} ({side * side / 1e6:.1f} MP), {args.bands} float32 bands; load average "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        sci, rgb8 = Path(tmp) / "bands.tif", Path(tmp) / "rgb8.tif"
        data = rng.normal(1000, 200, (side, side, args.bands)).astype(np.float32)
        tifffile.imwrite(sci, data, photometric="minisblack", planarconfig="contig")
        tifffile.imwrite(rgb8, rng.integers(0, 256, (side, side, 3), dtype=np.uint8), photometric="rgb")
        base = _best(lambda: read_image(rgb8), runs)
        science = _best(lambda: read_image(sci, scaling=ImageScaling(bands=(3, 2, 1))), runs)
        band = data[..., 0]
        full = _best(lambda: np.percentile(band, (2, 98)), runs)
        sub = _best(lambda: band_limits(band, ImageScaling()), runs)
    print(f"read 8-bit RGB TIFF (baseline)        {base:7.3f} s")
    print(f"read float32 TIFF, 3 bands stretched  {science:7.3f} s   x{science / base:.2f} the baseline")
    print(f"percentile of the whole band          {full:7.3f} s")
    print(f"percentile of the bounded subsample   {sub:7.3f} s   x{sub / full:.3f} the whole band")
    return 0


if __name__ == "__main__":
    sys.exit(main())

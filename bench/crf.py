"""Fast lattice CRF vs pydensecrf on the same inputs, in one run: full runs, slider changes, exactness, memory.

    .venv/bin/python bench/crf.py            # 0.19 / 0.5 / 1.5 MP x 21 / 3 labels, DeepLab v1 preset
    .venv/bin/python bench/crf.py --quick    # 0.19 and 0.5 MP only, fewer repetitions
    .venv/bin/python bench/crf.py --device cuda   # the fast engine on the GPU (torch); pydensecrf on the CPU

pydensecrf has no reuse, so every slider change costs it a full run; its column is that full run. Times are the
minimum over repetitions (the machine is shared). Probabilities are smooth, network-like and, except in the row
marked 21/4, have no absent class, so no labels merge: the worst case for the fast engine. The memory lines run
182 classes at 1.5 MP in a child process (all distinct, and 170 absent) and report its peak RSS.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.crf import PRESETS  # noqa: E402
from engine.crf.fast import (  # noqa: E402
    FastBackend,
    lattice_cache,  # noqa: E402
    warm_up,
)
from engine.crf.fast.cpu_engine import Q0_MESSAGES  # noqa: E402
from engine.crf.fast.history import HISTORIES  # noqa: E402
from engine.crf.reference import pydensecrf_refine  # noqa: E402
from tests.support.crf_scenes import synthetic_photo  # noqa: E402

SIZES = {"0.19 MP": (375, 500), "0.5 MP": (612, 816), "1.5 MP": (1000, 1500)}


def scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Natural-looking synthetic photo: more, smaller blobs and a coarse texture (the test scenes' generator)."""
    return synthetic_photo(h, w, seed, base=90, blobs=12, extent=(0.05, 0.3), blur=1.5, texture=True)


def network_probs(c: int, h: int, w: int, seed: int = 0, absent: int = 0) -> np.ndarray:
    """Smooth softmax like an upsampled stride-8 network output; `absent` classes get ~0 probability.

    Built in place, a few classes at a time, so generating 182 classes at 1.5 MP needs little beyond the result.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 2.5, (h // 16 + 2, w // 16 + 2, c)).astype(np.float32)
    p = np.empty((c, h, w), np.float32)
    for c0 in range(0, c, 32):  # OpenCV resizes at most a few hundred channels at once
        part = cv2.resize(coarse[..., c0:c0 + 32], (w, h)).reshape(h, w, -1)
        p[c0:c0 + 32] = part.transpose(2, 0, 1)
        p[c0:c0 + 32] += 0.5 * rng.standard_normal((part.shape[2], h, w), dtype=np.float32)
    if absent:
        p[c - absent:] -= 40.0
    top = p.max(0)
    total = np.zeros((h, w), np.float32)
    for k in range(c):
        np.exp(p[k] - top, out=p[k])
        total += p[k]
    p /= total
    return p


def faint_probs(c: int, likely: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """network_probs with `likely` classes and c - likely faint ones, small but unequal (peaks log-uniform in
    1e-8 .. 3e-5, smooth like the rest): as a trained network leaves the classes an image lacks, so some merge at the
    1e-5 clip and the others are what pruning (engine/crf/fast/prune.py) is for."""
    rng = np.random.default_rng(seed + 1)
    p = network_probs(likely, h, w, seed)
    faint = network_probs(c - likely, h, w, seed + 2)
    peaks = 10 ** rng.uniform(-8, np.log10(3e-5), c - likely).astype(np.float32)
    for k in range(c - likely):
        faint[k] *= peaks[k] / faint[k].max()
    p *= 1 - faint.sum(0)
    return np.concatenate([p, faint])


def pruning_case(label: str, h: int, w: int, c: int, likely: int) -> None:
    """The exact run with and without pruning (prune.py) on faint_probs: channels, time, max |dQ| and labels."""
    from engine.crf.fast.prune import PRUNE_MASS
    img, probs = scene(h, w, seed=h), faint_probs(c, likely, h, w, seed=w)
    params = PRESETS["deeplab-v1"]
    out = {}
    for mass in (0.0, PRUNE_MASS):
        cold()
        session = FastBackend(device="cpu", prune_mass=mass).session(img)
        t0 = time.perf_counter()
        result = session.run(probs, params)
        out[mass] = ((time.perf_counter() - t0) * 1000, session.last_stats["groups"], result)
    (t_full, g_full, full), (t_pruned, g_pruned, pruned) = out[0.0], out[PRUNE_MASS]
    dq = float(np.abs(pruned.probs - full.probs).max())
    agree = float((pruned.labels == full.labels).mean()) * 100
    print(f"pruning {label} {c} classes ({likely} likely, {c - likely} faint): channels {g_full} -> {g_pruned}, "
          f"full {t_full:.0f} ms, pruned {t_pruned:.0f} ms ({t_full / t_pruned:.1f}x), max|dQ| {dq:.1e} "
          f"(bound {PRUNE_MASS:.0e}), labels {agree:.4f}%", flush=True)


def best_ms(fn, reps: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best, out


def cold():
    lattice_cache.clear()
    HISTORIES.clear()
    Q0_MESSAGES.clear()


def bench_case(label: str, h: int, w: int, c: int, preset: str, reps: int, absent: int = 0,
               device: str = "cpu", reference: bool = True) -> None:
    img = scene(h, w, seed=h)
    probs = network_probs(c, h, w, seed=w, absent=absent)
    params = PRESETS[preset]
    backend = FastBackend(device=device)

    def full():
        cold()
        return backend.session(img).run(probs, params)

    # Alternate the two so both see the same machine (a shared VM's speed drifts by 2x within a minute).
    refs, fulls = [], []
    for _ in range(reps):
        t_r, ref = best_ms(lambda: pydensecrf_refine(img, probs, params), 1) if reference else (np.nan, None)
        t_f, res = best_ms(full, 1)
        refs.append(t_r)
        fulls.append(t_f)
    t_ref, t_full = min(refs), min(fulls)
    median_ratio = float(np.median(np.array(refs) / np.array(fulls)))
    dq = float(np.abs(res.probs - ref).max()) if reference else np.nan
    agree = float((res.labels == ref.argmax(0)).mean()) if reference else np.nan

    session = backend.session(img)
    session.run(probs, params)
    counter = iter(range(1, 10_000))
    first = []

    def weight_change():
        start = time.perf_counter()
        seen = []
        out = session.run(probs, params.replace(bi_w=params.bi_w + 0.01 * next(counter)),
                          on_iteration=lambda i, n, q: seen.append(time.perf_counter()) if i == 1 else None)
        first.append((seen[0] - start) * 1000)
        return out

    t_w, _ = best_ms(weight_change, reps)
    groups = session.last_stats["groups"]
    session.run(probs, params)
    state = {"n": params.iterations}

    def iter_up():
        state["n"] += 1
        return session.run(probs, params.replace(iterations=state["n"]))

    t_up, _ = best_ms(iter_up, reps)
    t_down, _ = best_ms(lambda: session.run(probs, params.replace(iterations=params.iterations // 2)), reps)
    t_rgb, _ = best_ms(lambda: session.run(probs, params.replace(bi_rgb_std=params.bi_rgb_std + 0.01 * next(counter))),
                       max(1, reps - 1))
    print(f"{label:>7} {c:>3}/{groups:<3} {preset:>10} | {t_ref:8.0f} {t_full:8.0f} {t_ref / t_full:6.1f}x "
          f"{median_ratio:5.1f}x | "
          f"{t_w:7.0f} {min(first):6.0f} {t_up:7.0f} {t_down:7.0f} {t_rgb:7.0f} | {dq:8.1e} {agree * 100:8.4f}%",
          flush=True)


def memory_child(h: int, w: int, c: int, absent: int, reference: int = 0) -> None:
    """Child process: one 182-class run at 1.5 MP (fast engine, or pydensecrf); prints its peak RSS."""
    img = scene(h, w, 1)
    probs = network_probs(c, h, w, 2, absent=absent)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if reference:
        out, groups, name = pydensecrf_refine(img, probs, PRESETS["deeplab-v1"]), c, "pydensecrf"
    else:
        session = FastBackend(device="cpu").session(img)
        out = session.run(probs, PRESETS["deeplab-v1"]).probs
        groups, name = session.last_stats["groups"], "fast"
    ms = (time.perf_counter() - t) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  {name:>10}: {c} classes, {absent:3d} absent, channels {groups:3d}: run {ms:7.0f} ms  "
          f"input {probs.nbytes / 2**20:5.0f} MiB  output {out.nbytes / 2**20:5.0f} MiB  "
          f"peak RSS {peak / 1024:5.0f} MiB (before the run {base / 1024:5.0f} MiB)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="0.19 and 0.5 MP only, fewer repetitions")
    ap.add_argument("--no-memory", action="store_true", help="skip the 182-class memory check")
    ap.add_argument("--memory-reference", action="store_true", help="also run pydensecrf's 182-class case")
    ap.add_argument("--device", default="cpu", help="where the fast engine runs: cpu (numba) or cuda (torch)")
    ap.add_argument("--no-reference", action="store_true", help="time the fast engine only (no pydensecrf runs)")
    ap.add_argument("--memory-child", nargs=5, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0
    import numba
    import torch
    print(f"numba {numba.get_num_threads()} threads, torch {torch.get_num_threads()} threads, "
          f"{len(os.sched_getaffinity(0))} CPUs available, load average {os.getloadavg()[0]:.1f} at start")
    warm_up()  # load the compiled kernels
    if args.device != "cpu":
        print(f"fast engine on {torch.cuda.get_device_name() if args.device.startswith('cuda') else args.device}")
        bench_case("warm-up", 64, 96, 3, "deeplab-v1", 1, device=args.device)  # CUDA context and kernels
    print("all times in ms (min over repetitions); 'pydense' is also pydensecrf's cost for any slider change;\n"
          "C/G = labels / channels after exact merging; '1st' = weight change until the first iteration's preview\n"
          "'ratio' = min/min; 'r.med' = median over repetitions of pydensecrf/fast, each pair run back to back\n"
          "   size  C/G      preset | pydense     fast  ratio r.med | weight    1st  iter+1 iter-dn rgb-std |"
          "   max|dQ|   labels")
    sizes = ["0.19 MP", "0.5 MP"] if args.quick else list(SIZES)
    ref = not args.no_reference
    for label in sizes:
        h, w = SIZES[label]
        reps = 3 if (args.quick or label == "1.5 MP") else 5
        for c in (21, 3):
            bench_case(label, h, w, c, "deeplab-v1", reps, device=args.device, reference=ref)
    h, w = SIZES["0.5 MP"]
    bench_case("0.5 MP", h, w, 21, "deeplab-v1", 2, absent=18, device=args.device, reference=ref)  # merge to 4
    bench_case("0.5 MP", h, w, 21, "deeplab-v2", 2, device=args.device, reference=ref)
    if args.device == "cpu":
        pruning_case("0.5 MP", h, w, 182 if not args.quick else 60, 12)
    if not args.no_memory and args.device == "cpu":
        print("memory, 1.5 MP (fresh process each):")
        runs = [(0, 0), (170, 0)] + ([(0, 1)] if args.memory_reference else [])
        for absent, reference in runs:
            cmd = [sys.executable, __file__, "--memory-child", "1000", "1500", "182", str(absent), str(reference)]
            subprocess.run(cmd, check=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

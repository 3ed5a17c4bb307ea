"""Where the memory of the whole-image exact CRF goes: the engine alone (no Qt), as the window runs it.

    .venv/bin/python bench/crf_memory.py                  # 12 MP (3000x4000), 21 classes, float16 probabilities
    .venv/bin/python bench/crf_memory.py --size 2000x3000 --classes 21

Runs in this process: engine.crf.interactive.InteractiveCRF.exact through CRFRunner('fast') (capture and compact
results as the window asks for them above 1 MP), then a weight change (the slider) and its exact run. A thread
samples VmRSS every 20 ms; the report gives the baseline (inputs made, before the first run), each run's peak
and the idle RSS after it, the arrays the engine holds (lattices, trajectory, caches) and the run times.
Used for docs/design/memory.md. Probabilities are network-like with every class present (nothing merges).

    .venv/bin/python bench/crf_memory.py --compare --size 1200x1600 --reps 3 [--reference]

times the streamed engine against the in-memory one (the session's BIG_BYTES raised so nothing streams), the same
inputs alternately in this process, checks they agree bit for bit, and with --reference gives max |dQ| against
pydensecrf. Times are the best of the repetitions (the machine is shared).
"""
from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.proc_status import status_bytes

MB = 1 << 20


def rss_bytes() -> int:
    return status_bytes("VmRSS")


class Sampler:
    """VmRSS every `period` seconds in a thread; peak() since the last reset()."""

    def __init__(self, period: float = 0.02):
        self.period = period
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, rss_bytes())
            time.sleep(self.period)

    def reset(self) -> None:
        self._peak = rss_bytes()

    def peak(self) -> int:
        return max(self._peak, rss_bytes())

    def stop(self) -> None:
        self._stop.set()


def held_arrays(it, runner) -> dict:
    """Bytes the engine holds after a run, by owner."""
    from engine.crf.fast import lattice_cache as lc
    from engine.crf.fast.buffers import POOL
    from engine.crf.fast.cpu_engine import Q0_MESSAGES
    from engine.crf.fast.history import HISTORIES

    out = {"gaussian lattice": lc.GAUSSIAN_LATTICES.used, "bilateral lattice": lc.BILATERAL_LATTICES.used,
           "buffer pool": POOL.nbytes, "Q0 messages": Q0_MESSAGES.used, "histories": HISTORIES.used}
    sol = it.solution
    out["trajectory (solution)"] = sol.nbytes if sol is not None else 0
    session = runner.session(it.key, it.image)
    out["session priors"] = session._priors.used
    out["session Q0"] = session._q0.used
    out["session image"] = session.image.nbytes
    return out


def compare(h: int, w: int, c: int, reps: int, reference: bool) -> None:
    """Streamed vs in-memory exact runs (float32 and float16 probabilities, full results): time, agreement, and
    the float16 run's max |dQ| against pydensecrf on the same (rounded) probabilities. The in-memory run reuses
    the Q_0 its untimed run made (one softmax, a few % of a run)."""
    from bench.crf import network_probs, scene
    from engine.crf import PRESETS
    from engine.crf.fast import FastBackend, warm_up
    from engine.crf.fast import session as session_mod
    from engine.crf.fast.cpu_engine import Q0_MESSAGES
    from engine.crf.fast.history import HISTORIES

    warm_up()
    img, probs = scene(h, w, seed=h), network_probs(c, h, w, seed=w)
    params = PRESETS["deeplab-v1"]
    streamed_limit = session_mod.BIG_BYTES
    out = {}
    for dtype in (np.float32, np.float16):
        inputs, best = probs.astype(dtype), {}
        for _ in range(reps):
            for mode, limit in (("in-memory", 1 << 62), ("streamed", 0)):
                session_mod.BIG_BYTES = limit
                session = FastBackend(device="cpu").session(img)
                session.run(inputs, params.replace(iterations=0))  # lattices, prior or label groups: not timed
                HISTORIES.clear()  # (kept iterations would answer the timed run)
                Q0_MESSAGES.clear()
                t0 = time.perf_counter()
                out[mode] = session.run(inputs, params).probs
                best[mode] = min(best.get(mode, float("inf")), time.perf_counter() - t0)
                assert session.last_stats["mode"] == ("streamed" if limit == 0 else "shared"), session.last_stats
                assert session.last_stats["computed_iterations"] == params.iterations
        session_mod.BIG_BYTES = streamed_limit
        same = np.array_equal(out["streamed"].view(np.uint32), out["in-memory"].view(np.uint32))
        print(f"{h}x{w}, {c} classes, {np.dtype(dtype).name} probabilities, {params.iterations} iterations: "
              f"in-memory {best['in-memory']:.2f} s, streamed {best['streamed']:.2f} s (best of {reps}); "
              f"bit-identical: {same}")
    if reference:
        from engine.crf.reference import pydensecrf_refine
        t0 = time.perf_counter()
        ref = pydensecrf_refine(img, inputs.astype(np.float32), params)
        print(f"pydensecrf {time.perf_counter() - t0:.2f} s; streamed max |dQ| = "
              f"{float(np.abs(out['streamed'] - ref).max()):.2e}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="3000x4000", help="HxW")
    ap.add_argument("--classes", type=int, default=21)
    ap.add_argument("--float32", action="store_true", help="keep the probabilities float32 (default: float16)")
    ap.add_argument("--compare", action="store_true", help="streamed vs in-memory engine: time and agreement")
    ap.add_argument("--once", action="store_true", help="only the first exact run (no weight change after it)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reference", action="store_true", help="with --compare: max |dQ| against pydensecrf")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.split("x"))
    c = args.classes
    if args.compare:
        compare(h, w, c, args.reps, args.reference)
        return

    from bench.crf import network_probs, scene
    from engine.crf import PRESETS
    from engine.crf.fast import lattice_cache as lc
    from engine.crf.fast import warm_up
    from engine.crf.interactive import InteractiveCRF
    from engine.crf.runner import CRFRunner

    warm_up()
    sampler = Sampler()
    img = scene(h, w, seed=h)
    probs = network_probs(c, h, w, seed=w)
    if not args.float32:
        probs = probs.astype(np.float16)
    probs.flags.writeable = False
    gc.collect()
    params = PRESETS["deeplab-v1"]
    runner = CRFRunner("fast")
    it = InteractiveCRF(img, runner, "bench")
    base = rss_bytes()
    print(f"{h}x{w} ({h * w / 1e6:.1f} MP), {c} classes, probabilities {probs.dtype} {probs.nbytes / MB:.0f} MB; "
          f"RSS with inputs made: {base / MB:.0f} MB")

    def run(label, p):
        gc.collect()
        sampler.reset()
        t0 = time.perf_counter()
        out = it.exact(probs, p)
        dt = time.perf_counter() - t0
        peak = sampler.peak()
        gc.collect()
        time.sleep(0.2)
        idle = rss_bytes()
        print(f"{label}: {dt:.1f} s, peak RSS {peak / MB:.0f} MB (+{(peak - base) / MB:.0f} over the inputs), "
              f"idle after {idle / MB:.0f} MB (+{(idle - base) / MB:.0f}); mode "
              f"{runner.session(it.key, img).last_stats.get('mode')}")
        return out

    out = run("first exact run", params)
    for name, lat in (("gaussian", lc.GAUSSIAN_LATTICES), ("bilateral", lc.BILATERAL_LATTICES)):
        for key in list(lat._items):
            la = lat.get(key)
            print(f"  {name} lattice: d={la.d} vertices M={la.n_vertices} ({la.n_vertices / (h * w):.3f} per pixel):"
                  f" offsets {la.offsets.nbytes / MB:.0f} MB, weights {la.weights.nbytes / MB:.0f} MB, "
                  + (f"neighbours {la.neighbours.nbytes / MB:.0f} MB" if hasattr(la, "neighbours") else
                     f"grid form, {la.touched.nbytes / MB:.0f} MB of vertex marks"))
    for k, v in held_arrays(it, runner).items():
        print(f"  held: {k}: {v / MB:.0f} MB")
    print(f"  result: probs {type(out.probs).__name__} {out.probs.nbytes / MB:.0f} MB, labels "
          f"{out.labels.nbytes / MB:.0f} MB, uncertainty {out.unc.nbytes / MB:.0f} MB")
    out = None
    if args.once:
        sampler.stop()
        return
    run("slider (bilateral weight) exact run", params.replace(bi_w=5.0))
    for k, v in held_arrays(it, runner).items():
        print(f"  held: {k}: {v / MB:.0f} MB")
    sampler.stop()


if __name__ == "__main__":
    main()

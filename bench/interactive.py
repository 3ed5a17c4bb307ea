"""The CRF as an annotator meets it, at 0.5, 6 and 12 MP with 5 and 21 classes, in one run.

    .venv/bin/python bench/interactive.py            # every size x classes, pydensecrf too (long: ~15 min)
    .venv/bin/python bench/interactive.py --quick    # 6 MP, 5 classes, a few repetitions (~2 min)
    .venv/bin/python bench/interactive.py --app      # the real window: 6/12/24 MP x demo/r101-21/r101-182 (hours)
    .venv/bin/python bench/interactive.py --app --sizes 6,12 --models demo,r101-21   # a subset of the rows
    .venv/bin/python bench/interactive.py --app --quick   # 12 MP, the demo model (~4 min)

Each case runs in a fresh child process (cold caches, its own peak RSS) through engine.crf.interactive, the
code the window runs: open -> first labels (downscaled preview of a new prediction), open -> exact labels
(preview, then the whole-image run), stroke -> refined labels (a local window; several strokes, each on top of
the last), slider -> first preview and slider -> exact (a weight change), the peak RSS of all that, and the
whole-image exact CRF of the stroke's inputs and pydensecrf on the same inputs. Ratios are within the run:
stroke against the whole-image exact run, fast exact against pydensecrf (the 'cpu ratio' compares process CPU
times: pydensecrf uses one core, the fast engine two). 'agree' is the share of the stroke window's labels equal
to the whole-image run's; a stroke column of '-' means no window was possible (the solution's messages did not
fit their memory budget, so the window would show a preview and the exact run). Probabilities are smooth and
network-like with every class present (nothing merges: the worst case). Times in ms, the best of the repetitions
(the machine is shared). --app measures the real window instead (bench/app_window.py says how).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = {"0.5 MP": (612, 816), "6 MP": (2000, 3000), "12 MP": (3000, 4000)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _strokes(h: int, w: int, n: int, rng) -> list[tuple[int, int, int, int]]:
    """n brush-stroke boxes (x0, y0, x1, y1), about 80 x 20 px, spread over the image."""
    out = []
    for _ in range(n):
        x0, y0 = int(rng.integers(w // 8, w - w // 8 - 80)), int(rng.integers(h // 8, h - h // 8 - 20))
        out.append((x0, y0, x0 + 80, y0 + 20))
    return out


def child(h: int, w: int, c: int, reps: int, reference: bool) -> dict:
    """One case in this (fresh) process; returns the measurements."""
    from bench.crf import network_probs, scene
    from engine.crf import PRESETS
    from engine.crf.fast import FastBackend, warm_up
    from engine.crf.interactive import InteractiveCRF
    from engine.crf.reference import pydensecrf_refine
    from engine.crf.runner import CRFRunner

    warm_up()
    img = scene(h, w, seed=h)
    probs = network_probs(c, h, w, seed=w)
    probs.flags.writeable = False  # as the app holds them (frozen: keyed by identity)
    params = PRESETS["deeplab-v1"]
    base_rss = _rss_mb()
    runner = CRFRunner("fast")
    it = InteractiveCRF(img, runner, "bench")
    out = {"size": f"{h}x{w}", "classes": c, "pixels": h * w}

    def first_labels(t0, seen):  # on_labels: the time the window could show the preview's first iteration
        def on_labels(i, n, labels_of):
            if not seen:
                labels_of()
                seen.append(_ms(t0))
        return on_labels

    t0, c0, seen = time.perf_counter(), time.process_time(), []
    first = it.preview(probs, params, on_labels=first_labels(t0, seen))
    out["open_first"] = seen[0] if seen else _ms(t0)
    out["open_preview"] = _ms(t0)
    exact = it.exact(probs, params)
    out["open_exact"] = _ms(t0)
    out["open_exact_cpu"] = (time.process_time() - c0) * 1000
    out["preview_text"] = first.kind

    rng = np.random.default_rng(h)
    labels, locked = exact.labels.copy(), np.zeros((h, w), bool)
    stroke_ms, stroke_cpu, agree, windows, first_stroke = [], [], None, [], None
    for k, (x0, y0, x1, y1) in enumerate(_strokes(h, w, reps, rng)):
        locked[y0:y1, x0:x1] = True
        labels[y0:y1, x0:x1] = (int(np.bincount(exact.labels[y0:y1, x0:x1].ravel()).argmax()) + 1) % c
        locks = (labels.copy(), locked.copy())
        t0, c0 = time.perf_counter(), time.process_time()
        local = it.local(probs, params, (x0, y0, x1, y1), locks)
        stroke_ms.append(_ms(t0))
        stroke_cpu.append((time.process_time() - c0) * 1000)
        if local is None:  # no solution kept (too large) or the window would be most of the image: run whole
            windows.append(None)
            stroke_ms.pop()
            stroke_cpu.pop()
            continue
        windows.append(local.box)
        if k == 0:  # compared with the whole-image exact run of the same inputs at the end (after peak RSS)
            first_stroke = (locks, local)
    it.pending()
    out["stroke"] = min(stroke_ms) if stroke_ms else float("nan")
    out["stroke_cpu"] = min(stroke_cpu) if stroke_cpu else float("nan")
    out["stroke_median"] = float(np.median(stroke_ms)) if stroke_ms else float("nan")
    out["agree"] = agree
    out["windows"] = windows

    slider_first, slider_preview, slider_exact = [], [], []
    for k in range(max(1, reps - 1)):
        moved = params.replace(bi_w=params.bi_w + 0.5 * (k + 1))
        t0, seen = time.perf_counter(), []
        it.preview(probs, moved, on_labels=first_labels(t0, seen))
        slider_preview.append(_ms(t0))
        slider_first.append(seen[0] if seen else slider_preview[-1])
        it.exact(probs, moved)
        slider_exact.append(_ms(t0))
    out["slider_first"] = min(slider_first)
    out["slider_preview"] = min(slider_preview)
    out["slider_exact"] = min(slider_exact)
    out["peak_rss"] = _rss_mb()  # the app's flow ends here; what follows are the baselines
    out["base_rss"] = base_rss
    del it, exact
    if first_stroke is not None:  # the whole-image exact run of the first stroke's inputs
        locks, local = first_stroke
        t0, c0 = time.perf_counter(), time.process_time()
        whole = runner.run("bench", img, probs, params, locks=locks, compact=h * w >= 1_000_000)
        out["whole_exact"] = _ms(t0)
        out["whole_exact_cpu"] = (time.process_time() - c0) * 1000
        bx0, by0, bx1, by1 = local.box
        out["agree"] = float((local.labels == whole.labels[by0:by1, bx0:bx1]).mean())
        out["window_pixels"] = (bx1 - bx0) * (by1 - by0)
        del whole
    if reference:
        from engine.crf.fast import lattice_cache
        from engine.crf.fast.cpu_engine import Q0_MESSAGES
        from engine.crf.fast.history import HISTORIES
        t0, c0 = time.perf_counter(), time.process_time()
        pydensecrf_refine(img, probs, params)
        out["pydensecrf"] = _ms(t0)
        out["pydensecrf_cpu"] = (time.process_time() - c0) * 1000
        lattice_cache.clear()  # a full exact run: lattices, prior, everything from scratch, as pydensecrf
        HISTORIES.clear()
        Q0_MESSAGES.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        FastBackend(device="cpu").session(img).run(probs, params, compact=h * w >= 1_000_000)
        out["fast_exact_same"] = _ms(t0)
        out["fast_exact_cpu"] = (time.process_time() - c0) * 1000
    return out


def _run_child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__] + args
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(v, spec="7.0f") -> str:
    return "      -" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def app(sizes: str | None, models: str | None, quick: bool, reference: bool, timeout_s: float,
        verbose: bool) -> int:
    """The --app table: one row per size x model, each in fresh child processes (bench/app_window.py)."""
    from bench.app_table import MODELS, format_row, header, quick_line, select_rows
    from bench.app_window import available_bytes, run_row

    try:
        rows = select_rows(sizes, models, quick)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reference = reference and not quick
    print(f"the real window, offscreen; {available_bytes() / 1e9:.1f} GB available; models: "
          + "; ".join(f"{m} = {MODELS[m]}" for m in dict.fromkeys(m for _, m in rows)))
    print("open = from opening the folder (model load and prediction included); stroke / slider = from the stroke "
          "or the slider move;\n'1st' = the first labels shown (a preview or a local window), 'exact' = the exact "
          "labels shown with nothing left to run that could change them\n(the learning lane may still take the "
          "image's features for later strokes: -v prints when the window was idle);\npeak = peak RSS of the "
          "window's process, idle = its RSS 2 s after the last exact run (after gc); pydensecrf and\n"
          "fast = the whole-image CRF of the window's probabilities, "
          "pydensecrf and this engine (cold) in one child, ratio = pydensecrf / fast;\n'-' where pydensecrf would "
          "not fit in the memory available (the reason follows the row)", flush=True)
    print(header(), flush=True)
    last = None
    for mp, model in rows:
        t0 = time.time()
        r, reason = run_row(mp, model, reference, timeout_s)
        print(format_row(mp, model, r, reason), flush=True)
        if verbose and r is not None:
            print(f"    {time.time() - t0:.0f} s; predicted after {r['predicted_s']:.1f} s; stroke shown first as "
                  f"{r['stroke_kind']!r}; {r['classes_shown']} classes on 0.1% of the labels or more; probabilities "
                  f"{r['probs_dtype']}; idle after (s) "
                  + ", ".join(f"{k} {v}" for k, v in r["idle_after_s"].items()) + "; RSS peak (GB) "
                  + ", ".join(f"{k} {v}" for k, v in r["phase_peak_gb"].items()), flush=True)
            print("    the stroke's jobs (lane kind: start +duration s from the stroke): "
                  + ", ".join(f"{lane} {kind}: {a:.2f} +{d:.2f}" + ("" if how == "done" else f" ({how})")
                              for lane, kind, a, d, how in sorted(r["stroke_jobs"], key=lambda j: j[2])), flush=True)
        last = r
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if quick:
        if last is None:
            return 1
        print(quick_line(last))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 MP, 5 classes, a few repetitions (with --app: 12 MP, "
                    "the demo model, no pydensecrf)")
    ap.add_argument("--app", action="store_true", help="the real window: sizes x models (bench/app_window.py)")
    ap.add_argument("--sizes", help="with --app: megapixels to run, of 6,12,24 (default: all)")
    ap.add_argument("--models", help="with --app: models to run, of demo,r101-21,r101-182 (default: all)")
    ap.add_argument("--timeout", type=float, default=3600, help="with --app: seconds a child may run (default 3600)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="with --app: each row's phases, RSS peaks and the stroke's background jobs")
    ap.add_argument("--no-reference", action="store_true", help="skip pydensecrf")
    ap.add_argument("--child", nargs=5, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        h, w, c, reps, ref = args.child
        print(json.dumps(child(h, w, c, reps, bool(ref))))
        return 0
    import numba
    print(f"numba {numba.get_num_threads()} threads, {len(os.sched_getaffinity(0))} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if args.app:
        return app(args.sizes, args.models, args.quick, not args.no_reference, args.timeout, args.verbose)
    cases = [("6 MP", 5)] if args.quick else [(s, c) for s in SIZES for c in (5, 21)]
    reps = 3 if args.quick else 4
    print("ms (best of the repetitions); 'whole' = whole-image exact run of the stroke's inputs; 'agree' = the "
          "stroke window's labels\nequal to the whole-image run's; 'pydense' = pydensecrf on the same inputs, "
          "'fast' = our exact run of them\n"
          "'->1st' = until the first labels (a preview's first iteration), 'prev' = until the whole preview; "
          "'cpu' = process CPU time\n(ms; on an idle 2-core machine the wall time is about cpu/2: read it when "
          "the load is high)\n"
          "   size   C | open->1st  prev exact | stroke (cpu)  whole (cpu) ratio  agree | slider->1st  prev "
          "exact | peak RSS | pydense   fast ratio (cpu ratio)")
    last = None
    for label, c in cases:
        h, w = SIZES[label]
        ref = not args.no_reference and not args.quick
        r = _run_child(["--child", str(h), str(w), str(c), str(reps), str(int(ref))])
        ratio = r.get("whole_exact", np.nan) / r["stroke"] if r.get("whole_exact") else np.nan
        pr = r["pydensecrf"] / r["fast_exact_same"] if "pydensecrf" in r else np.nan
        cpr = r["pydensecrf_cpu"] / r["fast_exact_cpu"] if "pydensecrf" in r else np.nan
        agree = r["agree"] * 100 if r["agree"] is not None else None
        print(f"{label:>7} {c:3d} | {r['open_first']:9.0f} {r['open_preview']:5.0f} {r['open_exact']:5.0f} | "
              f"{r['stroke']:6.0f} ({r['stroke_cpu']:4.0f}) {_fmt(r.get('whole_exact'), '6.0f')} "
              f"({_fmt(r.get('whole_exact_cpu'), '5.0f')}) {_fmt(ratio, '5.1f')} {_fmt(agree, '6.2f')} | "
              f"{r['slider_first']:11.0f} {r['slider_preview']:5.0f} {r['slider_exact']:5.0f} | "
              f"{r['peak_rss']:6.0f} MB | {_fmt(r.get('pydensecrf'))} {_fmt(r.get('fast_exact_same'), '6.0f')} "
              f"{_fmt(pr, '5.1f')} ({_fmt(cpr, '4.1f')})", flush=True)
        last = (label, r, ratio)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.quick and last is not None:
        label, r, ratio = last
        print(f"6 MP stroke: {r['stroke']:.0f} ms (whole-image exact {r.get('whole_exact', float('nan')):.0f} ms, "
              f"ratio {ratio:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

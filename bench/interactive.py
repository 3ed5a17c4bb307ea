"""The CRF as an annotator meets it, at 0.5, 6 and 12 MP with 5 and 21 classes, in one run.

    .venv/bin/python bench/interactive.py            # every size x classes, pydensecrf too (long: ~15 min)
    .venv/bin/python bench/interactive.py --quick    # 6 MP, 5 classes, a few repetitions (~2 min)
    .venv/bin/python bench/interactive.py --app      # the real window at 12 MP / 21 classes (all, or 4 present)

Each case runs in a fresh child process (cold caches, its own peak RSS) through engine.crf.interactive, the
code the window runs: open -> first labels (downscaled preview of a new prediction), open -> exact labels
(preview, then the whole-image run), stroke -> refined labels (a local window; several strokes, each on top of
the last), slider -> first preview and slider -> exact (a weight change), the peak RSS of all that, and the
whole-image exact CRF of the stroke's inputs and pydensecrf on the same inputs. Ratios are within the run:
stroke against the whole-image exact run, fast exact against pydensecrf (the 'cpu ratio' compares process CPU
times: pydensecrf uses one core, the fast engine two). 'agree' is the share of the stroke window's labels equal
to the whole-image run's; a stroke column of '-' means no window was possible (the solution's messages did not
fit their memory budget, so the window would show a preview and the exact run). Probabilities are smooth and network-like with every class
present (nothing merges: the worst case). Times in ms, the best of the repetitions (the machine is shared).
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


def app_inputs(h: int, w: int, c: int, present: int) -> Path:
    """A folder with one h x w image and a c-class DeepLab (random weights; only the first `present` classes can
    win, the others get ~0 probability, as absent classes do with a trained network). Made here, in the parent,
    so the child's peak RSS is the app's alone."""
    import tempfile

    import cv2
    import torch

    from bench.crf import scene
    from engine.checkpoints import save_checkpoint
    from engine.models.registry import ModelSpec, build_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    (tmp / "images").mkdir()
    cv2.imwrite(str(tmp / "images" / "big.png"), scene(h, w, 3)[..., ::-1])
    spec = ModelSpec(arch="deeplab_v1_largefov", n_classes=c, class_names=tuple(f"class {i}" for i in range(c)),
                     arch_kwargs=(("channels", (8, 8, 16, 16, 16)), ("fc_channels", 16)), name="bench")
    torch.manual_seed(0)
    model = build_model(spec)
    if present < c:
        with torch.no_grad():
            model.fc8.bias[present:] = -60.0  # below the CRF's 1e-5 clip everywhere: these classes merge
    save_checkpoint(tmp / "model.pt", model, spec)
    return tmp


def app_child(folder: str) -> dict:
    """The real window (offscreen) on the folder app_inputs made: open, stroke, slider, save; timings and RSS."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui.app import start
    from gui.dialogs import prompts
    from gui.main_window import MainWindow

    tmp = Path(folder)
    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.show()
    app.processEvents()
    base = _rss_mb()
    t0 = time.perf_counter()
    marks = {}

    import threading
    phase_peak, current = {}, ["open"]

    def sample():  # the RSS peak of each phase, read from /proc every 20 ms
        while current[0] is not None:
            try:
                with open("/proc/self/status") as f:
                    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
            except (OSError, StopIteration):
                return
            phase_peak[current[0]] = max(phase_peak.get(current[0], 0.0), rss)
            time.sleep(0.02)
    threading.Thread(target=sample, daemon=True).start()

    def wait(cond, what, timeout=900):
        end = time.time() + timeout
        while not cond():
            app.processEvents()
            time.sleep(0.01)
            if time.time() > end:
                raise TimeoutError(what)
        marks[what] = _ms(t0)
        current[0] = f"after {what}"

    start(win, tmp / "images", tmp / "model.pt")
    ctl = win.ctl
    shown = []  # label-layer changes: (kind, time)
    for signal in (ctl.preview_changed, ctl.results_changed, ctl.window_refined):
        signal.connect(lambda *_: shown.append(ctl.crf.shown_kind()))
    wait(lambda: ctl.state is not None and ctl.state.probs is not None, "predicted")
    wait(lambda: ctl.state.crf_preview is not None or ctl.state.crf_labels is not None, "first labels")
    wait(lambda: ctl.state.crf_labels is not None and ctl.crf.shown_kind() == "exact" and not ctl.busy, "exact")
    ed = ctl.editor
    ed.set_radius(8)
    h, w = ctl.state.shape
    del shown[:]
    t_stroke = time.perf_counter()
    ed.begin_stroke((w // 2, h // 2))
    ed.stroke_to((w // 2 + 60, h // 2 + 5))
    ed.end_stroke()
    wait(lambda: any(k in ("local", "exact") or k.startswith("preview") for k in shown), "stroke refined")
    marks["stroke kind"] = shown[0]
    marks["stroke latency"] = _ms(t_stroke)
    wait(lambda: ctl.crf.shown_kind() == "exact" and not ctl.busy, "stroke exact")
    row = win.crf_panel.rows["bi_w"]
    del shown[:]
    t_slider = time.perf_counter()
    row.slider.setValue(row.slider.value() + 4)
    wait(lambda: bool(shown), "slider first")
    marks["slider first latency"] = _ms(t_slider)
    wait(lambda: ctl.crf.shown_kind() == "exact" and not ctl.busy, "slider exact")
    prompts.ask_unsaved = lambda *a: prompts.DISCARD
    ok = win.save()
    marks["saved"] = _ms(t0)
    peak = _rss_mb()
    current[0] = None
    win.close()
    shape = ctl.state.shape
    return {"size": f"{shape[0]}x{shape[1]}", "saved": ok, "marks_ms": marks, "peak_rss": peak, "base_rss": base,
            "phase_peak_mb": {k: round(v) for k, v in phase_peak.items()}}


def _run_child(args: list[str]) -> dict:
    cmd = [sys.executable, __file__] + args
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(v, spec="7.0f") -> str:
    return "      -" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 MP, 5 classes, a few repetitions")
    ap.add_argument("--app", action="store_true", help="peak RSS of the real window at 12 MP / 21 classes")
    ap.add_argument("--no-reference", action="store_true", help="skip pydensecrf")
    ap.add_argument("--child", nargs=5, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--app-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        h, w, c, reps, ref = args.child
        print(json.dumps(child(h, w, c, reps, bool(ref))))
        return 0
    if args.app_child:
        print(json.dumps(app_child(args.app_child)), flush=True)
        sys.stderr.flush()
        os._exit(0)   # as the app quits (docs/adr/0003-quit-path.md): the teardown after a 12 MP session aborts
    import numba
    print(f"numba {numba.get_num_threads()} threads, {len(os.sched_getaffinity(0))} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    if args.app:
        import shutil
        for h, w, c, present in ((3000, 4000, 21, 21), (3000, 4000, 21, 3)):
            folder = app_inputs(h, w, c, present)
            try:
                r = _run_child(["--app-child", str(folder)])
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            marks = ", ".join(f"{k} {v / 1000:.2f} s" if isinstance(v, float) else f"{k} {v}"
                              for k, v in r["marks_ms"].items())
            print(f"app {r['size']} {c} classes ({present} can be present): peak RSS {r['peak_rss']:.0f} MiB (before opening the folder "
                  f"{r['base_rss']:.0f}); {marks}; saved {r['saved']}")
            print("  RSS peak (MiB) until each step: " + ", ".join(f"{k} {v}" for k, v in r["phase_peak_mb"].items()))
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        return 0
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

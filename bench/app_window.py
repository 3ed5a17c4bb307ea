"""`bench/interactive.py --app`: the real window (offscreen) as a user meets it, one row per image size and model.

Each row runs in fresh child processes started by the parent, which watches their memory:
1. the parent writes a photo-like scene (bench.crf.scene) as a JPEG, and for the ResNet-101 rows a checkpoint;
2. the window child opens the folder with the model (the demo row passes none, so the window picks its default,
   resources/models/demo_v1.pt), then: a stroke once the first exact labels show, a slider move once the stroke's
   exact labels show; it reports each step's time, the peak RSS (VmHWM) and the idle RSS (VmRSS 2 s after the
   last exact run, after gc), and writes the probabilities it refined for step 3;
3. where the estimate fits the memory available (bench/app_table.py), the pydensecrf child runs pydensecrf on those
   probabilities and the image with the window's CRF values, then the fast engine's whole-image exact run of the same
   inputs from cold caches: the ratio of the two is measured in the same process.
A child that fails, times out, or passes the RSS cap (90% of the memory available when it starts) is stopped and
its row says why; the table goes on.

The ResNet-101 checkpoints are kazuto's layout (a plain state dict of MSC(DeepLabV2), keys base.*), random weights.
So that the images look like a photo's to the CRF, with a dozen classes present, the head is set after the fact on a
257 px copy of the scene: the ASPP weights are scaled so that each class's logit varies by about 2 over the image,
12 classes (background and 11 drawn at random) get biases that centre their logits on 0, and every other class a
bias that centres its logit on a value drawn uniformly from -14..-8: their probabilities are small (about e^-8 to
e^-14 of a present class's) but not all below the CRF's 1e-5 clip, and not identical.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.app_table import GB, SIZES, pydensecrf_bytes
from bench.proc_status import status_bytes

PRESENT = 12
IDLE_S = 2.0
CAP_SHARE = 0.9


# ---- inputs (in the parent, so a child's peak RSS is its own) --------------------------------------------------
def write_image(folder: Path, mp: int) -> Path:
    """The row's photo: a JPEG (quality 95) of bench.crf.scene at the size's height x width."""
    import cv2

    from bench.crf import scene

    h, w = SIZES[mp]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / "images" / f"photo-{mp}mp.jpg"
    cv2.imwrite(str(path), scene(h, w, 3)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def write_r101(path: Path, classes: int, seed: int = 0) -> Path:
    """A kazuto-layout DeepLab v2 ResNet-101 MSC checkpoint with random weights and a dozen classes present (see
    the module docstring)."""
    import torch

    from bench.crf import scene
    from engine.models.deeplab_v2 import build_deeplab_v2
    from engine.models.registry import DEFAULT_MEAN_BGR

    torch.manual_seed(seed)
    model = build_deeplab_v2(classes, msc_scales=(0.5, 0.75), pipeline="kazuto").eval()
    bgr = scene(257, 257, 3)[..., ::-1].astype(np.float32) - np.array(DEFAULT_MEAN_BGR, np.float32)
    x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]
    aspp = model.base.aspp
    with torch.no_grad():
        logits = model.score_map(x)[0]
        scale = 2.0 / float(logits.std(dim=(1, 2)).median())
        for conv in aspp.children():
            conv.weight.mul_(scale)
            conv.bias.mul_(scale)
        mean = model.score_map(x)[0].mean(dim=(1, 2))
        rng = np.random.default_rng(seed)
        present = [0] + sorted(rng.choice(np.arange(1, classes), PRESENT - 1, replace=False).tolist())
        target = torch.from_numpy(rng.uniform(-14.0, -8.0, classes).astype(np.float32))
        target[present] = 0.0
        aspp.c0.bias.add_(target - mean)
    torch.save(model.state_dict(), path)
    return path


# ---- the window child ------------------------------------------------------------------------------------------
def _vmrss_gb() -> float:
    return status_bytes("VmRSS") / GB


def _peak_gb() -> float:
    """This process's own peak RSS (VmHWM; see bench/proc_status.py for why not ru_maxrss)."""
    return status_bytes("VmHWM") / GB


def window_child(folder: str, model: str | None, keep_probs: bool) -> dict:
    """The window on `folder`/images with `model` (None: the window's default): open, stroke, slider; figures."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from gui.app import start
    from gui.dialogs import prompts
    from gui.main_window import MainWindow

    tmp = Path(folder)
    jobs = _time_lanes()
    app = QApplication.instance() or QApplication([])
    win = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    win.show()
    app.processEvents()
    marks, phase_peak, current = {}, {}, ["open"]

    def sample():  # the RSS peak of each phase, read every 20 ms
        while (phase := current[0]) is not None:
            try:
                rss = _vmrss_gb()
            except OSError:
                return
            phase_peak[phase] = max(phase_peak.get(phase, 0.0), rss)
            time.sleep(0.02)
    threading.Thread(target=sample, daemon=True).start()

    def wait(cond, what, since, timeout=3600):
        end = time.time() + timeout
        while not cond():
            app.processEvents()
            time.sleep(0.005)
            if time.time() > end:
                raise TimeoutError(what)
        marks[what] = time.perf_counter() - since
        current[0] = f"after {what}"   # the phase that starts at this mark

    t_open = time.perf_counter()
    start(win, tmp / "images", Path(model) if model else None)
    ctl = win.ctl
    shown = []  # the label layer's changes, as ctl.crf.shown_kind() names them
    for signal in (ctl.preview_changed, ctl.results_changed, ctl.window_refined):
        signal.connect(lambda *_: shown.append(ctl.crf.shown_kind()))

    def exact():
        """The exact labels are shown and nothing that could replace them runs or waits: the CRF, the preview and
        the prediction. (The learning lane may still take the image's features for later strokes: `idle`.)"""
        return ctl.state.crf_labels is not None and ctl.crf.shown_kind() == "exact" and not ctl.crf.pending \
            and not any(ctl.lanes[name].busy for name in ("crf", "preview", "predict"))

    def idle():
        return exact() and not ctl.busy

    wait(lambda: ctl.state is not None and ctl.state.probs is not None, "predicted", t_open)
    wait(lambda: ctl.state.crf_preview is not None or ctl.state.crf_labels is not None, "open first", t_open)
    wait(exact, "open exact", t_open)
    wait(idle, "open idle", t_open)   # (not timed as a step: the stroke starts on an idle window)
    params = ctl.crf.params.to_dict()
    ed = ctl.editor
    ed.set_radius(8)
    h, w = ctl.state.shape
    del shown[:]
    del jobs[:]
    t_stroke = time.perf_counter()
    ed.begin_stroke((w // 2, h // 2))
    ed.stroke_to((w // 2 + 60, h // 2 + 5))
    ed.end_stroke()
    wait(lambda: any(k in ("local", "exact") or k.startswith("preview") for k in shown), "stroke first", t_stroke)
    stroke_kind = shown[0]
    wait(exact, "stroke exact", t_stroke)
    wait(idle, "stroke idle", t_stroke)
    stroke_jobs = [(lane, kind, round(a - t_stroke, 2), round(b - a, 2), how) for lane, kind, a, b, how in jobs]
    row = win.crf_panel.rows["bi_w"]
    del shown[:]
    t_slider = time.perf_counter()
    row.slider.setValue(row.slider.value() + 4)
    wait(lambda: bool(shown), "slider first", t_slider)
    wait(exact, "slider exact", t_slider)
    wait(idle, "slider idle", t_slider)
    peak = _peak_gb()
    end = time.time() + IDLE_S
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)
    gc.collect()
    idle = _vmrss_gb()
    current[0] = None
    probs = ctl.state.probs
    counts = np.bincount(np.asarray(ctl.state.crf_labels).ravel(), minlength=probs.shape[0])
    if keep_probs:  # for the pydensecrf child: the probabilities the window refined, as the window holds them
        np.save(tmp / "probs.npy", probs)
        (tmp / "params.json").write_text(json.dumps(params))
    prompts.ask_unsaved = lambda *a: prompts.DISCARD
    saved = win.save()
    win.close()
    return {"classes": int(probs.shape[0]), "shape": list(probs.shape[1:]), "probs_dtype": str(probs.dtype),
            "open_first_s": marks["open first"], "open_exact_s": marks["open exact"],
            "predicted_s": marks["predicted"], "stroke_first_ms": marks["stroke first"] * 1000,
            "stroke_kind": stroke_kind, "stroke_exact_s": marks["stroke exact"],
            "slider_first_ms": marks["slider first"] * 1000, "slider_exact_s": marks["slider exact"],
            "idle_after_s": {k: round(marks[f"{k} idle"], 2) for k in ("open", "stroke", "slider")},
            "peak_gb": peak, "idle_gb": idle, "saved": bool(saved),
            "classes_shown": int((counts > 0.001 * counts.sum()).sum()),
            "phase_peak_gb": {k: round(v, 2) for k, v in phase_peak.items()}, "stroke_jobs": stroke_jobs}


def _time_lanes() -> list:
    """Every background job the window runs, as (lane, kind, start, end, 'done' or why not), timed on its worker:
    where a stroke's time goes (-v prints the stroke's)."""
    from gui.session import lanes

    jobs, submit = [], lanes.Lane.submit

    def timed_submit(lane, key, fn):
        kind = getattr(key, "kind", None) or (key[0] if isinstance(key, tuple) and key else type(key).__name__)

        def job(cancel, report):
            t0, how = time.perf_counter(), "done"
            try:
                return fn(cancel, report)
            except BaseException as exc:
                how = type(exc).__name__
                raise
            finally:
                jobs.append((lane.name, str(kind), t0, time.perf_counter(), "cancelled" if cancel() else how))
        return submit(lane, key, job)
    lanes.Lane.submit = timed_submit
    return jobs


# ---- the pydensecrf child ----------------------------------------------------------------------------------------
def reference_child(folder: str) -> dict:
    """pydensecrf, then the fast engine's whole-image exact run (cold), on the window's probabilities and image."""
    from engine.crf.fast import FastBackend, warm_up
    from engine.crf.params import CRFParams
    from engine.crf.reference import pydensecrf_refine
    from engine.io.images import read_image

    tmp = Path(folder)
    img = read_image(next((tmp / "images").glob("photo-*.jpg")))   # as the window read it
    probs = np.load(tmp / "probs.npy", mmap_mode="r").astype(np.float32)
    params = CRFParams.from_dict(json.loads((tmp / "params.json").read_text()))
    h, w = probs.shape[1:]
    t0 = time.perf_counter()
    pydensecrf_refine(img, probs, params)
    out = {"pydensecrf_s": time.perf_counter() - t0}
    gc.collect()
    warm_up()
    t0 = time.perf_counter()
    FastBackend(device="cpu").session(img).run(probs, params, compact=h * w >= 1_000_000)
    out["fast_s"] = time.perf_counter() - t0
    out["peak_gb"] = _peak_gb()
    return out


# ---- the parent ----------------------------------------------------------------------------------------------------
def available_bytes() -> int:
    """MemAvailable: what a new process may take without swapping others out."""
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("MemAvailable")) * 1024


def run_child(args: list[str], timeout_s: float, cap_bytes: int) -> tuple[dict | None, str | None]:
    """Run this module with `args` in a fresh process; (its JSON result, None), or (None, why it has none): it
    failed, it ran past timeout_s, or its RSS passed cap_bytes (then it is stopped)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, __file__] + args, stdout=out, stderr=err, text=True)
        t0, reason = time.time(), None
        while proc.poll() is None:
            try:
                rss = status_bytes("VmRSS", proc.pid)
            except OSError:
                rss = 0
            if rss > cap_bytes:
                reason = f"stopped at {rss / GB:.1f} GB RSS, over the cap of {cap_bytes / GB:.1f} GB"
            elif time.time() - t0 > timeout_s:
                reason = f"timed out after {timeout_s:.0f} s"
            if reason:
                proc.kill()
                proc.wait()
                return None, reason
            time.sleep(0.2)
        out.seek(0)
        lines = out.read().strip().splitlines()
        if proc.returncode != 0 or not lines:
            err.seek(0)
            tail = [ln for ln in err.read().strip().splitlines() if ln.strip()]
            return None, f"rc {proc.returncode}: {tail[-1] if tail else 'no output'}"
        return json.loads(lines[-1]), None


def run_row(mp: int, model: str, reference: bool, timeout_s: float) -> tuple[dict | None, str | None]:
    """One row: inputs, the window child, then (where it fits) the pydensecrf child. (figures, reason)."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix=f"bench-app-{mp}mp-{model}-"))
    try:
        write_image(folder, mp)
        args = ["--window", str(folder)]
        if model != "demo":
            args += ["--model", str(write_r101(folder / f"{model}.pth", int(model.split("-")[1])))]
        h, w = SIZES[mp]
        classes = None if model == "demo" else int(model.split("-")[1])
        need = pydensecrf_bytes(h * w, classes) if classes else None
        keep = reference and (need is None or need < CAP_SHARE * available_bytes())
        r, why = run_child(args + (["--keep-probs"] if keep else []), timeout_s, int(CAP_SHARE * available_bytes()))
        if r is None:
            return None, why
        if not reference:
            return r, "pydensecrf not run: --quick or --no-reference"
        need, free = pydensecrf_bytes(h * w, r["classes"]), available_bytes()
        r["pydensecrf_need_gb"] = need / GB
        if need > CAP_SHARE * free or not (folder / "probs.npy").exists():
            return r, f"pydensecrf would need ~{need / GB:.0f} GB, {free / GB:.0f} GB available"
        ref, why = run_child(["--reference", str(folder)], timeout_s, int(CAP_SHARE * free))
        if ref is None:
            return r, f"pydensecrf: {why}"
        r.update(pydensecrf_s=ref["pydensecrf_s"], fast_s=ref["fast_s"], reference_peak_gb=ref["peak_gb"])
        return r, None
    except Exception as exc:  # noqa: BLE001 (a row that cannot even be set up leaves the table going)
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    """The child entry points (the parent's table is bench/interactive.py --app)."""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--window")
    ap.add_argument("--model")
    ap.add_argument("--keep-probs", action="store_true")
    ap.add_argument("--reference")
    args = ap.parse_args(argv)
    if args.reference:
        print(json.dumps(reference_child(args.reference)), flush=True)
    else:
        print(json.dumps(window_child(args.window, args.model, args.keep_probs)), flush=True)
    sys.stderr.flush()
    os._exit(0)   # as the app quits (docs/adr/0003-quit-path.md): the teardown after a 12 MP session can abort


if __name__ == "__main__":
    main()

"""Start-up and quit times of the app, against baselines measured in the same run.

Each repetition starts fresh processes, back to back:
  bare   a bare PySide6 window (import PySide6, QApplication, QWidget.show), then closed: the floor for
         "something on screen" and for quitting a Qt process;
  torch  `import torch` alone: what the app must load before its window can exist;
  app    `main.py [FOLDER]` with a clean settings folder, tracing its milestones (gui.boot.splash): splash shown, window
         shown, model loaded, first labels shown; it then closes itself and the quit is timed to process exit.
Times are seconds from process spawn (the parent's clock, so interpreter start-up counts). The target: something on
screen within 2 s. Runs offscreen by default (no display needed); --platform xcb uses $DISPLAY.

  python bench/startup.py [--runs 3] [--folder DIR] [--model CKPT] [--platform offscreen|xcb]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gui.boot.splash import QUIT_ENV, TRACE_ENV, read_trace  # noqa: E402 (needs the repo root on the path)

BARE = """
import sys, time
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget(); w.resize(400, 300); w.show(); app.processEvents()
print("shown", time.time(), flush=True)
print("quit_requested", time.time(), flush=True)
w.close(); app.quit()
"""
TORCH = "import time, torch; print('imported', time.time(), flush=True)"
TARGET_S = 2.0


def _env(platform: str, config: str) -> dict:
    env = dict(os.environ, XDG_CONFIG_HOME=config, PYTHONPATH=str(ROOT))
    if platform == "offscreen":
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _stamps(stdout: str) -> dict[str, float]:
    out = {}
    for line in stdout.splitlines():
        name, _, t = line.partition(" ")
        try:
            out[name] = float(t)
        except ValueError:
            pass
    return out


def run_script(code: str, env: dict) -> tuple[float, dict[str, float], float]:
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    t1 = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"baseline failed:\n{proc.stderr[-2000:]}")
    return t0, _stamps(proc.stdout), t1


def run_app(args, env: dict) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.txt"
        env = dict(env, **{TRACE_ENV: str(trace), QUIT_ENV: "1"})
        cmd = [sys.executable, str(ROOT / "main.py")] + ([str(args.folder)] if args.folder else []) \
            + (["--model", str(args.model)] if args.model else [])
        t0 = time.time()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        t1 = time.time()
        if not trace.is_file():
            raise SystemExit(f"the app wrote no trace (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        marks = read_trace(trace)
    missing = [m for m in ("splash", "window_shown", "model_loaded", "first_labels", "quit_requested")
               if m not in marks]
    if missing:
        raise SystemExit(f"the app did not reach {missing} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return {"splash": marks["splash"] - t0, "window": marks["window_shown"] - t0,
            "model": marks["model_loaded"] - t0, "labels": marks["first_labels"] - t0,
            "quit": t1 - marks["quit_requested"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--folder", type=Path, default=None, help="folder to open (default: the bundled samples)")
    ap.add_argument("--model", type=Path, default=None, help="checkpoint (default: the bundled demo model)")
    ap.add_argument("--platform", choices=("offscreen", "xcb"), default="offscreen")
    ap.add_argument("--quick", action="store_true", help="one run of each (make bench)")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = 1
    rows = []
    print(f"{'run':>3} | {'bare win':>8} {'bare quit':>9} {'torch':>6} | {'splash':>6} {'window':>6} {'model':>6} "
          f"{'labels':>6} {'quit':>6}   (s from spawn; quit: close to exit)")
    for r in range(args.runs):
        with tempfile.TemporaryDirectory() as config:
            env = _env(args.platform, config)
            t0, bare, t1 = run_script(BARE, env)
            t2, torch_stamps, _ = run_script(TORCH, env)
            app = run_app(args, env)
        row = {"bare": bare["shown"] - t0, "bare_quit": t1 - bare["quit_requested"],
               "torch": torch_stamps["imported"] - t2, **app}
        rows.append(row)
        print(f"{r + 1:>3} | {row['bare']:8.2f} {row['bare_quit']:9.2f} {row['torch']:6.2f} | {row['splash']:6.2f} "
              f"{row['window']:6.2f} {row['model']:6.2f} {row['labels']:6.2f} {row['quit']:6.2f}", flush=True)
    med = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
    print(f"med | {med['bare']:8.2f} {med['bare_quit']:9.2f} {med['torch']:6.2f} | {med['splash']:6.2f} "
          f"{med['window']:6.2f} {med['model']:6.2f} {med['labels']:6.2f} {med['quit']:6.2f}")
    print(f"ratios (median, this run): splash {med['splash'] / med['bare']:.1f}x a bare PySide6 window; "
          f"window {med['window'] / med['bare']:.1f}x; window - torch import {med['window'] - med['torch']:+.2f} s; "
          f"quit {med['quit'] / max(med['bare_quit'], 1e-3):.1f}x a bare window's quit")
    ok = "met" if med["splash"] <= TARGET_S else "NOT met"
    print(f"first sign of life {med['splash']:.2f} s (target {TARGET_S:.0f} s: {ok}), window {med['window']:.2f} s, "
          f"first labels {med['labels']:.2f} s, quit {med['quit']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

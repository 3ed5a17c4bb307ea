"""What every subcommand shares on a terminal: the program's name and version, its argument parser, the progress
bar, and the error line. One place, so `--version`, usage lines, progress and "error: ..." look the same in all
of them. Qt-free and light (argparse, tqdm): the subcommand table loads it before any heavy import.

Progress goes to stderr, so stdout keeps only results a script may read. On a terminal it is a tqdm bar; when
stderr is not a terminal (a log file, CI, a pipe) a bar's carriage returns would be noise, so it prints one line
per step instead, at most one every few seconds, and always the last one.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

DIST = "deeplab-annotator"   # the distribution's name (pyproject.toml), also the command's
LINE_EVERY_S = 5.0           # without a terminal: at most one progress line this often (and the last step always)


def program() -> str:
    """How the user called us, for usage lines: "deeplab-annotator", "main.py" or "python -m engine.cli"."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else DIST
    return "python -m engine.cli" if name == "__main__.py" else name


def version() -> str:
    """The installed distribution's version (importlib.metadata); from a checkout that was never installed, the
    version pyproject.toml declares; "unknown" if neither says."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version(DIST)
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)   # tomllib is 3.11+
    found = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.M) if project else None
    return found.group(1) if found else "unknown"


def version_line() -> str:
    return f"{DIST} {version()}"


def parser(command: str | None, description: str, **kwargs) -> argparse.ArgumentParser:
    """The argument parser of one subcommand (None: the window's), with `--version`; every option added to it
    must carry help (tests/cli/test_conventions.py walks them all)."""
    prog = program() if command is None else f"{program()} {command}"
    p = argparse.ArgumentParser(prog=prog, description=description, **kwargs)
    p.add_argument("--version", action="version", version=version_line(), help="print the version and exit")
    return p


_WINDOW_ONLY = re.compile(r"[.;] [Yy]our edits are still in memory\.?")


def headless(message: str) -> str:
    """An engine message as a command line says it: without the window's 'your edits are still in memory' (a
    command holds no edits; the save errors of engine.io word it for the window)."""
    return _WINDOW_ONLY.sub(".", message).replace("..", ".")


def error(message: str) -> int:
    """Print `error: message` on stderr; returns 2, the exit status of a run that could not do its work."""
    print(f"error: {headless(message)}", file=sys.stderr, flush=True)
    return 2


def say(message: str) -> None:
    """A note about the run (not a result) on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


class LineProgress:
    """tqdm's few methods used here, as plain lines on stderr ("desc: 3/40 img (12 s, 0.25 img/s)"), for logs and
    pipes."""

    def __init__(self, total: int | None, desc: str, unit: str, file=None, every_s: float = LINE_EVERY_S):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.file = file or sys.stderr
        self.every_s = every_s
        self.postfix = ""
        self._t0 = time.monotonic()
        self._last = None   # when the last line was printed

    def _line(self) -> str:
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        post = f", {self.postfix}" if self.postfix else ""
        unit = f" {self.unit}" if self.unit else ""
        elapsed = time.monotonic() - self._t0
        rate = f", {self.n / elapsed:.2f} {self.unit or 'it'}/s" if elapsed > 0 and self.n else ""
        return f"{self.desc}: {count}{unit} ({elapsed:.0f} s{rate}{post})"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        done = self.total is not None and self.n >= self.total
        if done or self._last is None or now - self._last >= self.every_s:
            print(self._line(), file=self.file, flush=True)
            self._last = now

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def write(self, text: str, file=None) -> None:
        """A message between progress lines; stdout unless told, as tqdm.write."""
        print(text, file=file or sys.stdout, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(total: int | None, desc: str, unit: str = "it", file=None):
    """A progress bar for `total` steps on stderr: tqdm on a terminal, LineProgress otherwise. Use it as a
    context manager, call update(), write() for a message that must not break the bar."""
    file = file or sys.stderr
    if hasattr(file, "isatty") and file.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True)
    return LineProgress(total, desc, unit, file=file)


class PhaseProgress:
    """The engine's progress callback, ``report(done, total, text)``, as one bar per phase: `phase_of(text)` names
    the phase a report belongs to (e.g. "predicting" then "CRF runs"); a new phase closes the last bar as
    complete. Totals may grow within a phase (a search adds its fine stage)."""

    def __init__(self, phase_of, unit: str = "it", file=None):
        self.phase_of, self.unit, self.file = phase_of, unit, file
        self.phase, self.bar = None, None

    def __call__(self, done: int, total: int, text: str = "") -> None:
        phase = self.phase_of(text)
        if phase != self.phase:
            self.close()
            self.phase, self.bar = phase, progress(total, phase, unit=self.unit, file=self.file)
        if total != self.bar.total:
            self.bar.total = total
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """End the current phase's bar as complete."""
        if self.bar is not None:
            if self.bar.total and self.bar.n < self.bar.total:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
            self.bar = None

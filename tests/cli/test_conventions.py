"""The command line's conventions: `--version` on the top command and every subcommand, a mistyped subcommand is
an error (exit 2) naming the nearest one instead of a window, the top `--help` lists the subcommands without
loading Qt, every option of every subcommand has help, progress without a terminal still says something, and
the first CRF run says when it compiles the kernels."""
from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest

from engine import cli, console
from engine.crf.fast import kernel_cache
from tests.support.paths import ROOT

PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _no_subcommand(monkeypatch):
    """Fail the test if a subcommand (or the window) would be started."""
    monkeypatch.setattr(cli, "resolve", lambda target: pytest.fail(f"{target} must not run"))


# --- --version ----------------------------------------------------------------------------------------------------

def test_version_on_the_top_command_and_every_subcommand(monkeypatch, capsys):
    _no_subcommand(monkeypatch)
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"deeplab-annotator {PYPROJECT_VERSION}\n"
    for name in cli.COMMANDS:
        assert cli.main([name, "--version"]) == 0, name
        assert capsys.readouterr().out == f"deeplab-annotator {PYPROJECT_VERSION}\n", name
    assert cli.main(["predict", "--out", "x.png", "--version"]) == 0     # anywhere before `--`
    assert capsys.readouterr().out.startswith("deeplab-annotator ")


def test_version_after_double_dash_is_an_argument(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "resolve", lambda target: lambda argv: calls.append((target, argv)) or 0)
    assert cli.main(["predict", "--", "--version"]) == 0
    assert calls == [(cli.COMMANDS["predict"], ["--", "--version"])]


def test_version_falls_back_to_pyproject_in_a_checkout_never_installed(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert console.version() == PYPROJECT_VERSION


def test_each_parser_prints_the_version_too(capsys):
    """The parsers list --version in their help (the table answers it first, but `-h` shows it)."""
    from engine.cli.predict import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"deeplab-annotator {PYPROJECT_VERSION}"


# --- a mistyped subcommand ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typo, nearest", [("predcit", "predict"), ("exprot", "export"), ("prelable", "prelabel"),
                                           ("tune-cfr", "tune-crf"), ("Predict", "predict")])
def test_a_mistyped_subcommand_is_an_error_naming_the_nearest(typo, nearest, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    _no_subcommand(monkeypatch)
    assert cli.main([typo, "image.png", "--out", "x.png"]) == 2
    err = capsys.readouterr().err
    assert f"{typo!r} is not a subcommand" in err and f"did you mean {nearest!r}?" in err


@pytest.mark.parametrize("arg", ["predcit", "belt.png", "some/folder", "zebra", "./x", "--model"])
def test_paths_and_unrelated_words_still_open_the_window(arg, monkeypatch, tmp_path):
    """An existing folder named like a typo, anything with a dot or a slash, and words close to no subcommand
    go to the window as before (it says "Folder not found" itself)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "predcit").mkdir()
    calls = []
    monkeypatch.setattr(cli, "resolve", lambda target: lambda argv: calls.append((target, argv)) or 0)
    assert cli.main([arg]) == 0
    assert calls == [(cli.COMMANDS["gui"], [arg])]


def test_typo_exits_2_without_a_window_end_to_end(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "main.py"), "predcit", "x.png"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env={"QT_QPA_PLATFORM": "offscreen",
                                                                          "PATH": "/usr/bin:/bin"})
    assert run.returncode == 2, run.stderr
    assert "did you mean 'predict'?" in run.stderr and run.stdout == ""


# --- help -----------------------------------------------------------------------------------------------------------

def test_top_help_lists_every_subcommand_without_loading_qt():
    code = ("import sys, engine.cli as c\n"
            "assert c.main(['--help']) == 0\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'gui', 'torch'))]\n"
            "assert not bad, bad\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    listed = run.stdout.split("subcommands", 1)[1]
    for name in cli.COMMANDS:
        if name != cli.DEFAULT:
            assert re.search(rf"^\s+{re.escape(name)}\b", listed, re.M), name
    for option in ("--model", "--read-only", "--max-pixels", "--version"):
        assert option in run.stdout


class _Captured(Exception):
    pass


def _parser_of(name: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a subcommand builds: run it with its parse_args stopped, whatever module defines it."""
    seen = []

    def capture(self, args=None, namespace=None):
        seen.append(self)
        raise _Captured

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    with pytest.raises(_Captured):
        cli.resolve(cli.COMMANDS[name])([])
    monkeypatch.undo()
    return seen[0]


def test_every_option_of_every_subcommand_has_help(monkeypatch):
    missing = []
    for name in cli.COMMANDS:
        parser = _parser_of(name, monkeypatch)
        assert parser.prog.endswith(name) or name == cli.DEFAULT, (name, parser.prog)
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            label = "/".join(action.option_strings) or action.dest
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {label}")
    assert not missing, "options without help: " + ", ".join(missing)


def test_predict_help_names_the_sidecar_as_it_is_written(capsys):
    from engine.cli.predict import build_parser

    build_parser().print_help()
    text = " ".join(capsys.readouterr().out.split())
    assert "OUT.provenance.json" not in text and "x.provenance.json" in text


# --- progress -------------------------------------------------------------------------------------------------------

def test_progress_without_a_terminal_prints_lines_and_always_the_last():
    out = io.StringIO()
    with console.progress(4, "scoring", unit="img", file=out) as bar:
        assert isinstance(bar, console.LineProgress)
        for _ in range(4):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("scoring: 1/4 img (") and lines[-1].startswith("scoring: 4/4 img (")
    assert len(lines) == 2   # the steps between come at most every LINE_EVERY_S


def test_progress_on_a_terminal_is_a_tqdm_bar():
    from tqdm import tqdm

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    with console.progress(3, "training", unit="step", file=out) as bar:
        assert isinstance(bar, tqdm)
        bar.update(3)
    assert "training" in out.getvalue() and "3/3" in out.getvalue()


def test_phase_progress_closes_each_phase_complete():
    out = io.StringIO()
    phases = console.PhaseProgress(lambda text: text.split(":")[0], unit="", file=out)
    phases(0, 2, "predicting: 1/2")
    phases(1, 2, "predicting: 2/2")
    phases(1, 5, "CRF runs: 1/5")
    phases(3, 8, "CRF runs: 3/8")       # the search grew
    phases.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("predicting: 1/2 (") and lines[1].startswith("predicting: 2/2 (")
    assert lines[-1].startswith("CRF runs: 8/8 (")


# --- the CRF kernels' first compilation ---------------------------------------------------------------------------

def test_kernel_cache_check_reads_numbas_cache_without_compiling(tmp_path):
    """An empty numba cache folder is cold; the check itself compiles nothing (no cache file appears)."""
    code = "from engine.crf.fast.kernel_cache import kernels_cached; print(kernels_cached())"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"NUMBA_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
    assert not list(tmp_path.rglob("*.nbc"))


def test_a_cold_cache_is_announced_before_the_compilation(monkeypatch):
    said = []
    monkeypatch.setattr(kernel_cache, "kernels_cached", lambda: False)
    import engine.crf.fast as fast

    monkeypatch.setattr(fast, "warm_up", lambda: said.append("compiled"))
    kernel_cache.warm_up_with_notice(said.append)
    assert said[0] == kernel_cache.COMPILE_NOTE and said[1] == "compiled" and said[2].startswith("CRF kernels ready")


def test_a_warm_cache_and_other_backends_say_nothing(monkeypatch):
    said = []
    monkeypatch.setattr(kernel_cache, "kernels_cached", lambda: True)
    import engine.crf.fast as fast

    monkeypatch.setattr(fast, "warm_up", lambda: None)
    kernel_cache.warm_up_with_notice(said.append)
    kernel_cache.warm_up_with_notice(said.append, backend=object())   # not a numba backend: not even warmed
    assert said == []

"""The subcommand registry: every entry resolves, anything else opens the window, and the headless commands
load no Qt (engine/ never imports it)."""
import subprocess
import sys

from engine import cli
from tests.support.paths import ROOT


def test_every_command_resolves_to_a_function():
    for name, target in cli.COMMANDS.items():
        assert callable(cli.resolve(target)), name
    assert {"gui", "predict", "train-demo", "eval-demo", "export", "install-desktop"} <= set(cli.COMMANDS)


def test_dispatch(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "resolve", lambda target: lambda argv: calls.append((target, argv)) or 7)
    assert cli.main(["predict", "a.png", "--out", "b.png"]) == 7
    assert cli.main(["some/folder", "--model", "m.pt"]) == 7
    assert cli.main([]) == 7
    gui, predict = cli.COMMANDS["gui"], cli.COMMANDS["predict"]
    assert calls == [(predict, ["a.png", "--out", "b.png"]), (gui, ["some/folder", "--model", "m.pt"]), (gui, [])]


def test_headless_commands_import_no_qt():
    code = ("import sys, engine.cli as c\n"
            "for n in ('predict', 'export', 'install-desktop', 'train-demo', 'eval-demo'): c.resolve(c.COMMANDS[n])\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'gui'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def test_python_dash_m_engine_cli_runs_the_subcommands():
    """The desktop entry falls back to `python -m engine.cli` (engine/cli/install_desktop.py), so the package must
    run as a module; `predict --help` answers without opening a window."""
    out = subprocess.run([sys.executable, "-m", "engine.cli", "predict", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage: python -m engine.cli predict" in out.stdout and "--out" in out.stdout

"""Installed like an application: the wheel (not editable) holds the resources as package data and a
`deeplab-annotator` command that predicts from any directory; the desktop entry, icons and AppStream file are
valid and install-desktop puts them where desktops look.

The wheel test builds from a copy of the sources (so the checkout stays clean), installs with
`pip install --no-deps --target` and runs the command with only that target on PYTHONPATH (the test venv
supplies the dependencies). About 15-25 s on the 2-core CI machine.
"""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import install_desktop as desktop_install
from engine.io.labels import read_label_png
from engine.paths import APP_ID, DESKTOP_DIR, ICONS_DIR
from tests.support.paths import ROOT

SOURCES = ("engine", "gui", "resources", "main.py", "setup.py", "pyproject.toml", "README.md")
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def _setuptools_ok() -> bool:
    """setuptools that builds wheels by itself (70.1+, the dev extra), so no build venv is downloaded."""
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(v) for v in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from a copy of the sources, installed into a fresh --target folder."""
    if not _setuptools_ok():
        pytest.skip("needs setuptools>=70.1 in the test venv (the dev extra) to build the wheel without network")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "labels", ".recovery")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
                   check=True, cwd=tmp, capture_output=True)
    wheel = next((tmp / "dist").glob("deeplab_annotator-*.whl"))
    target = tmp / "target"
    subprocess.run(pip + ["install", "--no-deps", "--no-compile", "--target", str(target), str(wheel)],
                   check=True, cwd=tmp, capture_output=True)
    return target


def _env(target: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(target), QT_QPA_PLATFORM="offscreen", **extra)
    return env


def test_wheel_layout(installed):
    top = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert top == {"engine", "gui", "bin", "share"}   # no top-level resources, main, tests, bench
    res = installed / "engine" / "resources"
    for rel in ("models/demo_v1.pt", "models/demo_v2.pt", "samples/belt_01.png", "classes/voc21.txt",
                "presets/demo_v1.json", f"icons/{APP_ID}.svg", f"desktop/{APP_ID}.desktop"):
        assert (res / rel).is_file(), rel
    assert (installed / "share" / "applications" / f"{APP_ID}.desktop").is_file()
    assert (installed / "share" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()
    assert list((installed / "share" / "metainfo").glob("*.metainfo.xml"))


def test_installed_command_predicts_from_another_directory(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exe = installed / "bin" / APP_ID
    sample = installed / "engine" / "resources" / "samples" / "belt_03.png"
    run = subprocess.run([str(exe), "predict", str(sample), "--out", "out/belt_03.png"], cwd=elsewhere,
                         env=_env(installed), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    labels = read_label_png(elsewhere / "out" / "belt_03.png")
    assert labels.shape == (np.asarray(Image.open(sample)).shape[:2]) and len(np.unique(labels)) >= 2
    assert (elsewhere / "out" / "class_names.txt").read_text().startswith("0 belt\n")
    assert (elsewhere / "out" / "belt_03.provenance.json").is_file()
    where = subprocess.run([sys.executable, "-c", "import engine.paths as p; print(p.RESOURCES)"], cwd=elsewhere,
                           env=_env(installed), capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()) == installed / "engine" / "resources"
    usage = subprocess.run([str(exe), "--help"], cwd=elsewhere, env=_env(installed), capture_output=True,
                           text=True, timeout=120)
    assert usage.returncode == 0 and "predict" in usage.stdout and "install-desktop" in usage.stdout


def test_desktop_entry_and_metainfo_validate():
    desktop = DESKTOP_DIR / f"{APP_ID}.desktop"
    text = desktop.read_text()
    assert f"Icon={APP_ID}\n" in text and f"Exec={APP_ID} %f\n" in text
    if shutil.which("desktop-file-validate"):
        out = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout + out.stderr == ""          # no errors, warnings or hints
    meta = next(DESKTOP_DIR.glob("*.metainfo.xml"))
    component = ET.parse(meta).getroot()
    assert component.find("launchable").text == desktop.name and component.find("icon").text == APP_ID
    if shutil.which("appstreamcli"):
        out = subprocess.run(["appstreamcli", "validate", "--no-net", str(meta)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_icons_exist_at_every_size():
    ET.parse(ICONS_DIR / f"{APP_ID}.svg")
    for size in SIZES:
        with Image.open(ICONS_DIR / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"


def test_window_uses_the_icon(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    sizes = {s.width() for s in w.windowIcon().availableSizes()}
    assert set(SIZES) <= sizes


def test_install_desktop_writes_a_valid_entry_and_uninstalls(tmp_path):
    data = tmp_path / "share"
    command = ["/opt/my apps/deeplab-annotator"]
    written = desktop_install.install(data, command)
    entry = data / "applications" / f"{APP_ID}.desktop"
    assert entry in written
    assert 'Exec="/opt/my apps/deeplab-annotator" %f\n' in entry.read_text()
    for size in SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert list((data / "metainfo").glob("*.metainfo.xml"))
    if shutil.which("desktop-file-validate"):
        out = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout + out.stderr == ""
    removed = desktop_install.uninstall(data)
    assert set(removed) == set(written)
    assert not entry.exists()


def test_exec_line_quoting():
    assert desktop_install.exec_line(["/usr/bin/deeplab-annotator"]) == "/usr/bin/deeplab-annotator"
    assert desktop_install.exec_line(["/a b/p$y", "100%"]) == '"/a b/p\\\\$y" 100%%'


def test_screenshot_smoke_option_quits_when_refined(qtbot, tmp_path, monkeypatch):
    """`deeplab-annotator --screenshot PNG`, which the bundle test uses: picture and exit 0 once refined."""
    from types import SimpleNamespace

    from gui import app as app_module
    from tests.support.gui_fixtures import close_window, open_window
    from tests.support.gui_helpers import make_colour_model, make_folder

    exits = []
    monkeypatch.setattr(app_module, "QApplication", SimpleNamespace(instance=lambda: SimpleNamespace(exit=exits.append)))
    window = open_window(tmp_path)
    try:
        app_module.start(window, make_folder(tmp_path / "images", n=2), make_colour_model(tmp_path / "m.pt"))
        app_module.screenshot_when_ready(window, tmp_path / "shot.png")
        qtbot.waitUntil(lambda: bool(exits), timeout=30000)
        assert exits == [0] and window.ctl.state.crf_labels is not None
        with Image.open(tmp_path / "shot.png") as im:
            assert im.size == (window.width(), window.height())
    finally:
        close_window(window, monkeypatch)


def _requires_dist(installed: Path) -> list[str]:
    meta = next(installed.glob("deeplab_annotator-*.dist-info")) / "METADATA"
    return [line.split(":", 1)[1].strip() for line in meta.read_text(encoding="utf-8").splitlines()
            if line.startswith("Requires-Dist:")]


def test_wheel_needs_no_compiler_pydensecrf_is_an_extra_and_torchvision_is_gone(installed):
    """`pip install deeplab-annotator` builds nothing: the wheel is pure Python, and pydensecrf2 (source only on
    PyPI, a C build) is asked for only by the [reference] and [dev] extras; torchvision by nothing."""
    wheel = next((installed.parent / "dist").glob("deeplab_annotator-*.whl"))
    assert wheel.name.endswith("-py3-none-any.whl")
    requires = _requires_dist(installed)
    assert any(r.startswith("torch") and not r.startswith("torchvision") for r in requires)
    assert not [r for r in requires if r.lower().startswith("torchvision")]
    pydensecrf = [r for r in requires if r.lower().startswith("pydensecrf")]
    assert pydensecrf and all("extra ==" in r for r in pydensecrf), pydensecrf
    assert {r.split("extra ==")[1].strip().strip("'\"") for r in pydensecrf} == {"reference", "dev"}


def test_installed_defaults_write_to_the_users_data_folder_and_the_app_reads_them(installed, tmp_path):
    """Installed, train-demo and eval-demo --write-presets default to $XDG_DATA_HOME/deeplab-annotator, and the
    app finds a model and a preset put there (they win over the shipped ones)."""
    xdg = tmp_path / "xdg"
    own = xdg / APP_ID
    (own / "models").mkdir(parents=True)
    (own / "presets").mkdir()
    shutil.copy2(installed / "engine" / "resources" / "models" / "demo_v1.pt", own / "models" / "demo_v1.pt")
    (own / "presets" / "demo_v1.json").write_text('{"bi_w": 7.5}', encoding="utf-8")
    code = ("import engine.paths as p\n"
            "from engine.crf import all_presets\n"
            "from engine.demo import train, evaluate\n"
            "print(p.WRITABLE); print(p.DEMO_V1); print(all_presets()['demo_v1'].bi_w)\n"
            "print(train.build_parser().parse_args([]).out); print(evaluate.write_preset.__defaults__[0])\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(installed, XDG_DATA_HOME=str(xdg)),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    writable, demo, bi_w, train_out, presets = run.stdout.split()
    assert Path(writable) == own and Path(demo) == own / "models" / "demo_v1.pt" and float(bi_w) == 7.5
    assert Path(train_out) == own / "models" and Path(presets) == own / "presets"


def test_installed_command_answers_version_and_typos(installed, tmp_path):
    exe = installed / "bin" / APP_ID
    version = subprocess.run([str(exe), "--version"], cwd=tmp_path, env=_env(installed), capture_output=True,
                             text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith(f"{APP_ID} ")
    typo = subprocess.run([str(exe), "predcit"], cwd=tmp_path, env=_env(installed), capture_output=True,
                          text=True, timeout=120)
    assert typo.returncode == 2 and "did you mean 'predict'?" in typo.stderr


def test_screenshot_smoke_option_reports_a_question_nobody_answers(qtbot, tmp_path, monkeypatch):
    """A walk found `--screenshot` hanging on a folder whose classes differ from the model's: the question stays
    open. After QUESTION_WAIT_S it is pictured, named, closed unanswered, and the run ends with status 1."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QMessageBox

    from gui import app as app_module
    from tests.support.gui_fixtures import close_window, open_window

    exits = []
    app = SimpleNamespace(instance=lambda: SimpleNamespace(exit=exits.append))
    monkeypatch.setattr(app_module, "QApplication", app)
    monkeypatch.setattr(app_module, "QUESTION_WAIT_S", 0.5)
    window = open_window(tmp_path)
    box = QMessageBox(QMessageBox.Icon.Question, "Which classes?", "Remap?", QMessageBox.StandardButton.Cancel, window)
    try:
        app_module.screenshot_when_ready(window, tmp_path / "shot.png")
        assert box.exec() == QMessageBox.StandardButton.Cancel.value or not box.isVisible()   # closed for us
        qtbot.waitUntil(lambda: bool(exits), timeout=10000)
        assert exits == [1] and (tmp_path / "shot.png").is_file()
    finally:
        close_window(window, monkeypatch)


def test_screenshot_run_gives_the_folder_back(tmp_path):
    """`main.py FOLDER --screenshot PNG` quits without closing its window: it must still release the folder's
    lock (a walk found labels/.lock left behind by every smoke test)."""
    from tests.support.gui_helpers import make_colour_model, make_folder
    from tests.support.paths import ROOT

    folder, model = make_folder(tmp_path / "images", n=1), make_colour_model(tmp_path / "m.pt")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    run = subprocess.run([sys.executable, "main.py", str(folder), "--model", str(model), "--screenshot",
                          str(tmp_path / "shot.png")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (tmp_path / "shot.png").is_file() and not (folder / "labels" / ".lock").exists()


def test_screenshot_of_a_folder_that_asks_while_it_opens_ends_with_status_1(tmp_path):
    """A walk found `--screenshot` hanging (killed after 90 s, no picture) on a folder saved with another model: its
    settings question opens while the folder opens, before the smoke test used to start polling. Now the question
    is pictured and named after QUESTION_WAIT_S (20 s) and the run ends with status 1."""
    import json

    from tests.support.gui_helpers import CLASS_NAMES, make_colour_model, make_folder
    from tests.support.paths import ROOT

    folder = make_folder(tmp_path / "images", n=1)
    saved_with, given = make_colour_model(tmp_path / "a.pt"), make_colour_model(tmp_path / "b.pt", scale=0.003)
    (folder / "labels").mkdir(exist_ok=True)
    (folder / "labels" / "project.json").write_text(json.dumps({
        "format": "deeplab-annotator-project", "version": 1,
        "classes": [{"id": i, "name": n, "color": [40 * i, 90, 200], "hidden": False}
                    for i, n in enumerate(CLASS_NAMES)],
        "model": {"path": str(saved_with), "name": "the model the folder was saved with", "sha256": "0" * 64}}))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    run = subprocess.run([sys.executable, "main.py", str(folder), "--model", str(given), "--screenshot",
                          str(tmp_path / "shot.png")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "it asks:" in run.stdout and (tmp_path / "shot.png").is_file()

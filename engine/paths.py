"""Where the bundled resources live, and where the app writes its own files; one place so the CLI, GUI and tests
agree. Standard library only (setup.py imports it).

Installed (wheel, pipx, PyInstaller), resources/ ships as package data inside the engine package
(engine/resources/, see setup.py) and is found through importlib.resources. In a checkout (or an editable
install) there is no engine/resources/, and the repository's top-level resources/ is used.

What the app writes by default (`train-demo`'s models and samples, `eval-demo --write-presets`) goes to
WRITABLE: resources/ itself in a checkout, as before; the user's data folder (user_data_dir()) when resources/
sits in site-packages, in a bundle, or is read-only, so nothing writes into an installation. Models and presets
found there are read too, and win over the shipped ones of the same name.
"""
import os
import sys
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _find_resources() -> Path:
    packaged = files("engine") / "resources"
    if packaged.is_dir():
        return Path(str(packaged))
    return ROOT / "resources"


RESOURCES = _find_resources()
APP_ID = "deeplab-annotator"  # the .desktop file's and the icon's name, and the user data folder's


def user_data_dir() -> Path:
    """The user's data folder for this app: $XDG_DATA_HOME/deeplab-annotator (~/.local/share/...) on Linux and
    other Unixes, ~/Library/Application Support/deeplab-annotator on macOS, %LOCALAPPDATA%\\deeplab-annotator on
    Windows (the places platformdirs names, without the dependency)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_ID


def is_installed(resources: Path) -> bool:
    """Whether `resources` belongs to an installation the app must not write into: package data of the engine
    package (a wheel, pipx, `pip install --target`), inside site-packages or dist-packages, in a frozen bundle,
    or not writable. A checkout's (or an editable install's) top-level resources/ is none of these."""
    resources = Path(resources)
    if getattr(sys, "frozen", False) or {"site-packages", "dist-packages"} & set(resources.parts):
        return True
    if resources.parent.name == "engine" and (resources.parent / "__init__.py").is_file():
        return True
    return not os.access(resources, os.W_OK)


def writable_resources(resources: Path = RESOURCES) -> Path:
    """Where files the app makes go by default: `resources` in a writable checkout, else user_data_dir()."""
    return user_data_dir() if is_installed(resources) else resources


WRITABLE = writable_resources()
WRITABLE_MODELS_DIR = WRITABLE / "models"
WRITABLE_PRESETS_DIR = WRITABLE / "presets"
WRITABLE_SAMPLES_DIR = WRITABLE / "samples"
MODELS_DIR = RESOURCES / "models"
SAMPLES_DIR = RESOURCES / "samples"
CLASSES_DIR = RESOURCES / "classes"
PRESETS_DIR = RESOURCES / "presets"
ICONS_DIR = RESOURCES / "icons"
DESKTOP_DIR = RESOURCES / "desktop"
# presets are read from these folders in order, a later one winning for the same name
PRESET_DIRS = (PRESETS_DIR,) if WRITABLE == RESOURCES else (PRESETS_DIR, WRITABLE_PRESETS_DIR)


def find_model(name: str) -> Path:
    """A model by file name: the one train-demo wrote to the user's data folder (installed apps), else the
    shipped one."""
    own = WRITABLE_MODELS_DIR / name
    return own if WRITABLE != RESOURCES and own.is_file() else MODELS_DIR / name


DEMO_V1 = find_model("demo_v1.pt")
DEMO_V2 = find_model("demo_v2.pt")
# what an installation ships of resources/ (setup.py, the PyInstaller spec): not labels saved beside the samples
RESOURCE_PATTERNS = ("models/*.pt", "samples/*.png", "samples_gt/*.png", "classes/*.txt", "presets/*.json",
                     "icons/*.svg", "icons/hicolor/*/apps/*.png", "desktop/*.desktop", "desktop/*.metainfo.xml")

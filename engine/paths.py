"""Where the bundled resources live; one place so the CLI, GUI and tests agree.

Installed (wheel, pipx, PyInstaller), resources/ ships as package data inside the engine package
(engine/resources/, see setup.py) and is found through importlib.resources. In a checkout (or an editable
install) there is no engine/resources/, and the repository's top-level resources/ is used.
"""
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _find_resources() -> Path:
    packaged = files("engine") / "resources"
    if packaged.is_dir():
        return Path(str(packaged))
    return ROOT / "resources"


RESOURCES = _find_resources()
MODELS_DIR = RESOURCES / "models"
SAMPLES_DIR = RESOURCES / "samples"
CLASSES_DIR = RESOURCES / "classes"
PRESETS_DIR = RESOURCES / "presets"
ICONS_DIR = RESOURCES / "icons"
DESKTOP_DIR = RESOURCES / "desktop"
DEMO_V1 = MODELS_DIR / "demo_v1.pt"
DEMO_V2 = MODELS_DIR / "demo_v2.pt"
APP_ID = "deeplab-annotator"  # the .desktop file's and the icon's name
# what an installation ships of resources/ (setup.py, the PyInstaller spec): not labels saved beside the samples
RESOURCE_PATTERNS = ("models/*.pt", "samples/*.png", "samples_gt/*.png", "classes/*.txt", "presets/*.json",
                     "icons/*.svg", "icons/hicolor/*/apps/*.png", "desktop/*.desktop", "desktop/*.metainfo.xml")

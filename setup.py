"""What pyproject.toml cannot say declaratively: resources/ ships inside the engine package.

The repository keeps resources/ at the top, but a wheel must not add a generic top-level `resources` to
site-packages, so it is mapped to the package `engine.resources` (engine/paths.py finds it there through
importlib.resources). The desktop entry, icons and AppStream file are also installed as data files under
<prefix>/share, where desktops look for a `pip install --user` or system install.
"""
import sys
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from engine.paths import RESOURCE_PATTERNS  # noqa: E402 (standard library only)


def _data_files() -> list[tuple[str, list[str]]]:
    out = [("share/applications", ["resources/desktop/deeplab-annotator.desktop"]),
           ("share/metainfo", [str(p.relative_to(HERE)) for p in (HERE / "resources/desktop").glob("*.metainfo.xml")]),
           ("share/icons/hicolor/scalable/apps", ["resources/icons/deeplab-annotator.svg"])]
    for png in sorted((HERE / "resources/icons/hicolor").glob("*/apps/*.png")):
        out.append((f"share/icons/hicolor/{png.parts[-3]}/apps", [str(png.relative_to(HERE))]))
    return out


setup(
    packages=find_packages(include=["engine", "engine.*", "gui", "gui.*"]) + ["engine.resources"],
    package_dir={"engine.resources": "resources"},
    package_data={"engine.resources": list(RESOURCE_PATTERNS)},
    data_files=_data_files(),
)

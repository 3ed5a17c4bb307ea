"""The app icon (resources/icons): the SVG plus the rendered PNG sizes, so every size looks crisp."""
from __future__ import annotations

from PySide6.QtGui import QIcon

from engine.paths import APP_ID, ICONS_DIR


def app_icon() -> QIcon:
    icon = QIcon()
    for png in sorted(ICONS_DIR.glob(f"hicolor/*/apps/{APP_ID}.png")):
        icon.addFile(str(png))
    svg = ICONS_DIR / f"{APP_ID}.svg"
    if svg.is_file():
        icon.addFile(str(svg))
    return icon

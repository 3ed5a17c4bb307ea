"""`deeplab-annotator install-desktop [--prefix DIR] [--uninstall]`: put the desktop entry, the icons and the
AppStream file where desktops look for them, $XDG_DATA_HOME (~/.local/share) by default.

A `pip install --user .` or a system-wide install already puts them under <prefix>/share as data files; a
`pipx install .` keeps those inside its own virtual environment and a PyInstaller bundle has none, so this step
copies them out, with Exec= naming the command that ran it (absolute path).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from engine.errors import EngineError
from engine.paths import APP_ID, DESKTOP_DIR, ICONS_DIR

_SPECIAL = set(' \t\n"\'\\><~|&;$*?#()`')


def launcher() -> list[str]:
    """The command line that starts this app the way it was started now."""
    if getattr(sys, "frozen", False):              # PyInstaller bundle
        return [sys.executable]
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if argv0.name == "main.py":
        return [sys.executable, str(argv0.resolve())]
    if argv0.name == APP_ID and argv0.is_file():
        return [str(argv0.absolute())]
    found = shutil.which(APP_ID)
    return [found] if found else [sys.executable, "-m", "engine.cli"]


def exec_line(argv: list[str]) -> str:
    """Quote per the Desktop Entry spec (Exec key): reserved characters in double quotes, `"` `` ` `` `$` and
    backslash escaped, then the string escape of backslashes; `%` doubled."""
    out = []
    for arg in argv:
        arg = arg.replace("%", "%%")
        if any(c in _SPECIAL for c in arg):
            quoted = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            arg = '"' + quoted.replace("\\", "\\\\") + '"'
        out.append(arg)
    return " ".join(out)


def _files() -> dict[str, Path]:
    """Destination (relative to the data dir) -> source."""
    files = {f"applications/{APP_ID}.desktop": DESKTOP_DIR / f"{APP_ID}.desktop",
             f"icons/hicolor/scalable/apps/{APP_ID}.svg": ICONS_DIR / f"{APP_ID}.svg"}
    for png in sorted(ICONS_DIR.glob(f"hicolor/*/apps/{APP_ID}.png")):
        files[f"icons/hicolor/{png.parts[-3]}/apps/{APP_ID}.png"] = png
    for meta in sorted(DESKTOP_DIR.glob("*.metainfo.xml")):
        files[f"metainfo/{meta.name}"] = meta
    missing = [str(src) for src in files.values() if not src.is_file()]
    if missing:
        raise EngineError(f"desktop files missing from the installation: {', '.join(missing)}")
    return files


def _refresh_caches(data_dir: Path) -> None:
    """Tell the desktop about the new entry and icons where the tools exist (missing tools are fine)."""
    for tool, arg in (("update-desktop-database", data_dir / "applications"),
                      ("gtk-update-icon-cache", data_dir / "icons" / "hicolor")):
        exe = shutil.which(tool)
        if exe and arg.is_dir():
            extra = ["-f", "-t", "-q"] if tool.startswith("gtk") else ["-q"]
            subprocess.run([exe, *extra, str(arg)], check=False, capture_output=True)


def install(data_dir: Path, command: list[str] | None = None) -> list[Path]:
    written = []
    for rel, src in _files().items():
        dest = data_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".desktop"):
            lines = src.read_text(encoding="utf-8").splitlines()
            lines = [f"Exec={exec_line(command or launcher())} %f" if ln.startswith("Exec=") else ln for ln in lines]
            dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            shutil.copyfile(src, dest)
        written.append(dest)
    _refresh_caches(data_dir)
    return written


def uninstall(data_dir: Path) -> list[Path]:
    removed = []
    for rel in _files():
        dest = data_dir / rel
        if dest.is_file():
            dest.unlink()
            removed.append(dest)
    _refresh_caches(data_dir)
    return removed


def default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def build_parser() -> argparse.ArgumentParser:
    from engine.console import parser as make_parser

    p = make_parser("install-desktop", "Install the desktop entry, icons and AppStream metadata.")
    p.add_argument("--prefix", type=Path, default=None,
                   help="data directory (default: $XDG_DATA_HOME or ~/.local/share; /usr/local/share for all users)")
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop put there")
    return p


def main(argv: list[str]) -> int:
    from engine.console import error

    args = build_parser().parse_args(argv)
    data_dir = args.prefix or default_data_dir()
    try:
        paths = uninstall(data_dir) if args.uninstall else install(data_dir)
    except (OSError, EngineError) as exc:
        return error(str(exc))
    verb = "removed" if args.uninstall else "installed"
    for path in paths:
        print(f"{verb} {path}")
    if not args.uninstall:
        print(f"launcher: {exec_line(launcher())}")
    return 0

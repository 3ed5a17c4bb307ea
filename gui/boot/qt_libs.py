"""Check that Qt's xcb platform plugin can load on this Linux, and print the one command that installs what is missing.

Qt's own message when the plugin fails ("xcb-cursor0 or libxcb-cursor0 is needed") names one library whatever is
actually missing (on a minimal Debian it was libxcb-icccm4 and libxcb-keysyms1). ``ldd`` on the plugin and on
libQt6XcbQpa lists every shared library that the dynamic loader cannot find; each soname maps to its Debian/Ubuntu
package by the Debian library naming policy (libfoo-bar.so.4 -> libfoo-bar4, libfoo1.so.0 -> libfoo1-0), with the
few exceptions in EXCEPTIONS.

Exit status: 0 when the plugin can load (or xcb is not the platform Qt will use, or this is not Linux), 1 when
libraries are missing (the install command is printed), 2 when PySide6 is not installed.
Run: python -m gui.boot.qt_libs [--quiet]   (--list: the install command for every package the plugin links).
`make run` runs it, and gui.app runs ``check`` before creating the QApplication (about 30 ms), so a missing
library is reported with the fix instead of Qt's abort. Importing this module does not import Qt.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# sonames whose Debian package name does not follow the policy rule
EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libc.so.6": "libc6",
    "libm.so.6": "libc6",
}
# What the xcb plugin links (readelf -d libQt6XcbQpa.so.6 / libqxcb.so, Qt 6.11), as Debian packages: the list the
# README gives for a minimal system. The check itself asks ldd, so it stays right when Qt changes its list.
XCB_PACKAGES = ("libxcb1", "libx11-6", "libx11-xcb1", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0",
                "libxcb-keysyms1", "libxcb-randr0", "libxcb-render0", "libxcb-render-util0", "libxcb-shape0",
                "libxcb-shm0", "libxcb-sync1", "libxcb-util1", "libxcb-xfixes0", "libxcb-xkb1", "libxkbcommon0",
                "libxkbcommon-x11-0", "libgl1", "libegl1", "libfontconfig1", "libfreetype6", "libglib2.0-0")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def package_for(soname: str) -> str:
    """Debian/Ubuntu package that ships ``soname`` (e.g. libxcb-icccm.so.4 -> libxcb-icccm4)."""
    if soname in EXCEPTIONS:
        return EXCEPTIONS[soname]
    m = re.match(r"^(lib.+?)\.so\.(\d+)", soname)
    if not m:
        return soname.split(".so")[0].lower()
    base, major = m.group(1).lower().replace("_", "-"), m.group(2)
    return f"{base}-{major}" if base[-1].isdigit() else f"{base}{major}"


def missing_libraries(ldd_output: str) -> list[str]:
    """Sonames ``ldd`` reported as 'not found', each once, in order."""
    seen: list[str] = []
    for name in _NOT_FOUND.findall(ldd_output):
        if name not in seen:
            seen.append(name)
    return seen


def install_command(packages: list[str], as_root: bool | None = None) -> str:
    """The one apt-get line that installs ``packages`` (sudo unless already root)."""
    as_root = (os.geteuid() == 0) if as_root is None and hasattr(os, "geteuid") else bool(as_root)
    return ("" if as_root else "sudo ") + "apt-get install -y " + " ".join(packages)


def qt_dir() -> Path | None:
    """PySide6's bundled Qt folder, found without importing Qt (which is what may fail)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "Qt"


def xcb_binaries(qt: Path) -> list[Path]:
    """The plugin and the Qt library that carries the xcb code (both are loaded when the platform starts)."""
    found = [qt / "plugins" / "platforms" / "libqxcb.so"] + sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1]
    return [p for p in found if p.is_file()]


def xcb_is_the_platform(env=os.environ) -> bool:
    """Qt will open an X11 (xcb) connection: QT_QPA_PLATFORM names xcb first, or it is unset in an X11 session
    (DISPLAY set, not a Wayland session, where Qt may pick its wayland plugin)."""
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].strip() == "xcb"
    wayland = bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE", "") == "wayland"
    return bool(env.get("DISPLAY")) and not wayland


def loads(binaries: list[Path]) -> bool:
    """True if the dynamic loader opens every binary (and so every library it needs): a few ms, no subprocess."""
    try:
        for b in binaries:
            ctypes.CDLL(str(b), mode=os.RTLD_LAZY)
    except OSError:
        return False
    return True


def check(quiet: bool = False, fast: bool = False) -> int:
    """See the module docstring. ``fast``: try loading the plugin first and ask ldd only if that fails (the app's
    start-up path; `make run` asks ldd every time)."""
    if not sys.platform.startswith("linux") or not xcb_is_the_platform():
        return 0
    qt = qt_dir()
    if qt is None:
        print("PySide6 is not installed in this Python; run `make` (or pip install -e .) first.", file=sys.stderr)
        return 2
    binaries = xcb_binaries(qt)
    ldd = shutil.which("ldd")
    if not binaries or ldd is None or (fast and loads(binaries)):
        return 0  # nothing to check with, or it loads: let Qt take it from here
    out = subprocess.run([ldd, *map(str, binaries)], capture_output=True, text=True, check=False).stdout
    missing = missing_libraries(out)
    if not missing:
        if not quiet:
            print("Qt xcb platform plugin: all system libraries found.")
        return 0
    packages = list(dict.fromkeys(package_for(s) for s in missing))
    print("Qt cannot open a window here: its xcb platform plugin needs system libraries that are missing:\n  "
          + ", ".join(missing), file=sys.stderr)
    if shutil.which("apt-get"):
        print("Install them with:\n  " + install_command(packages), file=sys.stderr)
    else:
        print("Install the packages that provide them (Debian/Ubuntu names: " + " ".join(packages) + ").",
              file=sys.stderr)
    return 1


if __name__ == "__main__":
    if "--list" in sys.argv[1:]:  # every package the plugin links, for a Dockerfile or a fresh machine
        print(install_command(list(XCB_PACKAGES)))
        sys.exit(0)
    sys.exit(check(quiet="--quiet" in sys.argv[1:]))

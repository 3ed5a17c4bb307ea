"""The Qt system-library check (gui.boot.qt_libs): what ldd misses maps to one apt-get command, and the fast
check agrees with ldd on this machine."""
import sys

import pytest

from gui.boot import qt_libs

LDD = """/x/libqxcb.so:
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
/x/libQt6XcbQpa.so.6:
\tlibxcb-icccm.so.4 => not found
"""


def test_missing_qt_libraries_map_to_one_apt_command():
    missing = qt_libs.missing_libraries(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    packages = [qt_libs.package_for(s) for s in missing]
    assert packages == ["libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"]
    assert qt_libs.package_for("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qt_libs.package_for("libX11-xcb.so.1") == "libx11-xcb1"
    assert qt_libs.package_for("libglib-2.0.so.0") == "libglib2.0-0"
    assert qt_libs.install_command(packages, as_root=False) == \
        "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0"


def test_check_prints_the_command_for_what_ldd_misses(monkeypatch, capsys, tmp_path):
    plugin = tmp_path / "plugins" / "platforms" / "libqxcb.so"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"")
    monkeypatch.setattr(qt_libs, "qt_dir", lambda: tmp_path)
    monkeypatch.setattr(qt_libs.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(qt_libs.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": LDD})())
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    assert qt_libs.check() == 1
    err = capsys.readouterr().err
    assert "apt-get install -y libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in err
    monkeypatch.setattr(qt_libs.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "ok\n"})())
    assert qt_libs.check(quiet=True) == 0
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")        # xcb is not used: nothing to check
    assert qt_libs.check() == 0


def test_the_fast_check_agrees_with_ldd_on_this_machine():
    """gui.app tries dlopen first (no subprocess); it must say 'loads' exactly when ldd finds every library."""
    qt = qt_libs.qt_dir()
    ldd = qt_libs.shutil.which("ldd")
    if not sys.platform.startswith("linux") or qt is None or ldd is None:
        pytest.skip("Linux with PySide6 and ldd only")
    binaries = qt_libs.xcb_binaries(qt)
    assert binaries, "the xcb plugin is not where the check looks"
    out = qt_libs.subprocess.run([ldd, *map(str, binaries)], capture_output=True, text=True).stdout
    assert qt_libs.loads(binaries) == (not qt_libs.missing_libraries(out))

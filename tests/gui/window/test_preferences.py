"""gui.window.preferences: every QSettings key in one typed place. Values round-trip through an ini file (as
QSettings stores them on Linux), a value of the wrong type reads as the default, and the lists and maps keep
their shape."""
from PySide6.QtCore import QSettings

from gui.window.preferences import RESUME_LIMIT, Preferences


def _prefs(tmp_path):
    return Preferences(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_values_round_trip_through_the_ini_file_with_their_types(tmp_path):
    p = _prefs(tmp_path)
    assert (p.autosave, p.auto_refine, p.opacity, p.tool, p.device) == (False, True, 50, "pan", "auto")
    p.autosave, p.opacity, p.tool, p.crf_backend = True, 70, "brush", "fast"
    p.qsettings.sync()
    again = _prefs(tmp_path)                       # a new window reads the file
    assert (again.autosave, again.opacity, again.tool) == (True, 70, "brush")
    assert isinstance(again.autosave, bool) and isinstance(again.opacity, int)
    assert again.crf_backend == "fast" and not hasattr(again, "crf_params")   # CRF values are each folder's


def test_a_value_of_the_wrong_type_reads_as_the_default(tmp_path):
    p = _prefs(tmp_path)
    p.qsettings.setValue("view/opacity", "lots")
    p.qsettings.setValue("resume", "[1, 2]")
    assert p.opacity == 50 and p.resume == {}


def test_recent_folders_and_the_resume_map_keep_their_shape(tmp_path):
    p = _prefs(tmp_path)
    p.qsettings.setValue("recent_folders", "/only/one")   # ini gives a lone entry back as a plain string
    assert p.recent_folders == ["/only/one"]
    for i in range(RESUME_LIMIT + 5):
        p.remember_image(f"/folder{i}", f"img{i}.png")
    p.remember_image("/folder7", "again.png")            # most recent last
    resume = _prefs(tmp_path).resume
    assert len(resume) == RESUME_LIMIT and list(resume)[-1] == "/folder7" and resume["/folder7"] == "again.png"
    assert "/folder0" not in resume


def test_every_key_is_declared_once():
    names = [v.name for v in vars(Preferences).values() if hasattr(v, "name") and hasattr(v, "default")]
    assert len(names) == len(set(names)) and "crf/backend" in names and "edit/superpixel_size" in names


def test_a_settings_file_that_cannot_be_kept_is_said(tmp_path):
    """A walk put a folder where the settings file goes, and a file where its folder goes: every setting was
    forgotten at each start and nothing said so."""
    assert _prefs(tmp_path).storage_problem() == ""
    (tmp_path / "settings.ini").mkdir()
    p = _prefs(tmp_path)
    p.opacity = 70
    assert "cannot be kept" in p.storage_problem() and "settings.ini" in p.storage_problem()
    (tmp_path / "blocker").write_text("x")
    q = Preferences(QSettings(str(tmp_path / "blocker" / "sub" / "s.ini"), QSettings.Format.IniFormat))
    q.opacity = 70
    assert "cannot be kept" in q.storage_problem()


def test_a_device_that_cannot_be_used_says_what_runs_instead_and_is_not_kept(qtbot, tmp_path, monkeypatch):
    """A walk stored device=quantum: each start warned "unknown device 'quantum'", never which device ran."""
    from gui.main_window import MainWindow
    from tests.support.gui_fixtures import close_window
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("device", "quantum")
    errors = []
    monkeypatch.setattr(MainWindow, "show_error", lambda self, message: errors.append(message))
    w = MainWindow(settings)
    try:
        assert any("unknown device 'quantum'; using CPU" in e and "(auto)" in e for e in errors), errors
        assert settings.value("device") == "auto"
    finally:
        close_window(w, monkeypatch)

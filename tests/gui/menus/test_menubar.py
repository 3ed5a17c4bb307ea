"""gui.menus.menubar is the one place that orders the menus: File, Edit, View, Navigate, Image, Model, CRF, Help,
whatever order the window builds its parts in; each feature's actions land in their menu."""
from gui.menus.menubar import MENU_ORDER
from tests.support.gui_fixtures import window  # noqa: F401 (fixtures)


def _titles(menu):
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_the_menus_come_in_one_declared_order(window):
    bar = [a.text() for a in window.menuBar().actions()]
    assert bar == list(MENU_ORDER)
    assert bar.index("&CRF") < bar.index("&Help")          # it used to land after Help


def test_feature_actions_land_in_their_menus(window):
    menus, learn = window.menus, window.learn
    edit = menus["&Edit"].actions()
    assert edit.index(learn.adapt_action) == edit.index(window.editing.auto_refine) + 1
    assert {learn.carry_action, learn.reset_action, learn.train_action} <= set(menus["&Model"].actions())
    assert _titles(menus["&CRF"]) == [learn.tune_action.text()]
    file_menu = menus["&File"].actions()
    assert window.prelabel.action in file_menu and window.lock_actions.take_over_action in file_menu
    assert file_menu.index(window.recent.menu.menuAction()) == file_menu.index(window.open_action) + 1

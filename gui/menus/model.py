"""Model menu: load a checkpoint (any format the engine reads), pick the class list, the device and the inference
pipeline (the checkpoint's own is ticked and marked; choosing the other one runs the same weights that way).

The menu only asks; the controller does the work and reports back (device_changed, errors).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu

from engine.errors import EngineError
from engine.labels import BUILTIN_CLASS_LISTS, load_class_list
from engine.models.device import available_devices
from engine.models.pipelines import PIPELINES
from engine.paths import DEMO_V1, DEMO_V2

CHECKPOINT_FILTER = "Model files (*.pt *.pth *.caffemodel *.ckpt);;All files (*)"


class ModelMenu(QMenu):
    load_requested = Signal(object)          # Path
    class_list_requested = Signal(object)    # ClassList, or None = the model's own
    device_requested = Signal(str)
    pipeline_requested = Signal(str)
    error = Signal(str)

    def __init__(self, parent=None):
        super().__init__("&Model", parent)
        self.load_action = QAction("&Load checkpoint…", self)
        self.load_action.setShortcut(QKeySequence("Ctrl+L"))
        self.load_action.triggered.connect(self._pick_checkpoint)
        self.addAction(self.load_action)
        self.model_group = QActionGroup(self)    # the checked entry is the model loaded now
        self.model_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.other_model = QAction("", self, checkable=True)   # a checkpoint that is not a demo model
        self.other_model.setVisible(False)
        self.other_model.triggered.connect(lambda: self.other_model.data() and self.load_requested.emit(
            Path(self.other_model.data())))
        self.model_group.addAction(self.other_model)
        self.addAction(self.other_model)
        self.model_actions: dict[str, QAction] = {}
        self._loaded_action: QAction | None = None
        self.aboutToShow.connect(self._sync_checks)
        for label, path in (("Demo model v1 (LargeFOV)", DEMO_V1), ("Demo model v2 (ASPP)", DEMO_V2)):
            act = QAction(label, self, checkable=True)
            act.setEnabled(path.is_file())
            act.setToolTip(str(path))
            act.triggered.connect(lambda _=False, p=path: self.load_requested.emit(p))
            self.model_group.addAction(act)
            self.model_actions[str(path.resolve())] = act
            self.addAction(act)
        self.addSeparator()

        self.class_menu = self.addMenu("&Class list")
        own = self.class_menu.addAction("From the model")
        own.triggered.connect(lambda: self.class_list_requested.emit(None))
        for label, factory in BUILTIN_CLASS_LISTS.items():
            act = self.class_menu.addAction(label)
            act.triggered.connect(lambda _=False, f=factory: self._emit_class_list(f))
        self.class_menu.addSeparator()
        from_file = self.class_menu.addAction("From file…")
        from_file.triggered.connect(self._pick_class_file)

        self.device_menu = self.addMenu("&Device")
        self.device_group = QActionGroup(self)
        self.device_group.setExclusive(True)
        for name in available_devices():
            act = self.device_menu.addAction(name)
            act.setCheckable(True)
            act.setData(name)
            self.device_group.addAction(act)
            act.triggered.connect(lambda _=False, n=name: self.device_requested.emit(n))

        self.pipeline_menu = self.addMenu("&Pipeline")
        self.pipeline_menu.setToolTipsVisible(True)
        self.pipeline_group = QActionGroup(self)
        self.pipeline_group.setExclusive(True)
        for name, what in PIPELINES.items():
            act = self.pipeline_menu.addAction(name)
            act.setCheckable(True)
            act.setData(name)
            act.setToolTip(what)
            act.setEnabled(False)  # until a model is loaded
            self.pipeline_group.addAction(act)
            act.triggered.connect(lambda _=False, n=name: self.pipeline_requested.emit(n))

    def set_pipeline(self, current: str | None, own: str | None) -> None:
        """Tick the pipeline the model runs by; mark the checkpoint's own one ("from the checkpoint")."""
        for act in self.pipeline_group.actions():
            name = act.data()
            act.setEnabled(current is not None)
            act.setChecked(name == current)
            act.setText(f"{name} (from the checkpoint)" if name == own else name)
        self.pipeline_menu.setTitle(f"&Pipeline: {current}" if current else "&Pipeline")

    def set_loaded(self, path, name: str = "") -> None:
        """Tick the entry of the model now loaded (a checkpoint of the user's gets an entry of its own)."""
        key = str(Path(path).resolve())
        act = self.model_actions.get(key)
        if act is None:
            act = self.other_model
            act.setText(f"Loaded: {name or Path(path).name} ({Path(path).name})")
            act.setToolTip(key)
            act.setData(key)
            act.setVisible(True)
        act.setChecked(True)
        self._loaded_action = act

    def _sync_checks(self) -> None:
        """A load that failed must not leave its entry ticked: the tick is the model in use."""
        if self._loaded_action is not None:
            self._loaded_action.setChecked(True)
        elif self.model_group.checkedAction() is not None:
            self.model_group.checkedAction().setChecked(False)

    def loaded_action(self) -> QAction | None:
        return self.model_group.checkedAction()

    def set_device_checked(self, pref: str) -> None:
        for act in self.device_group.actions():
            act.setChecked(act.data() == pref)

    def _pick_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parentWidget(), "Load checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.load_requested.emit(Path(path))

    def _emit_class_list(self, factory) -> None:
        try:
            self.class_list_requested.emit(factory())
        except EngineError as exc:
            self.error.emit(str(exc))

    def _pick_class_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parentWidget(), "Class list (one name per line)", "",
                                              "Text files (*.txt);;All files (*)")
        if path:
            self._emit_class_list(lambda: load_class_list(path))

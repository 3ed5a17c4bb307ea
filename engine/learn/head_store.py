"""What the adapted head learnt, kept in the folder: labels/.model/<model sha256[:16]>.npz, one file per base model.

Saved atomically with every save of an image, restored when the folder is reopened with the same model, so a class
the strokes taught is still predicted tomorrow. The file is a NumPy archive read with allow_pickle=False (no code
can run from it): the residual's weight, bias, feature scale and pixel colour term (absent in older files: zeros),
and a JSON header with the format, the base model's SHA-256, the folder's class names, the channel source and the
teaching counts. One file per model, so switching models and back keeps both. A file that cannot be read, or that
names another model or another class count than its place says, is moved to labels/.model/damaged/ with a
.why.txt, like a damaged journal entry, and the session starts from the network's own head.

Between saves the head also goes to the recovery journal (``JournalledHead``: labels/.recovery/head/), with each
autosave of the edits that taught it, so a crash restores the head those edits were shown with instead of teaching
it again from their locks (which is another fit and shows other labels).
"""
from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import EngineError, LabelIOError
from ..folder.journal import default_recovery_dir
from ..io.atomic import explain_os_error, move_aside, write_bytes_atomic
from ..models.folder_head import N_PIXEL
from .adapt import HeadState, residual_parts, resize_rows

log = logging.getLogger(__name__)

FORMAT = "deeplab-annotator-head/1"
DIRNAME = ".model"
DAMAGED_DIRNAME = "damaged"
MAX_BYTES = 64 << 20      # 255 classes x 2048+6 channels of float32 is 2 MB; anything far larger is not ours


class HeadFileError(EngineError):
    """A saved head that cannot be used (damaged, or made for another model); ``moved_to``: where it was put."""

    def __init__(self, path: Path, reason: str, moved_to: Path | None = None, then: str = ""):
        where = f"; it was moved to {moved_to}" if moved_to else ""
        then = then or "The model starts from its own head; your labels are untouched."
        super().__init__(f"The learnt head {path} could not be restored: {reason}{where}. {then}")
        self.path, self.reason, self.moved_to = path, reason, moved_to


JOURNAL_THEN = ("The restored edits teach the model again from the head saved with the folder, so the labels the "
                "model makes may differ a little from those shown before; your hand edits are all there.")


@dataclass(frozen=True)
class HeadStore:
    """Where one folder keeps the head learnt on top of one base model (its SHA-256); ``folder``: the folder's
    labels/.model/ (or the journal's head folder)."""
    labels_dir: Path
    model_sha256: str
    folder: Path | None = None

    @property
    def path(self) -> Path:
        folder = self.folder if self.folder is not None else Path(self.labels_dir) / DIRNAME
        return folder / f"{self.model_sha256[:16]}.npz"

    def save(self, state: HeadState, class_names, source, session: dict | None = None) -> Path | None:
        """Write ``state`` (a residual head) atomically; an unadapted head removes the file. ``session``: what the
        journal keeps beside it (JournalledHead). Raises EngineError (LabelIOError) when the disk refuses."""
        path, data = self.path, self.encode(state, class_names, source, session)
        if data is None:
            _unlink(path)
            return None
        _make_folder(path.parent)
        write_bytes_atomic(path, data)
        return path

    def stage(self, txn, state: HeadState, class_names, source) -> bytes | None:
        """Put ``state`` in a save transaction of the labels folder (engine.io.transaction), so the head file is
        committed with the labels it learnt from: a kill between them once left the labels new and the head a save
        behind. An unadapted head removes the file in the same commit. Returns the bytes staged (None: removed)."""
        path, data = self.path, self.encode(state, class_names, source)
        if data is None:
            txn.remove(path)
            return None
        _make_folder(path.parent)
        txn.stage(path, data)
        return data

    def encode(self, state: HeadState, class_names, source, session: dict | None = None) -> bytes | None:
        """The head file's bytes for ``state``; None for an unadapted head (no file)."""
        if state is None or state.is_original:
            return None
        if state.kind != "residual":
            raise EngineError("only the residual head is kept in the folder")
        weight, bias, scale, pixel = residual_parts(state.tensors)
        header = {"format": FORMAT, "model_sha256": self.model_sha256, "class_names": [str(n) for n in class_names],
                  "source": [int(s) for s in source], "strokes": int(state.strokes),
                  "images": sorted(str(i) for i in state.images),
                  "taught": [[int(c), int(n), sorted(str(i) for i in images)] for c, n, images in state.taught],
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if session is not None:
            header["session"] = session
        buf = io.BytesIO()
        np.savez(buf, weight=weight.numpy().astype(np.float32), bias=bias.numpy().astype(np.float32),
                 scale=np.float32(float(scale)), pixel=pixel.numpy().astype(np.float32),
                 header=np.frombuffer(json.dumps(header).encode(), np.uint8))
        return buf.getvalue()

    def load(self, n_classes: int, class_names=None, channels: int | None = None) -> HeadState | None:
        """The saved head (None when there is none). Raises HeadFileError after moving a bad file aside. With
        ``class_names`` (the folder's now) its rows are matched to them by name (by_name); with ``channels`` (the
        feature channels a row reads, HeadAdapter.feature_channels) a file made for other features is bad."""
        found = self.load_with_session(n_classes, class_names, channels)
        return None if found is None else found[0]

    def load_with_session(self, n_classes: int, class_names=None, channels: int | None = None
                          ) -> tuple[HeadState, dict] | None:
        """The saved head and the journal's session header ({} in the folder's file), or None."""
        path = self.path
        if not path.is_file():
            return None
        state, session, names = self._checked(path, n_classes, channels)
        return (state if class_names is None else by_name(state, names, class_names)), session

    def relabel(self, class_names, source) -> Path | None:
        """The folder's class list was edited (ids are stable: a class renamed, added at the end, the last one
        deleted): the saved head's rows and names follow the ids, and nothing it learnt changes. Without this a
        class deleted and another added in its id inherited its learning on reopening (a walk: 'rubber', never
        painted, came back 'learnt (1)' and took the deleted 'wood''s 839 px). Raises HeadFileError (a bad file,
        moved aside) or EngineError (the disk refuses)."""
        path = self.path
        if not path.is_file():
            return None
        state, _, _ = self._checked(path, len(class_names))
        return self.save(resize_rows(state, len(class_names)), class_names, source)   # (the folder's file: no session)

    def _checked(self, path: Path, n_classes: int, channels: int | None = None) -> tuple[HeadState, dict, list]:
        """_read, with a file that cannot be used moved aside as HeadFileError; with ``channels``, a file whose rows
        read other features cannot (a walk: every image then failed in the network)."""
        try:
            state, session, names = self._read(path, n_classes)
            width = int(state.tensors[0].shape[1])
            if channels is not None and width != channels:
                raise _Bad(f"its rows read {width} feature channels, and this model gives {channels}")
            return state, session, names
        except RecursionError as exc:   # a header nested thousands deep (a walk: the window hung on opening)
            raise HeadFileError(path, "its header is nested too deep to be ours", _set_aside(path, "nested header")) \
                from exc
        except (_Bad, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
            reason = str(exc) if isinstance(exc, _Bad) else f"it is not a readable head file ({exc})"
            raise HeadFileError(path, reason, _set_aside(path, reason)) from exc

    def _read(self, path: Path, n_classes: int) -> tuple[HeadState, dict, list]:
        if path.stat().st_size > MAX_BYTES:
            raise _Bad(f"it is {path.stat().st_size} bytes, far more than a head takes")
        with zipfile.ZipFile(path) as zf:   # a compressed member could unpack to far more than the file holds
            members = zf.infolist()
            if len(members) > 8 or sum(m.file_size for m in members) > MAX_BYTES:
                raise _Bad("it unpacks to far more than a head takes")
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode("utf-8"))
            weight, bias, scale = z["weight"], z["bias"], z["scale"]
            pixel = z["pixel"] if "pixel" in z.files else np.zeros((weight.shape[0], N_PIXEL), np.float32)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise _Bad(f"it is not a {FORMAT} file")
        if header.get("model_sha256") != self.model_sha256:
            raise _Bad(f"it was learnt on another model (SHA-256 {str(header.get('model_sha256'))[:16]}…)")
        if weight.ndim != 2 or bias.shape != (weight.shape[0],) or weight.dtype != np.float32 or \
                not np.isfinite(weight).all() or not np.isfinite(bias).all() or not np.isfinite(scale) or scale <= 0 \
                or pixel.shape != (weight.shape[0], N_PIXEL) or pixel.dtype != np.float32 \
                or not np.isfinite(pixel).all():
            raise _Bad("its weights are malformed")
        if len(header.get("class_names", ())) != weight.shape[0]:
            raise _Bad("its class list does not match its weights")
        taught = tuple((int(c), int(n), frozenset(str(i) for i in images))
                       for c, n, images in header.get("taught", ()) if 0 <= int(c) < n_classes)
        session = _session(header.get("session", {}))
        state = HeadState("residual", (torch.from_numpy(weight.copy()), torch.from_numpy(bias.copy()),
                                       torch.tensor(float(scale)), torch.from_numpy(pixel.copy())),
                          strokes=int(header.get("strokes", 0)), images=frozenset(header.get("images", ())),
                          taught=taught, fitted_on=session.get("fitted_on", ""))
        return state, session, [str(n) for n in header["class_names"]]


def by_name(state: HeadState, saved_names, class_names) -> HeadState:
    """``state`` (rows in ``saved_names``' order) with one row per class of ``class_names``: each takes the row of
    its name, a class the file does not name starts untaught (a zero row), a name the folder no longer has is
    dropped. A file whose names are the folder's is returned as it is (the usual case: class edits relabel the
    file, HeadStore.relabel); this matters for a file left by an older version or a crash between an edit and
    its relabelling."""
    saved, now = [str(n) for n in saved_names], [str(n) for n in class_names]
    if saved == now:
        return state
    row_of = {n: i for i, n in reversed(list(enumerate(saved)))}
    rows = [row_of.get(n, -1) for n in now]
    weight, bias, scale, pixel = residual_parts(state.tensors)
    w2, b2, p2 = torch.zeros(len(now), weight.shape[1]), torch.zeros(len(now)), torch.zeros(len(now), pixel.shape[1])
    for f, r in enumerate(rows):
        if r >= 0:
            w2[f], b2[f], p2[f] = weight[r], bias[r], pixel[r]
    new_id = {r: f for f, r in enumerate(rows) if r >= 0}
    taught = tuple((new_id[c], n, images) for c, n, images in state.taught if c in new_id)
    return HeadState(state.kind, (w2, b2, scale, p2), state.strokes, state.images, taught=taught,
                     fitted_on=state.fitted_on)


class _Bad(Exception):
    pass


def _set_aside(path: Path, reason: str) -> Path | None:
    """Move a bad file to damaged/ beside it, with a .why.txt (never deleted: a person may want to look at it)."""
    try:
        return move_aside(path, path.parent / DAMAGED_DIRNAME, reason)
    except OSError as exc:
        log.warning("could not move the damaged head file %s aside: %s", path, exc)
        return None


JOURNAL_DIRNAME = "head"
_ORIGINAL = ".original.json"


@dataclass(frozen=True)
class JournalledHead:
    """The head as the last autosave left it (labels/.recovery/head/<sha16>.npz), with the session facts a restore
    needs to show what was shown: which image the head was last fitted on (that image predicts with it ungated),
    and per image the strokes in effect and the digest of the locks the head learnt there (an image whose locks are
    the learnt ones is not taught again). The network's own head (Reset, or nothing learnt yet) is a small
    <sha16>.original.json, so a crash after Reset does not bring back the folder's older head file."""
    labels_dir: Path
    model_sha256: str

    @property
    def folder(self) -> Path:
        return _journal_folder(self.labels_dir)

    @property
    def store(self) -> HeadStore:
        return HeadStore(self.labels_dir, self.model_sha256, self.folder)

    @property
    def original_marker(self) -> Path:
        return self.folder / f"{self.model_sha256[:16]}{_ORIGINAL}"

    def save(self, state: HeadState, class_names, source, learnt: dict[str, tuple[int, bytes | None]]) -> None:
        """Journal ``state`` and ``learnt`` (image id -> (strokes in effect, locks digest or None)). Raises
        EngineError when the disk refuses."""
        session = {"fitted_on": state.fitted_on if state is not None else "",
                   "learnt": {str(i): [int(n), key.hex() if key else None] for i, (n, key) in learnt.items()}}
        _make_folder(self.folder)
        if state is None or state.is_original:
            write_bytes_atomic(self.original_marker, json.dumps({"format": FORMAT, "session": session}).encode())
            _unlink(self.store.path)
        else:
            self.store.save(state, class_names, source, session)
            _unlink(self.original_marker)

    def load(self, n_classes: int, class_names=None, channels: int | None = None
             ) -> tuple[HeadState | None, dict[str, tuple[int, bytes | None]]] | None:
        """(the journalled head, None for the network's own; what each image taught), or None when nothing is
        journalled for this model. Raises HeadFileError after moving a bad file aside. ``class_names``: as
        HeadStore.load."""
        try:
            found = self.store.load_with_session(n_classes, class_names, channels)
        except HeadFileError as exc:
            raise HeadFileError(exc.path, exc.reason, exc.moved_to, JOURNAL_THEN) from exc
        if found is not None:
            state, session = found
            return state, session["learnt"]
        marker = self.original_marker
        if not marker.is_file():
            return None
        try:
            if marker.stat().st_size > 1 << 20:
                raise _Bad("it is far larger than a journal note")
            header = json.loads(marker.read_bytes().decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise _Bad(f"it is not a {FORMAT} note")
            return None, _session(header.get("session", {}))["learnt"]
        except (_Bad, OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            reason = str(exc) if isinstance(exc, _Bad) else f"it is not a readable journal note ({type(exc).__name__})"
            raise HeadFileError(marker, reason, _set_aside(marker, reason), JOURNAL_THEN) from exc


def drop_journalled(labels_dir: Path) -> None:
    """No unsaved edits are left in a folder's journal: no journalled head is needed, for any model (the folder's
    head files are current). Raises EngineError when the disk refuses."""
    folder = _journal_folder(labels_dir)
    for pattern in ("*.npz", "*" + _ORIGINAL):
        for path in (folder.glob(pattern) if folder.is_dir() else ()):
            _unlink(path)


def _journal_folder(labels_dir: Path) -> Path:
    return default_recovery_dir(labels_dir) / JOURNAL_DIRNAME


def head_folders(labels_dir: str | Path) -> tuple[Path, Path]:
    """Where a folder keeps heads: its head files and the journal's (the folder's writer sweeps their temporary
    files when it opens the folder, as it does the labels')."""
    return Path(labels_dir) / DIRNAME, _journal_folder(Path(labels_dir))


def _make_folder(folder: Path) -> None:
    """A read-only or full disk is the caller's EngineError (said once, the edits kept), not a raw OSError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:   # a file where the folder goes (a walk got a bare '[Errno 17] File exists')
        raise LabelIOError(f"could not create the folder {folder}: a file of that name is in the way. Nothing was "
                           f"changed on disk; your edits are still in memory. Move that file away") from None
    except OSError as exc:
        raise LabelIOError(f"could not create the folder {folder}: {explain_os_error(exc)}. Nothing was changed on "
                           f"disk; your edits are still in memory") from exc


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise EngineError(f"could not remove {path}: {exc}") from exc


def _session(raw) -> dict:
    """The journal's session header, checked: {"fitted_on": image id, "learnt": {id: (count, digest or None)}}."""
    if not isinstance(raw, dict):
        raise _Bad("its session header is malformed")
    fitted_on = raw.get("fitted_on", "")
    learnt = raw.get("learnt", {})
    if not isinstance(fitted_on, str) or not isinstance(learnt, dict) or len(learnt) > 1_000_000:
        raise _Bad("its session header is malformed")
    out = {}
    for image_id, entry in learnt.items():
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], int) or entry[0] < 0 or \
                not (entry[1] is None or (isinstance(entry[1], str) and len(entry[1]) <= 128)):
            raise _Bad("its session header is malformed")
        out[image_id] = (entry[0], bytes.fromhex(entry[1]) if entry[1] else None)
    return {"fitted_on": fitted_on, "learnt": out}

"""Provenance sidecar per label file: which model, checkpoint and CRF settings made it, and which pixels a person
edited, so a label can be audited or reproduced later. Stored as <label stem>.provenance.json beside the PNG.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LabelIOError
from .atomic import write_bytes_atomic
from .exports import rle_decode, rle_encode

if TYPE_CHECKING:  # only for the annotation; keeps this module free of the CRF package's imports
    from ..crf.params import CRFParams

__all__ = ["Provenance", "make_provenance", "sidecar_path", "write_provenance", "read_provenance",
           "encode_provenance", "FORMAT", "ORIGIN_HAND", "ORIGIN_MACHINE"]

FORMAT = "deeplab-annotator-provenance/1"
# Who wrote the label file. A label saved in the app is a person's decision and must never be overwritten by a
# batch run; a machine label (main.py prelabel / predict) is a proposal nobody has reviewed yet. Sidecars written
# before this field existed were all saved by hand, hence the default.
ORIGIN_HAND = "hand"
ORIGIN_MACHINE = "machine"


@dataclass(frozen=True)
class Provenance:
    """Everything recorded about how one label map came to be (JSON primitives only, plus the RLE dict)."""

    image: str
    label_sha256: str  # sha256 of the (H,W) uint8 label array bytes, row-major (not of the PNG file)
    height: int
    width: int
    # sha256 of the label PNG file's bytes as written (what `sha256sum cat.png` prints); "" in sidecars written
    # before it existed. label_sha256 survives a re-encoding of the same pixels, this one checks the file itself.
    label_file_sha256: str = ""
    model_name: str = ""
    model_arch: str = ""
    checkpoint_sha256: str = ""
    checkpoint_format: str = ""
    model_pipeline: str = ""  # the inference pipeline the network ran by (caffe / kazuto)
    crf_backend: str = ""
    crf_params: dict | None = None
    # the band choice and scaling the image was read with (engine.io.scaling.ImageScaling.describe); "" in
    # sidecars written before it existed, which read with the default
    image_scaling: str = ""
    edited_pixels: int = 0
    edited_rle: dict = field(default_factory=dict)
    created: str = ""
    origin: str = ORIGIN_HAND
    format: str = FORMAT

    @property
    def machine_made(self) -> bool:
        """True for labels written by a batch run and not saved by a person since."""
        return self.origin == ORIGIN_MACHINE

    def edited_mask(self) -> np.ndarray:
        """(H,W) bool of the hand-edited (locked) pixels; LabelIOError if the RLE does not describe (H,W)."""
        if not self.edited_rle:
            return np.zeros((self.height, self.width), bool)
        rle = self.edited_rle
        size = rle.get("size") if isinstance(rle, dict) else None
        if not isinstance(size, (list, tuple)) or [int(v) for v in size if isinstance(v, int)] != \
                [self.height, self.width] or not isinstance(rle.get("counts"), (str, bytes)):
            raise LabelIOError(f"provenance of {self.image}: its edited-pixel mask does not describe a "
                               f"{self.width}x{self.height} label map")
        return rle_decode(rle)

    def to_dict(self) -> dict:
        return asdict(self)

    def for_file(self, png: bytes) -> "Provenance":
        """This record with label_file_sha256 set from the label PNG's bytes, as they are about to be written."""
        return replace(self, label_file_sha256=hashlib.sha256(png).hexdigest())

    @classmethod
    def from_dict(cls, data: dict) -> "Provenance":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def make_provenance(labels: np.ndarray, locked: np.ndarray, image: str, *, loaded=None,
                    crf_params: CRFParams | None = None, crf_backend: str = "", now: datetime | None = None,
                    origin: str = ORIGIN_HAND, image_scaling: str = "") -> Provenance:
    """Record for labels (H,W) uint8 as saved, locked (H,W) bool; `loaded` is a LoadedModel (or None if hand-made).

    crf_params None means the CRF was not applied to this label. origin: ORIGIN_HAND (saved in the app) or
    ORIGIN_MACHINE (written by a batch run without review).
    """
    if origin not in (ORIGIN_HAND, ORIGIN_MACHINE):
        raise ValueError(f"origin must be {ORIGIN_HAND!r} or {ORIGIN_MACHINE!r}, got {origin!r}")
    labels = np.asarray(labels)
    locked = np.asarray(locked, dtype=bool)
    if labels.ndim != 2 or labels.dtype != np.uint8 or locked.shape != labels.shape:
        raise ValueError(f"labels must be (H,W) uint8 with a same-shape lock mask, got {labels.shape} "
                         f"{labels.dtype} and {locked.shape}")
    spec = getattr(loaded, "spec", None)
    when = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return Provenance(
        image=str(image),
        label_sha256=hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest(),
        height=int(labels.shape[0]), width=int(labels.shape[1]),
        model_name=str(getattr(spec, "name", "") or (Path(loaded.path).stem if loaded is not None else "")),
        model_arch=str(getattr(spec, "arch", "")),
        checkpoint_sha256=str(getattr(loaded, "sha256", "") or ""),
        checkpoint_format=str(getattr(loaded, "source_format", "") or ""),
        model_pipeline=str(getattr(spec, "pipeline", "") or ""),
        crf_backend=crf_backend if crf_params is not None else "",
        crf_params=crf_params.to_dict() if crf_params is not None else None,
        image_scaling=str(image_scaling),
        edited_pixels=int(locked.sum()),
        edited_rle=rle_encode(locked),
        created=when,
        origin=origin,
    )


def sidecar_path(label_path: str | Path) -> Path:
    """labels/cat.png -> labels/cat.provenance.json."""
    label_path = Path(label_path)
    return label_path.with_name(label_path.stem + ".provenance.json")


def encode_provenance(record: Provenance) -> bytes:
    """The sidecar's bytes (JSON; names that are not valid UTF-8 stay escaped, so any file name round-trips)."""
    return json.dumps(record.to_dict(), indent=1).encode("utf-8")


def write_provenance(label_path: str | Path, record: Provenance) -> Path:
    """Write the sidecar of a label file atomically; raises LabelIOError on disk problems."""
    path = sidecar_path(label_path)
    write_bytes_atomic(path, encode_provenance(record))
    return path


def read_provenance(label_path: str | Path) -> Provenance | None:
    """The sidecar of a label file, or None if it has none; LabelIOError if it is unreadable."""
    path = sidecar_path(label_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelIOError(f"provenance file {path} is unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LabelIOError(f"{path} is not a {FORMAT} file")
    try:
        return Provenance.from_dict(data)
    except TypeError as exc:
        raise LabelIOError(f"provenance file {path} is missing fields ({exc})") from exc

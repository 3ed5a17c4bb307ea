"""Journal entries written by hand (valid or damaged) for the journal, recovery and attack tests."""
from __future__ import annotations

import io
import json
import os
import time

import numpy as np

from engine.folder.journal_entry import FORMAT

NON_UTF8 = os.fsdecode(b"\xe9t\xe9.png")   # a Latin-1 file name on a UTF-8 system


def journal_entry(image_id="a.png", labels=None, locked_bits=None, compress=True, **changes) -> bytes:
    labels = np.zeros((4, 5), np.uint8) if labels is None else labels
    header = {"format": FORMAT, "image_id": image_id, "saved_at": time.time(), "shape": list(labels.shape),
              "edited_pixels": 1, "meta": {"base": "model"}}
    header.update(changes)
    locked = np.packbits(np.ones(labels.size, bool)) if locked_bits is None else locked_bits
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, labels=labels, locked=locked,
                                                    header=np.array(json.dumps(header)))
    return buf.getvalue()

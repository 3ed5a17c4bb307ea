"""The open image's data, Qt-free: its state and which label map wins (state.py), its derived status (status.py),
hand edits with locked pixels and region undo records (edits.py), and superpixels (superpixels.py)."""

"""The keys of the session's lane requests, named. A key says what a request was made for; a lane drops a result
whose key is no longer its newest (gui.session.lanes), and the session checks it against what is shown before
using a result (e.g. OpenImage.is_current for a CrfKey). The kind comes first, so a key still compares and
unpacks as the plain tuple it is."""
from __future__ import annotations

from typing import NamedTuple

from engine.crf import CRFParams


class CrfKey(NamedTuple):
    """What a CRF request was computed for; a result is shown only while all of it still holds."""
    kind: str            # 'crf' (exact), 'local' (windows), 'preview', 'settle', 'warm-up'
    token: int           # ImageState.token: which opening of which image
    pred_gen: int        # which probabilities of that image
    params: CRFParams | None
    backend: str
    edit_serial: int     # how many hand edits the CRF had seen


class ImageKey(NamedTuple):
    """An image-lane job: reading image ``index`` for its opening ``token``."""
    kind: str            # 'image' (opening it) or 'reread' (the open image with another band choice or scaling)
    token: int
    index: int


class PredictKey(NamedTuple):
    """A predict-lane job: the network on opening ``token`` with the model of generation ``model_gen``."""
    kind: str
    token: int
    model_gen: int


class AdaptKey(NamedTuple):
    """What an adapt-lane job is for: the image's features ('features') or a head fit ('adapt') of opening
    ``token``; a fit carries the fit key it computes and, for a stroke, its undo record."""
    kind: str
    token: int
    fit_key: bytes = b""
    record: tuple | None = None


class PrefetchKey(NamedTuple):
    """A prefetch-lane job: the prediction ('prefetch') or the CRF ('prefetch-crf') of image ``index``, for the
    model of generation ``gen``; its cache entries are keyed by (path, gen)."""
    kind: str
    index: int
    path: str
    gen: int

    @property
    def cache_key(self) -> tuple[str, int]:
        return self.path, self.gen

"""Train on saved labels keeps a head over the folder's own classes.

Why: what strokes taught a class the base network never knew lives in the folder head, which reads the cell's colour
and a pixel colour term (engine.models.folder_head). A plain classifier row reads neither, and training the network
on a few saved images does not bring the class back. Measured (built-in own-class scenes, 10 saved by the simulated
annotator, demo v1, the recipe's 30 epochs, raw argmax on 20 unseen scenes): the network trained to the folder's
classes gave cardboard IoU 0.33 and glass 0.00, where the adapted model it started from gave 0.78 and 0.48; the same
trained network under a head fitted to the saved labels gave 0.82 and 0.53. So when the folder has classes the
starting network lacked, the trained network is written with such a head, as an exported adapted model is, and
`predict`, `prelabel` and the window load it like one.

The head is fitted as the app fits one after a save (engine.learn.correction: a saved image replays every
labelled pixel), on the training images only, so the held-out score stays honest.
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import check_cancel
from ..labels import VOID
from ..predict import Predictor
from .adapt import HeadAdapter
from .correction import ReplayMemory
from .export import network_with_head

HEAD_IMAGES = 12   # saved images the head is fitted to, spread over the training images (a forward pass each;
#                    the app replays up to 32)


def with_trained_head(loaded, model, pairs, should_cancel=None) -> tuple:
    """(``model`` with a residual head over its classes fitted to the (image, labels) ``pairs``, the head's settings
    for save_checkpoint); (model, None) when no pair has a labelled pixel. ``loaded``: the spec the model predicts
    (the folder's classes)."""
    pairs = [(image, labels) for image, labels in pairs if (labels != VOID).any()]
    if len(pairs) > HEAD_IMAGES:   # spread over the training images, not the first few
        pairs = [pairs[round(i * (len(pairs) - 1) / (HEAD_IMAGES - 1))] for i in range(HEAD_IMAGES)]
    if not pairs:
        return model, None
    predictor = Predictor(replace(loaded, model=model.eval()), device="cpu")
    adapter = HeadAdapter(predictor)
    memory = ReplayMemory()   # (bounded as the app's: a large network's features replay fewer images)
    for i, (image, labels) in enumerate(pairs):
        check_cancel(should_cancel)
        image_id, features = f"saved{i}", predictor.extract_features(image, should_cancel)
        targets = adapter.targets(features, labels, labels != VOID)
        memory.remember(image_id, features, targets)
    state = adapter.fit(features, targets, adapter.original, adapter.original, image_id,
                        memory.items(exclude=image_id), should_cancel, anchor_carried=True, start=adapter.original)
    check_cancel(should_cancel)
    return network_with_head(model, adapter, state)

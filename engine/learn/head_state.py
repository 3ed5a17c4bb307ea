"""The adapted head's settings (AdaptConfig) and its immutable snapshots (HeadState), apart from the fitting
(engine.learn.adapt) so that undo records, the head store and exports can name them without the optimiser."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..errors import EngineError
from ..models.folder_head import DEFAULT_GATE, DEFAULT_GATE_NEW
from .grid import GridTargets

KINDS = ("residual", "classifier")
_serials = itertools.count(1)


@dataclass(frozen=True)
class AdaptConfig:
    """How a stroke is learnt.

    optimizer "lbfgs" (default, residual heads): the objective is convex in the residual's weights, so L-BFGS
    solves it in ``steps`` iterations and the result depends on the objective, not on an optimisation path
    (measured on the shifted demo domain: fewer painted pixels than 30 Adam steps). 20 iterations, not more:
    solved further, the balanced pull toward the opened head wins on the big wrong region and a first stroke flips
    less of it (shifted scene 3: all of it at 20, 37% at 30); "adam": ``steps`` steps of Adam at ``lr`` (the
    classifier kind always uses Adam). kl_weight: the pull toward the anchor head (ImageAdaptation says which),
    on unpainted cells; balanced: that pull averaged per class the anchor predicts, so a large region called
    one class (often the very region being corrected) weighs no more than a small object called another.
    replay_weight: cross-entropy on the locked cells of the earlier images (when the head is carried across
    images), so a new image does not erase what the old ones taught. The residual head replays every remembered
    image at every evaluation, on compact copies of their locked cells (a fixed objective: a random few per
    stroke made each stroke's solution jump, measured: 282k vs 264k painted pixels on the shifted demo domain);
    the classifier kind replays replay_per_step whole images per step. gate: how sure the network must be before
    a carried head's known-class residual fades on an image nobody corrected yet (engine.models.folder_head; None:
    carried in full). pixel_weight: the cross-entropy on a sample of the locked pixels (engine.learn.pixels), which
    teaches the residual's pixel colour term, for this image and (times replay_weight) each replayed one; 0: the
    head has no pixel term."""
    steps: int = 20
    lr: float = 0.1
    kl_weight: float = 1.0
    replay_weight: float = 1.0
    replay_per_step: int = 2
    balanced: bool = True
    optimizer: str = "lbfgs"
    kind: str = "residual"
    seed: int = 0
    gate: float | None = DEFAULT_GATE
    gate_new: float | None = DEFAULT_GATE_NEW
    pixel_weight: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise EngineError(f"unknown head kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise EngineError(f"unknown optimizer {self.optimizer!r}; use 'lbfgs' or 'adam'")
        if self.steps < 0 or self.lr <= 0 or self.kl_weight < 0 or self.replay_weight < 0 or self.pixel_weight < 0:
            raise EngineError("adaptation steps, kl_weight, replay_weight and pixel_weight must be >= 0 and lr > 0")


@dataclass(frozen=True, eq=False)
class HeadState:
    """The adapted head at one moment: its tensors (CPU; empty = the network's own head; a residual head's:
    residual_parts), how many strokes and which images taught it, and the locks it was last fitted to (``fitted``:
    GridTargets on image ``fitted_on``), so the next stroke knows whether it only adds to them. ``serial`` names
    the snapshot (equal serials = the same head)."""
    kind: str
    tensors: tuple = ()
    strokes: int = 0
    images: frozenset = frozenset()
    serial: int = field(default_factory=lambda: next(_serials))
    fitted_on: str = ""
    fitted: GridTargets | None = None
    taught: tuple = ()   # ((folder class id, strokes, frozenset of images), ...) for the classes strokes taught

    def taught_by(self, class_id: int) -> tuple[int, int]:
        """(strokes, images) that taught class ``class_id``."""
        for c, n, images in self.taught:
            if c == class_id:
                return n, len(images)
        return 0, 0

    def only_adds_to(self, image_id: str, targets: GridTargets) -> bool:
        """True when ``targets`` (image ``image_id``'s locks now) keep every locked pixel this head was fitted to
        (per cell and class): strokes were added, nothing erased or painted over."""
        return self.fitted is not None and self.fitted_on == image_id and targets.only_added_to(self.fitted)

    @property
    def is_original(self) -> bool:
        return not self.tensors

    @property
    def nbytes(self) -> int:
        return sum(int(t.numel() * t.element_size()) for t in self.tensors)

    def describe(self) -> str:
        """What the status bar says."""
        if self.is_original:
            return "model not adapted"
        n, m = self.strokes, len(self.images)
        return f"model adapted on {n} stroke{'s' * (n != 1)} / {m} image{'s' * (m != 1)}"

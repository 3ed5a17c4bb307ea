"""Draws the current image's overlays on the canvas from ImageState + view options.

The pixel work is engine.display.overlays (numpy); this module only chooses what to show and pushes it
into named canvas items, layer by layer, so a change of one option redraws one layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from engine.annotate.state import ImageState
from engine.display import colormaps
from engine.display.overlays import (
    class_heat_rgba,
    label_lut,
    label_rgba,
    lock_codes,
    lock_lut,
    lock_rgba,
    mask_rgba,
    pixel_share,
    uncertainty_rgba,
)
from engine.labels import changed_colour
from engine.project.values import unknown_mask, unknown_rgba, unknown_values
from gui.canvas.canvas import Canvas
from gui.canvas.qimage import labels_to_pixmap, rgba_to_premultiplied

LAYERS = {"labels": 1.0, "unknown": 1.2, "locks": 1.5, "heat": 2.0, "uncertainty": 3.0, "changed": 4.0}  # name -> z


@dataclass
class ViewOptions:
    show_labels: bool = True
    show_locks: bool = True
    opacity: float = 0.5
    before_crf: bool = False        # show the raw argmax (and raw probabilities) instead of the CRF result
    heat_class: int = -1            # class whose probability map is shown, -1 = none
    show_uncertainty: bool = False
    show_changed: bool = False
    uncertainty_cmap: str = colormaps.AUTO   # engine.display.colormaps name, or 'auto': the one least like a class colour
    visible: np.ndarray | None = None  # (N,) bool per class, None = all


SWATCH = (12, 48)   # legend swatch (h, w), drawn by the overlays' own functions
ASYNC_PIXELS = 4_000_000   # the probability layers of larger images are coloured off the GUI thread: a walk's
#                            24 MP photo froze the window 1.2 s for the uncertainty, 1.4-2.5 s for a heat map


class _Painter(QObject):
    """Colours a probability layer in a worker thread; the result comes back to the GUI thread as a signal."""
    done = Signal(str, int, object)   # layer, generation, QImage (premultiplied, ready for a pixmap)
    drawing = Signal(str)             # what is being drawn ('' when nothing is)


class OverlayPresenter:
    def __init__(self, canvas: Canvas):
        self.canvas = canvas
        self.painter = _Painter()
        self.painter.done.connect(self._on_painted)
        self._pool = QThreadPool(self.painter)
        self._pool.setMaxThreadCount(1)
        self._generation: dict[str, int] = {}   # per layer: the newest request (older results are dropped)
        self._waiting: set[str] = set()
        self.opts = ViewOptions()
        self.state: ImageState | None = None
        self.palette: np.ndarray | None = None
        self.names: tuple[str, ...] = ()    # class names, for the heat map's legend row
        self.changed_colour = (255, 255, 0)

    def bind(self, state: ImageState | None, palette: np.ndarray | None) -> None:
        if palette is not None and (self.palette is None or not np.array_equal(palette, self.palette)):
            self.changed_colour = changed_colour(palette)   # unlike every class colour and fixed overlay
        self.state, self.palette = state, palette

    def legend_items(self) -> list[tuple[str, str, str, np.ndarray]]:
        """(key, text, tip, swatch RGBA) for each marking overlay on screen now, drawn as the overlay draws it."""
        h, w = SWATCH
        on, items = self.canvas.overlay_visible, []
        if on("changed"):
            items.append(("changed", "Changed by CRF", "Pixels whose label the CRF changed from the network's",
                          mask_rgba(np.ones((h, w), bool), self.changed_colour)))
        if on("locks"):
            items.append(("locks", "Painted by hand (locked)", "Hand-painted pixels: the CRF and new predictions "
                          "keep them", lock_rgba(np.ones((h, w), bool))))
        c = self.opts.heat_class
        if on("heat") and self.palette is not None and 0 <= c < len(self.palette):
            ramp = np.repeat(np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :], h, axis=0)
            name = self.names[c] if c < len(self.names) else f"class {c}"
            st = self.state   # what the map shows: the CRF's result unless Before CRF (a walk read the legend as
            network = self.opts.before_crf or st is None or st.crf_probs is None   # the network's, it was the CRF's)
            whose = "the network's" if network else "the CRF's (Before CRF shows the network's)"
            items.append(("heat", f"p({name}) {'network' if network else 'after CRF'} 0 → 1",
                          f"The probability of {name}, {whose}: dark where it is low, bright in the class colour "
                          "where it is high", class_heat_rgba(ramp, self.palette[c])))
        if on("unknown"):
            items.append(("unknown", "Not a class of this folder", "Label values above the class list (Save asks "
                          "what to do with them)", unknown_rgba(np.ones((h, w), bool))))
        return items

    # what is on screen ---------------------------------------------------------------------------
    def labels(self) -> np.ndarray | None:
        """The label map being displayed (raw argmax in 'before' mode)."""
        st = self.state
        if st is None:
            return None
        return st.raw_labels if self.opts.before_crf else st.shown_labels

    def probs(self) -> np.ndarray | None:
        st = self.state
        if st is None:
            return None
        if self.opts.before_crf or st.crf_probs is None:
            return st.probs
        return st.crf_probs

    def shares(self) -> np.ndarray | None:
        labels = self.labels()
        if labels is None or self.palette is None:
            return None
        return pixel_share(labels, len(self.palette))

    # layers --------------------------------------------------------------------------------------
    def render(self) -> None:
        self.render_labels()
        self.render_locks()
        self.render_heat()
        self.render_uncertainty()
        self.render_changed()

    def render_labels(self) -> None:
        labels, o = self.labels(), self.opts
        if not o.show_labels or labels is None or self.palette is None:
            self.canvas.set_overlay("labels", None)
            return
        visible = o.visible if o.visible is not None and len(o.visible) == len(self.palette) else None
        self.canvas.set_overlay_pixmap("labels", labels_to_pixmap(labels, label_lut(self.palette, visible)),
                                       LAYERS["labels"], o.opacity)
        self.render_unknown()

    def render_unknown(self) -> None:
        """Label values that are not classes of the folder, in orange/black checks no class uses."""
        labels = self.labels()
        known = labels is None or self.palette is None or not unknown_values(labels, len(self.palette))[0]
        mask = None if known or not self.opts.show_labels else unknown_mask(labels, len(self.palette))
        if mask is None:   # (a histogram first: the mask of a 12 MP map costs 40 ms on every label change)
            self.canvas.set_overlay("unknown", None)
            return
        self.canvas.set_overlay("unknown", unknown_rgba(mask), LAYERS["unknown"], 0.85)

    def render_locks(self) -> None:
        st = self.state
        locked = None if st is None else st.locked
        if not self.opts.show_locks or locked is None or not locked.any():
            self.canvas.set_overlay("locks", None)
            return
        self.canvas.set_overlay_pixmap("locks", labels_to_pixmap(lock_codes(locked), lock_lut()), LAYERS["locks"], 1.0)

    def render_region(self, box) -> None:
        """Redraw labels and locks inside box (x0, y0, x1, y1) only: what a brush stroke needs."""
        x0, y0, x1, y1 = box
        labels, st, o = self.labels(), self.state, self.opts
        if labels is None or st is None:
            return
        if o.show_labels and self.palette is not None and self.canvas.overlay_visible("labels"):
            visible = o.visible if o.visible is not None and len(o.visible) == len(self.palette) else None
            patch = label_rgba(labels[y0:y1, x0:x1], self.palette, visible)
            self.canvas.update_overlay_region("labels", x0, y0, patch)
            if self.canvas.overlay_visible("unknown"):
                self.render_unknown()   # a stroke over unknown values may have replaced some
        else:
            self.render_labels()
        if o.show_locks and self.canvas.overlay_visible("locks") and st.edits.has_locks:
            self.canvas.update_overlay_region("locks", x0, y0, lock_rgba(st.locked[y0:y1, x0:x1], x0, y0))
        else:
            self.render_locks()

    def render_heat(self) -> None:
        probs, c = self.probs(), self.opts.heat_class
        if probs is None or self.palette is None or not 0 <= c < min(len(probs), len(self.palette)):
            self._paint("heat", None)
            return
        colour = self.palette[c]
        name = self.names[c] if c < len(self.names) else f"class {c}"
        self._paint("heat", lambda: class_heat_rgba(probs[c], colour), f"Drawing the heat map of {name}…")

    def uncertainty(self) -> np.ndarray | None:
        """The uncertainty map of what is shown (after the CRF, or of the raw output in 'before' mode)."""
        st = self.state
        return None if st is None else (st.unc if self.opts.before_crf or st.crf_unc is None else st.crf_unc)

    def uncertainty_cmap(self) -> str:
        """The colour map in use ('auto' resolved against the class colours)."""
        return colormaps.resolve(self.opts.uncertainty_cmap, self.palette)

    def render_uncertainty(self) -> None:
        unc = self.uncertainty()
        if not self.opts.show_uncertainty or unc is None:
            self._paint("uncertainty", None)
            return
        cmap = self.uncertainty_cmap()
        self._paint("uncertainty", lambda: uncertainty_rgba(unc, cmap), "Drawing the uncertainty…")

    def _paint(self, layer: str, make_rgba, text: str = "") -> None:
        """Show ``make_rgba()`` (None: hide the layer) as a smooth probability layer: at once for images up to
        ASYNC_PIXELS, else coloured in the painter's thread while the window stays live; a newer request for the
        layer drops an older one's result."""
        self._generation[layer] = generation = self._generation.get(layer, 0) + 1
        if make_rgba is None or self.state is None or self.state.shape[0] * self.state.shape[1] <= ASYNC_PIXELS:
            self._waiting.discard(layer)
            self.canvas.set_overlay(layer, None if make_rgba is None else make_rgba(), LAYERS[layer], 1.0,
                                    smooth=True)
            self._announce()
            return
        self._waiting.add(layer)
        self.painter.drawing.emit(text)
        painter = self.painter
        self._pool.start(lambda: painter.done.emit(layer, generation, rgba_to_premultiplied(make_rgba())))

    def _on_painted(self, layer: str, generation: int, image: QImage) -> None:
        if generation != self._generation.get(layer) or self.state is None \
                or (image.height(), image.width()) != tuple(self.state.shape[:2]):
            return   # stale: the layer was asked for again, hidden, or the image changed
        self._waiting.discard(layer)
        self.canvas.set_overlay_pixmap(layer, QPixmap.fromImage(image), LAYERS[layer], 1.0, smooth=True)
        self._announce()

    def _announce(self) -> None:
        if not self._waiting:
            self.painter.drawing.emit("")

    @property
    def drawing(self) -> bool:
        """A probability layer is being coloured in the background."""
        return bool(self._waiting)

    def render_changed(self) -> None:
        changed = None if self.state is None else self.state.changed_by_crf()
        if not self.opts.show_changed or changed is None:
            self.canvas.set_overlay("changed", None)
            return
        self.canvas.set_overlay("changed", mask_rgba(changed, self.changed_colour), LAYERS["changed"], 0.8)

    def set_opacity(self, opacity: float) -> None:
        self.opts.opacity = opacity
        self.canvas.set_overlay_opacity("labels", opacity)

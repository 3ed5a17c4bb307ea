"""labelme shapes that labelme's own rasteriser turns back into the label map, pixel for pixel.

labelme (`labelme.utils.shapes_to_label`) starts from 0 and paints the shapes in file order, a polygon with
PIL's `ImageDraw.polygon(xy, outline=1, fill=1)`. A plain outline per region is therefore not enough: it also
paints the region's holes, and a later, smaller shape can paint over a pixel that belongs to an earlier one
through a diagonal join. Here:

- every 8-connected region of one value is one shape; its outline runs through boundary pixel centres
  (integer coordinates, cv2.findContours), which PIL fills together with everything it encloses;
- a hole is cut out of the polygon by splicing the hole's outline in through a zero-width slit (a
  "keyhole" polygon, which PIL's even-odd fill leaves empty inside); a hole that cannot be cut that way
  stays painted and is repainted by the shapes inside it, background included ("_background_" shapes);
- so the shapes are put in an order where every shape comes after each polygon that paints over it
  (topological order, larger regions first where free);
- outlines are simplified by dropping vertices for as long as the polygon paints the same pixels it may;
- what a polygon cannot state exactly is a *speck*, drawn last as small box polygons that tile its pixels:
  regions without area (a dot, a 1-pixel line, a diagonal chain) and regions interlocked through diagonal
  joins. A box covering pixels x0..x1, y0..y1 has its corners at (x0, y0) and (x1 + 0.25, y1 + 0.25): a real
  polygon with area (so no tool sees a degenerate shape) that PIL paints as exactly those pixels, whether it
  rounds (Pillow 12) or floors (Pillow 13) fractional vertices. labelme's "mask" shape would also be exact,
  but X-AnyLabeling refuses the whole file for it ("Unexpected shape_type: mask"), so it is never written.
Every candidate polygon is checked with the same PIL call labelme makes, and the whole result is rasterised
once more before it is returned; any pixel still wrong (none in the tests) gets speck boxes.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

__all__ = ["Shape", "exact_shapes", "polygon_mask", "rasterize"]

_MAX_SPAN = 256        # longest run of outline vertices one simplified edge may replace
_PATIENCE = 1          # failed longer edges tried after a failure before the last good one is kept
SPECK_PAD = 0.25       # a speck box reaches this far past its last pixel: below 0.5, so rounding and flooring agree


@dataclass
class Shape:
    """One labelme shape; `value` is what it paints. A "polygon" runs through pixel centres (integer points);
    a "box" (a speck's piece, written as a polygon too) has the corners (x0, y0), (x1 + SPECK_PAD, y1 + SPECK_PAD)
    of the pixels x0..x1, y0..y1 it paints."""

    label: str
    value: int
    kind: str                      # "polygon" or "box"
    points: np.ndarray             # (K,2): int for a polygon, float for a box

    def to_json(self) -> dict:
        """The labelme shape. group_id is the label value: labelme2voc makes one instance per (label, group_id),
        so every region of a class is one instance and an image with hundreds of regions still fits its
        8-bit SegmentationObject PNG."""
        return {"label": self.label, "points": [[float(x), float(y)] for x, y in self.points.tolist()],
                "group_id": int(self.value), "description": "", "shape_type": "polygon", "flags": {}, "mask": None}


def _rows_only(local: np.ndarray, height: int) -> np.ndarray:
    """The polygon with every vertex dropped whose edges on both sides lie wholly above the canvas's rows (y < -2)
    or wholly below them (y > height + 1): the edge that replaces such a run lies there too, so it touches no row
    of the canvas, and the fill and outline drawn on the canvas are the same. Why: exporting a complex mask checks
    thousands of small boxes against a polygon of thousands of vertices, and PIL visits every edge on every row
    (17 -> 11 s for an 800x600 image of a walk's twelve self-crossing 40-point polygons)."""
    if len(local) <= 8:
        return local
    y = local[:, 1]
    side = (y > height + 1).astype(np.int8) - (y < -2).astype(np.int8)
    before = np.concatenate((side[-1:], side[:-1]))
    after = np.concatenate((side[1:], side[:1]))
    drop = (side != 0) & (side == before) & (side == after)
    kept = local[~drop]
    return kept if len(kept) >= 3 else local


def polygon_mask(points: np.ndarray, height: int, width: int, dx: int = 0, dy: int = 0) -> np.ndarray:
    """labelme's shape_to_mask for a polygon: PIL fills it with its outline, on an (height,width) canvas
    whose origin is pixel (dx, dy)."""
    canvas = Image.new("L", (int(width), int(height)), 0)
    local = _rows_only(np.asarray(points) - (dx, dy), int(height))
    xy = local.ravel().tolist()   # x0, y0, x1, y1, ...: same path as labelme's tuples
    ImageDraw.Draw(canvas).polygon(xy=xy, outline=1, fill=1)
    return np.frombuffer(canvas.tobytes(), np.uint8).reshape(int(height), int(width)).astype(bool)


def rasterize(shapes: list[Shape], height: int, width: int, start: int = 0) -> np.ndarray:
    """Paint the shapes in order as labelme's shapes_to_label does; (H,W) int32."""
    out = np.full((height, width), start, np.int32)
    for s in shapes:
        x0, y0 = np.maximum(np.floor(s.points.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(s.points.max(axis=0)).astype(int) + 1, [width - 1, height - 1])
        if x1 < x0 or y1 < y0:
            continue
        m = polygon_mask(s.points, y1 - y0 + 1, x1 - x0 + 1, x0, y0)
        out[y0:y1 + 1, x0:x1 + 1][m] = s.value
    return out


@dataclass
class _Region:
    """One 8-connected region of one value, and what its shape paints."""

    value: int
    x: int
    y: int
    own: np.ndarray                   # (h,w) bool: the region's pixels in its bounding box
    points: np.ndarray | None = None  # polygon (absolute coordinates); None: a speck (boxes)
    paints: np.ndarray | None = None  # (h,w) bool: pixels the polygon paints (within the bounding box)
    after: set = field(default_factory=set)  # regions that must be drawn after this one

    @property
    def size(self) -> int:
        return int(self.own.sum())


def _area2(p: np.ndarray) -> int:
    """Twice the signed area (shoelace)."""
    x, y = p[:, 0].astype(np.int64), p[:, 1].astype(np.int64)
    return int(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _dedupe(p: np.ndarray) -> np.ndarray:
    """Drop consecutive repeated vertices (also across the closing edge)."""
    keep = np.any(p != np.roll(p, 1, axis=0), axis=1)
    return p[keep] if keep.any() else p[:1]


def _splice(poly: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Keyhole: walk to the hole's nearest vertex, round the hole, and back along the same slit. Returns the polygon
    and the box (x0, y0, x1, y1) of the hole and its slit: the only pixels the cut can change.

    The nearest vertex is looked for among the vertices near the hole first (the first vertex at the least
    Chebyshev distance, as a search over all of them finds): a region with hundreds of holes spliced into a polygon
    of thousands of vertices made every splice a distance matrix of both (17 of a 12 MP photo's 111 s)."""
    lo, hi = hole.min(axis=0), hole.max(axis=0)
    reach = 1
    while True:
        near = np.flatnonzero(np.all((poly >= lo - reach) & (poly <= hi + reach), axis=1))
        if len(near):
            d = np.abs(poly[near][:, None, :] - hole[None, :, :]).max(axis=2)
            k, j = np.unravel_index(int(np.argmin(d)), d.shape)
            if d[k, j] <= reach:   # every vertex outside the search box is farther than this
                i = int(near[k])
                break
        reach *= 4
    ring = np.concatenate([hole[j:], hole[:j + 1]])
    x0, y0 = np.minimum(lo, poly[i])
    x1, y1 = np.maximum(hi, poly[i])
    return _dedupe(np.concatenate([poly[:i + 1], ring, poly[i:]])), (int(x0), int(y0), int(x1), int(y1))


def _contours(own: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The outer outline and the hole outlines of one region (local coordinates)."""
    padded = np.pad(own.astype(np.uint8), 1)
    contours, hierarchy = cv2.findContours(padded, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer = [k for k in range(len(contours)) if hierarchy[0][k][3] == -1]
    k_outer = max(outer, key=lambda k: len(contours[k]))
    holes = [contours[k].reshape(-1, 2) - 1 for k in range(len(contours)) if hierarchy[0][k][3] == k_outer]
    holes.sort(key=lambda h: -abs(_area2(h)))
    return contours[k_outer].reshape(-1, 2) - 1, holes


def _fits(poly: np.ndarray, own: np.ndarray, allowed: np.ndarray, box=None) -> np.ndarray | None:
    """What `poly` paints if it paints all of `own` and nothing outside `allowed` (within `box`), else None."""
    h, w = own.shape
    x0, y0, x1, y1 = box if box is not None else (0, 0, w - 1, h - 1)
    painted = polygon_mask(poly, y1 - y0 + 1, x1 - x0 + 1, x0, y0)
    o, a = own[y0:y1 + 1, x0:x1 + 1], allowed[y0:y1 + 1, x0:x1 + 1]
    return painted if not (o & ~painted).any() and not (painted & ~a).any() else None


def _deviation(run: np.ndarray) -> float:
    """Largest distance of a run's inner vertices from the edge joining its ends."""
    d = (run[-1] - run[0]).astype(float)
    norm = float(np.hypot(*d))
    rel = (run[1:-1] - run[0]).astype(float)
    if norm == 0:
        return float(np.hypot(rel[:, 0], rel[:, 1]).max())
    return float(np.abs(d[0] * rel[:, 1] - d[1] * rel[:, 0]).max() / norm)


def _simplify(poly: np.ndarray, own: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Greedily replace runs of vertices by one edge while the polygon still paints all of `own` and only
    `allowed` pixels. Only the bounding box of a replaced run can change, so only that is rasterised."""
    n = len(poly)
    if n <= 4:
        return poly
    h, w = own.shape
    kept = np.empty_like(poly)     # the kept vertices so far, in order: kept[:m]
    kept[0], m = poly[0], 1
    a = 0
    while a < n - 1:
        best, misses = a + 1, 0
        for b in range(a + 2, min(n, a + _MAX_SPAN) + 1):
            if m + (n - b) < 3:
                break
            run = np.concatenate([poly[a:b], poly[b % n][None]])
            if _deviation(run) > 1.5:   # the edge would leave a pixel of the outline out, or take a neighbour in
                ok = False
            else:
                candidate = np.concatenate([kept[:m], poly[b:]]) if b < n else kept[:m]
                lo, hi = np.maximum(run.min(axis=0) - 1, 0), np.minimum(run.max(axis=0) + 1, [w - 1, h - 1])
                ok = _fits(candidate, own, allowed, (lo[0], lo[1], hi[0], hi[1])) is not None
            if ok:
                best, misses = b, 0
            else:
                misses += 1
                if misses > _PATIENCE:
                    break
        if best >= n:
            break
        kept[m], m = poly[best], m + 1
        a = best
    out = kept[:m].copy()
    return out if len(out) >= 3 and _area2(out) != 0 else poly


def _trace(region: _Region) -> None:
    """Set the region's polygon (or leave it a speck): outline, holes cut where exact, simplified."""
    outer, holes = _contours(region.own)
    if len(np.unique(outer, axis=0)) < 3 or _area2(outer) == 0:
        return                                            # no area: a dot or a line -> speck
    painted = _fits(outer, region.own, np.ones_like(region.own))
    if painted is None:
        return
    poly = outer
    if holes:
        every = outer
        for hole in holes:
            every = _splice(every, hole)[0]
        exact = _fits(every, region.own, region.own)
        if exact is not None:
            poly, painted = every, exact
        else:
            for hole in holes:
                poly, painted = _cut_if_exact(poly, hole, region.own, painted)
    poly = _simplify(poly, region.own, painted)
    final = _fits(poly, region.own, painted)
    if final is None or _area2(poly) == 0:
        return
    region.points = poly + np.array([region.x, region.y])
    region.paints = final


def _cut_if_exact(poly: np.ndarray, hole: np.ndarray, own: np.ndarray, painted: np.ndarray) -> tuple:
    """(polygon, what it paints) with ``hole`` cut out where the cut still paints all of ``own`` and no more
    than ``painted``; else as they were. A cut changes only the pixels of its hole and slit, so only their box
    (a pixel wider each way) is rasterised: checking each of a region's 576 holes on its whole 2570 x 2000 box
    took 28 s of a 12 MP photo's export."""
    cut, (x0, y0, x1, y1) = _splice(poly, hole)
    h, w = own.shape
    box = (max(x0 - 1, 0), max(y0 - 1, 0), min(x1 + 1, w - 1), min(y1 + 1, h - 1))
    local = _fits(cut, own, painted, box)
    if local is None:
        return poly, painted
    painted = painted.copy()
    painted[box[1]:box[3] + 1, box[0]:box[2] + 1] = local
    return cut, painted


def _regions(mask: np.ndarray, value: int) -> list[_Region]:
    n, cc, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = []
    for k in range(1, n):
        x, y, w, h = (int(v) for v in stats[k, :4])
        out.append(_Region(value, x, y, cc[y:y + h, x:x + w] == k))
    return out


def exact_shapes(labels: np.ndarray, names: dict[int, str], start: int = 0,
                 draw_start: bool = False) -> list[Shape]:
    """Shapes for the values in `names` (value -> label) that labelme paints back into `labels`.

    labelme's canvas starts as `start` (its unlabelled pixels, our background): regions of that value get
    a shape only where another shape paints over them, or all of them if `draw_start` (its label must then
    be in `names` too). Pixels of values not in `names` are not drawn and may end up as anything.
    """
    labels = np.asarray(labels)
    h, w = labels.shape
    drawn = [v for v in np.unique(labels).tolist() if v in names and (v != start or draw_start)]
    regions = [r for v in drawn for r in _regions(labels == v, v)]
    for r in regions:
        _trace(r)
    if not draw_start and start in names:
        covered = np.zeros((h, w), bool)
        for r in regions:
            if r.paints is not None:
                covered[r.y:r.y + r.own.shape[0], r.x:r.x + r.own.shape[1]] |= r.paints & ~r.own
        repaint = _regions(covered & (labels == start), start)
        for r in repaint:
            _trace(r)
        regions += repaint
    ids = np.full((h, w), -1, np.int32)
    for i, r in enumerate(regions):
        ids[r.y:r.y + r.own.shape[0], r.x:r.x + r.own.shape[1]][r.own] = i
    for i, r in enumerate(regions):
        if r.paints is not None:
            under = ids[r.y:r.y + r.own.shape[0], r.x:r.x + r.own.shape[1]][r.paints & ~r.own]
            r.after = set(np.unique(under[under >= 0]).tolist()) - {i}
    shapes = [Shape(names[regions[i].value], regions[i].value, "polygon", regions[i].points.astype(np.int64))
              for i in _paint_order(regions)]
    for r in regions:
        if r.points is None:
            shapes += _speck_boxes(r.own, r.x, r.y, r.value, names[r.value])
    return shapes + _repairs(labels, shapes, names, start)


def _paint_order(regions: list[_Region]) -> list[int]:
    """Polygons in an order where each comes after every polygon that paints over it, larger first where
    free. A cycle (regions interlocked through diagonal joins) is broken by making its smallest region a
    speck, drawn after all polygons."""
    waiting = {i: 0 for i, r in enumerate(regions) if r.points is not None}
    for i in waiting:
        for j in regions[i].after:
            if j in waiting:
                waiting[j] += 1
    ready = [(-regions[i].size, i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order, done = [], set()

    def release(i):
        done.add(i)
        for j in regions[i].after:
            if j in waiting and j not in done:
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, (-regions[j].size, j))

    while len(done) < len(waiting):
        if not ready:
            stuck = min((i for i in waiting if i not in done), key=lambda i: regions[i].size)
            regions[stuck].points = regions[stuck].paints = None
            release(stuck)
            continue
        _, i = heapq.heappop(ready)
        if i in done:
            continue
        order.append(i)
        release(i)
    return order


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) columns of each run of True in a 1-D bool row."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _boxes(own: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Inclusive rectangles (x0, y0, x1, y1) that tile `own` exactly: each row's runs, stacked down while the
    next row has the same run."""
    out, open_runs = [], {}
    for y in range(own.shape[0] + 1):
        runs = set(_runs(own[y])) if y < own.shape[0] else set()
        for run in [r for r in open_runs if r not in runs]:
            out.append((run[0], open_runs.pop(run), run[1], y - 1))
        for run in runs:
            open_runs.setdefault(run, y)
    return out


def _speck_boxes(own: np.ndarray, x: int, y: int, value: int, label: str) -> list[Shape]:
    """Box polygons painting exactly the pixels of `own` (a region's bounding box, origin (x, y))."""
    return [Shape(label, value, "box", np.array([[x + a, y + b], [x + c + SPECK_PAD, y + b],
                                                 [x + c + SPECK_PAD, y + d + SPECK_PAD], [x + a, y + d + SPECK_PAD]]))
            for a, b, c, d in _boxes(own)]


def _repairs(labels: np.ndarray, shapes: list[Shape], names: dict[int, str], start: int) -> list[Shape]:
    """Speck boxes for any pixel the shapes do not reproduce (a safety net; none expected)."""
    h, w = labels.shape
    got = rasterize(shapes, h, w, start)
    care = np.isin(labels, list(set(names) | {start}))
    wrong = care & (got != labels)
    out = []
    for v in np.unique(labels[wrong]).tolist():
        for r in _regions(wrong & (labels == v), v):
            out += _speck_boxes(r.own, r.x, r.y, v, names.get(v, names.get(start, "")))
    return out

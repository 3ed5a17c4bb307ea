"""How much painting corrections that teach save, on a site the shipped demo models have never seen.

    .venv/bin/python bench/annotation_effort.py            # 20 + 20 shifted-domain scenes at the sample sizes
    .venv/bin/python bench/annotation_effort.py --quick    # the same counts at 240x320, shorter training

A simulated annotator (engine/demo/annotator.py) corrects 20 scenes of the shifted domain (engine/demo/shifted.py:
fabric belt, warm light, other object colours; ground truth kept): on each it paints a brush stroke of the true
class in the middle of the largest wrong region, until 98% pixel accuracy or 30 strokes, in three ways over the same
scenes: (a) locks only (the CRF with the strokes as hard unaries), (b) in-image adaptation (the head learns each
stroke, reset for every image), (c) adaptation carried across images (each scene is saved when done, and the app
replays a saved image's labels while learning on the next ones). After each stroke it runs exactly what the app
runs (engine.learn.correction.ImageAdaptation.learn, then engine.crf.constraints.run_constrained with the CRF
values the window starts with for the model, or --crf PRESET), with the app's brush (EditableLabels.brush).

Then Train on saved labels (engine.learn.finetune.train_on_folder, the recipe of the menu and of `main.py
finetune`) runs on the labels (c) produced for the first 10 and for all 20 scenes, and the mIoU of untouched
predictions (raw network, no corrections) on 20 further scenes is printed before and after.

--scenes FOLDER runs the same on any folder of images with ground truth in labels/*.png and its
labels/class_names.txt or project.json, read as the window reads them (labelme2voc's __ignore__ is void, its
_background_ the model's class 0; classes the model lacks included; matched to the model by name): in name order,
the first --images are annotated and the next --eval score untouched predictions. --scenes own is the built-in set
with two classes the demo models never saw (engine/demo/own_classes.py: cardboard, glass). Where the folder has
classes the model lacks, the IoU of each in the carried head's untouched predictions after 10 annotated scenes (what
the window shows on an image nobody corrected: the carried head, then the CRF with the window's values; the raw
argmax is on the line before) is printed as `new-class IoU after 10 scenes: NAME X.XX, ...`. Every run also prints
the no-harm row: the 5 home test scenes the network gets most wrong corrected with the head carried, then the mean
pixel accuracy of untouched predictions on 20 further home scenes, carried head vs the network's own: `no harm: home
accuracy carried X.X% vs network Y.Y%`. With classes the model lacks, Train on saved labels then runs on the labels
(c) saved for the first 10 scenes, with the head carried after them as the folder's saved head, and prints each new
class's IoU in the trained checkpoint's raw argmax on the --eval scenes, as written (its head over the folder's
classes kept, engine.learn.trained_head) and with --plain (the network alone); --no-train skips it.

The last line is `effort ratio locks/adaptive: R`: painted pixels of (a) over the better of (b)/(c). (a) is capped at
30 strokes per scene, so when it does not reach 98% its count is a lower bound and R is conservative.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from engine.annotate.edits import EditableLabels  # noqa: E402
from engine.checkpoints import load_checkpoint  # noqa: E402
from engine.crf import preset  # noqa: E402
from engine.crf.constraints import run_constrained  # noqa: E402
from engine.crf.fast import FastBackend  # noqa: E402
from engine.crf.params import preset_for_model  # noqa: E402
from engine.demo import synth  # noqa: E402
from engine.demo.annotator import next_stroke, paint, pixel_accuracy  # noqa: E402
from engine.demo.samples import demo_class_list  # noqa: E402
from engine.eval.metrics import confusion_matrix, iou_per_class, mean_iou  # noqa: E402
from engine.io.labels import write_class_names, write_label_png  # noqa: E402
from engine.learn.adapt import HeadAdapter  # noqa: E402
from engine.learn.correction import ImageAdaptation, ReplayMemory  # noqa: E402
from engine.learn.finetune import Recipe, train_on_folder  # noqa: E402
from engine.learn.head_store import HeadStore  # noqa: E402
from engine.demo import own_classes  # noqa: E402
from engine.io.images import read_image  # noqa: E402
from engine.io.labels import read_label_png  # noqa: E402
from engine.labels import ClassList  # noqa: E402
from engine.paths import DEMO_V1, DEMO_V2  # noqa: E402
from engine.predict import Predictor  # noqa: E402
from engine.project import ChannelMap, FolderClasses, reconcile  # noqa: E402
from engine.project.folder import FolderProject  # noqa: E402
from engine.project.reconcile import BY_NAME, recover_class0  # noqa: E402

TARGET_ACC = 0.98
MAX_STROKES = 30
ANNOTATE_START, EVAL_START = 0, 500      # test-split indices of the shifted scenes: disjoint sets
MODES = {"a": "(a) locks only", "b": "(b) in-image adaptation", "c": "(c) adaptation carried across images"}


@dataclass(frozen=True)
class Labelled:
    """One scene to annotate or score: image (H,W,3) uint8 RGB, ground truth (H,W) uint8, its name."""
    image: np.ndarray
    labels: np.ndarray
    name: str = ""


@dataclass(frozen=True)
class SceneSet:
    """What a run annotates and scores, the folder's class list and how it maps onto the model's channels."""
    title: str
    annotate: list
    evaluate: list
    classes: ClassList
    source: tuple    # folder class id -> model channel, -1 for a class the model lacks


@dataclass
class Outcome:
    labels: np.ndarray
    strokes: int
    painted: int
    accuracy: float
    start_accuracy: float
    learn_s: float
    learn_n: int


def scenes(start: int, count: int, size) -> list:
    return synth.make_split("test", count, size=size, scene_domain="shifted", start=start)


def network_probs(predictor, source, image) -> np.ndarray:
    """The network's own prediction in the folder's classes (the app's MappedPredictor: a class it lacks gets 0)."""
    return ChannelMap(tuple(source), predictor.n_classes).apply(predictor.predict(image))


def annotate(scene, predictor, adapter, head, memory, mode, params, backend, image_id):
    """One scene corrected until TARGET_ACC or MAX_STROKES; returns (Outcome, the head afterwards)."""
    image, gt = scene.image, scene.labels
    features = None
    if mode == "a" or head.is_original:
        probs = network_probs(predictor, adapter.source, image)   # the app: the network's own head
        if mode != "a":
            features = predictor.extract_features(image)  # the app does this in the adapt lane, once idle
    else:
        features = predictor.extract_features(image)      # the app: a prediction with the adapted head, carried
        probs = adapter.probs(features, head, carried=True)
    session = backend.session(image)
    edits = EditableLabels(session.run(probs, params).labels, n_classes=adapter.n_classes)
    start = pixel_accuracy(edits.labels, gt)
    learner = ImageAdaptation(adapter, features, image_id, anchor=head) if mode != "a" else None
    strokes = painted = learn_n = 0
    learn_s = 0.0
    while pixel_accuracy(edits.labels, gt) < TARGET_ACC and strokes < MAX_STROKES:
        stroke = next_stroke(edits.labels, gt)
        if stroke is None:
            break
        painted += paint(edits, stroke)
        strokes += 1
        labels, locked = edits.snapshot()
        if learner is not None:
            t0 = time.perf_counter()
            head, probs = learner.learn(head, labels, locked, memory)
            learn_s += time.perf_counter() - t0
            learn_n += 1
        edits.merge_prediction(run_constrained(session, probs, params, labels, locked).labels)
    if learner is not None:      # the annotator saves the scene: with the head carried, its labels are replayed
        learner.remember_saved(edits.labels, memory)
    return Outcome(edits.labels.copy(), strokes, painted, pixel_accuracy(edits.labels, gt), start, learn_s,
                   learn_n), head


def run_mode(mode, annotate_set, predictor, params, backend, verbose, source=None, keep_after=None):
    """Annotate every scene in ``mode``; returns (outcomes, seconds, the head after ``keep_after`` scenes)."""
    adapter = HeadAdapter(predictor, source=source)
    head = kept = adapter.original
    memory = ReplayMemory() if mode == "c" else None
    outcomes = []
    t0 = time.time()
    for i, scene in enumerate(annotate_set):
        if mode != "c":
            head = adapter.original
        out, head = annotate(scene, predictor, adapter, head, memory, mode, params, backend, f"scene{i}")
        outcomes.append(out)
        if keep_after is not None and i + 1 == keep_after:
            kept = head
        if verbose:
            print(f"  {mode} scene {i:2d}: accuracy {out.start_accuracy * 100:5.1f}% -> {out.accuracy * 100:5.1f}%"
                  f"  strokes {out.strokes:2d}  painted {out.painted:6d} px", flush=True)
    return outcomes, time.time() - t0, (adapter, kept)


def untouched_probs(predictor, adapter, head, image) -> np.ndarray:
    """What an image nobody corrected is predicted with: the carried head (the network's own head, in the
    folder's classes, before anything was learnt)."""
    if head.is_original:
        return network_probs(predictor, adapter.source, image)
    return adapter.probs(predictor.extract_features(image), head, carried=True)


def untouched_labels(predictor, adapter, head, image) -> np.ndarray:
    """The raw argmax of untouched_probs (before the CRF)."""
    return untouched_probs(predictor, adapter, head, image).argmax(0)


def class_ious(predictor, adapter, head, eval_set, classes, params=None, backend=None) -> dict:
    """IoU per class of untouched predictions on ``eval_set``: the raw argmax, or with ``params`` what the window
    shows on an image nobody corrected (the carried head, then the CRF with the window's values)."""
    n = adapter.n_classes
    conf = np.zeros((n, n), np.int64)
    for s in eval_set:
        probs = untouched_probs(predictor, adapter, head, s.image)
        labels = probs.argmax(0) if params is None else backend.session(s.image).run(probs, params).labels
        conf += confusion_matrix(s.labels, labels, n)
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    return {c: inter[c] / union[c] if union[c] else float("nan") for c in classes}


def no_harm(predictor, params, backend, size, verbose) -> tuple[float, float]:
    """(carried, network) mean pixel accuracy of untouched predictions on 20 home test scenes after 5 home scenes
    were corrected with the head carried: the 5 of the first 30 test scenes the network gets most wrong (most home
    scenes already start above the 98% the annotator stops at, and a scene nobody paints teaches nothing)."""
    pool = synth.make_split("test", 30, size=size, start=ANNOTATE_START)
    worst = np.argsort([pixel_accuracy(predictor.predict(s.image).argmax(0), s.labels) for s in pool])[:5]
    corrected = [pool[int(i)] for i in sorted(worst)]
    further = synth.make_split("test", 20, size=size, start=EVAL_START)
    outcomes, _, (adapter, head) = run_mode("c", corrected, predictor, params, backend, verbose, keep_after=5)
    print(f"no-harm corrections: {sum(o.strokes for o in outcomes)} strokes on 5 home scenes "
          f"({', '.join(f'{o.start_accuracy * 100:.1f}%' for o in outcomes)} to start)", flush=True)
    carried = [pixel_accuracy(untouched_labels(predictor, adapter, head, s.image), s.labels) for s in further]
    own = [pixel_accuracy(predictor.predict(s.image).argmax(0), s.labels) for s in further]
    return float(np.mean(carried)), float(np.mean(own))


def folder_scenes(folder: Path, n_annotate: int, n_eval: int, model_classes: ClassList) -> SceneSet:
    """A folder of images with ground truth in labels/<stem>.png and labels/class_names.txt, in name order."""
    project = FolderProject.open(folder / "labels")   # as the window reads it: labelme's lists and project.json too
    if project.classes is None:
        raise SystemExit(f"{folder}: no readable class list in labels/ (class_names.txt or project.json)"
                         + (f": {' '.join(project.problems)}" if project.problems else ""))
    classes = recover_class0(project.classes, model_classes).class_list()   # labelme2voc's _background_
    items = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in
                       (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")):
        gt = folder / "labels" / (path.stem + ".png")
        if gt.is_file():
            items.append(Labelled(read_image(path), read_label_png(gt), path.name))
    if len(items) < n_annotate + 1:
        raise SystemExit(f"{folder}: {len(items)} images with ground truth; --images {n_annotate} needs more")
    return SceneSet(f"folder {folder}", items[:n_annotate], items[n_annotate:n_annotate + n_eval], classes,
                    _source(classes, model_classes))


def _source(classes: ClassList, model_classes: ClassList) -> tuple:
    folder = FolderClasses.from_class_list(classes)
    return reconcile(folder, model_classes).channel_map(BY_NAME).source


def own_scenes(n_annotate: int, n_eval: int, size, model_classes: ClassList) -> SceneSet:
    classes = ClassList(own_classes.CLASS_NAMES, own_classes.PALETTE)
    ann = own_classes.make_set(0, n_annotate, size)
    ev = own_classes.make_set(500, n_eval, size)
    return SceneSet("built-in scenes with two classes the demo models lack (cardboard, glass)", ann, ev, classes,
                    _source(classes, model_classes))


def evaluate(loaded, eval_set) -> float:
    n = loaded.spec.n_classes
    predictor = Predictor(loaded, device="cpu")
    conf = np.zeros((n, n), np.int64)
    for s in eval_set:
        conf += confusion_matrix(s.labels, predictor.predict(s.image).argmax(0), n)
    return mean_iou(conf)


def write_saved(folder: Path, annotate_set, labels, classes: ClassList | None = None) -> Path:
    """The scenes as an app folder whose labels were saved: images + labels/*.png + class_names.txt."""
    classes = classes or demo_class_list()
    folder.mkdir(parents=True, exist_ok=True)
    for i, (scene, lab) in enumerate(zip(annotate_set, labels)):
        cv2.imwrite(str(folder / f"scene{i:02d}.png"), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
        write_label_png(folder / "labels" / f"scene{i:02d}.png", lab, classes)
    write_class_names(folder / "labels" / "class_names.txt", classes)
    return folder


def train_new_classes(args, loaded, path, scene_set, outcomes, carried, new_classes) -> None:
    """Train on saved labels with classes the model lacks: the labels (c) saved for the first 10 scenes and the
    head carried after them (the folder's saved head, as the app keeps it), the app's recipe; the new classes' IoU
    of the trained checkpoint's untouched raw argmax on the --eval scenes, as written (with the head kept over the
    folder's classes, engine.learn.trained_head) and with --plain (the network alone)."""
    n = min(10, len(outcomes))
    epochs = args.epochs or (Recipe().epochs // 2 if args.quick else Recipe().epochs)
    names = scene_set.classes.names
    with tempfile.TemporaryDirectory(prefix="annotation_effort_") as tmp:
        folder = write_saved(Path(tmp) / "saved", scene_set.annotate[:n], [o.labels for o in outcomes[:n]],
                             scene_set.classes)
        HeadStore(folder / "labels", loaded.sha256).save(carried[1], names, scene_set.source)
        for plain in (False, True):
            out = Path(tmp) / f"trained_{plain}.pt"
            t0 = time.time()
            train_on_folder(folder, path, out, Recipe(epochs=epochs, folder_head=not plain), device="cpu",
                            loaded=loaded)
            predictor = Predictor(load_checkpoint(out), device="cpu")
            conf = sum(confusion_matrix(s.labels, predictor.predict(s.image).argmax(0), len(names))
                       for s in scene_set.evaluate)
            ious = iou_per_class(conf)
            what = "the network alone (--plain)" if plain else "with the head kept"
            print(f"trained on {n} saved images ({epochs} epochs), {what}, raw argmax: "
                  + ", ".join(f"{names[c]} {ious[c]:.2f}" for c in new_classes)
                  + f"; mIoU {np.nanmean(ious) * 100:.1f}% ({time.time() - t0:.0f}s)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="240x320 scenes and half the training epochs")
    ap.add_argument("--model", default="v1", help="v1, v2 (the demo models) or a checkpoint path")
    ap.add_argument("--images", type=int, default=20, help="scenes to annotate (and the most saved for training)")
    ap.add_argument("--eval", type=int, default=20, help="further scenes to score untouched predictions on")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's; quick: half)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crf", default=None, help="CRF preset (default: the one the window starts with for the model)")
    ap.add_argument("--modes", default="abc", help="which of a, b, c to run")
    ap.add_argument("--no-train", action="store_true", help="skip Train on saved labels")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per scene")
    ap.add_argument("--scenes", default=None,
                    help="'own' (built-in scenes with two classes the demo models lack) or a FOLDER of images with "
                         "labels/*.png and labels/class_names.txt (default: the shifted belt domain)")
    ap.add_argument("--no-harm", dest="no_harm", action="store_false", default=True,
                    help="skip the no-harm row (home scenes, carried head vs the network)")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    t_start = time.time()
    path = {"v1": DEMO_V1, "v2": DEMO_V2}.get(args.model, Path(args.model))
    loaded = load_checkpoint(path)
    predictor = Predictor(loaded, device="cpu")
    preset_name = args.crf or preset_for_model(loaded.spec, path)  # default: what the window starts with
    params = preset(preset_name)
    backend = FastBackend(device="cpu", previews=None)
    size = (240, 320) if args.quick else None
    model_classes = loaded.spec.class_list()
    if args.scenes is None:
        scene_set = SceneSet("the shifted domain (fabric belt, warm light, new object colours)",
                             scenes(ANNOTATE_START, args.images, size), scenes(EVAL_START, args.eval, size),
                             model_classes, tuple(range(loaded.spec.n_classes)))
    elif args.scenes == "own":
        scene_set = own_scenes(args.images, args.eval, size, model_classes)
    else:
        scene_set = folder_scenes(Path(args.scenes), args.images, args.eval, model_classes)
    annotate_set, eval_set, source = scene_set.annotate, scene_set.evaluate, scene_set.source
    new_classes = [c for c, m in enumerate(source) if m < 0]
    sizes = sorted({s.image.shape[:2] for s in annotate_set})
    print(f"annotation effort on {scene_set.title}, "
          f"model {path.name}, CRF {preset_name} (fast), {len(annotate_set)} scenes "
          f"{', '.join(f'{w}x{h}' for h, w in sizes)}, until {TARGET_ACC:.0%} pixel accuracy or {MAX_STROKES} strokes; "
          f"torch threads {args.threads}; load {os.getloadavg()[0]:.1f}", flush=True)
    if new_classes:
        print(f"classes the model lacks: {', '.join(scene_set.classes.names[c] for c in new_classes)}")

    results = {}
    carried_at_10 = None
    for mode in args.modes:
        outcomes, seconds, (adapter, kept) = run_mode(mode, annotate_set, predictor, params, backend, args.verbose,
                                                      source, keep_after=min(10, len(annotate_set)))
        results[mode] = (outcomes, seconds)
        if mode == "c":
            carried_at_10 = (adapter, kept)
    print(f"{'mode':<40} {'strokes':>7} {'painted px':>11} {'reached 98%':>11} {'mean acc':>9} {'learn/stroke':>12} "
          f"{'time':>6}")
    for mode, (outs, seconds) in results.items():
        learn = sum(o.learn_s for o in outs) / max(sum(o.learn_n for o in outs), 1)
        learn_text = f"{learn * 1e3:.0f} ms" if mode != "a" else "-"
        print(f"{MODES[mode]:<40} {sum(o.strokes for o in outs):7d} {sum(o.painted for o in outs):11d} "
              f"{sum(o.accuracy >= TARGET_ACC for o in outs):7d}/{len(outs):<3d} "
              f"{np.mean([o.accuracy for o in outs]) * 100:8.1f}% {learn_text:>12} {seconds:5.0f}s")
    painted = {m: sum(o.painted for o in outs) for m, (outs, _) in results.items()}
    if new_classes and carried_at_10 is not None and eval_set:
        raw = class_ious(predictor, *carried_at_10, eval_set, new_classes)
        print("(raw argmax, before the CRF: "
              + ", ".join(f"{scene_set.classes.names[c]} {raw[c]:.2f}" for c in new_classes) + ")", flush=True)
        ious = class_ious(predictor, *carried_at_10, eval_set, new_classes, params, backend)
        print(f"new-class IoU after {min(10, len(annotate_set))} scenes: "
              + ", ".join(f"{scene_set.classes.names[c]} {ious[c]:.2f}" for c in new_classes), flush=True)
    if args.no_harm:
        carried, own = no_harm(predictor, params, backend, size, args.verbose)
        print(f"no harm: home accuracy carried {carried * 100:.1f}% vs network {own * 100:.1f}%", flush=True)

    if not args.no_train and "c" in results and args.scenes is None:
        labels = [o.labels for o in results["c"][0]]
        recipe = Recipe()
        epochs = args.epochs or (recipe.epochs // 2 if args.quick else recipe.epochs)
        recipe = Recipe(epochs=epochs)
        base = evaluate(loaded, eval_set)
        print(f"untouched predictions on {args.eval} further scenes (mIoU, raw network), trained with the app's "
              f"recipe (SGD, poly, {epochs} epochs, {recipe.holdout:.0%} held out) on the labels (c) saved:")
        print(f"  {'base model':<34} {base * 100:6.2f}%", flush=True)
        with tempfile.TemporaryDirectory(prefix="annotation_effort_") as tmp:
            for n in sorted({min(10, args.images), args.images}):
                folder = write_saved(Path(tmp) / f"saved{n}", annotate_set[:n], labels[:n])
                out = Path(tmp) / f"trained{n}.pt"
                t0 = time.time()
                train_on_folder(folder, path, out, recipe, device="cpu", loaded=loaded)
                miou = evaluate(load_checkpoint(out), eval_set)
                print(f"  {f'trained on {n} saved images':<34} {miou * 100:6.2f}%  ({(miou - base) * 100:+.2f} "
                      f"points, {time.time() - t0:.0f}s)", flush=True)
    if not args.no_train and new_classes and carried_at_10 is not None:
        train_new_classes(args, loaded, path, scene_set, results["c"][0], carried_at_10, new_classes)
    print(f"wall {time.time() - t_start:.0f}s, load {os.getloadavg()[0]:.1f}")
    if "a" in painted and any(m in painted for m in "bc"):
        best = min(painted[m] for m in "bc" if m in painted)
        print(f"effort ratio locks/adaptive: {painted['a'] / max(best, 1):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

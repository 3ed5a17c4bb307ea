"""Classes the model never knew (issue 23): the head over the folder's classes, carried across images, exported,
trained into a network, and learnt from strokes alone when nothing matches (kept in the folder: test_head_store.py)."""
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from engine.checkpoints import load_checkpoint
from engine.demo import own_classes
from engine.errors import EngineError
from engine.labels import ClassList
from engine.learn.adapt import AdaptConfig, HeadAdapter
from engine.learn.correction import ImageAdaptation, ReplayMemory
from engine.models.folder_head import NEW_CLASS_MARGIN, attached, fold_logits
from engine.predict import Predictor
from engine.project import ChannelMap
from tests.support.own_class_fixtures import CLASSES, SOURCE, cardboard_taught, demo, scene_with, stroke_on
from tests.support.predict_fixtures import V1, V2_MSC, small_image, tiny_predictor


def test_an_untaught_class_steals_no_pixel_and_known_classes_keep_the_networks_probabilities():
    loaded, pred = demo()
    sc = scene_with(own_classes.CARDBOARD)
    adapter = HeadAdapter(pred, source=SOURCE)
    probs = adapter.probs(pred.extract_features(sc.image), adapter.original)
    assert probs.shape[0] == 7 and probs[5:].max() < 1e-3          # starts improbable everywhere
    mapped = ChannelMap(SOURCE, 5).apply(pred.predict(sc.image))
    np.testing.assert_allclose(probs[:5] / probs[:5].sum(0), mapped[:5], atol=1e-5)


def test_fold_logits_gathers_known_channels_and_puts_new_ones_below_them():
    logits = torch.randn(1, 3, 4, 5)
    folded = fold_logits(logits, (2, -1, 0))
    torch.testing.assert_close(folded[:, 0], logits[:, 2])
    torch.testing.assert_close(folded[:, 2], logits[:, 0])
    expected = torch.logsumexp(logits[:, [0, 2]], dim=1) - NEW_CLASS_MARGIN    # channel 1 is dropped
    torch.testing.assert_close(folded[:, 1], expected)
    assert fold_logits(logits, (-1, -1)).abs().max() == 0                    # nothing known: uniform
    # one output (a backbone-only placeholder, softmax 1 everywhere) knows no class: the class matched to it
    # does not stand above the ones strokes teach
    assert fold_logits(torch.full((1, 1, 4, 5), 3.0), (0, -1, -1)).abs().max() == 0


def test_a_new_class_stroke_spreads_to_its_region_and_leaves_the_others_alone():
    loaded, pred = demo()
    sc = scene_with(own_classes.CARDBOARD)
    adapter = HeadAdapter(pred, source=SOURCE)
    image = ImageAdaptation(adapter, pred.extract_features(sc.image), "a")
    before = image.probs(adapter.original).argmax(0)
    locked = stroke_on(sc.labels, own_classes.CARDBOARD)
    head, probs = image.learn(adapter.original, sc.labels, locked)
    after = probs.argmax(0)
    region = sc.labels == own_classes.CARDBOARD
    grew = (after == own_classes.CARDBOARD) & region & ~locked
    assert grew.sum() > 3 * locked.sum()                               # beyond the painted pixels
    # away from the region (more than half a stride-8 cell: the raw map's edges are soft until the CRF)
    outside = ~cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert ((after == own_classes.CARDBOARD) & outside).sum() < 0.02 * region.sum()
    # other regions keep their labels (the narrow demo network's features do not separate every class: one stroke
    # moves a few per cent elsewhere, measured 3.0% here; see corrections-that-teach.md, "reaches too far")
    assert (after[outside] == before[outside]).mean() > 0.95
    assert head.taught_by(own_classes.CARDBOARD) == (1, 1) and head.taught_by(0) == (0, 0)


def test_a_new_class_narrower_than_a_cell_is_recovered_beyond_the_painted_pixels():
    """A 2-pixel shard across a plain belt (a stride-8 cell is 8 pixels): painted along its top quarter, the rest of
    it is predicted too, and the pixels 2-3 away from it, in the same cells, are not; the cell colour alone cannot
    tell them apart (without the pixel term nothing of the shard is found)."""
    loaded, pred = demo()
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(70, 4, (120, 160, 3)), 0, 255).astype(np.uint8)
    img[:, 81:83] = (30, 140, 60)
    labels = np.zeros((120, 160), np.uint8)
    labels[:, 81:83] = own_classes.GLASS
    locked = np.zeros((120, 160), bool)
    locked[10:40, 81:83] = locked[10:40, 60:66] = True                 # the shard's top, and some belt
    feats = pred.extract_features(img)
    found = {}
    for pixel_weight in (1.0, 0.0):
        adapter = HeadAdapter(pred, AdaptConfig(pixel_weight=pixel_weight), source=SOURCE)
        _, probs = ImageAdaptation(adapter, feats, "a").learn(adapter.original, labels, locked)
        out = probs.argmax(0)
        found[pixel_weight] = (out[50:115, 81:83] == own_classes.GLASS).mean()
        beside = out[50:115, [78, 79, 84, 85]]
        assert (beside == own_classes.GLASS).mean() < 0.1
        assert (out[:, :50] == own_classes.GLASS).sum() == 0
    assert found[1.0] > 0.8 and found[0.0] < 0.2


def test_a_class_taught_on_one_image_is_predicted_on_the_next_when_carried():
    loaded, pred = demo()
    adapter = HeadAdapter(pred, source=SOURCE)
    memory = ReplayMemory()
    first, second = scene_with(own_classes.CARDBOARD), scene_with(own_classes.CARDBOARD, skip=1)
    image = ImageAdaptation(adapter, pred.extract_features(first.image), "first")
    head, _ = image.learn(adapter.original, first.labels, stroke_on(first.labels, own_classes.CARDBOARD), memory)
    image.remember_saved(first.labels, memory)
    carried = adapter.probs(pred.extract_features(second.image), head, carried=True).argmax(0)
    region = second.labels == own_classes.CARDBOARD
    hit = (carried == own_classes.CARDBOARD) & region
    assert hit.sum() > 0.3 * region.sum()
    # taught by one stroke on one image, it also claims some of what that image never showed (a bag: 1.4x the
    # region here); the next strokes and images teach the difference
    assert ((carried == own_classes.CARDBOARD) & ~region).sum() < 2 * region.sum()


@pytest.mark.parametrize("spec", [V1, V2_MSC], ids=["v1", "v2-msc"])
def test_any_class_count_and_no_matching_class_at_all_learn_from_strokes_alone(spec, tmp_path):
    """A folder whose classes share no name with the model (all new): uniform until taught; two strokes then
    separate two regions, on v1 and on v2 with its scales."""
    pred = tiny_predictor(spec, tmp_path)
    adapter = HeadAdapter(pred, source=(-1, -1, -1))
    img = small_image(48, 64, seed=5)
    img[:, :32] = (200, 40, 40)
    img[:, 32:] = (40, 40, 200)
    feats = pred.extract_features(img)
    start = adapter.probs(feats, adapter.original)
    np.testing.assert_allclose(start, 1 / 3, atol=1e-6)
    labels = np.zeros((48, 64), np.uint8)
    labels[:, 32:] = 2
    locked = np.zeros((48, 64), bool)
    locked[20:28, 8:20] = locked[20:28, 44:56] = True
    head, probs = ImageAdaptation(adapter, feats, "a").learn(adapter.original, labels, locked)
    out = probs.argmax(0)
    assert (out[:, :28] == 0).mean() > 0.9 and (out[:, 36:] == 2).mean() > 0.9


def test_a_class_added_or_deleted_keeps_what_the_others_learnt():
    loaded, pred = demo()
    sc = scene_with(own_classes.CARDBOARD)
    adapter = HeadAdapter(pred, source=SOURCE[:6])
    head, _ = ImageAdaptation(adapter, pred.extract_features(sc.image), "a").learn(
        adapter.original, np.where(sc.labels == 6, 0, sc.labels).astype(np.uint8),
        stroke_on(sc.labels, own_classes.CARDBOARD))
    grown = adapter.with_source(SOURCE)
    feats = pred.extract_features(sc.image)
    p6, p7 = adapter.probs(feats, head), grown.probs(feats, grown.resized(head))
    assert p7.shape[0] == 7 and p7[6].max() < 5e-3 and not (p7.argmax(0) == 6).any()   # the added class: untaught
    np.testing.assert_allclose(p7[:6], p6, atol=1e-3)
    shrunk = adapter.with_source(SOURCE[:5])                           # the taught class deleted: its output goes
    p5 = shrunk.probs(feats, shrunk.resized(head))
    assert p5.shape[0] == 5 and shrunk.resized(head).taught == ()


def test_an_exported_adapted_model_predicts_exactly_what_an_untouched_image_shows(tmp_path):
    from engine.learn.export import export_adapted

    loaded, pred, adapter, head = cardboard_taught()
    out = export_adapted(tmp_path / "adapted.pt", loaded, adapter, head, CLASSES)
    back = load_checkpoint(out)
    assert back.spec.class_names == CLASSES.names and back.spec.n_classes == 7
    assert attached(back.model).has_pixel_term and attached(back.model).pixel.abs().max() > 0   # the pixel term too
    nxt = scene_with(own_classes.CARDBOARD, skip=1)
    shown = adapter.probs(pred.extract_features(nxt.image), head, carried=True)
    np.testing.assert_allclose(Predictor(back, device="cpu").predict(nxt.image), shown, atol=1e-6)


def test_training_starts_from_the_adapted_model_where_strokes_taught_a_class_from_an_export_or_the_folder(tmp_path):
    """A walk: finetune with an exported adapted model crashed (a traceback: the folder head was trained as the
    network's classifier), and from demo_v1 with the folder's head file its start called half a scene cardboard
    (the head's row copied without the floor it sits on). Both now start from rows distilled from the head: about
    where the adapted model is, and far from flooding."""
    from engine.learn.export import export_adapted
    from engine.learn.folder_classes import to_folder_classes

    loaded, pred, adapter, head = cardboard_taught()
    adapted = load_checkpoint(export_adapted(tmp_path / "adapted.pt", loaded, adapter, head, CLASSES))
    scenes = [scene_with(own_classes.CARDBOARD, skip=k) for k in range(3)]
    teacher = Predictor(adapted, device="cpu")
    for plain in (to_folder_classes(adapted, CLASSES, images=(sc.image for sc in scenes)),
                  to_folder_classes(loaded, CLASSES, head, images=[sc.image for sc in scenes])):
        assert attached(plain.model) is None and plain.spec.n_classes == 7
        start = Predictor(plain, device="cpu")
        wanted = kept = 0
        for sc in scenes:
            want, got = teacher.predict(sc.image).argmax(0), start.predict(sc.image).argmax(0)
            region = sc.labels == own_classes.CARDBOARD
            assert (got == own_classes.CARDBOARD).mean() < 1.5 * (want == own_classes.CARDBOARD).mean() + 0.01
            assert (got == want).mean() > 0.85
            wanted += ((want == own_classes.CARDBOARD) & region).sum()
            kept += ((got == own_classes.CARDBOARD) & region).sum()
        assert kept > 0.5 * wanted, (kept, wanted)          # (79 % here; 25 % with the first decay tried)
    no_head = to_folder_classes(loaded, CLASSES, None, images=[sc.image for sc in scenes])   # zero rows
    assert not (Predictor(no_head, device="cpu").predict(scenes[0].image).argmax(0) >= 5).any()


def test_distilled_rows_fit_the_aspp_classifier_of_a_multi_scale_v2(tmp_path):
    """ResNet-101's ASPP (the row goes to one branch's centre tap; the branches are summed) with its scales: a class
    the network lacks, taught by two strokes, is in the plain network's start where the head put it. (LargeFOV's 1x1
    fc8: the demo model, above; a random 8-channel LargeFOV cannot separate the region without the colour.)"""
    spec = V2_MSC
    from engine.learn.folder_classes import to_folder_classes

    pred = tiny_predictor(spec, tmp_path)
    n = pred.n_classes
    source = tuple(range(n)) + (-1,)
    adapter = HeadAdapter(pred, source=source)
    img = small_image(48, 64, seed=5)
    img[:, 40:] = (250, 250, 20)
    labels = np.zeros((48, 64), np.uint8)
    labels[:, 40:] = n
    locked = np.zeros((48, 64), bool)
    locked[18:30, 8:20] = locked[18:30, 46:58] = True
    head, _ = ImageAdaptation(adapter, pred.extract_features(img), "a").learn(adapter.original, labels, locked)
    want = adapter.probs(pred.extract_features(img), head, carried=True).argmax(0) == n
    names = ClassList(tuple(f"c{k}" for k in range(n + 1)))
    loaded = replace(pred.loaded, spec=replace(pred.loaded.spec, class_names=names.names[:n]))
    plain = to_folder_classes(loaded, names, head, images=[img])
    got = Predictor(plain, device="cpu").predict(img).argmax(0) == n
    assert want[:, 44:].mean() > 0.8 and got[:, 44:].mean() > 0.7 and got[:, :36].mean() < 0.1


@pytest.mark.parametrize("mode", [["--head-only"], []], ids=["head-only", "whole"])
def test_finetune_trains_an_exported_adapted_model_like_any_other_checkpoint(tmp_path, mode):
    """`finetune --model adapted.pt` on a folder with the same classes ended in a traceback (an empty parameter
    list, or 122 channels where 128 were expected): it trains the network under the head."""
    import cv2

    from engine.io.labels import write_class_names, write_label_png
    from engine.learn.export import export_adapted
    from main import main

    loaded, pred, adapter, head = cardboard_taught()
    model = export_adapted(tmp_path / "adapted.pt", loaded, adapter, head, CLASSES)
    folder = tmp_path / "site"
    (folder / "labels").mkdir(parents=True)
    for k in range(2):
        sc = scene_with(own_classes.CARDBOARD, skip=k)
        cv2.imwrite(str(folder / f"img{k}.png"), cv2.cvtColor(sc.image, cv2.COLOR_RGB2BGR))
        write_label_png(folder / "labels" / f"img{k}.png", sc.labels, CLASSES)
    write_class_names(folder / "labels" / "class_names.txt", CLASSES)
    out = tmp_path / "trained.pt"
    assert main(["finetune", str(folder), "--model", str(model), "--out", str(out), "--epochs", "1",
                 "--batch-size", "2", "--crop", "96", "--threads", "1", *mode]) == 0
    trained = load_checkpoint(out)
    # the network under the head now has every folder class, and keeps a head over them (engine.learn.trained_head)
    assert trained.spec.class_names == CLASSES.names and list(attached(trained.model).source) == list(range(7))
    assert Predictor(trained, device="cpu").predict(scene_with(own_classes.CARDBOARD).image).shape[0] == 7


def test_an_export_names_the_crf_preset_the_window_refined_with(tmp_path):
    """demo_v1.pt starts with the demo_v1 preset because of its file name; an export under another name must
    still name it (a walk found the window and prelabel refining an export with deeplab-v1's values)."""
    from engine.crf.params import preset, preset_for_model
    from engine.learn.export import export_adapted

    loaded, _, adapter, head = cardboard_taught()
    assert preset_for_model(loaded.spec, loaded.path) == "demo_v1" != loaded.spec.crf_preset
    out = export_adapted(tmp_path / "site-adapted.pt", loaded, adapter, head, CLASSES)
    assert preset_for_model(load_checkpoint(out).spec, out) == "demo_v1"          # no values given: the base's
    out = export_adapted(tmp_path / "site-adapted.pt", loaded, adapter, head, CLASSES, crf=preset("deeplab-v2"))
    assert preset_for_model(load_checkpoint(out).spec, out) == "deeplab-v2"       # the values shown, by name
    own = preset("deeplab-v2").replace(bi_w=7.25)
    out = export_adapted(tmp_path / "site-adapted.pt", loaded, adapter, head, CLASSES, crf=own)
    assert preset_for_model(load_checkpoint(out).spec, out) == "demo_v1"          # values of no preset: the base's


def test_backbone_only_checkpoints_load_as_feature_extractors(tmp_path):
    from engine.checkpoints.backbone import is_backbone_only

    loaded, _ = demo()
    sd = {k: v for k, v in loaded.model.state_dict().items() if not k.startswith("fc8")}   # vgg16_20M: no fc8
    torch.save(sd, tmp_path / "no_classifier.pth")
    sd["fc8.weight"], sd["fc8.bias"] = torch.randn(1000, 128, 1, 1), torch.zeros(1000)   # an ImageNet fc8
    torch.save(sd, tmp_path / "imagenet.pth")
    for name in ("no_classifier.pth", "imagenet.pth"):
        back = load_checkpoint(tmp_path / name)
        assert is_backbone_only(back) and back.spec.class_names == ("background",)
        pred = Predictor(back, device="cpu")
        adapter = HeadAdapter(pred, source=(-1, -1))                    # crop / weed: nothing matches
        sc = scene_with(own_classes.CARDBOARD)
        labels = (sc.labels == own_classes.CARDBOARD).astype(np.uint8)
        locked = stroke_on(labels, 1) | stroke_on(labels, 0, n=300)
        _, probs = ImageAdaptation(adapter, pred.extract_features(sc.image), "a").learn(adapter.original,
                                                                                         labels, locked)
        hit = (probs.argmax(0) == 1) & (labels == 1)
        assert hit.sum() > 2 * (locked & (labels == 1)).sum()
    assert not is_backbone_only(loaded)


def test_a_v1_file_missing_fc7_or_with_two_classifiers_says_what_is_wrong(tmp_path):
    """A walk: a v1 state dict with no fc7 was told 'expected conv1_1.weight ... found: conv1_1.weight, ...'."""
    from engine.errors import CheckpointError

    loaded, _ = demo()
    sd = {k: v for k, v in loaded.model.state_dict().items() if not k.startswith(("fc7", "fc8"))}
    torch.save(sd, tmp_path / "no_fc7.pth")
    with pytest.raises(CheckpointError, match="Caffe names but no fc7.weight"):
        load_checkpoint(tmp_path / "no_fc7.pth")
    sd = dict(loaded.model.state_dict())
    sd["fc8_coco.weight"], sd["fc8_coco.bias"] = sd["fc8.weight"], sd["fc8.bias"]
    torch.save(sd, tmp_path / "two.pth")
    with pytest.raises(CheckpointError, match="2 classifiers .*fc8.weight, fc8_coco.weight.*keep one"):
        load_checkpoint(tmp_path / "two.pth")


def test_a_backbone_only_model_carries_classes_taught_beside_its_placeholder_to_the_next_image(tmp_path):
    """A walk: a backbone-only checkpoint, a folder with "background" (the placeholder's name) and two classes
    added; strokes taught them on two images, yet every pixel of the third was background, and so was every pixel
    the exported model predicted. The gate had asked how sure a one-output network is (always: p = 1)."""
    loaded, _ = demo()
    sd = {k: v for k, v in loaded.model.state_dict().items() if not k.startswith("fc8")}
    torch.save(sd, tmp_path / "no_classifier.pth")
    pred = Predictor(load_checkpoint(tmp_path / "no_classifier.pth"), device="cpu")
    adapter = HeadAdapter(pred, source=(0, -1))                          # background (the placeholder), cardboard
    first, second = scene_with(own_classes.CARDBOARD), scene_with(own_classes.CARDBOARD, skip=1)
    labels = (first.labels == own_classes.CARDBOARD).astype(np.uint8)
    memory = ReplayMemory()
    image = ImageAdaptation(adapter, pred.extract_features(first.image), "first")
    head, _ = image.learn(adapter.original, labels, stroke_on(labels, 1) | stroke_on(labels, 0, n=300), memory)
    carried = adapter.probs(pred.extract_features(second.image), head, carried=True).argmax(0)
    region = second.labels == own_classes.CARDBOARD
    assert ((carried == 1) & region).sum() > 0.3 * region.sum()
    # and the placeholder, painted only as "not cardboard" here, does not take the cardboard it was not taught on
    # (before: it stood NEW_CLASS_MARGIN above every taught class wherever their rows were not sure)
    assert ((carried == 0) & region).sum() < 0.5 * region.sum()


def test_the_gate_asks_how_sure_the_network_is_of_a_folder_class_over_all_its_outputs():
    from engine.models.folder_head import gate_weights
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 2, 0, 0] = 20.0                 # cell 0: sure of network class 2; cell 1: unsure (1/3 each)
    # the folder lists network class 2 and one new class: gated where the network is sure of class 2
    g = gate_weights(logits, (2, -1), 0.9, 0.99)
    assert g[0, :, 0, 0].max() == 0 and g[0, 0, 0, 1] == 1 and g[0, 1, 0, 1] == 1
    # the folder lists network class 0 only: sure of class 2, which the folder lacks, the network says nothing
    g = gate_weights(logits, (0, -1), 0.9, 0.99)
    assert float(g.min()) == 1.0
    # one output (a backbone-only placeholder) is never sure
    assert float(gate_weights(torch.zeros(1, 1, 1, 2), (0, -1, -1), 0.9, 0.99).min()) == 1.0


def test_an_erased_stroke_leaves_no_trace_in_the_head():
    """Issue 26: erase what a stroke painted and the head is exactly the one the remaining strokes give."""
    loaded, pred = demo()
    sc = scene_with(own_classes.CARDBOARD)
    adapter = HeadAdapter(pred, source=SOURCE)
    image = ImageAdaptation(adapter, pred.extract_features(sc.image), "a")
    first = stroke_on(sc.labels, own_classes.CARDBOARD)
    only_first, _ = image.learn(adapter.original, sc.labels, first)
    second = first | stroke_on(sc.labels, 0, n=300)
    both, _ = image.learn(only_first, sc.labels, second)
    assert not torch.equal(both.tensors[0], only_first.tensors[0])
    erased, _ = image.learn(both, sc.labels, first)                    # the second stroke erased
    for a, b in zip(erased.tensors, only_first.tensors):
        assert torch.equal(a, b)


def test_more_folder_classes_than_a_label_map_holds_are_refused_and_the_most_still_learn():
    """Bad input: a 256th class is refused with a message (ids 0..254, 255 is void); a head over all 255 works."""
    from engine.project import ClassEditError, FolderClasses

    classes = FolderClasses.from_names([f"class {i}" for i in range(255)])
    with pytest.raises(ClassEditError, match="at most 255 classes"):
        classes.add("one too many")
    loaded, pred = demo()
    adapter = HeadAdapter(pred, source=tuple(range(5)) + (-1,) * 250)
    sc = scene_with(own_classes.CARDBOARD)
    labels = np.where(sc.labels == own_classes.CARDBOARD, 254, sc.labels).astype(np.uint8)
    head, probs = ImageAdaptation(adapter, pred.extract_features(sc.image), "a").learn(
        adapter.original, labels, stroke_on(labels, 254))
    assert probs.shape[0] == 255 and ((probs.argmax(0) == 254) & (labels == 254)).sum() > 0.3 * (labels == 254).sum()


def test_a_model_that_already_carries_a_head_is_not_exported_again(tmp_path):
    """One head is exported on top of a network. A model that carries one already (an export, or a network trained
    with classes of its own, which keeps its head) is refused with what to do instead, and nothing is written."""
    from engine.learn.export import export_adapted

    loaded, _, adapter, head = cardboard_taught()
    first = export_adapted(tmp_path / "adapted.pt", loaded, adapter, head, CLASSES)
    again = load_checkpoint(first)
    with pytest.raises(EngineError, match="already carries a head.*Train on saved labels"):
        export_adapted(tmp_path / "again.pt", again, adapter, head, CLASSES)
    assert not (tmp_path / "again.pt").exists()


def test_training_a_v2_msc_network_with_a_class_it_lacks_keeps_a_head_that_loads_and_predicts(tmp_path):
    """The kept head (engine.learn.trained_head) on DeepLab v2 with multi-scale inputs: fitted on its scales, written
    with the network, loaded back with every folder class, predicting probabilities that sum to one."""
    from engine.checkpoints.own_format import save_checkpoint
    from engine.io.labels import write_class_names, write_label_png
    from engine.learn.finetune import Recipe, train_on_folder
    from engine.models.registry import build_model

    spec = replace(V2_MSC, class_names=("background", "a", "b", "c"))
    torch.manual_seed(0)
    base = tmp_path / "v2.pt"
    save_checkpoint(base, build_model(spec), spec)
    folder = tmp_path / "site"
    (folder / "labels").mkdir(parents=True)
    classes = ClassList(("background", "a", "b", "c", "shard"))
    for k in range(2):
        image = small_image(48, 64, seed=k)
        labels = np.zeros((48, 64), np.uint8)
        labels[8:30, 10:40] = 4
        image[8:30, 10:40] = (250, 20, 200)
        cv2.imwrite(str(folder / f"img{k}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        write_label_png(folder / "labels" / f"img{k}.png", labels, classes)
    write_class_names(folder / "labels" / "class_names.txt", classes)
    out = tmp_path / "trained.pt"
    res = train_on_folder(folder, base, out, Recipe(mode="head", epochs=1, batch_size=2, crop=48), device="cpu")
    trained = load_checkpoint(out)
    assert res.folder_head is not None and list(attached(trained.model).source) == list(range(5))
    probs = Predictor(trained, device="cpu").predict(small_image(48, 64, seed=0))
    assert probs.shape == (5, 48, 64) and np.allclose(probs.sum(0), 1, atol=1e-4)

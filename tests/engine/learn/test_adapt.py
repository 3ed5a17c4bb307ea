"""Head adaptation (engine.learn): locked pixels as stride-8 targets, the head learning a stroke on cached features,
and the demo model's confidently wrong region flipping after one stroke, with the locked pixels kept."""
import numpy as np
import pytest

from engine.annotate.edits import EditableLabels
from engine.checkpoints import load_checkpoint
from engine.crf import PRESETS, get_backend
from engine.crf.constraints import run_constrained
from engine.demo.annotator import largest_wrong_region, next_stroke, paint
from engine.errors import Cancelled, EngineError
from engine.labels import VOID
from engine.learn.adapt import AdaptConfig, HeadAdapter
from engine.learn.correction import ImageAdaptation, ReplayMemory
from engine.learn.grid import changed_box, footprint_edges, grid_targets
from engine.paths import DEMO_V1
from engine.predict import Predictor
from tests.support.learn_fixtures import shifted_scene
from tests.support.predict_fixtures import V1, V2_MSC, small_image, tiny_predictor

# ---- targets on the grid --------------------------------------------------------------------------------------------

def test_footprints_tile_the_image():
    edges = footprint_edges(np.array([0, 8, 16, 24]), 27)
    assert edges.tolist() == [0, 4, 12, 20, 27]


def test_grid_targets_take_the_majority_ignore_void_and_mark_free_cells():
    labels = np.zeros((16, 16), np.uint8)
    locked = np.zeros((16, 16), bool)
    labels[0:8, 0:8], locked[0:8, 0:3] = 2, True          # cell (0,0): 24/64 painted class 2
    labels[0:8, 5:8], locked[0:8, 5:8] = 1, True          # ... and 24/64 of class 1 -> a tie: the first class wins
    labels[8:16, 8:16], locked[8:16, 8:16] = VOID, True    # cell (1,1): erased (void) only
    labels[8:16, 0:2], locked[8:16, 0:2] = 1, True         # cell (1,0): a thin strip of class 1
    t = grid_targets(labels, locked, np.array([4, 12]), np.array([4, 12]), n_classes=3)
    assert t.target.tolist() == [[1, -1], [1, -1]]
    assert t.weight[0, 0] == pytest.approx(24 / 64) and t.weight[1, 0] == pytest.approx(16 / 64)
    assert t.free.tolist() == [[False, True], [False, True]]   # void locks are not painted: the cell is free
    # a value that is no class (restored from an autosave made with more classes, issue 26) teaches nothing
    t = grid_targets(np.full((16, 16), 7, np.uint8), np.ones((16, 16), bool), np.array([4, 12]), np.array([4, 12]), 3)
    assert t.target.tolist() == [[-1, -1], [-1, -1]] and t.free.all()


def test_a_one_pixel_stroke_between_cell_centres_still_teaches(tmp_path):
    pred = tiny_predictor(V1, tmp_path)
    image = small_image(57, 49)
    feats = pred.extract_features(image)
    ys, xs = pred.cell_centres(feats)
    edits = EditableLabels(np.zeros((57, 49), np.uint8), n_classes=3)
    col = int(xs[2] + xs[3]) // 2 + 1        # between two cell centres, on no centre
    assert col not in set(xs.tolist())
    edits.brush([(col, 5), (col, 50)], 0, 2)
    t = HeadAdapter(pred).targets(feats, *edits.snapshot())
    assert t.n_locked >= 5 and set(np.unique(t.target[t.target >= 0])) == {2}


def test_changed_box():
    a = np.zeros((10, 12), np.uint8)
    b = a.copy()
    assert changed_box(a, b) is None
    b[2:4, 5:9] = 1
    assert changed_box(a, b) == (5, 2, 9, 4)
    assert changed_box(a, b, margin=3) == (2, 0, 12, 7)
    assert changed_box(None, b) == (0, 0, 12, 10)


# ---- the head -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [V1, V2_MSC], ids=["v1", "v2-msc"])
def test_the_original_head_is_the_prediction_and_a_fitted_one_learns(spec, tmp_path):
    pred = tiny_predictor(spec, tmp_path)
    image = small_image(48, 64, seed=1)
    feats = pred.extract_features(image)
    adapter = HeadAdapter(pred, AdaptConfig(steps=40))
    np.testing.assert_array_equal(adapter.probs(feats, adapter.original), pred.predict(image))
    before = pred.predict(image).argmax(0)
    cls = int(np.bincount(before.ravel(), minlength=spec.n_classes).argmin())   # the rarest class now
    edits = EditableLabels(before.astype(np.uint8), n_classes=spec.n_classes)
    edits.brush([(10, 10), (40, 30)], 4, cls)
    labels, locked = edits.snapshot()
    state = adapter.fit(feats, adapter.targets(feats, labels, locked), adapter.original, image_id="a")
    after = adapter.probs(feats, state).argmax(0)
    assert (after[locked] == cls).mean() > 0.9 > (before[locked] == cls).mean()
    assert state.strokes == 1 and state.images == {"a"} and not state.is_original
    assert state.describe() == "model adapted on 1 stroke / 1 image"
    assert all(p.grad is None for p in pred.model.classifier.parameters())   # the network's own head: untouched
    np.testing.assert_array_equal(adapter.probs(feats, adapter.original), pred.predict(image))  # network untouched


def test_classifier_kind_trains_the_aspp_branches(tmp_path):
    pred = tiny_predictor(V2_MSC, tmp_path)
    feats = pred.extract_features(small_image(48, 64, seed=2))
    adapter = HeadAdapter(pred, AdaptConfig(kind="classifier", steps=20))
    labels = np.full((48, 64), 3, np.uint8)
    state = adapter.fit(feats, adapter.targets(feats, labels, np.ones((48, 64), bool)), adapter.original)
    assert len(state.tensors) == 8     # 4 branches x (weight, bias)
    assert (adapter.probs(feats, state).argmax(0) == 3).mean() > 0.9
    with pytest.raises(EngineError, match="head kind"):
        AdaptConfig(kind="fc9")


def test_no_locks_left_returns_the_anchor_and_fit_can_be_cancelled(tmp_path):
    pred = tiny_predictor(V1, tmp_path)
    feats = pred.extract_features(small_image(40, 40))
    adapter = HeadAdapter(pred)
    empty = adapter.targets(feats, np.zeros((40, 40), np.uint8), np.zeros((40, 40), bool))
    anchor = adapter.fit(feats, adapter.targets(feats, np.ones((40, 40), np.uint8), np.ones((40, 40), bool)),
                         adapter.original)
    assert adapter.fit(feats, empty, anchor, anchor=anchor) is anchor
    with pytest.raises(Cancelled):
        adapter.fit(feats, adapter.targets(feats, np.ones((40, 40), np.uint8), np.ones((40, 40), bool)),
                    adapter.original, should_cancel=lambda: True)


def test_replay_memory_is_bounded_and_forgets(tmp_path):
    pred = tiny_predictor(V1, tmp_path)
    adapter = HeadAdapter(pred)
    memory = ReplayMemory(max_images=2)
    locked = np.ones((40, 40), bool)
    for k in range(3):
        feats = pred.extract_features(small_image(40, 40, seed=k))
        memory.remember(f"im{k}", feats, adapter.targets(feats, np.ones((40, 40), np.uint8), locked))
    assert len(memory) == 2 and len(memory.items(exclude="im2")) == 1
    memory.remember("im2", feats, adapter.targets(feats, np.ones((40, 40), np.uint8), ~locked))  # no locks left
    assert len(memory) == 1
    memory.forget()
    assert len(memory) == 0
    epoch = memory.epoch                   # work begun before a forget-all adds nothing after it
    memory.forget()
    memory.remember("late", feats, adapter.targets(feats, np.ones((40, 40), np.uint8), locked), epoch=epoch)
    assert len(memory) == 0
    memory.remember("now", feats, adapter.targets(feats, np.ones((40, 40), np.uint8), locked), epoch=memory.epoch)
    assert len(memory) == 1


# ---- on the demo model, shifted domain: the case of the issue --------------------------------------------------------

@pytest.fixture(scope="module")
def demo_v1():
    return Predictor(load_checkpoint(DEMO_V1), device="cpu")


def test_a_stroke_on_a_confidently_wrong_region_flips_most_of_it(demo_v1):
    """The demo model calls the new site's pale belt 'plastic bag' with confidence; one belt stroke in the middle of
    that region: locks alone flip little of it, the adapted head most of it, and what was right stays right."""
    scene = shifted_scene(2)
    params = PRESETS["deeplab-v1"]
    probs = demo_v1.predict(scene.image)
    session = get_backend("fast").session(scene.image)
    before = session.run(probs, params).labels
    region, cls = largest_wrong_region(before, scene.labels)
    assert probs.max(0)[region].mean() > 0.8 and region.mean() > 0.3   # confidently wrong, and large
    edits = EditableLabels(before, n_classes=5)
    painted = paint(edits, next_stroke(before, scene.labels))
    labels, locked = edits.snapshot()
    assert painted < 0.15 * region.sum()

    locks_only = run_constrained(session, probs, params, labels, locked).labels
    adapter = HeadAdapter(demo_v1)
    head, adapted_probs = ImageAdaptation(adapter, demo_v1.extract_features(scene.image), "s2").learn(
        adapter.original, labels, locked)
    adapted = run_constrained(session, adapted_probs, params, labels, locked).labels
    right = (before == scene.labels) & ~region
    assert (locks_only[region] == cls).mean() < 0.3
    assert (adapted[region] == cls).mean() > 0.8
    assert (adapted[right] == scene.labels[right]).mean() > 0.95
    for result in (locks_only, adapted):          # locked pixels never change
        assert np.array_equal(result[locked], labels[locked])


@pytest.mark.parametrize("own_classes", [False, True], ids=["model-classes", "folder-classes"])
@pytest.mark.parametrize("spec", [V1, V2_MSC], ids=["v1", "v2-msc"])
def test_compact_replay_is_the_full_maps_cross_entropy(spec, own_classes, tmp_path):
    """Replay runs on copies of the earlier images' locked cells only: the same loss and gradient as the fused
    logits of the whole feature maps (v2: three scales brought to the 1x size and max-fused), also over a folder
    class list with classes the network lacks and one of its channels dropped."""
    import torch
    import torch.nn.functional as F

    from engine.learn.adapt import _weighted_ce
    from engine.models.folder_head import FolderHead
    pred = tiny_predictor(spec, tmp_path)
    source = (2, 0, -1, 1, -1) if own_classes else None
    adapter = HeadAdapter(pred, source=source)
    feats = pred.extract_features(small_image(48, 64, seed=3))
    n = adapter.n_classes
    labels = np.random.default_rng(0).integers(0, n, (48, 64)).astype(np.uint8)
    locked = np.zeros((48, 64), bool)
    locked[5:30, 10:40] = True
    targets = adapter.targets(feats, labels, locked)
    cf = feats.maps[0].shape[1]
    gen = torch.Generator().manual_seed(1)
    module = FolderHead(adapter._base, adapter.source, torch.nn.Parameter(torch.randn(n, cf, generator=gen)),
                        torch.nn.Parameter(torch.randn(n, generator=gen)), 0.05)
    compact = adapter._replay_term([(feats, targets)])(module)
    logp = F.log_softmax(pred.head_logits(feats, module), dim=1)[0]
    full = _weighted_ce(logp, torch.from_numpy(targets.target), torch.from_numpy(targets.weight))
    assert float(compact.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    g_compact = torch.autograd.grad(compact, module.weight)[0]
    g_full = torch.autograd.grad(_weighted_ce(F.log_softmax(pred.head_logits(feats, module), dim=1)[0],
                                              torch.from_numpy(targets.target), torch.from_numpy(targets.weight)),
                                 module.weight)[0]
    torch.testing.assert_close(g_compact, g_full, rtol=1e-4, atol=1e-6)


def test_a_stroke_that_only_adds_is_held_to_the_head_before_it_an_erase_to_the_opened_one(tmp_path, monkeypatch):
    pred = tiny_predictor(V1, tmp_path)
    adapter = HeadAdapter(pred)
    image = ImageAdaptation(adapter, pred.extract_features(small_image(48, 64, seed=4)), "a")
    held = []
    fit = adapter.fit
    monkeypatch.setattr(adapter, "fit", lambda f, t, state, anchor, *a, **k: held.append(anchor) or
                        fit(f, t, state, anchor, *a, **k))
    edits = EditableLabels(np.zeros((48, 64), np.uint8), n_classes=V1.n_classes)
    edits.brush([(5, 5), (20, 5)], 3, 1)
    first, _ = image.learn(adapter.original, *edits.snapshot())
    assert held[-1] is adapter.original and first.only_adds_to("a", image.adapter.targets(image.features,
                                                                                          *edits.snapshot()))
    before = image.adapter.targets(image.features, *edits.snapshot())
    edits.brush([(5, 12), (20, 12)], 3, 2)     # a second stroke beside the first, in the same cells: only adds,
    second, _ = image.learn(first, *edits.snapshot())   # though some of those cells now take its class
    after = image.adapter.targets(image.features, *edits.snapshot())
    assert held[-1] is first and ((before.target == 1) & (after.target == 2)).any()
    edits.brush([(40, 30), (60, 40)], 3, 2)                 # a third, elsewhere
    third, _ = image.learn(second, *edits.snapshot())
    assert held[-1] is second
    second = third
    assert not second.only_adds_to("b", image.adapter.targets(image.features, *edits.snapshot()))  # another image
    edits.erase([(5, 5), (20, 5)], 4)                       # erasing the first: back to the opened head
    image.learn(second, *edits.snapshot())
    assert held[-1] is adapter.original
    edits.brush([(40, 30), (60, 40)], 3, 1)                 # painting over the third with another class
    image.learn(second, *edits.snapshot())
    assert held[-1] is adapter.original


def test_a_saved_image_replays_every_labelled_cell_but_not_void(tmp_path):
    pred = tiny_predictor(V1, tmp_path)
    adapter = HeadAdapter(pred)
    image = ImageAdaptation(adapter, pred.extract_features(small_image(48, 64, seed=5)), "a")
    memory = ReplayMemory()
    labels = np.ones((48, 64), np.uint8)
    labels[:, :32] = VOID                                   # the left half was not labelled
    image.remember_saved(labels, None)                      # not carried: nothing to remember in
    image.remember_saved(labels, memory)
    (_, saved), = memory.items()
    all_cells = adapter.targets(image.features, np.ones((48, 64), np.uint8), np.ones((48, 64), bool))
    assert 0 < saved.n_locked < all_cells.n_locked
    assert set(np.unique(saved.target[saved.target >= 0])) == {1}
    assert saved.target[:, 0].max() == -1 and saved.target[:, -1].min() == 1   # void columns teach nothing


def test_warm_up_optimizer_takes_torch_s_one_time_import_off_the_first_stroke():
    """The first optimizer a process makes imports torch's compiler (seconds); after warm_up_optimizer making the
    learning step's LBFGS imports nothing more. In a fresh interpreter, so nothing imported it before."""
    from tests.support.paths import fresh_python
    code = (
        "import sys, torch\n"
        "from engine.learn.adapt import warm_up_optimizer\n"
        "before = set(sys.modules)\n"
        "warm_up_optimizer()\n"
        "loaded = set(sys.modules) - before\n"
        "assert loaded, 'the warm-up imported nothing: the first optimizer is cheap now (drop the warm-up?)'\n"
        "after = set(sys.modules)\n"
        "torch.optim.LBFGS([torch.zeros(2, requires_grad=True)], lr=1.0, max_iter=3, history_size=10,\n"
        "                  line_search_fn='strong_wolfe')\n"
        "assert set(sys.modules) == after, sorted(set(sys.modules) - after)\n"
    )
    done = fresh_python(code)
    assert done.returncode == 0, done.stderr

"""engine.batch in one process: `main.py prelabel` outputs, resuming, errors, hand labels, the pipeline's overlap."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from engine.annotate.state import ImageState
from engine.batch import PrelabelSettings, prelabel, read_report, read_scores
from engine.batch.cli import main as cli_main
from engine.batch.pipeline import pipelined, sequential
from engine.batch.plan import Item
from engine.batch.stages import Outcome
from engine.errors import ImageReadError
from engine.folder.dataset import Dataset, Status, is_machine_label
from engine.io.labels import read_label_png, write_label_png
from engine.io.provenance import make_provenance, read_provenance
from tests.support.prelabel_fixtures import (BROKEN_IMAGE, CRF, HAND_IMAGE, colour_classes, colour_model, copy_folder,
                                             hand_labels, label_bytes, make_prelabel_folder)

CRF_JSON = json.dumps({"iterations": CRF.iterations})   # the model's preset (deeplab-v1) with 3 iterations


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The folder before any run, and a copy after one `main.py prelabel` (with what it printed)."""
    root = tmp_path_factory.mktemp("prelabel")
    model = root / "colour.pt"
    colour_model(model)
    fresh = make_prelabel_folder(root / "fresh")
    done = copy_folder(fresh, root / "done")
    hand_before = label_bytes(fresh)[HAND_IMAGE], (fresh / "labels" / "img2.provenance.json").read_bytes()
    return fresh, done, model, hand_before


def _cli(folder, model, *extra):
    return cli_main([str(folder), "--model", str(model), "--crf-params", CRF_JSON, "--threads", "1", *extra])


@pytest.fixture(scope="module")
def cli_result(first_run):
    fresh, done, model, _ = first_run
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = _cli(done, model)
    return rc, out.getvalue(), err.getvalue()


def test_cli_writes_machine_labels_report_and_lists_errors(first_run, cli_result):
    fresh, done, model, (hand_png, hand_sidecar) = first_run
    rc, out, err = cli_result
    assert rc == 1, "a broken image must make the exit status non-zero"
    labels = done / "labels"
    for name in ("img1", "img3", "img4"):
        lab = read_label_png(labels / f"{name}.png")
        assert lab.shape == (96, 128) and set(np.unique(lab)) <= {0, 1, 2} and len(np.unique(lab)) >= 2
        record = read_provenance(labels / f"{name}.png")
        assert record.origin == "machine" and record.machine_made
        assert record.crf_params == CRF.to_dict() and record.crf_backend == "fast"
        assert record.model_name == "colour-test" and record.edited_pixels == 0
    # the hand-saved labels are untouched, byte for byte, sidecar included
    assert (labels / HAND_IMAGE).read_bytes() == hand_png
    assert (labels / "img2.provenance.json").read_bytes() == hand_sidecar
    assert not (labels / "broken.png").exists()
    rows = read_report(labels)
    assert [rows[n].status for n in ("img1.png", "img2.png", "img3.png", "img4.png", BROKEN_IMAGE)] == \
        ["labelled", "hand-labelled", "labelled", "labelled", "error"]
    assert 0.0 <= rows["img1.png"].mean_uncertainty <= 1.0 and rows["img2.png"].mean_uncertainty is None
    assert set(rows["img1.png"].classes) <= {"background", "red thing", "green thing"}
    assert "not a readable image" in rows[BROKEN_IMAGE].detail
    # the run went on past the error, said what happened, and listed the error at the end
    assert "pre-labelled 3 images" in out and "kept 1 hand-saved label" in out
    assert "1 error:" in out and BROKEN_IMAGE in out.split("1 error:")[1]
    assert BROKEN_IMAGE in err and "img/s" in err  # tqdm's bar shows the rate


def test_the_window_sorts_by_the_report_and_shows_machine_labels_as_pre_labelled(first_run, cli_result):
    done = first_run[1]
    ds = Dataset(done)
    status = {e.path.name: e.status for e in ds.entries}
    assert status == {"broken.png": Status.NEW, "img1.png": Status.PRELABELLED, "img2.png": Status.SAVED,
                      "img3.png": Status.PRELABELLED, "img4.png": Status.PRELABELLED}
    scores = read_scores(ds)
    rows = read_report(ds.labels_dir)
    assert {ds.image_id(i) for i in scores} == {"img1.png", "img3.png", "img4.png"}
    assert all(scores[i] == pytest.approx(rows[ds.image_id(i)].mean_uncertainty) for i in scores)
    # opened in the window: pre-labelled until a person saves it, then saved
    i = ds.index_of("img1.png")
    st = ImageState(index=i, path=ds[i].path, image=np.zeros((96, 128, 3), np.uint8))
    st.set_saved_labels(ds.load_labels(i), machine=ds.is_machine_labelled(i))
    assert st.status == Status.PRELABELLED and not st.dirty
    st.mark_saved()
    assert st.status == Status.SAVED


def test_sequential_and_pipelined_runs_write_identical_labels(first_run, cli_result, tmp_path):
    fresh, done, model, _ = first_run
    loaded = colour_model(tmp_path / "m.pt")
    folder = copy_folder(fresh, tmp_path / "seq")
    summary = prelabel(folder, loaded, PrelabelSettings(CRF, net_threads=1), runner="sequential")
    assert summary.labelled == 3 and len(summary.errors) == 1 and summary.kept == 1
    assert label_bytes(folder) == label_bytes(done)


def test_resume_skips_finished_images_and_says_so(first_run, cli_result, tmp_path, capsys):
    done, model = first_run[1], first_run[2]
    folder = copy_folder(done, tmp_path / "again")
    stamps = {p.name: p.stat().st_mtime_ns for p in (folder / "labels").iterdir()}
    rc = _cli(folder, model)
    out = capsys.readouterr().out
    assert rc == 1  # the broken image is tried again, and fails again
    assert "skipping 3 already pre-labelled with this model and CRF settings" in out
    assert "pre-labelled 0 images" in out
    for name in ("img1.png", "img1.provenance.json", "img2.png", "img3.png", "img4.provenance.json"):
        assert (folder / "labels" / name).stat().st_mtime_ns == stamps[name], f"{name} was rewritten"
    rows = read_report(folder / "labels")
    assert rows["img1.png"].status == "skipped" and rows["img1.png"].mean_uncertainty is not None
    # other CRF settings: the machine labels are redone, the hand labels still kept
    (folder / BROKEN_IMAGE).unlink()
    rc = cli_main([str(folder), "--model", str(model), "--crf", "none", "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "pre-labelled 3 images" in out and "skipping" not in out
    assert read_provenance(folder / "labels" / "img1.png").crf_params is None
    assert (folder / "labels" / HAND_IMAGE).stat().st_mtime_ns == stamps[HAND_IMAGE]


def test_labels_saved_by_hand_after_a_run_are_never_overwritten(first_run, cli_result, tmp_path):
    done = first_run[1]
    folder = copy_folder(done, tmp_path / "reviewed")
    ds = Dataset(folder)
    # img1: a person corrected and saved it in the app; img3: repainted by another tool, sidecar left behind
    i1, i3 = ds.index_of("img1.png"), ds.index_of("img3.png")
    mine = hand_labels()
    ds.save(i1, mine, colour_classes(), provenance=make_provenance(mine, mine == 2, "img1.png"))
    assert not is_machine_label(ds[i1].label_path) and ds.status(i1) == Status.SAVED
    other = np.full((96, 128), 1, np.uint8)
    write_label_png(ds[i3].label_path, other, colour_classes())
    assert is_machine_label(ds[i3].label_path) and not is_machine_label(ds[i3].label_path, verify=True)
    before = label_bytes(folder)
    loaded = colour_model(tmp_path / "m.pt")
    summary = prelabel(folder, loaded, PrelabelSettings(None, net_threads=1))  # new settings: redo all it may
    after = label_bytes(folder)
    assert after["img1.png"] == before["img1.png"] and after["img3.png"] == before["img3.png"]
    assert after["img2.png"] == before["img2.png"]
    assert read_provenance(folder / "labels" / "img4.png").crf_params is None   # the machine label was redone
    assert summary.kept == 3 and summary.labelled == 1
    assert read_report(folder / "labels")["img3.png"].status == "hand-labelled"


def test_cancelled_run_keeps_what_finished_and_resumes(first_run, tmp_path):
    fresh = first_run[0]
    folder = copy_folder(fresh, tmp_path / "cancel")
    loaded = colour_model(tmp_path / "m.pt")
    settings = PrelabelSettings(CRF, net_threads=1)
    done = []
    summary = prelabel(folder, loaded, settings, on_result=lambda o, r: o.ok and done.append(o.item.name),
                       should_cancel=lambda: bool(done))   # stop once one image is labelled
    assert summary.cancelled and summary.labelled == 1 and done == ["img1.png"]
    # the finished ones (broken.png comes first) and the kept hand label
    assert set(read_report(folder / "labels")) == {BROKEN_IMAGE, "img1.png", "img2.png"}
    assert not (folder / "labels" / "img3.png").exists()
    again = prelabel(folder, loaded, settings)
    assert again.skipped == 1 and again.labelled == 2 and not again.cancelled


@pytest.mark.parametrize("argv, message", [
    (["--crf-params", "{not json"], "not valid JSON"),
    (["--crf-params", '{"bi_wx": 3}'], "unknown parameter(s) bi_wx"),
    (["--crf-params", '{"bi_w": -1}'], "must be >= 0"),
    (["--crf", "no-such-preset"], "unknown CRF preset"),
    (["--workers", "2"], "--workers needs --ray"),
])
def test_cli_refuses_bad_settings_with_a_message(first_run, argv, message, capsys):
    fresh, _, model, _ = first_run
    assert cli_main([str(fresh), "--model", str(model), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (fresh / "labels" / "prelabel.csv").exists()


def test_cli_refuses_a_missing_folder(tmp_path, first_run, capsys):
    assert cli_main([str(tmp_path / "nope"), "--model", str(first_run[2])]) == 2
    assert "not a folder of images" in capsys.readouterr().err
    assert cli_main(["--model", str(first_run[2])]) == 2
    assert "give the folder" in capsys.readouterr().err


def test_ray_flag_before_the_folder_takes_the_folder(monkeypatch, first_run):
    """`prelabel --ray FOLDER` must not read FOLDER as a cluster address."""
    import engine.batch.cli as cli

    seen = {}
    monkeypatch.setattr(cli, "_run", lambda args: seen.update(folder=args.folder, ray=args.ray) or 0)
    fresh = first_run[0]
    assert cli.main(["--ray", str(fresh)]) == 0 and seen == {"folder": fresh, "ray": "local"}
    assert cli.main([str(fresh), "--ray", "auto"]) == 0 and seen == {"folder": fresh, "ray": "auto"}


# ----- the pipeline itself, with stand-in stages -----------------------------------------------------------------

class _Net:
    """Stand-in network: each image waits (up to 10 s) until the CRF of the image before it (the last one that got
    through the network) has started, which only a pipeline can satisfy; records whether it did."""

    def __init__(self, crf_started, fail=()):
        self.crf_started, self.fail, self.overlapped, self.last = crf_started, set(fail), [], None
        self.calls = []

    def pin_threads(self):
        pass

    def __call__(self, image, should_cancel=None):
        k = int(image[0, 0, 0])
        self.calls.append(("net", k))
        if k in self.fail:
            raise RuntimeError("network exploded")
        if self.last is not None and self.crf_started is not None:
            self.overlapped.append(self.crf_started[self.last].wait(10))
        self.last = k
        return np.full((2, 4, 4), 0.5, np.float32)


class _Crf:
    def __init__(self, crf_started, calls):
        self.crf_started, self.calls = crf_started, calls

    def __call__(self, image, probs, should_cancel=None):
        k = int(image[0, 0, 0])
        self.calls.append(("crf", k))
        if self.crf_started is not None:
            self.crf_started[k].set()
        return np.full((4, 4), k, np.uint8), 0.5


def _items(n):
    return [Item(k, f"im{k}.png", f"/nowhere/im{k}.png") for k in range(n)]


@pytest.fixture
def fake_read(monkeypatch):
    import engine.batch.pipeline as pipeline

    def read(item):
        if item.index == 3:
            raise ImageReadError(f"{item.path}: not a readable image")
        return np.full((4, 4, 3), item.index, np.uint8)
    monkeypatch.setattr(pipeline, "read_stage", read)


def test_pipeline_runs_the_network_while_the_crf_refines_the_image_before(fake_read):
    started = [threading.Event() for _ in range(7)]
    net = _Net(started, fail={4})
    outs = list(pipelined(_items(7), net, _Crf(started, net.calls)))
    assert [o.item.index for o in outs] == list(range(7))      # every image, in input order
    assert [o.ok for o in outs] == [True, True, True, False, False, True, True]
    assert "not a readable image" in outs[3].error and "network exploded" in outs[4].error
    assert "im4.png" in outs[4].error
    assert all(int(o.labels[0, 0]) == o.item.index for o in outs if o.ok)
    # images 1, 2, 5, 6: the network waited for the previous image's CRF to start, and it did (overlap)
    assert net.overlapped == [True, True, True, True]


def test_sequential_loop_runs_one_stage_after_the_other(fake_read):
    net = _Net(None)
    outs = list(sequential(_items(3), net, _Crf(None, net.calls)))
    assert [o.ok for o in outs] == [True, True, True]
    assert net.calls == [("net", 0), ("crf", 0), ("net", 1), ("crf", 1), ("net", 2), ("crf", 2)]


def _prelabel_threads():
    return [t for t in threading.enumerate() if t.name.startswith("prelabel-")]


def test_dropping_or_cancelling_the_pipeline_stops_its_threads(fake_read):
    net = _Net(None)
    gen = pipelined(_items(50), net, _Crf(None, net.calls))
    assert isinstance(next(gen), Outcome)
    gen.close()
    assert not _prelabel_threads()
    got = []
    net = _Net(None)
    for o in pipelined(_items(50), net, _Crf(None, net.calls), should_cancel=lambda: len(got) >= 2):
        got.append(o)
    assert [o.item.index for o in got] == [0, 1]
    assert not _prelabel_threads()


def test_refining_a_batch_image_keeps_no_per_image_cache():
    """A batch run never returns to an image: its bilateral lattice and history must not pile up per worker."""
    from engine.batch.stages import RefineStage
    from engine.crf.fast import lattice_cache as lc
    from engine.crf.fast.history import HISTORIES
    from tests.support.gui_helpers import make_image

    refine = RefineStage(PrelabelSettings(CRF))
    lc.clear()
    HISTORIES.clear()
    for seed in range(3):
        image = make_image(seed)
        probs = np.full((3, 96, 128), 1 / 3, np.float32)
        probs[1, 20:50, 30:80] = 0.8
        labels, unc = refine(image, probs / probs.sum(0))
        assert labels.shape == (96, 128) and 0 <= unc <= 1
        assert len(lc.BILATERAL_LATTICES) == 0 and len(HISTORIES) == 0
    assert len(lc.GAUSSIAN_LATTICES) == 1   # per image size: shared by the next images


def test_sidecars_from_before_the_origin_field_count_as_hand_labels(tmp_path):
    """Every sidecar written before machine labels existed came from a person's save: never overwrite those."""
    folder = make_prelabel_folder(tmp_path / "old", n=2)
    sidecar = folder / "labels" / "img2.provenance.json"
    data = json.loads(sidecar.read_text())
    data.pop("origin")
    sidecar.write_text(json.dumps(data))
    assert read_provenance(folder / "labels" / HAND_IMAGE).origin == "hand"
    assert not is_machine_label(folder / "labels" / HAND_IMAGE, verify=True)
    with pytest.raises(ValueError, match="origin"):
        make_provenance(hand_labels(), hand_labels() > 0, "x.png", origin="robot")


def test_a_label_that_cannot_be_written_is_an_error_of_that_image_only(first_run, tmp_path, monkeypatch):
    """A full disk or read-only file for one image: reported with its name, the other images are written."""
    from engine.errors import LabelIOError
    from engine.io.transaction import SaveTransaction

    folder = copy_folder(first_run[0], tmp_path / "disk")
    real = SaveTransaction.stage

    def flaky(self, path, data):
        if path.name == "img3.png":
            self.abort()
            raise LabelIOError(f"could not save {path}: the disk is full.")
        return real(self, path, data)
    monkeypatch.setattr(SaveTransaction, "stage", flaky)
    summary = prelabel(folder, colour_model(tmp_path / "m.pt"), PrelabelSettings(CRF, net_threads=1))
    assert summary.labelled == 2 and {name for name, _ in summary.errors} == {BROKEN_IMAGE, "img3.png"}
    assert any("disk is full" in msg for _, msg in summary.errors)
    assert (folder / "labels" / "img4.png").is_file() and not (folder / "labels" / "img3.png").exists()
    assert read_report(folder / "labels")["img3.png"].status == "error"


def test_default_crf_is_the_one_the_window_starts_with_for_the_model():
    """The shipped demo model has tuned values (resources/presets/demo_v1.json): prelabel uses them, as the window
    does, not the generic DeepLab preset its spec names."""
    from engine.batch.cli import _crf_params, build_parser
    from engine.checkpoints import load_checkpoint
    from engine.crf import preset
    from engine.crf.params import preset_for_model
    from engine.paths import DEMO_V1

    loaded = load_checkpoint(DEMO_V1)
    assert preset_for_model(loaded.spec, loaded.path) == "demo_v1"
    args = build_parser().parse_args(["somewhere"])
    assert _crf_params(args, loaded) == preset("demo_v1") != preset(loaded.spec.crf_preset)
    args = build_parser().parse_args(["somewhere", "--crf-params", '{"iterations": 3}'])
    assert _crf_params(args, loaded) == preset("demo_v1").replace(iterations=3)


def test_a_folder_with_recorded_crf_values_is_prelabelled_with_them(tmp_path):
    """A walk: the window refined with the folder's values (labels/project.json), prelabel with the model's preset,
    and 0.1-0.2 % of the pixels differed. The folder's recorded values are prelabel's default too; --crf overrides."""
    from engine.batch.cli import _crf_params, build_parser
    from engine.checkpoints import load_checkpoint
    from engine.crf import preset
    from engine.learn.folder_preset import keep_project, save_folder_preset
    from engine.paths import DEMO_V1

    loaded = load_checkpoint(DEMO_V1)
    folder = tmp_path / "site"
    folder.mkdir()
    tuned = preset("demo_v1").replace(bi_rgb_std=22.25)
    save_folder_preset(folder, tuned, project=keep_project(folder, loaded))
    assert _crf_params(build_parser().parse_args([str(folder)]), loaded) == tuned
    assert _crf_params(build_parser().parse_args([str(folder), "--crf", "demo_v1"]), loaded) == preset("demo_v1")
    assert _crf_params(build_parser().parse_args([str(tmp_path)]), loaded) == preset("demo_v1")   # none recorded
    # --crf-params changes the folder's values, not the model's preset (a walk's one value set the others back)
    one = build_parser().parse_args([str(folder), "--crf-params", '{"bi_w": 7}'])
    assert _crf_params(one, loaded) == tuned.replace(bi_w=7)


def test_an_image_with_unsaved_edits_in_the_window_is_left_alone_and_not_called_hand_saved(first_run, tmp_path):
    """A walk: the report called an unsaved machine label 'hand-labelled' and the summary counted it as hand-saved."""
    folder = copy_folder(first_run[0], tmp_path / "editing")
    before = label_bytes(folder)
    summary = prelabel(folder, colour_model(tmp_path / "m.pt"), PrelabelSettings(None, net_threads=1),
                       protect={"img4.png"})
    row = read_report(folder / "labels")["img4.png"]
    assert row.status == "being edited" and "unsaved edits" in row.detail
    assert label_bytes(folder).get("img4.png") == before.get("img4.png")            # not written
    assert summary.editing == 1 and summary.kept == 1                   # (the one hand-saved image of the folder)
    assert any("1 image with unsaved edits in the window alone" in line for line in summary.lines())
    assert not any("kept 2" in line for line in summary.lines())


def test_a_backbone_only_checkpoint_is_refused_before_anything_is_written(tmp_path, capsys):
    """A walk: prelabel with a backbone-only initialisation exited 0, wrote 6 all-background label maps and gave the
    folder a one-class list. Its one placeholder output labels nothing: refused, as predict refuses it."""
    from engine.checkpoints import load_checkpoint
    from engine.paths import DEMO_V1

    sd = {k: v for k, v in load_checkpoint(DEMO_V1).model.state_dict().items() if not k.startswith("fc8")}
    import torch
    torch.save(sd, tmp_path / "vgg_init.pth")
    folder = make_prelabel_folder(tmp_path / "site")
    before = sorted(p.name for p in folder.rglob("*"))
    assert cli_main([str(folder), "--model", str(tmp_path / "vgg_init.pth"), "--crf", "none"]) == 2
    err = capsys.readouterr().err
    assert "backbone-only initialisation" in err and "Export adapted model" in err
    assert sorted(p.name for p in folder.rglob("*")) == before
    with pytest.raises(Exception, match="backbone-only"):
        prelabel(folder, load_checkpoint(tmp_path / "vgg_init.pth"), PrelabelSettings(crf_params=None))


def test_max_pixels_is_an_option_as_the_refusal_of_a_large_image_says(tmp_path, monkeypatch, capsys):
    """A walk: prelabel's refusal said 'raise the limit with --max-pixels', and prelabel rejected --max-pixels."""
    import cv2

    from engine.limits import MAX_PIXELS_ENV, max_pixels
    model = tmp_path / "colour.pt"
    colour_model(model)
    folder = tmp_path / "big"
    folder.mkdir()
    cv2.imwrite(str(folder / "wide.png"), np.full((1000, 1300, 3), 90, np.uint8))     # 1.3 MP
    monkeypatch.setenv(MAX_PIXELS_ENV, "1M")
    assert cli_main([str(folder), "--model", str(model), "--crf", "none", "--sequential"]) == 1
    assert "--max-pixels" in capsys.readouterr().err
    assert cli_main([str(folder), "--model", str(model), "--crf", "none", "--sequential",
                     "--max-pixels", "2M"]) == 0
    assert (folder / "labels" / "wide.png").is_file()
    assert max_pixels() == 1_000_000                                   # the process's own limit is back


def test_other_bands_or_scaling_redo_the_machine_labels(tmp_path):
    """A walk pre-labelled with bands 4,3,2, chose 8,4,3 and ran again: every image was skipped as done."""
    from engine.checkpoints import load_checkpoint
    from engine.io.scaling import ImageScaling
    model = tmp_path / "colour.pt"
    colour_model(model)
    loaded = load_checkpoint(model)
    folder = make_prelabel_folder(tmp_path / "site")
    plain = PrelabelSettings(crf_params=None, net_threads=1)
    first = prelabel(folder, loaded, plain, runner="sequential")
    assert first.labelled and prelabel(folder, loaded, plain, runner="sequential").labelled == 0   # done before
    grey = PrelabelSettings(crf_params=None, net_threads=1, image=ImageScaling(bands=(1,)))
    assert prelabel(folder, loaded, grey, runner="sequential").labelled == first.labelled
    assert read_provenance(folder / "labels" / "img1.png").image_scaling == "band 1; percentile 2-98"


def test_another_models_labels_are_said_to_be_replaced_or_left_as_they_are(first_run, tmp_path, capsys):
    """A walk's second run, with the model adapted on 8 strokes, replaced 1,992 machine labels and their scores
    while the dialog promised that images done before are skipped. Both choices are said now."""
    from tests.support.gui_helpers import make_colour_model
    folder = copy_folder(first_run[0], tmp_path / "again")
    assert _cli(folder, first_run[2]) == 1                             # pre-labelled once with the colour model
    capsys.readouterr()
    before = label_bytes(folder)
    scores = {k: v.mean_uncertainty for k, v in read_report(folder / "labels").items()}
    other = make_colour_model(tmp_path / "other.pt", scale=0.02)
    assert cli_main([str(folder), "--model", str(other), "--crf-params", CRF_JSON, "--threads", "1",
                     "--only-new"]) == 1                                # (the broken image fails again)
    out = capsys.readouterr().out
    machine = sum(1 for name in before if is_machine_label(folder / "labels" / name))
    assert machine and f"leaving {machine} pre-labelled with another model or other settings as they are" in out
    assert label_bytes(folder) == before                                # nothing written
    rows = read_report(folder / "labels")
    assert all(rows[k].mean_uncertainty == scores[k] for k in scores if rows[k].status == "skipped")
    assert cli_main([str(folder), "--model", str(other), "--crf-params", CRF_JSON, "--threads", "1"]) == 1
    out = capsys.readouterr().out
    assert f"labelling again {machine} pre-labelled with another model" in out
    assert f"replaced the labels of {machine} images pre-labelled with another model" in out


def test_a_run_killed_before_its_report_is_labelled_again_and_said_to_be_this_runs(first_run, cli_result, tmp_path,
                                                                                 capsys):
    """A walk killed a run (kill -9) before prelabel.csv was written: the rerun said 'labelling again 24
    pre-labelled with another model or other settings', of the very same run's labels. It says why now, and labels
    them again (for their scores), with --only-new too."""
    done, model = first_run[1], first_run[2]
    folder = copy_folder(done, tmp_path / "killed")
    (folder / "labels" / "prelabel.csv").unlink()
    machine = sum(1 for name in label_bytes(folder) if is_machine_label(folder / "labels" / name))
    assert machine
    for extra in (["--only-new"], []):
        run = copy_folder(folder, tmp_path / f"run{len(extra)}")
        assert _cli(run, model, *extra) == 1                         # (the broken image fails again)
        out = capsys.readouterr().out
        assert f"labelling again {machine} pre-labelled with this model and CRF settings by a run that stopped" in out
        assert "another model" not in out
        rows = read_report(run / "labels")
        assert sum(1 for r in rows.values() if r.mean_uncertainty is not None) == machine

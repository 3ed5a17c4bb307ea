"""`main.py prelabel --ray` on a local Ray with 2 CPUs: same labels as one process, errors reported, hand labels
kept, and no Ray process left behind. One Ray session for the module (starting Ray costs seconds here)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from engine.batch import PrelabelSettings, prelabel, read_report  # noqa: E402
from engine.batch.cli import main as cli_main  # noqa: E402
from engine.io.provenance import read_provenance  # noqa: E402
from tests.support.prelabel_fixtures import (BROKEN_IMAGE, CRF, HAND_IMAGE, colour_model, copy_folder, label_bytes,
                                             make_prelabel_folder)


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError, ValueError):
            continue
        if state != "Z":
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmd = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmd = ""
            out.append((child, cmd))
            todo.append(child)
    return out


def _ray_processes():
    return [(p, c) for p, c in _descendants(os.getpid()) if "ray" in c or "gcs_server" in c]


@pytest.fixture(scope="module")
def ray_session():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_run_matches_the_single_process_run(ray_session, tmp_path, capsys):
    model = tmp_path / "colour.pt"
    loaded = colour_model(model)
    fresh = make_prelabel_folder(tmp_path / "fresh")
    hand = label_bytes(fresh)[HAND_IMAGE]
    local = copy_folder(fresh, tmp_path / "local")
    on_ray = copy_folder(fresh, tmp_path / "ray")
    single = prelabel(local, loaded, PrelabelSettings(CRF, net_threads=1), runner="pipeline")
    assert single.labelled == 3

    rc = cli_main([str(on_ray), "--model", str(model), "--crf-params", '{"iterations": 3}', "--threads", "1",
                   "--ray", "--workers", "2"])
    out = capsys.readouterr()
    assert rc == 1, "the broken image must give a non-zero exit"
    assert "pre-labelled 3 images" in out.out and "images/s, ray)" in out.out and BROKEN_IMAGE in out.out
    assert "2 model workers" in out.out and "peak RSS" in out.out
    # byte-identical label PNGs, the hand label untouched
    assert label_bytes(on_ray) == label_bytes(local)
    assert label_bytes(on_ray)[HAND_IMAGE] == hand
    assert read_provenance(on_ray / "labels" / "img1.png").machine_made
    rows, local_rows = read_report(on_ray / "labels"), read_report(local / "labels")
    assert rows[BROKEN_IMAGE].status == "error" and "not a readable image" in rows[BROKEN_IMAGE].detail
    assert rows[HAND_IMAGE].status == "hand-labelled"
    for name in ("img1.png", "img3.png", "img4.png"):
        assert rows[name].status == "labelled"
        assert rows[name].mean_uncertainty == local_rows[name].mean_uncertainty
        assert rows[name].classes == local_rows[name].classes

    # the Ray run resumes like any other: with the broken image gone, nothing is left to do
    (on_ray / BROKEN_IMAGE).unlink()
    again = prelabel(on_ray, loaded, PrelabelSettings(CRF, net_threads=1), runner="ray")
    assert again.skipped == 3 and again.labelled == 0 and not again.errors and again.kept == 1


def test_shutting_ray_down_leaves_no_process_behind(ray_session):
    """Every Ray process seen while Ray runs (GCS, raylet, workers and actors below it) is gone after shutdown."""
    import time

    assert ray.is_initialized()
    seen = {pid for pid, _ in _ray_processes()}
    assert seen, "the check must see Ray's processes while Ray runs"
    ray.shutdown()

    def alive():
        return {pid for pid in seen if _running(pid)}
    deadline = time.monotonic() + 60
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive() == set() and _ray_processes() == []


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"

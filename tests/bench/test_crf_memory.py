"""bench/crf_memory.py runs through on a small image, streamed as at 12 MP (it broke unseen when the xy kernel's
lattice took its grid form, which has no neighbour lists)."""
from bench import crf_memory
from engine.crf.fast import session as session_mod


def test_the_memory_bench_runs_streamed_and_names_each_lattice(monkeypatch, capsys):
    monkeypatch.setattr(session_mod, "BIG_BYTES", 0)            # stream, as a 12 MP image does
    monkeypatch.setattr(session_mod, "TRAJECTORY_BUDGET", 0)    # no history: the xy kernel on the grid
    crf_memory.main(["--size", "60x80", "--classes", "5"])
    out = capsys.readouterr().out
    assert "first exact run" in out and "slider (bilateral weight) exact run" in out and "mode streamed" in out
    assert "gaussian lattice" in out and "grid form" in out and "bilateral lattice" in out and "neighbours" in out

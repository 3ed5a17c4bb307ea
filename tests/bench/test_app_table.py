"""bench/interactive.py --app's pure parts: which rows run, the pydensecrf memory estimate, the printed lines."""
import pytest

from bench.app_table import GB, MODELS, SIZES, format_row, header, pydensecrf_bytes, quick_line, select_rows

ROW = {"classes": 21, "open_first_s": 9.95, "open_exact_s": 29.26, "stroke_first_ms": 1410.4, "stroke_exact_s": 53.44,
       "slider_first_ms": 412.0, "slider_exact_s": 13.38, "peak_gb": 10.31, "idle_gb": 7.42}


def test_every_size_and_model_by_default_sizes_first():
    rows = select_rows(None, None, quick=False)
    assert rows == [(mp, m) for mp in (6, 12, 24) for m in ("demo", "r101-21", "r101-182")]
    assert set(SIZES) == {6, 12, 24} and set(MODELS) == {"demo", "r101-21", "r101-182"}


def test_a_subset_in_the_order_given_each_once():
    assert select_rows("12, 6,12", "r101-21,demo", quick=False) == [
        (12, "r101-21"), (12, "demo"), (6, "r101-21"), (6, "demo")]
    assert select_rows("24MP", "r101-182", quick=False) == [(24, "r101-182")]


@pytest.mark.parametrize("sizes, models", [("8", None), (None, "r50"), ("", None), ("six", None)])
def test_unknown_rows_are_refused(sizes, models):
    with pytest.raises(ValueError):
        select_rows(sizes, models, quick=False)


def test_quick_is_the_12_mp_demo_row_alone():
    assert select_rows(None, None, quick=True) == [(12, "demo")]
    with pytest.raises(ValueError, match="--quick"):
        select_rows("6", None, quick=True)


def test_pydensecrf_estimate_grows_with_pixels_and_classes():
    six, twelve = 2000 * 3000, 3000 * 4000
    assert pydensecrf_bytes(twelve, 21) - pydensecrf_bytes(six, 21) == pytest.approx(
        pydensecrf_bytes(six, 21) - pydensecrf_bytes(0, 21))
    assert pydensecrf_bytes(six, 182) > pydensecrf_bytes(six, 21)
    # measured at 1.5 MP: 364 bytes a pixel beyond the inputs with 21 classes; the estimate stays above it
    assert pydensecrf_bytes(1_500_000, 21) > 1_500_000 * (364 + 21 * 4)
    # 6 MP with 182 classes cannot fit a 24 GB machine; 6 MP with 21 classes can
    assert pydensecrf_bytes(six, 182) > 24 * GB > pydensecrf_bytes(six, 21)


def test_a_row_prints_every_column_and_the_ratio():
    line = format_row(12, "demo", dict(ROW, pydensecrf_s=98.0, fast_s=38.9))
    for text in ("12 MP demo", " 21 ", "9.9 s", "29.3 s", "1410 ms", "53.4 s", "412 ms", "13.4 s", "10.3", "7.4",
                 "98.0 s", "38.9 s", "2.5x"):
        assert text in line, (text, line)
    assert [i for i, ch in enumerate(line) if ch == "|"] == [i for i, ch in enumerate(header()) if ch == "|"]
    assert len(line) == len(header())


def test_no_pydensecrf_prints_dashes_and_the_reason():
    line = format_row(24, "r101-182", dict(ROW, classes=182), "pydensecrf would need ~141 GB, 22 GB available")
    assert line.endswith("(pydensecrf would need ~141 GB, 22 GB available)")
    ref_columns = line.split("|")[-1].split("(")[0].split()
    assert ref_columns == ["-", "-", "-"]


def test_a_failed_row_says_why():
    line = format_row(24, "r101-182", None, "stopped at 20.1 GB RSS, over the cap of 19.8 GB")
    assert line.startswith(" 24 MP r101-182") and "failed: stopped at 20.1 GB RSS" in line
    assert line.index("|") == header().index("|")


def test_the_quick_line():
    assert quick_line(ROW) == "12 MP window: stroke 1410 ms, exact 53.4 s, peak 10.3 GB"

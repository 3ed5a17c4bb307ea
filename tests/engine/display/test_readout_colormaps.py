"""The numpy pictures behind the status bar and the overlays: the pixel readout (label, top two, uncertainty),
perceptual colour maps, and an RGBA image composited onto a background."""
import numpy as np
import pytest
from PIL import Image

from engine.annotate.state import ImageState
from engine.display import colormaps
from engine.display.readout import read_pixel
from engine.folder.dataset import Status
from engine.io.images import read_image
from engine.labels import VOID
from engine.models.registry import DEFAULT_MEAN_BGR
from engine.predict import alpha_background, transparent_mask


def test_pixel_readout_gives_label_top_two_and_uncertainty():
    probs = np.zeros((3, 2, 2), np.float32)
    probs[:, 1, 0] = [0.2, 0.5, 0.3]
    labels = np.array([[0, 0], [1, VOID]], np.uint8)
    unc = np.array([[0, 0], [0.8, 0.1]], np.float32)
    r = read_pixel(0, 1, labels, probs, unc)
    assert (r.x, r.y, r.label) == (0, 1, 1)
    assert r.top[0][0] == 1 and r.top[0][1] == pytest.approx(0.5) and r.top[1][0] == 2
    assert r.uncertainty == pytest.approx(0.8)
    text = r.text(("bg", "car", "tree"))
    assert text == "0, 1  car 50%, tree 30%  unsure 0.80"          # the label is the likeliest class
    painted = read_pixel(0, 1, np.array([[0, 0], [0, VOID]], np.uint8), probs, unc)
    assert painted.text(("bg", "car", "tree")) == "0, 1  bg: car 50%, tree 30%  unsure 0.80"   # a label it is not
    assert read_pixel(1, 1, labels).text(("bg",)) == "1, 1  void"
    assert read_pixel(5, 0, labels) is None and read_pixel(0, 0) is None


def test_the_readout_adds_the_networks_odds_where_it_hesitates_and_the_crf_is_sure():
    """A walk over a cardboard panel the CRF labelled paper: 'paper 100%, belt 0%  unsure 0.00' where the network
    said paper 62 %, cardboard 36 %. Where the CRF is sure and the network gives a second class 20 % or more, the
    network's odds of the two classes follow them in brackets; the CRF's runner-up tied at 0 % is the network's
    runner-up, not class 0."""
    names = ("belt", "paper", "bottle", "cardboard")
    crf = np.zeros((4, 1, 2), np.float32)
    crf[1] = 1.0
    net = np.zeros((4, 1, 2), np.float32)
    net[:, 0, 0] = [0.01, 0.62, 0.01, 0.36]
    net[:, 0, 1] = [0.005, 0.98, 0.0, 0.015]
    labels = np.ones((1, 2), np.uint8)
    unc = np.zeros((1, 2), np.float32)
    assert read_pixel(0, 0, labels, crf, unc, net).text(names) == \
        "0, 0  paper 100% (62%), cardboard 0% (36%)  unsure 0.00"
    assert read_pixel(1, 0, labels, crf, unc, net).text(names) == "1, 0  paper 100%, cardboard 0%  unsure 0.00"
    assert read_pixel(0, 0, labels, net, unc, net).text(names) == "0, 0  paper 62%, cardboard 36%  unsure 0.00"
    assert read_pixel(0, 0, labels, crf, unc).text(names) == "0, 0  paper 100%, belt 0%  unsure 0.00"
    unsure = np.zeros((4, 1, 2), np.float32)
    unsure[1], unsure[3] = 0.55, 0.45                                 # the CRF hesitates itself: nothing added
    assert read_pixel(0, 0, labels, unsure, unc, net).text(names) == "0, 0  paper 55%, cardboard 45%  unsure 0.00"


def test_colour_maps_rise_in_lightness_and_auto_picks_the_most_distinct():
    for name in ("viridis", "magma", "cividis"):
        lab = colormaps._lab(colormaps.lut(name))
        assert np.all(np.diff(lab[::16, 0]) > 0), name          # perceptual: brighter means more
    palette = [(230, 200, 60), (230, 60, 160)]
    best = colormaps.most_distinct(palette)
    assert all(colormaps.distance_to_palette(best, palette) >= colormaps.distance_to_palette(n, palette)
               for n in colormaps.COLORMAPS)
    assert colormaps.resolve("auto", palette) == best and colormaps.resolve("nope", palette) == colormaps.DEFAULT
    with pytest.raises(KeyError, match="viridis"):
        colormaps.lut("rainbow")


def test_rgba_is_composited_onto_the_given_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[0, 0, 3] = 255
    rgba[0, 1, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    mean = alpha_background()
    assert mean == tuple(int(round(c)) for c in DEFAULT_MEAN_BGR[::-1])
    img = read_image(tmp_path / "a.png", background=mean)
    assert tuple(img[0, 0]) == (200, 200, 200) and tuple(img[3, 3]) == mean
    assert abs(int(img[0, 1, 0]) - round(200 * 128 / 255 + mean[0] * 127 / 255)) <= 1
    assert tuple(read_image(tmp_path / "a.png")[3, 3]) == (255, 255, 255)   # plain reads: white, as viewers
    rgb, alpha = read_image(tmp_path / "a.png", background=mean, with_alpha=True)
    assert np.array_equal(rgb, img) and alpha[0, 0] == 255 and alpha[3, 3] == 0
    clear = transparent_mask(alpha)
    assert clear.sum() == 14 and not clear[0, 1]                 # half-transparent pixels keep their label
    Image.fromarray(rgba[..., :3]).save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png", with_alpha=True)[1] is None and transparent_mask(None) is None
    st = ImageState(index=0, path=None, image=img, void_mask=clear)
    probs = np.zeros((2, 4, 4), np.float32)
    probs[1] = 1
    st.set_prediction(probs)
    assert (st.labels[clear] == VOID).all() and (st.labels[~clear] == 1).all() and st.status == Status.PREDICTED
    st.set_crf(probs, np.ones((4, 4), np.uint8), None)
    assert (st.crf_labels[clear] == VOID).all()

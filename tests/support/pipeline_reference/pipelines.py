"""The three published inference pipelines, end to end: RGB uint8 image -> logits at image size, probabilities.

- ``caffe_v1``: DeepLab v1 LargeFOV test protocol (deeplab_largeFOV/test.prototxt + data_transformer.cpp).
- ``caffe_v2_msc``: DeepLab v2 ResNet-101 MSC test protocol (resnet101/test.prototxt + data_transformer.cpp).
- ``kazuto_v2_msc``: kazuto1011/deeplab-pytorch demo.py ``preprocessing`` + ``inference`` with his MSC.

Images larger than 513 (both pipelines, the issue's rule): resized as in kazuto's demo.py ``preprocessing``
(l.58-78: ``scale = 513 / max(H, W)``; ``cv2.resize(image, dsize=None, fx=scale, fy=scale)``, default
INTER_LINEAR, on the uint8 image), run through the pipeline at that size, then the logits are resized to HxW with
``F.interpolate(bilinear, align_corners=False)`` and soft-maxed.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tests.support.pipeline_reference.caffe_interp import interp_layer
from tests.support.pipeline_reference.caffe_layers import eltwise_max
from tests.support.pipeline_reference.resnet_aspp import CaffeBN, resnet_score_map_caffe, resnet_score_map_kazuto
from tests.support.pipeline_reference.vgg_largefov import FC8_ZOOM, vgg_largefov_score_map

# transform_param { mean_value: 104.008 mean_value: 116.669 mean_value: 122.675 crop_size: 513 } in both test
# prototxts; kazuto configs/voc12.yaml IMAGE.MEAN B/G/R and SIZE.TEST 513 are the same numbers.
MEAN_BGR = (104.008, 116.669, 122.675)
TEST_SIZE = 513

# resnet101/test.prototxt (talent518 exper/voc12/config/resnet101/test.prototxt):
DATA_RES05 = {"shrink_factor": 2, "pad_beg": 0, "pad_end": 0}  # data_res05, l.29-39
DATA_RES075 = {"shrink_factor": 4, "zoom_factor": 3, "pad_beg": 0, "pad_end": 0}  # data_res075, l.40-51
FC1_RES05_INTERP = {"zoom_factor": 2, "pad_beg": 0, "pad_end": 0}  # fc1_${EXP}_res05_interp
FC1_RES075_INTERP = {"zoom_factor": 4, "shrink_factor": 3, "pad_beg": 0, "pad_end": 0}  # fc1_..._res075_interp
FC1_INTERP = {"zoom_factor": 8}  # fc1_interp, after fc_fusion (Eltwise MAX of fc1, res075_interp, res05_interp)
KAZUTO_SCALES = (0.5, 0.75)  # libs/models/__init__.py DeepLabV2_ResNet101_MSC: MSC(..., scales=[0.5, 0.75])


@dataclass
class PipelineResult:
    """Every intermediate a test compares.

    net_input: (1, 3, h, w) float32 BGR mean-subtracted, what the network sees (caffe: 513x513 padded);
    score_map: (1, C, hs, ws) fused stride-8 logits of net_input;
    logits_net: logits at the net-input size by the pipeline's own upsampling (caffe: Interp zoom 8 =
        (hs-1)*8+1; kazuto: bilinear align_corners=False to the input size);
    work_size: (h, w) of the image the pipeline ran on (the image, or its resize when larger than 513);
    logits: (1, C, H, W) at the image size; probs: (C, H, W) softmax of ``logits``.
    """
    net_input: np.ndarray
    score_map: np.ndarray
    logits_net: np.ndarray
    work_size: tuple[int, int]
    logits: np.ndarray
    probs: np.ndarray


def resize_long_side(rgb: np.ndarray, size: int = TEST_SIZE) -> np.ndarray:
    """kazuto demo.py ``preprocessing`` l.59-61, applied only when the image is larger than ``size``."""
    h, w = rgb.shape[:2]
    if max(h, w) <= size:
        return rgb
    scale = size / max(h, w)
    return cv2.resize(rgb, dsize=None, fx=scale, fy=scale)  # interpolation defaults to INTER_LINEAR


def caffe_net_input(rgb: np.ndarray) -> np.ndarray:
    """data_transformer.cpp ``Transform(cv_img_seg, ...)`` TEST branch, for an image up to 513:

    l.557 the uint8 image is converted to double; l.561-576 ``copyMakeBorder`` pads bottom/right to crop_size
    with ``Scalar(mean_values_)``; l.586-590 TEST takes the centre crop of 513 (the whole padded image here);
    l.621-629 ``pixel = static_cast<Dtype>(double)``, ``(pixel - mean_values_[c]) * scale`` in float32 (scale 1).
    The padded cells hold exactly the mean, so they become exactly 0. Channel order: OpenCV reads BGR.
    """
    h, w = rgb.shape[:2]
    if max(h, w) > TEST_SIZE:
        raise ValueError("resize first: the Caffe protocol pads up to 513")
    bgr = rgb[:, :, ::-1].astype(np.float64)
    padded = np.empty((TEST_SIZE, TEST_SIZE, 3), np.float64)
    padded[:] = np.asarray(MEAN_BGR, np.float64)
    padded[:h, :w] = bgr
    pixel = padded.astype(np.float32)
    out = pixel - np.asarray(MEAN_BGR, np.float32)  # float32 - float32
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None], dtype=np.float32)


def kazuto_net_input(rgb: np.ndarray) -> np.ndarray:
    """kazuto demo.py ``preprocessing`` l.64-75: float32 image, ``-=`` the float64 BGR mean, HWC -> CHW."""
    image = rgb[:, :, ::-1].astype(np.float32)
    image -= np.array([float(MEAN_BGR[0]), float(MEAN_BGR[1]), float(MEAN_BGR[2])])
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def _finish(rgb: np.ndarray, work: np.ndarray, logits_work: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Steps (3)-(4) of the issue: back to HxW (only if the image was resized), then softmax over classes."""
    h, w = rgb.shape[:2]
    if work.shape[:2] != (h, w):
        logits_work = F.interpolate(logits_work, size=(h, w), mode="bilinear", align_corners=False)
    probs = F.softmax(logits_work, dim=1)[0]
    return logits_work.numpy(), probs.numpy()


def _caffe_pipeline(rgb: np.ndarray, score_fn) -> PipelineResult:
    work = resize_long_side(rgb)
    x = caffe_net_input(work)
    with torch.no_grad():
        score = score_fn(torch.from_numpy(x))
    zoomed = interp_layer(score, zoom_factor=FC8_ZOOM)  # fc8_interp / fc1_interp: zoom_factor 8
    wh, ww = work.shape[:2]
    cropped = torch.from_numpy(np.ascontiguousarray(zoomed[:, :, :wh, :ww]))  # evaluation crops the valid HxW
    logits, probs = _finish(rgb, work, cropped)
    return PipelineResult(x, score, zoomed, (wh, ww), logits, probs)


def caffe_v1_score_map(weights: dict[str, tuple[np.ndarray, np.ndarray]], x: torch.Tensor) -> np.ndarray:
    """fc8 of deeplab_largeFOV/test.prototxt for a net input (no MSC in v1)."""
    with torch.no_grad():
        return vgg_largefov_score_map(weights, x).numpy()


def caffe_v1(weights: dict[str, tuple[np.ndarray, np.ndarray]], rgb: np.ndarray) -> PipelineResult:
    """DeepLab v1 LargeFOV: pad to 513 with the mean, fc8, Interp zoom 8, crop (test.prototxt l.404-412)."""
    return _caffe_pipeline(rgb, lambda x: caffe_v1_score_map(weights, x))


@dataclass(frozen=True)
class CaffeResNet:
    """The blobs of a DeepLab v2 ResNet-101 caffemodel (resolution-1 layers; the _res075/_res05 copies share them)."""
    convs: dict[str, np.ndarray]
    bns: dict[str, CaffeBN]
    scales: dict[str, tuple[np.ndarray, np.ndarray]]
    aspp: list[tuple[np.ndarray, np.ndarray]]
    n_blocks: tuple[int, int, int, int]


def caffe_v2_msc_score_map(net: CaffeResNet, x: torch.Tensor) -> np.ndarray:
    """fc_fusion of resnet101/test.prototxt for a net input: three weight-shared branches and Eltwise MAX.

    data_res05 = Interp(data, shrink 2); data_res075 = Interp(data, shrink 4, zoom 3) (Interp of the
    mean-subtracted ``data`` blob); each branch -> fc1 (ASPP sum); fc1_res05_interp = zoom 2;
    fc1_res075_interp = shrink 3 then zoom 4; fc_fusion = MAX(fc1, fc1_res075_interp, fc1_res05_interp).
    For the 513 test crop: 513 / 385 / 257 inputs, 65 / 49 / 33 score maps, all three 65 after the Interps.
    """
    data = x.numpy()
    branch = lambda blob: resnet_score_map_caffe(net.convs, net.bns, net.scales, net.aspp, net.n_blocks,
                                                 torch.from_numpy(np.ascontiguousarray(blob))).numpy()
    with torch.no_grad():
        fc1 = branch(data)
        fc1_res075 = branch(interp_layer(data, **DATA_RES075))
        fc1_res05 = branch(interp_layer(data, **DATA_RES05))
    return eltwise_max(fc1, interp_layer(fc1_res075, **FC1_RES075_INTERP), interp_layer(fc1_res05, **FC1_RES05_INTERP))


def caffe_v2_msc(net: CaffeResNet, rgb: np.ndarray) -> PipelineResult:
    """DeepLab v2 ResNet-101 MSC: pad to 513, fc_fusion, fc1_interp (zoom 8), crop."""
    return _caffe_pipeline(rgb, lambda x: caffe_v2_msc_score_map(net, x))


def kazuto_msc_score_map(state_dict: dict[str, torch.Tensor], x: torch.Tensor,
                         scales=KAZUTO_SCALES) -> torch.Tensor:
    """kazuto libs/models/msc.py ``MSC.forward`` (eval), l.26-47, with his exact calls."""
    with torch.no_grad():
        logits = resnet_score_map_kazuto(state_dict, x)
        _, _, H, W = logits.shape
        interp = lambda l: F.interpolate(l, size=(H, W), mode="bilinear", align_corners=False)
        pyramid = []
        for p in scales:
            h = F.interpolate(x, scale_factor=p, mode="bilinear", align_corners=False)
            pyramid.append(resnet_score_map_kazuto(state_dict, h))
        logits_all = [logits] + [interp(l) for l in pyramid]
        return torch.max(torch.stack(logits_all), dim=0)[0]


def kazuto_v2_msc(state_dict: dict[str, torch.Tensor], rgb: np.ndarray) -> PipelineResult:
    """kazuto's evaluation: main.py ``test`` (l.365-385: ``logits = model(images)``, ``F.interpolate(logits,
    size=(H, W), mode="bilinear", align_corners=False)``, softmax) on the dataset image of libs/datasets/base.py
    ``__getitem__`` (l.105-113, augment=False: no resize, no padding, ``image -= mean_bgr``). Images larger than
    513 are first resized as demo.py ``preprocessing`` does (l.58-61) and the logits brought back to HxW."""
    work = resize_long_side(rgb)
    x = kazuto_net_input(work)
    xt = torch.from_numpy(x)
    score = kazuto_msc_score_map(state_dict, xt)
    _, _, hh, ww = xt.shape
    logits_net = F.interpolate(score, size=(hh, ww), mode="bilinear", align_corners=False)
    logits, probs = _finish(rgb, work, logits_net)
    return PipelineResult(x, score.numpy(), logits_net.numpy(), (hh, ww), logits, probs)

"""Caffe layer semantics the DeepLab nets rely on: pooling sizes/windows, convolution sizes, BatchNorm+Scale.

Sources (DrSleep/deeplab-public-ver2, = DeepLab v2 Caffe; DeepLab v1's TheLegendAli/DeepLab-Context has the same
pooling code, pooling_layer.cpp l.91-95 there):
- ``src/caffe/layers/pooling_layer.cpp``: ``Reshape`` l.90-105 (ceil output size, then drop a last window that
  would start in the padding), ``Forward_cpu`` MAX l.151-176 (window clipped to the image, padding never wins),
  AVE l.193-213 (sum over the clipped window, divided by the window size clipped to ``H + pad``).
- ``src/caffe/layers/conv_layer.cpp``: ``compute_output_shape`` l.8-22 (floor division with the dilated extent).
- ``src/caffe/layers/batch_norm_layer.cpp``: ``Forward_cpu`` l.88-151 with use_global_stats: scale factor
  ``s == 0 ? 0 : 1/s`` (l.90-91), mean/var multiplied by it (l.92-95), ``(x - mean) / sqrt(var + eps)`` with the
  layer's own ``eps_`` read from batch_norm_param (LayerSetUp l.22).
- ``src/caffe/layers/scale_layer.cpp``: ``Forward_cpu`` l.109-134: ``x * gamma`` then the bias layer ``+ beta``.

The fast paths use torch primitives; ``*_loops`` functions are literal loop ports used by the self-checks to
prove the fast paths pick exactly Caffe's windows.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def pool_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """pooling_layer.cpp ``Reshape`` l.90-105 (one axis)."""
    out = int(math.ceil(float(size + 2 * pad - kernel) / stride)) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> int:
    """conv_layer.cpp ``compute_output_shape`` l.16-19 (one axis)."""
    extent = dilation * (kernel - 1) + 1
    return (size + 2 * pad - extent) // stride + 1


def _right_pad(size: int, kernel: int, stride: int, pad: int) -> tuple[int, int]:
    """Caffe's output size and the extra bottom/right padding that lets a padding-free torch pool produce it."""
    out = pool_output_size(size, kernel, stride, pad)
    return out, max(0, (out - 1) * stride + kernel - pad - size)


def max_pool(x: torch.Tensor, kernel: int, stride: int, pad: int) -> torch.Tensor:
    """Caffe MAX pooling: -inf padding (a padded cell never wins, as the C++ clips windows to the image) and
    Caffe's output size. Max is exact, so this equals the C++ loop bit for bit."""
    h, w = x.shape[-2:]
    oh, rh = _right_pad(h, kernel, stride, pad)
    ow, rw = _right_pad(w, kernel, stride, pad)
    padded = F.pad(x, (pad, rw, pad, rh), value=float("-inf"))
    out = F.max_pool2d(padded, kernel, stride)
    assert out.shape[-2:] == (oh, ow), (out.shape, oh, ow)
    return out


def ave_pool(x: torch.Tensor, kernel: int, stride: int, pad: int) -> torch.Tensor:
    """Caffe AVE pooling: zero padding, window sum, divided by Caffe's ``pool_size`` =
    (min(hstart+k, H+pad) - hstart) * (min(wstart+k, W+pad) - wstart) (l.199-201)."""
    h, w = x.shape[-2:]
    oh, rh = _right_pad(h, kernel, stride, pad)
    ow, rw = _right_pad(w, kernel, stride, pad)
    padded = F.pad(x, (pad, rw, pad, rh), value=0.0)
    sums = F.avg_pool2d(padded, kernel, stride, divisor_override=1)
    hs = np.arange(oh) * stride - pad
    ws = np.arange(ow) * stride - pad
    hsize = np.minimum(hs + kernel, h + pad) - hs
    wsize = np.minimum(ws + kernel, w + pad) - ws
    size = torch.from_numpy((hsize[:, None] * wsize[None, :]).astype(np.float32))
    return sums / size


def max_pool_loops(x: np.ndarray, kernel: int, stride: int, pad: int) -> np.ndarray:
    """Literal port of the MAX branch of ``PoolingLayer::Forward_cpu`` (l.149-176) for one (C, H, W) array."""
    c, h, w = x.shape
    oh, ow = pool_output_size(h, kernel, stride, pad), pool_output_size(w, kernel, stride, pad)
    top = np.full((c, oh, ow), -np.finfo(np.float32).max, dtype=np.float32)  # -FLT_MAX
    for ch in range(c):
        for ph in range(oh):
            for pw in range(ow):
                hstart, wstart = ph * stride - pad, pw * stride - pad
                hend, wend = min(hstart + kernel, h), min(wstart + kernel, w)
                hstart, wstart = max(hstart, 0), max(wstart, 0)
                for hh in range(hstart, hend):
                    for ww in range(wstart, wend):
                        if x[ch, hh, ww] > top[ch, ph, pw]:
                            top[ch, ph, pw] = x[ch, hh, ww]
    return top


def ave_pool_loops(x: np.ndarray, kernel: int, stride: int, pad: int) -> np.ndarray:
    """Literal port of the AVE branch of ``PoolingLayer::Forward_cpu`` (l.188-213) for one (C, H, W) array."""
    c, h, w = x.shape
    oh, ow = pool_output_size(h, kernel, stride, pad), pool_output_size(w, kernel, stride, pad)
    top = np.zeros((c, oh, ow), dtype=np.float32)
    for ch in range(c):
        for ph in range(oh):
            for pw in range(ow):
                hstart, wstart = ph * stride - pad, pw * stride - pad
                hend, wend = min(hstart + kernel, h + pad), min(wstart + kernel, w + pad)
                pool_size = (hend - hstart) * (wend - wstart)
                hstart, wstart = max(hstart, 0), max(wstart, 0)
                hend, wend = min(hend, h), min(wend, w)
                acc = np.float32(0.0)
                for hh in range(hstart, hend):
                    for ww in range(wstart, wend):
                        acc = np.float32(acc + x[ch, hh, ww])
                top[ch, ph, pw] = acc / np.float32(pool_size)
    return top


def caffe_batch_norm_scale(x: torch.Tensor, blobs_mean_s: np.ndarray, blobs_var_s: np.ndarray,
                           blob_s: float, eps: float, gamma: np.ndarray, beta: np.ndarray) -> torch.Tensor:
    """BatchNorm (use_global_stats) + Scale(bias_term) from the raw Caffe blobs, in Caffe's order.

    batch_norm_layer.cpp l.90-95: ``scale_factor = s == 0 ? 0 : 1/s`` (float), ``mean = blob0 * scale_factor``,
    ``var = blob1 * scale_factor``; l.108-113 subtract mean; l.140-151 ``/ sqrt(var + eps)``.
    scale_layer.cpp l.120-133: ``* gamma``, then the bias ``+ beta``.
    """
    f32 = np.float32
    s = f32(blob_s)
    factor = f32(0.0) if s == 0 else f32(1.0) / s
    mean = (np.asarray(blobs_mean_s, np.float32) * factor).astype(np.float32)
    var = (np.asarray(blobs_var_s, np.float32) * factor).astype(np.float32)
    std = np.sqrt((var + f32(eps)).astype(np.float32)).astype(np.float32)
    shape = (1, -1, 1, 1)
    as_t = lambda a: torch.from_numpy(np.asarray(a, np.float32)).view(shape)
    y = x.clone() if x.requires_grad else x  # in place on the fresh conv output: same values, less memory
    return y.sub_(as_t(mean)).div_(as_t(std)).mul_(as_t(gamma)).add_(as_t(beta))


def eltwise_max(*blobs: np.ndarray) -> np.ndarray:
    """Eltwise MAX (eltwise_layer.cpp): the bottoms must have one shape (Caffe CHECKs it in Reshape)."""
    shapes = {b.shape for b in blobs}
    if len(shapes) != 1:
        raise ValueError(f"Eltwise MAX needs equal shapes, got {sorted(shapes)}")
    out = blobs[0]
    for b in blobs[1:]:
        out = np.maximum(out, b)
    return out

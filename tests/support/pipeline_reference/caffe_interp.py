"""Caffe's bilinear ``Interp`` layer, ported line by line (DeepLab v2 Caffe).

Source: DrSleep/deeplab-public-ver2 (a mirror of bitbucket aquariusjay/deeplab-public-ver2):
- ``src/caffe/layers/interp_layer.cpp``: ``LayerSetUp`` (l.11-18, pad_beg/pad_end <= 0), ``Reshape``
  (l.21-63, the output-size rules) and ``Forward_cpu`` (l.66-71, how it calls the kernel);
- ``src/caffe/util/interp.cpp``: ``caffe_cpu_interp2`` (l.13-85, the non-packed branch).

Why a port and not ``F.interpolate(align_corners=True)``: the *sizes* are Caffe's own
(``(h-1)/shrink+1``, ``h+(h-1)*(zoom-1)``), the ratio ``rheight`` is computed in float32 and the source row is
found by truncating ``rheight*h2`` in float32 (not by rounding or a double-precision ratio), and pad_beg/pad_end
crop the input before interpolating. Every arithmetic step below is done in float32 in the order of the C++
code, so the result is bit-identical to the compiled C++ (checked; see README.md).
"""
from __future__ import annotations

import numpy as np


def interp_output_size(height_in: int, width_in: int, *, zoom_factor: int | None = None,
                       shrink_factor: int | None = None, height: int | None = None, width: int | None = None,
                       pad_beg: int = 0, pad_end: int = 0) -> tuple[int, int]:
    """Output (height, width) of an Interp layer: interp_layer.cpp ``Reshape`` l.27-57.

    ``None`` means "field not set in the prototxt" (``has_zoom_factor()`` false). The branch order is Caffe's:
    shrink only; zoom only; explicit height+width; shrink then zoom. Integer division is C++'s (operands are
    positive here, so ``//`` is the same).
    """
    if pad_beg > 0 or pad_end > 0:
        raise ValueError("Interp only supports non-positive padding (cropping)")  # LayerSetUp l.16-17
    h_eff = height_in + pad_beg + pad_end  # l.27
    w_eff = width_in + pad_beg + pad_end  # l.28
    has_s, has_z = shrink_factor is not None, zoom_factor is not None
    if has_s and not has_z:  # l.30-35
        if shrink_factor < 1:
            raise ValueError("Shrink factor must be positive")
        h_out = (h_eff - 1) // shrink_factor + 1
        w_out = (w_eff - 1) // shrink_factor + 1
    elif has_z and not has_s:  # l.36-41
        if zoom_factor < 1:
            raise ValueError("Zoom factor must be positive")
        h_out = h_eff + (h_eff - 1) * (zoom_factor - 1)
        w_out = w_eff + (w_eff - 1) * (zoom_factor - 1)
    elif height is not None and width is not None:  # l.42-44
        h_out, w_out = height, width
    elif has_s and has_z:  # l.45-54: shrink first, then zoom the shrunk size
        if shrink_factor < 1 or zoom_factor < 1:
            raise ValueError("Shrink and zoom factors must be positive")
        h_out = (h_eff - 1) // shrink_factor + 1
        w_out = (w_eff - 1) // shrink_factor + 1
        h_out = h_out + (h_out - 1) * (zoom_factor - 1)
        w_out = w_out + (w_out - 1) * (zoom_factor - 1)
    else:  # l.55-56: LOG(FATAL)
        raise ValueError("Interp needs shrink_factor, zoom_factor or height+width")
    if h_eff <= 0 or w_eff <= 0 or h_out <= 0 or w_out <= 0:  # l.58-61
        raise ValueError("Interp sizes must be positive")
    return h_out, w_out


def caffe_cpu_interp2(data1: np.ndarray, x1: int, y1: int, height1: int, width1: int,
                      height2: int, width2: int) -> np.ndarray:
    """``caffe_cpu_interp2<float, packed=false>`` (interp.cpp l.13-85), vectorised over pixels.

    ``data1`` is (channels, Height1, Width1) float32; the kernel reads the window of ``height1 x width1`` at
    offset (y1, x1) and writes a full (channels, height2, width2) output (x2 = y2 = 0, Height2 = height2 as in
    interp_layer.cpp l.68-70). Per output pixel, as in the C++:
      rheight = float(height1-1)/(height2-1) (0 if height2 == 1); h1r = rheight*h2 (float); h1 = int(h1r);
      h1p = 1 if h1 < height1-1 else 0; h1lambda = h1r-h1; h0lambda = 1-h1lambda (same for w);
      out = h0lambda*(w0lambda*p[h1,w1] + w1lambda*p[h1,w1+w1p])
          + h1lambda*(w0lambda*p[h1+h1p,w1] + w1lambda*p[h1+h1p,w1+w1p]).
    """
    data1 = np.asarray(data1, dtype=np.float32)
    if data1.ndim != 3:
        raise ValueError("data1 must be (channels, Height1, Width1)")
    _, big_h1, big_w1 = data1.shape
    if not (x1 >= 0 and y1 >= 0 and height1 > 0 and width1 > 0 and height2 > 0 and width2 > 0):  # l.17
        raise ValueError("bad interp geometry")
    if not (big_w1 >= width1 + x1 and big_h1 >= height1 + y1):  # l.18
        raise ValueError("interp window exceeds the input")
    window = data1[:, y1:y1 + height1, x1:x1 + width1]
    if height1 == height2 and width1 == width2:  # l.19-46: special case, plain copy
        return window.copy()
    f32 = np.float32
    # l.47-48: static_cast<float>(height1 - 1) / (height2 - 1) -- a float division
    rheight = f32(height1 - 1) / f32(height2 - 1) if height2 > 1 else f32(0.0)
    rwidth = f32(width1 - 1) / f32(width2 - 1) if width2 > 1 else f32(0.0)
    h1r = f32(rheight) * np.arange(height2, dtype=np.float32)  # l.50: float * int -> float
    h1 = h1r.astype(np.int64)  # l.51: truncation toward zero (values are >= 0)
    h1p = (h1 < height1 - 1).astype(np.int64)  # l.52
    h1lambda = (h1r - h1.astype(np.float32)).astype(np.float32)  # l.53
    h0lambda = (f32(1.0) - h1lambda).astype(np.float32)  # l.54
    w1r = f32(rwidth) * np.arange(width2, dtype=np.float32)  # l.56
    w1 = w1r.astype(np.int64)  # l.57
    w1p = (w1 < width1 - 1).astype(np.int64)  # l.58
    w1lambda = (w1r - w1.astype(np.float32)).astype(np.float32)  # l.59
    w0lambda = (f32(1.0) - w1lambda).astype(np.float32)  # l.60
    r0, r1 = h1[:, None], (h1 + h1p)[:, None]
    c0, c1 = w1[None, :], (w1 + w1p)[None, :]
    p00, p01 = window[:, r0, c0], window[:, r0, c1]  # pos1[0], pos1[w1p]
    p10, p11 = window[:, r1, c0], window[:, r1, c1]  # pos1[h1p*Width1], pos1[h1p*Width1 + w1p]
    w0, w1l = w0lambda[None, None, :], w1lambda[None, None, :]
    h0, h1l = h0lambda[None, :, None], h1lambda[None, :, None]
    top = (w0 * p00 + w1l * p01).astype(np.float32)  # l.77: each product and sum rounds to float
    bottom = (w0 * p10 + w1l * p11).astype(np.float32)  # l.78
    return (h0 * top + h1l * bottom).astype(np.float32)


def interp_layer(blob: np.ndarray, **interp_param) -> np.ndarray:
    """Interp layer forward on an (N, C, H, W) blob: interp_layer.cpp ``Forward_cpu`` l.66-71.

    The kernel is called with x1 = y1 = -pad_beg (both from pad_beg, as in the C++), height1/width1 = the
    effective (cropped) input size and Height1/Width1 = the full input size.
    """
    blob = np.asarray(blob, dtype=np.float32)
    n, c, h_in, w_in = blob.shape
    pad_beg = interp_param.get("pad_beg", 0)
    pad_end = interp_param.get("pad_end", 0)
    h_out, w_out = interp_output_size(h_in, w_in, **interp_param)
    h_eff, w_eff = h_in + pad_beg + pad_end, w_in + pad_beg + pad_end
    flat = blob.reshape(n * c, h_in, w_in)  # num_ * channels_ planes
    out = caffe_cpu_interp2(flat, -pad_beg, -pad_beg, h_eff, w_eff, h_out, w_out)
    return out.reshape(n, c, h_out, w_out)


def caffe_cpu_interp2_loops(data1: np.ndarray, x1: int, y1: int, height1: int, width1: int,
                            height2: int, width2: int) -> np.ndarray:
    """Scalar transcription of the same C++ loop (interp.cpp l.47-84), one pixel at a time, for self-checks of the
    vectorised port on small inputs."""
    f32 = np.float32
    data1 = np.asarray(data1, np.float32)
    out = np.zeros((data1.shape[0], height2, width2), np.float32)
    if height1 == height2 and width1 == width2:
        return data1[:, y1:y1 + height1, x1:x1 + width1].copy()
    rheight = f32(f32(height1 - 1) / f32(height2 - 1)) if height2 > 1 else f32(0)
    rwidth = f32(f32(width1 - 1) / f32(width2 - 1)) if width2 > 1 else f32(0)
    for h2 in range(height2):
        h1r = f32(rheight * f32(h2))
        h1 = int(h1r)
        h1p = 1 if h1 < height1 - 1 else 0
        h1lambda = f32(h1r - f32(h1))
        h0lambda = f32(f32(1) - h1lambda)
        for w2 in range(width2):
            w1r = f32(rwidth * f32(w2))
            w1 = int(w1r)
            w1p = 1 if w1 < width1 - 1 else 0
            w1lambda = f32(w1r - f32(w1))
            w0lambda = f32(f32(1) - w1lambda)
            for c in range(data1.shape[0]):
                p = data1[c, y1:, x1:]
                top = f32(f32(w0lambda * p[h1, w1]) + f32(w1lambda * p[h1, w1 + w1p]))
                bottom = f32(f32(w0lambda * p[h1 + h1p, w1]) + f32(w1lambda * p[h1 + h1p, w1 + w1p]))
                out[c, h2, w2] = f32(f32(h0lambda * top) + f32(h1lambda * bottom))
    return out

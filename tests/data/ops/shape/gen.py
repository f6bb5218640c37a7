#!/usr/bin/python3
"""Reference outputs for tests/unit/test_ops_shape.c.

Run from this directory with Debian's python3 (numpy, torch):
    /usr/bin/python3 gen.py
The .npy files are committed; kiln's tests never run Python. The references
come from independent implementations: NumPy indexing/np.pad/reshape+transpose
following the ONNX operator definitions, and PyTorch's F.interpolate for
resize (each PyTorch mode maps onto one ONNX coordinate/rounding mode, noted
beside it).
"""
import numpy as np
import torch
import torch.nn.functional as F


def save(name, a):
    np.save(name + ".npy", np.ascontiguousarray(a))


rng = np.random.default_rng(20261127)

# ---- resize: PyTorch F.interpolate ------------------------------------------
x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
save("resize_x", x)
t = torch.from_numpy(x)
# 'nearest': src = floor(dst * in/out) -> asymmetric + floor
save("resize_nearest_7x3", F.interpolate(t, size=(7, 3), mode="nearest").numpy())
# 'nearest-exact': src = floor((dst + 0.5) * in/out) -> half_pixel +
# round_prefer_ceil (equally tf_half_pixel_for_nearest + floor)
save("resize_nearest_exact_7x3", F.interpolate(t, size=(7, 3), mode="nearest-exact").numpy())
# bilinear, align_corners=False -> linear + half_pixel (pytorch_half_pixel)
save("resize_bilinear_7x9",
     F.interpolate(t, size=(7, 9), mode="bilinear", align_corners=False).numpy())
# bilinear, align_corners=True -> linear + align_corners
save("resize_bilinear_ac_7x9",
     F.interpolate(t, size=(7, 9), mode="bilinear", align_corners=True).numpy())
# bicubic (A = -0.75, edge-clamped taps) -> cubic + half_pixel
save("resize_bicubic_7x9",
     F.interpolate(t, size=(7, 9), mode="bicubic", align_corners=False).numpy())
# bicubic downsampling with align_corners=True -> cubic + align_corners
save("resize_bicubic_ac_3x2",
     F.interpolate(t, size=(3, 2), mode="bicubic", align_corners=True).numpy())
# a fractional scale factor used as given (not recomputed): ONNX `scales`
# [1, 1, 0.6, 0.6] -> output floor(4*0.6) x floor(5*0.6) = 2 x 3
save("resize_bilinear_s06",
     F.interpolate(t, scale_factor=0.6, mode="bilinear", align_corners=False,
                   recompute_scale_factor=False).numpy())
# N-linear over three axes
x5 = rng.standard_normal((1, 1, 3, 4, 5)).astype(np.float32)
save("resize_x5", x5)
save("resize_trilinear_5x3x8",
     F.interpolate(torch.from_numpy(x5), size=(5, 3, 8), mode="trilinear",
                   align_corners=False).numpy())

# ---- pad: np.pad --------------------------------------------------------------
p = (np.arange(12, dtype=np.float32) + 1).reshape(3, 4)
save("pad_x", p)
# pads [begin0, begin1, end0, end1] = [2, 5, 3, 6]: wider than the axes, so
# reflect and wrap go around more than once
wide = ((2, 3), (5, 6))
save("pad_reflect", np.pad(p, wide, mode="reflect"))
save("pad_edge", np.pad(p, wide, mode="edge"))
save("pad_wrap", np.pad(p, wide, mode="wrap"))
save("pad_constant", np.pad(p, wide, mode="constant", constant_values=2.5))
# negative pads crop after padding: pads [-1, 2, 1, -2] in edge mode
save("pad_edge_crop", np.pad(p, ((0, 1), (2, 0)), mode="edge")[1:, :-2])

# ---- slice: NumPy basic slicing --------------------------------------------------
s = np.arange(5 * 6 * 7, dtype=np.int64).reshape(5, 6, 7)
save("slice_x", s)
# starts [1, -100, 6], ends [4, 100, -8], steps [2, 1, -2]
save("slice_a", s[1:4:2, -100:100:1, 6:-8:-2])
# axes [-1, 0], starts [INT64_MAX, 0], ends [INT64_MIN, INT64_MAX], steps [-3, 2]
save("slice_b", s[0::2, :, 6::-3])
# axes [1], starts [-2], ends [-1]
save("slice_c", s[:, -2:-1, :])

# ---- depth_to_space / space_to_depth: the ONNX reshape/transpose definitions ----
b = 2
xd = np.arange(2 * 8 * 2 * 3, dtype=np.float32).reshape(2, 8, 2, 3)
save("d2s_x", xd)
N, C, H, W = xd.shape
dcr = xd.reshape(N, b, b, C // 4, H, W).transpose(0, 3, 4, 1, 5, 2).reshape(N, C // 4, H * b, W * b)
crd = xd.reshape(N, C // 4, b, b, H, W).transpose(0, 1, 4, 2, 5, 3).reshape(N, C // 4, H * b, W * b)
save("d2s_dcr", dcr)
save("d2s_crd", crd)
xs = np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6)
save("s2d_x", xs)
N, C, H, W = xs.shape
save("s2d", xs.reshape(N, C, H // b, b, W // b, b).transpose(0, 3, 5, 1, 2, 4)
     .reshape(N, C * b * b, H // b, W // b))

# ---- transpose, gather, tile, expand -------------------------------------------------
tx = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
save("transpose_x", tx)
save("transpose_120", tx.transpose(1, 2, 0))
save("transpose_rev", tx.transpose())
gx = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
save("gather_x", gx)
save("gather_axis1", np.take(gx, np.array([[0, -1], [2, 1]]), axis=1))
save("tile", np.tile(tx, (2, 1, 3)))
save("expand", np.broadcast_to(np.arange(3, dtype=np.float32).reshape(3, 1), (2, 3, 4)))

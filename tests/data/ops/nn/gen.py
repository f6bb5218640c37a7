#!/usr/bin/env python3
"""Reference data for tests/unit/test_ops_nn.c (matmul, conv, conv_transpose,
pools, global pools, lrn).

Run with /usr/bin/python3 (NumPy and PyTorch); it rewrites the .npy files next
to it. Inputs are float32 (one case float64); references are computed by
PyTorch / NumPy in float64 from those inputs and stored in the input's dtype
(max_pool indices as int64). The files are committed: kiln's tests do not
need Python.

PyTorch takes only symmetric padding, so asymmetric pads are applied with
F.pad first (zeros for conv/avg/lp, -inf for max); conv_transpose's pads,
output_padding and output_shape are applied by cropping or extending the
unpadded PyTorch result, following the ONNX ConvTranspose formulas. ONNX max
pool indices are flattened over [N, C, spatial...], so the per-plane PyTorch
index is offset by plane * plane_size (and transposed for storage_order 1).
PyTorch's lp_pool raises x (not |x|) to p, so it is given |x|.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240611)
torch.manual_seed(0)


def save(name, a):
    np.save(os.path.join(HERE, name + ".npy"), np.array(a, order="C"))


def rand(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def t64(a):
    return torch.from_numpy(np.asarray(a)).double()


def out(y, dtype=np.float32):
    return y.detach().numpy().astype(dtype)


def torch_pads(pads):
    """ONNX [b1..bk, e1..ek] -> F.pad order (last dim first)."""
    k = len(pads) // 2
    r = []
    for i in reversed(range(k)):
        r += [pads[i], pads[k + i]]
    return r


# ---- matmul (NumPy) ------------------------------------------------------------
def matmul_case(name, sa, sb, dtype=np.float32):
    a, b = rand(*sa, dtype=dtype), rand(*sb, dtype=dtype)
    save(name + "_a", a)
    save(name + "_b", b)
    save(name + "_y", np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(dtype))


matmul_case("mm_bcast", (2, 1, 3, 4), (3, 4, 5))      # -> [2,3,3,5]
matmul_case("mm_1d_left", (4,), (2, 4, 3))            # -> [2,3]
matmul_case("mm_1d_right", (2, 3, 4), (4,))           # -> [2,3]
matmul_case("mm_1d_1d", (5,), (5,))                   # -> []
matmul_case("mm_f64", (3, 4), (4, 2), np.float64)     # -> [3,2]


# ---- conv ------------------------------------------------------------------------
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv_case(name, xs, ws, group=1, strides=None, pads=None, dil=None, bias=True,
              dtype=np.float32):
    k = len(xs) - 2
    strides = strides or [1] * k
    pads = pads or [0] * (2 * k)
    dil = dil or [1] * k
    x, w = rand(*xs, dtype=dtype), rand(*ws, dtype=dtype)
    save(name + "_x", x)
    save(name + "_w", w)
    b = None
    if bias:
        b = rand(ws[0], dtype=dtype)
        save(name + "_b", b)
    xp = F.pad(t64(x), torch_pads(pads))
    y = CONV[k](xp, t64(w), t64(b) if bias else None, stride=strides, dilation=dil,
                groups=group)
    save(name + "_y", out(y, dtype))


conv_case("conv1d", (2, 4, 11), (6, 2, 3), group=2, strides=[2], pads=[1, 2], dil=[2])
conv_case("conv2d", (2, 3, 7, 6), (4, 3, 3, 2), strides=[2, 1], pads=[1, 0, 2, 1], dil=[1, 2])
conv_case("conv2d_dw", (1, 4, 5, 5), (4, 1, 3, 3), group=4, pads=[1, 1, 1, 1], bias=False)
conv_case("conv3d", (1, 4, 5, 4, 6), (6, 2, 2, 3, 2), group=2, strides=[1, 2, 1],
          pads=[0, 1, 1, 1, 0, 1], dil=[2, 1, 1])
conv_case("conv2d_f64", (1, 2, 5, 4), (3, 2, 2, 2), strides=[1, 2], pads=[0, 1, 1, 0],
          dtype=np.float64)
# auto_pad: pads worked out by hand from the ONNX formulas
#   SAME_LOWER x [1,2,7,8] w [3,2,4,3] stride 2: H out 4, total 6+4-7 = 3 -> (2, 1);
#                                               W out 4, total 6+3-8 = 1 -> (1, 0)
conv_case("conv2d_same_lower", (1, 2, 7, 8), (3, 2, 4, 3), strides=[2, 2], pads=[2, 1, 1, 0])
#   SAME_UPPER x [1,2,5,6] w [2,2,2,3] dil [1,2]: H span 2, total 1 -> (0, 1);
#                                                W span 5, total 4 -> (2, 2)
conv_case("conv2d_same_upper", (1, 2, 5, 6), (2, 2, 2, 3), pads=[0, 2, 1, 2], dil=[1, 2])


# ---- conv_transpose ---------------------------------------------------------------
CONVT = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def convt_case(name, xs, ws, group=1, strides=None, pads=None, dil=None, out_pad=None,
               bias=True):
    """y = crop_{pads}(extend_{out_pad}(full transposed conv)) + bias, where the
    full result has extent stride*(in-1) + (k-1)*dil + 1 per dim."""
    k = len(xs) - 2
    strides = strides or [1] * k
    pads = pads or [0] * (2 * k)
    dil = dil or [1] * k
    out_pad = out_pad or [0] * k
    x, w = rand(*xs), rand(*ws)
    save(name + "_x", x)
    save(name + "_w", w)
    full = CONVT[k](t64(x), t64(w), None, stride=strides, dilation=dil, groups=group)
    ext = F.pad(full, torch_pads([0] * k + list(out_pad)))
    idx = [slice(None), slice(None)]
    for i in range(k):
        idx.append(slice(pads[i], ext.shape[2 + i] - pads[k + i]))
    y = ext[tuple(idx)]
    if bias:
        b = rand(ws[1] * group)
        save(name + "_b", b)
        y = y + t64(b).reshape([1, -1] + [1] * k)
    save(name + "_y", out(y))


convt_case("convt1d", (1, 2, 4), (2, 3, 3), strides=[2], pads=[1, 0])
convt_case("convt2d", (2, 4, 3, 4), (4, 1, 3, 2), group=2, strides=[2, 3], dil=[1, 2],
           pads=[1, 0, 0, 2], out_pad=[1, 1])
convt_case("convt3d", (1, 2, 2, 3, 2), (2, 2, 2, 2, 3), strides=[1, 2, 2],
           pads=[0, 1, 0, 0, 0, 1])
# output_shape [8, 6] on x [1,1,3,3], w [1,2,3,3], strides [3, 2]:
#   H full 3*2+3 = 9, total 1 -> (1, 0); W full 2*2+3 = 7, total 1 -> (1, 0)
convt_case("convt_oshape", (1, 1, 3, 3), (1, 2, 3, 3), strides=[3, 2], pads=[1, 1, 0, 0],
           bias=False)
# output_shape [10, 8]: totals -1 and -1 -> zero pads, one extra row/col at the end
convt_case("convt_oshape_big", (1, 1, 3, 3), (1, 2, 3, 3), strides=[3, 2], out_pad=[1, 1])
# SAME_UPPER / SAME_LOWER x [1,1,3,4] w [1,2,3,3] stride 2: out 6 x 8,
#   H full 7, total 1; W full 9, total 1 -> UPPER (0, 1), LOWER (1, 0)
convt_case("convt_same_upper", (1, 1, 3, 4), (1, 2, 3, 3), strides=[2, 2], pads=[0, 0, 1, 1])
convt_case("convt_same_lower", (1, 1, 3, 4), (1, 2, 3, 3), strides=[2, 2], pads=[1, 1, 0, 0])


# ---- max_pool ------------------------------------------------------------------------
MAXP = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def maxpool_case(name, xs, kernel, strides, pads_sym, dil, ceil, storage_order=0):
    """Symmetric pads (PyTorch); values and ONNX-flattened indices."""
    k = len(xs) - 2
    x = rand(*xs)
    save(name + "_x", x)
    y, ind = MAXP[k](torch.from_numpy(x), kernel, strides, pads_sym, dil, ceil_mode=bool(ceil),
                     return_indices=True)
    ind = ind.numpy().astype(np.int64)
    sp = xs[2:]
    if storage_order:  # row-major spatial index -> column-major
        multi = np.unravel_index(ind, sp)
        ind = np.zeros_like(ind)
        stride = 1
        for i in range(k):
            ind += multi[i] * stride
            stride *= sp[i]
    planes = xs[0] * xs[1]
    plane = np.arange(planes, dtype=np.int64).reshape(xs[0], xs[1], *([1] * k))
    save(name + "_y", out(y))
    save(name + "_i", ind + plane * int(np.prod(sp)))


maxpool_case("maxpool2d", (2, 3, 7, 8), [3, 2], [2, 2], [1, 1], [1, 2], ceil=1)
maxpool_case("maxpool2d_col", (1, 2, 5, 6), [2, 3], [2, 2], [0, 1], [1, 1], ceil=0,
             storage_order=1)
maxpool_case("maxpool1d", (1, 2, 10), [3], [2], [1], [2], ceil=1)
maxpool_case("maxpool3d", (1, 2, 5, 6, 5), [2, 3, 2], [2, 2, 1], [1, 1, 0], [1, 1, 2], ceil=1)

# asymmetric pads [0, 1, 2, 0] (H begin 0, W begin 1, H end 2, W end 0), k 3x3, stride 1
x = rand(1, 2, 5, 6)
save("maxpool_asym_x", x)
xp = F.pad(t64(x), torch_pads([0, 1, 2, 0]), value=-math.inf)
save("maxpool_asym_y", out(F.max_pool2d(xp, [3, 3], 1)))


# ---- avg_pool --------------------------------------------------------------------------
AVGP = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def avgpool_case(name, xs, kernel, strides, pads_sym, ceil, cip):
    k = len(xs) - 2
    x = rand(*xs)
    save(name + "_x", x)
    y = AVGP[k](t64(x), kernel, strides, pads_sym, ceil_mode=bool(ceil),
                count_include_pad=bool(cip))
    save(name + "_y", out(y))


avgpool_case("avgpool2d_cip", (2, 2, 7, 8), [3, 3], [2, 3], [1, 1], ceil=1, cip=1)
avgpool_case("avgpool2d_nocip", (2, 2, 7, 8), [3, 3], [2, 3], [1, 1], ceil=1, cip=0)
avgpool_case("avgpool1d", (1, 3, 9), [4], [3], [2], ceil=1, cip=0)
avgpool_case("avgpool3d", (1, 2, 6, 5, 7), [3, 2, 3], [2, 2, 2], [1, 1, 1], ceil=0, cip=1)


def window_sums_2d(x, kernel, strides, pads, dil):
    """Sums over ONNX windows of a zero-padded 2-D input (F.unfold), no ceil_mode."""
    xp = F.pad(x, torch_pads(pads))
    cols = F.unfold(xp, kernel, dilation=dil, stride=strides)  # [N, C*K, L]
    n, c = x.shape[:2]
    oh = (xp.shape[2] - (kernel[0] - 1) * dil[0] - 1) // strides[0] + 1
    ow = (xp.shape[3] - (kernel[1] - 1) * dil[1] - 1) // strides[1] + 1
    return cols.reshape(n, c, kernel[0] * kernel[1], oh, ow)


# dilated, asymmetric pads: x [1,2,7,7], k [2,3], strides [1,2], pads [1,0,0,1], dil [2,2]
x = rand(1, 2, 7, 7)
save("avgpool_dil_x", x)
args = ([2, 3], [1, 2], [1, 0, 0, 1], [2, 2])
s = window_sums_2d(t64(x), *args).sum(2)
cnt = window_sums_2d(torch.ones(1, 1, 7, 7, dtype=torch.float64), *args).sum(2)
save("avgpool_dil_nocip_y", out(s / cnt))
save("avgpool_dil_cip_y", out(s / 6.0))


# ---- lp_pool --------------------------------------------------------------------------
x = rand(1, 3, 6, 7)
save("lppool2d_x", x)
save("lppool2d_p3_y", out(F.lp_pool2d(t64(np.abs(x)), 3, [2, 3], [2, 2])))
# p 2 with asymmetric pads [1, 0, 1, 2]: zero padding adds nothing to the sum
save("lppool2d_pads_y",
     out(F.lp_pool2d(F.pad(t64(np.abs(x)), torch_pads([1, 0, 1, 2])), 2, [3, 3], [1, 2])))
x = rand(2, 2, 8)
save("lppool1d_x", x)
save("lppool1d_p1_y", out(F.lp_pool1d(t64(np.abs(x)), 1, 3, 1)))
# dilations [2, 1], p 2: sqrt of windowed sums of squares (F.unfold)
x = rand(1, 2, 6, 5)
save("lppool_dil_x", x)
save("lppool_dil_y",
     out(window_sums_2d(t64(x) ** 2, [2, 2], [1, 1], [0, 0, 0, 0], [2, 1]).sum(2).sqrt()))


# ---- global pools ------------------------------------------------------------------------
for name, shape in (("gp2d", (2, 3, 4, 5)), ("gp1d", (2, 3, 5)), ("gp3d", (1, 2, 3, 2, 4))):
    x = rand(*shape)
    save(name + "_x", x)
    X = t64(x)
    dims = tuple(range(2, len(shape)))
    save(name + "_avg", out(X.mean(dims, keepdim=True)))
    save(name + "_max", out(X.amax(dims, keepdim=True)))
    save(name + "_lp3", out((X.abs() ** 3).sum(dims, keepdim=True) ** (1.0 / 3)))


# ---- lrn ------------------------------------------------------------------------------------
def lrn_numpy(x, size, alpha, beta, bias):
    """ONNX LRN: channels [c - floor((size-1)/2), c + ceil((size-1)/2)]."""
    X = x.astype(np.float64)
    C = X.shape[1]
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.zeros_like(X)
    for c in range(C):
        sq[:, c] = (X[:, max(0, c - lo):min(C - 1, c + hi) + 1] ** 2).sum(1)
    return X / (bias + alpha / size * sq) ** beta


x = rand(2, 7, 3, 4)
save("lrn_x", x)
y5 = torch.nn.LocalResponseNorm(5, alpha=0.5, beta=0.75, k=2.0)(t64(x))
assert np.allclose(y5.numpy(), lrn_numpy(x, 5, 0.5, 0.75, 2.0))
save("lrn_s5_y", out(y5))
# even size: PyTorch centres the window differently, so NumPy gives the ONNX one
save("lrn_s4_y", lrn_numpy(x, 4, 0.3, 0.6, 1.5).astype(np.float32))
x = rand(1, 6, 5)
save("lrn3d_x", x)
save("lrn3d_y", out(torch.nn.LocalResponseNorm(3, alpha=1e-4, beta=0.75, k=1.0)(t64(x))))

#!/usr/bin/env python3
"""Reference data for tests/unit/test_ops_reduce.c.

Run from anywhere with /usr/bin/python3 (NumPy; PyTorch is used only to
cross-check the NumPy formulas of the normalisations). Inputs are float32;
references are computed in float64 from those float32 inputs, then stored as
float32 (or int64 for argmax/argmin). The .npy files are committed: kiln's
tests do not need Python.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240607)


def save(name, a):
    np.save(os.path.join(HERE, name + ".npy"), a)


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ---- reduce_*: x [3,4,5], axes (0, 2), keepdims -> [1,4,1] -----------------
x = f32(rng.standard_normal((3, 4, 5)))
xp = f32(np.abs(x) + 0.1)  # positive, for log_sum
save("reduce_x", x)
save("reduce_xpos", xp)
X, XP = x.astype(np.float64), xp.astype(np.float64)
ax = (0, 2)
save("reduce_sum", f32(X.sum(axis=ax, keepdims=True)))
save("reduce_mean", f32(X.mean(axis=ax, keepdims=True)))
save("reduce_max", f32(X.max(axis=ax, keepdims=True)))
save("reduce_min", f32(X.min(axis=ax, keepdims=True)))
save("reduce_prod", f32(X.prod(axis=ax, keepdims=True)))
save("reduce_l1", f32(np.abs(X).sum(axis=ax, keepdims=True)))
save("reduce_l2", f32(np.sqrt((X * X).sum(axis=ax, keepdims=True))))
save("reduce_sum_square", f32((X * X).sum(axis=ax, keepdims=True)))
save("reduce_log_sum", f32(np.log(XP.sum(axis=ax, keepdims=True))))
save("reduce_log_sum_exp", f32(np.log(np.exp(X).sum(axis=ax, keepdims=True))))

# ---- argmax / argmin: x [3,4,5] --------------------------------------------
a = f32(rng.standard_normal((3, 4, 5)))
save("arg_x", a)
save("argmax_axis1", np.argmax(a, axis=1).astype(np.int64))                 # keepdims 0
save("argmin_axis_neg1", np.argmin(a, axis=-1)[..., None].astype(np.int64))  # keepdims 1

# ---- softmax family: x [2,3,4] ------------------------------------------------
s = f32(rng.standard_normal((2, 3, 4)) * 3)
S = s.astype(np.float64)
save("softmax_x", s)
e = np.exp(S - S.max(axis=1, keepdims=True))
save("softmax_axis1", f32(e / e.sum(axis=1, keepdims=True)))
z = S - S.max(axis=0, keepdims=True)
save("log_softmax_axis0", f32(z - np.log(np.exp(z).sum(axis=0, keepdims=True))))
hm = np.zeros_like(s)
np.put_along_axis(hm, np.argmax(s, axis=2)[..., None], 1.0, axis=2)
save("hardmax_axis2", hm)

# ---- cumsum: x [3,4] f64, axis 0, exclusive + reverse ---------------------
c = rng.standard_normal((3, 4))
save("cumsum_x", c)
rev = np.flip(c, axis=0)
excl = np.cumsum(rev, axis=0) - rev
save("cumsum_axis0_rev_excl", np.flip(excl, axis=0).copy())

# ---- layer_norm: x [2,3,4,5], axis -2, scale [4,5], bias [5] ----------------
lx = f32(rng.standard_normal((2, 3, 4, 5)) * 2 + 1)
lw = f32(rng.standard_normal((4, 5)))
lb = f32(rng.standard_normal((5,)))
L = lx.astype(np.float64)
mu = L.mean(axis=(2, 3), keepdims=True)
var = ((L - mu) ** 2).mean(axis=(2, 3), keepdims=True)
inv = 1.0 / np.sqrt(var + 1e-5)
ly = (L - mu) * inv * lw + lb
for n, v in [("ln_x", lx), ("ln_scale", lw), ("ln_bias", lb), ("ln_y", f32(ly)),
             ("ln_mean", f32(mu)), ("ln_inv_std", f32(inv))]:
    save(n, v)

# ---- batch_norm: x [2,3,4,5] ------------------------------------------------------
bx = f32(rng.standard_normal((2, 3, 4, 5)))
bs, bb, bm = (f32(rng.standard_normal(3)) for _ in range(3))
bv = f32(rng.random(3) + 0.5)
sh = (1, 3, 1, 1)
by = (bx.astype(np.float64) - bm.reshape(sh)) / np.sqrt(bv.reshape(sh).astype(np.float64) + 1e-5) \
    * bs.reshape(sh) + bb.reshape(sh)
for n, v in [("bn_x", bx), ("bn_scale", bs), ("bn_bias", bb), ("bn_mean", bm), ("bn_var", bv),
             ("bn_y", f32(by))]:
    save(n, v)

# ---- instance_norm: x [2,3,4,5] -----------------------------------------------------
ix = f32(rng.standard_normal((2, 3, 4, 5)) + 3)
iw, ib = f32(rng.standard_normal(3)), f32(rng.standard_normal(3))
I = ix.astype(np.float64)
imu = I.mean(axis=(2, 3), keepdims=True)
ivar = ((I - imu) ** 2).mean(axis=(2, 3), keepdims=True)
iy = (I - imu) / np.sqrt(ivar + 1e-5) * iw.reshape(sh) + ib.reshape(sh)
for n, v in [("in_x", ix), ("in_scale", iw), ("in_bias", ib), ("in_y", f32(iy))]:
    save(n, v)

# ---- group_norm: x [2,6,3,3], 3 groups, per-channel scale/bias, eps 1e-3 -----------
gx = f32(rng.standard_normal((2, 6, 3, 3)))
gw, gb = f32(rng.standard_normal(6)), f32(rng.standard_normal(6))
G = gx.astype(np.float64).reshape(2, 3, -1)
gmu = G.mean(axis=2, keepdims=True)
gvar = ((G - gmu) ** 2).mean(axis=2, keepdims=True)
gy = ((G - gmu) / np.sqrt(gvar + 1e-3)).reshape(2, 6, 3, 3) * gw.reshape(1, 6, 1, 1) \
    + gb.reshape(1, 6, 1, 1)
for n, v in [("gn_x", gx), ("gn_scale", gw), ("gn_bias", gb), ("gn_y", f32(gy))]:
    save(n, v)

# ---- rms_norm: x [2,3,5], axis 1, scale [3,5], eps 0.1 -------------------------------
rx = f32(rng.standard_normal((2, 3, 5)))
rw = f32(rng.standard_normal((3, 5)))
R = rx.astype(np.float64)
ry = R / np.sqrt((R * R).mean(axis=(1, 2), keepdims=True) + 0.1) * rw
for n, v in [("rms_x", rx), ("rms_scale", rw), ("rms_y", f32(ry))]:
    save(n, v)

# ---- lp_normalization: x [3,4,5], axis 1 ---------------------------------------------
px = f32(rng.standard_normal((3, 4, 5)))
P = px.astype(np.float64)
save("lp_x", px)
save("lp_p1_axis1", f32(P / np.abs(P).sum(axis=1, keepdims=True)))
save("lp_p2_axis1", f32(P / np.sqrt((P * P).sum(axis=1, keepdims=True))))

# ---- cross-check the normalisation formulas with PyTorch -----------------------------
try:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy
    ok = np.allclose(F.batch_norm(t(bx), t(bm), t(bv), t(bs), t(bb), False, 0.0, 1e-5).numpy(),
                     f32(by), rtol=1e-4, atol=1e-5)
    ok &= np.allclose(F.instance_norm(t(ix), weight=t(iw), bias=t(ib), eps=1e-5).numpy(),
                      f32(iy), rtol=1e-4, atol=1e-5)
    ok &= np.allclose(F.group_norm(t(gx), 3, t(gw), t(gb), 1e-3).numpy(), f32(gy),
                      rtol=1e-4, atol=1e-5)
    ok &= np.allclose(F.layer_norm(t(lx), (4, 5), t(np.broadcast_to(lw, (4, 5)).copy()),
                                   t(np.broadcast_to(lb, (4, 5)).copy()), 1e-5).numpy(),
                      f32(ly), rtol=1e-4, atol=1e-5)
    ok &= np.allclose(F.softmax(t(s), 1).numpy(), np.load(os.path.join(HERE, "softmax_axis1.npy")),
                      rtol=1e-5, atol=1e-6)
    ok &= np.allclose(F.log_softmax(t(s), 0).numpy(),
                      np.load(os.path.join(HERE, "log_softmax_axis0.npy")), rtol=1e-5, atol=1e-5)
    ok &= np.allclose(torch.logsumexp(t(x), (0, 2), keepdim=True).numpy(),
                      np.load(os.path.join(HERE, "reduce_log_sum_exp.npy")), rtol=1e-5)
    assert ok, "PyTorch disagrees with the NumPy references"
    print("cross-checked with PyTorch", torch.__version__)
except ImportError:
    print("PyTorch not found: references not cross-checked")

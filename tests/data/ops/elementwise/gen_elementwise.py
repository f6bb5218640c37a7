#!/usr/bin/env python3
"""Reference outputs for tests/unit/test_ops_elementwise.c (unary ops).

Writes x.npy (float64 inputs, all exactly representable in float32) and one
<case>.npy of float64 expected outputs per case, computed with PyTorch's
float64 kernels where PyTorch has the op (an implementation independent of
kiln's), otherwise with NumPy from the ONNX formula. Run from this directory:
    /usr/bin/python3 gen_elementwise.py
The C test reads the .npy files; neither kiln nor its tests need Python.
"""
import numpy as np
import torch
import torch.nn.functional as F

x = np.array([-6, -3.5, -2.5, -2, -1.5, -1, -0.75, -0.5, -0.25, -0.125, -0.0, 0,
              0.125, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3.5, 6, 20], dtype=np.float64)
assert np.array_equal(x.astype(np.float32).astype(np.float64), x)
t = torch.from_numpy(x)

# ONNX selu defaults are float32 values
SELU_ALPHA = float(np.float32(1.67326319217681884765625))
SELU_GAMMA = float(np.float32(1.05070102214813232421875))

cases = {
    "neg": -t,
    "abs": t.abs(),
    "exp": t.exp(),
    "log": t.log(),
    "sqrt": t.sqrt(),
    "reciprocal": t.reciprocal(),
    "sin": t.sin(),
    "cos": t.cos(),
    "tan": t.tan(),
    "asin": t.asin(),
    "acos": t.acos(),
    "atan": t.atan(),
    "sinh": t.sinh(),
    "cosh": t.cosh(),
    "asinh": t.asinh(),
    "acosh": t.acosh(),
    "atanh": t.atanh(),
    "tanh": t.tanh(),
    "sigmoid": t.sigmoid(),
    "relu": F.relu(t),
    "leaky_relu": F.leaky_relu(t, 0.01),
    "leaky_relu_a0.25": F.leaky_relu(t, 0.25),
    "elu": F.elu(t, 1.0),
    "elu_a0.5": F.elu(t, 0.5),
    "selu": np.where(x <= 0, SELU_GAMMA * (SELU_ALPHA * np.exp(x) - SELU_ALPHA), SELU_GAMMA * x),
    "celu": F.celu(t, 1.0),
    "celu_a2": F.celu(t, 2.0),
    "gelu": F.gelu(t),
    "gelu_tanh": F.gelu(t, approximate="tanh"),
    "silu": F.silu(t),
    "softplus": np.logaddexp(0.0, x),
    "softsign": F.softsign(t),
    "hard_sigmoid": np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "hard_swish": F.hardswish(t),
    "mish": F.mish(t),
    "thresholded_relu": torch.threshold(t, 1.0, 0.0),
    "thresholded_relu_a0.5": torch.threshold(t, 0.5, 0.0),
    "shrink": F.hardshrink(t, 0.5),
    "shrink_b1.5_l1.5": F.softshrink(t, 1.5),
    "erf": t.erf(),
    "floor": t.floor(),
    "ceil": t.ceil(),
    "round": t.round(),  # half to even
    "sign": t.sign(),
    "clip_m1_2.5": t.clamp(-1.0, 2.5),
    "clip_min0.5": t.clamp(min=0.5),
    "clip_max-0.25": t.clamp(max=-0.25),
}

np.save("x.npy", x)
for name, v in cases.items():
    v = v.numpy() if isinstance(v, torch.Tensor) else v
    assert v.dtype == np.float64 and v.shape == x.shape, name
    np.save(name + ".npy", v)
print(len(cases), "cases")

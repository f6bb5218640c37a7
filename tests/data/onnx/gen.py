#!/usr/bin/python3
"""Generates the small ONNX models that tests/unit/test_onnx.c loads.

Run offline with Debian's python3 (onnx 1.12, numpy, torch 1.13):
    /usr/bin/python3 tests/data/onnx/gen.py
The outputs are committed; kiln's build and tests never run Python.

Each model NAME.onnx may come with NAME_in_K.pb / NAME_out_K.pb: serialized
TensorProtos with its inputs and the expected outputs (computed here with
numpy, or torch), in graph input / output order. The hostile models
(external data that escapes the directory, bad ranges, ...) are built here
too; malformed protobuf is crafted by the C test itself.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240601)


def path(*p):
    return os.path.join(HERE, *p)


def save(model, name, inputs=(), outputs=(), check=True):
    if check:
        onnx.checker.check_model(model)
    onnx.save(model, path(name + ".onnx"))
    for k, a in enumerate(inputs):
        with open(path(f"{name}_in_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, f"in{k}").SerializeToString())
    for k, a in enumerate(outputs):
        with open(path(f"{name}_out_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, f"out{k}").SerializeToString())


def f32(*shape):
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def init(name, a):
    return numpy_helper.from_array(a, name)


def model(nodes, inputs, outputs, inits=(), opset=13, ir=7, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


# ---- mlp: Gemm(transB) + Relu + MatMul + Add bias, names, params ---------------------
def gen_mlp():
    x = f32(2, 4)
    w1, b1, w2, b2 = f32(8, 4), f32(8), f32(8, 3), f32(3)
    scale = np.array([0.5], np.float32)
    shape = np.array([6], np.int64)
    h = np.maximum(x @ w1.T + b1, 0)
    y = ((h @ w2) + b2) * scale
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("MatMul", ["a", "w2"], ["z"], name="fc2"),
        helper.make_node("Add", ["z", "b2"], ["zb"], name="bias2"),
        helper.make_node("Mul", ["zb", "scale"], ["zs"], name="scale"),
        helper.make_node("Reshape", ["zs", "shape"], ["y"], name="flat"),
    ]
    m = model(nodes, [vi("x", TensorProto.FLOAT, [2, 4])], [vi("y", TensorProto.FLOAT, [6])],
              [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2),
               init("scale", scale), init("shape", shape)])
    save(m, "mlp", [x], [y.reshape(6)])


# ---- conv_bn: typed-field initializers, Conv + BN + pool ----------------------------------
def gen_conv_bn():
    x = f32(1, 2, 5, 5)
    w, b = f32(3, 2, 3, 3), f32(3)
    sc, bi = f32(3) + 1.5, f32(3)
    mean, var = f32(3), np.abs(f32(3)) + 0.5
    eps = 1e-5
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((1, 3, 5, 5), np.float32)
    for o in range(3):
        for i in range(5):
            for j in range(5):
                conv[0, o, i, j] = np.sum(xp[0, :, i:i + 3, j:j + 3] * w[o]) + b[o]
    bn = (conv - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + eps)
    bn = bn * sc[None, :, None, None] + bi[None, :, None, None]
    y = np.maximum(bn, 0).mean(axis=(2, 3)).reshape(1, 3).astype(np.float32)

    def typed(name, a):  # float_data instead of raw_data
        return helper.make_tensor(name, TensorProto.FLOAT, a.shape, a.flatten().tolist())

    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "sc", "bi", "mean", "var"], ["n"],
                         name="bn", epsilon=eps),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["y"], name="flatten"),
    ]
    m = model(nodes, [vi("x", TensorProto.FLOAT, [1, 2, 5, 5])],
              [vi("y", TensorProto.FLOAT, [1, 3])],
              [typed("w", w), typed("b", b), typed("sc", sc), typed("bi", bi),
               typed("mean", mean), typed("var", var)], opset=11)
    save(m, "conv_bn", [x], [y])


# ---- old style: IR 3, opset 6, inputs repeat initializers, legacy broadcast --------------
def gen_old_style():
    a = f32(2, 3, 4)
    bvec = f32(3)
    c = f32(2, 3, 4)
    s = a + bvec[None, :, None]
    # Softmax-6 at axis 1 of a 3-D tensor: over the flattened [3*4] trailing block
    flat = s.reshape(2, 12)
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    sm = (e / e.sum(axis=1, keepdims=True)).reshape(2, 3, 4)
    y = (sm + c + a).astype(np.float32)
    nodes = [
        helper.make_node("Add", ["A", "B"], ["s"], broadcast=1, axis=1),
        helper.make_node("Dropout", ["s"], ["d"], is_test=1, ratio=0.3),
        helper.make_node("Softmax", ["d"], ["sm"], axis=1),
        helper.make_node("Sum", ["sm", "C", "A"], ["y"]),
    ]
    g = helper.make_graph(nodes, "old",
                          [vi("A", TensorProto.FLOAT, [2, 3, 4]), vi("B", TensorProto.FLOAT, [3]),
                           vi("C", TensorProto.FLOAT, [2, 3, 4])],
                          [vi("y", TensorProto.FLOAT, [2, 3, 4])],
                          initializer=[init("B", bvec)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
    m.ir_version = 3
    save(m, "old_style", [a, c], [y], check=False)


# ---- dynamic: a dim_param that must be pinned ----------------------------------------------
def gen_dynamic():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    m = model(nodes, [vi("x", TensorProto.FLOAT, ["batch", 3])],
              [vi("y", TensorProto.FLOAT, ["batch", 3])])
    save(m, "dynamic")


# ---- unsupported ops: all listed in one message ----------------------------------------------
def gen_unsupported():
    sub = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                            [vi("t", TensorProto.FLOAT, [2])])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("TopK", ["r", "k"], ["v1", "i1"], name="topk_a"),
        helper.make_node("Foo", ["r"], ["f1"], name="foo_1", domain="com.example"),
        helper.make_node("If", ["cond"], ["t"], name="if_0", then_branch=sub, else_branch=sub),
        helper.make_node("TopK", ["v1", "k"], ["v2", "i2"], name="topk_b"),
        helper.make_node("Foo", ["f1"], ["f2"], name="foo_2", domain="com.example"),
        helper.make_node("Foo", ["f2"], ["y"], name="foo_3", domain="com.example"),
    ]
    g = helper.make_graph(nodes, "unsup",
                          [vi("x", TensorProto.FLOAT, [2]), vi("cond", TensorProto.BOOL, [])],
                          [vi("y", TensorProto.FLOAT, [2]), vi("v2", TensorProto.FLOAT, [1]),
                           vi("t", TensorProto.FLOAT, [2])],
                          initializer=[init("k", np.array([1], np.int64))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("com.example", 1)])
    m.ir_version = 7
    save(m, "unsupported", check=False)


# ---- opset 18 compositions ---------------------------------------------------------------------
def gen_ops18():
    x = f32(2, 4, 3)                      # for reductions, norms
    g4 = f32(2, 4, 2, 3)                  # group norm input, C = 4
    a, b, c = f32(3, 2), f32(3, 4), f32(2, 4)
    p, q = f32(2, 4, 3), f32(4, 3)
    ins = [x, g4, a, b, c, p, q]
    gs, gb = np.array([1.5, -0.5], np.float32), np.array([0.25, 1.0], np.float32)
    ln_s, ln_b = f32(3), f32(3)
    outs = []
    # ReduceSum with axes as an input (opset 13+), keepdims 0
    outs.append(x.sum(axis=(0, 2)))
    # ReduceMean with axes as an input (opset 18)
    outs.append(x.mean(axis=1, keepdims=True))
    # GroupNormalization-18: scale/bias per group
    gr = g4.reshape(2, 2, -1)
    m_ = gr.mean(axis=2, keepdims=True)
    v_ = gr.var(axis=2, keepdims=True)
    gn = ((gr - m_) / np.sqrt(v_ + 1e-5)).reshape(g4.shape)
    gsc = np.repeat(gs, 2)[None, :, None, None]
    gbc = np.repeat(gb, 2)[None, :, None, None]
    outs.append((gn * gsc + gbc).astype(np.float32))
    # MeanVarianceNormalization over [0, 2, 3]
    mm = g4.mean(axis=(0, 2, 3), keepdims=True)
    sd = np.sqrt(((g4 - mm) ** 2).mean(axis=(0, 2, 3), keepdims=True))
    outs.append(((g4 - mm) / (sd + 1e-9)).astype(np.float32))
    # Gemm transA alpha beta with C broadcast
    outs.append((0.5 * (a.T @ b) + 2.0 * c).astype(np.float32))
    # Mean / Max of three inputs with broadcasting
    outs.append(((p + q + p) / 3).astype(np.float32))
    outs.append(np.maximum(np.maximum(p, q), p * 0 + 0.1).astype(np.float32))
    # Clip with inputs
    outs.append(np.clip(x, -0.25, 0.5))
    # CastLike to int64 (truncation toward zero) of 3*x
    outs.append((3 * x).astype(np.int64))
    # LayerNormalization over the last axis
    mu = x.mean(axis=-1, keepdims=True)
    va = x.var(axis=-1, keepdims=True)
    outs.append(((x - mu) / np.sqrt(va + 1e-5) * ln_s + ln_b).astype(np.float32))
    # Dropout (inference) with its mask
    outs.append(x)
    outs.append(np.ones(x.shape, bool))
    # Split into 2 with num_outputs (opset 18)
    outs.append(q[:2])
    outs.append(q[2:])
    # Constants of every value_* form, combined: f + fs + i + is
    outs.append(np.array([2.5 + 1.0, 2.5 + 2.0], np.float32))
    outs.append(np.array([7 + 3, 7 + 4], np.int64))
    outs.append(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    # Softmax (opset 13 form) over axis 1
    e = np.exp(x - x.max(axis=1, keepdims=True))
    outs.append((e / e.sum(axis=1, keepdims=True)).astype(np.float32))

    N = helper.make_node
    nodes = [
        N("ReduceSum", ["x", "ax02"], ["o0"], keepdims=0),
        N("ReduceMean", ["x", "ax1"], ["o1"]),
        N("GroupNormalization", ["g4", "gs", "gb"], ["o2"], num_groups=2),
        N("MeanVarianceNormalization", ["g4"], ["o3"]),
        N("Gemm", ["a", "b", "c"], ["o4"], transA=1, alpha=0.5, beta=2.0),
        N("Mean", ["p", "q", "p"], ["o5"]),
        N("Max", ["p", "q", "tenth"], ["o6"]),
        N("Clip", ["x", "lo", "hi"], ["o7"]),
        N("Mul", ["x", "three"], ["x3"]),
        N("CastLike", ["x3", "like_i64"], ["o8"]),
        N("LayerNormalization", ["x", "ln_s", "ln_b"], ["o9"], axis=-1),
        N("Dropout", ["x"], ["o10", "o11"]),
        N("Split", ["q"], ["o12", "o13"], axis=0, num_outputs=2),
        N("Constant", [], ["cf"], value_float=2.5),
        N("Constant", [], ["cfs"], value_floats=[1.0, 2.0]),
        N("Constant", [], ["ci"], value_int=7),
        N("Constant", [], ["cis"], value_ints=[3, 4]),
        N("Constant", [], ["o16"],
          value=helper.make_tensor("cv", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])),
        N("Add", ["cf", "cfs"], ["o14"]),
        N("Add", ["ci", "cis"], ["o15"]),
        N("Softmax", ["x"], ["o17"], axis=1),
    ]
    inits = [init("ax02", np.array([0, 2], np.int64)), init("ax1", np.array([1], np.int64)),
             init("gs", gs), init("gb", gb), init("tenth", np.array(0.1, np.float32)),
             init("lo", np.array(-0.25, np.float32)), init("hi", np.array(0.5, np.float32)),
             init("three", np.array(3.0, np.float32)),
             init("like_i64", np.array([0], np.int64)), init("ln_s", ln_s), init("ln_b", ln_b)]
    names = ["x", "g4", "a", "b", "c", "p", "q"]
    m = model(nodes, [vi(n_, TensorProto.FLOAT, list(v.shape)) for n_, v in zip(names, ins)],
              [helper.make_tensor_value_info(f"o{k}", 0, None) for k in range(len(outs))],
              inits, opset=18, ir=8)
    save(m, "ops18", ins, outs, check=False)


# ---- opset 9 forms: attributes where later opsets take inputs --------------------------------
def gen_ops9():
    x = f32(2, 3, 4)
    u = f32(1, 1, 2, 2)
    ins = [x, u]
    outs = []
    outs.append(x[:, 1:3, ::1][:, :, 0:2])               # Slice attrs starts/ends/axes
    outs.append(np.pad(x, ((0, 0), (1, 0), (0, 2)), constant_values=1.5))  # Pad attrs
    outs.append(np.clip(x, -0.5, 0.25))                  # Clip attrs (opset 6 form)
    flat = x.reshape(2, 12)                              # Softmax-9 at axis 1, 3-D input
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    outs.append((e / e.sum(axis=1, keepdims=True)).reshape(2, 3, 4).astype(np.float32))
    outs.append(x.sum(axis=1, keepdims=True))            # ReduceSum axes attr
    outs.append(x[:, :1, :].squeeze(1)[:, None, :])      # Squeeze + Unsqueeze attrs
    outs.append(np.repeat(np.repeat(u, 2, axis=2), 3, axis=3))  # Upsample-9 nearest
    outs.append(np.clip(x, 0, 6) / 6 * 0 + x)            # Dropout-9 (ratio attr): identity
    N = helper.make_node
    nodes = [
        N("Slice", ["x"], ["s0"], starts=[1, 0], ends=[3, 2], axes=[1, 2]),
        N("Identity", ["s0"], ["o0"]),
        N("Pad", ["x"], ["o1"], pads=[0, 1, 0, 0, 0, 2], value=1.5),
        N("Clip", ["x"], ["o2"], min=-0.5, max=0.25),
        N("Softmax", ["x"], ["o3"]),
        N("ReduceSum", ["x"], ["o4"], axes=[1], keepdims=1),
        N("Slice", ["x"], ["s5"], starts=[0], ends=[1], axes=[1]),
        N("Squeeze", ["s5"], ["q5"], axes=[1]),
        N("Unsqueeze", ["q5"], ["o5"], axes=[1]),
        N("Upsample", ["u", "scales"], ["o6"], mode="nearest"),
        N("Dropout", ["x"], ["o7"], ratio=0.25),
    ]
    inits = [init("scales", np.array([1, 1, 2, 3], np.float32))]
    m = model(nodes, [vi("x", TensorProto.FLOAT, [2, 3, 4]), vi("u", TensorProto.FLOAT, [1, 1, 2, 2])],
              [helper.make_tensor_value_info(f"o{k}", 0, None) for k in range(len(outs))],
              inits, opset=9, ir=4)
    save(m, "ops9", ins, outs, check=False)


# ---- typed initializer fields and ONNX's int32_data packing ---------------------------------
def gen_typed():
    vals = {
        "i8": (TensorProto.INT8, [-128, 5, 127], np.int8),
        "u8": (TensorProto.UINT8, [0, 200, 255], np.uint8),
        "i16": (TensorProto.INT16, [-32768, 7, 32767], np.int16),
        "bool": (TensorProto.BOOL, [1, 0, 1], np.bool_),
        "i32": (TensorProto.INT32, [-5, 0, 2147483647], np.int32),
        "i64": (TensorProto.INT64, [-(2 ** 40), 1, 2 ** 62], np.int64),
        "f64": (TensorProto.DOUBLE, [0.1, -2.5, 1e300], np.float64),
        "f32": (TensorProto.FLOAT, [0.5, -1.25, 3.0], np.float32),
    }
    inits, nodes, outs, ovi = [], [], [], []
    for k, (name, (dt, v, npt)) in enumerate(vals.items()):
        inits.append(helper.make_tensor("c_" + name, dt, [3], v))  # typed fields, not raw
        nodes.append(helper.make_node("Identity", ["c_" + name], [f"o{k}"]))
        outs.append(np.array(v, npt))
        ovi.append(helper.make_tensor_value_info(f"o{k}", dt, [3]))
    m = model(nodes, [], ovi, inits, opset=13)
    save(m, "typed", [], outs)


# ---- a small CNN exported by torch ---------------------------------------------------------------
def gen_torch_cnn():
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)
            self.fc = torch.nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
            return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)

    net = Net().eval()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        y = net(x)
    torch.onnx.export(net, x, path("torch_cnn.onnx"), input_names=["input"],
                      output_names=["probs"], opset_version=13, do_constant_folding=False)
    for name, a in (("torch_cnn_in_0.pb", x), ("torch_cnn_out_0.pb", y)):
        with open(path(name), "wb") as f:
            f.write(numpy_helper.from_array(a.numpy(), "t").SerializeToString())


# ---- external data: a good model and hostile variants -----------------------------------------------
def ext_tensor(name, shape, location, offset=None, length=None):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return t


def gen_external():
    d = path("ext")
    os.makedirs(d, exist_ok=True)
    w = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    v = np.arange(100, 104, dtype=np.float32)
    blob = bytearray(64) + w.tobytes() + v.tobytes()  # w at 64, v at 112, 128 bytes in all
    with open(os.path.join(d, "weights.bin"), "wb") as f:
        f.write(blob)
    x = f32(3, 4)

    def ext_model(name, tensors, check=True):
        nodes = [helper.make_node("Add", ["x", "w"], ["s"]),
                 helper.make_node("Add", ["s", "v"], ["y"])]
        g = helper.make_graph(nodes, name, [vi("x", TensorProto.FLOAT, [3, 4])],
                              [vi("y", TensorProto.FLOAT, [3, 4])], initializer=tensors)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 7
        onnx.save(m, os.path.join(d, name + ".onnx"))

    good_w = ext_tensor("w", [3, 4], "weights.bin", 64, 48)
    good_v = ext_tensor("v", [4], "weights.bin", 112, 16)
    ext_model("good", [good_w, good_v])
    for k, a in (("in_0", x), ("out_0", x + w + v)):
        with open(os.path.join(d, f"good_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, k).SerializeToString())
    # v read from an unaligned offset (copied, not mapped)
    with open(os.path.join(d, "unaligned.bin"), "wb") as f:
        f.write(b"\0" * 3 + v.tobytes())
    ext_model("unaligned", [good_w, ext_tensor("v", [4], "unaligned.bin", 3)])
    ext_model("abs", [ext_tensor("w", [3, 4], os.path.join(d, "weights.bin"), 64), good_v])
    ext_model("dotdot", [ext_tensor("w", [3, 4], "../ext/weights.bin", 64), good_v])
    ext_model("range", [ext_tensor("w", [3, 4], "weights.bin", 100), good_v])
    ext_model("length", [ext_tensor("w", [3, 4], "weights.bin", 64, 40), good_v])
    ext_model("overlap", [good_w, ext_tensor("v", [4], "weights.bin", 96, 16)])
    ext_model("missing", [ext_tensor("w", [3, 4], "nothere.bin", 0), good_v])
    # the test creates link.bin in a scratch directory, pointing outside it
    ext_model("symlink", [ext_tensor("w", [3, 4], "link.bin", 0), good_v])
    # a lone TensorProto file with external data, as a test input could be
    with open(os.path.join(d, "tensor_ext.pb"), "wb") as f:
        f.write(ext_tensor("w", [3, 4], "weights.bin", 64, 48).SerializeToString())


if __name__ == "__main__":
    gen_mlp()
    gen_conv_bn()
    gen_old_style()
    gen_dynamic()
    gen_unsupported()
    gen_ops18()
    gen_ops9()
    gen_typed()
    gen_torch_cnn()
    gen_external()

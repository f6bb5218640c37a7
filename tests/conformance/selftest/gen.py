#!/usr/bin/python3
"""Writes the fixtures of the conformance runner's self-test (run offline
with /usr/bin/python3; needs onnx and numpy; CI only reads the outputs).

The data directory mimics ../shared/onnx-tests with a few tests whose class
is known in advance (selftest.cmake checks that the runner finds it):

  node/test_pass          Add + Relu                        -> pass
  node/test_shape_input   Reshape, shape from a graph input -> pass (bound)
  node/test_wrong         test_pass with one wrong output   -> fail
  node/test_tolerance     Sqrt, output off by 0.5 %         -> pass only with
                          the tolerance table's rtol 1e-2
  node/test_unsupported   an op of a made-up domain         -> unsupported
  node/test_invalid       model.onnx is not protobuf        -> error
  node/test_crash         copy of test_pass; the runner is told to crash it
  node/test_hang          copy of test_pass; the runner is told to hang it
  light/light_tiny.onnx   ConstantOfShape weights + Conv; its reference
                          output follows ONNX's arange(n)/n input rule
  models/wrong/           an end-to-end model directory whose reference is
                          wrong (kiln_model_test must fail)
"""
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
rng = np.random.default_rng(7)


def write_test(name, graph, inputs, outputs, opset=13):
    d = os.path.join(DATA, "node", name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="kiln-selftest")
    model.ir_version = 8
    onnx.save(model, os.path.join(d, "model.onnx"))
    for kind, ts in (("input", inputs), ("output", outputs)):
        for i, t in enumerate(ts):
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, i)), "wb") as f:
                f.write(numpy_helper.from_array(t).SerializeToString())
    return d


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def main():
    shutil.rmtree(DATA, ignore_errors=True)
    # pass, wrong, crash, hang: Add + Relu
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("Relu", ["s"], ["z"])],
        "add_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])])
    x, y = f32(2, 3), f32(2, 3)
    z = np.maximum(x + y, 0).astype(np.float32)
    for name in ("test_pass", "test_crash", "test_hang"):
        write_test(name, g, [x, y], [z])
    bad = z.copy()
    bad[1, 2] += 0.25
    write_test("test_wrong", g, [x, y], [bad])

    # a shape-deciding graph input
    g = helper.make_graph(
        [helper.make_node("Reshape", ["data", "shape"], ["out"])], "reshape",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [2, 3, 4]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [6, 4])])
    data = f32(2, 3, 4)
    write_test("test_shape_input", g, [data, np.array([-1, 4], dtype=np.int64)],
               [data.reshape(6, 4)])

    # only the tolerance table makes this pass
    g = helper.make_graph(
        [helper.make_node("Sqrt", ["x"], ["y"])], "sqrt",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])])
    x = np.array([1, 2, 3, 4, 5], dtype=np.float32)
    write_test("test_tolerance", g, [x], [(np.sqrt(x) * 1.005).astype(np.float32)])

    # an op nobody implements
    g = helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], domain="kiln.selftest")], "frob",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("kiln.selftest", 1)])
    m.ir_version = 8
    d = write_test("test_unsupported", g, [np.ones(2, np.float32)], [np.ones(2, np.float32)])
    onnx.save(m, os.path.join(d, "model.onnx"))

    # not a model at all
    d = write_test("test_invalid", g, [np.ones(2, np.float32)], [np.ones(2, np.float32)])
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(b"\xff\xff\xff\xff this is not protobuf")

    # a light model: input arange(n)/n, weights from ConstantOfShape
    os.makedirs(os.path.join(DATA, "light"), exist_ok=True)
    for suite in ("pytorch-converted", "pytorch-operator", "simple"):
        os.makedirs(os.path.join(DATA, suite), exist_ok=True)
        open(os.path.join(DATA, suite, "README"), "w").write("empty in the self-test\n")
    shape_w = numpy_helper.from_array(np.array([4, 2, 1, 1], dtype=np.int64), "w_shape")
    g = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["w_shape"], ["w"],
                          value=numpy_helper.from_array(np.array([0.5], np.float32))),
         helper.make_node("Conv", ["data_0", "w"], ["c"]),
         helper.make_node("Relu", ["c"], ["out_1"])],
        "tiny",
        [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("out_1", TensorProto.FLOAT, [1, 4, 3, 3])],
        [shape_w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(DATA, "light", "light_tiny.onnx"))
    n = 1 * 2 * 3 * 3
    inp = (np.arange(n, dtype=np.float32) / n).reshape(1, 2, 3, 3)
    ref = np.broadcast_to(0.5 * inp.sum(axis=1, keepdims=True), (1, 4, 3, 3)).astype(np.float32)
    with open(os.path.join(DATA, "light", "light_tiny_output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(ref)).SerializeToString())

    # an end-to-end model directory with a wrong reference
    d = os.path.join(HERE, "models", "wrong")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["input_0", "w"], ["output_0"])], "mm",
        [helper.make_tensor_value_info("input_0", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [2, 2])],
        [numpy_helper.from_array(f32(3, 2), "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(d, "model.onnx"))
    xin = f32(2, 3)
    np.save(os.path.join(d, "input_0.npy"), xin)
    w = numpy_helper.to_array(g.initializer[0])
    np.save(os.path.join(d, "output_0.npy"), (xin @ w + 1e-3).astype(np.float32))


if __name__ == "__main__":
    main()

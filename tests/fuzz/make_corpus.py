#!/usr/bin/env python3
"""Regenerates the ONNX and TensorProto seeds of tests/fuzz/corpus from the
ONNX node tests (../shared/onnx-tests/node by default) and kiln's own test
models. Regression inputs (corpus/*/regress-*) are kept as they are.

Seeds written (names say where they came from):
  corpus/onnx/node-OP       the smallest passing node test of each op type
  corpus/onnx/bound-OP      the same model with every graph input turned into
                            an initializer holding its test data, so that
                            shape-deciding operands are constants and shape
                            inference and compile-time evaluation run deep
  corpus/onnx/data-*, model-*   tests/data/onnx/*.onnx, small tests/models
  corpus/tensor/*           input .pb files of several dtypes and ranks
  corpus/kir/*              examples/, tests/data/kir/, tests/golden/ (the
                            kir/onnx-*.kir seeds are kept: README.md says how
                            they were made)

Only the Python standard library is used: the protobuf wire format is read
and written by hand (the fields touched are ModelProto.graph = 7,
GraphProto.node = 1, .initializer = 5, .input = 11, NodeProto.op_type = 4).
Usage: python3 tests/fuzz/make_corpus.py [ONNX_TESTS_DIR]
"""
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAX_MODEL_BYTES = 72 * 1024  # tests/models larger than this are left out
MAX_BOUND_BYTES = 16 * 1024  # bound-OP seeds larger than this are left out


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    """[(field, wire type, raw value bytes or int)] of one message."""
    out, i = [], 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    return out


def enc_varint(v):
    o = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            o.append(c | 0x80)
        else:
            o.append(c)
            return bytes(o)


def encode(fs):
    o = bytearray()
    for f, wt, v in fs:
        o += enc_varint(f << 3 | wt)
        if wt == 0:
            o += enc_varint(v)
        elif wt == 2:
            o += enc_varint(len(v)) + v
        else:
            o += v
    return bytes(o)


def graph_of(model):
    return [v for f, wt, v in fields(model) if f == 7 and wt == 2][0]


def op_types(model):
    return tuple(sorted({bytes(v2).decode() for f, wt, v in fields(graph_of(model)) if f == 1
                         for f2, wt2, v2 in fields(v) if f2 == 4}))


def input_names(model):
    names = []
    for f, wt, v in fields(graph_of(model)):
        if f == 11:
            names += [bytes(v2).decode() for f2, wt2, v2 in fields(v) if f2 == 1]
    return names


def bind_inputs(model, tensors):
    """The model with each (name, TensorProto bytes) added as an initializer."""
    mf = fields(model)
    out = []
    for f, wt, v in mf:
        if f == 7 and wt == 2:
            gf = fields(v)
            for name, tp in tensors:
                tf = [x for x in fields(tp) if x[0] != 8] + [(8, 2, name.encode())]
                gf.append((5, 2, encode(tf)))
            v = encode(gf)
        out.append((f, wt, v))
    return encode(out)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    tests = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared",
                                                               "onnx-tests")
    passing = []
    with open(os.path.join(ROOT, "tests", "conformance", "expected_pass.txt")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("node/"):
                passing.append(line[5:])
    for sub in ("onnx", "tensor", "kir"):
        d = os.path.join(CORPUS, sub)
        os.makedirs(d, exist_ok=True)
        for n in os.listdir(d):
            # regressions, and the kir/onnx-*.kir seeds (printed by kiln: see
            # README.md), are kept
            if not n.startswith("regress-") and not (sub == "kir" and n.startswith("onnx-")):
                os.remove(os.path.join(d, n))

    # one passing node test per op type: the smallest model
    best = {}
    for t in passing:
        p = os.path.join(tests, "node", t, "model.onnx")
        if not os.path.exists(p):
            continue
        m = open(p, "rb").read()
        ops = op_types(m)
        if len(ops) != 1:
            continue
        if ops[0] not in best or len(m) < len(best[ops[0]][1]):
            best[ops[0]] = (t, m)
    tensor_seeds = {}
    for op, (t, m) in sorted(best.items()):
        write(os.path.join(CORPUS, "onnx", "node-" + op), m)
        ds = os.path.join(tests, "node", t, "test_data_set_0")
        bound = []
        for k, name in enumerate(input_names(m)):
            p = os.path.join(ds, "input_%d.pb" % k)
            if os.path.exists(p):
                tp = open(p, "rb").read()
                bound.append((name, tp))
                dt = [v for f, wt, v in fields(tp) if f == 2] or [0]
                key = (dt[0], len([1 for f, wt, v in fields(tp) if f == 1]))
                if key not in tensor_seeds or len(tp) < len(tensor_seeds[key]):
                    tensor_seeds[key] = tp
        if bound and sum(len(tp) for _, tp in bound) <= MAX_BOUND_BYTES:
            write(os.path.join(CORPUS, "onnx", "bound-" + op), bind_inputs(m, bound))
    for (dt, rank), tp in sorted(tensor_seeds.items()):
        write(os.path.join(CORPUS, "tensor", "node-dtype%d-rank%d.pb" % (dt, rank)), tp)

    data = os.path.join(ROOT, "tests", "data", "onnx")
    for n in sorted(os.listdir(data)):
        if n.endswith(".onnx"):
            shutil.copy(os.path.join(data, n), os.path.join(CORPUS, "onnx", "data-" + n))
        elif n.endswith("_in_0.pb"):
            shutil.copy(os.path.join(data, n), os.path.join(CORPUS, "tensor", "data-" + n))
    models = os.path.join(ROOT, "tests", "models")
    for n in sorted(os.listdir(models)):
        p = os.path.join(models, n, "model.onnx")
        if os.path.exists(p) and os.path.getsize(p) <= MAX_MODEL_BYTES:
            shutil.copy(p, os.path.join(CORPUS, "onnx", "model-" + n + ".onnx"))

    for d in ("examples", "tests/data/kir", "tests/golden"):
        src = os.path.join(ROOT, d)
        for n in sorted(os.listdir(src)):
            if n.endswith(".kir"):
                pre = d.split("/")[-1]
                shutil.copy(os.path.join(src, n), os.path.join(CORPUS, "kir", pre + "-" + n))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The benchmark models of kiln's harness, and their export to ONNX.

    /usr/bin/python3 bench/models.py [--force] [--only NAME[,NAME]] [--list]

writes, for each model NAME below, into bench/models/ (git-ignored):

    NAME.onnx          the model (ONNX opset 17, weights inside, batch 1, static shapes)
    NAME.input_K.npy   input K (float32, graph-input order), drawn under a fixed seed
    NAME.json          input and output names and shapes, parameter count, the seed

Every model has random weights drawn under a fixed seed (torch.manual_seed),
BatchNorm statistics randomised so that folding them is really exercised, and
is in eval mode. torch_bench.py builds the PyTorch side from the same
definitions (build(NAME)), so PyTorch, ONNX Runtime and kiln run the same
weights on the same input. Existing files are kept unless --force is given or
this file is newer than them.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_DIR = os.path.join(HERE, "models")
OPSET = 17  # read by onnx 1.12 (Debian 12), ONNX Runtime and kiln (tests/models use it too)

# MLP, LeNet5, TransformerEncoder, GPTBlock and randomize_batchnorm also define
# tests/models' mlp, lenet5, transformer_encoder and gpt_block (gen.py imports
# them, with smaller sizes): a change here changes what gen.py would export.


class MLP(nn.Module):
    """A small MLP (as tests/models' mlp): 64-128-64-10, ReLU, tanh, log-softmax."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=-1)


class LeNet5(nn.Module):
    """A small CNN: LeNet-5 with ReLU and max pooling, 1x32x32 input."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class TransformerEncoder(nn.Module):
    """One nn.TransformerEncoderLayer (batch_first, post-norm, ReLU FFN); the defaults,
    d_model 256, 4 heads, FFN 1024, are the benchmark's sizes."""

    def __init__(self, d_model=256, nhead=4, ffn=1024):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead,
                                                dim_feedforward=ffn, dropout=0.0,
                                                batch_first=True)

    def forward(self, x):
        return self.layer(x)


class GPTBlock(nn.Module):
    """A GPT-2 style pre-norm decoder block in plain torch ops: layer norm, causal
    self-attention (an upper-triangular -inf mask added to the scores), GELU MLP,
    residual connections, MLP 4x. The defaults, d_model 256, 4 heads, sequence 128 (the
    mask's size, the longest input), are the benchmark's sizes."""

    def __init__(self, d_model=256, n_head=4, seq=128):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.fc_out = nn.Linear(4 * d_model, d_model)
        self.register_buffer("mask", torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1))

    def attention(self, x):
        b, t, c = x.shape
        h = self.n_head
        q, k, v = self.qkv(x).split(c, dim=2)
        q = q.reshape(b, t, h, c // h).transpose(1, 2)
        k = k.reshape(b, t, h, c // h).transpose(1, 2)
        v = v.reshape(b, t, h, c // h).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(c // h) + self.mask[:t, :t]
        y = F.softmax(scores, dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, c))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


# name -> (constructor, input shapes, seed, description). Order = table order.
MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), [(1, 3, 224, 224)], 1,
                 "torchvision ResNet-18, 1x3x224x224"),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), [(1, 3, 224, 224)], 2,
                     "torchvision MobileNetV2, 1x3x224x224"),
    "transformer_encoder": (TransformerEncoder, [(1, 128, 256)], 3,
                            "nn.TransformerEncoderLayer d256 h4 ffn1024, seq 128"),
    "gpt_block": (GPTBlock, [(1, 128, 256)], 4,
                  "GPT-2 style causal decoder block d256 h4, seq 128"),
    "mlp": (MLP, [(1, 64)], 5, "MLP 64-128-64-10"),
    "lenet5": (LeNet5, [(1, 1, 32, 32)], 6, "LeNet-5 CNN, 1x1x32x32"),
}


@torch.no_grad()
def randomize_batchnorm(model, gen, mean_std=0.1, weight_min=0.5):
    """Gives every BatchNorm2d of model non-trivial statistics and affine parameters,
    drawn from gen, so that folding BatchNorm (or running it) is really exercised:
    running mean ~ N(0, mean_std^2), running variance ~ U[0.75, 1.25), weight ~
    U[weight_min, weight_min + 0.5), bias ~ N(0, 0.01). (tests/models/gen.py uses it
    with its own mean_std and weight_min.)"""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * mean_std)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + weight_min)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def build(name):
    """The PyTorch model NAME (eval mode, deterministic weights)."""
    ctor, _, seed, _ = MODELS[name]
    torch.manual_seed(seed)
    model = ctor()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed + 1000))
    return model.eval()


def make_inputs(name):
    """The benchmark inputs of NAME as float32 arrays (standard normal, fixed seed)."""
    _, shapes, seed, _ = MODELS[name]
    rng = np.random.RandomState(seed + 2000)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def input_names(name):
    n = len(MODELS[name][1])
    return ["input"] if n == 1 else ["input_%d" % i for i in range(n)]


def paths(name):
    base = os.path.join(MODELS_DIR, name)
    n = len(MODELS[name][1])
    return base + ".onnx", [base + ".input_%d.npy" % i for i in range(n)], base + ".json"


def up_to_date(name):
    onnx_path, ins, meta = paths(name)
    files = [onnx_path, meta] + ins
    if not all(os.path.exists(f) for f in files):
        return False
    return min(os.path.getmtime(f) for f in files) >= os.path.getmtime(os.path.abspath(__file__))


def export(name):
    import onnx  # only the export needs it

    model = build(name)
    inputs = make_inputs(name)
    onnx_path, in_paths, meta_path = paths(name)
    names = input_names(name)
    xs = tuple(torch.from_numpy(x) for x in inputs)
    # Gradients stay enabled: under no_grad, eval-mode nn.TransformerEncoderLayer takes
    # its fused fast path, which the ONNX exporter cannot trace.
    torch.onnx.export(model, xs, onnx_path, opset_version=OPSET, input_names=names,
                      output_names=["output"], do_constant_folding=True)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    for p, x in zip(in_paths, inputs):
        np.save(p, x)
    with torch.no_grad():
        y = model(*xs)
    params = sum(p.numel() for p in model.parameters())
    meta = {
        "name": name,
        "description": MODELS[name][3],
        "opset": OPSET,
        "seed": MODELS[name][2],
        "parameters": params,
        "inputs": [{"name": n, "shape": list(x.shape), "file": os.path.basename(p)}
                   for n, x, p in zip(names, inputs, in_paths)],
        "outputs": [{"name": "output", "shape": list(y.shape)}],
        "onnx_ops": sorted({n.op_type for n in m.graph.node}),
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print("%-20s %9d bytes  %9d params  %s" % (name, os.path.getsize(onnx_path), params,
                                                 " ".join(meta["onnx_ops"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="export even when up to date")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    a = ap.parse_args()
    if a.list:
        print("\n".join(MODELS))
        return
    names = [n for n in a.only.split(",") if n] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.exit("models.py: unknown model '%s' (have: %s)" % (n, ", ".join(MODELS)))
    os.makedirs(MODELS_DIR, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    for n in names:
        if a.force or not up_to_date(n):
            export(n)
        else:
            print("%-20s up to date" % n)


if __name__ == "__main__":
    main()

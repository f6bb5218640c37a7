#!/usr/bin/python3
"""Exports the end-to-end test models of kiln (tests/models/NAME/).

Run offline with Debian's python3 (torch 1.13, torchvision, onnx, numpy):

    /usr/bin/python3 tests/models/gen.py

CI does not run this script; it runs the committed outputs through kiln
(tests/models/run_models.c) and compares with PyTorch's outputs.

Each model is a small real network with random weights drawn under a fixed
seed, in eval mode. For each one the script writes

    NAME/model.onnx     the model (ONNX opset 17, weights inside)
    NAME/input_K.npy    input K, in graph-input order
    NAME/output_K.npy   PyTorch's output K (float32), in graph-output order

and checks that each model.onnx stays under 1 MB.
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock

HERE = os.path.dirname(os.path.abspath(__file__))
# MLP, LeNet-5, the Transformer encoder layer, the GPT block and the BatchNorm
# randomisation are the benchmark's (bench/models.py), here at smaller sizes.
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
from models import GPTBlock, LeNet5, MLP, TransformerEncoder, randomize_batchnorm  # noqa: E402

OPSET = 17
MAX_MODEL_BYTES = 1 << 20


class ResNetBlocks(nn.Module):
    """A ResNet stem and three torchvision BasicBlocks (one downsampling)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        down = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False), nn.BatchNorm2d(32))
        self.blocks = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 32, stride=2, downsample=down),
                                    BasicBlock(32, 32))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class MobileNetV2Blocks(nn.Module):
    """A MobileNetV2 stem and three torchvision inverted-residual blocks
    (expansion 6, ReLU6, depthwise 3x3; the middle one has the residual)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(InvertedResidual(16, 24, 2, 6), InvertedResidual(24, 24, 1, 6),
                                    InvertedResidual(24, 32, 2, 6))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


MODELS = [
    # name, constructor, input shapes
    ("mlp", MLP, [(4, 64)]),
    ("lenet5", LeNet5, [(2, 1, 32, 32)]),
    ("resnet_blocks", ResNetBlocks, [(1, 3, 32, 32)]),
    ("mobilenetv2_blocks", MobileNetV2Blocks, [(1, 3, 32, 32)]),
    ("transformer_encoder", lambda: TransformerEncoder(d_model=32, nhead=4, ffn=64), [(2, 8, 32)]),
    ("gpt_block", lambda: GPTBlock(d_model=32, n_head=4, seq=8), [(2, 8, 32)]),
]


def export(name, ctor, shapes, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    model = ctor()
    # every BatchNorm gets non-trivial statistics, so that folding it is exercised
    randomize_batchnorm(model, gen, mean_std=0.2, weight_min=0.75)
    model.eval()
    inputs = tuple(torch.randn(*s, generator=gen) for s in shapes)
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    in_names = ["input_%d" % i for i in range(len(inputs))]
    # Gradients stay enabled on purpose: under no_grad, eval-mode
    # nn.TransformerEncoderLayer takes its fused fast path, which ONNX cannot
    # export; the reference must come from the same (exported) path.
    ref = model(*inputs)
    torch.onnx.export(model, inputs, path, opset_version=OPSET, input_names=in_names,
                      output_names=["output_0"], do_constant_folding=True)
    refs = tuple(r.detach() for r in (ref if isinstance(ref, tuple) else (ref,)))
    onnx.checker.check_model(onnx.load(path))
    size = os.path.getsize(path)
    if size > MAX_MODEL_BYTES:
        sys.exit("%s: %d bytes, over the %d limit" % (path, size, MAX_MODEL_BYTES))
    for i, x in enumerate(inputs):
        np.save(os.path.join(out_dir, "input_%d.npy" % i), x.numpy().astype(np.float32))
    for i, y in enumerate(refs):
        np.save(os.path.join(out_dir, "output_%d.npy" % i), y.numpy().astype(np.float32))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print("%-20s %7d bytes  %s" % (name, size, " ".join(ops)))


def main():
    for seed, (name, ctor, shapes) in enumerate(MODELS):
        export(name, ctor, shapes, seed)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch side of kiln's benchmark harness (eager mode, CPU).

    /usr/bin/python3 bench/torch_bench.py NAME [--input FILE.npy]... [--threads T]
                     [--warmup N] [--iters N] [--output-dir DIR]
    /usr/bin/python3 bench/torch_bench.py --baseline   # torch imported, no model: the RSS

Builds model NAME from bench/models.py (the definitions and fixed-seed weights that the ONNX
files were exported from), in eval mode under torch.no_grad(), with torch.set_num_threads(T)
and one inter-op thread; feeds the inputs (.npy files in input order; default: the model's
benchmark inputs, bench/models/NAME.input_K.npy), runs --warmup untimed and --iters timed
forward calls and prints `key: value` lines: iters, threads, min_ms, max_ms, peak_rss_kb
(getrusage's maxrss) and, last, median_ms. With --output-dir each output is written as
DIR/output_K.npy.

Debian's PyTorch calls BLAS through libblas.so.3; when bench/openblas exists (setup.sh unpacks
OpenBLAS there) the script re-executes itself with it first on LD_LIBRARY_PATH, and prints the
BLAS it loaded (`blas:`).

Note: under no_grad, eval-mode nn.TransformerEncoderLayer takes PyTorch's fused inference fast
path; that is what PyTorch users get, so it is what is measured.
"""
import argparse
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


OPENBLAS = os.path.join(HERE, "openblas", "usr", "lib", "x86_64-linux-gnu", "openblas-pthread")


def use_openblas(threads):
    """Re-executes this script with bench/openblas (unpacked by setup.sh) first on
    LD_LIBRARY_PATH, so that Debian's PyTorch, built against the generic libblas.so.3, gets
    OpenBLAS rather than the reference BLAS; OPENBLAS_NUM_THREADS follows --threads."""
    if not os.path.exists(os.path.join(OPENBLAS, "libblas.so.3")):
        return
    paths = os.environ.get("LD_LIBRARY_PATH", "").split(":")
    if OPENBLAS in paths:
        return
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([OPENBLAS] + [p for p in paths if p])
    env.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def blas_library():
    """The BLAS library this process loaded (from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    except OSError:
        return "?"
    real = sorted({os.path.realpath(p) for p in libs})
    if any("openblas" in p for p in real):
        return "OpenBLAS (%s)" % ", ".join(p for p in real if "libopenblas" in p)
    return ", ".join(real) or "none loaded"


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    ap = argparse.ArgumentParser(description="PyTorch eager benchmark of one bench model")
    ap.add_argument("name", nargs="?", help="a model of bench/models.py")
    ap.add_argument("--input", action="append", default=[], help=".npy input (repeatable)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--output-dir")
    ap.add_argument("--baseline", action="store_true", help="import torch only; print the RSS")
    a = ap.parse_args()
    if not a.baseline and not a.name:
        ap.error("missing NAME")
    if a.threads < 1 or a.iters < 0 or a.warmup < 0:
        ap.error("--threads must be >= 1, --iters and --warmup >= 0")

    use_openblas(a.threads)
    import numpy as np
    import torch

    import models

    print("torch: %s" % torch.__version__)
    print("blas: %s" % blas_library())
    if a.baseline:
        print("peak_rss_kb: %d" % peak_rss_kb())
        return
    if a.name not in models.MODELS:
        sys.exit("torch_bench: unknown model '%s' (have: %s)" % (a.name, ", ".join(models.MODELS)))
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    model = models.build(a.name)
    files = a.input or models.paths(a.name)[1]
    xs = [torch.from_numpy(np.load(f)) for f in files]
    times = []
    with torch.no_grad():
        out = None
        for _ in range(a.warmup):
            out = model(*xs)
        for _ in range(a.iters):
            t0 = time.perf_counter()
            out = model(*xs)
            times.append((time.perf_counter() - t0) * 1e3)
        if out is None:
            out = model(*xs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if a.output_dir:
        for k, y in enumerate(outs):
            np.save(os.path.join(a.output_dir, "output_%d.npy" % k),
                    y.detach().numpy().astype(np.float32))
    print("threads: %d" % torch.get_num_threads())
    print("peak_rss_kb: %d" % peak_rss_kb())
    if times:
        times.sort()
        n = len(times)
        med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
        print("iters: %d" % n)
        print("min_ms: %.4f" % times[0])
        print("max_ms: %.4f" % times[-1])
        print("median_ms: %.4f" % med)


if __name__ == "__main__":
    main()

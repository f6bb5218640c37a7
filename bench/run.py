#!/usr/bin/python3
"""Runs kiln's benchmarks against ONNX Runtime and PyTorch; bench/run.sh builds what it needs
and then calls this. See bench/README.md.

    /usr/bin/python3 bench/run.py --kiln BUILD/kiln --driver bench/work/kiln_driver
        [--threads 1,2] [--iters 20] [--warmup 3] [--repeat 1] [--models a,b]
        [--timeout 900] [--out bench/results/latest.md]

For each model: `kiln compile -O2` (timed), `kiln inspect --memory` (arena vs lower bound),
one verification run of kiln's artifact (kiln_driver), ONNX Runtime and PyTorch on the same
input, each on one thread (outputs compared with ONNX Runtime's; peak RSS of each process),
then, per thread count T, the latency of each with T threads (`kiln bench --threads T`,
ort_bench.js --threads T, torch_bench.py --threads T; same warm-up and iteration counts,
interleaved model by model). A step that fails shows 'n/a' with the first
line of its error; the run goes on.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
TIME = "/usr/bin/time"  # GNU time: peak RSS of a child (%M)
# kiln's output is accepted when max|kiln - ORT| <= ATOL + RTOL * max|ORT|.
ATOL, RTOL = 1e-4, 1e-3
# .kir examples that only kiln runs (no ONNX file, so no peers)
KIR_ONLY = [("mlp.kir", "examples/mlp.kir"), ("cnn.kir", "examples/cnn.kir")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def first_line(text):
    """The first non-empty line, without kiln's 'kiln: error: ' prefix and this tree's path."""
    for line in (text or "").splitlines():
        line = line.strip().replace(ROOT + "/", "")
        if line:
            line = re.sub(r"^kiln: error: ", "", line)
            return line[:200]
    return "(no message)"


def run_cmd(cmd, timeout, rss=False):
    """Runs cmd; returns (ok, stdout, error line, wall seconds), or with rss=True
    (ok, stdout, error line, peak RSS in KiB).

    Peak RSS comes from GNU time wrapped around the command, not from the command's own
    getrusage: Linux carries a process's peak RSS across fork and exec, so a child of this
    Python process would report at least this process's RSS."""
    if rss:
        cmd = [TIME, "-q", "-f", "@@peak_rss_kb: %M"] + cmd
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "", "timed out after %d s" % timeout, None
    except OSError as e:
        return False, "", str(e), None
    wall = time.perf_counter() - t0
    stderr = p.stderr
    if rss:
        m = re.findall(r"(?m)^@@peak_rss_kb: (\d+)$", stderr)
        wall = float(m[-1]) if m else None
        stderr = re.sub(r"(?m)^@@peak_rss_kb: \d+\n?", "", stderr)
    if p.returncode != 0:
        err = first_line(stderr) if stderr.strip() else first_line(p.stdout)
        return False, p.stdout, err if p.returncode == 1 else "exit %d: %s" % (p.returncode, err), wall
    return True, p.stdout, "", wall


def model_list():
    """The ONNX benchmark models, in table order (bench/models.py --list)."""
    p = subprocess.run([PY, os.path.join(HERE, "models.py"), "--list"], stdout=subprocess.PIPE,
                       text=True, check=True)
    return p.stdout.split()


def model_files(name):
    """(NAME.onnx, [input .npy files]) as models.py wrote them (NAME.json lists the inputs)."""
    base = os.path.join(HERE, "models", name)
    with open(base + ".json") as f:
        meta = json.load(f)
    return base + ".onnx", [os.path.join(HERE, "models", i["file"]) for i in meta["inputs"]]


def keyval(text, key):
    """The number on the last `key: N` (or `key=N`) line of text, or None."""
    vals = re.findall(r"(?m)\b%s\s*[:=]\s*([-+0-9.eE]+)" % re.escape(key), text)
    try:
        return float(vals[-1]) if vals else None
    except ValueError:
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def compare(got_file, ref_file):
    """(max abs diff, max |ref|, ok) of two .npy outputs; ok is False on shape mismatch or NaN."""
    a, b = np.load(got_file), np.load(ref_file)
    if a.shape != b.shape:
        return None, None, False, "shape %s vs %s" % (a.shape, b.shape)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref_max = float(np.max(np.abs(b64))) if b64.size else 0.0
    d = np.abs(a64 - b64)
    same_nonfinite = (~np.isfinite(a64) & ~np.isfinite(b64)) & ((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))
    d[same_nonfinite] = 0.0
    if not np.all(np.isfinite(d)):
        return float("nan"), ref_max, False, "non-finite values differ"
    mx = float(d.max()) if d.size else 0.0
    return mx, ref_max, mx <= ATOL + RTOL * ref_max, ""


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = os.path.join(HERE, "work")
        os.makedirs(self.work, exist_ok=True)
        self.has_kiln_bench = self.detect_kiln_bench()
        self.kiln_cpu = None
        self.results = {}

    def detect_kiln_bench(self):
        try:
            p = subprocess.run([self.a.kiln, "bench", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return p.returncode == 0

    # ---- one step per tool -------------------------------------------------------------
    def kiln_time(self, so, name, inputs, threads):
        """kiln's median with `threads` threads, as ONNX Runtime and PyTorch get; also the
        count in effect that kiln reports (1 for an artifact without parallel kernels)."""
        a = self.a
        if self.has_kiln_bench:
            cmd = [a.kiln, "bench", so, "--iters", str(a.iters), "--warmup", str(a.warmup),
                   "--threads", str(threads)]
        else:  # a kiln without `kiln bench`: the same loop in bench/kiln_driver.c
            cmd = [a.driver, so, "--name", name, "--iters", str(a.iters), "--warmup",
                   str(a.warmup), "--threads", str(threads)] + sum((["--input", f] for f in inputs), [])
        ok, out, err, _ = run_cmd(cmd, a.timeout)
        med = keyval(out, "median_ms") if ok else None
        if ok and med is None:
            return None, "no median_ms line in the output", None
        used = keyval(out, "threads")
        cpu = re.findall(r"\bcpu ([\w.+-]+)\)", out)  # `artifact: NAME (kiln V, TRIPLE, cpu CPU)`
        if cpu:
            self.kiln_cpu = cpu[-1]
        return med, err, used

    def ort_time(self, onnx_path, inputs, threads, out_dir=None, iters=None, warmup=None, rss=False):
        a = self.a
        cmd = ["node", os.path.join(HERE, "ort_bench.js"), onnx_path, "--threads", str(threads),
               "--iters", str(a.iters if iters is None else iters),
               "--warmup", str(a.warmup if warmup is None else warmup)]
        cmd += sum((["--input", f] for f in inputs), [])
        if out_dir:
            cmd += ["--output-dir", out_dir]
        return run_cmd(cmd, a.timeout, rss=rss)

    def torch_time(self, name, inputs, threads, out_dir=None, iters=None, warmup=None, rss=False):
        a = self.a
        cmd = [PY, os.path.join(HERE, "torch_bench.py"), name, "--threads", str(threads),
               "--iters", str(a.iters if iters is None else iters),
               "--warmup", str(a.warmup if warmup is None else warmup)]
        cmd += sum((["--input", f] for f in inputs), [])
        if out_dir:
            cmd += ["--output-dir", out_dir]
        return run_cmd(cmd, a.timeout, rss=rss)

    # ---- phases --------------------------------------------------------------------------
    def prepare(self, name, model_path, inputs, has_peers):
        """Compile, memory plan, verification runs (one call each) and peak RSS."""
        a, r = self.a, {"name": name, "peers": has_peers}
        so = os.path.join(self.work, name.replace(".", "_") + ".so")
        cname = re.sub(r"\W", "_", name)
        r["cname"], r["so"] = cname, so
        for stale in (so, os.path.splitext(so)[0] + ".h"):
            if os.path.exists(stale):
                os.remove(stale)
        log("[%s] kiln compile -O2" % name)
        ok, _, err, wall = run_cmd([a.kiln, "compile", model_path, "-O2", "-o", so, "--name", cname],
                                   a.timeout)
        r["compile_s"] = wall if ok else None
        r["compile_error"] = err if not ok else ""
        r["artifact_bytes"] = os.path.getsize(so) if ok else None
        ok_m, out, err_m, _ = run_cmd([a.kiln, "inspect", "--memory", model_path], a.timeout)
        r["memory_plan"] = {k: keyval(out, k) for k in
                            ("arena_bytes", "lower_bound_bytes", "naive_bytes")} if ok_m else None
        r["memory_plan_error"] = err_m
        dirs = {t: os.path.join(self.work, name.replace(".", "_"), t) for t in ("kiln", "ort", "torch")}
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))
        r["rss_kb"], r["errors"] = {}, {}
        if ok:
            log("[%s] kiln artifact: verification run" % name)
            cmd = [a.driver, so, "--name", cname, "--warmup", "1", "--threads", "1",
                   "--output-dir", dirs["kiln"]]
            ok_k, out, err_k, rss = run_cmd(cmd + sum((["--input", f] for f in inputs), []),
                                            a.timeout, rss=True)
            if ok_k:
                r["rss_kb"]["kiln"] = rss
                r["workspace_bytes"] = keyval(out, "workspace_bytes")
                r["weights_bytes"] = keyval(out, "weights_bytes")
            else:
                r["errors"]["kiln_run"] = err_k
        if has_peers:
            log("[%s] ONNX Runtime and PyTorch: verification runs" % name)
            ok_o, out, err_o, rss = self.ort_time(model_path, inputs, 1, dirs["ort"], iters=0,
                                                  warmup=1, rss=True)
            if ok_o:
                r["rss_kb"]["ort"] = rss
            else:
                r["errors"]["ort"] = err_o
            ok_t, out, err_t, rss = self.torch_time(name, inputs, 1, dirs["torch"], iters=0,
                                                    warmup=1, rss=True)
            if ok_t:
                r["rss_kb"]["torch"] = rss
            else:
                r["errors"]["torch"] = err_t
            ref = os.path.join(dirs["ort"], "output_0.npy")
            r["check"] = {}
            for tool in ("kiln", "torch"):
                got = os.path.join(dirs[tool], "output_0.npy")
                if os.path.exists(got) and os.path.exists(ref):
                    mx, refmax, good, why = compare(got, ref)
                    r["check"][tool] = {"max_abs": mx, "ref_max": refmax, "ok": good, "why": why}
        return r

    def time_all(self, r, model_path, inputs, threads):
        name, a = r["name"], self.a
        t = {"kiln": [], "ort": [], "torch": []}
        errs = {}
        for rep in range(a.repeat):
            log("[%s] latency, %d thread%s%s" % (name, threads, "" if threads == 1 else "s",
                                                ", repeat %d" % (rep + 1) if a.repeat > 1 else ""))
            if r["compile_s"] is not None:
                med, err, used = self.kiln_time(r["so"], r["cname"], inputs, threads)
                if med is not None:
                    t["kiln"].append(med)
                    if used is not None:
                        r.setdefault("kiln_threads_used", {})[str(threads)] = int(used)
                else:
                    errs["kiln"] = err
            if r["peers"]:
                ok, out, err, _ = self.ort_time(model_path, inputs, threads)
                if ok and keyval(out, "median_ms") is not None:
                    t["ort"].append(keyval(out, "median_ms"))
                else:
                    errs["ort"] = err or "no median_ms"
                ok, out, err, _ = self.torch_time(name, inputs, threads)
                if ok and keyval(out, "median_ms") is not None:
                    t["torch"].append(keyval(out, "median_ms"))
                else:
                    errs["torch"] = err or "no median_ms"
        r.setdefault("latency", {})[str(threads)] = {"medians_ms": t, "errors": errs}

    def baselines(self):
        """Peak RSS of each runtime's process with no model: Node + onnxruntime-node,
        Python + torch (+ torchvision, as torch_bench.py imports them), kiln_driver --help."""
        out = {}
        ok, o, _, rss = run_cmd(["node", os.path.join(HERE, "ort_bench.js"), "--baseline"],
                                self.a.timeout, rss=True)
        out["ort"] = rss if ok else None
        out["ort_version"] = (re.findall(r"onnxruntime:\s*(\S+)", o) or ["?"])[0] if ok else "?"
        ok, o, _, rss = run_cmd([PY, os.path.join(HERE, "torch_bench.py"), "--baseline"],
                                self.a.timeout, rss=True)
        out["torch"] = rss if ok else None
        out["torch_version"] = (re.findall(r"torch:\s*(\S+)", o) or ["?"])[0] if ok else "?"
        out["torch_blas"] = (re.findall(r"blas:\s*(.+)", o) or ["?"])[0] if ok else "?"
        ok, o, _, rss = run_cmd([self.a.driver, "--help"], self.a.timeout, rss=True)
        out["kiln"] = rss if ok else None
        return out


def fmt_ms(vals):
    if not vals:
        return None, "n/a"
    med = float(np.median(vals))
    s = "%.3g" % med if med < 100 else "%.0f" % med
    if len(vals) > 1 and med > 0:
        spread = 50.0 * (max(vals) - min(vals)) / med
        s += " ±%.0f%%" % spread if spread <= 100 else " ±>100%"
    return med, s


def fmt_ratio(x, y):
    if x is None or y is None or y <= 0:
        return "n/a"
    q = x / y
    if q < 0.1:
        return "%.2g" % q
    return "%.2f" % q if q < 10 else "%.1f" % q if q < 100 else "%.0f" % q


def mib(kb):
    return "n/a" if kb is None else "%.1f" % (kb / 1024.0)


def mib_b(b):
    if b is None:
        return "n/a"
    if b < 1048576:
        return "%.1f KiB" % (b / 1024.0)
    return "%.1f MiB" % (b / 1048576.0)


def check_cell(r):
    c = r.get("check", {}).get("kiln")
    if r["compile_s"] is None:
        return "n/a"
    if not r["peers"]:
        return "— (no reference)"
    if c is None:
        return "n/a: " + r["errors"].get("kiln_run", r["errors"].get("ort", "no output"))
    if c["max_abs"] is None:
        return "**WRONG** (%s)" % c["why"]
    s = "%.1e" % c["max_abs"]
    return s + (" ok" if c["ok"] else " **WRONG**")


def report(bench, rows, env):
    a = bench.a
    L = []
    L.append("# kiln benchmarks: latest run")
    L.append("")
    L.append("Written by `bench/run.sh` (see [README.md](README.md)); do not edit by hand.")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    for k, v in env:
        L.append("| %s | %s |" % (k, v))
    L.append("")
    L.append("## Latency (median ms per inference, batch 1; ratio > 1: kiln is slower)")
    L.append("")
    L.append("| model | threads | kiln | ONNX Runtime | PyTorch | kiln/ORT | kiln/PyTorch | kiln output vs ORT |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        for th in a.threads:
            lat = r.get("latency", {}).get(str(th))
            if lat is None:
                continue
            km, ks = fmt_ms(lat["medians_ms"]["kiln"])
            om, os_ = fmt_ms(lat["medians_ms"]["ort"])
            tm, ts = fmt_ms(lat["medians_ms"]["torch"])
            if r["compile_s"] is None:
                ks = "n/a: " + r["compile_error"]
            elif km is None:
                ks = "n/a: " + lat["errors"].get("kiln", "?")
            chk = check_cell(r)
            wrong = "WRONG" in chk
            if wrong and km is not None:
                ks += " (wrong output)"
            if not r["peers"]:
                os_ = ts = "—"
            else:
                if om is None:
                    os_ = "n/a: " + lat["errors"].get("ort", "?")
                if tm is None:
                    ts = "n/a: " + lat["errors"].get("torch", "?")
            L.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                r["name"], th, ks, os_, ts,
                fmt_ratio(km, om) if r["peers"] else "—",
                fmt_ratio(km, tm) if r["peers"] else "—", chk))
    L.append("")
    L.append("Every tool runs with the row's thread count T: `kiln bench --threads T`, ONNX Runtime's "
             "intra-op threads and PyTorch's `set_num_threads` (and OpenBLAS's). A kiln artifact "
             "without parallel kernels runs on one thread whatever T (the raw JSON's "
             "`kiln_threads_used` has the counts kiln reported).")
    L.append("")
    if a.repeat > 1:
        L.append("Each cell is the median of %d runs' medians; ± is half the spread of those "
                 "medians relative to the median." % a.repeat)
        L.append("")
    L.append("## Compile and correctness")
    L.append("")
    L.append("| model | kiln compile -O2 (s) | artifact | max abs diff kiln vs ORT | PyTorch vs ORT | max abs ORT output |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ck = r.get("check", {})
        def d(tool):
            c = ck.get(tool)
            if c is None:
                return "—" if not r["peers"] else "n/a"
            return "%.1e" % c["max_abs"] if c["max_abs"] is not None else c["why"]
        refmax = ck.get("kiln", ck.get("torch", {})).get("ref_max") if ck else None
        comp = "%.2f" % r["compile_s"] if r["compile_s"] is not None else "n/a: " + r["compile_error"]
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            r["name"], comp, mib_b(r.get("artifact_bytes")), d("kiln"), d("torch"),
            "%.3g" % refmax if refmax is not None else "—"))
    L.append("")
    L.append("Tolerance: max|kiln − ORT| ≤ %g + %g·max|ORT| (same input file for all three)." % (ATOL, RTOL))
    L.append("")
    b = bench.base
    L.append("## Memory (peak RSS of one process that loads the model and runs it once, 1 thread)")
    L.append("")
    L.append("kiln runs its artifact in `bench/kiln_driver.c` (libc + the `.so`, no kiln library); "
             "ONNX Runtime in Node.js (`ort_bench.js`), PyTorch in Python (`torch_bench.py`). "
             "The runtimes' baselines (process with the runtime loaded, no model): "
             "ORT+Node %s MiB, PyTorch+Python %s MiB, kiln_driver %s MiB. "
             "\"+model\" is peak RSS minus that baseline." % (
                 mib(b.get("ort")), mib(b.get("torch")), mib(b.get("kiln"))))
    L.append("")
    L.append("| model | kiln (MiB) | ORT (MiB) | PyTorch (MiB) | kiln +model | ORT +model | PyTorch +model | kiln weights | workspace | arena | lower bound | arena/lower bound | naive (no reuse) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rss = r.get("rss_kb", {})
        def plus(tool):
            v, base = rss.get(tool), b.get(tool)
            return "n/a" if v is None or base is None else "%.1f" % ((v - base) / 1024.0)
        mp = r.get("memory_plan") or {}
        arena, lb, naive = mp.get("arena_bytes"), mp.get("lower_bound_bytes"), mp.get("naive_bytes")
        ratio = "%.2f" % (arena / lb) if arena is not None and lb else "n/a"
        peers = r["peers"]
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], mib(rss.get("kiln")),
            mib(rss.get("ort")) if peers else "—", mib(rss.get("torch")) if peers else "—",
            plus("kiln"), plus("ort") if peers else "—", plus("torch") if peers else "—",
            mib_b(r.get("weights_bytes")), mib_b(r.get("workspace_bytes")),
            mib_b(arena), mib_b(lb), ratio, mib_b(naive)))
    L.append("")
    L.append("weights and workspace are the artifact's (its metadata); arena, lower bound and naive come "
             "from `kiln inspect --memory`: the planned arena, "
             "the most bytes live at once in the chosen order, and the sum of all intermediates.")
    errs = []
    for r in rows:
        for k, v in r.get("errors", {}).items():
            errs.append("- %s, %s: %s" % (r["name"], k, v))
        if r.get("memory_plan_error"):
            errs.append("- %s, kiln inspect --memory: %s" % (r["name"], r["memory_plan_error"]))
    if errs:
        L += ["", "## Errors", ""] + errs
    L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description="kiln vs ONNX Runtime vs PyTorch")
    ap.add_argument("--kiln", help="the kiln binary (a Release build)")
    ap.add_argument("--driver", help="bench/kiln_driver built from kiln_driver.c")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=1, help="run each latency measurement N times")
    ap.add_argument("--models", default="", help="comma-separated subset (ONNX names or mlp.kir, cnn.kir)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per command")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.md"))
    ap.add_argument("--render", metavar="RAW.json",
                    help="only rewrite the report from a run's raw JSON (no measurements)")
    a = ap.parse_args()
    try:
        a.threads = [int(t) for t in a.threads.split(",") if t]
    except ValueError:
        ap.error("--threads: comma-separated integers")
    if not a.threads or min(a.threads) < 1 or a.iters < 1 or a.warmup < 0 or a.repeat < 1:
        ap.error("--threads >= 1, --iters >= 1, --warmup >= 0, --repeat >= 1")
    if a.render:
        return render_only(a)
    if not a.kiln or not a.driver:
        ap.error("--kiln and --driver are needed (bench/run.sh passes them)")
    want = [m for m in a.models.split(",") if m]
    onnx_models = model_list()
    known = onnx_models + [k for k, _ in KIR_ONLY]
    for m in want:
        if m not in known:
            ap.error("unknown model '%s' (have: %s)" % (m, ", ".join(known)))

    bench = Bench(a)
    started = datetime.datetime.now().astimezone()
    load_start = loadavg()
    log("kiln bench: %s" % ("`kiln bench`" if bench.has_kiln_bench
                             else "not available; timing kiln with bench/kiln_driver"))
    bench.base = bench.baselines()
    rows = []
    plan = [(n,) + model_files(n) + (True,) for n in onnx_models]
    plan += [(k, os.path.join(ROOT, p), [], False) for k, p in KIR_ONLY]
    for name, path, inputs, peers in plan:
        if want and name not in want:
            continue
        r = bench.prepare(name, path, inputs, peers)
        for th in a.threads:
            bench.time_all(r, path, inputs, th)
        rows.append(r)

    ok, kv, _, _ = run_cmd([a.kiln, "--version"], 60)
    ok_g, commit, _, _ = run_cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], 60)
    ok_s, dirty, _, _ = run_cmd(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], 60)
    env = [
        ("date", started.strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", "%s%s, %d logical cores" % (
            cpu_name(), " (LLVM target CPU %s)" % bench.kiln_cpu if bench.kiln_cpu else "",
            os.cpu_count() or 0)),
        ("load average (1/5/15 min) at start / end", "%s / %s" % (load_start, loadavg())),
        ("kiln", "%s, commit %s%s" % (kv.strip() if ok else "?", commit.strip() if ok_g else "?",
                                      " (with uncommitted changes)" if ok_s and dirty.strip() else "")),
        ("kiln timing", "`kiln bench --threads T`" if bench.has_kiln_bench
         else "bench/kiln_driver --threads T (`kiln bench` not available in this build)"),
        ("ONNX Runtime", "onnxruntime-node %s, CPU EP, graph optimisation 'all', intra-op threads T, inter-op 1" % bench.base["ort_version"]),
        ("PyTorch", "%s eager, no_grad, set_num_threads(T); BLAS: %s" % (
            bench.base["torch_version"], bench.base["torch_blas"].replace(ROOT + "/", ""))),
        ("iterations", "%d timed after %d warm-up, per tool and thread count%s" % (
            a.iters, a.warmup, ", each measurement repeated %d times" % a.repeat if a.repeat > 1 else "")),
    ]
    md = report(bench, rows, env)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(md)
    raw = os.path.splitext(a.out)[0] + ".json"
    with open(raw, "w") as f:
        json.dump({"env": env, "args": {"threads": a.threads, "repeat": a.repeat},
                   "baselines_rss_kb": bench.base, "models": rows}, f, indent=1, default=str)
    print(md)
    log("wrote %s and %s" % (os.path.relpath(a.out), os.path.relpath(raw)))


def render_only(a):
    with open(a.render) as f:
        raw = json.load(f)
    args = raw.get("args", {})
    a.threads = args.get("threads", a.threads)
    a.repeat = args.get("repeat", a.repeat)

    class Saved:
        pass

    bench = Saved()
    bench.a, bench.base = a, raw["baselines_rss_kb"]
    env = raw["env"]
    env = [tuple(kv) for kv in env] if isinstance(env, list) else list(env.items())
    md = report(bench, raw["models"], env)
    with open(a.out, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()

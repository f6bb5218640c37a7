#!/usr/bin/env node
// ONNX Runtime side of kiln's benchmark harness (onnxruntime-node, CPU execution provider).
//
//   node bench/ort_bench.js MODEL.onnx [--input FILE.npy]... [--threads T] [--warmup N]
//                           [--iters N] [--output-dir DIR] [--seed N]
//   node bench/ort_bench.js --baseline      # ONNX Runtime loaded, no model: the process's RSS
//
// Loads MODEL.onnx into an InferenceSession (graphOptimizationLevel 'all', intraOpNumThreads T,
// interOpNumThreads 1, sequential execution), feeds the inputs (float32 .npy files in graph-input
// order; inputs without a file get uniform [-1, 1) data), runs --warmup untimed and --iters timed
// calls of session.run, and prints `key: value` lines: iters, threads, min_ms, max_ms,
// load_ms, peak_rss_kb (getrusage's maxrss) and, last, median_ms. With --output-dir each output
// is written as DIR/output_K.npy (float32, K in graph-output order).
'use strict';
const fs = require('fs');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`ort_bench: ${msg}\n`);
  process.stderr.write('usage: node ort_bench.js MODEL.onnx [--input FILE.npy]... [--threads T] ' +
                       '[--warmup N] [--iters N] [--output-dir DIR] [--seed N] | --baseline\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = {model: null, inputs: [], threads: 1, warmup: 3, iters: 20, outputDir: null,
             seed: 0, baseline: false};
  const count = (flag, v) => {
    if (v === undefined || !/^\d+$/.test(v)) usage(`${flag} needs a count, got '${v}'`);
    return parseInt(v, 10);
  };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i], v = argv[i + 1];
    if (s === '--input') { if (v === undefined) usage('--input needs a file'); a.inputs.push(v); i++; }
    else if (s === '--threads') { a.threads = count(s, v); i++; }
    else if (s === '--warmup') { a.warmup = count(s, v); i++; }
    else if (s === '--iters') { a.iters = count(s, v); i++; }
    else if (s === '--seed') { a.seed = count(s, v); i++; }
    else if (s === '--output-dir') { if (v === undefined) usage('--output-dir needs a directory'); a.outputDir = v; i++; }
    else if (s === '--baseline') a.baseline = true;
    else if (s === '-h' || s === '--help') usage();
    else if (s.startsWith('-')) usage(`unknown option '${s}'`);
    else if (a.model) usage(`unexpected argument '${s}'`);
    else a.model = s;
  }
  if (!a.baseline && !a.model) usage('missing MODEL.onnx');
  if (a.threads < 1) usage('--threads must be at least 1');
  return a;
}

// .npy (versions 1-3, little-endian float32, C order) -> {shape, data: Float32Array}
function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.length < 10 || b.readUInt8(0) !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY')
    throw new Error(`${file}: not a .npy file`);
  const major = b.readUInt8(6);
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = b.toString('latin1', hstart, hstart + hlen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: only float32 ('<f4') inputs are supported`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order is not supported`);
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!m) throw new Error(`${file}: no shape in the header`);
  const shape = m[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const n = shape.reduce((x, y) => x * y, 1);
  const start = hstart + hlen;
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(b.subarray(start, start + 4 * n));
  if (b.length - start < 4 * n) throw new Error(`${file}: truncated data`);
  return {shape, data};
}

function writeNpy(file, shape, data) {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt8(0, 7);
  pre.writeUInt16LE(header.length, 8);
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
                                        Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength)]));
}

function peakRssKb() { return process.resourceUsage().maxRSS; }

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  if (a.baseline) {
    console.log(`onnxruntime: ${ort.env.versions.node}`);
    console.log(`peak_rss_kb: ${peakRssKb()}`);
    return;
  }
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  let state = BigInt(a.seed) * 2654435761n + 1n;
  session.inputNames.forEach((name, i) => {
    if (i < a.inputs.length) {
      const x = readNpy(a.inputs[i]);
      feeds[name] = new ort.Tensor('float32', x.data, x.shape);
      return;
    }
    const meta = session.inputMetadata ? session.inputMetadata[i] : null;
    const shape = meta && meta.shape ? meta.shape.map((d) => (typeof d === 'number' ? d : 1)) : null;
    if (!shape) throw new Error(`input '${name}': no file and no static shape`);
    const n = shape.reduce((x, y) => x * y, 1), data = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      data[k] = Number(state >> 40n) / 16777216 * 2 - 1;
    }
    feeds[name] = new ort.Tensor('float32', data, shape);
  });
  let out = null;
  for (let i = 0; i < a.warmup; i++) out = await session.run(feeds);
  const times = [];
  for (let i = 0; i < a.iters; i++) {
    const s = process.hrtime.bigint();
    out = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  if (!out) out = await session.run(feeds);
  if (a.outputDir) {
    session.outputNames.forEach((name, k) => {
      writeNpy(path.join(a.outputDir, `output_${k}.npy`), out[name].dims, out[name].data);
    });
  }
  console.log(`onnxruntime: ${ort.env.versions.node}`);
  console.log(`threads: ${a.threads}`);
  console.log(`load_ms: ${loadMs.toFixed(3)}`);
  console.log(`peak_rss_kb: ${peakRssKb()}`);
  if (times.length) {
    times.sort((x, y) => x - y);
    const n = times.length;
    const med = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
    console.log(`iters: ${n}`);
    console.log(`min_ms: ${times[0].toFixed(4)}`);
    console.log(`max_ms: ${times[n - 1].toFixed(4)}`);
    console.log(`median_ms: ${med.toFixed(4)}`);
  }
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});

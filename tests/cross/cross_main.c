/* Cross-compilation test driver: a plain C program that runs any kiln
 * artifact compiled with `--name model` through its generated header only
 * (model.h), built once for the host and once for AArch64 (run under
 * qemu-aarch64). It takes every shape and dtype from the artifact's
 * metadata, so one source serves every model.
 *
 *   cross_main run OUT [IN.npy ...] [--weights W]
 *       runs the model on the given inputs (.npy files in metadata order,
 *       C order, the metadata's dtype) or, without them, on deterministic
 *       inputs made without libm (identical bits on every machine); checks
 *       that a run with a caller workspace gives the same bits as one with a
 *       per-call workspace, then writes every output's raw bytes, in
 *       metadata order, to OUT. W: the NAME.weights file of an artifact
 *       compiled with --weights=file.
 *   cross_main compare REF OUT
 *       compares two OUT files of this model: floats within
 *       |a - r| <= RTOL |r| + ATOL max(1, max |r| of that output), other
 *       dtypes bit for bit; prints the worst difference of each output.
 *
 * Prints the artifact's target triple ("target: ...") so the test can check
 * which machine ran it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define RTOL 1e-4
#define ATOL 1e-5

static int fail(const char *msg) {
  fprintf(stderr, "cross_main: FAIL: %s\n", msg);
  return 1;
}

static size_t dtype_size(int32_t dt) {
  switch (dt) {
  case KILN_ARTIFACT_F64:
  case KILN_ARTIFACT_I64: return 8;
  case KILN_ARTIFACT_F32:
  case KILN_ARTIFACT_I32: return 4;
  case KILN_ARTIFACT_F16:
  case KILN_ARTIFACT_BF16:
  case KILN_ARTIFACT_I16: return 2;
  default: return 1;
  }
}

/* Deterministic inputs from a 32-bit LCG, no libm: floats in [-1, 1) with
 * 2^-16 steps (exact in f32), integers in [0, 4) (valid indices for small
 * axes), bools 0 or 1. */
static void gen_input(const kiln_artifact_tensor *t, void *buf, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 12345u;
  size_t n = (size_t)t->nbytes / dtype_size(t->dtype);
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    uint32_t r = s >> 16; /* 0 .. 65535 */
    double f = ((double)r - 32768.0) / 32768.0;
    switch (t->dtype) {
    case KILN_ARTIFACT_F32: ((float *)buf)[i] = (float)f; break;
    case KILN_ARTIFACT_F64: ((double *)buf)[i] = f; break;
    case KILN_ARTIFACT_I64: ((int64_t *)buf)[i] = r & 3; break;
    case KILN_ARTIFACT_I32: ((int32_t *)buf)[i] = (int32_t)(r & 3); break;
    case KILN_ARTIFACT_I16: ((int16_t *)buf)[i] = (int16_t)(r & 3); break;
    case KILN_ARTIFACT_I8:
    case KILN_ARTIFACT_U8: ((uint8_t *)buf)[i] = (uint8_t)(r & 3); break;
    case KILN_ARTIFACT_BOOL: ((uint8_t *)buf)[i] = (uint8_t)(r & 1); break;
    default: ((uint16_t *)buf)[i] = 0; break; /* f16/bf16: zeros */
    }
  }
}

/* Reads a version 1-3 .npy file whose data is exactly nbytes long. */
static int read_npy(const char *path, void *buf, uint64_t nbytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char pre[12];
  int ok = fread(pre, 1, 10, f) == 10 && pre[0] == 0x93 && !memcmp(pre + 1, "NUMPY", 5);
  long hlen = 0, off = 0;
  if (ok && pre[6] == 1) {
    hlen = pre[8] | (long)pre[9] << 8;
    off = 10;
  } else if (ok && fread(pre + 10, 1, 2, f) == 2) {
    hlen = pre[8] | (long)pre[9] << 8 | (long)pre[10] << 16 | (long)pre[11] << 24;
    off = 12;
  } else {
    ok = 0;
  }
  if (ok) ok = fseek(f, 0, SEEK_END) == 0 && ftell(f) == off + hlen + (long)nbytes;
  if (ok) ok = fseek(f, off + hlen, SEEK_SET) == 0 && fread(buf, 1, nbytes, f) == nbytes;
  fclose(f);
  return ok ? 0 : -1;
}

static void *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  void *p = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) {
      *n = (size_t)len;
      p = aligned_alloc(KILN_ARTIFACT_ALIGN, ((size_t)len + 63) / 64 * 64 + 64);
      if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
      }
    }
  }
  fclose(f);
  return p;
}

static int cmd_run(const kiln_artifact_metadata *m, int argc, char **argv) {
  const char *out = argv[2], *weights = NULL, *in_files[256];
  int n_in_files = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--weights") && i + 1 < argc) weights = argv[++i];
    else if (n_in_files < 256) in_files[n_in_files++] = argv[i];
  }
  if (n_in_files && n_in_files != m->n_inputs) return fail("give every input or none");
  if (m->weights_mode == KILN_ARTIFACT_WEIGHTS_FILE) {
#if model_WEIGHTS_IN_FILE
    size_t n = 0;
    void *image = weights ? read_file(weights, &n) : NULL;
    if (!image) return fail("this artifact needs its weights file (--weights)");
    if (model_set_weights(image, (uint64_t)n)) return fail("model_set_weights");
#endif
  }
  (void)weights;

  void **ins = calloc((size_t)m->n_inputs + 1, sizeof *ins);
  void **outs = calloc((size_t)m->n_outputs + 1, sizeof *outs);
  void **outs2 = calloc((size_t)m->n_outputs + 1, sizeof *outs2);
  if (!ins || !outs || !outs2) return fail("out of memory");
  for (int i = 0; i < m->n_inputs; i++) {
    ins[i] = malloc(m->inputs[i].nbytes + 8);
    if (!ins[i]) return fail("out of memory");
    if (n_in_files) {
      if (read_npy(in_files[i], ins[i], m->inputs[i].nbytes)) {
        fprintf(stderr, "%s: not a .npy file of %llu data bytes for input '%s'\n", in_files[i],
                (unsigned long long)m->inputs[i].nbytes, m->inputs[i].name);
        return fail("bad input file");
      }
    } else {
      gen_input(&m->inputs[i], ins[i], (uint32_t)i + 1);
    }
  }
  for (int j = 0; j < m->n_outputs; j++) {
    outs[j] = malloc(m->outputs[j].nbytes + 8);
    outs2[j] = malloc(m->outputs[j].nbytes + 8);
    if (!outs[j] || !outs2[j]) return fail("out of memory");
    memset(outs2[j], 0x5a, m->outputs[j].nbytes);
  }
  int rc = model_run_packed(ins, outs, NULL);
  if (rc) {
    fprintf(stderr, "model_run_packed: status %d\n", rc);
    return fail("the run failed");
  }
  void *ws = aligned_alloc(KILN_ARTIFACT_ALIGN, (m->workspace_size + 63) / 64 * 64 + 64);
  if (!ws) return fail("out of memory");
  if (model_run_packed(ins, outs2, ws)) return fail("the run with a caller workspace failed");
  for (int j = 0; j < m->n_outputs; j++)
    if (memcmp(outs[j], outs2[j], m->outputs[j].nbytes))
      return fail("a caller workspace gives different results");

  FILE *f = fopen(out, "wb");
  if (!f) return fail("cannot create the output file");
  for (int j = 0; j < m->n_outputs; j++) fwrite(outs[j], 1, m->outputs[j].nbytes, f);
  if (fclose(f)) return fail("cannot write the output file");
  printf("target: %s (cpu %s)\n", m->target_triple, m->target_cpu);
  for (int i = 0; i < m->n_inputs; i++) free(ins[i]);
  for (int j = 0; j < m->n_outputs; j++) {
    free(outs[j]);
    free(outs2[j]);
  }
  free(ins);
  free(outs);
  free(outs2);
  free(ws);
  return 0;
}

static double elem(const void *p, int32_t dt, size_t i) {
  if (dt == KILN_ARTIFACT_F32) return ((const float *)p)[i];
  return ((const double *)p)[i];
}

static int cmd_compare(const kiln_artifact_metadata *m, const char *ref_path, const char *out_path) {
  size_t n_ref = 0, n_out = 0;
  unsigned char *ref = read_file(ref_path, &n_ref), *out = read_file(out_path, &n_out);
  if (!ref || !out) return fail("cannot read the files to compare");
  uint64_t total = 0;
  for (int j = 0; j < m->n_outputs; j++) total += m->outputs[j].nbytes;
  if (n_ref != total || n_out != total) return fail("the files are not this model's outputs");
  int bad = 0;
  size_t off = 0;
  for (int j = 0; j < m->n_outputs; j++) {
    const kiln_artifact_tensor *t = &m->outputs[j];
    int32_t dt = t->dtype;
    if (dt == KILN_ARTIFACT_F32 || dt == KILN_ARTIFACT_F64) {
      size_t n = (size_t)t->nbytes / dtype_size(dt);
      double scale = 1, worst = 0;
      size_t worst_i = 0, n_bad = 0;
      for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(elem(ref + off, dt, i)));
      for (size_t i = 0; i < n; i++) {
        double r = elem(ref + off, dt, i), a = elem(out + off, dt, i), d = fabs(a - r);
        int same_nan = isnan(r) && isnan(a);
        if (!same_nan && !(d <= RTOL * fabs(r) + ATOL * scale)) n_bad++;
        if (!same_nan && (d > worst || isnan(d))) {
          worst = d;
          worst_i = i;
        }
      }
      printf("%s: %zu values, max abs diff %.3g at %zu (%.9g vs %.9g)%s\n", t->name, n, worst,
             worst_i, n ? elem(ref + off, dt, worst_i) : 0.0,
             n ? elem(out + off, dt, worst_i) : 0.0, n_bad ? " FAIL" : " ok");
      if (n_bad) {
        fprintf(stderr, "%s: %zu of %zu values differ beyond rtol %g, atol %g x %g\n", t->name,
                n_bad, n, RTOL, ATOL, scale);
        bad = 1;
      }
    } else if (memcmp(ref + off, out + off, t->nbytes)) {
      printf("%s: FAIL (not bit-identical)\n", t->name);
      bad = 1;
    } else {
      printf("%s: identical\n", t->name);
    }
    off += t->nbytes;
  }
  free(ref);
  free(out);
  return bad ? fail("the outputs differ") : 0;
}

int main(int argc, char **argv) {
  const kiln_artifact_metadata *m = model_metadata();
  if (m->abi_version != KILN_ARTIFACT_ABI_VERSION || m->struct_size != sizeof *m)
    return fail("ABI version or metadata size");
  if (m->n_inputs != model_NUM_INPUTS || m->n_outputs != model_NUM_OUTPUTS ||
      m->workspace_size != model_WORKSPACE_SIZE || m->weights_size != model_WEIGHTS_SIZE)
    return fail("the metadata and the header differ");
  if (argc >= 3 && !strcmp(argv[1], "run")) return cmd_run(m, argc, argv);
  if (argc == 4 && !strcmp(argv[1], "compare")) return cmd_compare(m, argv[2], argv[3]);
  return fail("usage: cross_main run OUT [IN.npy ...] [--weights W] | compare REF OUT");
}

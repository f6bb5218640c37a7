/* Deployment test: a plain C program that uses a kiln artifact through its
 * generated header only (no kiln headers or libraries), as docs/deploy.md
 * describes. Built against examples/mlp.kir compiled as a .so, .a or .o,
 * with embedded weights or a NAME.weights file.
 *
 *   mlp_main gen X.npy                   writes a deterministic input
 *   mlp_main check X.npy REF.npy [W]     runs the model and compares with
 *                                        the interpreter's output REF (W: the
 *                                        weights file, if not embedded)
 *
 * Checks: the metadata, the typed entry against the reference, the packed
 * entry with a caller workspace (bit-identical), a misaligned workspace is
 * refused, and concurrent calls from several threads agree. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#define N_IN      33
#define N_OUT     10
#define N_THREADS 4

static int fail(const char *msg) {
  fprintf(stderr, "mlp_main: FAIL: %s\n", msg);
  return 1;
}

/* A float32 .npy of shape [1, n]. */
static int write_npy(const char *path, const float *v, int n) {
  char hdr[128];
  int len =
      snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, %d), }", n);
  while ((10 + len + 1) % 64) hdr[len++] = ' ';
  hdr[len++] = '\n';
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  unsigned char pre[10] = {
      0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 255), (unsigned char)(len >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(hdr, 1, (size_t)len, f);
  fwrite(v, sizeof(float), (size_t)n, f);
  return fclose(f);
}

/* Reads n little-endian float32 values after a version-1 .npy header. */
static int read_npy(const char *path, float *v, int n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char pre[10];
  int ok = fread(pre, 1, 10, f) == 10 && pre[0] == 0x93 && pre[6] == 1;
  if (ok) ok = fseek(f, 10 + pre[8] + 256 * pre[9], SEEK_SET) == 0;
  if (ok) ok = fread(v, sizeof(float), (size_t)n, f) == (size_t)n;
  fclose(f);
  return ok ? 0 : -1;
}

typedef struct {
  const float *x;
  float y[N_OUT];
  int rc;
} job;

static void *worker(void *p) {
  job *j = p;
  for (int r = 0; r < 50 && !j->rc; r++) j->rc = mlp_run(j->x, j->y);
  return NULL;
}

int main(int argc, char **argv) {
  float x[N_IN], y[N_OUT], ref[N_OUT];
  if (argc == 3 && !strcmp(argv[1], "gen")) {
    for (int i = 0; i < N_IN; i++) x[i] = (float)sin(0.7 * i + 0.3);
    return write_npy(argv[2], x, N_IN) ? fail("cannot write the input") : 0;
  }
  if (argc < 4 || strcmp(argv[1], "check")) return fail("usage: mlp_main gen X | check X REF [W]");
  if (read_npy(argv[2], x, N_IN) || read_npy(argv[3], ref, N_OUT))
    return fail("cannot read .npy files");

  const kiln_artifact_metadata *m = mlp_metadata();
  if (m->abi_version != KILN_ARTIFACT_ABI_VERSION || m->struct_size != sizeof *m)
    return fail("ABI version or metadata size");
  if (strcmp(m->name, "mlp") || m->n_inputs != 1 || m->n_outputs != 1)
    return fail("metadata names/counts");
  if (strcmp(m->inputs[0].name, "x") || m->inputs[0].dtype != KILN_ARTIFACT_F32 ||
      m->inputs[0].rank != 2 || m->inputs[0].dims[1] != N_IN || m->inputs[0].nbytes != 4 * N_IN)
    return fail("input metadata");
  if (strcmp(m->outputs[0].name, "y") || m->outputs[0].dims[1] != N_OUT)
    return fail("output metadata");
  if (m->workspace_size != mlp_WORKSPACE_SIZE || m->weights_size != mlp_WEIGHTS_SIZE)
    return fail("sizes in metadata and header differ");

#if mlp_WEIGHTS_IN_FILE
  if (mlp_run(x, y) != KILN_ARTIFACT_E_NO_WEIGHTS) return fail("ran without weights");
  if (argc < 5) return fail("no weights file given");
  FILE *wf = fopen(argv[4], "rb");
  if (!wf) return fail("cannot open the weights");
  fseek(wf, 0, SEEK_END);
  long wsize = ftell(wf);
  fseek(wf, 0, SEEK_SET);
  void *image = aligned_alloc(KILN_ARTIFACT_ALIGN, ((size_t)wsize + 63) / 64 * 64);
  if (!image || fread(image, 1, (size_t)wsize, wf) != (size_t)wsize)
    return fail("cannot read the weights");
  fclose(wf);
  ((unsigned char *)image)[100] ^= 1; /* a damaged image is refused */
  if (mlp_set_weights(image, (uint64_t)wsize) != KILN_ARTIFACT_E_WEIGHTS)
    return fail("damaged weights accepted");
  ((unsigned char *)image)[100] ^= 1;
  if (mlp_set_weights(image, (uint64_t)wsize) != 0) return fail("mlp_set_weights");
#endif

  if (mlp_run(x, y)) return fail("mlp_run");
  for (int i = 0; i < N_OUT; i++)
    if (!(fabsf(y[i] - ref[i]) <= 1e-5f + 1e-5f * fabsf(ref[i]))) {
      fprintf(stderr, "y[%d] = %.9g, the interpreter gives %.9g\n", i, y[i], ref[i]);
      return fail("result differs from the interpreter");
    }

  /* packed entry with a caller workspace: bit-identical */
  float y2[N_OUT];
  void *ws = aligned_alloc(KILN_ARTIFACT_ALIGN, mlp_WORKSPACE_SIZE + KILN_ARTIFACT_ALIGN);
  void *ins[1] = {x}, *outs[1] = {y2};
  if (mlp_run_packed(ins, outs, ws)) return fail("mlp_run_packed");
  if (memcmp(y, y2, sizeof y)) return fail("packed entry differs");
  if (mlp_WORKSPACE_SIZE > 0 && mlp_run_packed(ins, outs, (char *)ws + 4) != KILN_ARTIFACT_E_ALIGN)
    return fail("misaligned workspace accepted");
  free(ws);

  /* concurrent calls, each with its own per-call workspace */
  job jobs[N_THREADS];
  pthread_t th[N_THREADS];
  for (int t = 0; t < N_THREADS; t++) {
    jobs[t].x = x;
    jobs[t].rc = 0;
    if (pthread_create(&th[t], NULL, worker, &jobs[t])) return fail("pthread_create");
  }
  for (int t = 0; t < N_THREADS; t++) {
    pthread_join(th[t], NULL);
    if (jobs[t].rc || memcmp(jobs[t].y, y, sizeof y)) return fail("concurrent calls differ");
  }
  printf("mlp_main: OK (%s, %s weights)\n", m->target_triple,
         m->weights_mode == KILN_ARTIFACT_WEIGHTS_FILE ? "file" : "embedded");
  return 0;
}

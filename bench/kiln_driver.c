/* kiln_driver: runs a compiled kiln artifact (.so) the way a deployed program would, for the
 * benchmark harness (bench/run.py). It needs only libc and the artifact's ABI
 * (include/kiln_artifact.h, docs/abi.md): no kiln library, no LLVM, so its peak RSS is the
 * artifact's own cost plus a C program's.
 *
 *   kiln_driver ARTIFACT.so [--name NAME] [--input FILE.npy]... [--seed N]
 *               [--output-dir DIR] [--warmup N] [--iters N] [--threads N]
 *
 * Inputs come from .npy files in entry order (dtype and shape must match the metadata);
 * inputs without a file get deterministic random data (floats uniform in [-1, 1)).
 * It calls NAME_run_packed with a caller-owned workspace (allocated once), --warmup times
 * untimed, then --iters times timed, and prints
 *
 *   iters: N  min_ms: A  median_ms: B  max_ms: C      (when --iters > 0)
 *   threads: T                                        (the count in effect, see below)
 *   rss_before_load_kb: R0                            (resident set before dlopen)
 *   peak_rss_kb: R                                    (getrusage ru_maxrss at exit)
 *
 * With --output-dir DIR, each output is written as DIR/output_K.npy (K in entry order).
 * --threads N (N >= 1) calls NAME_set_threads(N) before the first run (docs/abi.md); without it
 * the artifact keeps its default ($KILN_NUM_THREADS, else the online CPUs). T is what
 * NAME_set_threads returns (1 for an artifact without it).
 * Build: cc -O2 -std=c11 -Iinclude bench/kiln_driver.c -o kiln_driver -ldl
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kiln_artifact.h"

typedef int (*run_packed_fn)(void *const *, void *const *, void *);
typedef const kiln_artifact_metadata *(*metadata_fn)(void);
typedef int (*set_threads_fn)(int);

static void die(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "kiln_driver: ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(1);
}

static const char *npy_descr(int32_t dtype) {
  switch (dtype) {
  case KILN_ARTIFACT_F32: return "<f4";
  case KILN_ARTIFACT_F64: return "<f8";
  case KILN_ARTIFACT_I64: return "<i8";
  case KILN_ARTIFACT_I32: return "<i4";
  case KILN_ARTIFACT_I16: return "<i2";
  case KILN_ARTIFACT_I8: return "|i1";
  case KILN_ARTIFACT_U8: return "|u1";
  case KILN_ARTIFACT_BOOL: return "|b1";
  default: return NULL;
  }
}

/* Reads FILE (a C-order .npy of version 1-3) into buf, which holds t->nbytes; checks the
 * dtype and the element count against the tensor t. */
static void read_npy(const char *file, const kiln_artifact_tensor *t, void *buf) {
  FILE *f = fopen(file, "rb");
  if (!f) die("%s: %s", file, strerror(errno));
  unsigned char magic[10];
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "\x93NUMPY", 6)) die("%s: not a .npy file%s", file, "");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char l[2];
    if (fread(l, 1, 2, f) != 2) die("%s: truncated%s", file, "");
    hlen = l[0] | (uint32_t)l[1] << 8;
  } else {
    unsigned char l[4];
    if (fread(l, 1, 4, f) != 4) die("%s: truncated%s", file, "");
    hlen = l[0] | (uint32_t)l[1] << 8 | (uint32_t)l[2] << 16 | (uint32_t)l[3] << 24;
  }
  char *h = calloc(1, hlen + 1);
  if (!h || fread(h, 1, hlen, f) != hlen) die("%s: truncated header%s", file, "");
  const char *want = npy_descr(t->dtype);
  char pat[32];
  snprintf(pat, sizeof pat, "'%s'", want ? want : "?");
  if (!want || !strstr(h, pat)) die("%s: dtype differs from the artifact's input '%s'", file, t->name);
  if (strstr(h, "'fortran_order': True")) die("%s: Fortran order is not supported%s", file, "");
  const char *s = strstr(h, "'shape':");
  if (!s || !(s = strchr(s, '('))) die("%s: no shape in the header%s", file, "");
  uint64_t n = 1;
  for (s++; *s && *s != ')';) {
    char *end;
    unsigned long long d = strtoull(s, &end, 10);
    if (end == s) {
      s++;
      continue;
    }
    n *= d;
    s = end;
  }
  uint64_t elem = 1;
  for (int i = 0; i < t->rank; i++) elem *= (uint64_t)t->dims[i];
  if (n != elem) die("%s: element count differs from the artifact's input '%s'", file, t->name);
  if (fread(buf, 1, t->nbytes, f) != t->nbytes) die("%s: truncated data%s", file, "");
  free(h);
  fclose(f);
}

static void write_npy(const char *file, const kiln_artifact_tensor *t, const void *buf) {
  const char *descr = npy_descr(t->dtype);
  if (!descr) die("%s: cannot write this dtype as .npy%s", file, "");
  char shape[256] = "";
  size_t k = 0;
  for (int i = 0; i < t->rank; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, "%lld,%s", (long long)t->dims[i],
                          i + 1 < t->rank ? " " : "");
  if (t->rank > 1) shape[k - 1] = '\0'; /* (a, b) but (a,) */
  char h[512];
  int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
  int total = 10 + n + 1, pad = (64 - total % 64) % 64;
  FILE *f = fopen(file, "wb");
  if (!f) die("%s: %s", file, strerror(errno));
  uint16_t hl = (uint16_t)(n + pad + 1);
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                           (unsigned char)(hl >> 8)};
  fwrite(pre, 1, 10, f);
  fwrite(h, 1, (size_t)n, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  if (fwrite(buf, 1, t->nbytes, f) != t->nbytes || fclose(f)) die("%s: write failed%s", file, "");
}

static void fill_random(const kiln_artifact_tensor *t, void *buf, uint64_t *state) {
  uint64_t elem = 1;
  for (int i = 0; i < t->rank; i++) elem *= (uint64_t)t->dims[i];
  for (uint64_t i = 0; i < elem; i++) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t r = (uint32_t)(*state >> 40); /* 24 bits */
    double u = r / 16777216.0 * 2.0 - 1.0;
    switch (t->dtype) {
    case KILN_ARTIFACT_F32: ((float *)buf)[i] = (float)u; break;
    case KILN_ARTIFACT_F64: ((double *)buf)[i] = u; break;
    case KILN_ARTIFACT_I64: ((int64_t *)buf)[i] = r & 3; break;
    case KILN_ARTIFACT_I32: ((int32_t *)buf)[i] = r & 3; break;
    case KILN_ARTIFACT_BOOL:
    case KILN_ARTIFACT_U8: ((uint8_t *)buf)[i] = r & 1; break;
    default: memset(buf, 0, t->nbytes); return;
    }
  }
}

static long rss_now_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
  fclose(f);
  return rss < 0 ? -1 : rss * 4; /* 4 KiB pages on the machines this runs on */
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static long parse_count(const char *flag, const char *v) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (*end || end == v || errno || n < 0) die("%s: bad count '%s'", flag, v);
  return n;
}

int main(int argc, char **argv) {
  const char *artifact = NULL, *name = NULL, *out_dir = NULL;
  const char *inputs[64];
  int n_in_files = 0;
  long warmup = 0, iters = 0, threads = 0;
  uint64_t seed = 0;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      puts("usage: kiln_driver ARTIFACT.so [--name NAME] [--input FILE.npy]... [--seed N]\n"
           "                   [--output-dir DIR] [--warmup N] [--iters N] [--threads N]");
      return 0;
    }
    int takes = !strcmp(s, "--name") || !strcmp(s, "--input") || !strcmp(s, "--seed") ||
                !strcmp(s, "--output-dir") || !strcmp(s, "--warmup") || !strcmp(s, "--iters") ||
                !strcmp(s, "--threads");
    if (takes && !v) die("%s needs a value%s", s, "");
    if (!strcmp(s, "--name")) name = v;
    else if (!strcmp(s, "--input")) {
      if (n_in_files == 64) die("too many --input flags%s%s", "", "");
      inputs[n_in_files++] = v;
    } else if (!strcmp(s, "--seed")) seed = (uint64_t)parse_count(s, v);
    else if (!strcmp(s, "--output-dir")) out_dir = v;
    else if (!strcmp(s, "--warmup")) warmup = parse_count(s, v);
    else if (!strcmp(s, "--iters")) iters = parse_count(s, v);
    else if (!strcmp(s, "--threads")) {
      threads = parse_count(s, v);
      if (threads < 1 || threads > 1024) die("%s: bad count '%s'", s, v);
    }
    else if (s[0] == '-') die("unknown option '%s'%s", s, "");
    else if (artifact) die("unexpected argument '%s'%s", s, "");
    else artifact = s;
    if (takes) i++;
  }
  if (!artifact) die("usage: kiln_driver ARTIFACT.so [options] (see --help)%s%s", "", "");

  char derived[256];
  if (!name) { /* the artifact's file name without directory, extension and a 'lib' prefix */
    const char *b = strrchr(artifact, '/');
    b = b ? b + 1 : artifact;
    if (!strncmp(b, "lib", 3)) b += 3;
    snprintf(derived, sizeof derived, "%s", b);
    char *dot = strchr(derived, '.');
    if (dot) *dot = '\0';
    name = derived;
  }
  long rss_before = rss_now_kb();
  char path[4096];
  snprintf(path, sizeof path, "%s%s", strchr(artifact, '/') ? "" : "./", artifact);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) die("%s%s", dlerror(), "");
  char sym[300];
  snprintf(sym, sizeof sym, "%s_metadata", name);
  metadata_fn md_fn = (metadata_fn)(uintptr_t)dlsym(h, sym);
  snprintf(sym, sizeof sym, "%s_run_packed", name);
  run_packed_fn run = (run_packed_fn)(uintptr_t)dlsym(h, sym);
  if (!md_fn || !run) die("%s: no %s_metadata/_run_packed entry (use --name)", artifact, name);
  const kiln_artifact_metadata *md = md_fn();
  if (md->abi_version != KILN_ARTIFACT_ABI_VERSION) die("%s: artifact ABI version differs%s", artifact, "");
  if (md->weights_mode != KILN_ARTIFACT_WEIGHTS_EMBEDDED)
    die("%s: weights in a side file are not supported here (compile with --weights=embed)%s", artifact, "");
  if (n_in_files > md->n_inputs) die("%s: more --input files than inputs%s", artifact, "");
  snprintf(sym, sizeof sym, "%s_set_threads", name);
  set_threads_fn set_threads = (set_threads_fn)(uintptr_t)dlsym(h, sym);
  int threads_in_effect = set_threads ? set_threads(threads > 0 ? (int)threads : 0) : 1;

  void **ins = calloc((size_t)md->n_inputs + 1, sizeof *ins);
  void **outs = calloc((size_t)md->n_outputs + 1, sizeof *outs);
  uint64_t state = seed * 2654435761ull + 1;
  for (int i = 0; i < md->n_inputs; i++) {
    ins[i] = aligned_alloc(KILN_ARTIFACT_ALIGN, (md->inputs[i].nbytes + 63) / 64 * 64 + 64);
    if (!ins[i]) die("out of memory%s%s", "", "");
    if (i < n_in_files) read_npy(inputs[i], &md->inputs[i], ins[i]);
    else fill_random(&md->inputs[i], ins[i], &state);
  }
  for (int i = 0; i < md->n_outputs; i++) {
    outs[i] = aligned_alloc(KILN_ARTIFACT_ALIGN, (md->outputs[i].nbytes + 63) / 64 * 64 + 64);
    if (!outs[i]) die("out of memory%s%s", "", "");
  }
  void *ws = NULL;
  if (md->workspace_size) {
    ws = aligned_alloc(KILN_ARTIFACT_ALIGN, (md->workspace_size + 63) / 64 * 64);
    if (!ws) die("out of memory for the workspace%s%s", "", "");
  }
  char code[32];
  for (long i = 0; i < warmup; i++) {
    int rc = run(ins, outs, ws);
    if (rc) snprintf(code, sizeof code, "%d", rc), die("run failed with status %s%s", code, "");
  }
  double *t = calloc((size_t)iters + 1, sizeof *t);
  for (long i = 0; i < iters; i++) {
    double t0 = now_ms();
    int rc = run(ins, outs, ws);
    t[i] = now_ms() - t0;
    if (rc) snprintf(code, sizeof code, "%d", rc), die("run failed with status %s%s", code, "");
  }
  if (warmup == 0 && iters == 0) {
    int rc = run(ins, outs, ws);
    if (rc) snprintf(code, sizeof code, "%d", rc), die("run failed with status %s%s", code, "");
  }
  if (iters > 0) {
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    printf("iters: %ld  min_ms: %.4f  median_ms: %.4f  max_ms: %.4f\n", iters, t[0], med,
           t[iters - 1]);
  }
  if (out_dir) {
    for (int i = 0; i < md->n_outputs; i++) {
      snprintf(path, sizeof path, "%s/output_%d.npy", out_dir, i);
      write_npy(path, &md->outputs[i], outs[i]);
    }
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("threads: %d\n", threads_in_effect);
  printf("workspace_bytes: %llu\n", (unsigned long long)md->workspace_size);
  printf("weights_bytes: %llu\n", (unsigned long long)md->weights_size);
  printf("rss_before_load_kb: %ld\n", rss_before);
  printf("peak_rss_kb: %ld\n", ru.ru_maxrss);
  return 0;
}

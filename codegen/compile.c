/* cg_compile: the code-generation driver. Emits the module, optimises it,
 * emits code and writes the artifact files, timing each phase for
 * --time-passes. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/cg_internal.h"

void cg_options_init(cg_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
}

uint64_t cg_fnv1a64(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

unsigned char *cg_weights_image(const cg_artifact *a, size_t *len) {
  size_t n = KILN_ARTIFACT_WEIGHTS_HEADER + (size_t)a->weights_size;
  unsigned char *img = kiln_xcalloc(n, 1);
  kiln_artifact_weights_header h;
  _Static_assert(sizeof h == KILN_ARTIFACT_WEIGHTS_HEADER, "weights header is 64 bytes");
  memset(&h, 0, sizeof h);
  memcpy(h.magic, "KILNWGT1", 8);
  h.abi_version = KILN_ARTIFACT_ABI_VERSION;
  h.header_size = KILN_ARTIFACT_WEIGHTS_HEADER;
  h.data_size = (uint64_t)a->weights_size;
  h.checksum = a->checksum;
  memcpy(img, &h, sizeof h); /* the compiler is little-endian, like the targets (cgl_init) */
  if (a->weights_size) memcpy(img + sizeof h, a->weights, (size_t)a->weights_size);
  *len = n;
  return img;
}

/* ---- names and paths --------------------------------------------------------------------- */

static int valid_ident(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return 0;
  return 1;
}

int cg_artifact_name(const cg_options *o, char *buf, size_t n, kiln_diag *d) {
  if (o->name) {
    if (!valid_ident(o->name) || strlen(o->name) >= CG_MAX_NAME || strlen(o->name) >= n)
      return kiln_diag_error(d, KILN_E_USAGE,
                             "--name '%s' must be a C identifier of at most %d characters", o->name,
                             CG_MAX_NAME - 1);
    snprintf(buf, n, "%s", o->name);
    return KILN_OK;
  }
  const char *base = o->out ? strrchr(o->out, '/') : NULL;
  base = base ? base + 1 : o->out ? o->out : "model";
  char stem[CG_MAX_NAME];
  snprintf(stem, sizeof stem, "%s", base);
  char *dot = strchr(stem, '.');
  if (dot) *dot = 0;
  /* libmlp.a / libmlp.so name the model mlp */
  const char *s = stem;
  if ((o->emit == CG_EMIT_LIB || o->emit == CG_EMIT_SO) && !strncmp(s, "lib", 3) && s[3]) s += 3;
  cg_c_ident(*s ? s : "model", buf, n < CG_MAX_NAME ? n : CG_MAX_NAME);
  return KILN_OK;
}

/* dir(out) + "/" + file into buf. */
static int sibling_path(const char *out, const char *file, char *buf, size_t n, kiln_diag *d) {
  const char *slash = strrchr(out, '/');
  int w = slash ? snprintf(buf, n, "%.*s/%s", (int)(slash - out), out, file)
                : snprintf(buf, n, "%s", file);
  if (w < 0 || (size_t)w >= n) return kiln_diag_error(d, KILN_E_USAGE, "%s: path too long", out);
  return KILN_OK;
}

/* ---- timing ------------------------------------------------------------------------------ */

enum { PH_EMIT, PH_VERIFY, PH_OPT, PH_CODE, PH_LINK, PH_FILES, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"emit LLVM IR",      "verify LLVM IR",
                                                  "LLVM optimisation", "object emission",
                                                  "linking",           "write files"};

/* Reports the start of phase ph to the progress callback, if any. */
static void phase_start(const cg_options *o, int ph) {
  if (o->progress) o->progress(o->progress_user, ph, PH_COUNT, phase_names[ph]);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void print_timing(FILE *f, const double *ms) {
  double total = 0;
  for (int i = 0; i < PH_COUNT; i++) total += ms[i];
  fprintf(f, "===-------------------------------------------------===\n");
  fprintf(f, "  kiln code generation timing\n");
  fprintf(f, "===-------------------------------------------------===\n");
  fprintf(f, "  %-3s %-18s %10s %7s\n", "#", "phase", "wall ms", "%");
  for (int i = 0; i < PH_COUNT; i++)
    fprintf(f, "  %02d  %-18s %10.3f %6.1f%%\n", i + 1, phase_names[i], ms[i],
            total > 0 ? 100.0 * ms[i] / total : 0.0);
  fprintf(f, "      %-18s %10.3f %6.1f%%\n", "total", total, 100.0);
  fflush(f);
}

/* ---- the driver -------------------------------------------------------------------------- */

int cg_compile(const ir_graph *g, const cg_options *o, kiln_diag *d) {
  if (!o->out || !*o->out) return kiln_diag_error(d, KILN_E_USAGE, "no output file given");
  if (o->opt_level < 0 || o->opt_level > 3)
    return kiln_diag_error(d, KILN_E_USAGE, "optimisation level %d is not 0..3", o->opt_level);
  char name[CG_MAX_NAME];
  int rc = cg_artifact_name(o, name, sizeof name, d);
  if (rc) return rc;
  double ms[PH_COUNT] = {0}, t0 = now_ms();
  cgl L;
  cgl_target t = {
      .triple = o->triple, .cpu = o->cpu, .features = o->features, .opt_level = o->opt_level};
  if ((rc = cgl_init(&L, name, &t, d))) return rc;
  phase_start(o, PH_EMIT);
  cg_artifact a;
  rc = cg_cpu_emit(g, &L, o->weights, name, &a, d);
  ms[PH_EMIT] = now_ms() - t0;
  t0 = now_ms();
  phase_start(o, PH_VERIFY);
  if (!rc) rc = cgl_verify(&L, d);
  ms[PH_VERIFY] = now_ms() - t0;
  char *code = NULL;
  size_t code_len = 0;
  if (!rc && o->emit != CG_EMIT_HEADER) {
    t0 = now_ms();
    phase_start(o, PH_OPT);
    rc = cgl_optimize(&L, d);
    ms[PH_OPT] = now_ms() - t0;
    t0 = now_ms();
    if (!rc) phase_start(o, PH_CODE);
    cgl_output kind = o->emit == CG_EMIT_ASM    ? CGL_ASSEMBLY
                      : o->emit == CG_EMIT_LLVM ? CGL_IR_TEXT
                                                : CGL_OBJECT;
    if (!rc) rc = cgl_emit(&L, kind, &code, &code_len, d);
    ms[PH_CODE] = now_ms() - t0;
  }
  t0 = now_ms();
  if (!rc) {
    switch (o->emit) {
    case CG_EMIT_SO: {
      const char *cc = o->cc ? o->cc : getenv("KILN_CC");
      if (!cc || !*cc) cc = "cc";
      phase_start(o, PH_LINK);
      rc = cg_link_shared(cc, code, code_len, o->out, d);
      ms[PH_LINK] = now_ms() - t0;
      t0 = now_ms();
      break;
    }
    case CG_EMIT_LIB: {
      int n_syms;
      size_t syms_len;
      char *syms = cgl_defined_symbols(&L, &n_syms, &syms_len);
      char member[16];
      size_t nl = strlen(name);
      if (nl + 2 <= 15) {
        memcpy(member, name, nl);
        memcpy(member + nl, ".o", 3);
      } else {
        memcpy(member, "model.o", 8);
      }
      rc = cg_write_archive(o->out, member, code, code_len, syms, n_syms, d);
      free(syms);
      break;
    }
    case CG_EMIT_HEADER: {
      char *h = cg_header_text(g, &a, L.triple, L.cpu);
      rc = cg_write_file(o->out, h, strlen(h), d);
      free(h);
      break;
    }
    default: rc = cg_write_file(o->out, code, code_len, d); break;
    }
  }
  if (!rc) phase_start(o, PH_FILES);
  if (!rc && !o->no_header &&
      (o->emit == CG_EMIT_SO || o->emit == CG_EMIT_OBJ || o->emit == CG_EMIT_LIB)) {
    char file[CG_MAX_NAME + 8], path[4096];
    snprintf(file, sizeof file, "%s.h", name);
    rc = sibling_path(o->out, file, path, sizeof path, d);
    if (!rc) {
      char *h = cg_header_text(g, &a, L.triple, L.cpu);
      rc = cg_write_file(path, h, strlen(h), d);
      free(h);
    }
  }
  if (!rc && o->weights == CG_WEIGHTS_FILE && o->emit != CG_EMIT_HEADER) {
    char file[CG_MAX_NAME + 16], path[4096];
    snprintf(file, sizeof file, "%s.weights", name);
    rc = sibling_path(o->out, file, path, sizeof path, d);
    if (!rc) {
      size_t n;
      unsigned char *img = cg_weights_image(&a, &n);
      rc = cg_write_file(path, img, n, d);
      free(img);
    }
  }
  ms[PH_FILES] = now_ms() - t0;
  free(code);
  cg_artifact_free(&a);
  cgl_dispose(&L);
  if (o->time_passes) print_timing(o->report ? o->report : stderr, ms);
  return rc;
}

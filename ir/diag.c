/* Error reporting and checked allocation (see diag.h). */
#include "diag.h"

#include <stdlib.h>
#include <string.h>

const char *kiln_status_name(int status) {
  switch (status) {
  case KILN_OK: return "ok";
  case KILN_E_USAGE: return "usage error";
  case KILN_E_PARSE: return "parse error";
  case KILN_E_INVALID: return "invalid model";
  case KILN_E_UNSUPPORTED: return "unsupported";
  case KILN_E_IO: return "i/o error";
  case KILN_E_NOMEM: return "out of memory or over a size limit";
  case KILN_E_RUNTIME: return "runtime error";
  case KILN_E_MISMATCH: return "mismatch";
  case KILN_E_INTERNAL: return "internal error";
  default: return "error";
  }
}

void kiln_diag_init(kiln_diag *d) { memset(d, 0, sizeof *d); }

void kiln_diag_clear(kiln_diag *d) {
  if (!d) return;
  d->status = KILN_OK;
  d->msg[0] = 0;
}

int kiln_diag_verror(kiln_diag *d, int code, const char *fmt, va_list ap) {
  KILN_ASSERT(code != KILN_OK);
  if (!d) return code;
  if (d->status != KILN_OK) return code; /* keep the first error */
  d->status = code;
  vsnprintf(d->msg, sizeof d->msg, fmt, ap);
  return code;
}

int kiln_diag_error(kiln_diag *d, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kiln_diag_verror(d, code, fmt, ap);
  va_end(ap);
  return code;
}

void kiln_diag_prefix(kiln_diag *d, const char *fmt, ...) {
  if (!d || d->status == KILN_OK) return;
  char pre[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  size_t lp = strlen(pre), lm = strlen(d->msg);
  if (lp + lm + 1 > sizeof d->msg) lm = sizeof d->msg - 1 - lp;
  memmove(d->msg + lp, d->msg, lm);
  memcpy(d->msg, pre, lp);
  d->msg[lp + lm] = 0;
}

void kiln_diag_warn(kiln_diag *d, const char *fmt, ...) {
  FILE *f = (d && d->warn) ? d->warn : stderr;
  va_list ap;
  va_start(ap, fmt);
  fputs("warning: ", f);
  vfprintf(f, fmt, ap);
  fputc('\n', f);
  va_end(ap);
  if (d) d->n_warnings++;
}

void kiln_assert_fail(const char *file, int line, const char *cond) {
  fprintf(stderr, "kiln: internal error at %s:%d: assertion '%s' failed\n", file, line, cond);
  fflush(stderr);
  abort();
}

static void oom(size_t n) {
  fprintf(stderr, "kiln: out of memory allocating %zu bytes\n", n);
  abort();
}

void *kiln_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}
void *kiln_xcalloc(size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) oom(n * sz);
  return p;
}
void *kiln_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}
char *kiln_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = kiln_xmalloc(n);
  memcpy(p, s, n);
  return p;
}

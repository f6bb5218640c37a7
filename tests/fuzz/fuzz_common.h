/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): how a target reports a
 * broken contract, and the directory that relative file references
 * (.kir file(...), ONNX external data) resolve in.
 *
 * A target's contract with libFuzzer: LLVMFuzzerTestOneInput returns 0 for
 * every input, however hostile. A rejected input must come with a diag error
 * (a status and a message); a violated property (a round trip that does not
 * reproduce, a verifier failure after inference) calls fuzz_fail, which
 * prints the reason and aborts so that libFuzzer (or the replay driver)
 * records the input as a crash. Sanitizer reports, leaks, timeouts and
 * out-of-memory are reported by libFuzzer itself.
 */
#ifndef KILN_FUZZ_COMMON_H
#define KILN_FUZZ_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* tests/fuzz/data: small side files the corpus refers to (set by CMake). */
#ifndef KILN_FUZZ_DATA_DIR
#define KILN_FUZZ_DATA_DIR "tests/fuzz/data"
#endif

static inline const char *fuzz_data_dir(void) {
  const char *e = getenv("KILN_FUZZ_DATA_DIR");
  return e && *e ? e : KILN_FUZZ_DATA_DIR;
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void fuzz_fail(const char *fmt,
                                                                              ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fuzz: property violated: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  abort();
}

/* A rejection must carry a status and a message. With KILN_FUZZ_VERBOSE
 * set in the environment the message is printed (to triage a corpus). */
static inline void fuzz_check_error(const kiln_diag *d, const char *what) {
  if (d->status == KILN_OK || !d->msg[0])
    fuzz_fail("%s failed without a diagnostic (status %d)", what, d->status);
  if (getenv("KILN_FUZZ_VERBOSE")) fprintf(stderr, "fuzz: %s: %s\n", what, d->msg);
}

/* Notes a stage reached, with KILN_FUZZ_VERBOSE set. */
static inline void fuzz_note(const char *what) {
  if (getenv("KILN_FUZZ_VERBOSE")) fprintf(stderr, "fuzz: %s\n", what);
}

#endif

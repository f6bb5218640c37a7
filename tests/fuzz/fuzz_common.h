/* Shared by the fuzz targets (tests/fuzz/fuzz_*.c): how a target reports a
 * broken contract, the directory that relative file references (.kir
 * file(...), ONNX external data) resolve in, and the properties that every
 * graph a parser accepts must have (printer round trip, shape inference).
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
#include <string.h>

#include "frontend/kir.h"
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

/* The printer's contract (ir/printer.c): print(g) parses again, and
 * printing that graph reproduces the text byte for byte. `stage` names the
 * point of the target's check in a failure. */
static inline void fuzz_check_round_trip(const ir_graph *g, const char *stage) {
  kiln_diag d;
  kiln_diag_init(&d);
  char *t1 = ir_print_str(g, NULL, &d);
  if (!t1) fuzz_fail("%s: printing failed: %s", stage, d.msg);
  kiln_diag_init(&d);
  ir_graph *g2 = kir_parse_string("printed.kir", t1, strlen(t1), fuzz_data_dir(), &d);
  if (!g2) fuzz_fail("%s: the printed graph does not parse: %s\n--- printed:\n%s", stage, d.msg, t1);
  kiln_diag_init(&d);
  char *t2 = ir_print_str(g2, NULL, &d);
  if (!t2) fuzz_fail("%s: printing the re-parsed graph failed: %s", stage, d.msg);
  if (strcmp(t1, t2) != 0)
    fuzz_fail("%s: print(parse(print(g))) differs from print(g)\n--- first:\n%s\n--- second:\n%s",
              stage, t1, t2);
  free(t1);
  free(t2);
  ir_graph_free(g2);
}

/* Runs shape inference on an accepted graph (every op's infer function and
 * the compile-time evaluation of shape-deciding operands): it either fails
 * with a diagnostic, or the graph still verifies and round-trips through the
 * printer (stage "inferred"). */
static inline void fuzz_check_infer_shapes(ir_graph *g) {
  kiln_diag d;
  kiln_diag_init(&d);
  if (ir_infer_shapes(g, &d) != KILN_OK) {
    fuzz_check_error(&d, "ir_infer_shapes");
    return;
  }
  kiln_diag_init(&d);
  if (ir_verify(g, 0, &d) != KILN_OK)
    fuzz_fail("the graph no longer verifies after shape inference: %s", d.msg);
  fuzz_note("shapes inferred");
  fuzz_check_round_trip(g, "inferred");
}

#endif

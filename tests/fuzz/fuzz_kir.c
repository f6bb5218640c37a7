/* libFuzzer target for the .kir parser (frontend/kir_parser.c).
 *
 * For every input: kir_parse_string either fails with a diagnostic or gives
 * a verified graph. For a graph, the printer's contract (ir/printer.c) must
 * hold: print(g) parses again, and printing that graph reproduces the text
 * byte for byte. Then shape inference runs (every op's infer function, and
 * the compile-time evaluation of shape-deciding operands); when it succeeds
 * the graph must still verify and round-trip through the printer.
 *
 * Relative file(...) references resolve in tests/fuzz/data. The fuzz build
 * sets KIR_MAX_INIT_BYTES small so that initialisers cannot ask for more
 * memory than libFuzzer's limit.
 */
#include <string.h>

#include "frontend/kir.h"
#include "fuzz_common.h"

/* print(g) must parse, and print back to the same text. */
static void check_round_trip(const ir_graph *g, const char *stage) {
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("fuzz.kir", (const char *)data, size, fuzz_data_dir(), &d);
  if (!g) {
    fuzz_check_error(&d, "kir_parse_string");
    return 0;
  }
  check_round_trip(g, "parsed");
  kiln_diag_init(&d);
  if (ir_infer_shapes(g, &d) != KILN_OK) {
    fuzz_check_error(&d, "ir_infer_shapes");
  } else {
    kiln_diag_init(&d);
    if (ir_verify(g, 0, &d) != KILN_OK)
      fuzz_fail("the graph no longer verifies after shape inference: %s", d.msg);
    fuzz_note("shapes inferred");
    check_round_trip(g, "inferred");
  }
  ir_graph_free(g);
  return 0;
}

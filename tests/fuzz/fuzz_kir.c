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
#include "frontend/kir.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("fuzz.kir", (const char *)data, size, fuzz_data_dir(), &d);
  if (!g) {
    fuzz_check_error(&d, "kir_parse_string");
    return 0;
  }
  fuzz_check_round_trip(g, "parsed");
  fuzz_check_infer_shapes(g);
  ir_graph_free(g);
  return 0;
}

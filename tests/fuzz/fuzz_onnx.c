/* libFuzzer target for the ONNX loader (frontend/onnx_loader.c and the op
 * lowering in frontend/onnx_ops.c), through the same code path as onnx_load
 * (onnx_load_buffer only skips reading the file).
 *
 * For every input: the loader either fails with a diagnostic or gives a
 * graph that verifies. Shape inference then runs on it (every op's infer
 * function on the attributes the lowering produced, and compile-time
 * evaluation); when it succeeds the graph must verify again. The loaded
 * graph, and the inferred one, must survive the .kir printer's round trip
 * (the IR dumps of an ONNX model parse back): print, parse, print gives the
 * same text.
 *
 * External data resolves in tests/fuzz/data (a small weights.bin).
 */
#include <string.h>

#include "frontend/kir.h"
#include "frontend/onnx.h"
#include "fuzz_common.h"

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
  ir_graph *g = onnx_load_buffer("fuzz.onnx", data, size, fuzz_data_dir(), NULL, &d);
  if (!g) {
    fuzz_check_error(&d, "onnx_load_buffer");
    return 0;
  }
  kiln_diag_init(&d);
  if (ir_verify(g, 0, &d) != KILN_OK) fuzz_fail("the loaded graph does not verify: %s", d.msg);
  check_round_trip(g, "loaded");
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

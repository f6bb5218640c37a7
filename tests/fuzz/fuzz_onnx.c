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
#include "frontend/kir.h"
#include "frontend/onnx.h"
#include "fuzz_common.h"

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
  fuzz_check_round_trip(g, "loaded");
  fuzz_check_infer_shapes(g);
  ir_graph_free(g);
  return 0;
}

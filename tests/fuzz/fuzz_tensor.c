/* libFuzzer target for lone TensorProto files (onnx_read_tensor, the
 * reader of ONNX test data such as input_0.pb), through
 * onnx_read_tensor_buffer.
 *
 * For every input: the reader either fails with a diagnostic and leaves no
 * data, or gives a tensor whose type passes ir_type_check and whose data
 * holds exactly ir_type_nbytes bytes (every byte is read here, so that
 * AddressSanitizer sees a short buffer). Bool data must be 0 or 1.
 * External data resolves in tests/fuzz/data.
 */
#include <string.h>

#include "frontend/onnx.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor t;
  char *name = NULL;
  if (onnx_read_tensor_buffer("fuzz.pb", data, size, fuzz_data_dir(), &t, &name, &d) !=
      KILN_OK) {
    fuzz_check_error(&d, "onnx_read_tensor_buffer");
    if (t.data || name) fuzz_fail("a failed read left data or a name behind");
    return 0;
  }
  if (!name) fuzz_fail("no name for a tensor that was read");
  kiln_diag_init(&d);
  if (ir_type_check(&t.type, &d, "tensor") != KILN_OK)
    fuzz_fail("the tensor's type is invalid: %s", d.msg);
  int64_t nb = ir_type_nbytes(&t.type);
  if (nb > 0 && !t.data) fuzz_fail("%lld bytes of data, but no buffer", (long long)nb);
  const volatile uint8_t *p = t.data;
  unsigned sum = 0;
  for (int64_t i = 0; i < nb; i++) {
    uint8_t b = p[i];
    if (t.type.dtype == IR_BOOL && b > 1) fuzz_fail("bool element %lld is %u", (long long)i, b);
    sum += b;
  }
  (void)sum;
  ir_tensor_release(&t);
  free(name);
  return 0;
}

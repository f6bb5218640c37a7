/* End-to-end model test: runs tests/models/NAME/model.onnx (exported from
 * PyTorch by gen.py) with kiln on NAME/input_K.npy and compares output K with
 * PyTorch's NAME/output_K.npy within rtol 1e-4, atol 1e-5.
 *
 * usage: kiln_model_test [--compiled] DIR...   (exit 0 when every model matches)
 *
 * The check goes through the same code as `kiln run --onnx-test` and the
 * conformance runner (kiln_model_check): inputs that decide shapes are
 * bound, the default -O2 pipeline runs, then the reference interpreter or,
 * with --compiled, native code from the code generator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diag.h"
#include "kiln.h"
#include "kiln_onnx_test.h"

#define MODEL_RTOL 1e-4
#define MODEL_ATOL 1e-5

/* Reads DIR/PREFIX_0.npy, PREFIX_1.npy, ... while present. */
static int read_npys(const char *dir, const char *prefix, kiln_tensor *ts, int *n, kiln_diag *d) {
  *n = 0;
  for (int k = 0; k < KILN_CHECK_MAX_IO; k++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s_%d.npy", dir, prefix, k);
    if (stat(path, &st) != 0) break;
    int rc = kiln_tensor_read(path, &ts[k], d);
    if (rc) return rc;
    (*n)++;
  }
  if (*n == 0) return kiln_diag_error(d, KILN_E_IO, "%s: no %s_0.npy", dir, prefix);
  return KILN_OK;
}

static int check_model(const char *dir, kiln_exec_mode mode) {
  char model_path[4096];
  snprintf(model_path, sizeof model_path, "%s/model.onnx", dir);
  kiln_tensor *ins = calloc(KILN_CHECK_MAX_IO, sizeof(kiln_tensor));
  kiln_tensor *outs = calloc(KILN_CHECK_MAX_IO, sizeof(kiln_tensor));
  kiln_check_result *r = calloc(1, sizeof *r);
  if (!ins || !outs || !r) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  kiln_diag d;
  kiln_diag_init(&d);
  kiln_model *m = NULL;
  kiln_load_options lo;
  kiln_load_options_init(&lo);
  kiln_check_options o;
  kiln_check_options_init(&o);
  o.rtol = MODEL_RTOL;
  o.atol = MODEL_ATOL;
  o.mode = mode;
  int n_in = 0, n_out = 0;
  int rc = kiln_model_load(model_path, &lo, &m, &d);
  if (!rc) rc = read_npys(dir, "input", ins, &n_in, &d);
  if (!rc) rc = read_npys(dir, "output", outs, &n_out, &d);
  if (!rc || rc == KILN_E_MISMATCH) {
    if (!rc) rc = kiln_model_check(m, n_in, ins, n_out, outs, &o, r, &d);
    printf("%s (%s, rtol %g, atol %g)\n", dir,
           mode == KILN_EXEC_COMPILED ? "compiled" : "interpreter", o.rtol, o.atol);
    kiln_check_result_print(r, stdout);
  }
  if (rc == KILN_OK)
    printf("PASS %s\n", dir);
  else if (rc == KILN_E_MISMATCH)
    printf("FAIL %s\n", dir);
  else
    printf("FAIL %s: %s: %s\n", dir, kiln_status_name(rc), d.msg);
  for (int k = 0; k < KILN_CHECK_MAX_IO; k++) {
    kiln_tensor_free(&ins[k]);
    kiln_tensor_free(&outs[k]);
  }
  free(ins);
  free(outs);
  free(r);
  kiln_model_free(m);
  return rc == KILN_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  kiln_exec_mode mode = KILN_EXEC_INTERPRET;
  int first = 1;
  if (argc > 1 && !strcmp(argv[1], "--compiled")) {
    mode = KILN_EXEC_COMPILED;
    first = 2;
  }
  if (argc <= first) {
    fprintf(stderr, "usage: %s [--compiled] DIR...\n", argv[0]);
    return 2;
  }
  int bad = 0;
  for (int i = first; i < argc; i++) bad += check_model(argv[i], mode);
  return bad ? 1 : 0;
}

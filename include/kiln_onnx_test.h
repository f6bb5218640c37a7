/* Checking kiln against reference outputs: tensor files (.npy or ONNX
 * TensorProto .pb), tensor comparison with tolerances, and ONNX test
 * directories (model.onnx + test_data_set_N/{input,output}_K.pb).
 *
 * Shared by `kiln run --onnx-test`, the conformance runner
 * (tests/conformance) and the end-to-end model tests (tests/models), so that
 * all three apply the same binding, pipeline and comparison rules.
 *
 * Every function that can fail returns a kiln_status and fills a kiln_diag;
 * none exits or aborts on bad input.
 */
#ifndef KILN_ONNX_TEST_H
#define KILN_ONNX_TEST_H

#include <stdint.h>
#include <stdio.h>

#include "kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits -------------------------------------------------------------------- */
#define KILN_CHECK_MAX_IO 256      /* inputs or outputs of one checked model */
#define KILN_CHECK_MAX_DATA_SETS 64 /* test_data_set_N directories of one test */
#define KILN_CHECK_NAME 256        /* bytes of an output name kept in a result */

/* ONNX's defaults (onnx/backend/test/runner): rtol 1e-3, atol 1e-7. */
#define KILN_CHECK_RTOL 1e-3
#define KILN_CHECK_ATOL 1e-7

/* Reads a tensor file: NumPy .npy, or a serialized ONNX TensorProto (.pb).
 * The format is chosen by content (the .npy magic), so the extension does
 * not matter. t->data is malloc'd; free it with kiln_tensor_free. */
int kiln_tensor_read(const char *path, kiln_tensor *t, kiln_diag *d);

/* How a checked model is executed: the reference interpreter (the oracle),
 * or compiled to native code, loaded and run (kiln_model_run_compiled). */
typedef enum {
  KILN_EXEC_INTERPRET = 0,
  KILN_EXEC_COMPILED = 1,
} kiln_exec_mode;

typedef struct {
  double rtol, atol;          /* |got - want| <= atol + rtol * |want| */
  kiln_exec_mode mode;
  kiln_pipeline_options pipe; /* passes run before execution (default -O2) */
  const kiln_compile_options *compile; /* KILN_EXEC_COMPILED; NULL: the defaults */
  FILE *notes;                /* "input 'x' decides a shape; bound" notes; NULL: none */
} kiln_check_options;

/* rtol/atol: ONNX's defaults; mode: interpreter; pipe: -O2; compile, notes:
 * NULL. */
void kiln_check_options_init(kiln_check_options *o);

/* The comparison of one output with its reference. */
typedef struct {
  char name[KILN_CHECK_NAME]; /* output name (truncated to fit) */
  int ok;                     /* within tolerance, same dtype and shape */
  int shape_ok;               /* same dtype and shape (else the numbers are not compared) */
  char why[512];              /* when !shape_ok: "got f32[2,3], want f32[3,2]" */
  kiln_dtype dtype;           /* the reference's type */
  int rank;
  int64_t dims[KILN_MAX_RANK];
  int64_t numel;
  int64_t n_bad;              /* elements outside the tolerance */
  double max_abs;             /* largest |got - want| over finite pairs */
  double max_rel;             /* largest |got - want| / |want| over finite pairs, want != 0 */
} kiln_output_check;

/* Compares got with want. Floats: |got - want| <= atol + rtol * |want|
 * element-wise (NumPy's assert_allclose); NaN matches NaN, an infinity only
 * the same infinity. Integers and bools must be equal (stricter than ONNX,
 * whose float formula would accept an off-by-one in a large integer). The
 * dtype and the shape must be the same. Returns r->ok. */
int kiln_tensor_compare(const kiln_tensor *got, const kiln_tensor *want, double rtol,
                        double atol, kiln_output_check *r);

typedef struct {
  int n_outputs;
  kiln_output_check outputs[KILN_CHECK_MAX_IO]; /* worst over the data sets */
  int n_data_sets;
  int n_bound;                /* inputs bound as constants (they decide shapes) */
} kiln_check_result;

/* Runs a freshly loaded (not yet optimised) model on inputs[i] (one per model
 * input, in the model's input order), and compares output j with
 * expected[j]. Inputs that decide shapes are bound as constants first (see
 * kiln_model_input_decides_shape), then the pipeline runs. The model is
 * changed (bound, optimised); use it once.
 *
 * Returns KILN_OK when every output matches, KILN_E_MISMATCH when the model
 * ran but some output differs (details in r), or the error that stopped it
 * (KILN_E_UNSUPPORTED for ops or dtypes kiln does not handle, ...) with the
 * message in d. r is filled as far as the check got. */
int kiln_model_check(kiln_model *m, int n_inputs, const kiln_tensor *inputs, int n_expected,
                     const kiln_tensor *expected, const kiln_check_options *o,
                     kiln_check_result *r, kiln_diag *d);

/* Runs one ONNX test directory: dir/model.onnx against every
 * dir/test_data_set_N (N = 0, 1, ... while present), whose input_K.pb feed
 * the model's inputs in order and whose output_K.pb are the expected
 * outputs. The model is loaded afresh for each data set (bound inputs may
 * differ between sets). Same return values as kiln_model_check; r holds the
 * worst error per output over all data sets. */
int kiln_onnx_test_run(const char *dir, const kiln_check_options *o, kiln_check_result *r,
                       kiln_diag *d);

/* Prints r as one line per output ("  y: f32[3,4] max_abs=... max_rel=... ok")
 * to f. */
void kiln_check_result_print(const kiln_check_result *r, FILE *f);

#ifdef __cplusplus
}
#endif

#endif

/* Unit tests for the data-movement and shape ops (ir/ops_shape.c): shape
 * inference and reference evaluation, with known values (hand-computed here,
 * or from NumPy / PyTorch in tests/data/ops/shape/, made by gen.py there) and
 * the errors that bad attributes and shapes must give. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define REF "tests/data/ops/shape/"

#define I64S(...) ((const int64_t[]){__VA_ARGS__})
#define NI64(...) ((int)(sizeof(I64S(__VA_ARGS__)) / sizeof(int64_t)))
#define F64S(...) ((const double[]){__VA_ARGS__})
#define NF64(...) ((int)(sizeof(F64S(__VA_ARGS__)) / sizeof(double)))

/* A tensor of dtype dt, shape dims (rank given), values vals (NULL: zeros). */
#define T(dt, rank, dims, vals) th_tensor(dt, rank, dims, vals)
/* A 1-D tensor from a value list. */
#define V(dt, ...) th_tensor(dt, 1, TH_DIMS(NF64(__VA_ARGS__)), F64S(__VA_ARGS__))
/* A scalar. */
#define S(dt, v) th_tensor(dt, 0, NULL, TH_VALS(v))
/* An absent optional input. */
static const ir_tensor ABSENT = {.type = {.rank = -1}};

/* 0, 1, 2, ... in shape dims. */
static ir_tensor iota(ir_dtype dt, int rank, const int64_t *dims) {
  ir_tensor t = th_tensor(dt, rank, dims, NULL);
  for (int64_t i = 0; i < ir_type_numel(&t.type); i++) ir_tensor_set_f(&t, i, (double)i);
  return t;
}

/* One node under test with its (owned) input tensors. */
typedef struct {
  th_case c;
  ir_tensor in[8];
  int n_in;
} tc;

/* n_in input tensors follow (taken over); const_mask: inputs that are
 * constants (needed for operand-given attributes and for eval-time data). */
static tc *mk(const char *op, int n_out, unsigned const_mask, int n_in, ...) {
  tc *t = calloc(1, sizeof *t);
  ck_assert(t && n_in <= 8);
  const ir_tensor *p[8];
  va_list ap;
  va_start(ap, n_in);
  for (int i = 0; i < n_in; i++) {
    t->in[i] = va_arg(ap, ir_tensor);
    p[i] = t->in[i].type.rank < 0 ? NULL : &t->in[i];
  }
  va_end(ap);
  t->n_in = n_in;
  t->c = th_node(op, n_in, p, const_mask, n_out);
  return t;
}

static void tc_free(tc *t) {
  th_free(&t->c);
  for (int i = 0; i < t->n_in; i++) ir_tensor_release(&t->in[i]);
  free(t);
}

#define A_INT(t, name, v) ir_set_int((t)->c.g, (t)->c.node, name, v)
#define A_FLOAT(t, name, v) ir_set_float((t)->c.g, (t)->c.node, name, v)
#define A_STR(t, name, v) ir_set_string((t)->c.g, (t)->c.node, name, v)
#define A_INTS(t, name, ...) \
  ir_set_ints((t)->c.g, (t)->c.node, name, I64S(__VA_ARGS__), NI64(__VA_ARGS__))
#define A_NOINTS(t, name) ir_set_ints((t)->c.g, (t)->c.node, name, NULL, 0)
#define A_FLOATS(t, name, ...) \
  ir_set_floats((t)->c.g, (t)->c.node, name, F64S(__VA_ARGS__), NF64(__VA_ARGS__))

/* Runs the node and compares its outputs with want[0..n) (released), then
 * frees the case. */
static void expect_n(tc *t, int n, ir_tensor *want, double tol, const char *file, int line) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor outs[16];
  ck_assert(n <= 16);
  int rc = th_run(&t->c, outs, &d);
  ck_assert_msg(rc == 0, "%s:%d: run failed: %s", file, line, d.msg);
  for (int j = 0; j < n; j++) {
    th_assert_close_impl(&outs[j], &want[j], tol, tol, file, line);
    ir_tensor_release(&outs[j]);
    ir_tensor_release(&want[j]);
  }
  tc_free(t);
}
#define EXPECT(t, want) expect1(t, want, 0, __FILE__, __LINE__)
#define EXPECT_TOL(t, want, tol) expect1(t, want, tol, __FILE__, __LINE__)
static void expect1(tc *t, ir_tensor want, double tol, const char *file, int line) {
  expect_n(t, 1, &want, tol, file, line);
}

/* Inference only (for ops whose eval lives elsewhere): output 0's type. */
static void expect_type(tc *t, ir_dtype dt, int rank, const int64_t *dims, const char *file,
                        int line) {
  kiln_diag d;
  kiln_diag_init(&d);
  int rc = ir_verify(t->c.g, 0, &d);
  if (!rc) rc = ir_infer_shapes(t->c.g, &d);
  ck_assert_msg(rc == 0, "%s:%d: inference failed: %s", file, line, d.msg);
  const ir_value *v = &t->c.g->values[t->c.g->nodes[t->c.node].out[0]];
  ir_type want = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) want.dims[i] = dims[i];
  char a[256], b[256];
  ck_assert_msg(v->typed && ir_type_equal(&v->type, &want), "%s:%d: got %s, want %s", file, line,
                ir_type_str(&v->type, a, sizeof a), ir_type_str(&want, b, sizeof b));
  tc_free(t);
}
#define EXPECT_TYPE(t, dt, ...) \
  expect_type(t, dt, NI64(__VA_ARGS__), I64S(__VA_ARGS__), __FILE__, __LINE__)
#define EXPECT_TYPE_SCALAR(t, dt) expect_type(t, dt, 0, NULL, __FILE__, __LINE__)

/* The node must fail (inference or evaluation) with a message that names it
 * and contains `sub`; returns the status. */
static int expect_err(tc *t, const char *sub, const char *file, int line) {
  int rc = th_expect_node_error_impl(&t->c, sub, file, line);
  tc_free(t);
  return rc;
}
#define EXPECT_ERR(t, sub) expect_err(t, sub, __FILE__, __LINE__)

/* Evaluates the node directly with output type `ot`, bypassing inference
 * (for ops whose inference is infer_identity, implemented elsewhere). */
static int eval_direct(tc *t, const ir_type *ot, ir_tensor *out, kiln_diag *d) {
  ir_graph *g = t->c.g;
  const ir_node *n = &g->nodes[t->c.node];
  const ir_tensor *in[8];
  for (int i = 0; i < n->n_in; i++) in[i] = n->in[i] < 0 ? NULL : &t->in[i];
  ck_assert(ir_tensor_alloc(out, ot, d) == 0);
  ir_tensor *outs[1] = {out};
  return ir_eval_node(g, n, in, outs, d);
}

/* ---- reshape, flatten, squeeze, unsqueeze (inference; eval is a copy) ----------- */

START_TEST(test_reshape) {
  tc *t = mk("reshape", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "shape", 4, 0, -1); /* 0 copies dim 1 (3), -1 is 24 / 12 */
  EXPECT_TYPE(t, IR_F32, 4, 3, 2);
  /* the shape as a constant input (operand 1) */
  t = mk("reshape", 1, 0x2, 2, T(IR_I64, 3, TH_DIMS(2, 3, 4), NULL), V(IR_I64, -1));
  EXPECT_TYPE(t, IR_I64, 24);
  /* zero-size: 0 copies the zero dim, or with allowzero is a literal 0 */
  t = mk("reshape", 1, 0, 1, T(IR_BOOL, 2, TH_DIMS(0, 3), NULL));
  A_INTS(t, "shape", 0, 4);
  EXPECT_TYPE(t, IR_BOOL, 0, 4);
  t = mk("reshape", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 3), NULL));
  A_INTS(t, "shape", 3, 0);
  A_INT(t, "allowzero", 1);
  EXPECT_ERR(t, "cannot reshape 6 elements");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 2, TH_DIMS(0, 3), NULL));
  A_INTS(t, "shape", 3, 0);
  A_INT(t, "allowzero", 1);
  EXPECT_TYPE(t, IR_F32, 3, 0);
  /* to and from scalars */
  t = mk("reshape", 1, 0, 1, T(IR_F32, 3, TH_DIMS(1, 1, 1), NULL));
  A_NOINTS(t, "shape");
  EXPECT_TYPE_SCALAR(t, IR_F32);
}
END_TEST

START_TEST(test_reshape_errors) {
  tc *t = mk("reshape", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "shape", 5, -1);
  EXPECT_ERR(t, "cannot reshape 24 elements");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "shape", 5, 5);
  EXPECT_ERR(t, "cannot reshape 24 elements");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "shape", -1, 2, -1);
  EXPECT_ERR(t, "more than one -1");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "shape", 2, -2, 12);
  EXPECT_ERR(t, "invalid dim -2");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 2, TH_DIMS(6, 4), NULL));
  A_INTS(t, "shape", 2, 3, 2, 0);
  EXPECT_ERR(t, "input has rank 2");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 2, TH_DIMS(0, 3), NULL));
  A_INTS(t, "shape", 0, -1);
  A_INT(t, "allowzero", 1);
  EXPECT_ERR(t, "cannot be inferred");
  /* products that would overflow int64 */
  t = mk("reshape", 1, 0, 1, T(IR_F32, 1, TH_DIMS(4), NULL));
  A_INTS(t, "shape", INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40, 0);
  A_INT(t, "allowzero", 1);
  EXPECT_ERR(t, "2^40");
  t = mk("reshape", 1, 0, 1, T(IR_F32, 1, TH_DIMS(4), NULL));
  A_INTS(t, "shape", 1, 1, 1, 1, 1, 1, 1, 1, 4);
  EXPECT_ERR(t, "rank limit");
}
END_TEST

START_TEST(test_flatten) {
  tc *t = mk("flatten", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  EXPECT_TYPE(t, IR_F32, 2, 60); /* default axis 1 */
  t = mk("flatten", 1, 0, 1, T(IR_I32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "axis", -1);
  EXPECT_TYPE(t, IR_I32, 24, 5);
  t = mk("flatten", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "axis", 0);
  EXPECT_TYPE(t, IR_F32, 1, 120);
  t = mk("flatten", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "axis", 4);
  EXPECT_TYPE(t, IR_F32, 120, 1);
  t = mk("flatten", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "axis", -4);
  EXPECT_TYPE(t, IR_F32, 1, 120);
  t = mk("flatten", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "axis", 5);
  EXPECT_ERR(t, "out of range");
  t = mk("flatten", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "axis", -5);
  EXPECT_ERR(t, "out of range");
}
END_TEST

START_TEST(test_squeeze_unsqueeze) {
  tc *t = mk("squeeze", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 3, 1, 2), NULL));
  EXPECT_TYPE(t, IR_F32, 3, 2); /* axes absent: every 1 */
  t = mk("squeeze", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 3, 1, 2), NULL));
  A_INTS(t, "axes", -2);
  EXPECT_TYPE(t, IR_F32, 1, 3, 2);
  t = mk("squeeze", 1, 0x2, 2, T(IR_U8, 4, TH_DIMS(1, 3, 1, 2), NULL), V(IR_I64, 0));
  EXPECT_TYPE(t, IR_U8, 3, 1, 2);
  t = mk("squeeze", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 3, 1, 2), NULL));
  A_INTS(t, "axes", 1);
  EXPECT_ERR(t, "must be 1");
  t = mk("squeeze", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 3, 1, 2), NULL));
  A_INTS(t, "axes", 0, -4);
  EXPECT_ERR(t, "repeats axis");
  t = mk("squeeze", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 3, 1, 2), NULL));
  A_INTS(t, "axes", 4);
  EXPECT_ERR(t, "out of range");

  t = mk("unsqueeze", 1, 0, 1, T(IR_F32, 2, TH_DIMS(3, 4), NULL));
  A_INTS(t, "axes", 0, -1);
  EXPECT_TYPE(t, IR_F32, 1, 3, 4, 1);
  t = mk("unsqueeze", 1, 0x2, 2, T(IR_I64, 2, TH_DIMS(2, 3), NULL), V(IR_I64, 3, 0));
  EXPECT_TYPE(t, IR_I64, 1, 2, 3, 1); /* unsorted axes index the output */
  t = mk("unsqueeze", 1, 0, 1, S(IR_F32, 1));
  A_INTS(t, "axes", 0);
  EXPECT_TYPE(t, IR_F32, 1);
  t = mk("unsqueeze", 1, 0, 1, T(IR_F32, 2, TH_DIMS(3, 4), NULL));
  A_INTS(t, "axes", 1, 1);
  EXPECT_ERR(t, "repeats axis");
  t = mk("unsqueeze", 1, 0, 1, T(IR_F32, 2, TH_DIMS(3, 4), NULL));
  A_INTS(t, "axes", 3);
  EXPECT_ERR(t, "out of range");
  t = mk("unsqueeze", 1, 0, 1, T(IR_F32, 7, TH_DIMS(1, 1, 1, 1, 1, 1, 1), NULL));
  A_INTS(t, "axes", 0, 1);
  EXPECT_ERR(t, "rank limit");
}
END_TEST

/* ---- transpose, concat, split --------------------------------------------------- */

START_TEST(test_transpose) {
  tc *t = mk("transpose", 1, 0, 1, th_load_npy(REF "transpose_x.npy"));
  A_INTS(t, "perm", 1, 2, 0);
  EXPECT(t, th_load_npy(REF "transpose_120.npy"));
  t = mk("transpose", 1, 0, 1, th_load_npy(REF "transpose_x.npy"));
  EXPECT(t, th_load_npy(REF "transpose_rev.npy"));
  /* bool, 2-D, hand-computed */
  t = mk("transpose", 1, 0, 1, T(IR_BOOL, 2, TH_DIMS(2, 3), TH_VALS(1, 0, 0, 1, 1, 0)));
  EXPECT(t, T(IR_BOOL, 2, TH_DIMS(3, 2), TH_VALS(1, 1, 0, 1, 0, 0)));
  /* zero-size */
  t = mk("transpose", 1, 0, 1, T(IR_F64, 2, TH_DIMS(0, 3), NULL));
  EXPECT(t, T(IR_F64, 2, TH_DIMS(3, 0), NULL));

  t = mk("transpose", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "perm", 0, 0, 1);
  EXPECT_ERR(t, "not a permutation");
  t = mk("transpose", 1, 0, 1, T(IR_F32, 3, TH_DIMS(2, 3, 4), NULL));
  A_INTS(t, "perm", 1, 0);
  EXPECT_ERR(t, "rank 3");
  t = mk("transpose", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 3), NULL));
  A_INTS(t, "perm", 0, 2);
  EXPECT_ERR(t, "not a permutation");
}
END_TEST

START_TEST(test_concat) {
  tc *t = mk("concat", 1, 0, 3, T(IR_F32, 2, TH_DIMS(2, 1), TH_VALS(1, 2)),
             T(IR_F32, 2, TH_DIMS(2, 0), NULL),
             T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(3, 4, 5, 6)));
  A_INT(t, "axis", -1);
  EXPECT(t, T(IR_F32, 2, TH_DIMS(2, 3), TH_VALS(1, 3, 4, 2, 5, 6)));
  t = mk("concat", 1, 0, 2, T(IR_I64, 2, TH_DIMS(1, 2), TH_VALS(1, 2)),
         T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(3, 4, 5, 6)));
  A_INT(t, "axis", 0);
  EXPECT(t, T(IR_I64, 2, TH_DIMS(3, 2), TH_VALS(1, 2, 3, 4, 5, 6)));
  t = mk("concat", 1, 0, 1, V(IR_BOOL, 1, 0));
  A_INT(t, "axis", 0);
  EXPECT(t, V(IR_BOOL, 1, 0));

  t = mk("concat", 1, 0, 2, T(IR_F32, 2, TH_DIMS(2, 1), NULL), T(IR_F32, 2, TH_DIMS(3, 1), NULL));
  A_INT(t, "axis", 1);
  EXPECT_ERR(t, "must match");
  t = mk("concat", 1, 0, 2, T(IR_F32, 2, TH_DIMS(2, 1), NULL), T(IR_I32, 2, TH_DIMS(2, 1), NULL));
  A_INT(t, "axis", 1);
  EXPECT_ERR(t, "input 1 is i32[2,1]");
  t = mk("concat", 1, 0, 2, T(IR_F32, 2, TH_DIMS(2, 1), NULL), T(IR_F32, 1, TH_DIMS(2), NULL));
  A_INT(t, "axis", 0);
  EXPECT_ERR(t, "input 1 is f32[2]");
  t = mk("concat", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 1), NULL));
  A_INT(t, "axis", 2);
  EXPECT_ERR(t, "out of range");
  t = mk("concat", 1, 0, 1, S(IR_F32, 1));
  A_INT(t, "axis", 0);
  EXPECT_ERR(t, "scalars");
}
END_TEST

START_TEST(test_split) {
  /* explicit sizes */
  tc *t = mk("split", 3, 0, 1, V(IR_F32, 1, 2, 3, 4, 5, 6));
  A_INTS(t, "split", 1, 2, 3);
  ir_tensor w3[3] = {V(IR_F32, 1), V(IR_F32, 2, 3), V(IR_F32, 4, 5, 6)};
  expect_n(t, 3, w3, 0, __FILE__, __LINE__);
  /* sizes from a constant input, with a zero-size part, along axis -1 */
  t = mk("split", 3, 0x2, 2, T(IR_I32, 2, TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6)),
         V(IR_I64, 0, 2, 1));
  A_INT(t, "axis", -1);
  ir_tensor wz[3] = {T(IR_I32, 2, TH_DIMS(2, 0), NULL),
                     T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 4, 5)),
                     T(IR_I32, 2, TH_DIMS(2, 1), TH_VALS(3, 6))};
  expect_n(t, 3, wz, 0, __FILE__, __LINE__);
  /* num_outputs, uneven: 7 = 3 + 3 + 1 */
  t = mk("split", 3, 0, 1, V(IR_I64, 1, 2, 3, 4, 5, 6, 7));
  A_INT(t, "num_outputs", 3);
  ir_tensor wu[3] = {V(IR_I64, 1, 2, 3), V(IR_I64, 4, 5, 6), V(IR_I64, 7)};
  expect_n(t, 3, wu, 0, __FILE__, __LINE__);
  /* equal parts by the output count */
  t = mk("split", 2, 0, 1, T(IR_F64, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)));
  ir_tensor we[2] = {T(IR_F64, 2, TH_DIMS(1, 2), TH_VALS(1, 2)),
                     T(IR_F64, 2, TH_DIMS(1, 2), TH_VALS(3, 4))};
  expect_n(t, 2, we, 0, __FILE__, __LINE__);

  t = mk("split", 3, 0, 1, V(IR_F32, 1, 2, 3, 4, 5, 6));
  A_INTS(t, "split", 1, 2, 2);
  EXPECT_ERR(t, "sum to 5, not 6");
  t = mk("split", 2, 0, 1, V(IR_F32, 1, 2, 3, 4, 5, 6));
  A_INTS(t, "split", 1, 2, 3);
  EXPECT_ERR(t, "2 outputs");
  t = mk("split", 2, 0, 1, V(IR_F32, 1, 2, 3, 4, 5, 6));
  A_INTS(t, "split", -1, 7);
  EXPECT_ERR(t, "must be >= 0");
  t = mk("split", 4, 0, 1, V(IR_F32, 1, 2, 3, 4, 5, 6));
  EXPECT_ERR(t, "4 equal parts");
  t = mk("split", 2, 0, 1, V(IR_F32, 1, 2, 3, 4, 5, 6));
  A_INT(t, "num_outputs", 3);
  EXPECT_ERR(t, "'num_outputs' is 3");
  t = mk("split", 4, 0, 1, V(IR_F32, 1, 2, 3, 4, 5)); /* 2, 2, 2, -1 */
  A_INT(t, "num_outputs", 4);
  EXPECT_ERR(t, "cannot be split");
  t = mk("split", 2, 0, 1, V(IR_F32, 1, 2));
  A_INT(t, "axis", 1);
  EXPECT_ERR(t, "out of range");
}
END_TEST

/* ---- slice ------------------------------------------------------------------------ */

START_TEST(test_slice) {
  tc *t = mk("slice", 1, 0, 1, th_load_npy(REF "slice_x.npy"));
  A_INTS(t, "starts", 1, -100, 6);
  A_INTS(t, "ends", 4, 100, -8);
  A_INTS(t, "steps", 2, 1, -2);
  EXPECT(t, th_load_npy(REF "slice_a.npy"));
  t = mk("slice", 1, 0, 1, th_load_npy(REF "slice_x.npy"));
  A_INTS(t, "starts", INT64_MAX, 0);
  A_INTS(t, "ends", INT64_MIN, INT64_MAX);
  A_INTS(t, "axes", -1, 0);
  A_INTS(t, "steps", -3, 2);
  EXPECT(t, th_load_npy(REF "slice_b.npy"));
  /* starts/ends/axes as constant inputs (operands 1-3), steps absent */
  t = mk("slice", 1, 0xe, 4, th_load_npy(REF "slice_x.npy"), V(IR_I64, -2), V(IR_I64, -1),
         V(IR_I32, 1));
  EXPECT(t, th_load_npy(REF "slice_c.npy"));

  /* ONNX clamping, by hand on x = [0 1 2 3 4]: */
  /* a backwards start below 0 clamps to 0, a backwards end to -1: [0] */
  t = mk("slice", 1, 0, 1, V(IR_F32, 0, 1, 2, 3, 4));
  A_INTS(t, "starts", -100);
  A_INTS(t, "ends", -200);
  A_INTS(t, "steps", -1);
  EXPECT(t, V(IR_F32, 0));
  /* the whole axis backwards */
  t = mk("slice", 1, 0, 1, V(IR_F32, 0, 1, 2, 3, 4));
  A_INTS(t, "starts", -1);
  A_INTS(t, "ends", INT64_MIN);
  A_INTS(t, "steps", -1);
  EXPECT(t, V(IR_F32, 4, 3, 2, 1, 0));
  /* a step of INT64_MIN takes the start only */
  t = mk("slice", 1, 0, 1, V(IR_BOOL, 0, 1, 0, 0, 1));
  A_INTS(t, "starts", 4);
  A_INTS(t, "ends", INT64_MIN);
  A_INTS(t, "steps", INT64_MIN);
  EXPECT(t, V(IR_BOOL, 1));
  /* huge positive steps and an empty result */
  t = mk("slice", 1, 0, 1, V(IR_I32, 0, 1, 2, 3, 4));
  A_INTS(t, "starts", 1);
  A_INTS(t, "ends", INT64_MAX);
  A_INTS(t, "steps", INT64_MAX);
  EXPECT(t, V(IR_I32, 1));
  t = mk("slice", 1, 0, 1, V(IR_I32, 0, 1, 2, 3, 4));
  A_INTS(t, "starts", 3);
  A_INTS(t, "ends", 1);
  EXPECT(t, T(IR_I32, 1, TH_DIMS(0), NULL));
  t = mk("slice", 1, 0, 1, V(IR_I32, 0, 1, 2, 3, 4));
  A_INTS(t, "starts", 10);
  A_INTS(t, "ends", 20);
  EXPECT(t, T(IR_I32, 1, TH_DIMS(0), NULL));
}
END_TEST

START_TEST(test_slice_errors) {
  tc *t = mk("slice", 1, 0, 1, V(IR_F32, 0, 1, 2));
  A_INTS(t, "starts", 0);
  A_INTS(t, "ends", 2);
  A_INTS(t, "steps", 0);
  EXPECT_ERR(t, "'steps' has 0");
  t = mk("slice", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "starts", 0, 0);
  A_INTS(t, "ends", 1, 1);
  A_INTS(t, "axes", 1, -1);
  EXPECT_ERR(t, "repeats axis");
  t = mk("slice", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "starts", 0, 0);
  A_INTS(t, "ends", 1);
  EXPECT_ERR(t, "'ends' has 1");
  t = mk("slice", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "starts", 0);
  A_INTS(t, "ends", 1);
  A_INTS(t, "axes", 2);
  EXPECT_ERR(t, "out of range");
  t = mk("slice", 1, 0, 1, T(IR_F32, 1, TH_DIMS(2), NULL));
  A_INTS(t, "starts", 0, 0);
  A_INTS(t, "ends", 1, 1);
  EXPECT_ERR(t, "rank 1");
}
END_TEST

/* ---- gather, gather_elements, gather_nd ------------------------------------------- */

START_TEST(test_gather) {
  tc *t = mk("gather", 1, 0, 2, th_load_npy(REF "gather_x.npy"),
             T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(0, -1, 2, 1)));
  A_INT(t, "axis", 1);
  EXPECT(t, th_load_npy(REF "gather_axis1.npy"));
  /* a scalar index drops the axis */
  t = mk("gather", 1, 0, 2, T(IR_U8, 2, TH_DIMS(3, 2), TH_VALS(1, 2, 3, 4, 5, 6)), S(IR_I32, 2));
  EXPECT(t, V(IR_U8, 5, 6));
  t = mk("gather", 1, 0, 2, T(IR_BOOL, 2, TH_DIMS(2, 3), TH_VALS(1, 0, 0, 0, 1, 1)),
         V(IR_I32, -1, 0, -3));
  A_INT(t, "axis", -1);
  EXPECT(t, T(IR_BOOL, 2, TH_DIMS(2, 3), TH_VALS(0, 1, 1, 1, 0, 0)));
  /* no indices */
  t = mk("gather", 1, 0, 2, V(IR_F32, 1, 2), T(IR_I64, 1, TH_DIMS(0), NULL));
  EXPECT(t, T(IR_F32, 1, TH_DIMS(0), NULL));

  /* an out-of-range index is reported at evaluation */
  t = mk("gather", 1, 0x2, 2, V(IR_F32, 1, 2, 3), V(IR_I64, 0, 3));
  EXPECT_ERR(t, "index 3 (element 1 of the indices) is out of range for axis 0 of size 3");
  t = mk("gather", 1, 0x2, 2, V(IR_F32, 1, 2, 3), V(IR_I64, -4));
  EXPECT_ERR(t, "index -4");
  t = mk("gather", 1, 0, 2, V(IR_F32, 1, 2, 3), V(IR_F32, 0));
  EXPECT_ERR(t, "must be integers");
  t = mk("gather", 1, 0, 2, V(IR_F32, 1, 2, 3), V(IR_I64, 0));
  A_INT(t, "axis", 1);
  EXPECT_ERR(t, "out of range");
}
END_TEST

START_TEST(test_gather_elements) {
  /* the examples of the ONNX GatherElements definition */
  tc *t = mk("gather_elements", 1, 0, 2, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)),
             T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(0, 0, 1, 0)));
  A_INT(t, "axis", 1);
  EXPECT(t, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1, 1, 4, 3)));
  t = mk("gather_elements", 1, 0, 2,
         T(IR_I32, 2, TH_DIMS(3, 3), TH_VALS(1, 2, 3, 4, 5, 6, 7, 8, 9)),
         T(IR_I32, 2, TH_DIMS(2, 3), TH_VALS(1, 2, 0, 2, 0, -3)));
  EXPECT(t, T(IR_I32, 2, TH_DIMS(2, 3), TH_VALS(4, 8, 3, 7, 2, 3)));
  t = mk("gather_elements", 1, 0x2, 2, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)),
         T(IR_I64, 2, TH_DIMS(1, 2), TH_VALS(0, 2)));
  EXPECT_ERR(t, "index 2 (element 1 of the indices) is out of range");
  t = mk("gather_elements", 1, 0, 2, T(IR_F32, 2, TH_DIMS(2, 2), NULL),
         T(IR_I64, 1, TH_DIMS(2), NULL));
  EXPECT_ERR(t, "must have the rank of data");
  t = mk("gather_elements", 1, 0, 2, T(IR_F32, 2, TH_DIMS(2, 2), NULL),
         T(IR_I64, 2, TH_DIMS(1, 3), NULL));
  EXPECT_ERR(t, "exceed data");
}
END_TEST

START_TEST(test_gather_nd) {
  /* the examples of the ONNX GatherND definition */
  tc *t = mk("gather_nd", 1, 0, 2, T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 2, 3)),
             T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(0, 0, 1, 1)));
  EXPECT(t, V(IR_I32, 0, 3));
  t = mk("gather_nd", 1, 0, 2, T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 2, 3)),
         T(IR_I64, 2, TH_DIMS(2, 1), TH_VALS(1, 0)));
  EXPECT(t, T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(2, 3, 0, 1)));
  t = mk("gather_nd", 1, 0, 2, iota(IR_F32, 3, TH_DIMS(2, 2, 2)),
         T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 1, 0)));
  EXPECT(t, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(2, 3, 4, 5)));
  t = mk("gather_nd", 1, 0, 2, iota(IR_F32, 3, TH_DIMS(2, 2, 2)),
         T(IR_I64, 3, TH_DIMS(2, 1, 2), TH_VALS(0, 1, 1, 0)));
  EXPECT(t, T(IR_F32, 3, TH_DIMS(2, 1, 2), TH_VALS(2, 3, 4, 5)));
  t = mk("gather_nd", 1, 0, 2, iota(IR_F64, 3, TH_DIMS(2, 2, 2)),
         T(IR_I64, 2, TH_DIMS(2, 1), TH_VALS(1, 0)));
  A_INT(t, "batch_dims", 1);
  EXPECT(t, T(IR_F64, 2, TH_DIMS(2, 2), TH_VALS(2, 3, 4, 5)));
  /* batch_dims 1 with full index tuples and a negative index */
  t = mk("gather_nd", 1, 0, 2, iota(IR_I64, 3, TH_DIMS(2, 2, 2)),
         T(IR_I64, 3, TH_DIMS(2, 1, 2), TH_VALS(1, 1, -1, 0)));
  A_INT(t, "batch_dims", 1);
  EXPECT(t, T(IR_I64, 2, TH_DIMS(2, 1), TH_VALS(3, 6)));

  t = mk("gather_nd", 1, 0x2, 2, T(IR_I32, 2, TH_DIMS(2, 2), NULL),
         T(IR_I64, 2, TH_DIMS(1, 2), TH_VALS(0, 2)));
  EXPECT_ERR(t, "out of range for axis 1 of size 2");
  t = mk("gather_nd", 1, 0, 2, T(IR_I32, 2, TH_DIMS(2, 2), NULL),
         T(IR_I64, 2, TH_DIMS(1, 3), NULL));
  EXPECT_ERR(t, "must be in [1, 2]");
  t = mk("gather_nd", 1, 0, 2, T(IR_I32, 2, TH_DIMS(2, 2), NULL),
         T(IR_I64, 2, TH_DIMS(2, 1), NULL));
  A_INT(t, "batch_dims", 2);
  EXPECT_ERR(t, "batch_dims");
  t = mk("gather_nd", 1, 0, 2, T(IR_I32, 2, TH_DIMS(2, 2), NULL),
         T(IR_I64, 2, TH_DIMS(3, 1), NULL));
  A_INT(t, "batch_dims", 1);
  EXPECT_ERR(t, "batch dim 0 differs");
}
END_TEST

/* ---- expand, pad, tile ------------------------------------------------------------------ */

START_TEST(test_expand) {
  tc *t = mk("expand", 1, 0, 1, V(IR_F32, 0, 1, 2));
  A_INTS(t, "shape", 2, 3, 4);
  EXPECT_ERR(t, "cannot broadcast f32[3]");
  t = mk("expand", 1, 0x2, 2, T(IR_F32, 2, TH_DIMS(3, 1), TH_VALS(0, 1, 2)), V(IR_I64, 2, 1, 4));
  EXPECT(t, th_load_npy(REF "expand.npy"));
  /* bidirectional: shape smaller than the input keeps the input's dims */
  t = mk("expand", 1, 0, 1, T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)));
  A_INTS(t, "shape", 1);
  EXPECT(t, T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)));
  t = mk("expand", 1, 0, 1, V(IR_BOOL, 1));
  A_INTS(t, "shape", 2, 0);
  EXPECT(t, T(IR_BOOL, 2, TH_DIMS(2, 0), NULL));
  t = mk("expand", 1, 0, 1, S(IR_I64, 7));
  A_INTS(t, "shape", 3);
  EXPECT(t, V(IR_I64, 7, 7, 7));
  t = mk("expand", 1, 0, 1, V(IR_F32, 1));
  A_INTS(t, "shape", 2, -1);
  EXPECT_ERR(t, "negative dim");
}
END_TEST

START_TEST(test_pad) {
  static const char *modes[] = {"reflect", "edge", "wrap", "constant"};
  static const char *refs[] = {REF "pad_reflect.npy", REF "pad_edge.npy", REF "pad_wrap.npy",
                               REF "pad_constant.npy"};
  for (int i = 0; i < 4; i++) {
    tc *t = mk("pad", 1, 0, 1, th_load_npy(REF "pad_x.npy"));
    A_STR(t, "mode", modes[i]);
    A_INTS(t, "pads", 2, 5, 3, 6);
    A_FLOAT(t, "value", 2.5);
    EXPECT(t, th_load_npy(refs[i]));
  }
  /* pads and value as constant inputs; negative pads crop */
  tc *t = mk("pad", 1, 0x6, 3, th_load_npy(REF "pad_x.npy"), V(IR_I64, -1, 2, 1, -2),
             S(IR_F32, 9));
  A_STR(t, "mode", "edge");
  EXPECT(t, th_load_npy(REF "pad_edge_crop.npy"));
  /* axes: pad the last axis only; integer constant */
  t = mk("pad", 1, 0, 1, T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)));
  A_INTS(t, "pads", 1, 2);
  A_INTS(t, "axes", -1);
  A_FLOAT(t, "value", 7);
  EXPECT(t, T(IR_I32, 2, TH_DIMS(2, 5), TH_VALS(7, 1, 2, 7, 7, 7, 3, 4, 7, 7)));
  /* reflect of a one-element axis repeats it */
  t = mk("pad", 1, 0, 1, V(IR_BOOL, 1));
  A_STR(t, "mode", "reflect");
  A_INTS(t, "pads", 2, 1);
  EXPECT(t, V(IR_BOOL, 1, 1, 1, 1));
  /* constant padding of an empty axis */
  t = mk("pad", 1, 0, 1, T(IR_F64, 1, TH_DIMS(0), NULL));
  A_INTS(t, "pads", 1, 1);
  A_FLOAT(t, "value", -1.5);
  EXPECT(t, V(IR_F64, -1.5, -1.5));

  t = mk("pad", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "pads", 1, 1);
  EXPECT_ERR(t, "expected 4");
  t = mk("pad", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "pads", 0, 0, 0, 0);
  A_STR(t, "mode", "mirror");
  EXPECT_ERR(t, "'mode' must be");
  t = mk("pad", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "pads", -2, 0, -1, 0);
  EXPECT_ERR(t, "invalid size");
  t = mk("pad", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "pads", INT64_MAX, 0, INT64_MAX, 0);
  EXPECT_ERR(t, "invalid size");
  t = mk("pad", 1, 0, 1, T(IR_F32, 1, TH_DIMS(0), NULL));
  A_STR(t, "mode", "wrap");
  A_INTS(t, "pads", 1, 0);
  EXPECT_ERR(t, "empty axis");
  t = mk("pad", 1, 0, 1, T(IR_F32, 2, TH_DIMS(2, 2), NULL));
  A_INTS(t, "pads", 1, 1, 1, 1);
  A_INTS(t, "axes", 0, -2);
  EXPECT_ERR(t, "repeats axis");
}
END_TEST

START_TEST(test_tile) {
  tc *t = mk("tile", 1, 0, 1, th_load_npy(REF "transpose_x.npy"));
  A_INTS(t, "repeats", 2, 1, 3);
  EXPECT(t, th_load_npy(REF "tile.npy"));
  t = mk("tile", 1, 0x2, 2, V(IR_BOOL, 1, 0), V(IR_I64, 2));
  EXPECT(t, V(IR_BOOL, 1, 0, 1, 0));
  t = mk("tile", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "repeats", 0);
  EXPECT(t, T(IR_F32, 1, TH_DIMS(0), NULL));
  t = mk("tile", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "repeats", 1, 1);
  EXPECT_ERR(t, "has 2 values");
  t = mk("tile", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "repeats", -1);
  EXPECT_ERR(t, "negative");
  t = mk("tile", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "repeats", INT64_MAX);
  EXPECT_ERR(t, "too large");
}
END_TEST

/* ---- depth_to_space, space_to_depth, trilu ------------------------------------------ */

START_TEST(test_depth_space) {
  tc *t = mk("depth_to_space", 1, 0, 1, th_load_npy(REF "d2s_x.npy"));
  A_INT(t, "blocksize", 2);
  EXPECT(t, th_load_npy(REF "d2s_dcr.npy"));
  t = mk("depth_to_space", 1, 0, 1, th_load_npy(REF "d2s_x.npy"));
  A_INT(t, "blocksize", 2);
  A_STR(t, "mode", "CRD");
  EXPECT(t, th_load_npy(REF "d2s_crd.npy"));
  t = mk("space_to_depth", 1, 0, 1, th_load_npy(REF "s2d_x.npy"));
  A_INT(t, "blocksize", 2);
  EXPECT(t, th_load_npy(REF "s2d.npy"));

  t = mk("depth_to_space", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 6, 2, 2), NULL));
  A_INT(t, "blocksize", 2);
  EXPECT_ERR(t, "not a multiple of blocksize^2");
  t = mk("depth_to_space", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 4, 2, 2), NULL));
  A_INT(t, "blocksize", 2);
  A_STR(t, "mode", "DRC");
  EXPECT_ERR(t, "DCR or CRD");
  t = mk("depth_to_space", 1, 0, 1, T(IR_F32, 3, TH_DIMS(4, 2, 2), NULL));
  A_INT(t, "blocksize", 2);
  EXPECT_ERR(t, "rank 4");
  t = mk("space_to_depth", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 1, 3, 2), NULL));
  A_INT(t, "blocksize", 2);
  EXPECT_ERR(t, "multiples of blocksize");
  t = mk("space_to_depth", 1, 0, 1, T(IR_F32, 4, TH_DIMS(1, 1, 2, 2), NULL));
  A_INT(t, "blocksize", 0);
  EXPECT_ERR(t, "'blocksize' 0");
}
END_TEST

/* trilu's inference is infer_identity (elementwise file): evaluate directly. */
static void check_trilu(ir_tensor x, int64_t k, int upper, ir_tensor want, const char *file,
                        int line) {
  tc *t = mk("trilu", 1, 0, 1, x);
  A_INT(t, "k", k);
  A_INT(t, "upper", upper);
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor out;
  int rc = eval_direct(t, &x.type, &out, &d);
  ck_assert_msg(rc == 0, "%s:%d: %s", file, line, d.msg);
  th_assert_close_impl(&out, &want, 0, 0, file, line);
  ir_tensor_release(&out);
  ir_tensor_release(&want);
  tc_free(t);
}
#define CHECK_TRILU(x, k, upper, want) check_trilu(x, k, upper, want, __FILE__, __LINE__)

START_TEST(test_trilu) {
  /* x = [[1 2 3 4] [5 6 7 8] [9 10 11 12]] */
  const double *x = TH_VALS(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
  CHECK_TRILU(T(IR_F32, 2, TH_DIMS(3, 4), x), 0, 1,
              T(IR_F32, 2, TH_DIMS(3, 4), TH_VALS(1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12)));
  CHECK_TRILU(T(IR_I64, 2, TH_DIMS(3, 4), x), 1, 1,
              T(IR_I64, 2, TH_DIMS(3, 4), TH_VALS(0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12)));
  CHECK_TRILU(T(IR_F32, 2, TH_DIMS(3, 4), x), -1, 0,
              T(IR_F32, 2, TH_DIMS(3, 4), TH_VALS(0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0)));
  CHECK_TRILU(T(IR_I32, 2, TH_DIMS(3, 4), x), 0, 0,
              T(IR_I32, 2, TH_DIMS(3, 4), TH_VALS(1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0)));
  /* |k| beyond the matrix: everything or nothing, without overflow */
  CHECK_TRILU(T(IR_F32, 2, TH_DIMS(3, 4), x), INT64_MAX, 1, T(IR_F32, 2, TH_DIMS(3, 4), NULL));
  CHECK_TRILU(T(IR_F32, 2, TH_DIMS(3, 4), x), INT64_MIN, 1, T(IR_F32, 2, TH_DIMS(3, 4), x));
  CHECK_TRILU(T(IR_F32, 2, TH_DIMS(3, 4), x), INT64_MIN, 0, T(IR_F32, 2, TH_DIMS(3, 4), NULL));
  /* batched, bool */
  CHECK_TRILU(T(IR_BOOL, 3, TH_DIMS(2, 2, 2), TH_VALS(1, 1, 1, 1, 1, 1, 1, 1)), 0, 1,
              T(IR_BOOL, 3, TH_DIMS(2, 2, 2), TH_VALS(1, 1, 0, 1, 1, 1, 0, 1)));

  tc *t = mk("trilu", 1, 0, 1, V(IR_F32, 1, 2));
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor out;
  ck_assert_int_ne(eval_direct(t, &t->in[0].type, &out, &d), 0);
  ck_assert(strstr(d.msg, "rank >= 2") && strstr(d.msg, "node 'n'"));
  ir_tensor_release(&out);
  tc_free(t);
}
END_TEST

/* ---- one_hot, range ------------------------------------------------------------------ */

START_TEST(test_one_hot) {
  /* depth (3, as a constant input) resolves into the attribute; -1 counts
   * from the depth; 3 and -4 are out of range and give all-off rows */
  tc *t = mk("one_hot", 1, 0x2, 3, V(IR_I64, 0, -1, 3, 1, -4), S(IR_I64, 3),
             V(IR_F32, 0.5, 2));
  EXPECT(t, T(IR_F32, 2, TH_DIMS(5, 3),
              TH_VALS(2, .5, .5, .5, .5, 2, .5, .5, .5, .5, 2, .5, .5, .5, .5)));
  /* axis 0, float indices (truncated), integer values */
  t = mk("one_hot", 1, 0, 3, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1.9, 0, 2, 1)), ABSENT,
         V(IR_I32, 0, 7));
  A_INT(t, "depth", 3);
  A_INT(t, "axis", 0);
  /* out[v, i, j] = 7 where indices[i, j] == v */
  EXPECT(t, T(IR_I32, 3, TH_DIMS(3, 2, 2), TH_VALS(0, 7, 0, 0, 7, 0, 0, 7, 0, 0, 7, 0)));
  /* axis -2 on rank-1 indices: depth first */
  t = mk("one_hot", 1, 0, 3, V(IR_I32, 1, 0), ABSENT, V(IR_BOOL, 0, 1));
  A_INT(t, "depth", 2);
  A_INT(t, "axis", -2);
  EXPECT(t, T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 1, 0)));

  t = mk("one_hot", 1, 0, 3, V(IR_I64, 0), ABSENT, V(IR_F32, 0, 1));
  A_INT(t, "depth", 0);
  EXPECT_ERR(t, "'depth' 0");
  t = mk("one_hot", 1, 0, 3, V(IR_I64, 0), ABSENT, V(IR_F32, 0, 1, 2));
  A_INT(t, "depth", 2);
  EXPECT_ERR(t, "two elements");
  t = mk("one_hot", 1, 0, 3, V(IR_I64, 0), ABSENT, V(IR_F32, 0, 1));
  A_INT(t, "depth", 2);
  A_INT(t, "axis", 2);
  EXPECT_ERR(t, "out of range");
  t = mk("one_hot", 1, 0, 3, V(IR_BOOL, 0), ABSENT, V(IR_F32, 0, 1));
  A_INT(t, "depth", 2);
  EXPECT_ERR(t, "numeric");
}
END_TEST

START_TEST(test_range) {
  /* bounds as constant scalar inputs: the output dtype comes from them */
  tc *t = mk("range", 1, 0x7, 3, S(IR_I32, 10), S(IR_I32, 4), S(IR_I32, -3));
  EXPECT(t, V(IR_I32, 10, 7));
  t = mk("range", 1, 0x7, 3, S(IR_F32, 1), S(IR_F32, 2), S(IR_F32, 0.25));
  EXPECT(t, V(IR_F32, 1, 1.25, 1.5, 1.75));
  /* attributes; ceil of a fractional count */
  t = mk("range", 1, 0, 0);
  A_FLOAT(t, "start", 0);
  A_FLOAT(t, "limit", 1);
  A_FLOAT(t, "delta", 0.3);
  ir_set_int(t->c.g, t->c.node, "dtype", IR_F64);
  EXPECT_TOL(t, V(IR_F64, 0, 0.3, 0.6, 0.9), 1e-12);
  t = mk("range", 1, 0, 0);
  A_FLOAT(t, "start", 5);
  A_FLOAT(t, "limit", 1);
  A_FLOAT(t, "delta", 1);
  ir_set_int(t->c.g, t->c.node, "dtype", IR_I64);
  EXPECT(t, T(IR_I64, 1, TH_DIMS(0), NULL));

  t = mk("range", 1, 0, 0);
  A_FLOAT(t, "start", 0);
  A_FLOAT(t, "limit", 1);
  A_FLOAT(t, "delta", 0);
  EXPECT_ERR(t, "'delta' is 0");
  t = mk("range", 1, 0, 0);
  A_FLOAT(t, "start", 0);
  A_FLOAT(t, "limit", 1e30);
  A_FLOAT(t, "delta", 1);
  EXPECT_ERR(t, "more than 2^40");
  t = mk("range", 1, 0, 0);
  A_FLOAT(t, "start", 0);
  A_FLOAT(t, "limit", INFINITY);
  A_FLOAT(t, "delta", 1);
  EXPECT_ERR(t, "finite");
  t = mk("range", 1, 0x7, 3, S(IR_BOOL, 0), S(IR_BOOL, 1), S(IR_BOOL, 1));
  EXPECT_ERR(t, "cannot produce bool");
}
END_TEST

/* ---- resize ------------------------------------------------------------------------ */

typedef struct {
  const char *mode, *coord, *nearest;
  const char *want;
} rz_case;

START_TEST(test_resize_torch) {
  /* sizes [1, 2, 7, 3] / [1, 2, 7, 9] / [1, 2, 3, 2]; PyTorch refs (gen.py) */
  static const rz_case cases[] = {
      {"nearest", "asymmetric", "floor", REF "resize_nearest_7x3.npy"},
      {"nearest", "half_pixel", "round_prefer_ceil", REF "resize_nearest_exact_7x3.npy"},
      {"nearest", "tf_half_pixel_for_nearest", "floor", REF "resize_nearest_exact_7x3.npy"},
      {"linear", "half_pixel", NULL, REF "resize_bilinear_7x9.npy"},
      {"linear", "pytorch_half_pixel", NULL, REF "resize_bilinear_7x9.npy"},
      {"linear", "align_corners", NULL, REF "resize_bilinear_ac_7x9.npy"},
      {"cubic", "half_pixel", NULL, REF "resize_bicubic_7x9.npy"},
      {"cubic", "align_corners", NULL, REF "resize_bicubic_ac_3x2.npy"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ir_tensor want = th_load_npy(cases[i].want);
    tc *t = mk("resize", 1, 0, 1, th_load_npy(REF "resize_x.npy"));
    A_STR(t, "mode", cases[i].mode);
    A_STR(t, "coordinate_transformation_mode", cases[i].coord);
    if (cases[i].nearest) A_STR(t, "nearest_mode", cases[i].nearest);
    ir_set_ints(t->c.g, t->c.node, "sizes", want.type.dims, want.type.rank);
    EXPECT_TOL(t, want, 1e-5);
  }
  /* scales as given (0.6 is not 2/4 or 3/5), from a constant input, with an
   * empty roi and empty sizes present */
  tc *t = mk("resize", 1, 0xe, 4, th_load_npy(REF "resize_x.npy"), T(IR_F32, 1, TH_DIMS(0), NULL),
             V(IR_F32, 1, 1, 0.6, 0.6), T(IR_I64, 1, TH_DIMS(0), NULL));
  A_STR(t, "mode", "linear");
  EXPECT_TOL(t, th_load_npy(REF "resize_bilinear_s06.npy"), 1e-5);
  /* 3-D linear */
  t = mk("resize", 1, 0, 1, th_load_npy(REF "resize_x5.npy"));
  A_STR(t, "mode", "linear");
  A_INTS(t, "sizes", 1, 1, 5, 3, 8);
  EXPECT_TOL(t, th_load_npy(REF "resize_trilinear_5x3x8.npy"), 1e-5);
}
END_TEST

START_TEST(test_resize_hand) {
  /* nearest on [10 20 30 40] to 8 with asymmetric: x = o / 2, ties at .5 */
  static const char *rounds[] = {"round_prefer_floor", "floor", "round_prefer_ceil", "ceil"};
  static const double want[2][8] = {{10, 10, 20, 20, 30, 30, 40, 40},
                                    {10, 20, 20, 30, 30, 40, 40, 40}};
  for (int i = 0; i < 4; i++) {
    tc *t = mk("resize", 1, 0, 1, V(IR_I16, 10, 20, 30, 40));
    A_STR(t, "coordinate_transformation_mode", "asymmetric");
    A_STR(t, "nearest_mode", rounds[i]);
    A_FLOATS(t, "scales", 2);
    EXPECT(t, th_tensor(IR_I16, 1, TH_DIMS(8), want[i / 2]));
  }
  /* nearest moves i64 bit-exactly (2^60 + 1 is not a double) */
  tc *t = mk("resize", 1, 0, 1, T(IR_I64, 1, TH_DIMS(1), NULL));
  *(int64_t *)t->in[0].data = (INT64_C(1) << 60) + 1;
  A_INTS(t, "sizes", 2);
  ir_tensor w = T(IR_I64, 1, TH_DIMS(2), NULL);
  ((int64_t *)w.data)[0] = ((int64_t *)w.data)[1] = (INT64_C(1) << 60) + 1;
  EXPECT(t, w);
  /* cubic, A = -0.5, on [1 2 3 4] to 8 with asymmetric (x = o / 2):
   * W(0.5) = 0.5625, W(1.5) = -0.0625; edge taps clamp, or with
   * exclude_outside drop out and the rest renormalise, e.g. o = 1:
   * (0.5625*1 + 0.5625*2 - 0.0625*3) / 1.0625 = 1.5 / 1.0625 */
  static const double cub[2][8] = {
      {1, 1.4375, 2, 2.5, 3, 3.5625, 4, 4.0625},
      {1, 1.5 / 1.0625, 2, 2.5, 3, 3.8125 / 1.0625, 4, 2.0625 / 0.5}};
  for (int ex = 0; ex < 2; ex++) {
    t = mk("resize", 1, 0, 1, V(IR_F64, 1, 2, 3, 4));
    A_STR(t, "mode", "cubic");
    A_STR(t, "coordinate_transformation_mode", "asymmetric");
    A_FLOAT(t, "cubic_coeff_a", -0.5);
    A_INT(t, "exclude_outside", ex);
    A_INTS(t, "sizes", 8);
    EXPECT_TOL(t, th_tensor(IR_F64, 1, TH_DIMS(8), cub[ex]), 1e-12);
  }
  /* align_corners with a fractional scale uses the unfloored length:
   * [1 2 3 4] * 0.6 -> 2 outputs at x = o * 3 / (2.4 - 1) */
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2, 3, 4));
  A_STR(t, "mode", "linear");
  A_STR(t, "coordinate_transformation_mode", "align_corners");
  A_FLOATS(t, "scales", 0.6);
  EXPECT_TOL(t, V(IR_F32, 1, 1 + 3 / 1.4), 1e-6);
  /* linear on integers truncates like a cast; downsampling to nothing */
  t = mk("resize", 1, 0, 1, V(IR_U8, 0, 255));
  A_STR(t, "mode", "linear");
  A_STR(t, "coordinate_transformation_mode", "align_corners");
  A_INTS(t, "sizes", 3);
  EXPECT(t, V(IR_U8, 0, 127, 255));
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_FLOATS(t, "scales", 0.25);
  EXPECT(t, T(IR_F32, 1, TH_DIMS(0), NULL));
}
END_TEST

START_TEST(test_resize_errors) {
  tc *t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  EXPECT_ERR(t, "exactly one of 'scales' and 'sizes'");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_FLOATS(t, "scales", 2);
  A_INTS(t, "sizes", 4);
  EXPECT_ERR(t, "exactly one of 'scales' and 'sizes'");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_FLOATS(t, "scales", 2, 2);
  EXPECT_ERR(t, "'scales' has 2 values");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_FLOATS(t, "scales", -1);
  EXPECT_ERR(t, "positive");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_FLOATS(t, "scales", 1e300);
  EXPECT_ERR(t, "too large");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "sizes", 3);
  A_STR(t, "mode", "area");
  EXPECT_ERR(t, "'mode' must be");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "sizes", 3);
  A_STR(t, "nearest_mode", "round");
  EXPECT_ERR(t, "nearest_mode");
  t = mk("resize", 1, 0, 1, V(IR_BOOL, 1, 0));
  A_INTS(t, "sizes", 3);
  A_STR(t, "mode", "linear");
  EXPECT_ERR(t, "numeric");
  t = mk("resize", 1, 0, 1, T(IR_F32, 1, TH_DIMS(0), NULL));
  A_INTS(t, "sizes", 3);
  EXPECT_ERR(t, "empty axis");
  t = mk("resize", 1, 0, 1, V(IR_F32, 1, 2));
  A_INTS(t, "sizes", 3);
  A_STR(t, "coordinate_transformation_mode", "tf_crop_and_resize");
  ck_assert_int_eq(EXPECT_ERR(t, "not supported"), KILN_E_UNSUPPORTED);
}
END_TEST

/* ---- shape, size, constant_of_shape --------------------------------------------------- */

START_TEST(test_shape_size) {
  tc *t = mk("shape", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  EXPECT(t, V(IR_I64, 2, 3, 4, 5));
  t = mk("shape", 1, 0, 1, T(IR_BOOL, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "start", -1);
  EXPECT(t, V(IR_I64, 5));
  t = mk("shape", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "start", 1);
  A_INT(t, "end", -1);
  EXPECT(t, V(IR_I64, 3, 4));
  t = mk("shape", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "start", -10);
  A_INT(t, "end", 10);
  EXPECT(t, V(IR_I64, 2, 3, 4, 5));
  t = mk("shape", 1, 0, 1, T(IR_F32, 4, TH_DIMS(2, 3, 4, 5), NULL));
  A_INT(t, "start", 3);
  A_INT(t, "end", 1);
  EXPECT(t, T(IR_I64, 1, TH_DIMS(0), NULL));
  t = mk("shape", 1, 0, 1, S(IR_F32, 1));
  EXPECT(t, T(IR_I64, 1, TH_DIMS(0), NULL));

  t = mk("size", 1, 0, 1, T(IR_I32, 3, TH_DIMS(2, 3, 4), NULL));
  EXPECT(t, S(IR_I64, 24));
  t = mk("size", 1, 0, 1, T(IR_F32, 2, TH_DIMS(0, 3), NULL));
  EXPECT(t, S(IR_I64, 0));
  t = mk("size", 1, 0, 1, S(IR_F64, 3));
  EXPECT(t, S(IR_I64, 1));
}
END_TEST

START_TEST(test_constant_of_shape) {
  tc *t = mk("constant_of_shape", 1, 0, 0);
  A_INTS(t, "shape", 2, 3);
  EXPECT(t, T(IR_F32, 2, TH_DIMS(2, 3), NULL)); /* default: f32 zeros */
  /* shape from a constant input, value an i64 tensor */
  t = mk("constant_of_shape", 1, 0x1, 1, V(IR_I64, 3));
  ir_tensor v = T(IR_I64, 1, TH_DIMS(1), NULL);
  *(int64_t *)v.data = INT64_MIN + 1;
  ir_set_tensor(t->c.g, t->c.node, "value", &v);
  ir_tensor_release(&v);
  ir_tensor w = T(IR_I64, 1, TH_DIMS(3), NULL);
  for (int i = 0; i < 3; i++) ((int64_t *)w.data)[i] = INT64_MIN + 1;
  EXPECT(t, w);
  /* empty shape: a scalar; a zero dim: empty */
  t = mk("constant_of_shape", 1, 0, 0);
  A_NOINTS(t, "shape");
  v = V(IR_F64, 2.5);
  ir_set_tensor(t->c.g, t->c.node, "value", &v);
  ir_tensor_release(&v);
  EXPECT(t, S(IR_F64, 2.5));
  t = mk("constant_of_shape", 1, 0x1, 1, V(IR_I64, 0, 3));
  EXPECT(t, T(IR_F32, 2, TH_DIMS(0, 3), NULL));

  t = mk("constant_of_shape", 1, 0, 0);
  A_INTS(t, "shape", 2);
  v = V(IR_F32, 1, 2);
  ir_set_tensor(t->c.g, t->c.node, "value", &v);
  ir_tensor_release(&v);
  EXPECT_ERR(t, "exactly one element");
  t = mk("constant_of_shape", 1, 0, 0);
  A_INTS(t, "shape", 2, -3);
  EXPECT_ERR(t, "negative dim");
  t = mk("constant_of_shape", 1, 0, 0);
  A_INTS(t, "shape", INT64_C(1) << 30, INT64_C(1) << 30);
  EXPECT_ERR(t, "2^40");
}
END_TEST

static Suite *shape_suite(void) {
  Suite *s = suite_create("ops_shape");
  TCase *tc_ = tcase_create("views");
  tcase_add_test(tc_, test_reshape);
  tcase_add_test(tc_, test_reshape_errors);
  tcase_add_test(tc_, test_flatten);
  tcase_add_test(tc_, test_squeeze_unsqueeze);
  tcase_add_test(tc_, test_shape_size);
  suite_add_tcase(s, tc_);
  tc_ = tcase_create("movement");
  tcase_add_test(tc_, test_transpose);
  tcase_add_test(tc_, test_concat);
  tcase_add_test(tc_, test_split);
  tcase_add_test(tc_, test_slice);
  tcase_add_test(tc_, test_slice_errors);
  tcase_add_test(tc_, test_gather);
  tcase_add_test(tc_, test_gather_elements);
  tcase_add_test(tc_, test_gather_nd);
  tcase_add_test(tc_, test_expand);
  tcase_add_test(tc_, test_pad);
  tcase_add_test(tc_, test_tile);
  tcase_add_test(tc_, test_depth_space);
  tcase_add_test(tc_, test_trilu);
  suite_add_tcase(s, tc_);
  tc_ = tcase_create("generators");
  tcase_add_test(tc_, test_one_hot);
  tcase_add_test(tc_, test_range);
  tcase_add_test(tc_, test_constant_of_shape);
  suite_add_tcase(s, tc_);
  tc_ = tcase_create("resize");
  tcase_add_test(tc_, test_resize_torch);
  tcase_add_test(tc_, test_resize_hand);
  tcase_add_test(tc_, test_resize_errors);
  suite_add_tcase(s, tc_);
  return s;
}

TH_MAIN(shape_suite)

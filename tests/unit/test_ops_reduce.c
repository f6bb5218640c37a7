/* Unit tests for the reductions and normalisations (ir/ops_reduce.c):
 * shape/dtype inference and the reference evaluators, with hand-computed
 * values and NumPy references (tests/data/ops/reduce/, made by gen.py there
 * and cross-checked against PyTorch), the ONNX node tests' edge cases
 * (empty sets, select_last_index, large softmax inputs, empty axes) and the
 * errors a bad model must produce. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"

#define REF "tests/data/ops/reduce/"

/* ---- helpers ----------------------------------------------------------------- */

/* th_tensor with the rank taken from a TH_DIMS literal. */
#define TT(dt, dims, vals) th_tensor(dt, (int)(sizeof(dims) / sizeof(int64_t)), dims, vals)
#define TF(dims, vals) TT(IR_F32, dims, vals)
/* A scalar (rank 0). */
#define TS(dt, v) th_tensor(dt, 0, NULL, TH_VALS(v))
/* An absent optional input. */
#define ABSENT ((ir_tensor){.type = {.rank = -1}})

static ir_tensor npy(const char *name) {
  char path[256];
  snprintf(path, sizeof path, REF "%s.npy", name);
  return th_load_npy(path);
}

/* Attributes of a test node, terminated by A_END. */
typedef struct {
  const char *name;
  char kind; /* 'i' int, 'f' float, 's' ints */
  int64_t i;
  double f;
  int n;
  const int64_t *ints;
} attr_spec;

static const int64_t no_ints[1] = {0};
#define A_END {NULL, 0, 0, 0, 0, NULL}
#define AI(nm, v) {nm, 'i', (v), 0, 0, NULL}
#define AF(nm, v) {nm, 'f', 0, (v), 0, NULL}
#define AIS(nm, ...)                                                           \
  {nm, 's', 0, 0, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
   (const int64_t[]){__VA_ARGS__}}
#define AIS_EMPTY(nm) {nm, 's', 0, 0, 0, no_ints}
#define ATTRS(...) ((const attr_spec[]){__VA_ARGS__, A_END})
#define NOATTRS ((const attr_spec[]){A_END})

#define INS(...) ((ir_tensor[]){__VA_ARGS__})
#define WANT(...) ((ir_tensor[]){__VA_ARGS__})
#define COUNT(arr) ((int)(sizeof(arr) / sizeof(ir_tensor)))

static th_case build(const char *op, int n_in, ir_tensor *ins, unsigned const_mask,
                     const attr_spec *attrs, int n_out) {
  const ir_tensor *p[16];
  ck_assert(n_in <= 16);
  for (int i = 0; i < n_in; i++) p[i] = ins[i].type.rank < 0 ? NULL : &ins[i];
  th_case c = th_node(op, n_in, p, const_mask, n_out);
  for (const attr_spec *a = attrs; a->name; a++) {
    if (a->kind == 'i') ir_set_int(c.g, c.node, a->name, a->i);
    else if (a->kind == 'f') ir_set_float(c.g, c.node, a->name, a->f);
    else ir_set_ints(c.g, c.node, a->name, a->ints, a->n);
  }
  return c;
}

static void release_all(int n, ir_tensor *t) {
  for (int i = 0; i < n; i++)
    if (t[i].type.rank >= 0) ir_tensor_release(&t[i]);
}

/* Runs op over ins (input i is a constant when bit i of const_mask is set)
 * and compares its n_out outputs with want. Releases ins and want. */
static void check_impl(const char *op, int n_in, ir_tensor *ins, unsigned const_mask,
                       const attr_spec *attrs, int n_out, ir_tensor *want, double rtol,
                       double atol, const char *file, int line) {
  th_case c = build(op, n_in, ins, const_mask, attrs, n_out);
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor outs[4];
  ck_assert(n_out <= 4);
  int rc = th_run(&c, outs, &d);
  ck_assert_msg(rc == 0, "%s:%d: %s failed: %s", file, line, op, d.msg);
  for (int j = 0; j < n_out; j++) {
    th_assert_close_impl(&outs[j], &want[j], rtol, atol, file, line);
    ir_tensor_release(&outs[j]);
  }
  th_free(&c);
  release_all(n_in, ins);
  release_all(n_out, want);
}
#define CHECK(op, ins, mask, attrs, want, rtol, atol)                                       \
  check_impl(op, COUNT(ins), ins, mask, attrs, COUNT(want), want, rtol, atol, __FILE__, \
             __LINE__)

/* The node must be rejected with a message that names it and contains
 * `needle`. */
static void error_impl(const char *op, int n_in, ir_tensor *ins, unsigned const_mask,
                       const attr_spec *attrs, int n_out, const char *needle, const char *file,
                       int line) {
  th_case c = build(op, n_in, ins, const_mask, attrs, n_out);
  th_expect_node_error_impl(&c, needle, file, line);
  th_free(&c);
  release_all(n_in, ins);
}
#define CHECK_ERROR(op, ins, mask, attrs, needle) \
  error_impl(op, COUNT(ins), ins, mask, attrs, 1, needle, __FILE__, __LINE__)

/* x [3,2,2] = 1..12 */
static ir_tensor x3(void) {
  return TF(TH_DIMS(3, 2, 2), TH_VALS(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
}

/* ---- reduce_*: axes, keepdims, empty axes ------------------------------------------- */

START_TEST(test_reduce_sum_axes_keepdims) {
  /* x [3,2,2] over axis 1 -> [3,1,2] (keepdims) or [3,2] */
  CHECK("reduce_sum", INS(x3()), 0, ATTRS(AIS("axes", 1)),
        WANT(TF(TH_DIMS(3, 1, 2), TH_VALS(4, 6, 12, 14, 20, 22))), 0, 0);
  CHECK("reduce_sum", INS(x3()), 0, ATTRS(AIS("axes", 1), AI("keepdims", 0)),
        WANT(TF(TH_DIMS(3, 2), TH_VALS(4, 6, 12, 14, 20, 22))), 0, 0);
  /* negative axis; two axes in any order */
  CHECK("reduce_sum", INS(x3()), 0, ATTRS(AIS("axes", -2)),
        WANT(TF(TH_DIMS(3, 1, 2), TH_VALS(4, 6, 12, 14, 20, 22))), 0, 0);
  CHECK("reduce_sum", INS(x3()), 0, ATTRS(AIS("axes", -1, 0), AI("keepdims", 0)),
        WANT(TF(TH_DIMS(2), TH_VALS(1 + 2 + 5 + 6 + 9 + 10, 3 + 4 + 7 + 8 + 11 + 12))), 0, 0);
  /* axes as a constant input (ONNX opset 13+) */
  CHECK("reduce_sum", INS(x3(), TT(IR_I64, TH_DIMS(1), TH_VALS(2))), 0x2, NOATTRS,
        WANT(TF(TH_DIMS(3, 2, 1), TH_VALS(3, 7, 11, 15, 19, 23))), 0, 0);
}
END_TEST

START_TEST(test_reduce_default_and_empty_axes) {
  /* absent axes: every axis */
  CHECK("reduce_sum", INS(x3()), 0, NOATTRS, WANT(TF(TH_DIMS(1, 1, 1), TH_VALS(78))), 0, 0);
  CHECK("reduce_mean", INS(x3()), 0, ATTRS(AI("keepdims", 0)), WANT(TS(IR_F32, 6.5)), 0, 0);
  /* an empty axes list (attribute or input) is the same... */
  CHECK("reduce_max", INS(x3()), 0, ATTRS(AIS_EMPTY("axes")),
        WANT(TF(TH_DIMS(1, 1, 1), TH_VALS(12))), 0, 0);
  CHECK("reduce_sum", INS(x3(), TT(IR_I64, TH_DIMS(0), NULL)), 0x2, NOATTRS,
        WANT(TF(TH_DIMS(1, 1, 1), TH_VALS(78))), 0, 0);
  /* ...unless noop_with_empty_axes: then the input comes back unchanged */
  CHECK("reduce_sum", INS(x3(), TT(IR_I64, TH_DIMS(0), NULL)), 0x2,
        ATTRS(AI("noop_with_empty_axes", 1)), WANT(x3()), 0, 0);
  CHECK("reduce_prod", INS(x3()), 0, ATTRS(AI("noop_with_empty_axes", 1), AI("keepdims", 0)),
        WANT(x3()), 0, 0);
  /* noop_with_empty_axes does not matter when axes are given */
  CHECK("reduce_min", INS(x3()), 0, ATTRS(AI("noop_with_empty_axes", 1), AIS("axes", 0)),
        WANT(TF(TH_DIMS(1, 2, 2), TH_VALS(1, 2, 3, 4))), 0, 0);
  /* a scalar reduces to itself */
  CHECK("reduce_sum", INS(TS(IR_F32, 5)), 0, NOATTRS, WANT(TS(IR_F32, 5)), 0, 0);
  CHECK("reduce_log_sum_exp", INS(TS(IR_F64, 2.5)), 0, ATTRS(AI("keepdims", 0)),
        WANT(TS(IR_F64, 2.5)), 1e-15, 0);
}
END_TEST

START_TEST(test_reduce_each_op_hand) {
  /* x [2,3] = [[1,-2,3],[-4,5,-6]] over axis 1, keepdims 0 -> [2] */
  const double x[] = {1, -2, 3, -4, 5, -6};
  static const struct {
    const char *op;
    double r0, r1;
  } cases[] = {
      {"reduce_sum", 2, -5},           {"reduce_mean", 2.0 / 3, -5.0 / 3},
      {"reduce_max", 3, 5},            {"reduce_min", -2, -6},
      {"reduce_prod", -6, 120},        {"reduce_l1", 6, 15},
      {"reduce_l2", 3.7416573867739413, 8.774964387392123},
      {"reduce_sum_square", 14, 77},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    CHECK(cases[i].op, INS(TF(TH_DIMS(2, 3), x)), 0, ATTRS(AIS("axes", 1), AI("keepdims", 0)),
          WANT(TF(TH_DIMS(2), TH_VALS(cases[i].r0, cases[i].r1))), 1e-6, 0);
  /* log_sum over [[1,2,3],[4,5,6]]: ln 6, ln 15 */
  CHECK("reduce_log_sum", INS(TF(TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6))), 0,
        ATTRS(AIS("axes", 1)), WANT(TF(TH_DIMS(2, 1), TH_VALS(log(6.0), log(15.0)))), 1e-6, 0);
  /* log_sum_exp: m + ln(e^-2 + e^-1 + 1) */
  CHECK("reduce_log_sum_exp", INS(TF(TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6))), 0,
        ATTRS(AIS("axes", -1)),
        WANT(TF(TH_DIMS(2, 1), TH_VALS(3.40760596444438, 6.40760596444438))), 1e-6, 0);
}
END_TEST

START_TEST(test_reduce_log_sum_exp_stable) {
  /* exp(1000) overflows; the maximum is subtracted first */
  CHECK("reduce_log_sum_exp", INS(TF(TH_DIMS(3, 2), TH_VALS(1000, 1000, -1000, -1000, 88, 89))),
        0, ATTRS(AIS("axes", 1), AI("keepdims", 0)),
        WANT(TF(TH_DIMS(3), TH_VALS(1000 + M_LN2, -1000 + M_LN2, 89.31326168751822))), 1e-6, 0);
  /* all -inf stays -inf; +inf wins; NaN propagates */
  CHECK("reduce_log_sum_exp",
        INS(TF(TH_DIMS(3, 2), TH_VALS(-INFINITY, -INFINITY, INFINITY, 1, NAN, 1))), 0,
        ATTRS(AIS("axes", 1), AI("keepdims", 0)),
        WANT(TF(TH_DIMS(3), TH_VALS(-INFINITY, INFINITY, NAN))), 0, 0);
  /* max and min propagate NaN (np.maximum.reduce) */
  CHECK("reduce_max", INS(TF(TH_DIMS(2, 3), TH_VALS(1, NAN, 3, 1, 2, 3))), 0,
        ATTRS(AIS("axes", 1), AI("keepdims", 0)), WANT(TF(TH_DIMS(2), TH_VALS(NAN, 3))), 0, 0);
  CHECK("reduce_min", INS(TF(TH_DIMS(2, 3), TH_VALS(1, 2, 3, 1, 2, NAN))), 0,
        ATTRS(AIS("axes", 1), AI("keepdims", 0)), WANT(TF(TH_DIMS(2), TH_VALS(1, NAN))), 0, 0);
}
END_TEST

START_TEST(test_reduce_random_npy) {
  /* x [3,4,5] over axes (0, -1) -> [1,4,1], against NumPy in float64 */
  static const char *ops[] = {"reduce_sum",  "reduce_mean", "reduce_max",        "reduce_min",
                              "reduce_prod", "reduce_l1",   "reduce_l2",         "reduce_sum_square",
                              "reduce_log_sum", "reduce_log_sum_exp"};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    int pos = strcmp(ops[i], "reduce_log_sum") == 0;
    CHECK(ops[i], INS(npy(pos ? "reduce_xpos" : "reduce_x")), 0, ATTRS(AIS("axes", 0, -1)),
          WANT(npy(ops[i])), 1e-5, 1e-6);
  }
}
END_TEST

START_TEST(test_reduce_empty_set) {
  /* x [2,0,4] over axis 1 -> [2,1,4] holding the identity of each op (the
   * ONNX test_reduce_*_empty_set cases; mean of nothing is NaN) */
  static const struct {
    const char *op;
    double v;
  } cases[] = {{"reduce_sum", 0},           {"reduce_mean", NAN},
               {"reduce_max", -INFINITY},   {"reduce_min", INFINITY},
               {"reduce_prod", 1},          {"reduce_l1", 0},
               {"reduce_l2", 0},            {"reduce_sum_square", 0},
               {"reduce_log_sum", -INFINITY}, {"reduce_log_sum_exp", -INFINITY}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double v[8];
    for (int k = 0; k < 8; k++) v[k] = cases[i].v;
    CHECK(cases[i].op, INS(TF(TH_DIMS(2, 0, 4), NULL), TT(IR_I64, TH_DIMS(1), TH_VALS(1))), 0x2,
          NOATTRS, WANT(TF(TH_DIMS(2, 1, 4), v)), 0, 0);
  }
  /* reducing a non-empty axis of an empty tensor: an empty result */
  CHECK("reduce_sum", INS(TF(TH_DIMS(2, 0, 4), NULL)), 0, ATTRS(AIS("axes", 2)),
        WANT(TF(TH_DIMS(2, 0, 1), NULL)), 0, 0);
  /* integer identities: the dtype's extremes */
  CHECK("reduce_max", INS(TT(IR_I32, TH_DIMS(2, 0), NULL)), 0, ATTRS(AIS("axes", 1)),
        WANT(TT(IR_I32, TH_DIMS(2, 1), TH_VALS(INT32_MIN, INT32_MIN))), 0, 0);
  CHECK("reduce_min", INS(TT(IR_U8, TH_DIMS(2, 0), NULL)), 0, ATTRS(AIS("axes", 1)),
        WANT(TT(IR_U8, TH_DIMS(2, 1), TH_VALS(255, 255))), 0, 0);
  CHECK("reduce_prod", INS(TT(IR_I64, TH_DIMS(0, 3), NULL)), 0, ATTRS(AIS("axes", 0)),
        WANT(TT(IR_I64, TH_DIMS(1, 3), TH_VALS(1, 1, 1))), 0, 0);
}
END_TEST

START_TEST(test_reduce_integers) {
  CHECK("reduce_sum", INS(TT(IR_I32, TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6))), 0,
        ATTRS(AIS("axes", 1), AI("keepdims", 0)), WANT(TT(IR_I32, TH_DIMS(2), TH_VALS(6, 15))),
        0, 0);
  /* the mean truncates toward zero: 7/3 -> 2, -7/3 -> -2 */
  CHECK("reduce_mean", INS(TT(IR_I64, TH_DIMS(2, 3), TH_VALS(1, 2, 4, -1, -2, -4))), 0,
        ATTRS(AIS("axes", 1), AI("keepdims", 0)), WANT(TT(IR_I64, TH_DIMS(2), TH_VALS(2, -2))),
        0, 0);
  CHECK("reduce_max", INS(TT(IR_I32, TH_DIMS(2, 3), TH_VALS(-5, -3, -9, 7, 0, 2))), 0,
        ATTRS(AIS("axes", 1)), WANT(TT(IR_I32, TH_DIMS(2, 1), TH_VALS(-3, 7))), 0, 0);
  CHECK("reduce_min", INS(TT(IR_I32, TH_DIMS(2, 3), TH_VALS(-5, -3, -9, 7, 0, 2))), 0,
        ATTRS(AIS("axes", 1)), WANT(TT(IR_I32, TH_DIMS(2, 1), TH_VALS(-9, 0))), 0, 0);
  CHECK("reduce_prod", INS(TT(IR_I64, TH_DIMS(2, 3), TH_VALS(2, 3, 4, -1, 5, 6))), 0,
        ATTRS(AIS("axes", 1), AI("keepdims", 0)), WANT(TT(IR_I64, TH_DIMS(2), TH_VALS(24, -30))),
        0, 0);
  CHECK("reduce_l1", INS(TT(IR_I32, TH_DIMS(3), TH_VALS(-1, 2, -3))), 0, NOATTRS,
        WANT(TT(IR_I32, TH_DIMS(1), TH_VALS(6))), 0, 0);
  CHECK("reduce_sum_square", INS(TT(IR_I32, TH_DIMS(3), TH_VALS(-1, 2, -3))), 0, NOATTRS,
        WANT(TT(IR_I32, TH_DIMS(1), TH_VALS(14))), 0, 0);
  /* l2 of integers goes through double and truncates: sqrt(2) -> 1 */
  CHECK("reduce_l2", INS(TT(IR_I32, TH_DIMS(2, 2), TH_VALS(3, -4, 1, 1))), 0,
        ATTRS(AIS("axes", 1)), WANT(TT(IR_I32, TH_DIMS(2, 1), TH_VALS(5, 1))), 0, 0);
  /* sums and products wrap in the dtype, as NumPy's astype does */
  CHECK("reduce_sum", INS(TT(IR_U8, TH_DIMS(2), TH_VALS(200, 100))), 0, NOATTRS,
        WANT(TT(IR_U8, TH_DIMS(1), TH_VALS(44))), 0, 0);
  CHECK("reduce_sum", INS(TT(IR_I8, TH_DIMS(2), TH_VALS(-128, -1))), 0, NOATTRS,
        WANT(TT(IR_I8, TH_DIMS(1), TH_VALS(127))), 0, 0);
  CHECK("reduce_prod", INS(TT(IR_I8, TH_DIMS(2), TH_VALS(16, 16))), 0, NOATTRS,
        WANT(TT(IR_I8, TH_DIMS(1), TH_VALS(0))), 0, 0);
  /* int64 sums are exact beyond 2^53 (in double, 2^60 + 1 - 2^60 is 0) */
  CHECK("reduce_sum", INS(TT(IR_I64, TH_DIMS(3), TH_VALS(0x1p60, 1, -0x1p60))), 0,
        ATTRS(AI("keepdims", 0)), WANT(TS(IR_I64, 1)), 0, 0);
}
END_TEST

START_TEST(test_reduce_bool) {
  /* ONNX test_reduce_{max,min}_bool_inputs */
  const double b[] = {1, 1, 1, 0, 0, 1, 0, 0};
  CHECK("reduce_max", INS(TT(IR_BOOL, TH_DIMS(4, 2), b)), 0, ATTRS(AIS("axes", 1)),
        WANT(TT(IR_BOOL, TH_DIMS(4, 1), TH_VALS(1, 1, 1, 0))), 0, 0);
  CHECK("reduce_min", INS(TT(IR_BOOL, TH_DIMS(4, 2), b)), 0, ATTRS(AIS("axes", 1)),
        WANT(TT(IR_BOOL, TH_DIMS(4, 1), TH_VALS(1, 0, 0, 0))), 0, 0);
  CHECK("reduce_max", INS(TT(IR_BOOL, TH_DIMS(1, 0), NULL)), 0, ATTRS(AIS("axes", 1)),
        WANT(TT(IR_BOOL, TH_DIMS(1, 1), TH_VALS(0))), 0, 0);
  CHECK("reduce_min", INS(TT(IR_BOOL, TH_DIMS(1, 0), NULL)), 0, ATTRS(AIS("axes", 1)),
        WANT(TT(IR_BOOL, TH_DIMS(1, 1), TH_VALS(1))), 0, 0);
}
END_TEST

START_TEST(test_reduce_errors) {
  CHECK_ERROR("reduce_sum", INS(x3()), 0, ATTRS(AIS("axes", 3)), "out of range");
  CHECK_ERROR("reduce_sum", INS(x3()), 0, ATTRS(AIS("axes", -4)), "out of range");
  CHECK_ERROR("reduce_mean", INS(x3()), 0, ATTRS(AIS("axes", 1, -2)), "given twice");
  CHECK_ERROR("reduce_max", INS(x3()), 0, ATTRS(AI("keepdims", 2)), "0 or 1");
  CHECK_ERROR("reduce_max", INS(x3()), 0, ATTRS(AI("noop_with_empty_axes", -1)), "0 or 1");
  CHECK_ERROR("reduce_sum", INS(TT(IR_BOOL, TH_DIMS(2), TH_VALS(1, 0))), 0, NOATTRS, "bool");
  CHECK_ERROR("reduce_sum", INS(TS(IR_F32, 1)), 0, ATTRS(AIS("axes", 0)), "out of range");
  /* axes fed at run time cannot decide a static shape */
  CHECK_ERROR("reduce_sum", INS(x3(), TT(IR_I64, TH_DIMS(1), TH_VALS(1))), 0, NOATTRS,
              "compile time");
}
END_TEST

/* ---- argmax, argmin ---------------------------------------------------------------------- */

START_TEST(test_arg_reduce) {
  /* ONNX examples: data [[2,1],[3,10]] */
  const double e[] = {2, 1, 3, 10};
  CHECK("argmax", INS(TF(TH_DIMS(2, 2), e)), 0, NOATTRS,
        WANT(TT(IR_I64, TH_DIMS(1, 2), TH_VALS(1, 1))), 0, 0);
  CHECK("argmax", INS(TF(TH_DIMS(2, 2), e)), 0, ATTRS(AI("axis", 1)),
        WANT(TT(IR_I64, TH_DIMS(2, 1), TH_VALS(0, 1))), 0, 0);
  CHECK("argmax", INS(TF(TH_DIMS(2, 2), e)), 0, ATTRS(AI("axis", -1), AI("keepdims", 0)),
        WANT(TT(IR_I64, TH_DIMS(2), TH_VALS(0, 1))), 0, 0);
  CHECK("argmin", INS(TF(TH_DIMS(2, 2), e)), 0, ATTRS(AI("axis", 1), AI("keepdims", 0)),
        WANT(TT(IR_I64, TH_DIMS(2), TH_VALS(1, 0))), 0, 0);
  CHECK("argmin", INS(TF(TH_DIMS(2, 2), e)), 0, NOATTRS,
        WANT(TT(IR_I64, TH_DIMS(1, 2), TH_VALS(0, 0))), 0, 0);
  /* ties: first index, or the last with select_last_index */
  const double t[] = {2, 2, 3, 10};
  CHECK("argmax", INS(TF(TH_DIMS(2, 2), t)), 0, ATTRS(AI("axis", 1)),
        WANT(TT(IR_I64, TH_DIMS(2, 1), TH_VALS(0, 1))), 0, 0);
  CHECK("argmax", INS(TF(TH_DIMS(2, 2), t)), 0, ATTRS(AI("axis", 1), AI("select_last_index", 1)),
        WANT(TT(IR_I64, TH_DIMS(2, 1), TH_VALS(1, 1))), 0, 0);
  CHECK("argmin", INS(TF(TH_DIMS(2, 2), t)), 0, ATTRS(AI("axis", 1), AI("select_last_index", 1)),
        WANT(TT(IR_I64, TH_DIMS(2, 1), TH_VALS(1, 0))), 0, 0);
  /* NaN counts as the extreme (np.argmax / np.argmin) */
  const double nn[] = {1, NAN, 3, NAN};
  CHECK("argmax", INS(TF(TH_DIMS(4), nn)), 0, ATTRS(AI("keepdims", 0)),
        WANT(TS(IR_I64, 1)), 0, 0);
  CHECK("argmax", INS(TF(TH_DIMS(4), nn)), 0, ATTRS(AI("keepdims", 0), AI("select_last_index", 1)),
        WANT(TS(IR_I64, 3)), 0, 0);
  CHECK("argmin", INS(TF(TH_DIMS(4), nn)), 0, ATTRS(AI("keepdims", 0)), WANT(TS(IR_I64, 1)), 0,
        0);
  /* integers */
  CHECK("argmax", INS(TT(IR_I32, TH_DIMS(4), TH_VALS(5, 7, 7, 1))), 0, NOATTRS,
        WANT(TT(IR_I64, TH_DIMS(1), TH_VALS(1))), 0, 0);
  CHECK("argmax", INS(TT(IR_I32, TH_DIMS(4), TH_VALS(5, 7, 7, 1))), 0,
        ATTRS(AI("select_last_index", 1)), WANT(TT(IR_I64, TH_DIMS(1), TH_VALS(2))), 0, 0);
  CHECK("argmin", INS(TT(IR_U8, TH_DIMS(4), TH_VALS(5, 7, 7, 1))), 0, NOATTRS,
        WANT(TT(IR_I64, TH_DIMS(1), TH_VALS(3))), 0, 0);
  /* random [3,4,5] against NumPy */
  CHECK("argmax", INS(npy("arg_x")), 0, ATTRS(AI("axis", 1), AI("keepdims", 0)),
        WANT(npy("argmax_axis1")), 0, 0);
  CHECK("argmin", INS(npy("arg_x")), 0, ATTRS(AI("axis", -1)), WANT(npy("argmin_axis_neg1")),
        0, 0);
  /* an empty axis is fine when the result is empty too */
  CHECK("argmax", INS(TF(TH_DIMS(0, 0), NULL)), 0, ATTRS(AI("axis", 1)),
        WANT(TT(IR_I64, TH_DIMS(0, 1), NULL)), 0, 0);
}
END_TEST

START_TEST(test_arg_reduce_errors) {
  CHECK_ERROR("argmax", INS(TF(TH_DIMS(2, 2), NULL)), 0, ATTRS(AI("axis", 2)), "out of range");
  CHECK_ERROR("argmin", INS(TF(TH_DIMS(2, 2), NULL)), 0, ATTRS(AI("axis", -3)), "out of range");
  CHECK_ERROR("argmax", INS(TS(IR_F32, 1)), 0, NOATTRS, "scalar");
  CHECK_ERROR("argmax", INS(TF(TH_DIMS(2, 0), NULL)), 0, ATTRS(AI("axis", 1)), "size 0");
  CHECK_ERROR("argmax", INS(TF(TH_DIMS(2, 2), NULL)), 0, ATTRS(AI("select_last_index", 5)),
              "0 or 1");
}
END_TEST

/* ---- cumsum ---------------------------------------------------------------------------- */

START_TEST(test_cumsum) {
  const double v[] = {1, 2, 3, 4, 5};
  CHECK("cumsum", INS(TF(TH_DIMS(5), v)), 0, ATTRS(AI("axis", 0)),
        WANT(TF(TH_DIMS(5), TH_VALS(1, 3, 6, 10, 15))), 0, 0);
  CHECK("cumsum", INS(TF(TH_DIMS(5), v)), 0, ATTRS(AI("axis", 0), AI("exclusive", 1)),
        WANT(TF(TH_DIMS(5), TH_VALS(0, 1, 3, 6, 10))), 0, 0);
  CHECK("cumsum", INS(TF(TH_DIMS(5), v)), 0, ATTRS(AI("axis", 0), AI("reverse", 1)),
        WANT(TF(TH_DIMS(5), TH_VALS(15, 14, 12, 9, 5))), 0, 0);
  CHECK("cumsum", INS(TF(TH_DIMS(5), v)), 0,
        ATTRS(AI("axis", 0), AI("reverse", 1), AI("exclusive", 1)),
        WANT(TF(TH_DIMS(5), TH_VALS(14, 12, 9, 5, 0))), 0, 0);
  /* axis given as a scalar input, as ONNX does; int32 data */
  CHECK("cumsum", INS(TT(IR_I32, TH_DIMS(5), v), TS(IR_I32, 0)), 0x2, ATTRS(AI("exclusive", 1)),
        WANT(TT(IR_I32, TH_DIMS(5), TH_VALS(0, 1, 3, 6, 10))), 0, 0);
  /* 2-D: axis 0, axis 1, axis -1 */
  const double m[] = {1, 2, 3, 4, 5, 6};
  CHECK("cumsum", INS(TT(IR_F64, TH_DIMS(2, 3), m), TS(IR_I64, 0)), 0x2, NOATTRS,
        WANT(TT(IR_F64, TH_DIMS(2, 3), TH_VALS(1, 2, 3, 5, 7, 9))), 0, 0);
  CHECK("cumsum", INS(TT(IR_F64, TH_DIMS(2, 3), m)), 0, ATTRS(AI("axis", 1)),
        WANT(TT(IR_F64, TH_DIMS(2, 3), TH_VALS(1, 3, 6, 4, 9, 15))), 0, 0);
  CHECK("cumsum", INS(TT(IR_F64, TH_DIMS(2, 3), m), TS(IR_I32, -1)), 0x2, NOATTRS,
        WANT(TT(IR_F64, TH_DIMS(2, 3), TH_VALS(1, 3, 6, 4, 9, 15))), 0, 0);
  /* [3,4] f64 along axis 0, reversed and exclusive, against NumPy */
  CHECK("cumsum", INS(npy("cumsum_x")), 0,
        ATTRS(AI("axis", 0), AI("reverse", 1), AI("exclusive", 1)),
        WANT(npy("cumsum_axis0_rev_excl")), 1e-12, 1e-12);
  /* int8 wraps */
  CHECK("cumsum", INS(TT(IR_I8, TH_DIMS(3), TH_VALS(100, 100, -100))), 0, ATTRS(AI("axis", 0)),
        WANT(TT(IR_I8, TH_DIMS(3), TH_VALS(100, -56, 100))), 0, 0);
}
END_TEST

START_TEST(test_cumsum_errors) {
  CHECK_ERROR("cumsum", INS(TF(TH_DIMS(2, 3), NULL)), 0, ATTRS(AI("axis", 2)), "out of range");
  CHECK_ERROR("cumsum", INS(TF(TH_DIMS(2, 3), NULL), TS(IR_I64, -3)), 0x2, NOATTRS,
              "out of range");
  CHECK_ERROR("cumsum", INS(TF(TH_DIMS(2, 3), NULL)), 0, ATTRS(AI("axis", 0), AI("reverse", 2)),
              "0 or 1");
  CHECK_ERROR("cumsum", INS(TT(IR_BOOL, TH_DIMS(2), NULL)), 0, ATTRS(AI("axis", 0)), "bool");
  CHECK_ERROR("cumsum", INS(TS(IR_F32, 1)), 0, ATTRS(AI("axis", 0)), "scalar");
}
END_TEST

/* ---- softmax, log_softmax, hardmax --------------------------------------------------------- */

START_TEST(test_softmax) {
  /* ONNX test_softmax_large_number: both rows give the same result */
  const double sm[] = {0.0320586033, 0.0871443187, 0.2368828181, 0.6439142599};
  CHECK("softmax", INS(TF(TH_DIMS(2, 4), TH_VALS(0, 1, 2, 3, 10000, 10001, 10002, 10003))), 0,
        NOATTRS,
        WANT(TF(TH_DIMS(2, 4), TH_VALS(sm[0], sm[1], sm[2], sm[3], sm[0], sm[1], sm[2], sm[3]))),
        1e-6, 0);
  CHECK("log_softmax", INS(TF(TH_DIMS(3), TH_VALS(1000, 1001, 1002))), 0, NOATTRS,
        WANT(TF(TH_DIMS(3), TH_VALS(-2.4076059644, -1.4076059644, -0.4076059644))), 1e-6, 0);
  /* masked entries (-inf) get 0 (log: -inf) */
  CHECK("softmax", INS(TF(TH_DIMS(3), TH_VALS(-INFINITY, 0, 0))), 0, NOATTRS,
        WANT(TF(TH_DIMS(3), TH_VALS(0, 0.5, 0.5))), 1e-7, 0);
  CHECK("log_softmax", INS(TF(TH_DIMS(3), TH_VALS(-INFINITY, 0, 0))), 0, NOATTRS,
        WANT(TF(TH_DIMS(3), TH_VALS(-INFINITY, -M_LN2, -M_LN2))), 1e-7, 0);
  /* axis 0 over columns, and f64 */
  CHECK("softmax", INS(TT(IR_F64, TH_DIMS(2, 2), TH_VALS(0, 1, 0, 2))), 0, ATTRS(AI("axis", 0)),
        WANT(TT(IR_F64, TH_DIMS(2, 2), TH_VALS(0.5, 0.2689414213699951, 0.5, 0.7310585786300049))),
        1e-12, 0);
  /* random [2,3,4] against NumPy (cross-checked with PyTorch) */
  CHECK("softmax", INS(npy("softmax_x")), 0, ATTRS(AI("axis", 1)), WANT(npy("softmax_axis1")),
        1e-5, 1e-7);
  CHECK("log_softmax", INS(npy("softmax_x")), 0, ATTRS(AI("axis", -3)),
        WANT(npy("log_softmax_axis0")), 1e-5, 1e-6);
  CHECK("hardmax", INS(npy("softmax_x")), 0, ATTRS(AI("axis", 2)), WANT(npy("hardmax_axis2")), 0,
        0);
}
END_TEST

START_TEST(test_hardmax) {
  /* ONNX test_hardmax_one_hot: the first of equal maxima */
  CHECK("hardmax", INS(TF(TH_DIMS(1, 4), TH_VALS(3, 3, 3, 1))), 0, NOATTRS,
        WANT(TF(TH_DIMS(1, 4), TH_VALS(1, 0, 0, 0))), 0, 0);
  CHECK("hardmax", INS(TF(TH_DIMS(2, 2), TH_VALS(1, 5, 2, 4))), 0, ATTRS(AI("axis", 0)),
        WANT(TF(TH_DIMS(2, 2), TH_VALS(0, 1, 1, 0))), 0, 0);
  CHECK("hardmax", INS(TF(TH_DIMS(3), TH_VALS(1, NAN, 5))), 0, NOATTRS,
        WANT(TF(TH_DIMS(3), TH_VALS(0, 1, 0))), 0, 0);
  /* an empty axis gives an empty result */
  CHECK("hardmax", INS(TF(TH_DIMS(2, 0), NULL)), 0, NOATTRS, WANT(TF(TH_DIMS(2, 0), NULL)), 0, 0);
}
END_TEST

START_TEST(test_softmax_errors) {
  CHECK_ERROR("softmax", INS(TF(TH_DIMS(2, 3), NULL)), 0, ATTRS(AI("axis", 2)), "out of range");
  CHECK_ERROR("log_softmax", INS(TF(TH_DIMS(2, 3), NULL)), 0, ATTRS(AI("axis", -3)),
              "out of range");
  CHECK_ERROR("hardmax", INS(TT(IR_I32, TH_DIMS(2, 3), NULL)), 0, NOATTRS, "float");
  CHECK_ERROR("softmax", INS(TS(IR_F32, 1)), 0, NOATTRS, "scalar");
}
END_TEST

/* ---- layer_norm, rms_norm ----------------------------------------------------------------- */

START_TEST(test_layer_norm) {
  /* [1,2,3,4]: mean 2.5, variance 1.25; scale [1] broadcasts, no bias */
  const double y[] = {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579,
                      1.3416407864998738};
  CHECK("layer_norm", INS(TF(TH_DIMS(1, 4), TH_VALS(1, 2, 3, 4)), TF(TH_DIMS(1), TH_VALS(2))), 0,
        ATTRS(AF("epsilon", 0)),
        WANT(TF(TH_DIMS(1, 4), TH_VALS(2 * y[0], 2 * y[1], 2 * y[2], 2 * y[3]))), 1e-6, 0);
  /* a large offset does not cancel (two-pass variance): 1e8 + [1,2,3,4] */
  CHECK("layer_norm",
        INS(TT(IR_F64, TH_DIMS(4), TH_VALS(1e8 + 1, 1e8 + 2, 1e8 + 3, 1e8 + 4)),
            TT(IR_F64, TH_DIMS(4), TH_VALS(1, 1, 1, 1)), TT(IR_F64, TH_DIMS(4), NULL)),
        0, ATTRS(AF("epsilon", 0)), WANT(TT(IR_F64, TH_DIMS(4), y)), 1e-9, 0);
  /* x [2,3,4,5] over axes (2,3): scale [4,5], bias [5]; mean and inv_std_dev
   * come out as f32 [2,3,1,1] */
  CHECK("layer_norm", INS(npy("ln_x"), npy("ln_scale"), npy("ln_bias")), 0x6,
        ATTRS(AI("axis", -2)), WANT(npy("ln_y"), npy("ln_mean"), npy("ln_inv_std")), 1e-5, 1e-5);
  /* axis 0: one group over everything, stats [1,1] */
  CHECK("layer_norm",
        INS(TF(TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)), TF(TH_DIMS(2, 2), TH_VALS(1, 1, 1, 1)),
            ABSENT),
        0, ATTRS(AI("axis", 0), AF("epsilon", 0)),
        WANT(TF(TH_DIMS(2, 2), y), TF(TH_DIMS(1, 1), TH_VALS(2.5)),
             TF(TH_DIMS(1, 1), TH_VALS(0.894427190999916))),
        1e-6, 0);
}
END_TEST

START_TEST(test_rms_norm) {
  /* [1,2,3,4]: mean of squares 7.5 */
  const double r = 1.0 / sqrt(7.5);
  CHECK("rms_norm", INS(TF(TH_DIMS(1, 4), TH_VALS(1, 2, 3, 4)), TF(TH_DIMS(1), TH_VALS(1))), 0,
        ATTRS(AF("epsilon", 0)), WANT(TF(TH_DIMS(1, 4), TH_VALS(r, 2 * r, 3 * r, 4 * r))), 1e-6,
        0);
  /* x [2,3,5] over axes (1,2), scale [3,5], epsilon 0.1, against NumPy */
  CHECK("rms_norm", INS(npy("rms_x"), npy("rms_scale")), 0x2,
        ATTRS(AI("axis", 1), AF("epsilon", 0.1)), WANT(npy("rms_y")), 1e-5, 1e-6);
}
END_TEST

START_TEST(test_layer_norm_errors) {
  CHECK_ERROR("layer_norm", INS(TF(TH_DIMS(2, 5), NULL), TF(TH_DIMS(4), NULL)), 0, NOATTRS,
              "does not broadcast");
  CHECK_ERROR("layer_norm", INS(TF(TH_DIMS(2, 5), NULL), TF(TH_DIMS(2, 5), NULL)), 0, NOATTRS,
              "does not broadcast");
  CHECK_ERROR("layer_norm",
              INS(TF(TH_DIMS(2, 5), NULL), TF(TH_DIMS(5), NULL), TF(TH_DIMS(3), NULL)), 0,
              NOATTRS, "the bias");
  CHECK_ERROR("layer_norm",
              INS(TF(TH_DIMS(2, 5), NULL), TF(TH_DIMS(5), NULL), TT(IR_F64, TH_DIMS(5), NULL)), 0,
              NOATTRS, "f32");
  CHECK_ERROR("layer_norm", INS(TF(TH_DIMS(2, 5), NULL), TF(TH_DIMS(5), NULL)), 0,
              ATTRS(AI("axis", 2)), "out of range");
  CHECK_ERROR("layer_norm", INS(TF(TH_DIMS(2, 5), NULL), TF(TH_DIMS(5), NULL)), 0,
              ATTRS(AF("epsilon", -1)), "epsilon");
  CHECK_ERROR("layer_norm", INS(TT(IR_I32, TH_DIMS(2, 5), NULL), TT(IR_I32, TH_DIMS(5), NULL)),
              0, NOATTRS, "float");
  CHECK_ERROR("rms_norm", INS(TF(TH_DIMS(2, 3, 5), NULL), TF(TH_DIMS(4), NULL)), 0,
              ATTRS(AI("axis", 1)), "does not broadcast");
  CHECK_ERROR("rms_norm", INS(TF(TH_DIMS(2, 3, 5), NULL), TF(TH_DIMS(5), NULL)), 0,
              ATTRS(AI("axis", -4)), "out of range");
}
END_TEST

/* ---- batch_norm, instance_norm, group_norm --------------------------------------------------- */

START_TEST(test_batch_norm) {
  /* x [1,2,1,2]: channel 0 [1,2], channel 1 [3,4]; mean [1.5,3.5], var
   * [0.25,0.25], scale [1,2], bias [0,1] -> [-1,1], [-1,3] */
  CHECK("batch_norm",
        INS(TF(TH_DIMS(1, 2, 1, 2), TH_VALS(1, 2, 3, 4)), TF(TH_DIMS(2), TH_VALS(1, 2)),
            TF(TH_DIMS(2), TH_VALS(0, 1)), TF(TH_DIMS(2), TH_VALS(1.5, 3.5)),
            TF(TH_DIMS(2), TH_VALS(0.25, 0.25))),
        0, ATTRS(AF("epsilon", 0)), WANT(TF(TH_DIMS(1, 2, 1, 2), TH_VALS(-1, 1, -1, 3))), 1e-6,
        0);
  /* a rank-1 input [N] has one channel */
  CHECK("batch_norm",
        INS(TF(TH_DIMS(3), TH_VALS(1, 2, 3)), TF(TH_DIMS(1), TH_VALS(2)),
            TF(TH_DIMS(1), TH_VALS(1)), TF(TH_DIMS(1), TH_VALS(2)), TF(TH_DIMS(1), TH_VALS(1))),
        0, ATTRS(AF("epsilon", 0)), WANT(TF(TH_DIMS(3), TH_VALS(-1, 1, 3))), 1e-6, 0);
  /* [2,3,4,5] against NumPy (cross-checked with PyTorch) */
  CHECK("batch_norm",
        INS(npy("bn_x"), npy("bn_scale"), npy("bn_bias"), npy("bn_mean"), npy("bn_var")), 0x1e,
        NOATTRS, WANT(npy("bn_y")), 1e-5, 1e-6);
}
END_TEST

START_TEST(test_instance_norm) {
  /* ONNX test_instancenorm_example */
  CHECK("instance_norm",
        INS(TF(TH_DIMS(1, 2, 1, 3), TH_VALS(-1, 0, 1, 2, 3, 4)), TF(TH_DIMS(2), TH_VALS(1, 1.5)),
            TF(TH_DIMS(2), TH_VALS(0, 1))),
        0, NOATTRS,
        WANT(TF(TH_DIMS(1, 2, 1, 3),
                TH_VALS(-1.2247356, 0, 1.2247356, -0.8371035, 1, 2.8371034))),
        1e-6, 0);
  CHECK("instance_norm", INS(npy("in_x"), npy("in_scale"), npy("in_bias")), 0x6, NOATTRS,
        WANT(npy("in_y")), 1e-5, 1e-5);
}
END_TEST

START_TEST(test_group_norm) {
  /* one group over [1,2,3,4] (C = 2): mean 2.5, variance 1.25 */
  CHECK("group_norm",
        INS(TF(TH_DIMS(1, 2, 1, 2), TH_VALS(1, 2, 3, 4)), TF(TH_DIMS(2), TH_VALS(1, 1)),
            TF(TH_DIMS(2), TH_VALS(0, 10))),
        0, ATTRS(AI("num_groups", 1), AF("epsilon", 0)),
        WANT(TF(TH_DIMS(1, 2, 1, 2), TH_VALS(-1.3416407865, -0.4472135955, 10.4472135955,
                                             11.3416407865))),
        1e-6, 0);
  /* num_groups = C is instance normalisation */
  CHECK("group_norm",
        INS(TF(TH_DIMS(1, 2, 1, 2), TH_VALS(1, 2, 3, 4)), TF(TH_DIMS(2), TH_VALS(1, 2)),
            TF(TH_DIMS(2), TH_VALS(0, 0))),
        0, ATTRS(AI("num_groups", 2), AF("epsilon", 0)),
        WANT(TF(TH_DIMS(1, 2, 1, 2), TH_VALS(-1, 1, -2, 2))), 1e-6, 0);
  /* no channels: any group count divides 0, and the result is empty */
  CHECK("group_norm", INS(TF(TH_DIMS(2, 0, 3), NULL), TF(TH_DIMS(0), NULL), TF(TH_DIMS(0), NULL)),
        0, ATTRS(AI("num_groups", INT64_C(1) << 62)), WANT(TF(TH_DIMS(2, 0, 3), NULL)), 0, 0);
  /* [2,6,3,3], 3 groups, epsilon 1e-3, against NumPy (and PyTorch) */
  CHECK("group_norm", INS(npy("gn_x"), npy("gn_scale"), npy("gn_bias")), 0x6,
        ATTRS(AI("num_groups", 3), AF("epsilon", 1e-3)), WANT(npy("gn_y")), 1e-5, 1e-5);
}
END_TEST

START_TEST(test_channel_norm_errors) {
  CHECK_ERROR("batch_norm",
              INS(TF(TH_DIMS(1, 2, 2), NULL), TF(TH_DIMS(3), NULL), TF(TH_DIMS(2), NULL),
                  TF(TH_DIMS(2), NULL), TF(TH_DIMS(2), NULL)),
              0, NOATTRS, "the scale must have shape [2]");
  CHECK_ERROR("batch_norm",
              INS(TF(TH_DIMS(1, 2, 2), NULL), TF(TH_DIMS(2), NULL), TF(TH_DIMS(2), NULL),
                  TF(TH_DIMS(2), NULL), TF(TH_DIMS(1, 2), NULL)),
              0, NOATTRS, "the variance");
  CHECK_ERROR("instance_norm", INS(TF(TH_DIMS(4), NULL), TF(TH_DIMS(4), NULL), TF(TH_DIMS(4), NULL)),
              0, NOATTRS, "rank 2 or more");
  CHECK_ERROR("instance_norm",
              INS(TF(TH_DIMS(1, 3, 4), NULL), TF(TH_DIMS(3), NULL), TF(TH_DIMS(2), NULL)), 0,
              NOATTRS, "the bias");
  CHECK_ERROR("group_norm",
              INS(TF(TH_DIMS(1, 4, 2), NULL), TF(TH_DIMS(4), NULL), TF(TH_DIMS(4), NULL)), 0,
              ATTRS(AI("num_groups", 3)), "does not divide");
  CHECK_ERROR("group_norm",
              INS(TF(TH_DIMS(1, 4, 2), NULL), TF(TH_DIMS(4), NULL), TF(TH_DIMS(4), NULL)), 0,
              ATTRS(AI("num_groups", 0)), "positive");
  /* per-group scales (opset 18) must be expanded by the frontend */
  CHECK_ERROR("group_norm",
              INS(TF(TH_DIMS(1, 4, 2), NULL), TF(TH_DIMS(2), NULL), TF(TH_DIMS(2), NULL)), 0,
              ATTRS(AI("num_groups", 2)), "one value per channel");
  CHECK_ERROR("group_norm",
              INS(TF(TH_DIMS(1, 4, 2), NULL), TF(TH_DIMS(4), NULL), TF(TH_DIMS(4), NULL)), 0,
              NOATTRS, "num_groups");
}
END_TEST

/* ---- lp_normalization ----------------------------------------------------------------------- */

START_TEST(test_lp_normalization) {
  /* ONNX test_lpnormalization_default (p 2, last axis) */
  CHECK("lp_normalization",
        INS(TF(TH_DIMS(2, 2, 3), TH_VALS(1, 2, 2, 3, 4, 0, 0, 5, 5, 6, 8, 0))), 0, NOATTRS,
        WANT(TF(TH_DIMS(2, 2, 3), TH_VALS(1.0 / 3, 2.0 / 3, 2.0 / 3, 0.6, 0.8, 0, 0,
                                          0.7071067811865476, 0.7071067811865476, 0.6, 0.8, 0))),
        1e-6, 0);
  /* p 1 along axis 0 uses |x|; an all-zero column gives 0, not NaN */
  CHECK("lp_normalization", INS(TF(TH_DIMS(2, 3), TH_VALS(1, -3, 0, 3, 1, 0))), 0,
        ATTRS(AI("axis", 0), AI("p", 1)),
        WANT(TF(TH_DIMS(2, 3), TH_VALS(0.25, -0.75, 0, 0.75, 0.25, 0))), 1e-7, 0);
  CHECK("lp_normalization", INS(npy("lp_x")), 0, ATTRS(AI("axis", 1), AI("p", 1)),
        WANT(npy("lp_p1_axis1")), 1e-5, 1e-6);
  CHECK("lp_normalization", INS(npy("lp_x")), 0, ATTRS(AI("axis", -2)), WANT(npy("lp_p2_axis1")),
        1e-5, 1e-6);
}
END_TEST

START_TEST(test_lp_normalization_errors) {
  CHECK_ERROR("lp_normalization", INS(TF(TH_DIMS(2, 3), NULL)), 0, ATTRS(AI("p", 3)),
              "p must be 1 or 2");
  CHECK_ERROR("lp_normalization", INS(TF(TH_DIMS(2, 3), NULL)), 0, ATTRS(AI("axis", 2)),
              "out of range");
  CHECK_ERROR("lp_normalization", INS(TT(IR_I64, TH_DIMS(2, 3), NULL)), 0, NOATTRS, "float");
}
END_TEST

static Suite *reduce_suite(void) {
  Suite *s = suite_create("ops_reduce");
  TCase *tc = tcase_create("reduce");
  tcase_add_test(tc, test_reduce_sum_axes_keepdims);
  tcase_add_test(tc, test_reduce_default_and_empty_axes);
  tcase_add_test(tc, test_reduce_each_op_hand);
  tcase_add_test(tc, test_reduce_log_sum_exp_stable);
  tcase_add_test(tc, test_reduce_random_npy);
  tcase_add_test(tc, test_reduce_empty_set);
  tcase_add_test(tc, test_reduce_integers);
  tcase_add_test(tc, test_reduce_bool);
  tcase_add_test(tc, test_reduce_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("axis_ops");
  tcase_add_test(tc, test_arg_reduce);
  tcase_add_test(tc, test_arg_reduce_errors);
  tcase_add_test(tc, test_cumsum);
  tcase_add_test(tc, test_cumsum_errors);
  tcase_add_test(tc, test_softmax);
  tcase_add_test(tc, test_hardmax);
  tcase_add_test(tc, test_softmax_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("norms");
  tcase_add_test(tc, test_layer_norm);
  tcase_add_test(tc, test_rms_norm);
  tcase_add_test(tc, test_layer_norm_errors);
  tcase_add_test(tc, test_batch_norm);
  tcase_add_test(tc, test_instance_norm);
  tcase_add_test(tc, test_group_norm);
  tcase_add_test(tc, test_channel_norm_errors);
  tcase_add_test(tc, test_lp_normalization);
  tcase_add_test(tc, test_lp_normalization_errors);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(reduce_suite)

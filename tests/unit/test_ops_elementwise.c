/* Unit tests for the elementwise ops (ir/ops_elementwise.c): unary ops, cast,
 * identity, binary ops with broadcasting, where. Expected values are either
 * written here by hand or read from the .npy files in tests/data/ops/elementwise, which
 * gen_elementwise.py computed with PyTorch/NumPy in float64. A few cases
 * repeat values from the ONNX conformance tests (test_mod_*, test_round,
 * test_pow_types_*, test_clip_*, test_prelu_*, test_isinf_*, test_where_*). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DATA "tests/data/ops/elementwise/"

static ir_tensor T(ir_dtype dt, int rank, const int64_t *dims, const double *vals) {
  return th_tensor(dt, rank, dims, vals);
}

/* A tensor that th_check passes as an absent optional input. */
static ir_tensor absent(void) {
  ir_tensor t;
  memset(&t, 0, sizeof t);
  t.type.rank = -1;
  return t;
}

/* Runs op on the given inputs and compares with want; releases everything. */
#define CHECKN(op, n, ins, cmask, attrs, want, rtol, atol)        \
  do {                                                            \
    ir_tensor w_ = (want);                                        \
    th_check(op, n, ins, cmask, attrs, &w_, rtol, atol);          \
    ir_tensor_release(&w_);                                       \
  } while (0)
#define CHECK1(op, x, attrs, want, rtol)                          \
  do {                                                            \
    ir_tensor i_[1] = {(x)};                                      \
    CHECKN(op, 1, i_, 0, attrs, want, rtol, 0.0);                 \
  } while (0)
#define CHECK2(op, a, b, attrs, want, rtol)                       \
  do {                                                            \
    ir_tensor i_[2] = {(a), (b)};                                 \
    CHECKN(op, 2, i_, 0, attrs, want, rtol, 0.0);                 \
  } while (0)

/* Builds a node on the inputs (types only matter), expects an error whose
 * message names the node and contains `substr`; releases the inputs. */
static void expect_error_impl(const char *op, int n_in, ir_tensor *ins,
                              void (*attrs)(ir_graph *, int), const char *substr, int line) {
  const ir_tensor *p[4];
  for (int i = 0; i < n_in; i++) p[i] = ins[i].type.rank < 0 ? NULL : &ins[i];
  th_case c = th_node(op, n_in, p, 0, 1);
  if (attrs) attrs(c.g, c.node);
  th_expect_node_error_impl(&c, substr, __FILE__, line);
  th_free(&c);
  for (int i = 0; i < n_in; i++) ir_tensor_release(&ins[i]);
}
#define EXPECT_ERROR(op, n, ins, attrs, substr) \
  expect_error_impl(op, n, ins, attrs, substr, __LINE__)

/* attribute setters (th_check takes a plain function) */
#define ATTR_F(fn, name, v) \
  static void fn(ir_graph *g, int node) { ir_set_float(g, node, name, v); }
#define ATTR_I(fn, name, v) \
  static void fn(ir_graph *g, int node) { ir_set_int(g, node, name, v); }
#define ATTR_S(fn, name, v) \
  static void fn(ir_graph *g, int node) { ir_set_string(g, node, name, v); }
#define ATTR_FF(fn, n1, v1, n2, v2)            \
  static void fn(ir_graph *g, int node) {      \
    ir_set_float(g, node, n1, v1);             \
    ir_set_float(g, node, n2, v2);             \
  }

ATTR_F(alpha_0p25, "alpha", 0.25)
ATTR_F(alpha_0p5, "alpha", 0.5)
ATTR_F(alpha_2, "alpha", 2.0)
ATTR_F(alpha_0, "alpha", 0.0)
ATTR_S(gelu_tanh, "approximate", "tanh")
ATTR_S(gelu_bad, "approximate", "fast")
ATTR_FF(shrink_b1p5_l1p5, "bias", 1.5, "lambd", 1.5)
ATTR_FF(shrink_b2p5_l0p5, "bias", 2.5, "lambd", 0.5)
ATTR_FF(clip_m1_2p5, "min", -1.0, "max", 2.5)
ATTR_FF(clip_m2_3, "min", -2.0, "max", 3.0)
ATTR_FF(clip_m1_1, "min", -1.0, "max", 1.0)
ATTR_F(clip_min0p5, "min", 0.5)
ATTR_F(clip_maxm0p25, "max", -0.25)
ATTR_I(isinf_no_neg, "detect_negative", 0)
ATTR_I(isinf_no_pos, "detect_positive", 0)
ATTR_I(fmod_1, "fmod", 1)
ATTR_I(fmod_2, "fmod", 2)
ATTR_I(to_f32, "to", IR_F32)
ATTR_I(to_f64, "to", IR_F64)
ATTR_I(to_i64, "to", IR_I64)
ATTR_I(to_i32, "to", IR_I32)
ATTR_I(to_i8, "to", IR_I8)
ATTR_I(to_u8, "to", IR_U8)
ATTR_I(to_bool, "to", IR_BOOL)
ATTR_I(to_f16, "to", IR_F16)
ATTR_I(to_bad, "to", 99)

/* ---- unary ops against PyTorch/NumPy references ------------------------------ */

typedef struct {
  const char *op, *file;
  void (*attrs)(ir_graph *, int);
} unary_case;

static const unary_case unary_cases[] = {
    {"neg", "neg", NULL},
    {"abs", "abs", NULL},
    {"exp", "exp", NULL},
    {"log", "log", NULL},
    {"sqrt", "sqrt", NULL},
    {"reciprocal", "reciprocal", NULL},
    {"sin", "sin", NULL},
    {"cos", "cos", NULL},
    {"tan", "tan", NULL},
    {"asin", "asin", NULL},
    {"acos", "acos", NULL},
    {"atan", "atan", NULL},
    {"sinh", "sinh", NULL},
    {"cosh", "cosh", NULL},
    {"asinh", "asinh", NULL},
    {"acosh", "acosh", NULL},
    {"atanh", "atanh", NULL},
    {"tanh", "tanh", NULL},
    {"sigmoid", "sigmoid", NULL},
    {"relu", "relu", NULL},
    {"leaky_relu", "leaky_relu", NULL},
    {"leaky_relu", "leaky_relu_a0.25", alpha_0p25},
    {"elu", "elu", NULL},
    {"elu", "elu_a0.5", alpha_0p5},
    {"selu", "selu", NULL},
    {"celu", "celu", NULL},
    {"celu", "celu_a2", alpha_2},
    {"gelu", "gelu", NULL},
    {"gelu", "gelu_tanh", gelu_tanh},
    {"silu", "silu", NULL},
    {"softplus", "softplus", NULL},
    {"softsign", "softsign", NULL},
    {"hard_sigmoid", "hard_sigmoid", NULL},
    {"hard_swish", "hard_swish", NULL},
    {"mish", "mish", NULL},
    {"thresholded_relu", "thresholded_relu", NULL},
    {"thresholded_relu", "thresholded_relu_a0.5", alpha_0p5},
    {"shrink", "shrink", NULL},
    {"shrink", "shrink_b1.5_l1.5", shrink_b1p5_l1p5},
    {"erf", "erf", NULL},
    {"floor", "floor", NULL},
    {"ceil", "ceil", NULL},
    {"round", "round", NULL},
    {"sign", "sign", NULL},
    {"clip", "clip_m1_2.5", clip_m1_2p5},
    {"clip", "clip_min0.5", clip_min0p5},
    {"clip", "clip_max-0.25", clip_maxm0p25},
};
#define N_UNARY_CASES ((int)(sizeof unary_cases / sizeof unary_cases[0]))

/* Each case in f64 (tight) and f32 (one rounding of the f64 reference, so up
 * to an ulp apart). The 24 inputs are viewed as [4,6]. */
START_TEST(test_unary_reference) {
  const unary_case *c = &unary_cases[_i];
  char path[256];
  snprintf(path, sizeof path, DATA "%s.npy", c->file);
  ir_tensor x = th_load_npy(DATA "x.npy"), want = th_load_npy(path);
  ck_assert_int_eq(x.type.dtype, IR_F64);
  ck_assert_int_eq(ir_type_numel(&x.type), 24);
  ck_assert_int_eq(ir_type_numel(&want.type), 24);
  const int64_t dims[2] = {4, 6};
  double xv[24], wv[24];
  for (int i = 0; i < 24; i++) {
    xv[i] = ir_tensor_get_f(&x, i);
    wv[i] = ir_tensor_get_f(&want, i);
  }
  ir_tensor_release(&x);
  ir_tensor_release(&want);
  ir_tensor ins[1] = {T(IR_F64, 2, dims, xv)};
  CHECKN(c->op, 1, ins, 0, c->attrs, T(IR_F64, 2, dims, wv), 1e-13, 1e-15);
  ins[0] = T(IR_F32, 2, dims, xv);
  CHECKN(c->op, 1, ins, 0, c->attrs, T(IR_F32, 2, dims, wv), 2.5e-7, 1e-30);
}
END_TEST

/* ---- unary ops: hand-computed values -------------------------------------------- */

START_TEST(test_unary_special_values) {
  const double inf = INFINITY, nan = NAN;
  CHECK1("exp", T(IR_F32, 1, TH_DIMS(3), TH_VALS(-inf, inf, nan)), NULL,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(0, inf, nan)), 0);
  /* stable forms: no overflow for large |x| */
  CHECK1("sigmoid", T(IR_F64, 1, TH_DIMS(5), TH_VALS(-inf, -1000, 0, 1000, inf)), NULL,
         T(IR_F64, 1, TH_DIMS(5), TH_VALS(0, 0, 0.5, 1, 1)), 0);
  CHECK1("softplus", T(IR_F64, 1, TH_DIMS(4), TH_VALS(-1000, 0, 1000, inf)), NULL,
         T(IR_F64, 1, TH_DIMS(4), TH_VALS(0, 0.69314718055994530942, 1000, inf)), 1e-15);
  CHECK1("tanh", T(IR_F32, 1, TH_DIMS(2), TH_VALS(-inf, inf)), NULL,
         T(IR_F32, 1, TH_DIMS(2), TH_VALS(-1, 1)), 0);
  /* relu keeps NaN (np.maximum(x, 0)) */
  CHECK1("relu", T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, -3)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, 0, inf, 0)), 0);
  CHECK1("floor", T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, -0.5)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, -1)), 0);
  CHECK1("ceil", T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, -0.5)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, 0)), 0);
  CHECK1("sign", T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, 0)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -1, 1, 0)), 0);
  /* round: half to even; large values are already integers */
  CHECK1("round",
         T(IR_F64, 1, TH_DIMS(8), TH_VALS(nan, -inf, inf, 4503599627370497.0, 0.49999999999999994,
                                          -0.5, 3.5, -3.5)),
         NULL,
         T(IR_F64, 1, TH_DIMS(8), TH_VALS(nan, -inf, inf, 4503599627370497.0, 0, -0.0, 4, -4)),
         0);
  /* ONNX test_round */
  CHECK1("round",
         T(IR_F32, 1, TH_DIMS(15),
           TH_VALS(0.1, 0.5, 0.9, 1.2, 1.5, 1.8, 2.3, 2.5, 2.7, -1.1, -1.5, -1.9, -2.2, -2.5, -2.8)),
         NULL,
         T(IR_F32, 1, TH_DIMS(15), TH_VALS(0, 0, 1, 1, 2, 2, 2, 2, 3, -1, -2, -2, -2, -2, -3)), 0);
  /* clip passes NaN through; ONNX test_clip_min_greater_than_max: all max */
  CHECK1("clip", T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -inf, inf, 0.5)), clip_m1_1,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(nan, -1, 1, 0.5)), 0);
}
END_TEST

ATTR_FF(clip_m2_1, "min", 2.0, "max", 1.0)

START_TEST(test_unary_attrs_and_rank0) {
  /* ONNX test_clip_min_greater_than_max */
  CHECK1("clip", T(IR_F32, 1, TH_DIMS(3), TH_VALS(-2, 0, 6)), clip_m2_1,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(1, 1, 1)), 0);
  /* ONNX test_shrink_soft */
  CHECK1("shrink", T(IR_F32, 1, TH_DIMS(5), TH_VALS(-2, -1, 0, 1, 2)), shrink_b1p5_l1p5,
         T(IR_F32, 1, TH_DIMS(5), TH_VALS(-0.5, 0, 0, 0, 0.5)), 0);
  /* rank 0 and an empty tensor */
  CHECK1("neg", T(IR_F32, 0, NULL, TH_VALS(2.5)), NULL, T(IR_F32, 0, NULL, TH_VALS(-2.5)), 0);
  CHECK1("exp", T(IR_F32, 2, TH_DIMS(0, 3), NULL), NULL, T(IR_F32, 2, TH_DIMS(0, 3), NULL), 0);
  /* hand-computed activations with non-default attributes */
  CHECK1("hard_sigmoid", T(IR_F32, 1, TH_DIMS(3), TH_VALS(-4, 1, 4)), alpha_0p25,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(0, 0.75, 1)), 0);
  CHECK1("leaky_relu", T(IR_F64, 1, TH_DIMS(3), TH_VALS(-4, 0, 4)), alpha_0p5,
         T(IR_F64, 1, TH_DIMS(3), TH_VALS(-2, 0, 4)), 0);
  CHECK1("hard_swish", T(IR_F32, 1, TH_DIMS(4), TH_VALS(-3, 0, 1.5, 3)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(0, 0, 1.125, 3)), 0);
  CHECK1("softsign", T(IR_F32, 1, TH_DIMS(3), TH_VALS(-3, 0, 1)), NULL,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(-0.75, 0, 0.5)), 0);
}
END_TEST

START_TEST(test_unary_integers) {
  /* neg/abs wrap like two's complement (NumPy) */
  CHECK1("neg", T(IR_I32, 1, TH_DIMS(4), TH_VALS(-3, 0, 5, INT32_MIN)), NULL,
         T(IR_I32, 1, TH_DIMS(4), TH_VALS(3, 0, -5, INT32_MIN)), 0);
  CHECK1("abs", T(IR_I8, 1, TH_DIMS(4), TH_VALS(-128, -5, 0, 7)), NULL,
         T(IR_I8, 1, TH_DIMS(4), TH_VALS(-128, 5, 0, 7)), 0);
  CHECK1("abs", T(IR_U8, 1, TH_DIMS(2), TH_VALS(0, 200)), NULL,
         T(IR_U8, 1, TH_DIMS(2), TH_VALS(0, 200)), 0);
  CHECK1("relu", T(IR_I64, 2, TH_DIMS(1, 3), TH_VALS(-5, 0, 7)), NULL,
         T(IR_I64, 2, TH_DIMS(1, 3), TH_VALS(0, 0, 7)), 0);
  CHECK1("sign", T(IR_I16, 1, TH_DIMS(3), TH_VALS(-7, 0, 9)), NULL,
         T(IR_I16, 1, TH_DIMS(3), TH_VALS(-1, 0, 1)), 0);
  CHECK1("sign", T(IR_U8, 1, TH_DIMS(2), TH_VALS(0, 9)), NULL,
         T(IR_U8, 1, TH_DIMS(2), TH_VALS(0, 1)), 0);
  CHECK1("clip", T(IR_I32, 1, TH_DIMS(5), TH_VALS(-5, -2, 0, 3, 9)), clip_m2_3,
         T(IR_I32, 1, TH_DIMS(5), TH_VALS(-2, -2, 0, 3, 3)), 0);
  /* integer clip with a fractional bound: x >= 0.5 means x >= 1 */
  CHECK1("clip", T(IR_I64, 1, TH_DIMS(3), TH_VALS(-1, 0, 2)), clip_min0p5,
         T(IR_I64, 1, TH_DIMS(3), TH_VALS(1, 1, 2)), 0);
  /* shrink on integers: lambd and bias cast to the dtype first (ONNX
   * CastLike), so lambd 0.5 -> 0 and bias 2.5 -> 2 (computing in double and
   * truncating would give 0 for -3 and 3) */
  CHECK1("shrink", T(IR_I32, 1, TH_DIMS(5), TH_VALS(-3, -1, 0, 1, 3)), shrink_b2p5_l0p5,
         T(IR_I32, 1, TH_DIMS(5), TH_VALS(-1, 1, 0, -1, 1)), 0);
  /* erf of integers truncates toward zero */
  CHECK1("erf", T(IR_I32, 1, TH_DIMS(5), TH_VALS(-10, -1, 0, 1, 10)), NULL,
         T(IR_I32, 1, TH_DIMS(5), TH_VALS(-1, 0, 0, 0, 1)), 0);
}
END_TEST

/* clip bounds as (constant) inputs 1 and 2, turned into attributes by
 * infer-shapes; an absent min leaves that side open. */
START_TEST(test_clip_operands) {
  /* ONNX test_clip_default_int8_min: x int8, min scalar 0 */
  ir_tensor ins[3] = {T(IR_I8, 1, TH_DIMS(4), TH_VALS(-128, -1, 0, 127)),
                      T(IR_I8, 0, NULL, TH_VALS(0))};
  CHECKN("clip", 2, ins, 0x2, NULL, T(IR_I8, 1, TH_DIMS(4), TH_VALS(0, 0, 0, 127)), 0, 0);
  ins[0] = T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(-3, 0.5, 2, 7));
  ins[1] = absent();
  ins[2] = T(IR_F32, 0, NULL, TH_VALS(1));
  CHECKN("clip", 3, ins, 0x4, NULL, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(-3, 0.5, 1, 1)), 0, 0);
  ins[0] = T(IR_F32, 1, TH_DIMS(3), TH_VALS(-3, 0.5, 7));
  ins[1] = T(IR_F32, 0, NULL, TH_VALS(-1));
  ins[2] = T(IR_F32, 0, NULL, TH_VALS(1));
  CHECKN("clip", 3, ins, 0x6, NULL, T(IR_F32, 1, TH_DIMS(3), TH_VALS(-1, 0.5, 1)), 0, 0);
}
END_TEST

START_TEST(test_not_isnan_isinf) {
  const double inf = INFINITY, nan = NAN;
  CHECK1("not", T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(1, 0, 0, 1)), NULL,
         T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 1, 0)), 0);
  CHECK1("isnan", T(IR_F32, 1, TH_DIMS(5), TH_VALS(1, nan, inf, -inf, -0.0)), NULL,
         T(IR_BOOL, 1, TH_DIMS(5), TH_VALS(0, 1, 0, 0, 0)), 0);
  CHECK1("isnan", T(IR_F64, 0, NULL, TH_VALS(nan)), NULL, T(IR_BOOL, 0, NULL, TH_VALS(1)), 0);
  /* ONNX test_isinf, test_isinf_negative, test_isinf_positive */
  CHECK1("isinf", T(IR_F32, 1, TH_DIMS(6), TH_VALS(-1.7, nan, inf, -3.6, -inf, inf)), NULL,
         T(IR_BOOL, 1, TH_DIMS(6), TH_VALS(0, 0, 1, 0, 1, 1)), 0);
  CHECK1("isinf", T(IR_F32, 1, TH_DIMS(6), TH_VALS(-1.7, nan, inf, -3.6, -inf, inf)),
         isinf_no_pos, T(IR_BOOL, 1, TH_DIMS(6), TH_VALS(0, 0, 0, 0, 1, 0)), 0);
  CHECK1("isinf", T(IR_F64, 1, TH_DIMS(6), TH_VALS(-1.7, nan, inf, -3.6, -inf, inf)),
         isinf_no_neg, T(IR_BOOL, 1, TH_DIMS(6), TH_VALS(0, 0, 1, 0, 0, 1)), 0);
}
END_TEST

START_TEST(test_unary_errors) {
  ir_tensor a[1];
  a[0] = T(IR_I32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("exp", 1, a, NULL, "dtype i32");
  a[0] = T(IR_U8, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("neg", 1, a, NULL, "dtype u8");
  a[0] = T(IR_BOOL, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("relu", 1, a, NULL, "dtype bool");
  a[0] = T(IR_I64, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("leaky_relu", 1, a, NULL, "dtype i64");
  a[0] = T(IR_I64, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("round", 1, a, NULL, "dtype i64");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("not", 1, a, NULL, "dtype f32");
  a[0] = T(IR_I32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("isnan", 1, a, NULL, "dtype i32");
  a[0] = T(IR_BOOL, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("isinf", 1, a, NULL, "dtype bool");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("gelu", 1, a, gelu_bad, "approximate");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("celu", 1, a, alpha_0, "alpha");
}
END_TEST

/* ---- cast -------------------------------------------------------------------- */

START_TEST(test_cast) {
  const double inf = INFINITY, nan = NAN;
#define CASTIN TH_VALS(-2.7, -0.5, 0.5, 2.7, 3e9, -3e9, nan, inf, 0)
  /* float -> int: truncate toward zero, saturate, NaN -> 0 */
  CHECK1("cast", T(IR_F32, 1, TH_DIMS(9), CASTIN), to_i32,
         T(IR_I32, 1, TH_DIMS(9), TH_VALS(-2, 0, 0, 2, INT32_MAX, INT32_MIN, 0, INT32_MAX, 0)),
         0);
  CHECK1("cast", T(IR_F64, 1, TH_DIMS(9), CASTIN), to_u8,
         T(IR_U8, 1, TH_DIMS(9), TH_VALS(0, 0, 0, 2, 255, 0, 0, 255, 0)), 0);
  ir_tensor w64 = T(IR_I64, 1, TH_DIMS(9), TH_VALS(-2, 0, 0, 2, 3e9, -3e9, 0, 0, 0));
  ir_tensor_set_i(&w64, 7, INT64_MAX);
  CHECK1("cast", T(IR_F32, 1, TH_DIMS(9), CASTIN), to_i64, w64, 0);
  /* anything -> bool is != 0, NaN -> true */
  CHECK1("cast", T(IR_F32, 1, TH_DIMS(9), CASTIN), to_bool,
         T(IR_BOOL, 1, TH_DIMS(9), TH_VALS(1, 1, 1, 1, 1, 1, 1, 1, 0)), 0);
  CHECK1("cast", T(IR_I8, 1, TH_DIMS(3), TH_VALS(-1, 0, 2)), to_bool,
         T(IR_BOOL, 1, TH_DIMS(3), TH_VALS(1, 0, 1)), 0);
  /* bool -> numbers 0/1 */
  CHECK1("cast", T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(1, 0)), to_f32,
         T(IR_F32, 1, TH_DIMS(2), TH_VALS(1, 0)), 0);
  CHECK1("cast", T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(1, 0)), to_i64,
         T(IR_I64, 1, TH_DIMS(2), TH_VALS(1, 0)), 0);
  /* int -> narrower int wraps */
  CHECK1("cast", T(IR_I64, 1, TH_DIMS(4), TH_VALS(300, -1, 128, 1099511627781.0)), to_i8,
         T(IR_I8, 1, TH_DIMS(4), TH_VALS(44, -1, -128, 5)), 0);
  CHECK1("cast", T(IR_I64, 1, TH_DIMS(4), TH_VALS(300, -1, 128, 1099511627781.0)), to_u8,
         T(IR_U8, 1, TH_DIMS(4), TH_VALS(44, 255, 128, 5)), 0);
  CHECK1("cast", T(IR_U8, 1, TH_DIMS(2), TH_VALS(255, 7)), to_i32,
         T(IR_I32, 1, TH_DIMS(2), TH_VALS(255, 7)), 0);
  /* f64 -> f32 rounds to nearest; f32 -> f64 is exact */
  CHECK1("cast", T(IR_F64, 1, TH_DIMS(2), TH_VALS(0.1, 1e300)), to_f32,
         T(IR_F32, 1, TH_DIMS(2), TH_VALS(0.1, inf)), 0);
  CHECK1("cast", T(IR_F32, 0, NULL, TH_VALS(0.1)), to_f64,
         T(IR_F64, 0, NULL, TH_VALS((double)0.1f)), 0);
#undef CASTIN
}
END_TEST

/* int64 -> f32 rounds once: 2^54 + 2^30 + 1 is just above the midpoint of
 * two floats, but via double it would land exactly on it and round to even. */
START_TEST(test_cast_i64_to_f32_single_rounding) {
  ir_tensor x = T(IR_I64, 1, TH_DIMS(2), NULL);
  ir_tensor_set_i(&x, 0, (INT64_C(1) << 54) + (INT64_C(1) << 30) + 1);
  ir_tensor_set_i(&x, 1, INT64_MIN);
  CHECK1("cast", x, to_f32,
         T(IR_F32, 1, TH_DIMS(2), TH_VALS(18014400656965632.0, -9223372036854775808.0)), 0);
}
END_TEST

START_TEST(test_cast_errors) {
  ir_tensor a[1];
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("cast", 1, a, to_f16, "not supported");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("cast", 1, a, to_bad, "'to'");
}
END_TEST

/* ---- identity ------------------------------------------------------------------ */

START_TEST(test_identity) {
  CHECK1("identity", T(IR_I64, 2, TH_DIMS(2, 3), TH_VALS(1, -2, 3, 4, 5, 1e15)), NULL,
         T(IR_I64, 2, TH_DIMS(2, 3), TH_VALS(1, -2, 3, 4, 5, 1e15)), 0);
  CHECK1("identity", T(IR_BOOL, 0, NULL, TH_VALS(1)), NULL, T(IR_BOOL, 0, NULL, TH_VALS(1)), 0);
  CHECK1("identity", T(IR_F32, 1, TH_DIMS(0), NULL), NULL, T(IR_F32, 1, TH_DIMS(0), NULL), 0);
  CHECK1("dropout", T(IR_F32, 1, TH_DIMS(3), TH_VALS(1.5, NAN, -2)), NULL,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(1.5, NAN, -2)), 0);
}
END_TEST

/* eval_identity copies raw bytes into an output of any shape (reshape). */
START_TEST(test_eval_identity_reshape) {
  ir_tensor x = T(IR_F32, 2, TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6));
  ir_tensor y = T(IR_F32, 3, TH_DIMS(3, 1, 2), NULL);
  ir_graph *g = ir_graph_new("g");
  int xi = ir_add_input(g, "x", &x.type);
  int ni = ir_node_new(g, IR_OP_IDENTITY, "n", &xi, 1, 1, NULL);
  const ir_tensor *in[1] = {&x};
  ir_tensor *out[1] = {&y};
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_eq(ir_eval_node(g, &g->nodes[ni], in, out, &d), 0);
  for (int i = 0; i < 6; i++) ck_assert(ir_tensor_get_f(&y, i) == i + 1);
  ir_graph_free(g);
  ir_tensor_release(&x);
  ir_tensor_release(&y);
}
END_TEST

/* ---- binary ops ------------------------------------------------------------------ */

/* Broadcasting against a result computed here from explicit indices:
 * a [3,1,5] - b [4,1] -> [3,4,5]; b [5] * a [2,3,1] -> [2,3,5];
 * [7,1,3] + [1,5,1] -> [7,5,3] (odd sizes, both sides broadcast). */
START_TEST(test_broadcast_shapes) {
  double a[15], b[4], want[60];
  for (int i = 0; i < 15; i++) a[i] = i + 1;
  for (int j = 0; j < 4; j++) b[j] = 100.0 * (j + 1);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 5; k++) want[(i * 4 + j) * 5 + k] = a[i * 5 + k] - b[j];
  CHECK2("sub", T(IR_F32, 3, TH_DIMS(3, 1, 5), a), T(IR_F32, 2, TH_DIMS(4, 1), b), NULL,
         T(IR_F32, 3, TH_DIMS(3, 4, 5), want), 0);
  CHECK2("sub", T(IR_I32, 3, TH_DIMS(3, 1, 5), a), T(IR_I32, 2, TH_DIMS(4, 1), b), NULL,
         T(IR_I32, 3, TH_DIMS(3, 4, 5), want), 0);

  double v5[5] = {1, -2, 3, -4, 5}, a6[6] = {10, 20, 30, 40, 50, 60}, w30[30];
  for (int i = 0; i < 6; i++)
    for (int k = 0; k < 5; k++) w30[i * 5 + k] = v5[k] * a6[i];
  CHECK2("mul", T(IR_F64, 1, TH_DIMS(5), v5), T(IR_F64, 3, TH_DIMS(2, 3, 1), a6), NULL,
         T(IR_F64, 3, TH_DIMS(2, 3, 5), w30), 0);

  double p[21], q[5], w105[105];
  for (int i = 0; i < 21; i++) p[i] = i * 0.5;
  for (int j = 0; j < 5; j++) q[j] = -1000.0 * j;
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 5; j++)
      for (int k = 0; k < 3; k++) w105[(i * 5 + j) * 3 + k] = p[i * 3 + k] + q[j];
  CHECK2("add", T(IR_F32, 3, TH_DIMS(7, 1, 3), p), T(IR_F32, 3, TH_DIMS(1, 5, 1), q), NULL,
         T(IR_F32, 3, TH_DIMS(7, 5, 3), w105), 0);

  /* rank 0 with rank 0, rank 0 with a vector, size-0 dims */
  CHECK2("add", T(IR_F32, 0, NULL, TH_VALS(1.5)), T(IR_F32, 0, NULL, TH_VALS(2)), NULL,
         T(IR_F32, 0, NULL, TH_VALS(3.5)), 0);
  CHECK2("div", T(IR_F32, 0, NULL, TH_VALS(1)), T(IR_F32, 1, TH_DIMS(3), TH_VALS(2, 4, -8)),
         NULL, T(IR_F32, 1, TH_DIMS(3), TH_VALS(0.5, 0.25, -0.125)), 0);
  CHECK2("add", T(IR_F32, 2, TH_DIMS(0, 3), NULL), T(IR_F32, 2, TH_DIMS(1, 3), TH_VALS(1, 2, 3)),
         NULL, T(IR_F32, 2, TH_DIMS(0, 3), NULL), 0);
  /* a constant operand (as weights are) */
  ir_tensor ins[2] = {T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)),
                      T(IR_F32, 1, TH_DIMS(2), TH_VALS(10, 20))};
  CHECKN("add", 2, ins, 0x2, NULL, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(11, 22, 13, 24)), 0, 0);
}
END_TEST

START_TEST(test_arith_integers) {
  /* wrapping add/sub/mul */
  CHECK2("sub", T(IR_I32, 1, TH_DIMS(2), TH_VALS(INT32_MAX, 5)),
         T(IR_I32, 1, TH_DIMS(2), TH_VALS(-1, 7)), NULL,
         T(IR_I32, 1, TH_DIMS(2), TH_VALS(INT32_MIN, -2)), 0);
  CHECK2("mul", T(IR_U8, 1, TH_DIMS(2), TH_VALS(16, 3)), T(IR_U8, 1, TH_DIMS(2), TH_VALS(17, 5)),
         NULL, T(IR_U8, 1, TH_DIMS(2), TH_VALS(16, 15)), 0);
  CHECK2("add", T(IR_I8, 1, TH_DIMS(2), TH_VALS(127, -128)), T(IR_I8, 0, NULL, TH_VALS(1)), NULL,
         T(IR_I8, 1, TH_DIMS(2), TH_VALS(-128, -127)), 0);
  /* division truncates toward zero; by zero gives 0; INT32_MIN / -1 wraps */
  CHECK2("div", T(IR_I32, 1, TH_DIMS(6), TH_VALS(7, -7, 7, -7, 5, INT32_MIN)),
         T(IR_I32, 1, TH_DIMS(6), TH_VALS(2, 2, -2, -2, 0, -1)), NULL,
         T(IR_I32, 1, TH_DIMS(6), TH_VALS(3, -3, -3, 3, 0, INT32_MIN)), 0);
  ir_tensor a = T(IR_I64, 1, TH_DIMS(3), NULL), b = T(IR_I64, 1, TH_DIMS(3), NULL);
  ir_tensor w = T(IR_I64, 1, TH_DIMS(3), NULL);
  ir_tensor_set_i(&a, 0, INT64_MIN), ir_tensor_set_i(&b, 0, -1), ir_tensor_set_i(&w, 0, INT64_MIN);
  ir_tensor_set_i(&a, 1, INT64_MAX), ir_tensor_set_i(&b, 1, 0), ir_tensor_set_i(&w, 1, 0);
  /* exact in int64, where a double would lose the low bits */
  ir_tensor_set_i(&a, 2, INT64_MAX), ir_tensor_set_i(&b, 2, 3),
      ir_tensor_set_i(&w, 2, INT64_MAX / 3);
  CHECK2("div", a, b, NULL, w, 0);
  /* floats: IEEE division by zero */
  CHECK2("div", T(IR_F32, 1, TH_DIMS(3), TH_VALS(1, -1, 0)), T(IR_F32, 0, NULL, TH_VALS(0)), NULL,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(INFINITY, -INFINITY, NAN)), 0);
}
END_TEST

START_TEST(test_pow) {
  CHECK2("pow", T(IR_F32, 1, TH_DIMS(4), TH_VALS(2, 4, -8, 2)),
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(3, 0.5, 0.5, -1)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(8, 2, NAN, 0.5)), 0);
  /* ONNX test_pow_bcast_scalar: [1,2,3] ^ 2 */
  CHECK2("pow", T(IR_F32, 1, TH_DIMS(3), TH_VALS(1, 2, 3)), T(IR_F32, 0, NULL, TH_VALS(2)), NULL,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(1, 4, 9)), 0);
  /* integer ^ integer, exact with wrapping; negative exponents truncate */
  CHECK2("pow", T(IR_I32, 1, TH_DIMS(7), TH_VALS(2, -3, 5, 2, 0, -1, 1)),
         T(IR_I32, 1, TH_DIMS(7), TH_VALS(10, 3, 0, -1, 0, -3, -5)), NULL,
         T(IR_I32, 1, TH_DIMS(7), TH_VALS(1024, -27, 1, 0, 1, -1, 1)), 0);
  /* 2^63 and 2^64 wrap; 3^41 mod 2^64 (computed with Python integers) */
  ir_tensor pw = T(IR_I64, 1, TH_DIMS(4), TH_VALS(-9223372036854775808.0, 0, 3486784401.0, 0));
  ir_tensor_set_i(&pw, 3, INT64_C(-420491770248316829));
  CHECK2("pow", T(IR_I64, 1, TH_DIMS(4), TH_VALS(2, 2, 3, 3)),
         T(IR_I64, 1, TH_DIMS(4), TH_VALS(63, 64, 20, 41)), NULL, pw, 0);
  /* mixed dtypes (ONNX test_pow_types_*): the result has the base's dtype */
  CHECK2("pow", T(IR_I32, 1, TH_DIMS(3), TH_VALS(1, 2, 3)),
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(4, 5, 6)), NULL,
         T(IR_I32, 1, TH_DIMS(3), TH_VALS(1, 32, 729)), 0);
  CHECK2("pow", T(IR_F32, 1, TH_DIMS(3), TH_VALS(1, 2, 3)),
         T(IR_I64, 1, TH_DIMS(3), TH_VALS(4, 5, 6)), NULL,
         T(IR_F32, 1, TH_DIMS(3), TH_VALS(1, 32, 729)), 0);
  CHECK2("pow", T(IR_I64, 1, TH_DIMS(2), TH_VALS(2, 10)), T(IR_F32, 0, NULL, TH_VALS(0.5)), NULL,
         T(IR_I64, 1, TH_DIMS(2), TH_VALS(1, 3)), 0);
}
END_TEST

START_TEST(test_max_min) {
  const double nan = NAN, inf = INFINITY;
  CHECK2("max", T(IR_F32, 1, TH_DIMS(4), TH_VALS(1, nan, 3, -inf)),
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(2, 0, nan, -5)), NULL,
         T(IR_F32, 1, TH_DIMS(4), TH_VALS(2, nan, nan, -5)), 0);
  CHECK2("min", T(IR_F64, 1, TH_DIMS(4), TH_VALS(1, nan, 3, -inf)),
         T(IR_F64, 1, TH_DIMS(4), TH_VALS(2, 0, nan, -5)), NULL,
         T(IR_F64, 1, TH_DIMS(4), TH_VALS(1, nan, nan, -inf)), 0);
  CHECK2("max", T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(-5, 9, 0, 3)),
         T(IR_I64, 1, TH_DIMS(2), TH_VALS(1, 4)), NULL,
         T(IR_I64, 2, TH_DIMS(2, 2), TH_VALS(1, 9, 1, 4)), 0);
  CHECK2("min", T(IR_U8, 1, TH_DIMS(3), TH_VALS(200, 1, 7)), T(IR_U8, 0, NULL, TH_VALS(100)), NULL,
         T(IR_U8, 1, TH_DIMS(3), TH_VALS(100, 1, 7)), 0);
}
END_TEST

START_TEST(test_mod) {
  /* ONNX test_mod_mixed_sign_int64 (fmod=0: sign of the divisor) and
   * test_mod_int64_fmod (fmod=1: sign of the dividend) */
#define MA TH_VALS(-4, 7, 5, 4, -7, 8)
#define MB TH_VALS(2, -3, 8, -2, 3, 5)
  CHECK2("mod", T(IR_I64, 1, TH_DIMS(6), MA), T(IR_I64, 1, TH_DIMS(6), MB), NULL,
         T(IR_I64, 1, TH_DIMS(6), TH_VALS(0, -2, 5, 0, 2, 3)), 0);
  CHECK2("mod", T(IR_I8, 1, TH_DIMS(6), MA), T(IR_I8, 1, TH_DIMS(6), MB), NULL,
         T(IR_I8, 1, TH_DIMS(6), TH_VALS(0, -2, 5, 0, 2, 3)), 0);
  CHECK2("mod", T(IR_I64, 1, TH_DIMS(6), MA), T(IR_I64, 1, TH_DIMS(6), MB), fmod_1,
         T(IR_I64, 1, TH_DIMS(6), TH_VALS(0, 1, 5, 0, -1, 3)), 0);
  /* ONNX test_mod_mixed_sign_float32 (fmod=1) */
  CHECK2("mod", T(IR_F32, 1, TH_DIMS(6), TH_VALS(-4.3, 7.2, 5, 4.3, -7.2, 8)),
         T(IR_F32, 1, TH_DIMS(6), TH_VALS(2.1, -3.4, 8, -2.1, 3.4, 5)), fmod_1,
         T(IR_F32, 1, TH_DIMS(6),
           TH_VALS(-0.10000038, 0.39999962, 5, 0.10000038, -0.39999962, 3)),
         1e-6);
  /* ONNX test_mod_uint8 */
  CHECK2("mod", T(IR_U8, 1, TH_DIMS(3), TH_VALS(4, 7, 5)), T(IR_U8, 1, TH_DIMS(3), TH_VALS(2, 3, 8)),
         NULL, T(IR_U8, 1, TH_DIMS(3), TH_VALS(0, 1, 5)), 0);
  /* by zero gives 0; INT64_MIN % -1 is 0 (no trap); broadcast divisor */
  ir_tensor a = T(IR_I64, 1, TH_DIMS(3), TH_VALS(5, -5, 0));
  ir_tensor_set_i(&a, 2, INT64_MIN);
  CHECK2("mod", a, T(IR_I64, 1, TH_DIMS(1), TH_VALS(0)), NULL,
         T(IR_I64, 1, TH_DIMS(3), TH_VALS(0, 0, 0)), 0);
  a = T(IR_I64, 1, TH_DIMS(3), TH_VALS(5, -5, 0));
  ir_tensor_set_i(&a, 2, INT64_MIN);
  CHECK2("mod", a, T(IR_I64, 0, NULL, TH_VALS(-1)), fmod_1,
         T(IR_I64, 1, TH_DIMS(3), TH_VALS(0, 0, 0)), 0);
  CHECK2("mod", T(IR_F64, 1, TH_DIMS(3), TH_VALS(5, INFINITY, 5)),
         T(IR_F64, 1, TH_DIMS(3), TH_VALS(0, 2, INFINITY)), fmod_1,
         T(IR_F64, 1, TH_DIMS(3), TH_VALS(NAN, NAN, 5)), 0);
#undef MA
#undef MB
}
END_TEST

START_TEST(test_prelu) {
  /* slope per channel [3,1] against x [2,3,2] */
  CHECK2("prelu", T(IR_F32, 3, TH_DIMS(2, 3, 2), TH_VALS(-1, 1, -2, 2, -4, 4, 1, -1, 2, -2, 4, -4)),
         T(IR_F32, 2, TH_DIMS(3, 1), TH_VALS(0.5, 0.25, -1)), NULL,
         T(IR_F32, 3, TH_DIMS(2, 3, 2),
           TH_VALS(-0.5, 1, -0.5, 2, 4, 4, 1, -0.5, 2, -0.5, 4, 4)),
         0);
  /* ONNX test_prelu_broadcast-style slope [5] against x [2,5] (first row values) */
  CHECK2("prelu", T(IR_F32, 2, TH_DIMS(2, 5), TH_VALS(1.5, -2, 0, -1, -4, -1, 2, -3, 4, 0)),
         T(IR_F32, 1, TH_DIMS(5), TH_VALS(-0.5, 0.25, 3, -1, 0.125)), NULL,
         T(IR_F32, 2, TH_DIMS(2, 5), TH_VALS(1.5, -0.5, 0, 1, -0.5, 0.5, 2, -9, 4, 0)), 0);
  CHECK2("prelu", T(IR_I32, 1, TH_DIMS(3), TH_VALS(-4, 5, 0)), T(IR_I32, 0, NULL, TH_VALS(3)), NULL,
         T(IR_I32, 1, TH_DIMS(3), TH_VALS(-12, 5, 0)), 0);
}
END_TEST

START_TEST(test_compare) {
  const double nan = NAN;
#define CA TH_VALS(1, nan, 2, 3, -1)
#define CB TH_VALS(1, nan, 3, 2, -1)
  CHECK2("equal", T(IR_F32, 1, TH_DIMS(5), CA), T(IR_F32, 1, TH_DIMS(5), CB), NULL,
         T(IR_BOOL, 1, TH_DIMS(5), TH_VALS(1, 0, 0, 0, 1)), 0);
  CHECK2("less", T(IR_F32, 1, TH_DIMS(5), CA), T(IR_F32, 1, TH_DIMS(5), CB), NULL,
         T(IR_BOOL, 1, TH_DIMS(5), TH_VALS(0, 0, 1, 0, 0)), 0);
  CHECK2("less_equal", T(IR_F64, 1, TH_DIMS(5), CA), T(IR_F64, 1, TH_DIMS(5), CB), NULL,
         T(IR_BOOL, 1, TH_DIMS(5), TH_VALS(1, 0, 1, 0, 1)), 0);
  CHECK2("greater", T(IR_F32, 1, TH_DIMS(5), CA), T(IR_F32, 1, TH_DIMS(5), CB), NULL,
         T(IR_BOOL, 1, TH_DIMS(5), TH_VALS(0, 0, 0, 1, 0)), 0);
  CHECK2("greater_equal", T(IR_F32, 1, TH_DIMS(5), CA), T(IR_F32, 1, TH_DIMS(5), CB), NULL,
         T(IR_BOOL, 1, TH_DIMS(5), TH_VALS(1, 0, 0, 1, 1)), 0);
#undef CA
#undef CB
  /* broadcast against a scalar; integers and bools */
  CHECK2("greater", T(IR_I32, 2, TH_DIMS(2, 2), TH_VALS(-1, 0, 1, 2)), T(IR_I32, 0, NULL, TH_VALS(0)),
         NULL, T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(0, 0, 1, 1)), 0);
  CHECK2("equal", T(IR_BOOL, 2, TH_DIMS(2, 1), TH_VALS(1, 0)), T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(1, 0)),
         NULL, T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(1, 0, 0, 1)), 0);
  /* int64 compared exactly (2^53 + 1 vs 2^53 are equal as doubles) */
  ir_tensor a = T(IR_I64, 1, TH_DIMS(1), NULL), b = T(IR_I64, 1, TH_DIMS(1), NULL);
  ir_tensor_set_i(&a, 0, (INT64_C(1) << 53) + 1);
  ir_tensor_set_i(&b, 0, INT64_C(1) << 53);
  CHECK2("greater", a, b, NULL, T(IR_BOOL, 1, TH_DIMS(1), TH_VALS(1)), 0);
}
END_TEST

START_TEST(test_logical) {
  /* truth tables through broadcasting: a [2,1] against b [2] */
  CHECK2("and", T(IR_BOOL, 2, TH_DIMS(2, 1), TH_VALS(0, 1)), T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(0, 1)),
         NULL, T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(0, 0, 0, 1)), 0);
  CHECK2("or", T(IR_BOOL, 2, TH_DIMS(2, 1), TH_VALS(0, 1)), T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(0, 1)),
         NULL, T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 1, 1)), 0);
  CHECK2("xor", T(IR_BOOL, 2, TH_DIMS(2, 1), TH_VALS(0, 1)), T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(0, 1)),
         NULL, T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(0, 1, 1, 0)), 0);
}
END_TEST

START_TEST(test_binary_errors) {
  ir_tensor a[2];
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL), a[1] = T(IR_I32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("add", 2, a, NULL, "same dtype");
  a[0] = T(IR_F32, 2, TH_DIMS(2, 3), NULL), a[1] = T(IR_F32, 1, TH_DIMS(4), NULL);
  EXPECT_ERROR("mul", 2, a, NULL, "do not broadcast");
  a[0] = T(IR_F32, 2, TH_DIMS(2, 3), NULL), a[1] = T(IR_F32, 2, TH_DIMS(3, 3), NULL);
  EXPECT_ERROR("equal", 2, a, NULL, "do not broadcast");
  a[0] = T(IR_BOOL, 1, TH_DIMS(2), NULL), a[1] = T(IR_BOOL, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("add", 2, a, NULL, "dtype bool");
  a[0] = T(IR_BOOL, 1, TH_DIMS(2), NULL), a[1] = T(IR_BOOL, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("less", 2, a, NULL, "dtype bool");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL), a[1] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("and", 2, a, NULL, "dtype f32");
  a[0] = T(IR_U8, 1, TH_DIMS(2), NULL), a[1] = T(IR_U8, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("pow", 2, a, NULL, "dtype u8");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL), a[1] = T(IR_BOOL, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("pow", 2, a, NULL, "dtype bool");
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL), a[1] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("mod", 2, a, NULL, "fmod=1");
  a[0] = T(IR_I32, 1, TH_DIMS(2), NULL), a[1] = T(IR_I32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("mod", 2, a, fmod_2, "fmod");
  /* prelu: the slope must broadcast to x without growing it */
  a[0] = T(IR_F32, 1, TH_DIMS(3), NULL), a[1] = T(IR_F32, 2, TH_DIMS(2, 3), NULL);
  EXPECT_ERROR("prelu", 2, a, NULL, "does not broadcast");
  a[0] = T(IR_F32, 2, TH_DIMS(2, 3), NULL), a[1] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("prelu", 2, a, NULL, "does not broadcast");
  a[0] = T(IR_F32, 1, TH_DIMS(3), NULL), a[1] = T(IR_F64, 1, TH_DIMS(3), NULL);
  EXPECT_ERROR("prelu", 2, a, NULL, "same dtype");
}
END_TEST

/* ---- where ------------------------------------------------------------------------ */

START_TEST(test_where) {
  /* ONNX test_where_example */
  ir_tensor ins[3] = {T(IR_BOOL, 2, TH_DIMS(2, 2), TH_VALS(1, 0, 1, 1)),
                      T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1, 2, 3, 4)),
                      T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(9, 8, 7, 6))};
  CHECKN("where", 3, ins, 0, NULL, T(IR_F32, 2, TH_DIMS(2, 2), TH_VALS(1, 8, 3, 4)), 0, 0);
  /* three-way broadcast: cond [2,1,1], x [3,1], y [5] -> [2,3,5] */
  double c[2] = {1, 0}, x[3] = {10, 20, 30}, y[5] = {-1, -2, -3, -4, -5}, w[30];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 5; k++) w[(i * 3 + j) * 5 + k] = c[i] ? x[j] : y[k];
  ins[0] = T(IR_BOOL, 3, TH_DIMS(2, 1, 1), c);
  ins[1] = T(IR_I64, 2, TH_DIMS(3, 1), x);
  ins[2] = T(IR_I64, 1, TH_DIMS(5), y);
  CHECKN("where", 3, ins, 0, NULL, T(IR_I64, 3, TH_DIMS(2, 3, 5), w), 0, 0);
  /* rank-0 condition and y; exact int64 */
  ins[0] = T(IR_BOOL, 0, NULL, TH_VALS(0));
  ins[1] = T(IR_I64, 1, TH_DIMS(2), TH_VALS(1, 2));
  ins[2] = T(IR_I64, 0, NULL, NULL);
  ir_tensor_set_i(&ins[2], 0, INT64_MAX);
  ir_tensor want = T(IR_I64, 1, TH_DIMS(2), NULL);
  ir_tensor_set_i(&want, 0, INT64_MAX), ir_tensor_set_i(&want, 1, INT64_MAX);
  CHECKN("where", 3, ins, 0x4, NULL, want, 0, 0);
  /* NaN in the unselected branch does not leak */
  ins[0] = T(IR_BOOL, 1, TH_DIMS(2), TH_VALS(1, 0));
  ins[1] = T(IR_F32, 1, TH_DIMS(2), TH_VALS(5, NAN));
  ins[2] = T(IR_F32, 1, TH_DIMS(2), TH_VALS(NAN, 6));
  CHECKN("where", 3, ins, 0, NULL, T(IR_F32, 1, TH_DIMS(2), TH_VALS(5, 6)), 0, 0);
}
END_TEST

START_TEST(test_where_errors) {
  ir_tensor a[3];
  a[0] = T(IR_F32, 1, TH_DIMS(2), NULL), a[1] = T(IR_F32, 1, TH_DIMS(2), NULL),
  a[2] = T(IR_F32, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("where", 3, a, NULL, "dtype f32");
  a[0] = T(IR_BOOL, 1, TH_DIMS(2), NULL), a[1] = T(IR_F32, 1, TH_DIMS(2), NULL),
  a[2] = T(IR_I64, 1, TH_DIMS(2), NULL);
  EXPECT_ERROR("where", 3, a, NULL, "same dtype");
  a[0] = T(IR_BOOL, 1, TH_DIMS(3), NULL), a[1] = T(IR_F32, 2, TH_DIMS(2, 1), NULL),
  a[2] = T(IR_F32, 1, TH_DIMS(4), NULL);
  EXPECT_ERROR("where", 3, a, NULL, "do not broadcast");
}
END_TEST

static Suite *unary_suite(void) {
  Suite *s = suite_create("ops_elementwise_unary");
  TCase *tc = tcase_create("unary");
  tcase_add_loop_test(tc, test_unary_reference, 0, N_UNARY_CASES);
  tcase_add_test(tc, test_unary_special_values);
  tcase_add_test(tc, test_unary_attrs_and_rank0);
  tcase_add_test(tc, test_unary_integers);
  tcase_add_test(tc, test_clip_operands);
  tcase_add_test(tc, test_not_isnan_isinf);
  tcase_add_test(tc, test_unary_errors);
  tcase_add_test(tc, test_cast);
  tcase_add_test(tc, test_cast_i64_to_f32_single_rounding);
  tcase_add_test(tc, test_cast_errors);
  tcase_add_test(tc, test_identity);
  tcase_add_test(tc, test_eval_identity_reshape);
  suite_add_tcase(s, tc);
  return s;
}

static Suite *binary_suite(void) {
  Suite *s = suite_create("ops_elementwise_binary");
  TCase *tc = tcase_create("binary");
  tcase_add_test(tc, test_broadcast_shapes);
  tcase_add_test(tc, test_arith_integers);
  tcase_add_test(tc, test_pow);
  tcase_add_test(tc, test_max_min);
  tcase_add_test(tc, test_mod);
  tcase_add_test(tc, test_prelu);
  tcase_add_test(tc, test_compare);
  tcase_add_test(tc, test_logical);
  tcase_add_test(tc, test_binary_errors);
  tcase_add_test(tc, test_where);
  tcase_add_test(tc, test_where_errors);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(unary_suite, binary_suite)

/* Elementwise ops: shape/dtype inference and reference evaluation for the
 * unary ops (activations, math functions, rounding, clip, not, isnan/isinf),
 * cast, identity, the binary ops with NumPy broadcasting (arithmetic, pow,
 * max/min, mod, prelu, comparisons, logical ops) and where.
 *
 * Semantics follow the ONNX operator specs at the newest opset. This is the
 * reference interpreter, so it favours exactness and simplicity over speed:
 * float types are computed in double and integer types in int64 (wrapping on
 * overflow, as two's complement does), then stored through ir_store_f /
 * ir_store_i, which round to the output dtype. For f32 that is one rounding
 * of a double result, which is exact for + - * / and within an ulp of the
 * true value for the library functions.
 *
 * Definitions where ONNX leaves a result undefined (documented here once):
 *   - integer div and mod by zero give 0 (ONNX and NumPy leave it undefined
 *     or raise); INT64_MIN / -1 wraps to INT64_MIN, INT64_MIN % -1 is 0;
 *   - integer pow with a negative integer exponent gives the truncated value
 *     of 1 / base^-e: 1 for base 1, +-1 for base -1, and 0 otherwise
 *     (including base 0, where the real result would be infinite);
 *   - cast from float to an integer truncates toward zero and saturates to
 *     the target range; NaN becomes 0.
 */
#include <math.h>
#include <string.h>

#include "ops_impl.h"

/* ---- dtype sets ------------------------------------------------------------ */
#define DT(t) (1u << (unsigned)(t))
enum {
  DS_FLOAT = DT(IR_F32) | DT(IR_F64) | DT(IR_F16) | DT(IR_BF16),
  DS_SINT = DT(IR_I64) | DT(IR_I32) | DT(IR_I16) | DT(IR_I8),
  DS_INT = DS_SINT | DT(IR_U8),
  DS_NUM = DS_FLOAT | DS_INT,
  DS_BOOL = DT(IR_BOOL),
};

static int in_set(ir_dtype t, unsigned set) { return (set & DT(t)) != 0; }

/* Checks that input i's dtype is in `set`; a clear error naming the op's
 * accepted dtypes otherwise. */
static int check_dtype(ir_graph *g, ir_node *n, int i, unsigned set, const char *what,
                       kiln_diag *d) {
  ir_dtype t = ir_in_type(g, n, i)->dtype;
  if (in_set(t, set)) return KILN_OK;
  char buf[128];
  return ir_node_error(d, g, n, "%s (input %d) has dtype %s; %s takes %s", what, i,
                       ir_dtype_name(t), ir_op_name(n->op), ir_dtype_set_str(set, buf, sizeof buf));
}

/* Operands a and b must have the same dtype. */
static int check_same_dtype(ir_graph *g, ir_node *n, int a, int b, kiln_diag *d) {
  ir_dtype ta = ir_in_type(g, n, a)->dtype, tb = ir_in_type(g, n, b)->dtype;
  if (ta == tb) return KILN_OK;
  return ir_node_error(d, g, n, "inputs %d and %d must have the same dtype, got %s and %s", a, b,
                       ir_dtype_name(ta), ir_dtype_name(tb));
}

/* Output 0 := input 0's shape with the given dtype. */
static void set_out_like_in0(ir_graph *g, ir_node *n, ir_dtype dt) {
  ir_type t = *ir_in_type(g, n, 0);
  t.dtype = dt;
  *ir_out_type(g, n, 0) = t;
}

/* Broadcasts inputs [0, k) of n into *out (dtype left untouched). */
static int broadcast_inputs(ir_graph *g, ir_node *n, int k, ir_type *out, kiln_diag *d) {
  ir_type r = *ir_in_type(g, n, 0);
  for (int i = 1; i < k; i++) {
    const ir_type *t = ir_in_type(g, n, i);
    if (ir_broadcast_shapes(&r, t, &r)) {
      char a[256], b[256];
      return ir_node_error(d, g, n, "input shapes %s and %s do not broadcast",
                           ir_type_str(&r, a, sizeof a), ir_type_str(t, b, sizeof b));
    }
  }
  *out = r;
  return KILN_OK;
}

/* ---- unary ops ------------------------------------------------------------- */

/* The dtypes each unary op takes (ONNX type constraints, newest opset). */
static unsigned unary_dtypes(ir_op op) {
  switch (op) {
  case IR_OP_NEG:
  case IR_OP_RELU: return DS_FLOAT | DS_SINT;
  case IR_OP_ABS:
  case IR_OP_SIGN:
  case IR_OP_CLIP:
  case IR_OP_SHRINK:
  case IR_OP_ERF: return DS_NUM;
  default: return DS_FLOAT;
  }
}

int infer_unary(ir_graph *g, ir_node *n, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, unary_dtypes(n->op), "x", d);
  if (rc) return rc;
  if (n->op == IR_OP_GELU) {
    const char *a = ir_attr_str(n, "approximate");
    if (strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
      return ir_node_error(d, g, n, "attribute 'approximate' must be \"none\" or \"tanh\", not \"%s\"",
                           a);
  }
  if (n->op == IR_OP_CELU && ir_attr_float(n, "alpha") == 0.0)
    return ir_node_error(d, g, n, "attribute 'alpha' must not be 0 (celu divides by it)");
  set_out_like_in0(g, n, ir_in_type(g, n, 0)->dtype);
  return KILN_OK;
}

int infer_logical_not(ir_graph *g, ir_node *n, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, DS_BOOL, "x", d);
  if (rc) return rc;
  set_out_like_in0(g, n, IR_BOOL);
  return KILN_OK;
}

int infer_is_class(ir_graph *g, ir_node *n, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, DS_FLOAT, "x", d);
  if (rc) return rc;
  set_out_like_in0(g, n, IR_BOOL);
  return KILN_OK;
}

/* Attributes of a unary op, read once per node (defaults applied). */
typedef struct {
  ir_op op;
  double alpha, beta, gamma; /* leaky_relu elu selu celu hard_sigmoid thresholded_relu */
  double lambd, bias;        /* shrink */
  int gelu_tanh;             /* gelu: approximate = "tanh" */
  int has_lo, has_hi;        /* clip bounds present */
  double lo, hi;             /* clip bounds */
  int64_t lo_i, hi_i;        /* clip bounds for integer x (ceil / floor, saturated) */
  int64_t lambd_i, bias_i;   /* shrink on integer x: the attributes cast to x's dtype */
  int det_neg, det_pos;      /* isinf */
} unary_params;

/* double -> int64 saturating, NaN -> 0. */
static int64_t sat_i64(double v) {
  if (isnan(v)) return 0;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  if (v >= 9223372036854775808.0) return INT64_MAX;
  return (int64_t)v;
}

/* The value v cast to dtype t (the way ONNX CastLike does), read back. */
static int64_t cast_like_i(ir_dtype t, double v) {
  int64_t buf = 0; /* large enough and aligned for any integer dtype */
  ir_store_f(t, &buf, 0, v);
  return ir_load_i(t, &buf, 0);
}

static void unary_params_init(const ir_node *n, ir_dtype xt, unary_params *p) {
  memset(p, 0, sizeof *p);
  p->op = n->op;
  switch (n->op) {
  case IR_OP_LEAKY_RELU:
  case IR_OP_ELU:
  case IR_OP_CELU:
  case IR_OP_THRESHOLDED_RELU: p->alpha = ir_attr_float(n, "alpha"); break;
  case IR_OP_SELU:
    p->alpha = ir_attr_float(n, "alpha");
    p->gamma = ir_attr_float(n, "gamma");
    break;
  case IR_OP_HARD_SIGMOID:
    p->alpha = ir_attr_float(n, "alpha");
    p->beta = ir_attr_float(n, "beta");
    break;
  case IR_OP_SHRINK:
    p->lambd = ir_attr_float(n, "lambd");
    p->bias = ir_attr_float(n, "bias");
    if (ir_dtype_is_int(xt)) {
      p->lambd_i = cast_like_i(xt, p->lambd);
      p->bias_i = cast_like_i(xt, p->bias);
    }
    break;
  case IR_OP_GELU: p->gelu_tanh = strcmp(ir_attr_str(n, "approximate"), "tanh") == 0; break;
  case IR_OP_CLIP:
    /* absent bounds (and NaN bounds) leave that side unbounded */
    p->has_lo = ir_attr_has(n, "min") && !isnan(ir_attr_float(n, "min"));
    p->has_hi = ir_attr_has(n, "max") && !isnan(ir_attr_float(n, "max"));
    p->lo = p->has_lo ? ir_attr_float(n, "min") : -INFINITY;
    p->hi = p->has_hi ? ir_attr_float(n, "max") : INFINITY;
    p->lo_i = p->has_lo ? sat_i64(ceil(p->lo)) : INT64_MIN;
    p->hi_i = p->has_hi ? sat_i64(floor(p->hi)) : INT64_MAX;
    break;
  case IR_OP_ISINF:
    p->det_neg = ir_attr_int(n, "detect_negative") != 0;
    p->det_pos = ir_attr_int(n, "detect_positive") != 0;
    break;
  default: break;
  }
}

static double sigmoid(double x) {
  /* both branches avoid exp overflow: exp of a non-positive number */
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

/* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). */
static double softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

/* Round half to even, independent of the floating-point rounding mode. */
static double round_half_even(double x) {
  double f = floor(x), diff = x - f, r;
  if (diff > 0.5) r = f + 1.0;
  else if (diff < 0.5) r = f;
  else r = fmod(f, 2.0) == 0.0 ? f : f + 1.0;
  if (isnan(diff)) r = x; /* inf, nan */
  return r == 0.0 ? copysign(0.0, x) : r;
}

/* One element of a unary op on a float x. */
static double unary_f(const unary_params *p, double x) {
  switch (p->op) {
  case IR_OP_NEG: return -x;
  case IR_OP_ABS: return fabs(x);
  case IR_OP_EXP: return exp(x);
  case IR_OP_LOG: return log(x);
  case IR_OP_SQRT: return sqrt(x);
  case IR_OP_RECIPROCAL: return 1.0 / x;
  case IR_OP_SIN: return sin(x);
  case IR_OP_COS: return cos(x);
  case IR_OP_TAN: return tan(x);
  case IR_OP_ASIN: return asin(x);
  case IR_OP_ACOS: return acos(x);
  case IR_OP_ATAN: return atan(x);
  case IR_OP_SINH: return sinh(x);
  case IR_OP_COSH: return cosh(x);
  case IR_OP_ASINH: return asinh(x);
  case IR_OP_ACOSH: return acosh(x);
  case IR_OP_ATANH: return atanh(x);
  case IR_OP_TANH: return tanh(x);
  case IR_OP_SIGMOID: return sigmoid(x);
  case IR_OP_RELU: return x < 0 ? 0.0 : x; /* NaN stays NaN, as np.maximum(x, 0) */
  case IR_OP_LEAKY_RELU: return x < 0 ? p->alpha * x : x;
  case IR_OP_ELU: return x < 0 ? p->alpha * expm1(x) : x;
  case IR_OP_SELU: return x <= 0 ? p->gamma * (p->alpha * expm1(x)) : p->gamma * x;
  case IR_OP_CELU: return fmax(0.0, x) + fmin(0.0, p->alpha * expm1(x / p->alpha));
  case IR_OP_GELU:
    if (p->gelu_tanh) {
      const double k = 0.79788456080286535588; /* sqrt(2 / pi) */
      return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    /* 1 + erf(x / sqrt 2) as erfc(-x / sqrt 2): no cancellation for x << 0 */
    return 0.5 * x * erfc(-x * 0.70710678118654752440);
  case IR_OP_SILU: return x * sigmoid(x);
  case IR_OP_SOFTPLUS: return softplus(x);
  case IR_OP_SOFTSIGN: return x / (1.0 + fabs(x));
  case IR_OP_HARD_SIGMOID: return fmax(0.0, fmin(1.0, p->alpha * x + p->beta));
  case IR_OP_HARD_SWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
  case IR_OP_MISH: return x * tanh(softplus(x));
  case IR_OP_THRESHOLDED_RELU: return x > p->alpha ? x : 0.0;
  case IR_OP_SHRINK:
    if (x < -p->lambd) return x + p->bias;
    if (x > p->lambd) return x - p->bias;
    return 0.0;
  case IR_OP_ERF: return erf(x);
  case IR_OP_FLOOR: return floor(x);
  case IR_OP_CEIL: return ceil(x);
  case IR_OP_ROUND: return round_half_even(x);
  case IR_OP_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x; /* keeps 0 and NaN */
  case IR_OP_CLIP:
    /* lower bound first, so min > max gives max everywhere (ONNX); NaN
     * compares false and passes through */
    if (x < p->lo) x = p->lo;
    if (x > p->hi) x = p->hi;
    return x;
  default: KILN_UNREACHABLE();
  }
}

/* One element of a unary op on an integer x (the ops whose dtype set has
 * integers, except erf, which goes through unary_f). Wraps on overflow. */
static int64_t unary_i(const unary_params *p, int64_t x) {
  switch (p->op) {
  case IR_OP_NEG: return (int64_t)(0u - (uint64_t)x);
  case IR_OP_ABS: return x < 0 ? (int64_t)(0u - (uint64_t)x) : x;
  case IR_OP_RELU: return x < 0 ? 0 : x;
  case IR_OP_SIGN: return (x > 0) - (x < 0);
  case IR_OP_CLIP:
    if (x < p->lo_i) x = p->lo_i;
    if (x > p->hi_i) x = p->hi_i;
    return x;
  case IR_OP_SHRINK:
    /* ONNX defines shrink through CastLike: lambd and bias in x's dtype */
    if (x < (int64_t)(0u - (uint64_t)p->lambd_i)) return (int64_t)((uint64_t)x + (uint64_t)p->bias_i);
    if (x > p->lambd_i) return (int64_t)((uint64_t)x - (uint64_t)p->bias_i);
    return 0;
  default: KILN_UNREACHABLE();
  }
}

int eval_unary(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  ir_dtype xt = x->type.dtype, yt = y->type.dtype;
  int64_t cnt = ir_type_numel(&x->type); /* x and y: the same shape */
  KILN_ASSERT(cnt == ir_type_numel(&y->type));
  unary_params p;
  unary_params_init(n, xt, &p);
  switch (n->op) {
  case IR_OP_NOT:
    for (int64_t i = 0; i < cnt; i++) ir_store_i(yt, y->data, i, !ir_load_i(xt, x->data, i));
    return KILN_OK;
  case IR_OP_ISNAN:
    for (int64_t i = 0; i < cnt; i++) ir_store_i(yt, y->data, i, isnan(ir_load_f(xt, x->data, i)));
    return KILN_OK;
  case IR_OP_ISINF:
    for (int64_t i = 0; i < cnt; i++) {
      double v = ir_load_f(xt, x->data, i);
      ir_store_i(yt, y->data, i, isinf(v) && (v > 0 ? p.det_pos : p.det_neg));
    }
    return KILN_OK;
  default: break;
  }
  KILN_ASSERT(xt == yt);
  if (ir_dtype_is_float(xt) || n->op == IR_OP_ERF) {
    /* erf of an integer: computed in double, truncated toward zero */
    for (int64_t i = 0; i < cnt; i++)
      ir_store_f(yt, y->data, i, unary_f(&p, ir_load_f(xt, x->data, i)));
  } else {
    KILN_ASSERT(ir_dtype_is_int(xt));
    for (int64_t i = 0; i < cnt; i++)
      ir_store_i(yt, y->data, i, unary_i(&p, ir_load_i(xt, x->data, i)));
  }
  (void)g;
  (void)d;
  return KILN_OK;
}

/* ---- cast ------------------------------------------------------------------ */

int infer_cast(ir_graph *g, ir_node *n, kiln_diag *d) {
  int64_t to = ir_attr_int(n, "to");
  if (to < 0 || to >= IR_DTYPE_COUNT)
    return ir_node_error(d, g, n, "attribute 'to' (%lld) is not a dtype", (long long)to);
  if (!ir_dtype_supported((ir_dtype)to))
    return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                           "%s: node '%s' (%s): cast to %s is not supported yet", g->source,
                           n->name, ir_op_name(n->op), ir_dtype_name((ir_dtype)to));
  set_out_like_in0(g, n, (ir_dtype)to);
  return KILN_OK;
}

/* float -> int truncates toward zero and saturates (NaN -> 0), int -> narrower
 * int wraps, anything -> bool is "!= 0" (NaN -> true), bool -> number 0/1. */
int eval_cast(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
              ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  ir_dtype xt = x->type.dtype, yt = y->type.dtype;
  int64_t cnt = ir_type_numel(&x->type); /* x and y: the same shape */
  KILN_ASSERT(cnt == ir_type_numel(&y->type));
  if (ir_dtype_is_float(xt)) {
    for (int64_t i = 0; i < cnt; i++) ir_store_f(yt, y->data, i, ir_load_f(xt, x->data, i));
  } else if (yt == IR_F32) {
    /* int64 -> float in one rounding: (double)v then (float) could round twice */
    for (int64_t i = 0; i < cnt; i++)
      ir_store_f(yt, y->data, i, (double)(float)ir_load_i(xt, x->data, i));
  } else {
    for (int64_t i = 0; i < cnt; i++) ir_store_i(yt, y->data, i, ir_load_i(xt, x->data, i));
  }
  (void)g;
  (void)n;
  (void)d;
  return KILN_OK;
}

/* ---- identity -------------------------------------------------------------- */

int infer_identity(ir_graph *g, ir_node *n, kiln_diag *d) {
  *ir_out_type(g, n, 0) = *ir_in_type(g, n, 0);
  (void)d;
  return KILN_OK;
}

/* Copies in[0]'s bytes into out[0]: also the evaluation of the ops that only
 * change the shape (reshape, flatten, squeeze, unsqueeze), whose inference
 * guarantees the same dtype and element count. */
int eval_identity(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                  ir_tensor *const *out, kiln_diag *d) {
  int64_t nb = ir_type_nbytes(&in[0]->type);
  KILN_ASSERT(nb == ir_type_nbytes(&out[0]->type));
  if (nb > 0) memcpy(out[0]->data, in[0]->data, (size_t)nb);
  (void)g;
  (void)n;
  (void)d;
  return KILN_OK;
}

/* ---- broadcasting iteration ------------------------------------------------- */

/* Walks the elements of an output in C order, keeping the offset (in
 * elements) of the matching element of each of up to three broadcast
 * operands. */
typedef struct {
  int rank, n_ops;
  int64_t dims[IR_MAX_RANK], idx[IR_MAX_RANK];
  int64_t strides[3][IR_MAX_RANK]; /* 0 along broadcast dims */
  int64_t off[3];
} bcast_iter;

static void bcast_init(bcast_iter *it, const ir_type *out, const ir_tensor *const *ops, int n_ops) {
  KILN_ASSERT(n_ops <= 3);
  memset(it, 0, sizeof *it);
  it->rank = out->rank;
  it->n_ops = n_ops;
  for (int k = 0; k < out->rank; k++) it->dims[k] = out->dims[k];
  for (int o = 0; o < n_ops; o++) {
    /* inference guarantees that each operand broadcasts to the output */
    ir_type b = *out;
    KILN_ASSERT(ir_broadcast_shapes(out, &ops[o]->type, &b) == 0 && ir_type_equal(&b, out));
    ir_broadcast_strides(&ops[o]->type, out, it->strides[o]);
  }
}

static void bcast_next(bcast_iter *it) {
  for (int k = it->rank - 1; k >= 0; k--) {
    for (int o = 0; o < it->n_ops; o++) it->off[o] += it->strides[o][k];
    if (++it->idx[k] < it->dims[k]) return;
    for (int o = 0; o < it->n_ops; o++) it->off[o] -= it->strides[o][k] * it->dims[k];
    it->idx[k] = 0;
  }
}

/* ---- binary ops ------------------------------------------------------------- */

static unsigned binary_dtypes(ir_op op) {
  switch (op) {
  case IR_OP_EQUAL: return DS_NUM | DS_BOOL;
  case IR_OP_AND:
  case IR_OP_OR:
  case IR_OP_XOR: return DS_BOOL;
  case IR_OP_PRELU: return DS_FLOAT | DT(IR_I32) | DT(IR_I64);
  default: return DS_NUM; /* add sub mul div max min mod, comparisons */
  }
}

/* Same-dtype operands from the op's set, broadcast shape; output dtype out_dt
 * (-1: the operands' dtype). */
static int infer_same_dtype_binary(ir_graph *g, ir_node *n, int out_dt, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, binary_dtypes(n->op), "A", d);
  if (!rc) rc = check_same_dtype(g, n, 0, 1, d);
  ir_type t;
  if (!rc) rc = broadcast_inputs(g, n, 2, &t, d);
  if (rc) return rc;
  if (out_dt >= 0) t.dtype = (ir_dtype)out_dt;
  *ir_out_type(g, n, 0) = t;
  return KILN_OK;
}

int infer_binary(ir_graph *g, ir_node *n, kiln_diag *d) {
  if (n->op == IR_OP_MOD) {
    int64_t fm = ir_attr_int(n, "fmod");
    if (fm != 0 && fm != 1)
      return ir_node_error(d, g, n, "attribute 'fmod' must be 0 or 1, not %lld", (long long)fm);
    if (fm == 0 && ir_dtype_is_float(ir_in_type(g, n, 0)->dtype))
      return ir_node_error(d, g, n, "mod of floats (%s) needs fmod=1",
                           ir_dtype_name(ir_in_type(g, n, 0)->dtype));
  }
  return infer_same_dtype_binary(g, n, -1, d);
}

/* pow: the exponent may have another numeric dtype; the result has the
 * base's. */
int infer_pow(ir_graph *g, ir_node *n, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, DS_FLOAT | DT(IR_I32) | DT(IR_I64), "base", d);
  if (!rc) rc = check_dtype(g, n, 1, DS_NUM, "exponent", d);
  ir_type t;
  if (!rc) rc = broadcast_inputs(g, n, 2, &t, d);
  if (rc) return rc;
  t.dtype = ir_in_type(g, n, 0)->dtype;
  *ir_out_type(g, n, 0) = t;
  return KILN_OK;
}

/* prelu: the slope broadcasts to x (unidirectionally); output is x's type. */
int infer_prelu(ir_graph *g, ir_node *n, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, binary_dtypes(n->op), "x", d);
  if (!rc) rc = check_same_dtype(g, n, 0, 1, d);
  if (rc) return rc;
  const ir_type *x = ir_in_type(g, n, 0), *s = ir_in_type(g, n, 1);
  ir_type b = *x;
  if (ir_broadcast_shapes(x, s, &b) || !ir_type_equal(&b, x)) {
    char a[256], c[256];
    return ir_node_error(d, g, n, "slope %s does not broadcast to x %s",
                         ir_type_str(s, c, sizeof c), ir_type_str(x, a, sizeof a));
  }
  *ir_out_type(g, n, 0) = *x;
  return KILN_OK;
}

int infer_compare(ir_graph *g, ir_node *n, kiln_diag *d) {
  return infer_same_dtype_binary(g, n, IR_BOOL, d);
}

int infer_logical(ir_graph *g, ir_node *n, kiln_diag *d) {
  return infer_same_dtype_binary(g, n, IR_BOOL, d);
}

/* Python-style remainder (sign of the divisor) from a C-style one. */
static double py_mod_f(double a, double b) {
  double r = fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

static double max_f(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) ? a : b; /* NaN propagates */
  return a > b ? a : b;
}

static double min_f(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) ? a : b;
  return a < b ? a : b;
}

/* One element of a binary op on floats (or pow on a float base). */
static double binary_f(ir_op op, int fmod_c, double a, double b) {
  switch (op) {
  case IR_OP_ADD: return a + b;
  case IR_OP_SUB: return a - b;
  case IR_OP_MUL: return a * b;
  case IR_OP_DIV: return a / b;
  case IR_OP_POW: return pow(a, b);
  case IR_OP_MAX: return max_f(a, b);
  case IR_OP_MIN: return min_f(a, b);
  case IR_OP_MOD: return fmod_c ? fmod(a, b) : py_mod_f(a, b); /* fmod=0: ints only (ONNX) */
  case IR_OP_PRELU: return a < 0 ? b * a : a;
  default: KILN_UNREACHABLE();
  }
}

/* base^e in wrapping int64 arithmetic; negative e as documented at the top. */
static int64_t ipow(int64_t base, int64_t e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e & 1) ? -1 : 1;
    return 0;
  }
  uint64_t r = 1, x = (uint64_t)base;
  while (e) {
    if (e & 1) r *= x;
    x *= x;
    e >>= 1;
  }
  return (int64_t)r;
}

/* One element of a binary op on integers (wrapping; division by zero 0). */
static int64_t binary_i(ir_op op, int fmod_c, int64_t a, int64_t b) {
  switch (op) {
  case IR_OP_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
  case IR_OP_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
  case IR_OP_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
  case IR_OP_DIV:
    if (b == 0) return 0;
    if (b == -1) return (int64_t)(0u - (uint64_t)a); /* INT64_MIN / -1 wraps */
    return a / b;                                     /* truncates toward zero */
  case IR_OP_POW: return ipow(a, b);
  case IR_OP_MAX: return a > b ? a : b;
  case IR_OP_MIN: return a < b ? a : b;
  case IR_OP_MOD: {
    if (b == 0 || b == -1) return 0; /* b == -1: avoids INT64_MIN % -1 */
    int64_t r = a % b;               /* sign of the dividend (C fmod) */
    if (!fmod_c && r != 0 && ((r < 0) != (b < 0))) r += b; /* sign of the divisor */
    return r;
  }
  case IR_OP_PRELU: return a < 0 ? (int64_t)((uint64_t)a * (uint64_t)b) : a;
  case IR_OP_EQUAL: return a == b;
  case IR_OP_LESS: return a < b;
  case IR_OP_LESS_EQUAL: return a <= b;
  case IR_OP_GREATER: return a > b;
  case IR_OP_GREATER_EQUAL: return a >= b;
  case IR_OP_AND: return a && b;
  case IR_OP_OR: return a || b;
  case IR_OP_XOR: return !a != !b;
  default: KILN_UNREACHABLE();
  }
}

static int is_compare(ir_op op) {
  return op == IR_OP_EQUAL || op == IR_OP_LESS || op == IR_OP_LESS_EQUAL ||
         op == IR_OP_GREATER || op == IR_OP_GREATER_EQUAL;
}

/* A comparison of two floats (false when either is NaN, as IEEE). */
static int compare_f(ir_op op, double a, double b) {
  switch (op) {
  case IR_OP_EQUAL: return a == b;
  case IR_OP_LESS: return a < b;
  case IR_OP_LESS_EQUAL: return a <= b;
  case IR_OP_GREATER: return a > b;
  case IR_OP_GREATER_EQUAL: return a >= b;
  default: KILN_UNREACHABLE();
  }
}

int eval_binary(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *a = in[0], *b = in[1];
  ir_tensor *y = out[0];
  ir_dtype at = a->type.dtype, bt = b->type.dtype, yt = y->type.dtype;
  ir_op op = n->op;
  int fmod_c = op == IR_OP_MOD && ir_attr_int(n, "fmod") != 0;
  int64_t cnt = ir_type_numel(&y->type);
  bcast_iter it; /* y: the broadcast shape of a and b (x's shape for prelu) */
  bcast_init(&it, &y->type, in, 2);
  KILN_ASSERT(op == IR_OP_POW || at == bt);
  if (is_compare(op) && ir_dtype_is_float(at)) {
    for (int64_t i = 0; i < cnt; i++, bcast_next(&it))
      ir_store_i(yt, y->data, i,
                 compare_f(op, ir_load_f(at, a->data, it.off[0]), ir_load_f(bt, b->data, it.off[1])));
  } else if (ir_dtype_is_float(at) || (op == IR_OP_POW && ir_dtype_is_float(bt))) {
    /* float operands, or pow with a float exponent (an integer base is
     * converted, the result truncated toward zero by the store) */
    for (int64_t i = 0; i < cnt; i++, bcast_next(&it))
      ir_store_f(yt, y->data, i,
                 binary_f(op, fmod_c, ir_load_f(at, a->data, it.off[0]),
                          ir_load_f(bt, b->data, it.off[1])));
  } else {
    for (int64_t i = 0; i < cnt; i++, bcast_next(&it))
      ir_store_i(yt, y->data, i,
                 binary_i(op, fmod_c, ir_load_i(at, a->data, it.off[0]),
                          ir_load_i(bt, b->data, it.off[1])));
  }
  (void)g;
  (void)d;
  return KILN_OK;
}

/* ---- where ------------------------------------------------------------------ */

int infer_where(ir_graph *g, ir_node *n, kiln_diag *d) {
  int rc = check_dtype(g, n, 0, DS_BOOL, "condition", d);
  if (!rc) rc = check_same_dtype(g, n, 1, 2, d);
  ir_type t;
  if (!rc) rc = broadcast_inputs(g, n, 3, &t, d);
  if (rc) return rc;
  t.dtype = ir_in_type(g, n, 1)->dtype;
  *ir_out_type(g, n, 0) = t;
  return KILN_OK;
}

/* y = cond ? x : y elementwise over the three-way broadcast; elements are
 * copied as bytes, so any dtype is exact. */
int eval_where(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *c = in[0], *x = in[1], *yv = in[2];
  ir_tensor *r = out[0];
  KILN_ASSERT(x->type.dtype == r->type.dtype && yv->type.dtype == r->type.dtype);
  size_t es = ir_dtype_size(r->type.dtype);
  int64_t cnt = ir_type_numel(&r->type);
  bcast_iter it; /* r: the broadcast shape of c, x and y */
  bcast_init(&it, &r->type, in, 3);
  char *dst = r->data;
  for (int64_t i = 0; i < cnt; i++, bcast_next(&it)) {
    int take_x = ir_load_i(c->type.dtype, c->data, it.off[0]) != 0;
    const char *src = take_x ? (const char *)x->data + it.off[1] * (int64_t)es
                             : (const char *)yv->data + it.off[2] * (int64_t)es;
    memcpy(dst + i * (int64_t)es, src, es);
  }
  (void)g;
  (void)n;
  (void)d;
  return KILN_OK;
}

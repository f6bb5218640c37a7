/* Reductions and normalisations: shape/dtype inference and reference
 * evaluation (ONNX semantics of the newest opset).
 *
 *   reduce_*            sum mean max min prod l1 l2 sum_square log_sum
 *                       log_sum_exp over a set of axes
 *   argmax, argmin      index of the extreme along one axis (i64)
 *   cumsum              running sum along one axis
 *   softmax, log_softmax, hardmax   over one axis (opset-13 form)
 *   layer_norm, rms_norm            over the trailing axes [axis, rank)
 *   batch_norm (inference form), instance_norm, group_norm, lp_normalization
 *
 * Every op validates its attributes and input shapes in one "plan" function
 * that both inference and evaluation call, so the interpreter never trusts a
 * node that did not pass the same checks; evaluation then asserts that the
 * output it was given has the inferred type (a mismatch is a kiln bug).
 *
 * The evaluators are the correctness oracle for the backends: they are
 * written for clarity, read elements through ir_load_f / ir_load_i, and
 * accumulate in double (floats) or in wrapping 64-bit integers (integer
 * sums and products, which then narrow the way NumPy's astype does).
 * Softmax, log-softmax and log-sum-exp subtract the maximum first, and the
 * normalisations compute the variance in two passes (mean, then squared
 * deviations) so that large offsets do not cancel.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops_impl.h"

/* ---- shared helpers ------------------------------------------------------- */

/* Reads a 0/1 flag attribute (keepdims, exclusive, ...). Other values are
 * rejected rather than guessed at: ONNX treats them inconsistently. */
static int get_flag(const ir_graph *g, const ir_node *n, const char *name, int *out,
                    kiln_diag *d) {
  int64_t v = ir_attr_int(n, name);
  if (v != 0 && v != 1)
    return ir_node_error(d, g, n, "attribute '%s' must be 0 or 1, not %lld", name,
                         (long long)v);
  *out = (int)v;
  return KILN_OK;
}

/* Reads attribute `axis` and normalises it against rank. */
static int get_axis(const ir_graph *g, const ir_node *n, int rank, int *out, kiln_diag *d) {
  int64_t a = ir_attr_int(n, "axis");
  int ax = ir_norm_axis(a, rank);
  if (ax < 0) {
    if (rank == 0)
      return ir_node_error(d, g, n, "needs an input of rank 1 or more, not a scalar");
    return ir_node_error(d, g, n, "axis %lld is out of range for an input of rank %d",
                         (long long)a, rank);
  }
  *out = ax;
  return KILN_OK;
}

/* Reads attribute `epsilon`: it must be finite and not negative, or the
 * square roots below could see a negative argument for valid data. */
static int get_epsilon(const ir_graph *g, const ir_node *n, double *out, kiln_diag *d) {
  double e = ir_attr_float(n, "epsilon");
  if (!isfinite(e) || e < 0.0)
    return ir_node_error(d, g, n, "epsilon must be finite and not negative, not %g", e);
  *out = e;
  return KILN_OK;
}

static int require_float(const ir_graph *g, const ir_node *n, const ir_type *t,
                         const char *what, kiln_diag *d) {
  if (!ir_dtype_is_float(t->dtype))
    return ir_node_error(d, g, n, "%s must be a float tensor, not %s", what,
                         ir_dtype_name(t->dtype));
  return KILN_OK;
}

/* Product of dims[lo, hi). */
static int64_t dims_prod(const ir_type *t, int lo, int hi) {
  int64_t p = 1;
  for (int i = lo; i < hi; i++) p *= t->dims[i];
  return p;
}

/* A view of some axes of a tensor: their sizes and element strides.
 * sub_offset maps a flat C-order index over these axes to an element
 * offset. Used to walk the kept and the reduced axes of a reduction. */
typedef struct {
  int rank;
  int64_t dims[IR_MAX_RANK];
  int64_t strides[IR_MAX_RANK];
} subspace;

static int64_t sub_offset(const subspace *s, int64_t flat) {
  int64_t off = 0;
  for (int k = s->rank - 1; k >= 0; k--) {
    off += (flat % s->dims[k]) * s->strides[k];
    flat /= s->dims[k];
  }
  return off;
}

static int64_t sub_numel(const subspace *s) {
  int64_t p = 1;
  for (int k = 0; k < s->rank; k++) p *= s->dims[k];
  return p;
}

/* Smallest and largest value of an integer dtype (bool: false, true). */
static int64_t int_min(ir_dtype t) {
  switch (t) {
  case IR_I64: return INT64_MIN;
  case IR_I32: return INT32_MIN;
  case IR_I16: return INT16_MIN;
  case IR_I8: return INT8_MIN;
  case IR_U8:
  case IR_BOOL: return 0;
  default: KILN_UNREACHABLE();
  }
}

static int64_t int_max(ir_dtype t) {
  switch (t) {
  case IR_I64: return INT64_MAX;
  case IR_I32: return INT32_MAX;
  case IR_I16: return INT16_MAX;
  case IR_I8: return INT8_MAX;
  case IR_U8: return UINT8_MAX;
  case IR_BOOL: return 1;
  default: KILN_UNREACHABLE();
  }
}

/* ---- reduce_* --------------------------------------------------------------- */

typedef struct {
  int noop;                      /* empty axes with noop_with_empty_axes: identity */
  unsigned char red[IR_MAX_RANK]; /* axis k is reduced */
  ir_type out;
} reduce_plan;

static int is_exact_int_reduce(ir_op op) {
  /* integer inputs reduce exactly in integers for these; l2, log_sum and
   * log_sum_exp go through double and truncate, as ONNX's astype does */
  return op == IR_OP_REDUCE_SUM || op == IR_OP_REDUCE_MEAN || op == IR_OP_REDUCE_MAX ||
         op == IR_OP_REDUCE_MIN || op == IR_OP_REDUCE_PROD || op == IR_OP_REDUCE_L1 ||
         op == IR_OP_REDUCE_SUM_SQUARE;
}

static int make_reduce_plan(const ir_graph *g, const ir_node *n, const ir_type *x,
                            reduce_plan *p, kiln_diag *d) {
  memset(p, 0, sizeof *p);
  int keep = 1, noop = 0;
  if (get_flag(g, n, "keepdims", &keep, d) || get_flag(g, n, "noop_with_empty_axes", &noop, d))
    return d->status;
  /* bool only orders (false < true); ONNX allows it for max and min only */
  if (x->dtype == IR_BOOL && n->op != IR_OP_REDUCE_MAX && n->op != IR_OP_REDUCE_MIN)
    return ir_node_error(d, g, n, "does not accept bool inputs");
  if (!ir_dtype_is_float(x->dtype) && !ir_dtype_is_int(x->dtype) && x->dtype != IR_BOOL)
    return ir_node_error(d, g, n, "does not accept %s inputs", ir_dtype_name(x->dtype));
  const int64_t *axes;
  int nax = ir_attr_ints(n, "axes", &axes);
  for (int i = 0; i < nax; i++) {
    int a = ir_norm_axis(axes[i], x->rank);
    if (a < 0)
      return ir_node_error(d, g, n, "axis %lld is out of range for an input of rank %d",
                           (long long)axes[i], x->rank);
    if (p->red[a])
      return ir_node_error(d, g, n, "axis %lld is given twice", (long long)axes[i]);
    p->red[a] = 1;
  }
  if (nax <= 0) {
    /* absent or empty axes: every axis, unless noop_with_empty_axes */
    if (noop) {
      p->noop = 1;
      p->out = *x;
      return KILN_OK;
    }
    for (int k = 0; k < x->rank; k++) p->red[k] = 1;
  }
  p->out.dtype = x->dtype;
  p->out.rank = 0;
  for (int k = 0; k < x->rank; k++) {
    if (!p->red[k]) p->out.dims[p->out.rank++] = x->dims[k];
    else if (keep) p->out.dims[p->out.rank++] = 1;
  }
  return KILN_OK;
}

int infer_reduce(ir_graph *g, ir_node *n, kiln_diag *d) {
  reduce_plan p;
  if (make_reduce_plan(g, n, ir_in_type(g, n, 0), &p, d)) return d->status;
  *ir_out_type(g, n, 0) = p.out;
  return KILN_OK;
}

/* Reduces the cnt elements at base + r's offsets in double. Empty sets give
 * the identity of the operation, as the ONNX reference does: sum-like 0,
 * prod 1, max -inf, min +inf, log_sum and log_sum_exp -inf, mean NaN. NaN
 * propagates through max and min (np.maximum.reduce). */
static double reduce_f(ir_op op, const ir_tensor *x, int64_t base, const subspace *r,
                       int64_t cnt) {
  ir_dtype dt = x->type.dtype;
  const void *data = x->data;
#define ELEM(j) ir_load_f(dt, data, base + sub_offset(r, (j)))
  double s = 0.0;
  switch (op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_LOG_SUM:
    for (int64_t j = 0; j < cnt; j++) s += ELEM(j);
    if (op == IR_OP_REDUCE_MEAN) return cnt ? s / (double)cnt : NAN;
    if (op == IR_OP_REDUCE_LOG_SUM) return log(s);
    return s;
  case IR_OP_REDUCE_MAX:
  case IR_OP_REDUCE_MIN: {
    int is_max = op == IR_OP_REDUCE_MAX;
    double m = is_max ? -INFINITY : INFINITY;
    for (int64_t j = 0; j < cnt; j++) {
      double v = ELEM(j);
      if (isnan(v)) return v;
      if (is_max ? v > m : v < m) m = v;
    }
    return m;
  }
  case IR_OP_REDUCE_PROD:
    s = 1.0;
    for (int64_t j = 0; j < cnt; j++) s *= ELEM(j);
    return s;
  case IR_OP_REDUCE_L1:
    for (int64_t j = 0; j < cnt; j++) s += fabs(ELEM(j));
    return s;
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE:
    for (int64_t j = 0; j < cnt; j++) {
      double v = ELEM(j);
      s += v * v;
    }
    return op == IR_OP_REDUCE_L2 ? sqrt(s) : s;
  case IR_OP_REDUCE_LOG_SUM_EXP: {
    /* m + log(sum(exp(x - m))) with m the maximum: exp never overflows */
    double m = -INFINITY;
    for (int64_t j = 0; j < cnt; j++) {
      double v = ELEM(j);
      if (isnan(v)) return v;
      if (v > m) m = v;
    }
    if (isinf(m)) return m; /* empty or all -inf: -inf; any +inf: +inf */
    for (int64_t j = 0; j < cnt; j++) s += exp(ELEM(j) - m);
    return m + log(s);
  }
  default: KILN_UNREACHABLE();
  }
#undef ELEM
}

/* Integer reduction (is_exact_int_reduce ops) with wrapping 64-bit
 * arithmetic; the caller narrows the result to the dtype. Empty sets: sum-
 * like 0, prod 1, max the dtype's minimum, min its maximum, mean 0. */
static int64_t reduce_i(ir_op op, const ir_tensor *x, int64_t base, const subspace *r,
                        int64_t cnt) {
  ir_dtype dt = x->type.dtype;
  const void *data = x->data;
#define ELEM(j) ir_load_i(dt, data, base + sub_offset(r, (j)))
  uint64_t acc = 0;
  switch (op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
    for (int64_t j = 0; j < cnt; j++) acc += (uint64_t)ELEM(j);
    /* the mean truncates toward zero, as np.mean(...).astype(int) does */
    if (op == IR_OP_REDUCE_MEAN) return cnt ? (int64_t)acc / cnt : 0;
    return (int64_t)acc;
  case IR_OP_REDUCE_MAX:
  case IR_OP_REDUCE_MIN: {
    int is_max = op == IR_OP_REDUCE_MAX;
    int64_t m = is_max ? int_min(dt) : int_max(dt);
    for (int64_t j = 0; j < cnt; j++) {
      int64_t v = ELEM(j);
      if (is_max ? v > m : v < m) m = v;
    }
    return m;
  }
  case IR_OP_REDUCE_PROD:
    acc = 1;
    for (int64_t j = 0; j < cnt; j++) acc *= (uint64_t)ELEM(j);
    return (int64_t)acc;
  case IR_OP_REDUCE_L1:
    for (int64_t j = 0; j < cnt; j++) {
      int64_t v = ELEM(j);
      acc += v < 0 ? -(uint64_t)v : (uint64_t)v;
    }
    return (int64_t)acc;
  case IR_OP_REDUCE_SUM_SQUARE:
    for (int64_t j = 0; j < cnt; j++) {
      uint64_t v = (uint64_t)ELEM(j);
      acc += v * v;
    }
    return (int64_t)acc;
  default: KILN_UNREACHABLE();
  }
#undef ELEM
}

int eval_reduce(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  /* in[1] (axes), if still present, was turned into the attribute */
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  reduce_plan p;
  if (make_reduce_plan(g, n, &x->type, &p, d)) return d->status;
  KILN_ASSERT(ir_type_equal(&y->type, &p.out));
  if (p.noop) {
    memcpy(y->data, x->data, (size_t)ir_type_nbytes(&x->type));
    return KILN_OK;
  }
  /* x: [d0, ..., d_{r-1}]; kept axes index y (in order, so y's flat index is
   * the kept subspace's flat index), reduced axes are walked per output */
  int64_t strides[IR_MAX_RANK];
  ir_contig_strides(&x->type, strides);
  subspace kept = {0}, red = {0};
  for (int k = 0; k < x->type.rank; k++) {
    subspace *s = p.red[k] ? &red : &kept;
    s->dims[s->rank] = x->type.dims[k];
    s->strides[s->rank++] = strides[k];
  }
  int64_t n_out = sub_numel(&kept), cnt = sub_numel(&red);
  KILN_ASSERT(n_out == ir_type_numel(&y->type));
  int as_int = !ir_dtype_is_float(x->type.dtype) && is_exact_int_reduce(n->op);
  for (int64_t o = 0; o < n_out; o++) {
    int64_t base = sub_offset(&kept, o);
    if (as_int) ir_tensor_set_i(y, o, reduce_i(n->op, x, base, &red, cnt));
    else ir_tensor_set_f(y, o, reduce_f(n->op, x, base, &red, cnt));
  }
  return KILN_OK;
}

/* ---- argmax, argmin ------------------------------------------------------------ */

typedef struct {
  int axis, keep, last;
  ir_type out;
} arg_plan;

static int make_arg_plan(const ir_graph *g, const ir_node *n, const ir_type *x, arg_plan *p,
                         kiln_diag *d) {
  if (get_flag(g, n, "keepdims", &p->keep, d) ||
      get_flag(g, n, "select_last_index", &p->last, d) || get_axis(g, n, x->rank, &p->axis, d))
    return d->status;
  p->out.dtype = IR_I64;
  p->out.rank = 0;
  for (int k = 0; k < x->rank; k++) {
    if (k != p->axis) p->out.dims[p->out.rank++] = x->dims[k];
    else if (p->keep) p->out.dims[p->out.rank++] = 1;
  }
  if (x->dims[p->axis] == 0 && ir_type_numel(&p->out) > 0)
    return ir_node_error(d, g, n, "axis %d has size 0: there is no element to pick", p->axis);
  return KILN_OK;
}

int infer_arg_reduce(ir_graph *g, ir_node *n, kiln_diag *d) {
  arg_plan p;
  if (make_arg_plan(g, n, ir_in_type(g, n, 0), &p, d)) return d->status;
  *ir_out_type(g, n, 0) = p.out;
  return KILN_OK;
}

/* Does v replace the best so far? NaN counts as the extreme (np.argmax and
 * np.argmin return the first NaN); with `last`, ties and later NaNs win. */
static int arg_better_f(double v, double best, int is_max, int last) {
  if (isnan(best)) return last && isnan(v);
  if (isnan(v)) return 1;
  if (last) return is_max ? v >= best : v <= best;
  return is_max ? v > best : v < best;
}

static int arg_better_i(int64_t v, int64_t best, int is_max, int last) {
  if (last) return is_max ? v >= best : v <= best;
  return is_max ? v > best : v < best;
}

/* Index along the middle axis of x viewed as [outer, len, inner], for the
 * line at (o, i): the first (or last) extreme. len >= 1. */
static int64_t arg_line(const ir_tensor *x, int64_t o, int64_t len, int64_t inner, int64_t i,
                        int is_max, int last) {
  int64_t base = o * len * inner + i, best = 0;
  if (ir_dtype_is_float(x->type.dtype)) {
    double bv = ir_tensor_get_f(x, base);
    for (int64_t k = 1; k < len; k++) {
      double v = ir_tensor_get_f(x, base + k * inner);
      if (arg_better_f(v, bv, is_max, last)) bv = v, best = k;
    }
  } else {
    int64_t bv = ir_tensor_get_i(x, base);
    for (int64_t k = 1; k < len; k++) {
      int64_t v = ir_tensor_get_i(x, base + k * inner);
      if (arg_better_i(v, bv, is_max, last)) bv = v, best = k;
    }
  }
  return best;
}

int eval_arg_reduce(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                    ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  arg_plan p;
  if (make_arg_plan(g, n, &x->type, &p, d)) return d->status;
  KILN_ASSERT(ir_type_equal(&y->type, &p.out));
  /* x: [outer, len, inner] around the axis; y: [outer, inner] */
  int64_t outer = dims_prod(&x->type, 0, p.axis), len = x->type.dims[p.axis];
  int64_t inner = dims_prod(&x->type, p.axis + 1, x->type.rank);
  if (len == 0) return KILN_OK; /* then y is empty (checked by the plan) */
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++)
      ir_tensor_set_i(y, o * inner + i,
                      arg_line(x, o, len, inner, i, n->op == IR_OP_ARGMAX, p.last));
  return KILN_OK;
}

/* ---- cumsum ------------------------------------------------------------------- */

typedef struct {
  int axis, exclusive, reverse;
} cumsum_plan;

static int make_cumsum_plan(const ir_graph *g, const ir_node *n, const ir_type *x,
                            cumsum_plan *p, kiln_diag *d) {
  if (!ir_dtype_is_float(x->dtype) && !ir_dtype_is_int(x->dtype))
    return ir_node_error(d, g, n, "does not accept %s inputs", ir_dtype_name(x->dtype));
  if (!ir_attr_find(n, "axis"))
    return ir_node_error(d, g, n, "needs 'axis' (an attribute or input 1)");
  if (get_axis(g, n, x->rank, &p->axis, d) || get_flag(g, n, "exclusive", &p->exclusive, d) ||
      get_flag(g, n, "reverse", &p->reverse, d))
    return d->status;
  return KILN_OK;
}

int infer_cumsum(ir_graph *g, ir_node *n, kiln_diag *d) {
  cumsum_plan p;
  const ir_type *x = ir_in_type(g, n, 0);
  if (make_cumsum_plan(g, n, x, &p, d)) return d->status;
  *ir_out_type(g, n, 0) = *x;
  return KILN_OK;
}

int eval_cumsum(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  cumsum_plan p;
  if (make_cumsum_plan(g, n, &x->type, &p, d)) return d->status;
  KILN_ASSERT(ir_type_equal(&y->type, &x->type));
  /* x, y: [outer, len, inner] around the axis */
  int64_t outer = dims_prod(&x->type, 0, p.axis), len = x->type.dims[p.axis];
  int64_t inner = dims_prod(&x->type, p.axis + 1, x->type.rank);
  int isf = ir_dtype_is_float(x->type.dtype);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double accf = 0.0;
      uint64_t acci = 0; /* wraps; ir_tensor_set_i narrows like astype */
      for (int64_t t = 0; t < len; t++) {
        int64_t k = p.reverse ? len - 1 - t : t;
        int64_t at = (o * len + k) * inner + i;
        if (isf) {
          double v = ir_tensor_get_f(x, at);
          if (!p.exclusive) accf += v;
          ir_tensor_set_f(y, at, accf);
          if (p.exclusive) accf += v;
        } else {
          uint64_t v = (uint64_t)ir_tensor_get_i(x, at);
          if (!p.exclusive) acci += v;
          ir_tensor_set_i(y, at, (int64_t)acci);
          if (p.exclusive) acci += v;
        }
      }
    }
  return KILN_OK;
}

/* ---- softmax, log_softmax, hardmax ---------------------------------------------- */

static int make_softmax_plan(const ir_graph *g, const ir_node *n, const ir_type *x, int *axis,
                             kiln_diag *d) {
  if (require_float(g, n, x, "the input", d) || get_axis(g, n, x->rank, axis, d))
    return d->status;
  return KILN_OK;
}

int infer_softmax(ir_graph *g, ir_node *n, kiln_diag *d) {
  int axis;
  const ir_type *x = ir_in_type(g, n, 0);
  if (make_softmax_plan(g, n, x, &axis, d)) return d->status;
  *ir_out_type(g, n, 0) = *x;
  return KILN_OK;
}

int eval_softmax(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                 ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  int axis;
  if (make_softmax_plan(g, n, &x->type, &axis, d)) return d->status;
  KILN_ASSERT(ir_type_equal(&y->type, &x->type));
  /* x, y: [outer, len, inner] around the axis */
  int64_t outer = dims_prod(&x->type, 0, axis), len = x->type.dims[axis];
  int64_t inner = dims_prod(&x->type, axis + 1, x->type.rank);
  if (len == 0) return KILN_OK;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i;
      if (n->op == IR_OP_HARDMAX) {
        /* 1 at the first maximum (a NaN counts as the maximum, as in
         * np.argmax, which the ONNX reference uses) */
        int64_t at = arg_line(x, o, len, inner, i, 1, 0);
        for (int64_t k = 0; k < len; k++) ir_tensor_set_f(y, base + k * inner, k == at);
        continue;
      }
      /* exp(x - m) with m the maximum: never overflows; a NaN anywhere in
       * the line makes the sum, and so every output, NaN */
      double m = -INFINITY, s = 0.0;
      for (int64_t k = 0; k < len; k++) {
        double v = ir_tensor_get_f(x, base + k * inner);
        if (v > m) m = v;
      }
      for (int64_t k = 0; k < len; k++) s += exp(ir_tensor_get_f(x, base + k * inner) - m);
      double log_s = log(s);
      for (int64_t k = 0; k < len; k++) {
        double z = ir_tensor_get_f(x, base + k * inner) - m;
        ir_tensor_set_f(y, base + k * inner, n->op == IR_OP_SOFTMAX ? exp(z) / s : z - log_s);
      }
    }
  return KILN_OK;
}

/* ---- lp_normalization ------------------------------------------------------------ */

static int make_lp_plan(const ir_graph *g, const ir_node *n, const ir_type *x, int *axis,
                        int *pnorm, kiln_diag *d) {
  if (require_float(g, n, x, "the input", d) || get_axis(g, n, x->rank, axis, d))
    return d->status;
  int64_t p = ir_attr_int(n, "p");
  if (p != 1 && p != 2) return ir_node_error(d, g, n, "p must be 1 or 2, not %lld", (long long)p);
  *pnorm = (int)p;
  return KILN_OK;
}

int infer_lp_normalization(ir_graph *g, ir_node *n, kiln_diag *d) {
  int axis, p;
  const ir_type *x = ir_in_type(g, n, 0);
  if (make_lp_plan(g, n, x, &axis, &p, d)) return d->status;
  *ir_out_type(g, n, 0) = *x;
  return KILN_OK;
}

int eval_lp_normalization(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                          ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  int axis, p;
  if (make_lp_plan(g, n, &x->type, &axis, &p, d)) return d->status;
  KILN_ASSERT(ir_type_equal(&y->type, &x->type));
  /* x, y: [outer, len, inner] around the axis; y = x / ||x||_p along it, and
   * 0 where the norm is 0 (the ONNX reference's rule) */
  int64_t outer = dims_prod(&x->type, 0, axis), len = x->type.dims[axis];
  int64_t inner = dims_prod(&x->type, axis + 1, x->type.rank);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * len * inner + i;
      double s = 0.0;
      for (int64_t k = 0; k < len; k++) {
        double v = ir_tensor_get_f(x, base + k * inner);
        s += p == 1 ? fabs(v) : v * v;
      }
      double norm = p == 1 ? s : sqrt(s);
      for (int64_t k = 0; k < len; k++) {
        double v = ir_tensor_get_f(x, base + k * inner);
        ir_tensor_set_f(y, base + k * inner, norm == 0.0 ? 0.0 : v / norm);
      }
    }
  return KILN_OK;
}

/* ---- normalisations: plans ------------------------------------------------------- */

typedef struct {
  int axis;        /* layer_norm, rms_norm: first normalised axis */
  int64_t outer;   /* independent groups of statistics */
  int64_t m;       /* elements per group */
  int64_t c;       /* channels (batch/instance/group norm) */
  int64_t groups;  /* group_norm */
  int64_t spatial; /* elements per (n, c) */
  double eps;
} norm_plan;

/* An input of the same float dtype as x. */
static int check_param_dtype(const ir_graph *g, const ir_node *n, const ir_type *x,
                             const ir_type *t, const char *what, kiln_diag *d) {
  if (t->dtype != x->dtype)
    return ir_node_error(d, g, n, "%s must be %s like the input, not %s", what,
                         ir_dtype_name(x->dtype), ir_dtype_name(t->dtype));
  return KILN_OK;
}

/* A per-channel input: dtype of x and shape [c]. */
static int check_per_channel(const ir_graph *g, const ir_node *n, const ir_type *x,
                             const ir_type *t, int64_t c, const char *what, kiln_diag *d) {
  if (check_param_dtype(g, n, x, t, what, d)) return d->status;
  if (t->rank != 1 || t->dims[0] != c) {
    char buf[256];
    return ir_node_error(d, g, n, "%s must have shape [%lld] (one value per channel), not %s",
                         what, (long long)c, ir_type_str(t, buf, sizeof buf));
  }
  return KILN_OK;
}

/* A layer_norm/rms_norm parameter: dtype of x, shape broadcastable (NumPy
 * rules, never growing the rank) to the normalised dims x[axis, rank). */
static int check_norm_param(const ir_graph *g, const ir_node *n, const ir_type *x, int axis,
                            const ir_type *t, const char *what, kiln_diag *d) {
  if (check_param_dtype(g, n, x, t, what, d)) return d->status;
  int nr = x->rank - axis;
  int ok = t->rank <= nr;
  for (int i = 0; ok && i < t->rank; i++) {
    int64_t td = t->dims[t->rank - 1 - i], xd = x->dims[x->rank - 1 - i];
    ok = td == xd || td == 1;
  }
  if (!ok) {
    char a[256], b[256];
    ir_type nt = {.dtype = x->dtype, .rank = nr};
    for (int i = 0; i < nr; i++) nt.dims[i] = x->dims[axis + i];
    return ir_node_error(d, g, n, "%s of shape %s does not broadcast to the normalised shape %s",
                         what, ir_type_str(t, a, sizeof a), ir_type_str(&nt, b, sizeof b));
  }
  return KILN_OK;
}

/* The input types of a norm node (NULL: absent), gathered from the graph by
 * infer_norm and from the tensors by eval_norm_plan, so one function checks
 * both. */
typedef struct {
  const ir_type *t[5];
} norm_inputs;

static int make_norm_plan(const ir_graph *g, const ir_node *n, const norm_inputs *ins,
                          norm_plan *p, kiln_diag *d) {
  memset(p, 0, sizeof *p);
  for (int i = 0; i < ir_op_get(n->op)->min_in; i++)
    if (!ins->t[i]) return ir_node_error(d, g, n, "input %d is required", i);
  const ir_type *x = ins->t[0];
  if (require_float(g, n, x, "the input", d) || get_epsilon(g, n, &p->eps, d)) return d->status;
  switch (n->op) {
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM:
    if (get_axis(g, n, x->rank, &p->axis, d) ||
        check_norm_param(g, n, x, p->axis, ins->t[1], "the scale", d))
      return d->status;
    if (ins->t[2] && check_norm_param(g, n, x, p->axis, ins->t[2], "the bias", d))
      return d->status;
    p->outer = dims_prod(x, 0, p->axis);
    p->m = dims_prod(x, p->axis, x->rank);
    return KILN_OK;
  case IR_OP_BATCH_NORM: {
    /* x: [N, C, D1, ...]; a rank-1 input [N] has one channel */
    if (x->rank < 1) return ir_node_error(d, g, n, "needs an input of rank 1 or more");
    p->c = x->rank == 1 ? 1 : x->dims[1];
    p->spatial = dims_prod(x, 2, x->rank);
    static const char *names[] = {"", "the scale", "the bias", "the mean", "the variance"};
    for (int i = 1; i < 5; i++)
      if (check_per_channel(g, n, x, ins->t[i], p->c, names[i], d)) return d->status;
    return KILN_OK;
  }
  case IR_OP_INSTANCE_NORM:
  case IR_OP_GROUP_NORM:
    /* x: [N, C, D1, ...] */
    if (x->rank < 2)
      return ir_node_error(d, g, n, "needs an input of rank 2 or more ([N, C, ...]), not %d",
                           x->rank);
    p->c = x->dims[1];
    p->spatial = dims_prod(x, 2, x->rank);
    if (check_per_channel(g, n, x, ins->t[1], p->c, "the scale", d) ||
        check_per_channel(g, n, x, ins->t[2], p->c, "the bias", d))
      return d->status;
    p->groups = p->c;
    if (n->op == IR_OP_GROUP_NORM) {
      if (!ir_attr_find(n, "num_groups"))
        return ir_node_error(d, g, n, "attribute 'num_groups' is required");
      p->groups = ir_attr_int(n, "num_groups");
      if (p->groups <= 0)
        return ir_node_error(d, g, n, "num_groups must be positive, not %lld",
                             (long long)p->groups);
      if (p->c % p->groups != 0)
        return ir_node_error(d, g, n, "num_groups %lld does not divide the %lld channels",
                             (long long)p->groups, (long long)p->c);
    }
    /* statistics per (n, group) over (c / groups) * spatial elements; when
     * c > 0, groups <= c keeps outer within the tensor's element count */
    p->outer = p->c ? x->dims[0] * p->groups : 0;
    p->m = p->c ? (p->c / p->groups) * p->spatial : 0;
    return KILN_OK;
  default: KILN_UNREACHABLE();
  }
}

int infer_norm(ir_graph *g, ir_node *n, kiln_diag *d) {
  norm_inputs ins = {{NULL}};
  for (int i = 0; i < n->n_in && i < 5; i++)
    if (ir_node_has_input(n, i)) ins.t[i] = ir_in_type(g, n, i);
  norm_plan p;
  if (make_norm_plan(g, n, &ins, &p, d)) return d->status;
  const ir_type *x = ins.t[0];
  *ir_out_type(g, n, 0) = *x;
  if (n->op == IR_OP_LAYER_NORM) {
    /* mean and inv_std_dev: f32 [d0, ..., d_{axis-1}, 1, ..., 1] */
    ir_type st = *x;
    st.dtype = IR_F32;
    for (int k = p.axis; k < x->rank; k++) st.dims[k] = 1;
    for (int j = 1; j < n->n_out; j++) *ir_out_type(g, n, j) = st;
  }
  return KILN_OK;
}

static int eval_norm_plan(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                          const ir_tensor *y, norm_plan *p, kiln_diag *d) {
  norm_inputs ins = {{NULL}};
  for (int i = 0; i < n->n_in && i < 5; i++)
    if (in[i]) ins.t[i] = &in[i]->type;
  if (make_norm_plan(g, n, &ins, p, d)) return d->status;
  KILN_ASSERT(ir_type_equal(&y->type, &in[0]->type));
  return KILN_OK;
}

/* Mean and variance (two passes, population form) of the cnt elements of x
 * at first, first + stride, ... */
static void moments(const ir_tensor *x, int64_t first, int64_t cnt, double *mean, double *var) {
  double s = 0.0;
  for (int64_t j = 0; j < cnt; j++) s += ir_tensor_get_f(x, first + j);
  double mu = s / (double)cnt; /* cnt 0: NaN, never used for an output */
  double q = 0.0;
  for (int64_t j = 0; j < cnt; j++) {
    double e = ir_tensor_get_f(x, first + j) - mu;
    q += e * e;
  }
  *mean = mu;
  *var = q / (double)cnt;
}

/* Offset into a parameter broadcast over dims[0, rank) (strides from
 * ir_broadcast_strides) of the flat C-order index j. */
static int64_t bcast_offset(int64_t j, const ir_type *over, const int64_t *strides) {
  int64_t off = 0;
  for (int k = over->rank - 1; k >= 0; k--) {
    off += (j % over->dims[k]) * strides[k];
    j /= over->dims[k];
  }
  return off;
}

/* ---- layer_norm, rms_norm ------------------------------------------------------------ */

/* Shared by layer_norm (centred, bias) and rms_norm (uncentred, no bias):
 * x viewed as [outer, m] with m = prod x[axis, rank). */
static int eval_trailing_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                              ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0], *scale = in[1], *bias = n->n_in > 2 ? in[2] : NULL;
  ir_tensor *y = out[0];
  norm_plan p;
  if (eval_norm_plan(g, n, in, y, &p, d)) return d->status;
  int layer = n->op == IR_OP_LAYER_NORM;
  ir_type nt = {.dtype = x->type.dtype, .rank = x->type.rank - p.axis};
  for (int k = 0; k < nt.rank; k++) nt.dims[k] = x->type.dims[p.axis + k];
  int64_t sst[IR_MAX_RANK], bst[IR_MAX_RANK];
  ir_broadcast_strides(&scale->type, &nt, sst);
  if (bias) ir_broadcast_strides(&bias->type, &nt, bst);
  ir_tensor *mean_out = layer && n->n_out > 1 ? out[1] : NULL;
  ir_tensor *inv_out = layer && n->n_out > 2 ? out[2] : NULL;
  for (int64_t o = 0; o < p.outer; o++) {
    int64_t first = o * p.m;
    double mu = 0.0, var;
    if (layer) {
      moments(x, first, p.m, &mu, &var);
    } else {
      double s = 0.0; /* mean of squares */
      for (int64_t j = 0; j < p.m; j++) {
        double v = ir_tensor_get_f(x, first + j);
        s += v * v;
      }
      var = s / (double)p.m;
    }
    double inv = 1.0 / sqrt(var + p.eps);
    for (int64_t j = 0; j < p.m; j++) {
      double v = (ir_tensor_get_f(x, first + j) - mu) * inv;
      v *= ir_tensor_get_f(scale, bcast_offset(j, &nt, sst));
      if (bias) v += ir_tensor_get_f(bias, bcast_offset(j, &nt, bst));
      ir_tensor_set_f(y, first + j, v);
    }
    if (mean_out) ir_tensor_set_f(mean_out, o, mu);
    if (inv_out) ir_tensor_set_f(inv_out, o, inv);
  }
  return KILN_OK;
}

int eval_layer_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                    ir_tensor *const *out, kiln_diag *d) {
  return eval_trailing_norm(g, n, in, out, d);
}

int eval_rms_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                  ir_tensor *const *out, kiln_diag *d) {
  return eval_trailing_norm(g, n, in, out, d);
}

/* ---- batch_norm ------------------------------------------------------------------------- */

int eval_batch_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                    ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0], *scale = in[1], *bias = in[2], *mean = in[3], *var = in[4];
  ir_tensor *y = out[0];
  norm_plan p;
  if (eval_norm_plan(g, n, in, y, &p, d)) return d->status;
  /* x, y: [N, C, spatial]; y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c] */
  int64_t batch = x->type.dims[0];
  for (int64_t c = 0; c < p.c; c++) {
    double mu = ir_tensor_get_f(mean, c);
    double a = ir_tensor_get_f(scale, c) / sqrt(ir_tensor_get_f(var, c) + p.eps);
    double b = ir_tensor_get_f(bias, c);
    for (int64_t b_i = 0; b_i < batch; b_i++) {
      int64_t first = (b_i * p.c + c) * p.spatial;
      for (int64_t s = 0; s < p.spatial; s++)
        ir_tensor_set_f(y, first + s, (ir_tensor_get_f(x, first + s) - mu) * a + b);
    }
  }
  return KILN_OK;
}

/* ---- instance_norm, group_norm ------------------------------------------------------------ */

/* x viewed as [N, groups, (C / groups) * spatial]: statistics per (n, group),
 * scale and bias per channel. instance_norm is the case groups = C. */
static int eval_grouped_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                             ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0], *scale = in[1], *bias = in[2];
  ir_tensor *y = out[0];
  norm_plan p;
  if (eval_norm_plan(g, n, in, y, &p, d)) return d->status;
  if (p.m == 0) return KILN_OK; /* no elements per group: y is empty */
  int64_t per_group = p.c / p.groups;
  for (int64_t o = 0; o < p.outer; o++) {
    int64_t first = o * p.m;
    double mu, var;
    moments(x, first, p.m, &mu, &var);
    double inv = 1.0 / sqrt(var + p.eps);
    for (int64_t j = 0; j < p.m; j++) {
      int64_t c = (o % p.groups) * per_group + j / p.spatial;
      double v = (ir_tensor_get_f(x, first + j) - mu) * inv;
      ir_tensor_set_f(y, first + j, v * ir_tensor_get_f(scale, c) + ir_tensor_get_f(bias, c));
    }
  }
  return KILN_OK;
}

int eval_instance_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                       ir_tensor *const *out, kiln_diag *d) {
  return eval_grouped_norm(g, n, in, out, d);
}

int eval_group_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                    ir_tensor *const *out, kiln_diag *d) {
  return eval_grouped_norm(g, n, in, out, d);
}

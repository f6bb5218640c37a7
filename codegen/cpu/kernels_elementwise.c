/* Elementwise kernels: unary ops, cast, copies, binary ops with NumPy
 * broadcasting, and where. The semantics are ir/ops_elementwise.c's; the
 * comments below only note how each is reproduced.
 *
 * Floats are computed in their own type (f32 in f32, so loops vectorise):
 * + - * / sqrt, comparisons, min/max, floor/ceil/round and the selects are
 * then bit-identical to the interpreter (which rounds one double result),
 * and library functions (tanh, log, sin, ...) agree within an ulp or two.
 * f32 exp, tanh, erf, sigmoid, silu and gelu are computed in double with
 * kernels_common.c's inline math (relative error 1e-11 or less, so the
 * f32 result is the interpreter's rounded double but for a value within
 * about 2^-35 of a rounding boundary: one ulp at most), which vectorises
 * where a libm call would not.
 * pow is the exception: it is computed in double like the interpreter, so
 * integer and mixed-type pow stay exact. Integers are computed in their own
 * width, which wraps exactly as the interpreter's int64 arithmetic followed
 * by narrowing does; division and remainder guard their divisor so that no
 * undefined division is ever executed (x / 0 = 0, x % 0 = 0, MIN / -1
 * wraps, MIN % -1 = 0, as documented in ops_elementwise.c).
 */
#include <math.h>
#include <string.h>

#include "codegen/cpu/kernels.h"

/* ---- small builders ---------------------------------------------------------------------- */

#define BLD (k->L->b)

static LLVMValueRef fconst(LLVMValueRef like, double v) {
  return LLVMConstReal(LLVMTypeOf(like), v);
}

static LLVMValueRef fcmp(cg_kernel *k, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFCmp(BLD, p, a, b, "");
}

static LLVMValueRef sel(cg_kernel *k, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(BLD, c, a, b, "");
}

static LLVMValueRef intr1(cg_kernel *k, const char *name, LLVMValueRef x) {
  return cgl_intrinsic(k->L, name, LLVMTypeOf(x), &x, 1);
}

static LLVMValueRef intr2(cg_kernel *k, const char *name, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  return cgl_intrinsic(k->L, name, LLVMTypeOf(a), args, 2);
}

/* libm's NAME for doubles, NAMEf for floats. */
static LLVMValueRef libm1(cg_kernel *k, const char *name, LLVMValueRef x) {
  char buf[32];
  int is_f32 = LLVMTypeOf(x) == k->L->t_f32;
  snprintf(buf, sizeof buf, "%s%s", name, is_f32 ? "f" : "");
  return cgl_libm(k->L, buf, LLVMTypeOf(x), &x, 1);
}

static LLVMValueRef fadd(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(BLD, a, b, "");
}
static LLVMValueRef fsub(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFSub(BLD, a, b, "");
}
static LLVMValueRef fmul(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFMul(BLD, a, b, "");
}
static LLVMValueRef fdiv(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFDiv(BLD, a, b, "");
}

/* fmax / fmin of C (a NaN operand is ignored): llvm.maxnum / minnum. */
static LLVMValueRef fmaxnum(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return intr2(k, "llvm.maxnum", a, b);
}
static LLVMValueRef fminnum(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return intr2(k, "llvm.minnum", a, b);
}

/* ---- unary ------------------------------------------------------------------------------- */

/* The attributes of a unary op, read as ops_elementwise.c reads them. */
typedef struct {
  ir_op op;
  ir_dtype t;
  double alpha, beta, gamma, lambd, bias;
  int gelu_tanh;
  int has_lo, has_hi;
  double lo, hi;
  int64_t lo_i, hi_i, lambd_i, bias_i;
  int det_neg, det_pos;
} uparams;

static int64_t sat_i64(double v) {
  if (isnan(v)) return 0;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  if (v >= 9223372036854775808.0) return INT64_MAX;
  return (int64_t)v;
}

static int64_t cast_like_i(ir_dtype t, double v) {
  int64_t buf = 0;
  ir_store_f(t, &buf, 0, v);
  return ir_load_i(t, &buf, 0);
}

static void uparams_init(const ir_node *n, ir_dtype t, uparams *p) {
  memset(p, 0, sizeof *p);
  p->op = n->op;
  p->t = t;
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
    if (ir_dtype_is_int(t)) {
      p->lambd_i = cast_like_i(t, p->lambd);
      p->bias_i = cast_like_i(t, p->bias);
    }
    break;
  case IR_OP_GELU: p->gelu_tanh = strcmp(ir_attr_str(n, "approximate"), "tanh") == 0; break;
  case IR_OP_CLIP:
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

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise: one exp(-|x|);
 * the inline cgk_vexp_f64 (x: f64) where `inl`, else llvm.exp. */
static LLVMValueRef sigmoid_exp(cg_kernel *k, LLVMValueRef x, int inl) {
  LLVMValueRef na = LLVMBuildFNeg(BLD, intr1(k, "llvm.fabs", x), "");
  LLVMValueRef e = inl ? cgk_vexp_f64(k, na) : intr1(k, "llvm.exp", na);
  LLVMValueRef one = fconst(x, 1.0), den = fadd(k, one, e);
  return sel(k, fcmp(k, LLVMRealOGE, x, fconst(x, 0.0)), fdiv(k, one, den), fdiv(k, e, den));
}
static LLVMValueRef sigmoid(cg_kernel *k, LLVMValueRef x) { return sigmoid_exp(k, x, 0); }

/* max(x, 0) + log1p(e^-|x|) */
static LLVMValueRef softplus(cg_kernel *k, LLVMValueRef x) {
  LLVMValueRef e = intr1(k, "llvm.exp", LLVMBuildFNeg(BLD, intr1(k, "llvm.fabs", x), ""));
  return fadd(k, fmaxnum(k, x, fconst(x, 0.0)), libm1(k, "log1p", e));
}

/* f32 exp, tanh, erf, sigmoid, silu and gelu: in double, as the
 * interpreter, with the inline math of kernels_common.c (no libm calls, so
 * the loops vectorise), rounded once to f32; NULL for the other ops. */
static LLVMValueRef unary_f32_via_f64(cg_kernel *k, const uparams *p, LLVMValueRef x32) {
  cgl *L = k->L;
  switch (p->op) {
  case IR_OP_EXP:
  case IR_OP_TANH:
  case IR_OP_ERF:
  case IR_OP_SIGMOID:
  case IR_OP_SILU:
  case IR_OP_GELU: break;
  default: return NULL;
  }
  LLVMValueRef x = LLVMBuildFPExt(BLD, x32, L->t_f64, ""), y;
  switch (p->op) {
  case IR_OP_EXP: y = cgk_vexp_f64(k, x); break;
  case IR_OP_TANH: y = cgk_tanh_f64(k, x); break;
  case IR_OP_ERF: y = cgk_erf_f64(k, x); break;
  case IR_OP_SIGMOID: y = sigmoid_exp(k, x, 1); break;
  case IR_OP_SILU: y = fmul(k, x, sigmoid_exp(k, x, 1)); break;
  default: /* IR_OP_GELU, the interpreter's expressions */
    if (p->gelu_tanh) {
      LLVMValueRef x3 = fmul(k, fmul(k, fmul(k, fconst(x, 0.044715), x), x), x);
      LLVMValueRef in = fmul(k, fconst(x, 0.79788456080286535588), fadd(k, x, x3));
      y = fmul(k, fmul(k, fconst(x, 0.5), x), fadd(k, fconst(x, 1.0), cgk_tanh_f64(k, in)));
    } else {
      LLVMValueRef z = fmul(k, LLVMBuildFNeg(BLD, x, ""), fconst(x, 0.70710678118654752440));
      y = fmul(k, fmul(k, fconst(x, 0.5), x), cgk_erfc_f64(k, z));
    }
    break;
  }
  return LLVMBuildFPTrunc(BLD, y, L->t_f32, "");
}

/* One element of a unary op on a float x (f32 or f64). */
static LLVMValueRef unary_fp(cg_kernel *k, const uparams *p, LLVMValueRef x) {
  LLVMValueRef zero = fconst(x, 0.0), one = fconst(x, 1.0);
  if (LLVMTypeOf(x) == k->L->t_f32) {
    LLVMValueRef y = unary_f32_via_f64(k, p, x);
    if (y) return y;
  }
  switch (p->op) {
  case IR_OP_NEG: return LLVMBuildFNeg(BLD, x, "");
  case IR_OP_ABS: return intr1(k, "llvm.fabs", x);
  case IR_OP_EXP: return intr1(k, "llvm.exp", x);
  case IR_OP_LOG: return intr1(k, "llvm.log", x);
  case IR_OP_SQRT: return intr1(k, "llvm.sqrt", x);
  case IR_OP_RECIPROCAL: return fdiv(k, one, x);
  case IR_OP_SIN: return intr1(k, "llvm.sin", x);
  case IR_OP_COS: return intr1(k, "llvm.cos", x);
  case IR_OP_TAN: return libm1(k, "tan", x);
  case IR_OP_ASIN: return libm1(k, "asin", x);
  case IR_OP_ACOS: return libm1(k, "acos", x);
  case IR_OP_ATAN: return libm1(k, "atan", x);
  case IR_OP_SINH: return libm1(k, "sinh", x);
  case IR_OP_COSH: return libm1(k, "cosh", x);
  case IR_OP_ASINH: return libm1(k, "asinh", x);
  case IR_OP_ACOSH: return libm1(k, "acosh", x);
  case IR_OP_ATANH: return libm1(k, "atanh", x);
  case IR_OP_TANH: return libm1(k, "tanh", x);
  case IR_OP_SIGMOID: return sigmoid(k, x);
  /* x < 0 ? 0 : x keeps NaN and -0 */
  case IR_OP_RELU: return sel(k, fcmp(k, LLVMRealOLT, x, zero), zero, x);
  case IR_OP_LEAKY_RELU:
    return sel(k, fcmp(k, LLVMRealOLT, x, zero), fmul(k, fconst(x, p->alpha), x), x);
  case IR_OP_ELU:
    return sel(k, fcmp(k, LLVMRealOLT, x, zero), fmul(k, fconst(x, p->alpha), libm1(k, "expm1", x)),
               x);
  case IR_OP_SELU: {
    LLVMValueRef g = fconst(x, p->gamma);
    LLVMValueRef neg = fmul(k, g, fmul(k, fconst(x, p->alpha), libm1(k, "expm1", x)));
    return sel(k, fcmp(k, LLVMRealOLE, x, zero), neg, fmul(k, g, x));
  }
  case IR_OP_CELU: {
    LLVMValueRef a = fconst(x, p->alpha);
    LLVMValueRef e = fmul(k, a, libm1(k, "expm1", fdiv(k, x, a)));
    return fadd(k, fmaxnum(k, zero, x), fminnum(k, zero, e));
  }
  case IR_OP_GELU: {
    if (p->gelu_tanh) {
      LLVMValueRef x3 = fmul(k, fmul(k, fconst(x, 0.044715), x), fmul(k, x, x));
      LLVMValueRef in = fmul(k, fconst(x, 0.79788456080286535588), fadd(k, x, x3));
      return fmul(k, fmul(k, fconst(x, 0.5), x), fadd(k, one, libm1(k, "tanh", in)));
    }
    /* 1 + erf(x / sqrt 2) as erfc(-x / sqrt 2), as the interpreter */
    LLVMValueRef z = fmul(k, LLVMBuildFNeg(BLD, x, ""), fconst(x, 0.70710678118654752440));
    return fmul(k, fmul(k, fconst(x, 0.5), x), libm1(k, "erfc", z));
  }
  case IR_OP_SILU: return fmul(k, x, sigmoid(k, x));
  case IR_OP_SOFTPLUS: return softplus(k, x);
  case IR_OP_SOFTSIGN: return fdiv(k, x, fadd(k, one, intr1(k, "llvm.fabs", x)));
  case IR_OP_HARD_SIGMOID: {
    LLVMValueRef v = fadd(k, fmul(k, fconst(x, p->alpha), x), fconst(x, p->beta));
    return fmaxnum(k, zero, fminnum(k, one, v));
  }
  case IR_OP_HARD_SWISH: {
    LLVMValueRef v = fadd(k, fdiv(k, x, fconst(x, 6.0)), fconst(x, 0.5));
    return fmul(k, x, fmaxnum(k, zero, fminnum(k, one, v)));
  }
  case IR_OP_MISH: return fmul(k, x, libm1(k, "tanh", softplus(k, x)));
  case IR_OP_THRESHOLDED_RELU: return sel(k, fcmp(k, LLVMRealOGT, x, fconst(x, p->alpha)), x, zero);
  case IR_OP_SHRINK: {
    LLVMValueRef l = fconst(x, p->lambd), b = fconst(x, p->bias);
    LLVMValueRef hi = sel(k, fcmp(k, LLVMRealOGT, x, l), fsub(k, x, b), zero);
    return sel(k, fcmp(k, LLVMRealOLT, x, LLVMBuildFNeg(BLD, l, "")), fadd(k, x, b), hi);
  }
  case IR_OP_ERF: return libm1(k, "erf", x);
  case IR_OP_FLOOR: return intr1(k, "llvm.floor", x);
  case IR_OP_CEIL: return intr1(k, "llvm.ceil", x);
  case IR_OP_ROUND: return intr1(k, "llvm.roundeven", x); /* half to even, keeps -0 */
  case IR_OP_SIGN:
    /* x > 0 ? 1 : x < 0 ? -1 : x (keeps 0, -0 and NaN) */
    return sel(k, fcmp(k, LLVMRealOGT, x, zero), one,
               sel(k, fcmp(k, LLVMRealOLT, x, zero), fconst(x, -1.0), x));
  case IR_OP_CLIP:
    /* lower bound first; NaN compares false and passes through */
    if (p->has_lo) x = sel(k, fcmp(k, LLVMRealOLT, x, fconst(x, p->lo)), fconst(x, p->lo), x);
    if (p->has_hi) x = sel(k, fcmp(k, LLVMRealOGT, x, fconst(x, p->hi)), fconst(x, p->hi), x);
    return x;
  default: KILN_UNREACHABLE();
  }
}

/* One element of an integer unary op (neg abs relu sign clip shrink) in x's
 * own width; clip and shrink compare in int64 like the interpreter. */
static LLVMValueRef unary_int(cg_kernel *k, const uparams *p, LLVMValueRef x) {
  cgl *L = k->L;
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef zero = LLVMConstNull(t);
  int u = cgk_unsigned(p->t);
  LLVMIntPredicate lt = u ? LLVMIntULT : LLVMIntSLT, gt = u ? LLVMIntUGT : LLVMIntSGT;
  switch (p->op) {
  case IR_OP_NEG: return LLVMBuildSub(BLD, zero, x, "");
  case IR_OP_ABS:
    return sel(k, LLVMBuildICmp(BLD, lt, x, zero, ""), LLVMBuildSub(BLD, zero, x, ""), x);
  case IR_OP_RELU: return sel(k, LLVMBuildICmp(BLD, lt, x, zero, ""), zero, x);
  case IR_OP_SIGN: {
    LLVMValueRef pos = LLVMBuildZExt(BLD, LLVMBuildICmp(BLD, gt, x, zero, ""), t, "");
    LLVMValueRef neg = LLVMBuildZExt(BLD, LLVMBuildICmp(BLD, lt, x, zero, ""), t, "");
    return LLVMBuildSub(BLD, pos, neg, "");
  }
  case IR_OP_CLIP: {
    LLVMValueRef v = cgk_to_i64(k, p->t, x);
    if (p->has_lo) {
      LLVMValueRef lo = cgl_i64(L, p->lo_i);
      v = sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, v, lo, ""), lo, v);
    }
    if (p->has_hi) {
      LLVMValueRef hi = cgl_i64(L, p->hi_i);
      v = sel(k, LLVMBuildICmp(BLD, LLVMIntSGT, v, hi, ""), hi, v);
    }
    return cgk_from_i64(k, p->t, v);
  }
  case IR_OP_SHRINK: {
    LLVMValueRef v = cgk_to_i64(k, p->t, x);
    LLVMValueRef nl = cgl_i64(L, (int64_t)(0u - (uint64_t)p->lambd_i));
    LLVMValueRef l = cgl_i64(L, p->lambd_i), b = cgl_i64(L, p->bias_i);
    LLVMValueRef hi = sel(k, LLVMBuildICmp(BLD, LLVMIntSGT, v, l, ""), LLVMBuildSub(BLD, v, b, ""),
                          cgl_i64(L, 0));
    LLVMValueRef r =
        sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, v, nl, ""), LLVMBuildAdd(BLD, v, b, ""), hi);
    return cgk_from_i64(k, p->t, r);
  }
  default: KILN_UNREACHABLE();
  }
}

typedef struct {
  uparams p;
  ir_dtype xt, yt;
} unary_ctx;

static void unary_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  const unary_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef x = cgk_load(k, c->xt, k->in[0], off[0]), y;
  switch (c->p.op) {
  case IR_OP_NOT:
    y = LLVMBuildZExt(BLD, LLVMBuildNot(BLD, cgk_truth(k, x), ""), L->t_i8, "");
    break;
  case IR_OP_ISNAN: y = LLVMBuildZExt(BLD, fcmp(k, LLVMRealUNO, x, x), L->t_i8, ""); break;
  case IR_OP_ISINF: {
    LLVMValueRef inf = fconst(x, INFINITY);
    LLVMValueRef pos = fcmp(k, LLVMRealOEQ, x, inf);
    LLVMValueRef neg = fcmp(k, LLVMRealOEQ, x, LLVMBuildFNeg(BLD, inf, ""));
    LLVMValueRef r = LLVMConstInt(L->t_i1, 0, 0);
    if (c->p.det_pos) r = LLVMBuildOr(BLD, r, pos, "");
    if (c->p.det_neg) r = LLVMBuildOr(BLD, r, neg, "");
    y = LLVMBuildZExt(BLD, r, L->t_i8, "");
    break;
  }
  case IR_OP_ERF:
    if (!ir_dtype_is_float(c->xt)) {
      /* erf of an integer: in double, truncated into the dtype */
      y = cgk_from_fp(k, c->yt, libm1(k, "erf", cgk_to_f64(k, c->xt, x)));
      break;
    }
    y = unary_fp(k, &c->p, x);
    break;
  default: y = ir_dtype_is_float(c->xt) ? unary_fp(k, &c->p, x) : unary_int(k, &c->p, x); break;
  }
  cgk_store(k, c->yt, y, k->out[0], off[1]);
}

/* x, y: the same shape, walked as one flat loop. */
static void flat_nest(cg_kernel *k, cg_nest *n) {
  const ir_type *y = k->out_t[0];
  cg_nest_init(n, y->rank, y->dims, 2);
  cg_nest_contig(n, 0);
  cg_nest_contig(n, 1);
  cg_nest_simplify(n);
}

int cg_emit_unary(cg_kernel *k) {
  unary_ctx c;
  c.xt = k->in_t[0]->dtype;
  c.yt = k->out_t[0]->dtype;
  uparams_init(k->n, c.xt, &c.p);
  cg_nest n;
  flat_nest(k, &n);
  cg_nest_emit(k, &n, unary_body, &c);
  return KILN_OK;
}

/* ---- cast -------------------------------------------------------------------------------- */

static void cast_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  const unary_ctx *c = user;
  LLVMValueRef x = cgk_load(k, c->xt, k->in[0], off[0]), y;
  if (ir_dtype_is_float(c->xt)) y = cgk_from_fp(k, c->yt, x);
  /* integer -> float in one rounding (eval_cast's rule) */
  else
    y = cgk_from_i64(k, c->yt, cgk_to_i64(k, c->xt, x));
  cgk_store(k, c->yt, y, k->out[0], off[1]);
}

int cg_emit_cast(cg_kernel *k) {
  unary_ctx c;
  memset(&c, 0, sizeof c);
  c.xt = k->in_t[0]->dtype;
  c.yt = k->out_t[0]->dtype;
  cg_nest n;
  flat_nest(k, &n);
  cg_nest_emit(k, &n, cast_body, &c);
  return KILN_OK;
}

/* ---- copies ------------------------------------------------------------------------------ */

int cg_emit_copy(cg_kernel *k) {
  int64_t nb = ir_type_nbytes(k->out_t[0]);
  KILN_ASSERT(nb == ir_type_nbytes(k->in_t[0]));
  if (k->in_place[0]) return KILN_OK; /* the plan put the result over the input */
  if (nb > 0) cgl_memcpy(k->L, k->out[0], k->in[0], cgl_i64(k->L, nb));
  return KILN_OK;
}

/* ---- binary ------------------------------------------------------------------------------ */

typedef struct {
  ir_op op;
  ir_dtype at, bt, yt;
  int fmod_c;
} binary_ctx;

static int is_compare(ir_op op) {
  return op == IR_OP_EQUAL || op == IR_OP_LESS || op == IR_OP_LESS_EQUAL || op == IR_OP_GREATER ||
         op == IR_OP_GREATER_EQUAL;
}

static LLVMValueRef compare_fp(cg_kernel *k, ir_op op, LLVMValueRef a, LLVMValueRef b) {
  static const LLVMRealPredicate p[] = {LLVMRealOEQ, LLVMRealOLT, LLVMRealOLE, LLVMRealOGT,
                                        LLVMRealOGE};
  return fcmp(k, p[op - IR_OP_EQUAL], a, b);
}

static LLVMValueRef compare_int(cg_kernel *k, ir_op op, int u, LLVMValueRef a, LLVMValueRef b) {
  static const LLVMIntPredicate ps[] = {LLVMIntEQ, LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE};
  static const LLVMIntPredicate pu[] = {LLVMIntEQ, LLVMIntULT, LLVMIntULE, LLVMIntUGT, LLVMIntUGE};
  return LLVMBuildICmp(BLD, (u ? pu : ps)[op - IR_OP_EQUAL], a, b, "");
}

/* base^e in wrapping int64 (ops_elementwise.c's ipow): square-and-multiply
 * over the 64 exponent bits; e < 0 gives 1 for base 1, +-1 for base -1 and
 * 0 otherwise. */
static LLVMValueRef ipow(cg_kernel *k, LLVMValueRef base, LLVMValueRef e) {
  cgl *L = k->L;
  LLVMValueRef r_p = cgl_alloca(L, L->t_i64, "r"), x_p = cgl_alloca(L, L->t_i64, "x");
  LLVMBuildStore(BLD, cgl_i64(L, 1), r_p);
  LLVMBuildStore(BLD, base, x_p);
  cgl_loop lp;
  LLVMValueRef i = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, 63), "bit");
  LLVMValueRef r = LLVMBuildLoad2(BLD, L->t_i64, r_p, ""),
               x = LLVMBuildLoad2(BLD, L->t_i64, x_p, "");
  LLVMValueRef bit = LLVMBuildAnd(BLD, LLVMBuildLShr(BLD, e, i, ""), cgl_i64(L, 1), "");
  r = sel(k, LLVMBuildICmp(BLD, LLVMIntNE, bit, cgl_i64(L, 0), ""), LLVMBuildMul(BLD, r, x, ""), r);
  LLVMBuildStore(BLD, r, r_p);
  LLVMBuildStore(BLD, LLVMBuildMul(BLD, x, x, ""), x_p);
  cgl_loop_end(L, &lp);
  LLVMValueRef pos = LLVMBuildLoad2(BLD, L->t_i64, r_p, "");
  /* e < 0 */
  LLVMValueRef one = cgl_i64(L, 1), mone = cgl_i64(L, -1);
  LLVMValueRef odd =
      LLVMBuildICmp(BLD, LLVMIntNE, LLVMBuildAnd(BLD, e, one, ""), cgl_i64(L, 0), "");
  LLVMValueRef neg = sel(
      k, LLVMBuildICmp(BLD, LLVMIntEQ, base, one, ""), one,
      sel(k, LLVMBuildICmp(BLD, LLVMIntEQ, base, mone, ""), sel(k, odd, mone, one), cgl_i64(L, 0)));
  return sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, e, cgl_i64(L, 0), ""), neg, pos);
}

static LLVMValueRef binary_fp(cg_kernel *k, const binary_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  switch (c->op) {
  case IR_OP_ADD: return fadd(k, a, b);
  case IR_OP_SUB: return fsub(k, a, b);
  case IR_OP_MUL: return fmul(k, a, b);
  case IR_OP_DIV: return fdiv(k, a, b);
  case IR_OP_MAX:
  case IR_OP_MIN: {
    /* a > b ? a : b (a < b for min) already gives b when b is NaN; then a
     * NaN a wins: max_f's rule, which also keeps the interpreter's choice
     * between 0 and -0 (llvm.maximum would not) */
    LLVMValueRef r = sel(k, fcmp(k, c->op == IR_OP_MAX ? LLVMRealOGT : LLVMRealOLT, a, b), a, b);
    return sel(k, fcmp(k, LLVMRealUNO, a, a), a, r);
  }
  case IR_OP_MOD: return LLVMBuildFRem(BLD, a, b, ""); /* fmod=1 (C fmod; exact) */
  case IR_OP_PRELU: return sel(k, fcmp(k, LLVMRealOLT, a, fconst(a, 0.0)), fmul(k, b, a), a);
  default: KILN_UNREACHABLE();
  }
}

static LLVMValueRef binary_int(cg_kernel *k, const binary_ctx *c, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef zero = LLVMConstNull(t), one = cgl_int(t, 1), mone = cgl_int(t, -1);
  int u = cgk_unsigned(c->at);
  switch (c->op) {
  case IR_OP_ADD: return LLVMBuildAdd(BLD, a, b, "");
  case IR_OP_SUB: return LLVMBuildSub(BLD, a, b, "");
  case IR_OP_MUL: return LLVMBuildMul(BLD, a, b, "");
  case IR_OP_DIV:
  case IR_OP_MOD: {
    LLVMValueRef bz = LLVMBuildICmp(BLD, LLVMIntEQ, b, zero, "");
    /* -1 only exists for signed dtypes (255 is not -1 for u8) */
    LLVMValueRef bm =
        u ? LLVMConstInt(k->L->t_i1, 0, 0) : LLVMBuildICmp(BLD, LLVMIntEQ, b, mone, "");
    LLVMValueRef special = LLVMBuildOr(BLD, bz, bm, "");
    LLVMValueRef safe = sel(k, special, one, b);
    if (c->op == IR_OP_DIV) {
      LLVMValueRef q = u ? LLVMBuildUDiv(BLD, a, safe, "") : LLVMBuildSDiv(BLD, a, safe, "");
      return sel(k, bz, zero, sel(k, bm, LLVMBuildSub(BLD, zero, a, ""), q));
    }
    LLVMValueRef r = u ? LLVMBuildURem(BLD, a, safe, "") : LLVMBuildSRem(BLD, a, safe, "");
    if (!u && !c->fmod_c) {
      /* Python-style: the sign of the divisor */
      LLVMValueRef rneg = LLVMBuildICmp(BLD, LLVMIntSLT, r, zero, "");
      LLVMValueRef bneg = LLVMBuildICmp(BLD, LLVMIntSLT, b, zero, "");
      LLVMValueRef fix = LLVMBuildAnd(BLD, LLVMBuildICmp(BLD, LLVMIntNE, r, zero, ""),
                                      LLVMBuildXor(BLD, rneg, bneg, ""), "");
      r = sel(k, fix, LLVMBuildAdd(BLD, r, b, ""), r);
    }
    return sel(k, special, zero, r);
  }
  case IR_OP_MAX: return sel(k, LLVMBuildICmp(BLD, u ? LLVMIntUGT : LLVMIntSGT, a, b, ""), a, b);
  case IR_OP_MIN: return sel(k, LLVMBuildICmp(BLD, u ? LLVMIntULT : LLVMIntSLT, a, b, ""), a, b);
  case IR_OP_PRELU:
    return sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, a, zero, ""), LLVMBuildMul(BLD, a, b, ""), a);
  default: KILN_UNREACHABLE();
  }
}

static void binary_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  const binary_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef a = cgk_load(k, c->at, k->in[0], off[0]);
  LLVMValueRef b = cgk_load(k, c->bt, k->in[1], off[1]);
  LLVMValueRef y;
  int af = ir_dtype_is_float(c->at), bf = ir_dtype_is_float(c->bt);
  if (c->op == IR_OP_POW) {
    if (af || bf) {
      /* in double with libm's pow, then stored as ir_store_f does */
      LLVMValueRef args[2] = {cgk_to_f64(k, c->at, a), cgk_to_f64(k, c->bt, b)};
      y = cgk_from_fp(k, c->yt, cgl_libm(L, "pow", L->t_f64, args, 2));
    } else {
      y = cgk_from_i64(k, c->yt, ipow(k, cgk_to_i64(k, c->at, a), cgk_to_i64(k, c->bt, b)));
    }
  } else if (is_compare(c->op)) {
    LLVMValueRef r;
    if (af)
      r = compare_fp(k, c->op, a, b);
    else if (c->at == IR_BOOL)
      r = compare_int(k, c->op, 1, LLVMBuildZExt(BLD, cgk_truth(k, a), L->t_i8, ""),
                      LLVMBuildZExt(BLD, cgk_truth(k, b), L->t_i8, ""));
    else
      r = compare_int(k, c->op, cgk_unsigned(c->at), a, b);
    y = LLVMBuildZExt(BLD, r, L->t_i8, "");
  } else if (c->op == IR_OP_AND || c->op == IR_OP_OR || c->op == IR_OP_XOR) {
    LLVMValueRef ta = cgk_truth(k, a), tb = cgk_truth(k, b), r;
    if (c->op == IR_OP_AND)
      r = LLVMBuildAnd(BLD, ta, tb, "");
    else if (c->op == IR_OP_OR)
      r = LLVMBuildOr(BLD, ta, tb, "");
    else
      r = LLVMBuildXor(BLD, ta, tb, "");
    y = LLVMBuildZExt(BLD, r, L->t_i8, "");
  } else if (af) {
    y = binary_fp(k, c, a, b);
  } else {
    y = binary_int(k, c, a, b);
  }
  cgk_store(k, c->yt, y, k->out[0], off[2]);
}

int cg_emit_binary(cg_kernel *k) {
  binary_ctx c;
  c.op = k->n->op;
  c.at = k->in_t[0]->dtype;
  c.bt = k->in_t[1]->dtype;
  c.yt = k->out_t[0]->dtype;
  c.fmod_c = c.op == IR_OP_MOD && ir_attr_int(k->n, "fmod") != 0;
  if (c.op != IR_OP_POW && c.at != c.bt)
    return cgk_unsupported(k, "operands of different dtypes (%s, %s)", ir_dtype_name(c.at),
                           ir_dtype_name(c.bt));
  if (c.op == IR_OP_MOD && !c.fmod_c && ir_dtype_is_float(c.at))
    return cgk_unsupported(k, "mod of floats needs fmod=1");
  /* a, b broadcast to y's shape; y dense */
  const ir_type *y = k->out_t[0];
  cg_nest n;
  cg_nest_init(&n, y->rank, y->dims, 3);
  cg_nest_bcast(&n, 0, k->in_t[0]);
  cg_nest_bcast(&n, 1, k->in_t[1]);
  cg_nest_contig(&n, 2);
  cg_nest_simplify(&n);
  cg_nest_emit(k, &n, binary_body, &c);
  return KILN_OK;
}

/* ---- where ------------------------------------------------------------------------------- */

static void where_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  ir_dtype t = *(const ir_dtype *)user;
  LLVMValueRef c = cgk_truth(k, cgk_load(k, IR_BOOL, k->in[0], off[0]));
  LLVMValueRef x = cgk_load(k, t, k->in[1], off[1]), y = cgk_load(k, t, k->in[2], off[2]);
  /* a select moves the bits, so every dtype (and NaN payload) is exact */
  cgk_store(k, t, sel(k, c, x, y), k->out[0], off[3]);
}

int cg_emit_where(cg_kernel *k) {
  ir_dtype t = k->out_t[0]->dtype;
  /* cond, x, y broadcast to r's shape; r dense */
  const ir_type *r = k->out_t[0];
  cg_nest n;
  cg_nest_init(&n, r->rank, r->dims, 4);
  for (int i = 0; i < 3; i++) cg_nest_bcast(&n, i, k->in_t[i]);
  cg_nest_contig(&n, 3);
  cg_nest_simplify(&n);
  cg_nest_emit(k, &n, where_body, &t);
  return KILN_OK;
}

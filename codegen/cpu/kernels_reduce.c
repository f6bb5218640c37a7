/* Reduction and normalisation kernels: reduce_*, argmax/argmin, cumsum,
 * softmax/log_softmax/hardmax, lp_normalization, layer_norm/rms_norm,
 * batch_norm, instance_norm/group_norm. Semantics: ir/ops_reduce.c.
 *
 * Float data is accumulated in f64, element by element in the
 * interpreter's order, so results match it to the final rounding (the
 * interpreter also works in double); exp/log/sqrt are the same libm
 * routines (except f32 softmax/log_softmax: an inline vector exp, below).
 * Integer sums, products and extremes wrap in int64 and are narrowed on
 * the store, as the interpreter's are.
 *
 * Loop structure (the simple, correct form; faster schedules come with the
 * fusion and tiling work): one pass per output element over the elements it
 * reduces.
 */
#include <math.h>
#include <string.h>

#include "codegen/cpu/kernels.h"

#define BLD (k->L->b)

static int64_t prod(const int64_t *d, int lo, int hi) {
  int64_t p = 1;
  for (int i = lo; i < hi; i++) p *= d[i];
  return p;
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

static LLVMValueRef f64c(cg_kernel *k, double v) { return cgl_real(k->L->t_f64, v); }
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
static LLVMValueRef sel(cg_kernel *k, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(BLD, c, a, b, "");
}
static LLVMValueRef isnan_(cg_kernel *k, LLVMValueRef v) {
  return LLVMBuildFCmp(BLD, LLVMRealUNO, v, v, "");
}
static LLVMValueRef fcall(cg_kernel *k, const char *intr, LLVMValueRef v) {
  return cgl_intrinsic(k->L, intr, LLVMTypeOf(v), &v, 1);
}

/* x[at] of dtype t as f64. */
static LLVMValueRef load_f64(cg_kernel *k, ir_dtype t, LLVMValueRef base, LLVMValueRef at) {
  return cgk_to_f64(k, t, cgk_load(k, t, base, at));
}

/* Folds v into a running NaN-propagating max (is_max) or min:
 * (isnan(v) || v > m) ? v : m, so a NaN, once in, stays. */
static LLVMValueRef fold_extreme(cg_kernel *k, LLVMValueRef m, LLVMValueRef v, int is_max) {
  LLVMValueRef better = LLVMBuildFCmp(BLD, is_max ? LLVMRealOGT : LLVMRealOLT, v, m, "");
  return sel(k, LLVMBuildOr(BLD, better, isnan_(k, v), ""), v, m);
}

/* ---- reduce_* ---------------------------------------------------------------------------- */

typedef struct {
  ir_op op;
  ir_dtype xt, yt;
  int as_int;
  int64_t cnt;
  cg_nest red; /* the reduced axes, operand 0 = x */
  LLVMValueRef acc, m;
} reduce_ctx;

static int exact_int(ir_op op) {
  return op == IR_OP_REDUCE_SUM || op == IR_OP_REDUCE_MEAN || op == IR_OP_REDUCE_MAX ||
         op == IR_OP_REDUCE_MIN || op == IR_OP_REDUCE_PROD || op == IR_OP_REDUCE_L1 ||
         op == IR_OP_REDUCE_SUM_SQUARE;
}

static int64_t int_min(ir_dtype t) {
  switch (t) {
  case IR_I64: return INT64_MIN;
  case IR_I32: return INT32_MIN;
  case IR_I16: return INT16_MIN;
  case IR_I8: return INT8_MIN;
  default: return 0; /* u8, bool */
  }
}

static int64_t int_max(ir_dtype t) {
  switch (t) {
  case IR_I64: return INT64_MAX;
  case IR_I32: return INT32_MAX;
  case IR_I16: return INT16_MAX;
  case IR_I8: return INT8_MAX;
  case IR_U8: return UINT8_MAX;
  default: return 1; /* bool */
  }
}

static void reduce_int_elem(cg_kernel *k, LLVMValueRef *off, void *user) {
  reduce_ctx *c = user;
  LLVMValueRef v = cgk_to_i64(k, c->xt, cgk_load(k, c->xt, k->in[0], off[0]));
  LLVMValueRef a = cgk_get(k, c->acc), r;
  switch (c->op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN: r = LLVMBuildAdd(BLD, a, v, ""); break;
  case IR_OP_REDUCE_MAX: r = sel(k, LLVMBuildICmp(BLD, LLVMIntSGT, v, a, ""), v, a); break;
  case IR_OP_REDUCE_MIN: r = sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, v, a, ""), v, a); break;
  case IR_OP_REDUCE_PROD: r = LLVMBuildMul(BLD, a, v, ""); break;
  case IR_OP_REDUCE_L1: {
    LLVMValueRef neg = LLVMBuildSub(BLD, cgl_i64(k->L, 0), v, "");
    r = LLVMBuildAdd(BLD, a,
                     sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, v, cgl_i64(k->L, 0), ""), neg, v), "");
    break;
  }
  case IR_OP_REDUCE_SUM_SQUARE: r = LLVMBuildAdd(BLD, a, LLVMBuildMul(BLD, v, v, ""), ""); break;
  default: KILN_UNREACHABLE();
  }
  cgk_set(k, c->acc, r);
}

static void reduce_fp_elem(cg_kernel *k, LLVMValueRef *off, void *user) {
  reduce_ctx *c = user;
  LLVMValueRef v = load_f64(k, c->xt, k->in[0], off[0]);
  LLVMValueRef a = cgk_get(k, c->acc), r;
  switch (c->op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_LOG_SUM: r = fadd(k, a, v); break;
  case IR_OP_REDUCE_MAX: r = fold_extreme(k, a, v, 1); break;
  case IR_OP_REDUCE_MIN: r = fold_extreme(k, a, v, 0); break;
  case IR_OP_REDUCE_PROD: r = fmul(k, a, v); break;
  case IR_OP_REDUCE_L1: r = fadd(k, a, fcall(k, "llvm.fabs", v)); break;
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE: r = fadd(k, a, fmul(k, v, v)); break;
  case IR_OP_REDUCE_LOG_SUM_EXP:
    r = fadd(k, a, fcall(k, "llvm.exp", fsub(k, v, cgk_get(k, c->m))));
    break;
  default: KILN_UNREACHABLE();
  }
  cgk_set(k, c->acc, r);
}

static void lse_max_elem(cg_kernel *k, LLVMValueRef *off, void *user) {
  reduce_ctx *c = user;
  cgk_set(k, c->m, fold_extreme(k, cgk_get(k, c->m), load_f64(k, c->xt, k->in[0], off[0]), 1));
}

/* One output element: off[0] is x's offset of its first reduced element. */
static void reduce_out(cg_kernel *k, LLVMValueRef *off, void *user) {
  reduce_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef base[1] = {off[0]}, y;
  if (c->as_int) {
    int64_t init = c->op == IR_OP_REDUCE_PROD  ? 1
                   : c->op == IR_OP_REDUCE_MAX ? int_min(c->xt)
                   : c->op == IR_OP_REDUCE_MIN ? int_max(c->xt)
                                               : 0;
    cgk_set(k, c->acc, cgl_i64(L, init));
    cg_nest_emit_at(k, &c->red, base, reduce_int_elem, c);
    LLVMValueRef a = cgk_get(k, c->acc);
    if (c->op == IR_OP_REDUCE_MEAN)
      a = c->cnt ? LLVMBuildSDiv(BLD, a, cgl_i64(L, c->cnt), "") : cgl_i64(L, 0);
    y = cgk_from_i64(k, c->yt, a);
  } else {
    double init = c->op == IR_OP_REDUCE_PROD  ? 1.0
                  : c->op == IR_OP_REDUCE_MAX ? -INFINITY
                  : c->op == IR_OP_REDUCE_MIN ? INFINITY
                                              : 0.0;
    if (c->op == IR_OP_REDUCE_LOG_SUM_EXP) {
      /* m + log(sum(exp(x - m))) with m the maximum */
      cgk_set(k, c->m, f64c(k, -INFINITY));
      cg_nest_emit_at(k, &c->red, base, lse_max_elem, c);
    }
    cgk_set(k, c->acc, f64c(k, init));
    cg_nest_emit_at(k, &c->red, base, reduce_fp_elem, c);
    LLVMValueRef a = cgk_get(k, c->acc);
    switch (c->op) {
    case IR_OP_REDUCE_MEAN: a = fdiv(k, a, f64c(k, (double)c->cnt)); break; /* 0/0: NaN */
    case IR_OP_REDUCE_LOG_SUM: a = fcall(k, "llvm.log", a); break;
    case IR_OP_REDUCE_L2: a = fcall(k, "llvm.sqrt", a); break;
    case IR_OP_REDUCE_LOG_SUM_EXP: {
      LLVMValueRef m = cgk_get(k, c->m);
      LLVMValueRef inf =
          LLVMBuildFCmp(BLD, LLVMRealOEQ, fcall(k, "llvm.fabs", m), f64c(k, INFINITY), "");
      a = sel(k, inf, m, fadd(k, m, fcall(k, "llvm.log", a)));
      break;
    }
    default: break;
    }
    y = cgk_from_fp(k, c->yt, a);
  }
  cgk_store(k, c->yt, y, k->out[0], off[1]);
}

int cg_emit_reduce(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *yt = k->out_t[0];
  const int64_t *axes;
  int nax = ir_attr_ints(k->n, "axes", &axes);
  unsigned char red[IR_MAX_RANK] = {0};
  for (int i = 0; i < nax; i++) red[norm_axis(axes[i], x->rank)] = 1;
  if (nax <= 0) {
    if (ir_attr_int(k->n, "noop_with_empty_axes")) return cg_emit_copy(k);
    for (int i = 0; i < x->rank; i++) red[i] = 1;
  }
  reduce_ctx c;
  memset(&c, 0, sizeof c);
  c.op = k->n->op;
  c.xt = x->dtype;
  c.yt = yt->dtype;
  c.as_int = !ir_dtype_is_float(x->dtype) && exact_int(c.op);
  /* x's axes split into kept ones (walked with y, dense) and reduced ones */
  int64_t xs[IR_MAX_RANK], kd[IR_MAX_RANK], rd[IR_MAX_RANK], ks[IR_MAX_RANK], rs[IR_MAX_RANK];
  int nk = 0, nr = 0;
  int64_t st = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    xs[i] = st;
    st *= x->dims[i];
  }
  for (int i = 0; i < x->rank; i++) {
    if (red[i]) {
      rd[nr] = x->dims[i];
      rs[nr++] = xs[i];
    } else {
      kd[nk] = x->dims[i];
      ks[nk++] = xs[i];
    }
  }
  c.cnt = prod(rd, 0, nr);
  KILN_ASSERT(prod(kd, 0, nk) == ir_type_numel(yt));
  cg_nest_init(&c.red, nr, rd, 1);
  for (int i = 0; i < nr; i++) c.red.stride[0][i] = rs[i];
  cg_nest_simplify(&c.red);
  cg_nest outer;
  cg_nest_init(&outer, nk, kd, 2);
  for (int i = 0; i < nk; i++) outer.stride[0][i] = ks[i];
  cg_nest_contig(&outer, 1);
  cg_nest_simplify(&outer);
  c.acc = cgk_var(k, c.as_int ? k->L->t_i64 : k->L->t_f64, NULL);
  c.m = cgk_var(k, k->L->t_f64, NULL);
  cg_nest_emit(k, &outer, reduce_out, &c);
  return KILN_OK;
}

/* ---- [outer, len, inner] line helpers ---------------------------------------------------- */

/* The view of x around `axis`. */
typedef struct {
  int64_t outer, len, inner;
} line_view;

static line_view view_at(const ir_type *x, int axis) {
  line_view v = {prod(x->dims, 0, axis), x->dims[axis], prod(x->dims, axis + 1, x->rank)};
  return v;
}

/* Offset of element kk of the line at (o, i). */
static LLVMValueRef line_at(cg_kernel *k, const line_view *v, LLVMValueRef o, LLVMValueRef i,
                            LLVMValueRef kk) {
  return cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, o, v->len), kk), v->inner), i);
}

/* Index of the first (or, with last, the last) extreme of the line at
 * (o, i) (len >= 1): ops_reduce.c's arg_line, NaN counting as the extreme. */
static LLVMValueRef arg_line(cg_kernel *k, ir_dtype t, const line_view *v, LLVMValueRef o,
                             LLVMValueRef i, int is_max, int last) {
  cgl *L = k->L;
  int isf = ir_dtype_is_float(t);
  LLVMValueRef first = cgk_load(k, t, k->in[0], line_at(k, v, o, i, cgl_i64(L, 0)));
  LLVMValueRef best =
      cgk_var(k, isf ? LLVMTypeOf(first) : L->t_i64, isf ? first : cgk_to_i64(k, t, first));
  LLVMValueRef at = cgk_var(k, L->t_i64, cgl_i64(L, 0));
  cgl_loop lp;
  LLVMValueRef kk = cgl_loop_begin(L, &lp, cgl_i64(L, 1), cgl_i64(L, v->len), "k");
  LLVMValueRef val = cgk_load(k, t, k->in[0], line_at(k, v, o, i, kk));
  LLVMValueRef b = cgk_get(k, best), better;
  if (isf) {
    LLVMRealPredicate p =
        is_max ? (last ? LLVMRealOGE : LLVMRealOGT) : (last ? LLVMRealOLE : LLVMRealOLT);
    LLVMValueRef normal = LLVMBuildOr(BLD, isnan_(k, val), LLVMBuildFCmp(BLD, p, val, b, ""), "");
    LLVMValueRef when_nan = last ? isnan_(k, val) : LLVMConstInt(L->t_i1, 0, 0);
    better = sel(k, isnan_(k, b), when_nan, normal);
  } else {
    val = cgk_to_i64(k, t, val);
    LLVMIntPredicate p =
        is_max ? (last ? LLVMIntSGE : LLVMIntSGT) : (last ? LLVMIntSLE : LLVMIntSLT);
    better = LLVMBuildICmp(BLD, p, val, b, "");
  }
  cgk_set(k, best, sel(k, better, val, b));
  cgk_set(k, at, sel(k, better, kk, cgk_get(k, at)));
  cgl_loop_end(L, &lp);
  return cgk_get(k, at);
}

/* ---- argmax, argmin ---------------------------------------------------------------------- */

typedef struct {
  line_view v;
  ir_dtype t;
  int is_max, last;
} arg_ctx;

static void arg_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const arg_ctx *c = user;
  LLVMValueRef at = arg_line(k, c->t, &c->v, iv[0], iv[1], c->is_max, c->last);
  cgk_store(k, IR_I64, at, k->out[0], cgk_add(k, cgk_muli(k, iv[0], c->v.inner), iv[1]));
}

int cg_emit_arg_reduce(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  arg_ctx c = {view_at(x, norm_axis(ir_attr_int(k->n, "axis"), x->rank)), x->dtype,
               k->n->op == IR_OP_ARGMAX, ir_attr_int(k->n, "select_last_index") != 0};
  /* x [outer, len, inner] -> y [outer, inner] */
  if (c.v.len == 0 || c.v.outer * c.v.inner == 0) return KILN_OK;
  int64_t box[2] = {c.v.outer, c.v.inner};
  cgk_box_const(k, 2, box, arg_body, &c);
  return KILN_OK;
}

/* ---- cumsum ------------------------------------------------------------------------------ */

typedef struct {
  line_view v;
  ir_dtype t;
  int exclusive, reverse;
} cumsum_ctx;

static void cumsum_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const cumsum_ctx *c = user;
  cgl *L = k->L;
  int isf = ir_dtype_is_float(c->t);
  LLVMValueRef acc = cgk_var(k, isf ? L->t_f64 : L->t_i64, isf ? f64c(k, 0.0) : cgl_i64(L, 0));
  cgl_loop lp;
  LLVMValueRef t = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "t");
  LLVMValueRef kk = c->reverse ? LLVMBuildSub(BLD, cgl_i64(L, c->v.len - 1), t, "") : t;
  LLVMValueRef at = line_at(k, &c->v, iv[0], iv[1], kk);
  LLVMValueRef x = cgk_load(k, c->t, k->in[0], at);
  x = isf ? cgk_to_f64(k, c->t, x) : cgk_to_i64(k, c->t, x);
  LLVMValueRef before = cgk_get(k, acc);
  LLVMValueRef after = isf ? fadd(k, before, x) : LLVMBuildAdd(BLD, before, x, "");
  LLVMValueRef outv = c->exclusive ? before : after;
  cgk_store(k, c->t, isf ? cgk_from_fp(k, c->t, outv) : cgk_from_i64(k, c->t, outv), k->out[0], at);
  cgk_set(k, acc, after);
  cgl_loop_end(L, &lp);
}

int cg_emit_cumsum(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  cumsum_ctx c = {view_at(x, norm_axis(ir_attr_int(k->n, "axis"), x->rank)), x->dtype,
                  ir_attr_int(k->n, "exclusive") != 0, ir_attr_int(k->n, "reverse") != 0};
  if (ir_type_numel(x) == 0) return KILN_OK;
  int64_t box[2] = {c.v.outer, c.v.inner};
  cgk_box_const(k, 2, box, cumsum_body, &c);
  return KILN_OK;
}

/* ---- softmax, log_softmax, hardmax ------------------------------------------------------- */

typedef struct {
  line_view v;
  ir_dtype t;
  ir_op op;
} softmax_ctx;

static void softmax_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const softmax_ctx *c = user;
  cgl *L = k->L;
  cgl_loop lp;
  LLVMValueRef kk;
  if (c->op == IR_OP_HARDMAX) {
    LLVMValueRef at = arg_line(k, c->t, &c->v, iv[0], iv[1], 1, 0);
    kk = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "k");
    LLVMValueRef one =
        sel(k, LLVMBuildICmp(BLD, LLVMIntEQ, kk, at, ""), f64c(k, 1.0), f64c(k, 0.0));
    cgk_store(k, c->t, cgk_from_fp(k, c->t, one), k->out[0], line_at(k, &c->v, iv[0], iv[1], kk));
    cgl_loop_end(L, &lp);
    return;
  }
  /* m: the maximum (NaN skipped; a NaN then makes the sum NaN), s = sum
   * exp(x - m), all in double */
  LLVMValueRef m = cgk_var(k, L->t_f64, f64c(k, -INFINITY));
  kk = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "k");
  LLVMValueRef v = load_f64(k, c->t, k->in[0], line_at(k, &c->v, iv[0], iv[1], kk));
  cgk_set(k, m, sel(k, LLVMBuildFCmp(BLD, LLVMRealOGT, v, cgk_get(k, m), ""), v, cgk_get(k, m)));
  cgl_loop_end(L, &lp);
  LLVMValueRef mv = cgk_get(k, m);
  LLVMValueRef s = cgk_var(k, L->t_f64, f64c(k, 0.0));
  kk = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "k");
  v = load_f64(k, c->t, k->in[0], line_at(k, &c->v, iv[0], iv[1], kk));
  cgk_set(k, s, fadd(k, cgk_get(k, s), fcall(k, "llvm.exp", fsub(k, v, mv))));
  cgl_loop_end(L, &lp);
  LLVMValueRef sv = cgk_get(k, s), log_s = fcall(k, "llvm.log", sv);
  kk = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "k");
  LLVMValueRef at = line_at(k, &c->v, iv[0], iv[1], kk);
  LLVMValueRef z = fsub(k, load_f64(k, c->t, k->in[0], at), mv);
  LLVMValueRef y =
      c->op == IR_OP_SOFTMAX ? fdiv(k, fcall(k, "llvm.exp", z), sv) : fsub(k, z, log_s);
  cgk_store(k, c->t, cgk_from_fp(k, c->t, y), k->out[0], at);
  cgl_loop_end(L, &lp);
}

/* Softmax and log_softmax of contiguous f32 lines: the same three passes
 * in double, 8 elements at a time with an inline exp (cgk_vexp_f64, within
 * an ulp or two of libm's double exp, far below f32's rounding, so the f32
 * results are the interpreter's except when its double result lies within
 * about 2^-50 of a rounding boundary of f32); the sum still adds the terms
 * one by one in order. Lines are split into tasks. f64 keeps libm's exp. */
#define SMX_VL 8
#define SMX_TASK_ELEMS 8192

typedef struct {
  softmax_ctx c;
  int64_t per; /* lines per task */
} smx_vec_ctx;

static LLVMValueRef smx_load(cg_kernel *k, ir_dtype t, LLVMValueRef at, int lanes) {
  cgl *L = k->L;
  LLVMTypeRef et = cgl_dtype(L, t), vt = LLVMVectorType(et, SMX_VL);
  LLVMValueRef ptr = cgl_gep(L, et, k->in[0], at), v;
  if (lanes == SMX_VL) {
    v = LLVMBuildLoad2(BLD, vt, ptr, "");
    LLVMSetAlignment(v, (unsigned)ir_dtype_size(t));
  } else {
    LLVMValueRef m[SMX_VL];
    for (int i = 0; i < SMX_VL; i++) m[i] = LLVMConstInt(L->t_i1, i < lanes, 0);
    LLVMTypeRef tys[2] = {vt, L->t_ptr};
    LLVMValueRef args[4] = {ptr, cgl_i32(L, (int32_t)ir_dtype_size(t)), LLVMConstVector(m, SMX_VL),
                            LLVMConstNull(vt)};
    v = cgl_intrinsic_n(L, "llvm.masked.load", tys, 2, args, 4);
  }
  return t == IR_F64 ? v : LLVMBuildFPExt(BLD, v, LLVMVectorType(L->t_f64, SMX_VL), "");
}

static void smx_store(cg_kernel *k, ir_dtype t, LLVMValueRef y, LLVMValueRef at, int lanes) {
  cgl *L = k->L;
  LLVMTypeRef et = cgl_dtype(L, t), vt = LLVMVectorType(et, SMX_VL);
  if (t != IR_F64) y = LLVMBuildFPTrunc(BLD, y, vt, "");
  LLVMValueRef ptr = cgl_gep(L, et, k->out[0], at);
  if (lanes == SMX_VL) {
    LLVMValueRef st = LLVMBuildStore(BLD, y, ptr);
    LLVMSetAlignment(st, (unsigned)ir_dtype_size(t));
  } else {
    LLVMValueRef m[SMX_VL];
    for (int i = 0; i < SMX_VL; i++) m[i] = LLVMConstInt(L->t_i1, i < lanes, 0);
    LLVMTypeRef tys[2] = {vt, L->t_ptr};
    LLVMValueRef args[4] = {y, ptr, cgl_i32(L, (int32_t)ir_dtype_size(t)),
                            LLVMConstVector(m, SMX_VL)};
    cgl_intrinsic_n(L, "llvm.masked.store", tys, 2, args, 4);
  }
}

static LLVMValueRef vsplat(cg_kernel *k, LLVMValueRef x) {
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), SMX_VL);
  LLVMValueRef v = LLVMBuildInsertElement(BLD, LLVMGetPoison(vt), x, cgl_i32(k->L, 0), "");
  return LLVMBuildShuffleVector(BLD, v, LLVMGetPoison(vt),
                                LLVMConstNull(LLVMVectorType(k->L->t_i32, SMX_VL)), "");
}

static void smx_line(cg_kernel *k, const softmax_ctx *c, LLVMValueRef o) {
  cgl *L = k->L;
  LLVMTypeRef vd = LLVMVectorType(L->t_f64, SMX_VL);
  int64_t len = c->v.len, nfull = len / SMX_VL;
  int rem = (int)(len % SMX_VL);
  LLVMValueRef base = cgk_muli(k, o, len);
  cgl_loop lp;
  /* the maximum, NaN skipped */
  LLVMValueRef mv = cgk_var(k, vd, vsplat(k, f64c(k, -INFINITY)));
  for (int part = 0; part < 2; part++) {
    if (part == 0 && !nfull) continue;
    if (part == 1 && !rem) continue;
    LLVMValueRef q = part == 0 ? cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, nfull), "q")
                               : cgl_i64(L, nfull);
    LLVMValueRef v = smx_load(k, c->t, cgk_add(k, base, cgk_muli(k, q, SMX_VL)),
                              part == 0 ? SMX_VL : rem);
    if (part == 1) { /* lanes past the line: -inf */
      LLVMValueRef m[SMX_VL];
      for (int i = 0; i < SMX_VL; i++) m[i] = LLVMConstInt(L->t_i1, i < rem, 0);
      v = sel(k, LLVMConstVector(m, SMX_VL), v, vsplat(k, f64c(k, -INFINITY)));
    }
    LLVMValueRef cur = cgk_get(k, mv);
    cgk_set(k, mv, sel(k, LLVMBuildFCmp(BLD, LLVMRealOGT, v, cur, ""), v, cur));
    if (part == 0) cgl_loop_end(L, &lp);
  }
  LLVMValueRef mvec = cgk_get(k, mv), m = f64c(k, -INFINITY);
  for (int i = 0; i < SMX_VL; i++) {
    LLVMValueRef e = LLVMBuildExtractElement(BLD, mvec, cgl_i32(L, i), "");
    m = sel(k, LLVMBuildFCmp(BLD, LLVMRealOGT, e, m, ""), e, m);
  }
  LLVMValueRef msplat = vsplat(k, m);
  /* s = sum exp(x - m), term by term in order */
  LLVMValueRef s = cgk_var(k, L->t_f64, f64c(k, 0.0));
  for (int part = 0; part < 2; part++) {
    if (part == 0 && !nfull) continue;
    if (part == 1 && !rem) continue;
    LLVMValueRef q = part == 0 ? cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, nfull), "q")
                               : cgl_i64(L, nfull);
    int lanes = part == 0 ? SMX_VL : rem;
    LLVMValueRef v = smx_load(k, c->t, cgk_add(k, base, cgk_muli(k, q, SMX_VL)), lanes);
    LLVMValueRef e = cgk_vexp_f64(k, fsub(k, v, msplat));
    LLVMValueRef acc = cgk_get(k, s);
    for (int i = 0; i < lanes; i++)
      acc = fadd(k, acc, LLVMBuildExtractElement(BLD, e, cgl_i32(L, i), ""));
    cgk_set(k, s, acc);
    if (part == 0) cgl_loop_end(L, &lp);
  }
  LLVMValueRef sv = cgk_get(k, s);
  LLVMValueRef svec = vsplat(k, sv), lsvec = vsplat(k, fcall(k, "llvm.log", sv));
  for (int part = 0; part < 2; part++) {
    if (part == 0 && !nfull) continue;
    if (part == 1 && !rem) continue;
    LLVMValueRef q = part == 0 ? cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, nfull), "q")
                               : cgl_i64(L, nfull);
    int lanes = part == 0 ? SMX_VL : rem;
    LLVMValueRef at = cgk_add(k, base, cgk_muli(k, q, SMX_VL));
    LLVMValueRef z = fsub(k, smx_load(k, c->t, at, lanes), msplat);
    LLVMValueRef y = c->op == IR_OP_SOFTMAX ? fdiv(k, cgk_vexp_f64(k, z), svec) : fsub(k, z, lsvec);
    smx_store(k, c->t, y, at, lanes);
    if (part == 0) cgl_loop_end(L, &lp);
  }
}

static void smx_task(cg_kernel *k, LLVMValueRef t, void *user) {
  const smx_vec_ctx *x = user;
  cgl *L = k->L;
  LLVMValueRef lo = cgk_muli(k, t, x->per);
  LLVMValueRef hi = cgk_addi(k, lo, x->per);
  hi = sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, hi, cgl_i64(L, x->c.v.outer), ""), hi,
           cgl_i64(L, x->c.v.outer));
  cgl_loop lp;
  LLVMValueRef o = cgl_loop_begin(L, &lp, lo, hi, "line");
  smx_line(k, &x->c, o);
  cgl_loop_end(L, &lp);
}

int cg_emit_softmax(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  softmax_ctx c = {view_at(x, norm_axis(ir_attr_int(k->n, "axis"), x->rank)), x->dtype, k->n->op};
  if (ir_type_numel(x) == 0) return KILN_OK;
  if ((c.op == IR_OP_SOFTMAX || c.op == IR_OP_LOG_SOFTMAX) && c.v.inner == 1 &&
      c.t == IR_F32 && c.v.len >= 1) {
    smx_vec_ctx sx = {c, 1};
    int64_t lines_per = SMX_TASK_ELEMS / c.v.len;
    if (lines_per < 1) lines_per = 1;
    int64_t ntask = (c.v.outer + lines_per - 1) / lines_per;
    if (ntask > 64) ntask = 64;
    sx.per = (c.v.outer + ntask - 1) / ntask;
    ntask = (c.v.outer + sx.per - 1) / sx.per;
    cgk_parallel(k, ntask, smx_task, &sx);
    return KILN_OK;
  }
  int64_t box[2] = {c.v.outer, c.v.inner};
  cgk_box_const(k, 2, box, softmax_body, &c);
  return KILN_OK;
}

/* ---- lp_normalization -------------------------------------------------------------------- */

typedef struct {
  line_view v;
  ir_dtype t;
  int p;
} lpn_ctx;

static void lpn_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const lpn_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef s = cgk_var(k, L->t_f64, f64c(k, 0.0));
  cgl_loop lp;
  LLVMValueRef kk = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "k");
  LLVMValueRef v = load_f64(k, c->t, k->in[0], line_at(k, &c->v, iv[0], iv[1], kk));
  cgk_set(k, s, fadd(k, cgk_get(k, s), c->p == 1 ? fcall(k, "llvm.fabs", v) : fmul(k, v, v)));
  cgl_loop_end(L, &lp);
  LLVMValueRef norm = c->p == 1 ? cgk_get(k, s) : fcall(k, "llvm.sqrt", cgk_get(k, s));
  LLVMValueRef zero = LLVMBuildFCmp(BLD, LLVMRealOEQ, norm, f64c(k, 0.0), "");
  kk = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->v.len), "k");
  LLVMValueRef at = line_at(k, &c->v, iv[0], iv[1], kk);
  v = load_f64(k, c->t, k->in[0], at);
  cgk_store(k, c->t, cgk_from_fp(k, c->t, sel(k, zero, f64c(k, 0.0), fdiv(k, v, norm))), k->out[0],
            at);
  cgl_loop_end(L, &lp);
}

int cg_emit_lp_normalization(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  lpn_ctx c = {view_at(x, norm_axis(ir_attr_int(k->n, "axis"), x->rank)), x->dtype,
               (int)ir_attr_int(k->n, "p")};
  if (ir_type_numel(x) == 0) return KILN_OK;
  int64_t box[2] = {c.v.outer, c.v.inner};
  cgk_box_const(k, 2, box, lpn_body, &c);
  return KILN_OK;
}

/* ---- moments ----------------------------------------------------------------------------- */

/* Mean and variance (two passes, population form) of the m elements of x
 * at first .. first + m - 1, in double (ops_reduce.c's moments). */
static void moments(cg_kernel *k, ir_dtype t, LLVMValueRef first, int64_t m, LLVMValueRef *mean,
                    LLVMValueRef *var) {
  cgl *L = k->L;
  LLVMValueRef s = cgk_var(k, L->t_f64, f64c(k, 0.0));
  cgl_loop lp;
  LLVMValueRef j = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, m), "j");
  cgk_set(k, s, fadd(k, cgk_get(k, s), load_f64(k, t, k->in[0], cgk_add(k, first, j))));
  cgl_loop_end(L, &lp);
  LLVMValueRef mu = fdiv(k, cgk_get(k, s), f64c(k, (double)m));
  LLVMValueRef q = cgk_var(k, L->t_f64, f64c(k, 0.0));
  j = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, m), "j");
  LLVMValueRef e = fsub(k, load_f64(k, t, k->in[0], cgk_add(k, first, j)), mu);
  cgk_set(k, q, fadd(k, cgk_get(k, q), fmul(k, e, e)));
  cgl_loop_end(L, &lp);
  *mean = mu;
  *var = fdiv(k, cgk_get(k, q), f64c(k, (double)m));
}

/* 1 / sqrt(var + eps) */
static LLVMValueRef inv_std(cg_kernel *k, LLVMValueRef var, double eps) {
  return fdiv(k, f64c(k, 1.0), fcall(k, "llvm.sqrt", fadd(k, var, f64c(k, eps))));
}

/* ---- layer_norm, rms_norm ---------------------------------------------------------------- */

typedef struct {
  ir_dtype t;
  int64_t m;
  int layer, has_bias;
  double eps;
  cg_nest nest; /* the normalised dims: x, scale, bias, y */
  LLVMValueRef mu, inv;
} ln_ctx;

static void ln_elem(cg_kernel *k, LLVMValueRef *off, void *user) {
  const ln_ctx *c = user;
  LLVMValueRef v = fmul(k, fsub(k, load_f64(k, c->t, k->in[0], off[0]), c->mu), c->inv);
  v = fmul(k, v, load_f64(k, c->t, k->in[1], off[1]));
  if (c->has_bias) v = fadd(k, v, load_f64(k, c->t, k->in[2], off[2]));
  cgk_store(k, c->t, cgk_from_fp(k, c->t, v), k->out[0], off[3]);
}

static void ln_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  ln_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef first = cgk_muli(k, iv[0], c->m), var;
  if (c->layer) {
    moments(k, c->t, first, c->m, &c->mu, &var);
  } else {
    /* rms: the mean of squares, no centring */
    LLVMValueRef s = cgk_var(k, L->t_f64, f64c(k, 0.0));
    cgl_loop lp;
    LLVMValueRef j = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->m), "j");
    LLVMValueRef v = load_f64(k, c->t, k->in[0], cgk_add(k, first, j));
    cgk_set(k, s, fadd(k, cgk_get(k, s), fmul(k, v, v)));
    cgl_loop_end(L, &lp);
    c->mu = f64c(k, 0.0);
    var = fdiv(k, cgk_get(k, s), f64c(k, (double)c->m));
  }
  c->inv = inv_std(k, var, c->eps);
  LLVMValueRef base[4] = {first, NULL, NULL, first};
  cg_nest_emit_at(k, &c->nest, base, ln_elem, c);
  if (c->layer && k->n_out > 1)
    cgk_store(k, k->out_t[1]->dtype, cgk_from_fp(k, k->out_t[1]->dtype, c->mu), k->out[1], iv[0]);
  if (c->layer && k->n_out > 2)
    cgk_store(k, k->out_t[2]->dtype, cgk_from_fp(k, k->out_t[2]->dtype, c->inv), k->out[2], iv[0]);
}

int cg_emit_layer_norm(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  int axis = norm_axis(ir_attr_int(k->n, "axis"), x->rank);
  ln_ctx c;
  memset(&c, 0, sizeof c);
  c.t = x->dtype;
  c.layer = k->n->op == IR_OP_LAYER_NORM;
  c.has_bias = k->n_in > 2 && k->in[2] != NULL;
  c.eps = ir_attr_float(k->n, "epsilon");
  c.m = prod(x->dims, axis, x->rank);
  int64_t outer = prod(x->dims, 0, axis);
  /* x, y [outer, m]; the normalised shape nt = x.dims[axis:], scale and
   * bias broadcast to it */
  ir_type nt = {.dtype = x->dtype, .rank = x->rank - axis};
  for (int i = 0; i < nt.rank; i++) nt.dims[i] = x->dims[axis + i];
  cg_nest_init(&c.nest, nt.rank, nt.dims, 4);
  cg_nest_contig(&c.nest, 0);
  cg_nest_bcast(&c.nest, 1, k->in_t[1]);
  if (c.has_bias) cg_nest_bcast(&c.nest, 2, k->in_t[2]);
  cg_nest_contig(&c.nest, 3);
  cg_nest_simplify(&c.nest);
  if (outer == 0) return KILN_OK;
  int64_t box[1] = {outer};
  cgk_box_const(k, 1, box, ln_body, &c);
  return KILN_OK;
}

/* ---- batch_norm -------------------------------------------------------------------------- */

typedef struct {
  ir_dtype t;
  int64_t N, C, spatial;
  double eps;
} bn_ctx;

/* x [N, C, spatial]: per channel c (outer loop) y = (x - mean) * a + bias
 * with a = scale / sqrt(var + eps), in double as the interpreter */
static void bn_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const bn_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef ch = iv[0];
  LLVMValueRef mu = load_f64(k, c->t, k->in[3], ch);
  LLVMValueRef a =
      fdiv(k, load_f64(k, c->t, k->in[1], ch),
           fcall(k, "llvm.sqrt", fadd(k, load_f64(k, c->t, k->in[4], ch), f64c(k, c->eps))));
  LLVMValueRef b = load_f64(k, c->t, k->in[2], ch);
  cgl_loop ln, ls;
  LLVMValueRef n = cgl_loop_begin(L, &ln, cgl_i64(L, 0), cgl_i64(L, c->N), "n");
  LLVMValueRef first = cgk_muli(k, cgk_add(k, cgk_muli(k, n, c->C), ch), c->spatial);
  LLVMValueRef s = cgl_loop_begin(L, &ls, cgl_i64(L, 0), cgl_i64(L, c->spatial), "s");
  LLVMValueRef at = cgk_add(k, first, s);
  LLVMValueRef y = fadd(k, fmul(k, fsub(k, load_f64(k, c->t, k->in[0], at), mu), a), b);
  cgk_store(k, c->t, cgk_from_fp(k, c->t, y), k->out[0], at);
  cgl_loop_end(L, &ls);
  cgl_loop_end(L, &ln);
}

int cg_emit_batch_norm(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  for (int i = 1; i < 5; i++)
    if (!k->in[i]) return cgk_unsupported(k, "batch_norm needs all five inputs");
  bn_ctx c = {x->dtype, x->dims[0], x->rank == 1 ? 1 : x->dims[1], prod(x->dims, 2, x->rank),
              ir_attr_float(k->n, "epsilon")};
  if (ir_type_numel(x) == 0) return KILN_OK;
  int64_t box[1] = {c.C};
  cgk_box_const(k, 1, box, bn_body, &c);
  return KILN_OK;
}

/* ---- instance_norm, group_norm ----------------------------------------------------------- */

typedef struct {
  ir_dtype t;
  int64_t groups, per_group, spatial, m;
  double eps;
} gn_ctx;

/* x [N * groups, per_group * spatial]: statistics per row; scale and bias
 * per channel c = (row % groups) * per_group + cg */
static void gn_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const gn_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef first = cgk_muli(k, iv[0], c->m), mu, var;
  moments(k, c->t, first, c->m, &mu, &var);
  LLVMValueRef inv = inv_std(k, var, c->eps);
  LLVMValueRef g = LLVMBuildURem(BLD, iv[0], cgl_i64(L, c->groups), "");
  cgl_loop lc, ls;
  LLVMValueRef cg = cgl_loop_begin(L, &lc, cgl_i64(L, 0), cgl_i64(L, c->per_group), "c");
  LLVMValueRef ch = cgk_add(k, cgk_muli(k, g, c->per_group), cg);
  LLVMValueRef sc = load_f64(k, c->t, k->in[1], ch), bi = load_f64(k, c->t, k->in[2], ch);
  LLVMValueRef row = cgk_add(k, first, cgk_muli(k, cg, c->spatial));
  LLVMValueRef s = cgl_loop_begin(L, &ls, cgl_i64(L, 0), cgl_i64(L, c->spatial), "s");
  LLVMValueRef at = cgk_add(k, row, s);
  LLVMValueRef v = fmul(k, fsub(k, load_f64(k, c->t, k->in[0], at), mu), inv);
  cgk_store(k, c->t, cgk_from_fp(k, c->t, fadd(k, fmul(k, v, sc), bi)), k->out[0], at);
  cgl_loop_end(L, &ls);
  cgl_loop_end(L, &lc);
}

int cg_emit_group_norm(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  int64_t C = x->dims[1];
  gn_ctx c;
  c.t = x->dtype;
  c.groups = k->n->op == IR_OP_GROUP_NORM ? ir_attr_int(k->n, "num_groups") : C;
  c.per_group = c.groups ? C / c.groups : 0;
  c.spatial = prod(x->dims, 2, x->rank);
  c.m = c.per_group * c.spatial;
  c.eps = ir_attr_float(k->n, "epsilon");
  if (c.m == 0 || x->dims[0] == 0) return KILN_OK;
  int64_t box[1] = {x->dims[0] * c.groups};
  cgk_box_const(k, 1, box, gn_body, &c);
  return KILN_OK;
}

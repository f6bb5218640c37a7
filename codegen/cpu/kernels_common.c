/* Shared helpers of the CPU kernel emitters: element access, the dtype
 * conversions of ir/dtype.c, early returns, and loop nests. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "codegen/cpu/kernels.h"

int cgk_unsupported(cg_kernel *k, const char *fmt, ...) {
  char desc[IR_MAX_NAME + 128], msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return kiln_diag_error(k->d, KILN_E_UNSUPPORTED, "%s: %s: code generation: %s", k->g->source,
                         ir_node_desc(k->g, k->n, desc, sizeof desc), msg);
}

void cgk_fail_if(cg_kernel *k, LLVMValueRef cond, int code) {
  cgl *L = k->L;
  LLVMBasicBlockRef bad = cgl_block(L, "fail"), ok = cgl_block(L, "ok");
  LLVMBuildCondBr(L->b, cond, bad, ok);
  LLVMPositionBuilderAtEnd(L->b, bad);
  LLVMBuildRet(L->b, cgl_i32(L, code));
  LLVMPositionBuilderAtEnd(L->b, ok);
}

/* ---- element access and conversions ------------------------------------------------------ */

int cgk_unsigned(ir_dtype t) { return t == IR_U8 || t == IR_BOOL; }

LLVMValueRef cgk_load(cg_kernel *k, ir_dtype t, LLVMValueRef base, LLVMValueRef idx) {
  return cgl_load(k->L, cgl_dtype(k->L, t), base, idx);
}

void cgk_store(cg_kernel *k, ir_dtype t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
  KILN_ASSERT(LLVMTypeOf(v) == cgl_dtype(k->L, t));
  cgl_store(k->L, v, base, idx);
}

LLVMValueRef cgk_truth(cg_kernel *k, LLVMValueRef v) {
  return LLVMBuildICmp(k->L->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
}

LLVMValueRef cgk_to_f64(cg_kernel *k, ir_dtype t, LLVMValueRef v) {
  cgl *L = k->L;
  switch (t) {
  case IR_F64: return v;
  case IR_F32: return LLVMBuildFPExt(L->b, v, L->t_f64, "");
  case IR_BOOL: return LLVMBuildUIToFP(L->b, cgk_truth(k, v), L->t_f64, "");
  case IR_U8: return LLVMBuildUIToFP(L->b, v, L->t_f64, "");
  default: return LLVMBuildSIToFP(L->b, v, L->t_f64, "");
  }
}

/* llvm.fpto{s,u}i.sat: truncation toward zero, saturating, NaN -> 0: the
 * f2i rule of ir/dtype.c. */
static LLVMValueRef fp_to_int_sat(cg_kernel *k, LLVMValueRef v, LLVMTypeRef it, int is_unsigned) {
  LLVMTypeRef tys[2] = {it, LLVMTypeOf(v)};
  return cgl_intrinsic_n(k->L, is_unsigned ? "llvm.fptoui.sat" : "llvm.fptosi.sat", tys, 2, &v, 1);
}

LLVMValueRef cgk_to_i64(cg_kernel *k, ir_dtype t, LLVMValueRef v) {
  cgl *L = k->L;
  switch (t) {
  case IR_I64: return v;
  case IR_I32:
  case IR_I16:
  case IR_I8: return LLVMBuildSExt(L->b, v, L->t_i64, "");
  case IR_U8: return LLVMBuildZExt(L->b, v, L->t_i64, "");
  case IR_BOOL: return LLVMBuildZExt(L->b, cgk_truth(k, v), L->t_i64, "");
  default: return fp_to_int_sat(k, v, L->t_i64, 0);
  }
}

LLVMValueRef cgk_from_fp(cg_kernel *k, ir_dtype t, LLVMValueRef v) {
  cgl *L = k->L;
  LLVMTypeRef vt = LLVMTypeOf(v);
  switch (t) {
  case IR_F32: return vt == L->t_f32 ? v : LLVMBuildFPTrunc(L->b, v, L->t_f32, "");
  case IR_F64: return vt == L->t_f64 ? v : LLVMBuildFPExt(L->b, v, L->t_f64, "");
  case IR_BOOL: {
    /* != 0, so NaN is true */
    LLVMValueRef c = LLVMBuildFCmp(L->b, LLVMRealUNE, v, LLVMConstNull(vt), "");
    return LLVMBuildZExt(L->b, c, L->t_i8, "");
  }
  case IR_U8: return fp_to_int_sat(k, v, L->t_i8, 1);
  default: return fp_to_int_sat(k, v, cgl_dtype(L, t), 0);
  }
}

LLVMValueRef cgk_from_i64(cg_kernel *k, ir_dtype t, LLVMValueRef v) {
  cgl *L = k->L;
  switch (t) {
  case IR_I64: return v;
  case IR_BOOL: return LLVMBuildZExt(L->b, cgk_truth(k, v), L->t_i8, "");
  case IR_F32:
  case IR_F64: return LLVMBuildSIToFP(L->b, v, cgl_dtype(L, t), ""); /* one rounding */
  default: return LLVMBuildTrunc(L->b, v, cgl_dtype(L, t), "");
  }
}

LLVMValueRef cgk_const(cg_kernel *k, ir_dtype t, double v) {
  LLVMTypeRef lt = cgl_dtype(k->L, t);
  if (ir_dtype_is_float(t)) return cgl_real(lt, t == IR_F32 ? (double)(float)v : v);
  int64_t buf = 0; /* large and aligned enough for any integer dtype */
  ir_store_f(t, &buf, 0, v);
  return cgl_int(lt, ir_load_i(t, &buf, 0));
}

/* ---- loop nests -------------------------------------------------------------------------- */

void cg_nest_init(cg_nest *n, int rank, const int64_t *dims, int n_ops) {
  KILN_ASSERT(rank >= 0 && rank <= CG_NEST_MAX_RANK && n_ops <= CG_NEST_MAX_OPS);
  memset(n, 0, sizeof *n);
  n->rank = rank;
  n->n_ops = n_ops;
  for (int i = 0; i < rank; i++) n->dims[i] = dims[i];
}

void cg_nest_contig(cg_nest *n, int op) {
  int64_t s = 1;
  for (int k = n->rank - 1; k >= 0; k--) {
    n->stride[op][k] = s;
    s *= n->dims[k];
  }
}

void cg_nest_bcast(cg_nest *n, int op, const ir_type *t) {
  KILN_ASSERT(t->rank <= n->rank);
  int64_t ts[IR_MAX_RANK], s = 1;
  for (int k = t->rank - 1; k >= 0; k--) {
    ts[k] = s;
    s *= t->dims[k];
  }
  int lead = n->rank - t->rank;
  for (int k = 0; k < n->rank; k++) {
    int tk = k - lead;
    KILN_ASSERT(tk < 0 || t->dims[tk] == n->dims[k] || t->dims[tk] == 1);
    n->stride[op][k] = tk < 0 || t->dims[tk] == 1 ? 0 : ts[tk];
  }
}

static int has_tab(const cg_nest *n, int k) {
  for (int o = 0; o < n->n_ops; o++)
    if (n->tab[o][k]) return 1;
  return 0;
}

static void drop_axis(cg_nest *n, int k) {
  for (int j = k; j + 1 < n->rank; j++) {
    n->dims[j] = n->dims[j + 1];
    for (int o = 0; o < n->n_ops; o++) {
      n->stride[o][j] = n->stride[o][j + 1];
      n->tab[o][j] = n->tab[o][j + 1];
    }
  }
  n->rank--;
}

void cg_nest_simplify(cg_nest *n) {
  for (int k = 0; k < n->rank; k++)
    if (n->dims[k] == 0) return; /* empty: emits nothing anyway */
  /* size-1 axes: index 0 only; a table's entry 0 moves into the base */
  for (int k = n->rank - 1; k >= 0; k--) {
    if (n->dims[k] != 1) continue;
    for (int o = 0; o < n->n_ops; o++)
      if (n->tab[o][k]) n->base[o] += n->tab[o][k][0];
    drop_axis(n, k);
  }
  /* merge k with k+1 when every operand steps through them as one axis */
  for (int k = n->rank - 2; k >= 0; k--) {
    if (has_tab(n, k) || has_tab(n, k + 1)) continue;
    int ok = 1;
    for (int o = 0; o < n->n_ops && ok; o++)
      ok = n->stride[o][k] == n->stride[o][k + 1] * n->dims[k + 1];
    if (!ok) continue;
    /* the merged axis steps by the inner axis's stride */
    for (int o = 0; o < n->n_ops; o++) n->stride[o][k] = n->stride[o][k + 1];
    n->dims[k] *= n->dims[k + 1];
    drop_axis(n, k + 1);
  }
}

typedef struct {
  cg_kernel *k;
  const cg_nest *n;
  cg_nest_body body;
  void *user;
  LLVMValueRef tabs[CG_NEST_MAX_OPS][CG_NEST_MAX_RANK];
} nest_emit;

static void nest_level(nest_emit *e, int level, LLVMValueRef *off) {
  const cg_nest *n = e->n;
  cgl *L = e->k->L;
  if (level == n->rank) {
    e->body(e->k, off, e->user);
    return;
  }
  cgl_loop lp;
  LLVMValueRef iv = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, n->dims[level]), "i");
  LLVMValueRef inner[CG_NEST_MAX_OPS];
  for (int o = 0; o < n->n_ops; o++) {
    LLVMValueRef c = NULL;
    if (n->tab[o][level]) {
      if (!e->tabs[o][level])
        e->tabs[o][level] = cgl_const_i64_array(L, n->tab[o][level], (size_t)n->dims[level]);
      c = cgl_load(L, L->t_i64, e->tabs[o][level], iv);
    } else if (n->stride[o][level] == 1) {
      c = iv;
    } else if (n->stride[o][level] != 0) {
      c = LLVMBuildNSWMul(L->b, iv, cgl_i64(L, n->stride[o][level]), "");
    }
    inner[o] = c ? LLVMBuildNSWAdd(L->b, off[o], c, "") : off[o];
  }
  nest_level(e, level + 1, inner);
  cgl_loop_end(L, &lp);
}

void cg_nest_emit(cg_kernel *k, const cg_nest *n, cg_nest_body body, void *user) {
  cg_nest_emit_at(k, n, NULL, body, user);
}

void cg_nest_emit_at(cg_kernel *k, const cg_nest *n, LLVMValueRef *base, cg_nest_body body,
                     void *user) {
  for (int i = 0; i < n->rank; i++)
    if (n->dims[i] == 0) return;
  nest_emit e;
  memset(&e, 0, sizeof e);
  e.k = k;
  e.n = n;
  e.body = body;
  e.user = user;
  LLVMValueRef off[CG_NEST_MAX_OPS];
  for (int o = 0; o < n->n_ops; o++) {
    off[o] = cgl_i64(k->L, n->base[o]);
    if (base && base[o]) off[o] = cgk_add(k, off[o], base[o]);
  }
  nest_level(&e, 0, off);
}

/* ---- boxes, variables, arithmetic -------------------------------------------------------- */

typedef struct {
  int nd;
  LLVMValueRef *lo, *hi, iv[CG_NEST_MAX_RANK];
  cgk_box_body body;
  void *user;
} box_emit;

static void box_level(cg_kernel *k, box_emit *b, int level) {
  if (level == b->nd) {
    b->body(k, b->iv, b->user);
    return;
  }
  cgl_loop lp;
  b->iv[level] = cgl_loop_begin(k->L, &lp, b->lo[level], b->hi[level], "j");
  box_level(k, b, level + 1);
  cgl_loop_end(k->L, &lp);
}

void cgk_box(cg_kernel *k, int nd, LLVMValueRef *lo, LLVMValueRef *hi, cgk_box_body body,
             void *user) {
  KILN_ASSERT(nd >= 0 && nd <= CG_NEST_MAX_RANK);
  box_emit b = {.nd = nd, .lo = lo, .hi = hi, .body = body, .user = user};
  box_level(k, &b, 0);
}

void cgk_box_const(cg_kernel *k, int nd, const int64_t *dims, cgk_box_body body, void *user) {
  LLVMValueRef lo[CG_NEST_MAX_RANK], hi[CG_NEST_MAX_RANK];
  KILN_ASSERT(nd >= 0 && nd <= CG_NEST_MAX_RANK);
  for (int i = 0; i < nd; i++) {
    lo[i] = cgl_i64(k->L, 0);
    hi[i] = cgl_i64(k->L, dims[i]);
  }
  cgk_box(k, nd, lo, hi, body, user);
}

LLVMValueRef cgk_var(cg_kernel *k, LLVMTypeRef t, LLVMValueRef init) {
  LLVMValueRef v = cgl_alloca(k->L, t, "v");
  if (init) LLVMBuildStore(k->L->b, init, v);
  return v;
}

LLVMValueRef cgk_get(cg_kernel *k, LLVMValueRef var) {
  return LLVMBuildLoad2(k->L->b, LLVMGetAllocatedType(var), var, "");
}

void cgk_set(cg_kernel *k, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(k->L->b, v, var); }

LLVMValueRef cgk_add(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWAdd(k->L->b, a, b, "");
}
LLVMValueRef cgk_mul(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildNSWMul(k->L->b, a, b, "");
}
LLVMValueRef cgk_muli(cg_kernel *k, LLVMValueRef a, int64_t c) {
  if (c == 1) return a;
  return cgk_mul(k, a, cgl_i64(k->L, c));
}
LLVMValueRef cgk_addi(cg_kernel *k, LLVMValueRef a, int64_t c) {
  if (c == 0) return a;
  return cgk_add(k, a, cgl_i64(k->L, c));
}

/* ---- inline math in double ------------------------------------------------------------- */

/* A double constant of type t: a scalar for double, a splat for a vector
 * of doubles (likewise for i64). */
static LLVMValueRef splat_f64(cgl *L, LLVMTypeRef t, double v) {
  if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return cgl_real(L->t_f64, v);
  unsigned n = LLVMGetVectorSize(t);
  LLVMValueRef e[64];
  KILN_ASSERT(n <= 64);
  for (unsigned i = 0; i < n; i++) e[i] = cgl_real(L->t_f64, v);
  return LLVMConstVector(e, n);
}
static LLVMValueRef splat_i64(cgl *L, LLVMTypeRef t, int64_t v) {
  if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return cgl_i64(L, v);
  unsigned n = LLVMGetVectorSize(t);
  LLVMValueRef e[64];
  KILN_ASSERT(n <= 64);
  for (unsigned i = 0; i < n; i++) e[i] = cgl_i64(L, v);
  return LLVMConstVector(e, n);
}
static LLVMValueRef mfma(cgl *L, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return cgl_intrinsic(L, "llvm.fma", LLVMTypeOf(a), args, 3);
}
static LLVMValueRef mintr(cgl *L, const char *name, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  return cgl_intrinsic(L, name, LLVMTypeOf(a), args, b ? 2 : 1);
}
/* Horner: c[0] + x (c[1] + x (... + x c[n-1])) */
static LLVMValueRef horner(cgl *L, LLVMValueRef x, const double *c, int n) {
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef p = splat_f64(L, t, c[n - 1]);
  for (int i = n - 2; i >= 0; i--) p = mfma(L, p, x, splat_f64(L, t, c[i]));
  return p;
}

/* exp of a double or a vector of doubles without libm: k = rint(x / ln 2),
 * r = x - k ln 2 (ln 2 in two parts, |r| <= 0.35), exp(r) by its Taylor
 * polynomial to degree 13 (truncation below 1e-17), times 2^k as two exact
 * powers of two (so subnormal results round once). Within an ulp or two of
 * libm's exp; exp(NaN) = NaN, exp(+inf) = +inf, exp(-inf) = 0. */
LLVMValueRef cgk_vexp_f64(cg_kernel *k, LLVMValueRef x) {
  cgl *L = k->L;
  LLVMBuilderRef b = L->b;
  LLVMTypeRef vt = LLVMTypeOf(x);
  LLVMTypeRef it = LLVMGetTypeKind(vt) == LLVMVectorTypeKind
                       ? LLVMVectorType(L->t_i64, LLVMGetVectorSize(vt))
                       : L->t_i64;
  LLVMValueRef xc = mintr(L, "llvm.minnum", x, splat_f64(L, vt, 709.79));
  xc = mintr(L, "llvm.maxnum", xc, splat_f64(L, vt, -746.0));
  LLVMValueRef kf = LLVMBuildFMul(b, xc, splat_f64(L, vt, 1.4426950408889634074), "");
  kf = mintr(L, "llvm.rint", kf, NULL);
  LLVMValueRef nk = LLVMBuildFNeg(b, kf, "");
  LLVMValueRef r = mfma(L, nk, splat_f64(L, vt, 6.93147180369123816490e-01), xc); /* ln 2 high */
  r = mfma(L, nk, splat_f64(L, vt, 1.90821492927058770002e-10), r);             /* ln 2 low */
  /* Horner: sum r^i / i!, i = 0 .. 13 */
  double c[14];
  c[0] = 1;
  for (int i = 1; i < 14; i++) c[i] = c[i - 1] / i;
  LLVMValueRef p = horner(L, r, c, 14);
  /* 2^k = 2^k1 * 2^k2, k1 = k >> 1, k2 = k - k1 (both within the normal range) */
  LLVMValueRef ki = LLVMBuildFPToSI(b, kf, it, "");
  LLVMValueRef k1 = LLVMBuildAShr(b, ki, splat_i64(L, it, 1), "");
  LLVMValueRef k2 = LLVMBuildSub(b, ki, k1, "");
  LLVMValueRef bias = splat_i64(L, it, 1023), sh = splat_i64(L, it, 52);
  LLVMValueRef s1 = LLVMBuildShl(b, LLVMBuildAdd(b, k1, bias, ""), sh, "");
  LLVMValueRef s2 = LLVMBuildShl(b, LLVMBuildAdd(b, k2, bias, ""), sh, "");
  s1 = LLVMBuildBitCast(b, s1, vt, "");
  s2 = LLVMBuildBitCast(b, s2, vt, "");
  LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildFMul(b, p, s1, ""), s2, "");
  /* exact ends: overflow to +inf, underflow to 0, NaN through */
  LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGT, x, splat_f64(L, vt, 709.782712893384), "");
  y = LLVMBuildSelect(b, big, splat_f64(L, vt, INFINITY), y, "");
  LLVMValueRef tiny = LLVMBuildFCmp(b, LLVMRealOLT, x, splat_f64(L, vt, -745.2), "");
  y = LLVMBuildSelect(b, tiny, splat_f64(L, vt, 0.0), y, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
}

/* erfc(a) for a >= 0 (or +inf, NaN): t exp(-a^2 + g(t)), t = 1 / (1 + a/2),
 * g a degree-16 polynomial fitted (Chebyshev nodes, t for a in [0, 27]) to
 * log(erfc(a) e^(a^2) / t): relative error below 1e-11 (erfc(a) for a > 27
 * is below 1e-318). */
static LLVMValueRef erfc_pos(cg_kernel *k, LLVMValueRef a) {
  static const double g[17] = {
      -0.62519531188811406,   0.63169968467790794,    0.032409287718240011,
      -0.039698264497525816,  -0.0050576942840099342, 0.0065183807993129056,
      0.00040709638712784938, -0.0014048508144527039, 0.00013718410975000888,
      0.00030048770364446425, -9.7987433572943887e-05, -5.1602807120140869e-05,
      3.6050862676594679e-05, 5.1358138543937531e-06, -8.6126414847074043e-06,
      -4.1636670918275279e-08, 1.0579362092639592e-06};
  const double tmin = 0.068965517241379309, scale = 2.1481481481481484;
  cgl *L = k->L;
  LLVMBuilderRef b = L->b;
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef one = splat_f64(L, t, 1.0);
  LLVMValueRef tt = LLVMBuildFDiv(b, one, mfma(L, a, splat_f64(L, t, 0.5), one), "");
  LLVMValueRef u = mfma(L, tt, splat_f64(L, t, scale), splat_f64(L, t, -(tmin * scale + 1.0)));
  LLVMValueRef e = mfma(L, LLVMBuildFNeg(b, a, ""), a, horner(L, u, g, 17));
  return LLVMBuildFMul(b, tt, cgk_vexp_f64(k, e), "");
}

/* erfc of a double (or vector of doubles): erfc_pos(|z|), 2 - that for
 * z < 0. erfc(NaN) = NaN, erfc(+inf) = 0, erfc(-inf) = 2. */
LLVMValueRef cgk_erfc_f64(cg_kernel *k, LLVMValueRef z) {
  cgl *L = k->L;
  LLVMBuilderRef b = L->b;
  LLVMTypeRef t = LLVMTypeOf(z);
  LLVMValueRef ec = erfc_pos(k, mintr(L, "llvm.fabs", z, NULL));
  LLVMValueRef neg = LLVMBuildFCmp(b, LLVMRealOLT, z, splat_f64(L, t, 0.0), "");
  LLVMValueRef r = LLVMBuildSelect(b, neg, LLVMBuildFSub(b, splat_f64(L, t, 2.0), ec, ""), ec, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, z, z, ""), z, r, "");
}

/* erf of a double (or vector of doubles): for |z| < 0.5 its Taylor series
 * (z times a polynomial in z^2 to z^26, truncation below 1e-17, keeps -0),
 * else sign(z) (1 - erfc(|z|)) (no cancellation: erfc(|z|) < 0.48). */
LLVMValueRef cgk_erf_f64(cg_kernel *k, LLVMValueRef z) {
  cgl *L = k->L;
  LLVMBuilderRef b = L->b;
  LLVMTypeRef t = LLVMTypeOf(z);
  double c[14];
  double f = 1; /* n! */
  for (int n = 0; n < 14; n++) {
    if (n) f *= n;
    c[n] = (n & 1 ? -1.0 : 1.0) * 1.12837916709551257390 / (f * (2 * n + 1));
  }
  LLVMValueRef small = LLVMBuildFMul(b, z, horner(L, LLVMBuildFMul(b, z, z, ""), c, 14), "");
  LLVMValueRef a = mintr(L, "llvm.fabs", z, NULL);
  LLVMValueRef big = LLVMBuildFSub(b, splat_f64(L, t, 1.0), erfc_pos(k, a), "");
  big = mintr(L, "llvm.copysign", big, z);
  LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, a, splat_f64(L, t, 0.5), "");
  LLVMValueRef r = LLVMBuildSelect(b, is_small, small, big, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, z, z, ""), z, r, "");
}

/* tanh of a double (or vector of doubles): for |x| < 1/16 its Taylor series
 * to x^11 (relative truncation below 1e-14, keeps -0), else
 * sign(x) (1 - 2 / (e^(2|x|) + 1)) (1 at overflow). tanh(NaN) = NaN. */
LLVMValueRef cgk_tanh_f64(cg_kernel *k, LLVMValueRef x) {
  static const double c[6] = {1.0,
                              -1.0 / 3,
                              2.0 / 15,
                              -17.0 / 315,
                              62.0 / 2835,
                              -1382.0 / 155925};
  cgl *L = k->L;
  LLVMBuilderRef b = L->b;
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef small = LLVMBuildFMul(b, x, horner(L, LLVMBuildFMul(b, x, x, ""), c, 6), "");
  LLVMValueRef a = mintr(L, "llvm.fabs", x, NULL);
  LLVMValueRef e = cgk_vexp_f64(k, LLVMBuildFAdd(b, a, a, ""));
  LLVMValueRef one = splat_f64(L, t, 1.0);
  LLVMValueRef big = LLVMBuildFSub(
      b, one, LLVMBuildFDiv(b, splat_f64(L, t, 2.0), LLVMBuildFAdd(b, e, one, ""), ""), "");
  big = mintr(L, "llvm.copysign", big, x);
  LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, a, splat_f64(L, t, 0.0625), "");
  LLVMValueRef r = LLVMBuildSelect(b, is_small, small, big, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, r, "");
}

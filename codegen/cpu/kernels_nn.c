/* Contraction and pooling kernels: matmul, conv, conv_transpose, max/avg/lp
 * pooling, global pooling and lrn. Semantics: ir/ops_nn.c.
 *
 *   matmul   f32/f64: the GEMM core (kernels_gemm.c, gemm.h), one product
 *            per batch entry (a batch sharing one B is folded into M: one
 *            product); a constant operand is pre-packed at compile
 *            time (the preparer, cg_prep). Integers (and K = 0): the
 *            reference loop nest in i-k-j order.
 *   conv     depthwise-like (one input channel per group): a direct kernel
 *            vectorised along the last spatial dim; otherwise the GEMM core
 *            per (image, group): weights [M/g, C/g * taps] (pre-packed when
 *            constant) times the im2col of the group's input, packed panel
 *            by panel at run time (a 1x1 conv with unit strides and no
 *            padding reads x directly). Any spatial rank.
 *   pools    max_pool (without indices) and avg_pool on floats: vectors
 *            along the last spatial dim, taps in the interpreter's order and
 *            f64 sums, so the results are the interpreter's bit for bit;
 *            the rest (indices, lp_pool, integers): scalar loop nests.
 *   conv_transpose, global pools, lrn: the straightforward loop nests
 *            (conv_transpose scatters as the interpreter does).
 * The GEMM kernels, depthwise conv and vector pools split their work into
 * tasks (cgk_parallel). Contractions accumulate in the element type
 * (kernels.h, docs/abi.md "Numerics"); pools and lrn accumulate in f64
 * like the interpreter. matmul and conv take a fused kernel's epilogue
 * (kernels.h); the loop-nest fallbacks apply it in a pass over the result.
 *
 * Nodes arrive inferred and canonical: auto_pad and conv_transpose's
 * output_shape are resolved into explicit pads (and output_padding), so
 * the output types give the spatial sizes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/gemm.h"
#include "codegen/cpu/kernels.h"

#define BLD (k->L->b)
/* Spatial dims of an [N, C, D1..Dk] activation (as ops_nn.c). */
#define NN_MAX_SPATIAL (IR_MAX_RANK - 2)

static int64_t prod(const int64_t *d, int lo, int hi) {
  int64_t p = 1;
  for (int i = lo; i < hi; i++) p *= d[i];
  return p;
}

static void strides_of(const int64_t *dims, int n, int64_t *st) {
  int64_t s = 1;
  for (int i = n - 1; i >= 0; i--) {
    st[i] = s;
    s *= dims[i];
  }
}

static LLVMValueRef f64c(cg_kernel *k, double v) { return cgl_real(k->L->t_f64, v); }
static LLVMValueRef sel(cg_kernel *k, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(BLD, c, a, b, "");
}
static LLVMValueRef isnan_(cg_kernel *k, LLVMValueRef v) {
  return LLVMBuildFCmp(BLD, LLVMRealUNO, v, v, "");
}

/* a + b and a * b in the element type (wrapping for integers). */
static LLVMValueRef e_add(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return cgl_is_fp(LLVMTypeOf(a)) ? LLVMBuildFAdd(BLD, a, b, "") : LLVMBuildAdd(BLD, a, b, "");
}
static LLVMValueRef e_mul(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return cgl_is_fp(LLVMTypeOf(a)) ? LLVMBuildFMul(BLD, a, b, "") : LLVMBuildMul(BLD, a, b, "");
}

/* Kernel indices kk in [0, K) with 0 <= start + kk * dil < len, as
 * [*lo, *hi) (empty when lo >= hi): ops_nn.c's tap_range at run time. */
static void tap_range(cg_kernel *k, LLVMValueRef start, int64_t K, int64_t dil, int64_t len,
                      LLVMValueRef *lo, LLVMValueRef *hi) {
  cgl *L = k->L;
  LLVMValueRef zero = cgl_i64(L, 0);
  LLVMValueRef neg = LLVMBuildICmp(BLD, LLVMIntSLT, start, zero, "");
  LLVMValueRef t = sel(k, neg, LLVMBuildNeg(BLD, start, ""), zero);
  *lo = LLVMBuildUDiv(BLD, LLVMBuildAdd(BLD, t, cgl_i64(L, dil - 1), ""), cgl_i64(L, dil), "");
  LLVMValueRef u = LLVMBuildSub(BLD, cgl_i64(L, len - 1), start, "");
  LLVMValueRef none = LLVMBuildICmp(BLD, LLVMIntSLT, u, zero, "");
  LLVMValueRef h = LLVMBuildAdd(BLD, LLVMBuildUDiv(BLD, sel(k, none, zero, u), cgl_i64(L, dil), ""),
                                cgl_i64(L, 1), "");
  h = sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, h, cgl_i64(L, K), ""), h, cgl_i64(L, K));
  *hi = sel(k, none, zero, h);
}

/* Window geometry from a node's (canonical) attributes. */
typedef struct {
  int nsp;
  int64_t in[NN_MAX_SPATIAL], out[NN_MAX_SPATIAL], kernel[NN_MAX_SPATIAL];
  int64_t stride[NN_MAX_SPATIAL], dil[NN_MAX_SPATIAL], pad[2 * NN_MAX_SPATIAL];
} geom;

static void ints_or(const ir_node *n, const char *name, int len, int64_t def, int64_t *out) {
  const int64_t *v;
  int c = ir_attr_ints(n, name, &v);
  for (int i = 0; i < len; i++) out[i] = c == len ? v[i] : def;
}

/* x [N, C, in...] -> y [N, M, out...]; kernel from the weight's trailing
 * dims (wt) or kernel_shape (pools). */
static int make_geom(cg_kernel *k, const ir_type *x, const ir_type *y, const ir_type *wt, geom *g) {
  memset(g, 0, sizeof *g);
  const ir_attr *ap = ir_attr_find(k->n, "auto_pad");
  if (ap && ap->kind == IR_ATTR_STRING && strcmp(ap->s, "NOTSET") != 0)
    return cgk_unsupported(k, "auto_pad %s was not resolved (run infer-shapes)", ap->s);
  g->nsp = x->rank - 2;
  KILN_ASSERT(g->nsp >= 1 && g->nsp <= NN_MAX_SPATIAL);
  for (int i = 0; i < g->nsp; i++) {
    g->in[i] = x->dims[2 + i];
    g->out[i] = y->dims[2 + i];
  }
  if (wt)
    for (int i = 0; i < g->nsp; i++) g->kernel[i] = wt->dims[2 + i];
  else
    ints_or(k->n, "kernel_shape", g->nsp, 1, g->kernel);
  ints_or(k->n, "strides", g->nsp, 1, g->stride);
  ints_or(k->n, "dilations", g->nsp, 1, g->dil);
  ints_or(k->n, "pads", 2 * g->nsp, 0, g->pad);
  return KILN_OK;
}

/* ---- matmul ------------------------------------------------------------------------------ */

typedef struct {
  int64_t M, K, N;
  ir_dtype t;
  LLVMTypeRef et;
} mm_ctx;

/* One matrix product: a [M, K] at off[0], b [K, N] at off[1], y [M, N] at
 * off[2] (element offsets): y[i, :] = sum_kk a[i, kk] * b[kk, :] */
static void mm_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  const mm_ctx *c = user;
  cgl *L = k->L;
  cgl_loop li, lk, lj;
  LLVMValueRef i = cgl_loop_begin(L, &li, cgl_i64(L, 0), cgl_i64(L, c->M), "i");
  LLVMValueRef yrow = cgk_add(k, off[2], cgk_muli(k, i, c->N));
  LLVMValueRef j = cgl_loop_begin(L, &lj, cgl_i64(L, 0), cgl_i64(L, c->N), "j");
  cgl_store(L, LLVMConstNull(c->et), k->out[0], cgk_add(k, yrow, j));
  cgl_loop_end(L, &lj);
  LLVMValueRef kk = cgl_loop_begin(L, &lk, cgl_i64(L, 0), cgl_i64(L, c->K), "kk");
  LLVMValueRef av =
      cgl_load(L, c->et, k->in[0], cgk_add(k, off[0], cgk_add(k, cgk_muli(k, i, c->K), kk)));
  LLVMValueRef brow = cgk_add(k, off[1], cgk_muli(k, kk, c->N));
  j = cgl_loop_begin(L, &lj, cgl_i64(L, 0), cgl_i64(L, c->N), "j");
  LLVMValueRef bv = cgl_load(L, c->et, k->in[1], cgk_add(k, brow, j));
  LLVMValueRef yat = cgk_add(k, yrow, j);
  cgl_store(L, e_add(k, cgl_load(L, c->et, k->out[0], yat), e_mul(k, av, bv)), k->out[0], yat);
  cgl_loop_end(L, &lj);
  cgl_loop_end(L, &lk);
  cgl_loop_end(L, &li);
}

/* The reference loop nest: integers, and shapes the GEMM core does not take. */
static int matmul_loops(cg_kernel *k) {
  const ir_type *a = k->in_t[0], *b = k->in_t[1], *y = k->out_t[0];
  mm_ctx c = {a->rank >= 2 ? a->dims[a->rank - 2] : 1, a->dims[a->rank - 1],
              b->rank >= 2 ? b->dims[b->rank - 1] : 1, a->dtype, cgl_dtype(k->L, a->dtype)};
  /* batch dims: y's leading dims; a's and b's own batch dims broadcast to them */
  ir_type ab = {.dtype = a->dtype, .rank = a->rank > 2 ? a->rank - 2 : 0};
  ir_type bb = {.dtype = b->dtype, .rank = b->rank > 2 ? b->rank - 2 : 0};
  memcpy(ab.dims, a->dims, sizeof(int64_t) * (size_t)ab.rank);
  memcpy(bb.dims, b->dims, sizeof(int64_t) * (size_t)bb.rank);
  int nb = y->rank - (a->rank >= 2) - (b->rank >= 2);
  KILN_ASSERT(nb >= 0 && nb >= ab.rank && nb >= bb.rank);
  if (ir_type_numel(y) == 0) return KILN_OK;
  cg_nest n;
  cg_nest_init(&n, nb, y->dims, 3);
  cg_nest_bcast(&n, 0, &ab);
  cg_nest_bcast(&n, 1, &bb);
  cg_nest_contig(&n, 2);
  for (int i = 0; i < nb; i++) {
    n.stride[0][i] *= c.M * c.K;
    n.stride[1][i] *= c.K * c.N;
    n.stride[2][i] *= c.M * c.N;
  }
  cg_nest_simplify(&n);
  cg_nest_emit(k, &n, mm_body, &c);
  return KILN_OK;
}

/* ---- conv -------------------------------------------------------------------------------- */

typedef struct {
  geom g;
  int64_t C, M, Cg, Mg, in_sz, k_sz, out_sz;
  int64_t xs[NN_MAX_SPATIAL], ks[NN_MAX_SPATIAL], ys[NN_MAX_SPATIAL];
  ir_dtype t;
  LLVMTypeRef et;
  int has_bias;
  /* per output element */
  LLVMValueRef acc, xbase, wbase, lo[NN_MAX_SPATIAL], hi[NN_MAX_SPATIAL];
} conv_ctx;

/* One tap: acc += x[xbase + sum kk_i*dil_i*xs_i] * w[wbase + sum kk_i*ks_i] */
static void conv_tap(cg_kernel *k, LLVMValueRef *kk, void *user) {
  conv_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef xo = c->xbase, wo = c->wbase;
  for (int i = 0; i < c->g.nsp; i++) {
    xo = cgk_add(k, xo, cgk_muli(k, kk[i], c->g.dil[i] * c->xs[i]));
    wo = cgk_add(k, wo, cgk_muli(k, kk[i], c->ks[i]));
  }
  LLVMValueRef p = e_mul(k, cgl_load(L, c->et, k->in[0], xo), cgl_load(L, c->et, k->in[1], wo));
  cgk_set(k, c->acc, e_add(k, cgk_get(k, c->acc), p));
}

/* iv: n, group, mg, out_0..out_{k-1} */
static void conv_out(cg_kernel *k, LLVMValueRef *iv, void *user) {
  conv_ctx *c = user;
  cgl *L = k->L;
  const geom *g = &c->g;
  LLVMValueRef n = iv[0], grp = iv[1], m = cgk_add(k, cgk_muli(k, grp, c->Mg), iv[2]);
  LLVMValueRef start_off = cgl_i64(L, 0), yoff = cgl_i64(L, 0);
  for (int i = 0; i < g->nsp; i++) {
    LLVMValueRef start = cgk_addi(k, cgk_muli(k, iv[3 + i], g->stride[i]), -g->pad[i]);
    tap_range(k, start, g->kernel[i], g->dil[i], g->in[i], &c->lo[i], &c->hi[i]);
    start_off = cgk_add(k, start_off, cgk_muli(k, start, c->xs[i]));
    yoff = cgk_add(k, yoff, cgk_muli(k, iv[3 + i], c->ys[i]));
  }
  cgk_set(k, c->acc, c->has_bias ? cgl_load(L, c->et, k->in[2], m) : LLVMConstNull(c->et));
  /* x: [N, C, in...], w: [M, Cg, kernel...]:
   * y[n, m, o] = bias[m] + sum_{cg, taps} x[n, g*Cg + cg, o*s - pb + kk*dil] * w[m, cg, kk] */
  cgl_loop lc;
  LLVMValueRef cg = cgl_loop_begin(L, &lc, cgl_i64(L, 0), cgl_i64(L, c->Cg), "cg");
  LLVMValueRef ch = cgk_add(k, cgk_muli(k, n, c->C), cgk_add(k, cgk_muli(k, grp, c->Cg), cg));
  c->xbase = cgk_add(k, cgk_muli(k, ch, c->in_sz), start_off);
  c->wbase = cgk_muli(k, cgk_add(k, cgk_muli(k, m, c->Cg), cg), c->k_sz);
  cgk_box(k, g->nsp, c->lo, c->hi, conv_tap, c);
  cgl_loop_end(L, &lc);
  LLVMValueRef yat = cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, n, c->M), m), c->out_sz), yoff);
  cgl_store(L, cgk_get(k, c->acc), k->out[0], yat);
}

/* The direct loop nest (the reference schedule): degenerate shapes. */
static int conv_loops(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *w = k->in_t[1], *y = k->out_t[0];
  conv_ctx c;
  memset(&c, 0, sizeof c);
  int rc = make_geom(k, x, y, w, &c.g);
  if (rc) return rc;
  int64_t group = ir_attr_int(k->n, "group");
  c.C = x->dims[1];
  c.M = w->dims[0];
  c.Cg = w->dims[1];
  c.Mg = c.M / group;
  c.t = x->dtype;
  c.et = cgl_dtype(k->L, x->dtype);
  c.has_bias = k->n_in > 2 && k->in[2] != NULL;
  c.in_sz = prod(c.g.in, 0, c.g.nsp);
  c.k_sz = prod(c.g.kernel, 0, c.g.nsp);
  c.out_sz = prod(c.g.out, 0, c.g.nsp);
  strides_of(c.g.in, c.g.nsp, c.xs);
  strides_of(c.g.kernel, c.g.nsp, c.ks);
  strides_of(c.g.out, c.g.nsp, c.ys);
  if (ir_type_numel(y) == 0) return KILN_OK;
  c.acc = cgk_var(k, c.et, NULL);
  int64_t box[3 + NN_MAX_SPATIAL] = {x->dims[0], group, c.Mg};
  for (int i = 0; i < c.g.nsp; i++) box[3 + i] = c.g.out[i];
  cgk_box_const(k, 3 + c.g.nsp, box, conv_out, &c);
  return KILN_OK;
}

/* ---- the GEMM lowering of matmul and conv ------------------------------------------------ */

/* Epilogue of the loop-nest fallbacks: a pass over the finished output. */
static void epi_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  cgl *L = k->L;
  LLVMTypeRef et = cgl_dtype(L, k->out_t[0]->dtype);
  LLVMValueRef v = cgl_load(L, et, k->out[0], off[0]);
  cgl_store(L, cgk_epilogue(k, v, off[0]), k->out[0], off[0]);
}

static void epilogue_pass(cg_kernel *k) {
  if (!k->epilogue || ir_type_numel(k->out_t[0]) == 0) return;
  int64_t n = ir_type_numel(k->out_t[0]);
  cg_nest nest;
  cg_nest_init(&nest, 1, &n, 1);
  cg_nest_contig(&nest, 0);
  cg_nest_emit(k, &nest, epi_body, NULL);
}

/* Batch entries a kernel may have (per-entry offset tables). */
#define GEMM_MAX_BATCH 65536

static void gemm_free(cg_gemm *g) {
  free(g->a_off);
  free(g->b_off);
  free(g->c_off);
  free(g->bias_off);
  memset(g, 0, sizeof *g);
}

static int is_gemm_type(ir_dtype t) { return t == IR_F32 || t == IR_F64; }

static int const_in(const cg_kernel *k, int i) { return k->in_const && k->in_const[i] != NULL; }

/* matmul as GEMMs: one per batch entry of y; a constant operand is
 * pre-packed when packed_ok. 0 when the GEMM core does not apply. */
static int matmul_gemm(cg_kernel *k, int packed_ok, cg_gemm *g) {
  const ir_type *a = k->in_t[0], *b = k->in_t[1], *y = k->out_t[0];
  memset(g, 0, sizeof *g);
  if (!is_gemm_type(a->dtype) || ir_type_numel(y) == 0) return 0;
  int64_t M = a->rank >= 2 ? a->dims[a->rank - 2] : 1, K = a->dims[a->rank - 1];
  int64_t N = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
  if (K == 0) return 0;
  int nb = y->rank - (a->rank >= 2) - (b->rank >= 2);
  int ra = a->rank > 2 ? a->rank - 2 : 0, rb = b->rank > 2 ? b->rank - 2 : 0;
  int64_t nbatch = prod(y->dims, 0, nb);
  /* a batch of products sharing one B (a [.., M, K] times b [K, N]) is one
   * product with the batch folded into M: a's matrices are consecutive
   * rows, and so are y's */
  if (nbatch > 1 && a->rank >= 2 && prod(a->dims, 0, ra) == nbatch &&
      prod(b->dims, 0, rb) == 1) {
    M *= nbatch;
    nbatch = 1;
    nb = ra = rb = 0;
  }
  if (nbatch > GEMM_MAX_BATCH) return 0;
  /* matrix strides of a's and b's batch dims, 0 where broadcast */
  int64_t sa[IR_MAX_RANK] = {0}, sb[IR_MAX_RANK] = {0};
  int64_t s = 1;
  for (int i = ra - 1; i >= 0; i--) {
    sa[nb - ra + i] = a->dims[i] == 1 ? 0 : s;
    s *= a->dims[i];
  }
  int64_t n_amat = s;
  s = 1;
  for (int i = rb - 1; i >= 0; i--) {
    sb[nb - rb + i] = b->dims[i] == 1 ? 0 : s;
    s *= b->dims[i];
  }
  cg_gemm_plan_make(k->L, a->dtype, M, N, K, 1, &g->p);
  g->batch = nbatch;
  int pa = packed_ok && const_in(k, 0), pb = packed_ok && const_in(k, 1);
  g->a_kind = pa ? CG_OPND_PACKED : CG_OPND_DENSE;
  g->b_kind = pb ? CG_OPND_PACKED : CG_OPND_DENSE;
  g->a_in = 0;
  g->b_in = 1;
  g->lda = K;
  g->ldb = N;
  g->bias_in = -1;
  g->ldc = N;
  g->a_off = kiln_xcalloc((size_t)nbatch, sizeof(int64_t));
  g->b_off = kiln_xcalloc((size_t)nbatch, sizeof(int64_t));
  g->c_off = kiln_xcalloc((size_t)nbatch, sizeof(int64_t));
  int64_t amat = pa ? cg_gemm_packed_a_elems(&g->p) : M * K;
  int64_t bmat = pb ? cg_gemm_packed_b_elems(&g->p) : K * N;
  int64_t b_base = pa && pb ? n_amat * amat : 0; /* packed B follows packed A in the blob */
  int64_t idx[IR_MAX_RANK] = {0};
  for (int64_t bi = 0; bi < nbatch; bi++) {
    int64_t ai = 0, bj = 0;
    for (int d = 0; d < nb; d++) {
      ai += idx[d] * sa[d];
      bj += idx[d] * sb[d];
    }
    g->a_off[bi] = ai * amat;
    g->b_off[bi] = b_base + bj * bmat;
    g->c_off[bi] = bi * M * N;
    for (int d = nb - 1; d >= 0; d--) {
      if (++idx[d] < y->dims[d]) break;
      idx[d] = 0;
    }
  }
  return 1;
}

/* conv as GEMMs, one per (image, group): y[m, j] = sum_k w[m, k] * B[k, j]
 * with B the im2col of the group's channels (a 1x1 conv with unit strides
 * and no padding reads x as B directly). 0 when the GEMM core does not
 * apply. */
static int conv_gemm(cg_kernel *k, int packed_ok, cg_gemm *g) {
  const ir_type *x = k->in_t[0], *w = k->in_t[1], *y = k->out_t[0];
  memset(g, 0, sizeof *g);
  if (!is_gemm_type(x->dtype) || ir_type_numel(y) == 0) return 0;
  geom ge;
  if (make_geom(k, x, y, w, &ge)) return 0;
  int64_t G = ir_attr_int(k->n, "group"), C = x->dims[1], M = w->dims[0], Cg = w->dims[1];
  int64_t Mg = M / G, ksz = prod(ge.kernel, 0, ge.nsp), Isz = prod(ge.in, 0, ge.nsp);
  int64_t Osz = prod(ge.out, 0, ge.nsp), nimg = x->dims[0];
  if (Cg == 0 || ksz == 0 || Osz == 0 || Mg == 0 || nimg * G > GEMM_MAX_BATCH) return 0;
  int direct = ksz == 1;
  for (int i = 0; i < ge.nsp; i++)
    direct &= ge.stride[i] == 1 && ge.pad[i] == 0 && ge.out[i] == ge.in[i];
  int64_t K = Cg * ksz;
  cg_gemm_plan_make(k->L, x->dtype, Mg, Osz, K, direct ? 1 : ksz, &g->p);
  g->batch = nimg * G;
  int pa = packed_ok && const_in(k, 1);
  g->a_kind = pa ? CG_OPND_PACKED : CG_OPND_DENSE;
  g->b_kind = direct ? CG_OPND_DENSE : CG_OPND_IM2COL;
  g->a_in = 1;
  g->b_in = 0;
  g->lda = K;
  g->ldb = Isz;
  g->ldc = Osz;
  g->bias_in = k->n_in > 2 && k->in_t[2] ? 2 : -1;
  cg_im2col *im = &g->im;
  im->nsp = ge.nsp;
  im->ksz = ksz;
  for (int i = 0; i < ge.nsp; i++) {
    im->in[i] = ge.in[i];
    im->out[i] = ge.out[i];
    im->kernel[i] = ge.kernel[i];
    im->stride[i] = ge.stride[i];
    im->dil[i] = ge.dil[i];
    im->pad[i] = ge.pad[i];
  }
  g->a_off = kiln_xcalloc((size_t)g->batch, sizeof(int64_t));
  g->b_off = kiln_xcalloc((size_t)g->batch, sizeof(int64_t));
  g->c_off = kiln_xcalloc((size_t)g->batch, sizeof(int64_t));
  g->bias_off = kiln_xcalloc((size_t)g->batch, sizeof(int64_t));
  int64_t amat = pa ? cg_gemm_packed_a_elems(&g->p) : Mg * K;
  for (int64_t n = 0; n < nimg; n++)
    for (int64_t gi = 0; gi < G; gi++) {
      int64_t bi = n * G + gi;
      g->a_off[bi] = gi * amat;
      g->b_off[bi] = (n * C + gi * Cg) * Isz;
      g->c_off[bi] = (n * M + gi * Mg) * Osz;
      g->bias_off[bi] = gi * Mg;
    }
  return 1;
}

/* Emits a lowered GEMM when the kernel has the scratch it needs. */
static int gemm_try(cg_kernel *k, cg_gemm *g) {
  int64_t bytes = cg_gemm_split(g);
  if (bytes > 0 && !k->scratch) return 0; /* not prepared (a caller without cg_prep) */
  if ((g->a_kind == CG_OPND_PACKED || g->b_kind == CG_OPND_PACKED) && !k->blob) return 0;
  cg_gemm_emit(k, g);
  return 1;
}

/* Packs the constant operands of a lowered GEMM into a blob. */
static void gemm_blob(cg_kernel *k, const cg_gemm *g, int a_in, int b_in, int64_t n_amat,
                      int64_t n_bmat, int64_t lda_mat, int64_t ldb_mat, cg_prep *pr) {
  const cg_gemm_plan *p = &g->p;
  int64_t ae = g->a_kind == CG_OPND_PACKED ? n_amat * cg_gemm_packed_a_elems(p) : 0;
  int64_t be = g->b_kind == CG_OPND_PACKED ? n_bmat * cg_gemm_packed_b_elems(p) : 0;
  if (!ae && !be) return;
  pr->blob_size = (ae + be) * p->esz;
  pr->blob = kiln_xcalloc((size_t)pr->blob_size + 1, 1);
  char *dst = pr->blob;
  if (ae) {
    const char *src = k->in_const[a_in];
    for (int64_t i = 0; i < n_amat; i++)
      cg_gemm_pack_a(p, src + i * lda_mat * p->esz, g->lda,
                     dst + i * cg_gemm_packed_a_elems(p) * p->esz);
    pr->consumes |= UINT64_C(1) << a_in;
  }
  if (be) {
    const char *src = k->in_const[b_in];
    for (int64_t i = 0; i < n_bmat; i++)
      cg_gemm_pack_b(p, src + i * ldb_mat * p->esz, g->ldb,
                     dst + (ae + i * cg_gemm_packed_b_elems(p)) * p->esz);
    pr->consumes |= UINT64_C(1) << b_in;
  }
}

static int prep_matmul(cg_kernel *k, cg_prep *pr) {
  cg_gemm g;
  if (!matmul_gemm(k, 1, &g)) return KILN_OK;
  pr->scratch = cg_gemm_split(&g);
  const ir_type *a = k->in_t[0], *b = k->in_t[1];
  int64_t na = a->rank > 2 ? prod(a->dims, 0, a->rank - 2) : 1;
  int64_t nb = b->rank > 2 ? prod(b->dims, 0, b->rank - 2) : 1;
  if (g.batch == 1) na = nb = 1; /* (a batch folded into M) */
  gemm_blob(k, &g, 0, 1, na, nb, g.p.M * g.p.K, g.p.K * g.p.N, pr);
  gemm_free(&g);
  return KILN_OK;
}

/* ---- depthwise conv (one input channel per group) ---------------------------------------- */

/* y[n, m, o] = bias[m] + sum_taps x[n, m / Mg, o*s - pb + tap*dil] * w[m, 0, tap],
 * vectorised along the last spatial dim; planes (n, m) split into tasks. */
typedef struct {
  geom g;
  int64_t C, M, Mg, ksz, Isz, Osz, OW, planes, per_task;
  int64_t istr[NN_MAX_SPATIAL];
  int vl, has_bias;
  ir_dtype t;
  LLVMTypeRef et, vt;
  /* per output vector */
  LLVMValueRef xin, wm, acc, ib[NN_MAX_SPATIAL], lanes, ow0;
  int nlanes;
} dw_ctx;

static LLVMValueRef dw_splat(cg_kernel *k, LLVMValueRef x, int n) {
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)n);
  LLVMValueRef v = LLVMBuildInsertElement(BLD, LLVMGetPoison(vt), x, cgl_i32(k->L, 0), "");
  return LLVMBuildShuffleVector(BLD, v, LLVMGetPoison(vt),
                                LLVMConstNull(LLVMVectorType(k->L->t_i32, (unsigned)n)), "");
}

static LLVMValueRef dw_iota(cg_kernel *k, int n) {
  LLVMValueRef e[64];
  for (int i = 0; i < n; i++) e[i] = cgl_i32(k->L, i);
  return LLVMConstVector(e, (unsigned)n);
}

static void dw_tap(cg_kernel *k, LLVMValueRef *r, void *user) {
  dw_ctx *c = user;
  cgl *L = k->L;
  const geom *g = &c->g;
  int nsp = g->nsp, last = nsp - 1;
  LLVMValueRef ok = LLVMConstInt(L->t_i1, 1, 0), off = cgl_i64(L, 0), tap = cgl_i64(L, 0);
  for (int d = 0; d < nsp; d++) tap = cgk_add(k, cgk_muli(k, tap, g->kernel[d]), r[d]);
  for (int d = 0; d < last; d++) {
    LLVMValueRef pos = cgk_add(k, c->ib[d], cgk_muli(k, r[d], g->dil[d]));
    ok = LLVMBuildAnd(BLD, ok, LLVMBuildICmp(BLD, LLVMIntULT, pos, cgl_i64(L, g->in[d]), ""), "");
    off = cgk_add(k, off, cgk_muli(k, pos, c->istr[d]));
  }
  /* lane l: iw = (ow0 + l) * s - pb + r * dil */
  LLVMValueRef iw0 = cgk_add(
      k, cgk_addi(k, cgk_muli(k, c->ow0, g->stride[last]), -g->pad[last]),
      cgk_muli(k, r[last], g->dil[last]));
  LLVMValueRef lane = LLVMBuildMul(BLD, dw_iota(k, c->vl),
                                   dw_splat(k, cgl_i32(L, (int32_t)g->stride[last]), c->vl), "");
  LLVMValueRef iw = LLVMBuildAdd(BLD, dw_splat(k, LLVMBuildTrunc(BLD, iw0, L->t_i32, ""), c->vl),
                                 lane, "");
  LLVMValueRef m = LLVMBuildICmp(BLD, LLVMIntULT, iw,
                                 dw_splat(k, cgl_i32(L, (int32_t)g->in[last]), c->vl), "");
  m = LLVMBuildAnd(BLD, m, c->lanes, "");
  m = LLVMBuildAnd(BLD, m, dw_splat(k, ok, c->vl), "");
  LLVMValueRef xv;
  LLVMValueRef zero = LLVMConstNull(c->vt);
  if (g->stride[last] == 2) {
    LLVMValueRef at = cgk_add(k, off, iw0);
    LLVMValueRef hi = LLVMBuildSelect(BLD, ok, cgl_i32(L, c->nlanes), cgl_i32(L, 0), "");
    xv = cg_load_stride2(k, c->et, c->vl, LLVMBuildGEP2(BLD, c->et, c->xin, &at, 1, ""),
                         LLVMBuildTrunc(BLD, iw0, L->t_i32, ""), g->in[last], cgl_i32(L, 0), hi,
                         zero);
  } else if (g->stride[last] == 1) {
    LLVMValueRef at = cgk_add(k, off, iw0);
    LLVMValueRef ptr = LLVMBuildGEP2(BLD, c->et, c->xin, &at, 1, "");
    LLVMTypeRef tys[2] = {c->vt, L->t_ptr};
    LLVMValueRef args[4] = {ptr, cgl_i32(L, ir_dtype_size(c->t)), m, zero};
    xv = cgl_intrinsic_n(L, "llvm.masked.load", tys, 2, args, 4);
  } else {
    LLVMValueRef idx = LLVMBuildAdd(
        BLD, dw_splat(k, LLVMBuildTrunc(BLD, off, L->t_i32, ""), c->vl), iw, "");
    LLVMValueRef ptrs = LLVMBuildGEP2(BLD, c->et, c->xin, &idx, 1, "");
    LLVMTypeRef tys[2] = {c->vt, LLVMTypeOf(ptrs)};
    LLVMValueRef args[4] = {ptrs, cgl_i32(L, ir_dtype_size(c->t)), m, zero};
    xv = cgl_intrinsic_n(L, "llvm.masked.gather", tys, 2, args, 4);
  }
  LLVMValueRef wv = dw_splat(k, cgl_load(L, c->et, c->wm, tap), c->vl);
  LLVMValueRef args[3] = {wv, xv, cgk_get(k, c->acc)};
  cgk_set(k, c->acc, cgl_intrinsic(L, "llvm.fmuladd", c->vt, args, 3));
}

/* One output vector at ow0 (nlanes valid) of the row at yrow. */
static void dw_vector(cg_kernel *k, dw_ctx *c, LLVMValueRef yrow, LLVMValueRef bias) {
  cgl *L = k->L;
  const geom *g = &c->g;
  cgk_set(k, c->acc, dw_splat(k, bias, c->vl));
  cgk_box_const(k, g->nsp, g->kernel, dw_tap, c);
  LLVMValueRef v = cgk_get(k, c->acc);
  LLVMValueRef at = cgk_add(k, yrow, c->ow0);
  LLVMValueRef ptr = cgl_gep(L, c->et, k->out[0], at);
  if (c->nlanes == c->vl) {
    v = cgk_epilogue(k, v, at);
    LLVMValueRef st = LLVMBuildStore(BLD, v, ptr);
    LLVMSetAlignment(st, (unsigned)ir_dtype_size(c->t));
    return;
  }
  for (int l = 0; l < c->nlanes; l++) {
    LLVMValueRef e = LLVMBuildExtractElement(BLD, v, cgl_i32(L, l), "");
    e = cgk_epilogue(k, e, cgk_addi(k, at, l));
    cgl_store(L, e, ptr, cgl_i64(L, l));
  }
}

/* Task t's planes [lo, hi) of `planes`, per_task each (the last task may
 * get fewer). */
static void task_planes(cg_kernel *k, LLVMValueRef t, int64_t per_task, int64_t planes,
                        LLVMValueRef *lo, LLVMValueRef *hi) {
  cgl *L = k->L;
  *lo = cgk_muli(k, t, per_task);
  LLVMValueRef h = cgk_addi(k, *lo, per_task);
  *hi = LLVMBuildSelect(BLD, LLVMBuildICmp(BLD, LLVMIntSLT, h, cgl_i64(L, planes), ""), h,
                        cgl_i64(L, planes), "");
}

/* For output row `row` (the flat index over every spatial axis but the
 * last), the input coordinate of the window's first tap on each of those
 * axes: ib[d] = out_d * stride[d] - pad[d], d < nsp - 1. */
static void row_origin(cg_kernel *k, const geom *g, LLVMValueRef row, LLVMValueRef *ib) {
  cgl *L = k->L;
  LLVMValueRef o = row;
  for (int d = g->nsp - 2; d >= 0; d--) {
    LLVMValueRef od = d ? LLVMBuildSRem(BLD, o, cgl_i64(L, g->out[d]), "") : o;
    if (d) o = LLVMBuildSDiv(BLD, o, cgl_i64(L, g->out[d]), "");
    ib[d] = cgk_addi(k, cgk_muli(k, od, g->stride[d]), -g->pad[d]);
  }
}

static void dw_task(cg_kernel *k, LLVMValueRef t, void *user) {
  dw_ctx *c = user;
  cgl *L = k->L;
  const geom *g = &c->g;
  c->acc = cgk_var(k, c->vt, NULL);
  LLVMValueRef lo, hi;
  task_planes(k, t, c->per_task, c->planes, &lo, &hi);
  cgl_loop lp, lr, lc;
  LLVMValueRef plane = cgl_loop_begin(L, &lp, lo, hi, "plane");
  LLVMValueRef n = LLVMBuildSDiv(BLD, plane, cgl_i64(L, c->M), "");
  LLVMValueRef m = LLVMBuildSRem(BLD, plane, cgl_i64(L, c->M), "");
  LLVMValueRef ch = cgk_add(k, cgk_muli(k, n, c->C), LLVMBuildSDiv(BLD, m, cgl_i64(L, c->Mg), ""));
  c->xin = cgl_gep(L, c->et, k->in[0], cgk_muli(k, ch, c->Isz));
  c->wm = cgl_gep(L, c->et, k->in[1], cgk_muli(k, m, c->ksz));
  LLVMValueRef bias = c->has_bias ? cgl_load(L, c->et, k->in[2], m) : LLVMConstNull(c->et);
  LLVMValueRef ybase = cgk_muli(k, plane, c->Osz);
  LLVMValueRef row = cgl_loop_begin(L, &lr, cgl_i64(L, 0), cgl_i64(L, c->Osz / c->OW), "row");
  row_origin(k, g, row, c->ib);
  LLVMValueRef yrow = cgk_add(k, ybase, cgk_muli(k, row, c->OW));
  int64_t full = c->OW / c->vl, rem = c->OW % c->vl;
  LLVMValueRef ones = LLVMConstAllOnes(LLVMVectorType(L->t_i1, (unsigned)c->vl));
  if (full > 0) {
    LLVMValueRef ci = cgl_loop_begin(L, &lc, cgl_i64(L, 0), cgl_i64(L, full), "ow");
    c->ow0 = cgk_muli(k, ci, c->vl);
    c->lanes = ones;
    c->nlanes = c->vl;
    dw_vector(k, c, yrow, bias);
    cgl_loop_end(L, &lc);
  }
  if (rem > 0) {
    c->ow0 = cgl_i64(L, full * c->vl);
    c->lanes = LLVMBuildICmp(BLD, LLVMIntSLT, dw_iota(k, c->vl),
                             dw_splat(k, cgl_i32(L, (int32_t)rem), c->vl), "");
    c->nlanes = (int)rem;
    dw_vector(k, c, yrow, bias);
  }
  cgl_loop_end(L, &lr);
  cgl_loop_end(L, &lp);
}

/* Work per task (flops) of a depthwise conv: a task is a few planes and
 * costs one atomic increment, so small tasks (a few microseconds) keep the
 * threads balanced on small layers (7x7 and 14x14 planes). */
#define DW_TASK_MIN_FLOPS (1 << 15)

static int conv_depthwise(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *w = k->in_t[1], *y = k->out_t[0];
  dw_ctx c;
  memset(&c, 0, sizeof c);
  int rc = make_geom(k, x, y, w, &c.g);
  if (rc) return rc;
  cg_simd s;
  cg_simd_of(k->L, &s);
  c.t = x->dtype;
  c.vl = s.bits / 8 / ir_dtype_size(x->dtype);
  c.et = cgl_dtype(k->L, x->dtype);
  c.vt = LLVMVectorType(c.et, (unsigned)c.vl);
  c.C = x->dims[1];
  c.M = w->dims[0];
  c.Mg = c.M / ir_attr_int(k->n, "group");
  c.ksz = prod(c.g.kernel, 0, c.g.nsp);
  c.Isz = prod(c.g.in, 0, c.g.nsp);
  c.Osz = prod(c.g.out, 0, c.g.nsp);
  c.OW = c.g.out[c.g.nsp - 1];
  c.has_bias = k->n_in > 2 && k->in[2] != NULL;
  strides_of(c.g.in, c.g.nsp, c.istr);
  c.planes = x->dims[0] * c.M;
  double flops = 2.0 * (double)c.planes * (double)c.Osz * (double)c.ksz;
  int64_t tasks = (int64_t)(flops / DW_TASK_MIN_FLOPS);
  if (tasks < 1) tasks = 1;
  if (tasks > 256) tasks = 256;
  if (tasks > c.planes) tasks = c.planes;
  c.per_task = (c.planes + tasks - 1) / tasks;
  tasks = (c.planes + c.per_task - 1) / c.per_task;
  cgk_parallel(k, tasks, dw_task, &c);
  return KILN_OK;
}

static int prep_conv(cg_kernel *k, cg_prep *pr) {
  const ir_type *w = k->in_t[1];
  if (w->dims[1] == 1 && is_gemm_type(w->dtype)) return KILN_OK; /* depthwise */
  cg_gemm g;
  if (!conv_gemm(k, 1, &g)) return KILN_OK;
  pr->scratch = cg_gemm_split(&g);
  int64_t G = ir_attr_int(k->n, "group");
  gemm_blob(k, &g, 1, 0, G, 0, g.p.M * g.p.K, 0, pr);
  gemm_free(&g);
  return KILN_OK;
}

cg_prep_fn cg_preparer(ir_op op) {
  switch (op) {
  case IR_OP_MATMUL: return prep_matmul;
  case IR_OP_CONV: return prep_conv;
  default: return NULL;
  }
}

int cg_emit_matmul(cg_kernel *k) {
  cg_gemm g;
  if (matmul_gemm(k, k->blob != NULL, &g)) {
    int done = gemm_try(k, &g);
    gemm_free(&g);
    if (done) return KILN_OK;
  }
  int rc = matmul_loops(k);
  if (!rc) epilogue_pass(k);
  return rc;
}

int cg_emit_conv(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *w = k->in_t[1], *y = k->out_t[0];
  if (ir_type_numel(y) == 0) return KILN_OK;
  if (w->dims[1] == 1 && is_gemm_type(x->dtype) && prod(w->dims, 2, w->rank) > 0 &&
      x->rank >= 3)
    return conv_depthwise(k);
  cg_gemm g;
  if (conv_gemm(k, k->blob != NULL, &g)) {
    int done = gemm_try(k, &g);
    gemm_free(&g);
    if (done) return KILN_OK;
  }
  int rc = conv_loops(k);
  if (!rc) epilogue_pass(k);
  return rc;
}

/* ---- conv_transpose ---------------------------------------------------------------------- */

typedef struct {
  conv_ctx cv; /* geometry: in = x's spatial dims, out = y's */
  LLVMValueRef xv, ybase, wb;
} convt_ctx;

/* y[ybase + sum kk_i*dil_i*ys_i] += xv * w[wb + sum kk_i*ks_i] */
static void convt_tap(cg_kernel *k, LLVMValueRef *kk, void *user) {
  convt_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef yo = c->ybase, wo = c->wb;
  for (int i = 0; i < c->cv.g.nsp; i++) {
    yo = cgk_add(k, yo, cgk_muli(k, kk[i], c->cv.g.dil[i] * c->cv.ys[i]));
    wo = cgk_add(k, wo, cgk_muli(k, kk[i], c->cv.ks[i]));
  }
  LLVMValueRef p = e_mul(k, c->xv, cgl_load(L, c->cv.et, k->in[1], wo));
  cgl_store(L, e_add(k, cgl_load(L, c->cv.et, k->out[0], yo), p), k->out[0], yo);
}

/* iv: n, group, cg, in_0..in_{k-1}: input element x[n, g*Cg + cg, i] scatters
 * into y[n, g*Mg + mg, i*s - pb + kk*dil] with weight w[c, mg, kk] */
static void convt_in(cg_kernel *k, LLVMValueRef *iv, void *user) {
  convt_ctx *c = user;
  conv_ctx *v = &c->cv;
  cgl *L = k->L;
  LLVMValueRef n = iv[0], grp = iv[1];
  LLVMValueRef ch = cgk_add(k, cgk_muli(k, grp, v->Cg), iv[2]);
  LLVMValueRef start_off = cgl_i64(L, 0), xoff = cgl_i64(L, 0);
  for (int i = 0; i < v->g.nsp; i++) {
    LLVMValueRef start = cgk_addi(k, cgk_muli(k, iv[3 + i], v->g.stride[i]), -v->g.pad[i]);
    tap_range(k, start, v->g.kernel[i], v->g.dil[i], v->g.out[i], &v->lo[i], &v->hi[i]);
    start_off = cgk_add(k, start_off, cgk_muli(k, start, v->ys[i]));
    xoff = cgk_add(k, xoff, cgk_muli(k, iv[3 + i], v->xs[i]));
  }
  c->xv = cgl_load(L, v->et, k->in[0],
                   cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, n, v->C), ch), v->in_sz), xoff));
  cgl_loop lm;
  LLVMValueRef mg = cgl_loop_begin(L, &lm, cgl_i64(L, 0), cgl_i64(L, v->Mg), "mg");
  LLVMValueRef m = cgk_add(k, cgk_muli(k, grp, v->Mg), mg);
  c->ybase = cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, n, v->M), m), v->out_sz), start_off);
  c->wb = cgk_muli(k, cgk_add(k, cgk_muli(k, ch, v->Mg), mg), v->k_sz);
  cgk_box(k, v->g.nsp, v->lo, v->hi, convt_tap, c);
  cgl_loop_end(L, &lm);
}

static void convt_bias(cg_kernel *k, LLVMValueRef *off, void *user) {
  convt_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef y = cgl_load(L, c->cv.et, k->out[0], off[1]);
  cgl_store(L, e_add(k, y, cgl_load(L, c->cv.et, k->in[2], off[0])), k->out[0], off[1]);
}

int cg_emit_conv_transpose(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *w = k->in_t[1], *y = k->out_t[0];
  convt_ctx c;
  memset(&c, 0, sizeof c);
  conv_ctx *v = &c.cv;
  int rc = make_geom(k, x, y, w, &v->g);
  if (rc) return rc;
  int64_t group = ir_attr_int(k->n, "group");
  v->C = x->dims[1];
  v->Cg = v->C / group;
  v->Mg = w->dims[1];
  v->M = y->dims[1];
  v->et = cgl_dtype(k->L, x->dtype);
  v->in_sz = prod(v->g.in, 0, v->g.nsp);
  v->k_sz = prod(v->g.kernel, 0, v->g.nsp);
  v->out_sz = prod(v->g.out, 0, v->g.nsp);
  strides_of(v->g.in, v->g.nsp, v->xs);
  strides_of(v->g.kernel, v->g.nsp, v->ks);
  strides_of(v->g.out, v->g.nsp, v->ys);
  int64_t nb = ir_type_nbytes(y);
  if (nb == 0) return KILN_OK;
  cgl_memset(k->L, k->out[0], 0, cgl_i64(k->L, nb));
  int64_t box[3 + NN_MAX_SPATIAL] = {x->dims[0], group, v->Cg};
  for (int i = 0; i < v->g.nsp; i++) box[3 + i] = v->g.in[i];
  if (ir_type_numel(x) > 0) cgk_box_const(k, 3 + v->g.nsp, box, convt_in, &c);
  if (k->n_in > 2 && k->in[2]) {
    /* y [N, M, out_sz] += bias[m] */
    int64_t dims[3] = {y->dims[0], v->M, v->out_sz};
    cg_nest n;
    cg_nest_init(&n, 3, dims, 2);
    n.stride[0][1] = 1;
    cg_nest_contig(&n, 1);
    cg_nest_simplify(&n);
    cg_nest_emit(k, &n, convt_bias, &c);
  }
  return KILN_OK;
}

/* ---- max_pool, avg_pool, lp_pool --------------------------------------------------------- */

typedef struct {
  geom g;
  ir_op op;
  ir_dtype t;
  int isf, storage_order, count_include_pad;
  double p;
  int64_t in_sz, out_sz;
  int64_t xs[NN_MAX_SPATIAL], cs[NN_MAX_SPATIAL], ys[NN_MAX_SPATIAL];
  LLVMValueRef lo[NN_MAX_SPATIAL], hi[NN_MAX_SPATIAL], start[NN_MAX_SPATIAL], xb;
  LLVMValueRef best, have, arg, sum, m; /* variables */
  int pass;                             /* lp_pool: 0 the max, 1 the sum */
} pool_ctx;

/* The input position of tap kk along dim i, and its element offset. */
static LLVMValueRef tap_pos(cg_kernel *k, pool_ctx *c, LLVMValueRef *kk, int i) {
  return cgk_add(k, c->start[i], cgk_muli(k, kk[i], c->g.dil[i]));
}

static void pool_tap(cg_kernel *k, LLVMValueRef *kk, void *user) {
  pool_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef off = c->xb, sp_row = cgl_i64(L, 0), sp_col = cgl_i64(L, 0);
  for (int i = 0; i < c->g.nsp; i++) {
    LLVMValueRef p = tap_pos(k, c, kk, i);
    sp_row = cgk_add(k, sp_row, cgk_muli(k, p, c->xs[i]));
    sp_col = cgk_add(k, sp_col, cgk_muli(k, p, c->cs[i]));
  }
  off = cgk_add(k, off, sp_row);
  LLVMValueRef v = cgk_load(k, c->t, k->in[0], off);
  switch (c->op) {
  case IR_OP_MAX_POOL: {
    /* ops_nn.c's max_fold: NaN wins (the first), else the first maximum */
    LLVMValueRef b = cgk_get(k, c->best), take;
    LLVMValueRef first = LLVMBuildNot(BLD, cgk_get(k, c->have), "");
    if (c->isf) {
      LLVMValueRef gt =
          LLVMBuildOr(BLD, LLVMBuildFCmp(BLD, LLVMRealOGT, v, b, ""), isnan_(k, v), "");
      take = LLVMBuildOr(BLD, first, LLVMBuildAnd(BLD, LLVMBuildNot(BLD, isnan_(k, b), ""), gt, ""),
                         "");
    } else {
      v = cgk_to_i64(k, c->t, v);
      take = LLVMBuildOr(BLD, first, LLVMBuildICmp(BLD, LLVMIntSGT, v, b, ""), "");
    }
    cgk_set(k, c->best, sel(k, take, v, b));
    cgk_set(k, c->arg, sel(k, take, c->storage_order ? sp_col : sp_row, cgk_get(k, c->arg)));
    cgk_set(k, c->have, LLVMConstInt(L->t_i1, 1, 0));
    break;
  }
  case IR_OP_AVG_POOL:
    cgk_set(k, c->sum, LLVMBuildFAdd(BLD, cgk_get(k, c->sum), cgk_to_f64(k, c->t, v), ""));
    break;
  case IR_OP_LP_POOL: {
    LLVMValueRef a =
        cgl_intrinsic(L, "llvm.fabs", L->t_f64, (LLVMValueRef[]){cgk_to_f64(k, c->t, v)}, 1);
    if (c->pass == 0) {
      LLVMValueRef m = cgk_get(k, c->m);
      LLVMValueRef take =
          LLVMBuildOr(BLD, LLVMBuildFCmp(BLD, LLVMRealOGT, a, m, ""), isnan_(k, a), "");
      cgk_set(k, c->m, sel(k, take, a, m));
    } else {
      LLVMValueRef args[2] = {LLVMBuildFDiv(BLD, a, cgk_get(k, c->m), ""), f64c(k, c->p)};
      cgk_set(k, c->sum,
              LLVMBuildFAdd(BLD, cgk_get(k, c->sum), cgl_libm(L, "pow", L->t_f64, args, 2), ""));
    }
    break;
  }
  default: KILN_UNREACHABLE();
  }
}

/* (sum |v|^p)^(1/p) scaled by m = max |v| (ops_nn.c's lp_norm); m holds
 * the maximum, sum the scaled sum. */
static LLVMValueRef lp_finish(cg_kernel *k, LLVMValueRef m, LLVMValueRef s, double p) {
  cgl *L = k->L;
  LLVMValueRef args[2] = {s, f64c(k, 1.0 / p)};
  LLVMValueRef r = LLVMBuildFMul(BLD, m, cgl_libm(L, "pow", L->t_f64, args, 2), "");
  LLVMValueRef zero = LLVMBuildFCmp(BLD, LLVMRealOEQ, m, f64c(k, 0.0), "");
  LLVMValueRef inf = LLVMBuildFCmp(BLD, LLVMRealOEQ, m, f64c(k, INFINITY), "");
  return sel(k, LLVMBuildOr(BLD, zero, inf, ""), m, r);
}

/* iv: plane, out_0..out_{k-1} */
static void pool_out(cg_kernel *k, LLVMValueRef *iv, void *user) {
  pool_ctx *c = user;
  cgl *L = k->L;
  const geom *g = &c->g;
  LLVMValueRef yo = cgk_muli(k, iv[0], c->out_sz);
  LLVMValueRef valid = cgl_i64(L, 1), padded = f64c(k, 1.0);
  for (int i = 0; i < g->nsp; i++) {
    c->start[i] = cgk_addi(k, cgk_muli(k, iv[1 + i], g->stride[i]), -g->pad[i]);
    tap_range(k, c->start[i], g->kernel[i], g->dil[i], g->in[i], &c->lo[i], &c->hi[i]);
    yo = cgk_add(k, yo, cgk_muli(k, iv[1 + i], c->ys[i]));
    LLVMValueRef cnt = LLVMBuildSub(BLD, c->hi[i], c->lo[i], "");
    cnt = sel(k, LLVMBuildICmp(BLD, LLVMIntSGT, cnt, cgl_i64(L, 0), ""), cnt, cgl_i64(L, 0));
    valid = LLVMBuildMul(BLD, valid, cnt, "");
    if (c->op == IR_OP_AVG_POOL && c->count_include_pad) {
      /* taps inside [-pad_begin, in + pad_end): the divisor with padding */
      LLVMValueRef plo, phi;
      tap_range(k, cgk_addi(k, c->start[i], g->pad[i]), g->kernel[i], g->dil[i],
                g->in[i] + g->pad[i] + g->pad[g->nsp + i], &plo, &phi);
      LLVMValueRef pc = LLVMBuildSub(BLD, phi, plo, "");
      pc = sel(k, LLVMBuildICmp(BLD, LLVMIntSGT, pc, cgl_i64(L, 0), ""), pc, cgl_i64(L, 0));
      padded = LLVMBuildFMul(BLD, padded, LLVMBuildSIToFP(BLD, pc, L->t_f64, ""), "");
    }
  }
  c->xb = cgk_muli(k, iv[0], c->in_sz);
  switch (c->op) {
  case IR_OP_MAX_POOL: {
    cgk_set(k, c->have, LLVMConstInt(L->t_i1, 0, 0));
    cgk_set(k, c->arg, cgl_i64(L, 0));
    cgk_set(k, c->best, LLVMConstNull(LLVMGetAllocatedType(c->best)));
    cgk_box(k, g->nsp, c->lo, c->hi, pool_tap, c);
    LLVMValueRef b = cgk_get(k, c->best);
    cgk_store(k, c->t, c->isf ? b : cgk_from_i64(k, c->t, b), k->out[0], yo);
    if (k->n_out > 1) cgk_store(k, IR_I64, cgk_add(k, c->xb, cgk_get(k, c->arg)), k->out[1], yo);
    break;
  }
  case IR_OP_AVG_POOL: {
    cgk_set(k, c->sum, f64c(k, 0.0));
    cgk_box(k, g->nsp, c->lo, c->hi, pool_tap, c);
    LLVMValueRef cnt = c->count_include_pad ? padded : LLVMBuildSIToFP(BLD, valid, L->t_f64, "");
    cgk_store(k, c->t, cgk_from_fp(k, c->t, LLVMBuildFDiv(BLD, cgk_get(k, c->sum), cnt, "")),
              k->out[0], yo);
    break;
  }
  case IR_OP_LP_POOL: {
    cgk_set(k, c->m, f64c(k, 0.0));
    c->pass = 0;
    cgk_box(k, g->nsp, c->lo, c->hi, pool_tap, c);
    cgk_set(k, c->sum, f64c(k, 0.0));
    c->pass = 1;
    cgk_box(k, g->nsp, c->lo, c->hi, pool_tap, c);
    LLVMValueRef r = lp_finish(k, cgk_get(k, c->m), cgk_get(k, c->sum), c->p);
    cgk_store(k, c->t, cgk_from_fp(k, c->t, r), k->out[0], yo);
    break;
  }
  default: KILN_UNREACHABLE();
  }
}

/* ---- vectorised max_pool and avg_pool ---------------------------------------------------- */

/* Floats, max_pool without indices and avg_pool: vectors along the last
 * spatial dim, planes (n, c) split into tasks. Taps are visited in the
 * interpreter's order and avg_pool sums in f64, so the results are the
 * interpreter's bit for bit: max takes the first NaN or else the first
 * maximum, a lane's padding taps are skipped (or, count_include_pad,
 * counted). */
typedef struct {
  geom g;
  ir_op op;
  int cip, vl, nlanes;
  ir_dtype t;
  LLVMTypeRef et, vt, dvt;
  int64_t Isz, Osz, OW, planes, per_task;
  int64_t istr[NN_MAX_SPATIAL];
  LLVMValueRef xin, ib[NN_MAX_SPATIAL], ow0, lanes;
  LLVMValueRef best, have, sum, cnt, cntp; /* variables */
} pv_ctx;

static void pv_tap(cg_kernel *k, LLVMValueRef *r, void *user) {
  pv_ctx *c = user;
  cgl *L = k->L;
  const geom *g = &c->g;
  int nsp = g->nsp, last = nsp - 1;
  LLVMValueRef ok = LLVMConstInt(L->t_i1, 1, 0), okp = ok, off = cgl_i64(L, 0);
  for (int d = 0; d < last; d++) {
    LLVMValueRef pos = cgk_add(k, c->ib[d], cgk_muli(k, r[d], g->dil[d]));
    ok = LLVMBuildAnd(BLD, ok, LLVMBuildICmp(BLD, LLVMIntULT, pos, cgl_i64(L, g->in[d]), ""), "");
    LLVMValueRef pp = cgk_addi(k, pos, g->pad[d]);
    okp = LLVMBuildAnd(BLD, okp,
                       LLVMBuildICmp(BLD, LLVMIntULT, pp,
                                     cgl_i64(L, g->in[d] + g->pad[d] + g->pad[nsp + d]), ""),
                       "");
    off = cgk_add(k, off, cgk_muli(k, pos, c->istr[d]));
  }
  LLVMValueRef iw0 = cgk_add(k, cgk_addi(k, cgk_muli(k, c->ow0, g->stride[last]), -g->pad[last]),
                             cgk_muli(k, r[last], g->dil[last]));
  LLVMValueRef iw0_32 = LLVMBuildTrunc(BLD, iw0, L->t_i32, "");
  LLVMValueRef lane = LLVMBuildMul(BLD, dw_iota(k, c->vl),
                                   dw_splat(k, cgl_i32(L, (int32_t)g->stride[last]), c->vl), "");
  LLVMValueRef iw = LLVMBuildAdd(BLD, dw_splat(k, iw0_32, c->vl), lane, "");
  LLVMValueRef m = LLVMBuildICmp(BLD, LLVMIntULT, iw,
                                 dw_splat(k, cgl_i32(L, (int32_t)g->in[last]), c->vl), "");
  m = LLVMBuildAnd(BLD, LLVMBuildAnd(BLD, m, c->lanes, ""), dw_splat(k, ok, c->vl), "");
  LLVMValueRef zero = LLVMConstNull(c->vt), xv;
  LLVMValueRef at = cgk_add(k, off, iw0);
  if (g->stride[last] == 1) {
    LLVMValueRef ptr = LLVMBuildGEP2(BLD, c->et, c->xin, &at, 1, "");
    LLVMTypeRef tys[2] = {c->vt, L->t_ptr};
    LLVMValueRef args[4] = {ptr, cgl_i32(L, ir_dtype_size(c->t)), m, zero};
    xv = cgl_intrinsic_n(L, "llvm.masked.load", tys, 2, args, 4);
  } else if (g->stride[last] == 2) {
    LLVMValueRef hi = LLVMBuildSelect(BLD, ok, cgl_i32(L, c->nlanes), cgl_i32(L, 0), "");
    xv = cg_load_stride2(k, c->et, c->vl, LLVMBuildGEP2(BLD, c->et, c->xin, &at, 1, ""), iw0_32,
                         g->in[last], cgl_i32(L, 0), hi, zero);
  } else {
    LLVMValueRef idx =
        LLVMBuildAdd(BLD, dw_splat(k, LLVMBuildTrunc(BLD, at, L->t_i32, ""), c->vl), lane, "");
    LLVMValueRef ptrs = LLVMBuildGEP2(BLD, c->et, c->xin, &idx, 1, "");
    LLVMTypeRef tys[2] = {c->vt, LLVMTypeOf(ptrs)};
    LLVMValueRef args[4] = {ptrs, cgl_i32(L, ir_dtype_size(c->t)), m, zero};
    xv = cgl_intrinsic_n(L, "llvm.masked.gather", tys, 2, args, 4);
  }
  if (c->op == IR_OP_MAX_POOL) {
    /* take = m & (!have | ((v > b | isnan v) & !isnan b)) */
    LLVMValueRef b = cgk_get(k, c->best), have = cgk_get(k, c->have);
    LLVMValueRef gt = LLVMBuildOr(BLD, LLVMBuildFCmp(BLD, LLVMRealOGT, xv, b, ""),
                                  LLVMBuildFCmp(BLD, LLVMRealUNO, xv, xv, ""), "");
    gt = LLVMBuildAnd(BLD, gt, LLVMBuildFCmp(BLD, LLVMRealORD, b, b, ""), "");
    LLVMValueRef take = LLVMBuildAnd(BLD, m, LLVMBuildOr(BLD, LLVMBuildNot(BLD, have, ""), gt, ""),
                                     "");
    cgk_set(k, c->best, LLVMBuildSelect(BLD, take, xv, b, ""));
    cgk_set(k, c->have, LLVMBuildOr(BLD, have, m, ""));
  } else {
    LLVMValueRef dz = LLVMConstNull(c->dvt);
    LLVMValueRef one = dw_splat(k, cgl_real(L->t_f64, 1.0), c->vl);
    LLVMValueRef xd = c->t == IR_F64 ? xv : LLVMBuildFPExt(BLD, xv, c->dvt, "");
    cgk_set(k, c->sum, LLVMBuildFAdd(BLD, cgk_get(k, c->sum), LLVMBuildSelect(BLD, m, xd, dz, ""),
                                     ""));
    cgk_set(k, c->cnt, LLVMBuildFAdd(BLD, cgk_get(k, c->cnt), LLVMBuildSelect(BLD, m, one, dz, ""),
                                     ""));
    if (c->cip) {
      LLVMValueRef pp = LLVMBuildAdd(BLD, iw, dw_splat(k, cgl_i32(L, (int32_t)g->pad[last]), c->vl),
                                     "");
      LLVMValueRef pm = LLVMBuildICmp(
          BLD, LLVMIntULT, pp,
          dw_splat(k, cgl_i32(L, (int32_t)(g->in[last] + g->pad[last] + g->pad[nsp + last])),
                   c->vl),
          "");
      pm = LLVMBuildAnd(BLD, LLVMBuildAnd(BLD, pm, c->lanes, ""), dw_splat(k, okp, c->vl), "");
      cgk_set(k, c->cntp, LLVMBuildFAdd(BLD, cgk_get(k, c->cntp),
                                        LLVMBuildSelect(BLD, pm, one, dz, ""), ""));
    }
  }
}

static void pv_vector(cg_kernel *k, pv_ctx *c, LLVMValueRef yrow) {
  cgl *L = k->L;
  LLVMTypeRef mt = LLVMVectorType(L->t_i1, (unsigned)c->vl);
  if (c->op == IR_OP_MAX_POOL) {
    cgk_set(k, c->best, LLVMConstNull(c->vt));
    cgk_set(k, c->have, LLVMConstNull(mt));
  } else {
    cgk_set(k, c->sum, LLVMConstNull(c->dvt));
    cgk_set(k, c->cnt, LLVMConstNull(c->dvt));
    if (c->cip) cgk_set(k, c->cntp, LLVMConstNull(c->dvt));
  }
  cgk_box_const(k, c->g.nsp, c->g.kernel, pv_tap, c);
  LLVMValueRef v;
  if (c->op == IR_OP_MAX_POOL) {
    v = cgk_get(k, c->best);
  } else {
    v = LLVMBuildFDiv(BLD, cgk_get(k, c->sum), cgk_get(k, c->cip ? c->cntp : c->cnt), "");
    if (c->t != IR_F64) v = LLVMBuildFPTrunc(BLD, v, c->vt, "");
  }
  LLVMValueRef at = cgk_add(k, yrow, c->ow0);
  LLVMValueRef ptr = cgl_gep(L, c->et, k->out[0], at);
  if (c->nlanes == c->vl) {
    LLVMValueRef st = LLVMBuildStore(BLD, cgk_epilogue(k, v, at), ptr);
    LLVMSetAlignment(st, (unsigned)ir_dtype_size(c->t));
    return;
  }
  for (int l = 0; l < c->nlanes; l++) {
    LLVMValueRef e = LLVMBuildExtractElement(BLD, v, cgl_i32(L, l), "");
    cgl_store(L, cgk_epilogue(k, e, cgk_addi(k, at, l)), ptr, cgl_i64(L, l));
  }
}

static void pv_task(cg_kernel *k, LLVMValueRef t, void *user) {
  pv_ctx *c = user;
  cgl *L = k->L;
  const geom *g = &c->g;
  LLVMTypeRef mt = LLVMVectorType(L->t_i1, (unsigned)c->vl);
  if (c->op == IR_OP_MAX_POOL) {
    c->best = cgk_var(k, c->vt, NULL);
    c->have = cgk_var(k, mt, NULL);
  } else {
    c->sum = cgk_var(k, c->dvt, NULL);
    c->cnt = cgk_var(k, c->dvt, NULL);
    c->cntp = cgk_var(k, c->dvt, NULL);
  }
  LLVMValueRef lo, hi;
  task_planes(k, t, c->per_task, c->planes, &lo, &hi);
  cgl_loop lp, lr, lc;
  LLVMValueRef plane = cgl_loop_begin(L, &lp, lo, hi, "plane");
  c->xin = cgl_gep(L, c->et, k->in[0], cgk_muli(k, plane, c->Isz));
  LLVMValueRef ybase = cgk_muli(k, plane, c->Osz);
  LLVMValueRef row = cgl_loop_begin(L, &lr, cgl_i64(L, 0), cgl_i64(L, c->Osz / c->OW), "row");
  row_origin(k, g, row, c->ib);
  LLVMValueRef yrow = cgk_add(k, ybase, cgk_muli(k, row, c->OW));
  int64_t full = c->OW / c->vl, rem = c->OW % c->vl;
  if (full > 0) {
    LLVMValueRef ci = cgl_loop_begin(L, &lc, cgl_i64(L, 0), cgl_i64(L, full), "ow");
    c->ow0 = cgk_muli(k, ci, c->vl);
    c->lanes = LLVMConstAllOnes(mt);
    c->nlanes = c->vl;
    pv_vector(k, c, yrow);
    cgl_loop_end(L, &lc);
  }
  if (rem > 0) {
    c->ow0 = cgl_i64(L, full * c->vl);
    c->lanes = LLVMBuildICmp(BLD, LLVMIntSLT, dw_iota(k, c->vl),
                             dw_splat(k, cgl_i32(L, (int32_t)rem), c->vl), "");
    c->nlanes = (int)rem;
    pv_vector(k, c, yrow);
  }
  cgl_loop_end(L, &lr);
  cgl_loop_end(L, &lp);
}

/* Work per task of a vector pool (taps x outputs), as DW_TASK_MIN_FLOPS. */
#define POOL_TASK_MIN_WORK (1 << 15)

/* 0 when the vector kernel does not apply (integers, indices, lp_pool). */
static int pool_vec(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  ir_op op = k->n->op;
  if (!is_gemm_type(x->dtype) || (op != IR_OP_MAX_POOL && op != IR_OP_AVG_POOL)) return 0;
  if (k->n_out > 1 || ir_type_numel(y) == 0) return 0;
  pv_ctx c;
  memset(&c, 0, sizeof c);
  if (make_geom(k, x, y, NULL, &c.g)) return 0;
  cg_simd s;
  cg_simd_of(k->L, &s);
  c.op = op;
  c.t = x->dtype;
  c.cip = op == IR_OP_AVG_POOL && ir_attr_int(k->n, "count_include_pad") != 0;
  c.vl = s.bits / 8 / ir_dtype_size(x->dtype);
  c.et = cgl_dtype(k->L, x->dtype);
  c.vt = LLVMVectorType(c.et, (unsigned)c.vl);
  c.dvt = LLVMVectorType(k->L->t_f64, (unsigned)c.vl);
  c.Isz = prod(c.g.in, 0, c.g.nsp);
  c.Osz = prod(c.g.out, 0, c.g.nsp);
  c.OW = c.g.out[c.g.nsp - 1];
  strides_of(c.g.in, c.g.nsp, c.istr);
  c.planes = x->dims[0] * x->dims[1];
  double work = (double)c.planes * (double)c.Osz * (double)prod(c.g.kernel, 0, c.g.nsp);
  int64_t tasks = (int64_t)(work / POOL_TASK_MIN_WORK);
  if (tasks < 1) tasks = 1;
  if (tasks > 256) tasks = 256;
  if (tasks > c.planes) tasks = c.planes;
  c.per_task = (c.planes + tasks - 1) / tasks;
  tasks = (c.planes + c.per_task - 1) / c.per_task;
  cgk_parallel(k, tasks, pv_task, &c);
  return 1;
}

int cg_emit_pool(cg_kernel *k) {
  if (pool_vec(k)) return KILN_OK;
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  pool_ctx c;
  memset(&c, 0, sizeof c);
  int rc = make_geom(k, x, y, NULL, &c.g);
  if (rc) return rc;
  c.op = k->n->op;
  c.t = x->dtype;
  c.isf = ir_dtype_is_float(x->dtype);
  if (c.op == IR_OP_MAX_POOL) c.storage_order = ir_attr_int(k->n, "storage_order") != 0;
  if (c.op == IR_OP_AVG_POOL) c.count_include_pad = ir_attr_int(k->n, "count_include_pad") != 0;
  if (c.op == IR_OP_LP_POOL) c.p = (double)ir_attr_int(k->n, "p");
  c.in_sz = prod(c.g.in, 0, c.g.nsp);
  c.out_sz = prod(c.g.out, 0, c.g.nsp);
  strides_of(c.g.in, c.g.nsp, c.xs);
  strides_of(c.g.out, c.g.nsp, c.ys);
  for (int i = 0; i < c.g.nsp; i++)
    c.cs[i] = i == 0 ? 1 : c.cs[i - 1] * c.g.in[i - 1]; /* column-major */
  if (ir_type_numel(y) == 0) return KILN_OK;
  cgl *L = k->L;
  c.best = cgk_var(k, c.isf ? cgl_dtype(L, c.t) : L->t_i64, NULL);
  c.have = cgk_var(k, L->t_i1, NULL);
  c.arg = cgk_var(k, L->t_i64, NULL);
  c.sum = cgk_var(k, L->t_f64, NULL);
  c.m = cgk_var(k, L->t_f64, NULL);
  int64_t box[1 + NN_MAX_SPATIAL] = {x->dims[0] * x->dims[1]};
  for (int i = 0; i < c.g.nsp; i++) box[1 + i] = c.g.out[i];
  cgk_box_const(k, 1 + c.g.nsp, box, pool_out, &c);
  return KILN_OK;
}

/* ---- global pools ------------------------------------------------------------------------ */

typedef struct {
  ir_op op;
  ir_dtype t;
  int64_t sz;
  double p;
} gpool_ctx;

/* x [planes, sz] -> y [planes] */
static void gpool_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const gpool_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef base = cgk_muli(k, iv[0], c->sz), r;
  LLVMValueRef acc = cgk_var(k, L->t_f64, f64c(k, 0.0)), m = cgk_var(k, L->t_f64, f64c(k, 0.0));
  LLVMValueRef have = cgk_var(k, L->t_i1, LLVMConstInt(L->t_i1, 0, 0));
  cgl_loop lp;
  LLVMValueRef i = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->sz), "i");
  LLVMValueRef v = cgk_to_f64(k, c->t, cgk_load(k, c->t, k->in[0], cgk_add(k, base, i)));
  LLVMValueRef a = cgk_get(k, acc);
  if (c->op == IR_OP_GLOBAL_AVG_POOL) {
    cgk_set(k, acc, LLVMBuildFAdd(BLD, a, v, ""));
  } else if (c->op == IR_OP_GLOBAL_MAX_POOL) {
    LLVMValueRef gt = LLVMBuildOr(BLD, LLVMBuildFCmp(BLD, LLVMRealOGT, v, a, ""), isnan_(k, v), "");
    LLVMValueRef take =
        LLVMBuildOr(BLD, LLVMBuildNot(BLD, cgk_get(k, have), ""),
                    LLVMBuildAnd(BLD, LLVMBuildNot(BLD, isnan_(k, a), ""), gt, ""), "");
    cgk_set(k, acc, sel(k, take, v, a));
    cgk_set(k, have, LLVMConstInt(L->t_i1, 1, 0));
  } else {
    LLVMValueRef av = cgl_intrinsic(L, "llvm.fabs", L->t_f64, &v, 1), mv = cgk_get(k, m);
    LLVMValueRef take =
        LLVMBuildOr(BLD, LLVMBuildFCmp(BLD, LLVMRealOGT, av, mv, ""), isnan_(k, av), "");
    cgk_set(k, m, sel(k, take, av, mv));
  }
  cgl_loop_end(L, &lp);
  if (c->op == IR_OP_GLOBAL_AVG_POOL) {
    r = LLVMBuildFDiv(BLD, cgk_get(k, acc), f64c(k, (double)c->sz), "");
  } else if (c->op == IR_OP_GLOBAL_MAX_POOL) {
    r = cgk_get(k, acc);
  } else {
    LLVMValueRef mv = cgk_get(k, m);
    i = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, c->sz), "i");
    v = cgk_to_f64(k, c->t, cgk_load(k, c->t, k->in[0], cgk_add(k, base, i)));
    LLVMValueRef args[2] = {
        LLVMBuildFDiv(BLD, cgl_intrinsic(L, "llvm.fabs", L->t_f64, &v, 1), mv, ""), f64c(k, c->p)};
    cgk_set(k, acc, LLVMBuildFAdd(BLD, cgk_get(k, acc), cgl_libm(L, "pow", L->t_f64, args, 2), ""));
    cgl_loop_end(L, &lp);
    r = lp_finish(k, mv, cgk_get(k, acc), c->p);
  }
  cgk_store(k, c->t, cgk_from_fp(k, c->t, r), k->out[0], iv[0]);
}

int cg_emit_global_pool(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  gpool_ctx c = {k->n->op, x->dtype, prod(x->dims, 2, x->rank),
                 k->n->op == IR_OP_GLOBAL_LP_POOL ? (double)ir_attr_int(k->n, "p") : 0.0};
  int64_t box[1] = {x->dims[0] * x->dims[1]};
  if (box[0] == 0) return KILN_OK;
  cgk_box_const(k, 1, box, gpool_body, &c);
  return KILN_OK;
}

/* ---- lrn --------------------------------------------------------------------------------- */

typedef struct {
  ir_dtype t;
  int64_t C, sz, before, after;
  double alpha, beta, bias, size;
} lrn_ctx;

/* x, y [N, C, sz]: y = x / (bias + alpha/size * sum_{j near c} x[n, j, s]^2)^beta,
 * j in [c - before, c + after] clipped to [0, C) */
static void lrn_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const lrn_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef n = iv[0], ch = iv[1], s = iv[2];
  LLVMValueRef lo = LLVMBuildSub(BLD, ch, cgl_i64(L, c->before), "");
  lo = sel(k, LLVMBuildICmp(BLD, LLVMIntSLT, lo, cgl_i64(L, 0), ""), cgl_i64(L, 0), lo);
  LLVMValueRef hi = LLVMBuildAdd(BLD, ch, cgl_i64(L, c->after + 1), "");
  hi = sel(k, LLVMBuildICmp(BLD, LLVMIntSGT, hi, cgl_i64(L, c->C), ""), cgl_i64(L, c->C), hi);
  LLVMValueRef sq = cgk_var(k, L->t_f64, f64c(k, 0.0));
  cgl_loop lp;
  LLVMValueRef j = cgl_loop_begin(L, &lp, lo, hi, "j");
  LLVMValueRef v =
      cgk_to_f64(k, c->t,
                 cgk_load(k, c->t, k->in[0],
                          cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, n, c->C), j), c->sz), s)));
  cgk_set(k, sq, LLVMBuildFAdd(BLD, cgk_get(k, sq), LLVMBuildFMul(BLD, v, v, ""), ""));
  cgl_loop_end(L, &lp);
  LLVMValueRef at = cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, n, c->C), ch), c->sz), s);
  LLVMValueRef base =
      LLVMBuildFAdd(BLD, f64c(k, c->bias),
                    LLVMBuildFMul(BLD, f64c(k, c->alpha / c->size), cgk_get(k, sq), ""), "");
  LLVMValueRef args[2] = {base, f64c(k, c->beta)};
  LLVMValueRef y = LLVMBuildFDiv(BLD, cgk_to_f64(k, c->t, cgk_load(k, c->t, k->in[0], at)),
                                 cgl_libm(L, "pow", L->t_f64, args, 2), "");
  cgk_store(k, c->t, cgk_from_fp(k, c->t, y), k->out[0], at);
}

int cg_emit_lrn(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  int64_t size = ir_attr_int(k->n, "size");
  lrn_ctx c = {x->dtype,
               x->dims[1],
               prod(x->dims, 2, x->rank),
               (size - 1) / 2,
               size - 1 - (size - 1) / 2,
               ir_attr_float(k->n, "alpha"),
               ir_attr_float(k->n, "beta"),
               ir_attr_float(k->n, "bias"),
               (double)size};
  if (ir_type_numel(x) == 0) return KILN_OK;
  int64_t box[3] = {x->dims[0], c.C, c.sz};
  cgk_box_const(k, 3, box, lrn_body, &c);
  return KILN_OK;
}

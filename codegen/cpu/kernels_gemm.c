/* The GEMM core (gemm.h): planning and emission.
 *
 * A kernel is split into tasks (cgk_parallel), each one block of rows and
 * columns of one product of the batch. A task runs the BLIS loop nest
 * with the micro-panel of B innermost in the cache hierarchy:
 *
 *   for each K block [k0, k0 + kc):                 (C accumulates across)
 *     (the task's rows of A for the block, mb x kc, stay in L2: packed in
 *     the blob, or a dense A read in place, each row lda apart, which
 *     costs no packing and lets the micro-kernel address the rows with
 *     constant displacements)
 *     for each panel jp of nr columns:
 *       B packed: its panel in the blob; else pack it [kc x nr] (scratch;
 *         stays in L1): a dense copy or im2col
 *       for each panel ip of mr rows:
 *         micro-kernel: acc[mr][nv] = sum_k a[k][r] * b[k][:] (fmuladd);
 *         C = acc (first block) or C + acc; on the last block + bias, the
 *         epilogue, then the store
 *
 * Edges are static: only the last row panel (M % mr rows) and the last
 * column panel (N % nr columns, masked loads and stores) are partial, and
 * each gets its own copy of the micro-kernel. Results do not depend on the
 * split into tasks or on the threads: every output element is computed by
 * one task in a fixed order.
 *
 * Numerics: each product is accumulated in the element type with
 * llvm.fmuladd (one rounding per step where the target has FMA), in K
 * order within a block (the micro-kernels for few rows interleave 2-4
 * partial sums over k and add them at the end), blocks added in order;
 * the interpreter accumulates in double, so results differ by the usual
 * O(K) ulp of a float sum (docs/abi.md).
 */
#include <string.h>

#include "codegen/cpu/gemm.h"

#define BLD (k->L->b)

/* ---- target ------------------------------------------------------------------------------ */

static int has_feature(const char *features, const char *f) {
  size_t n = strlen(f);
  for (const char *p = features; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n + 1 && p[0] == '+' && !strncmp(p + 1, f, n)) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

static int has_prefix(const char *s, const char *const *list) {
  for (; *list; list++)
    if (!strncmp(s, *list, strlen(*list))) return 1;
  return 0;
}

void cg_simd_of(const cgl *L, cg_simd *s) {
  s->bits = 128;
  s->nregs = 16;
  const char *t = L->triple ? L->triple : "";
  if (!strncmp(t, "aarch64", 7) || !strncmp(t, "arm64", 5)) {
    s->nregs = 32;
    return;
  }
  if (strncmp(t, "x86_64", 6) != 0 && strncmp(t, "i386", 4) != 0 && strncmp(t, "i686", 4) != 0)
    return;
  const char *f = L->features ? L->features : "";
  const char *cpu = L->cpu ? L->cpu : "";
  static const char *const avx512[] = {"skylake-avx512", "cascadelake", "cooperlake", "cannonlake",
                                       "icelake", "tigerlake", "rocketlake", "sapphirerapids",
                                       "emeraldrapids", "graniterapids", "znver4", "znver5",
                                       "x86-64-v4", "knl", "knm", NULL};
  static const char *const avx2[] = {"haswell", "broadwell", "skylake", "kabylake", "coffeelake",
                                     "cometlake", "alderlake", "raptorlake", "meteorlake",
                                     "arrowlake", "lunarlake", "gracemont", "znver1", "znver2",
                                     "znver3", "x86-64-v3", "bdver4", NULL};
  int f512 = has_feature(f, "avx512f"), f256 = has_feature(f, "avx2") || has_feature(f, "avx");
  int no512 = strstr(f, "-avx512f") != NULL, no256 = strstr(f, "-avx2") != NULL;
  if (f512 || (!no512 && has_prefix(cpu, avx512))) {
    s->bits = 512;
    s->nregs = 32;
  } else if (f256 || (!no256 && (has_prefix(cpu, avx2) || has_prefix(cpu, avx512)))) {
    s->bits = 256;
  }
}

/* ---- plan -------------------------------------------------------------------------------- */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

void cg_gemm_plan_make(const cgl *L, ir_dtype t, int64_t M, int64_t N, int64_t K, int64_t k_unit,
                       cg_gemm_plan *p) {
  cg_simd s;
  cg_simd_of(L, &s);
  memset(p, 0, sizeof *p);
  p->t = t;
  p->esz = t == IR_F64 ? 8 : 4;
  p->vl = s.bits / 8 / p->esz;
  if (s.nregs >= 32 && s.bits >= 256) {
    p->mr = 14; /* 28 accumulators, 2 loads of B and 14 broadcasts per step */
    p->nv = 2;
  } else if (s.nregs >= 32) {
    p->mr = 8; /* AArch64: 24 accumulators */
    p->nv = 3;
  } else {
    p->mr = 6; /* 16 registers: 12 accumulators */
    p->nv = 2;
  }
  /* narrow products: no wider than N (less padding in packed B) */
  if (p->nv > cdiv(N, p->vl)) p->nv = (int)imax(1, cdiv(N, p->vl));
  p->nr = p->nv * p->vl;
  p->M = M;
  p->N = N;
  p->K = K;
  /* K blocks: a B panel (kc x nr) about 32 KiB, to stay in L1 */
  int64_t target = imax(64, imin(512, 32768 / (p->nr * p->esz)));
  if (k_unit < 1) k_unit = 1;
  int64_t units = K / k_unit;
  int64_t per = imax(1, target / k_unit);
  if (units <= per + per / 4) {
    p->nkb = 1;
    p->kc = K;
  } else {
    p->nkb = cdiv(units, per);
    p->kc = cdiv(units, p->nkb) * k_unit;
    p->nkb = cdiv(K, p->kc);
  }
  if (K == 0) {
    p->nkb = 0;
    p->kc = 0;
  }
  p->mp = cdiv(M, p->mr);
  p->np = cdiv(N, p->nr);
  p->mpad = p->mp * p->mr;
  p->npad = p->np * p->nr;
}

int64_t cg_gemm_packed_a_elems(const cg_gemm_plan *p) { return p->mpad * p->K; }
int64_t cg_gemm_packed_b_elems(const cg_gemm_plan *p) { return p->npad * p->K; }

/* Work per task (flops) worth a dispatch, and the most tasks a kernel gets. */
#define TASK_MIN_FLOPS (1 << 20)
#define TASK_MAX 64
/* Splitting M repacks B's panels once per row block: blocks have at least
 * this many rows (more for im2col with gathers, the costly packing). */
#define REPACK_MIN 96
#define REPACK_MIN_GATHER 256
/* Largest B packed once and shared by a kernel's tasks (bytes). */
#define SHARED_B_MAX (8 << 20)
#define SHARED_MIN_PANELS 4
/* Fewer row blocks than this: the shared-B tasks split the columns too. */
#define SHARED_MIN_TASKS 8

/* Tasks: batch entries x row blocks x column blocks. A dense A is read in
 * place (no packing), so splitting N costs nothing; splitting M makes
 * every row block pack B's panels again (when B is not pre-packed), so N
 * is split first and M only into blocks of REPACK_MIN rows or more.
 * Exception: a single product with few columns and many rows (a conv on
 * a small image) packs B once, in a first parallel phase, into the calling
 * thread's scratch; the tasks of the second phase split M and share it,
 * so the large A is read once. */
int64_t cg_gemm_split(cg_gemm *g) {
  const cg_gemm_plan *p = &g->p;
  double flops = 2.0 * (double)g->batch * (double)p->M * (double)p->N * (double)p->K;
  int64_t want = (int64_t)(flops / TASK_MIN_FLOPS);
  want = imax(1, imin(want, TASK_MAX));
  int64_t per_batch = cdiv(want, g->batch);
  int64_t mmax = p->mp;
  if (g->b_kind != CG_OPND_PACKED) {
    int gathers = g->b_kind == CG_OPND_IM2COL && cg_im2col_gathers(&g->im, p);
    mmax = imax(1, p->M / (gathers ? REPACK_MIN_GATHER : REPACK_MIN));
  }
  mmax = imin(mmax, p->mp);
  /* B packed once into the caller's scratch and shared by all tasks,
   * which then split M: for a single product whose A is larger than its
   * packed B (deep layers with small images) */
  int64_t shared = p->K * p->npad * p->esz;
  g->shared_b = g->batch == 1 && g->b_kind != CG_OPND_PACKED && p->M > p->npad &&
                shared <= SHARED_B_MAX;
  if (g->shared_b) {
    /* a task's rows reuse each B panel from L1: 4 row panels at least */
    g->mb = cdiv(p->mp, imax(1, imin(want, p->mp / SHARED_MIN_PANELS))) * p->mr;
    /* few row blocks (few rows): split the columns too, so that the
     * threads get several tasks each (A is then read once per column
     * block, so not when there are row blocks enough) */
    int64_t nmb = cdiv(p->M, g->mb);
    g->nb = p->npad;
    if (nmb < SHARED_MIN_TASKS)
      g->nb = cdiv(p->np, imax(1, imin(p->np, cdiv(imin(want, SHARED_MIN_TASKS), nmb)))) * p->nr;
    return shared;
  }
  int64_t nblk = imax(1, imin(per_batch, p->np));
  int64_t mblk = imax(1, imin(cdiv(per_batch, nblk), mmax));
  g->mb = cdiv(p->mp, mblk) * p->mr;
  g->nb = cdiv(p->np, nblk) * p->nr;
  return g->b_kind != CG_OPND_PACKED ? p->kc * p->nr * p->esz : 0;
}

/* ---- emission helpers -------------------------------------------------------------------- */

typedef struct {
  cg_kernel *k;
  const cg_gemm *g;
  const cg_gemm_plan *p;
  LLVMTypeRef et, vt; /* element and vector types */
  /* per task */
  LLVMValueRef a, b, c, bias; /* operand bases (element pointers) */
  LLVMValueRef c_off;         /* C's element offset in output 0 (i64) */
  LLVMValueRef bpk;           /* scratch: the packed B panel */
  LLVMValueRef m_lo, m_hi, n_lo, n_hi;
  LLVMValueRef k0, kcur, first, last;
} gctx;

static LLVMValueRef ci(cg_kernel *k, int64_t v) { return cgl_i64(k->L, v); }
static LLVMValueRef add(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) { return cgk_add(k, a, b); }
static LLVMValueRef mul(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) { return cgk_mul(k, a, b); }
static LLVMValueRef smin(cg_kernel *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(BLD, LLVMBuildICmp(BLD, LLVMIntSLT, a, b, ""), a, b, "");
}
static LLVMValueRef gep(gctx *c, LLVMValueRef base, LLVMValueRef idx) {
  return cgl_gep(c->k->L, c->et, base, idx);
}
/* base + idx elements without inbounds (the address may lie outside the
 * buffer when only masked lanes would reach it). */
static LLVMValueRef gep_any(gctx *c, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildGEP2(c->k->L->b, c->et, base, &idx, 1, "");
}

static LLVMValueRef vload(gctx *c, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(c->k->L->b, c->vt, ptr, "");
  LLVMSetAlignment(v, (unsigned)c->p->esz);
  return v;
}
static void vstore(gctx *c, LLVMValueRef v, LLVMValueRef ptr) {
  LLVMValueRef s = LLVMBuildStore(c->k->L->b, v, ptr);
  LLVMSetAlignment(s, (unsigned)c->p->esz);
}

/* <vl x i1>: lanes [0, n) set */
static LLVMValueRef const_mask(gctx *c, int n) {
  LLVMValueRef e[64];
  for (int i = 0; i < c->p->vl; i++) e[i] = LLVMConstInt(c->k->L->t_i1, i < n, 0);
  return LLVMConstVector(e, (unsigned)c->p->vl);
}

static LLVMValueRef masked_load(gctx *c, LLVMValueRef ptr, LLVMValueRef mask, LLVMValueRef pass) {
  cgl *L = c->k->L;
  LLVMTypeRef tys[2] = {c->vt, L->t_ptr};
  LLVMValueRef args[4] = {ptr, cgl_i32(L, c->p->esz), mask, pass};
  return cgl_intrinsic_n(L, "llvm.masked.load", tys, 2, args, 4);
}

static void masked_store(gctx *c, LLVMValueRef v, LLVMValueRef ptr, LLVMValueRef mask) {
  cgl *L = c->k->L;
  LLVMTypeRef tys[2] = {c->vt, L->t_ptr};
  LLVMValueRef args[4] = {v, ptr, cgl_i32(L, c->p->esz), mask};
  cgl_intrinsic_n(L, "llvm.masked.store", tys, 2, args, 4);
}

static LLVMValueRef splat(cg_kernel *k, LLVMValueRef x, int n) {
  LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(x), (unsigned)n);
  LLVMValueRef v = LLVMBuildInsertElement(BLD, LLVMGetPoison(vt), x, cgl_i32(k->L, 0), "");
  LLVMValueRef zero = LLVMConstNull(LLVMVectorType(k->L->t_i32, (unsigned)n));
  return LLVMBuildShuffleVector(BLD, v, LLVMGetPoison(vt), zero, "");
}

static LLVMValueRef fma_(gctx *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc) {
  LLVMValueRef args[3] = {a, b, acc};
  return cgl_intrinsic(c->k->L, "llvm.fmuladd", LLVMTypeOf(acc), args, 3);
}

/* ---- the micro-kernel -------------------------------------------------------------------- */

#define MAX_ACC 64

/* Stores one accumulator vector (lanes valid) of row `row` at column n. */
static void store_vec(gctx *c, LLVMValueRef x, LLVMValueRef row, LLVMValueRef n, int lanes,
                      int first, int last) {
  cg_kernel *k = c->k;
  const cg_gemm_plan *p = c->p;
  LLVMValueRef at = add(k, mul(k, row, ci(k, c->g->ldc)), n);
  LLVMValueRef ptr = gep(c, c->c, at);
  LLVMValueRef mask = lanes < p->vl ? const_mask(c, lanes) : NULL;
  if (!first) {
    LLVMValueRef old = mask ? masked_load(c, ptr, mask, LLVMConstNull(c->vt)) : vload(c, ptr);
    x = LLVMBuildFAdd(BLD, x, old, "");
  }
  if (last && c->bias) {
    LLVMValueRef bv = cgl_load(k->L, c->et, c->bias, row);
    x = LLVMBuildFAdd(BLD, x, splat(k, bv, p->vl), "");
  }
  if (last && k->epilogue) {
    LLVMValueRef idx = add(k, c->c_off, at);
    if (!mask) {
      vstore(c, cgk_epilogue(k, x, idx), ptr);
    } else {
      for (int l = 0; l < lanes; l++) {
        LLVMValueRef e = LLVMBuildExtractElement(BLD, x, cgl_i32(k->L, l), "");
        e = cgk_epilogue(k, e, add(k, idx, ci(k, l)));
        LLVMBuildStore(BLD, e, gep(c, ptr, ci(k, l)));
      }
    }
    return;
  }
  if (mask)
    masked_store(c, x, ptr, mask);
  else
    vstore(c, x, ptr);
}

static void store_tile(gctx *c, LLVMValueRef *sum, LLVMValueRef m0, LLVMValueRef n0, int mr_eff,
                       int nv, int nvalid, int first, int last) {
  cg_kernel *k = c->k;
  const cg_gemm_plan *p = c->p;
  for (int r = 0; r < mr_eff; r++)
    for (int v = 0; v < nv; v++) {
      int lanes = (int)imin(p->vl, nvalid - v * p->vl);
      store_vec(c, sum[r * nv + v], add(k, m0, ci(k, r)), add(k, n0, ci(k, v * p->vl)), lanes,
                first, last);
    }
}

/* C[m0 .. m0+mr_eff, n0 .. n0+nvalid] (+)= A panel * B panel over kcur. */
static void ukernel(gctx *c, LLVMValueRef ap, LLVMValueRef bp, LLVMValueRef m0, LLVMValueRef n0,
                    int mr_eff, int nvalid) {
  cg_kernel *k = c->k;
  cgl *L = k->L;
  const cg_gemm_plan *p = c->p;
  int nv = (int)cdiv(nvalid, p->vl);
  /* A: packed (k steps mr apart) or in place (rows lda apart) */
  int64_t a_ks = c->g->a_kind == CG_OPND_PACKED ? p->mr : 1;
  int64_t a_rs = c->g->a_kind == CG_OPND_PACKED ? 1 : c->g->lda;
  int chains = 1;
  if (mr_eff * nv < 8) chains = (int)imin(4, cdiv(8, mr_eff * nv));
  KILN_ASSERT(chains * mr_eff * nv <= MAX_ACC);
  LLVMValueRef acc[MAX_ACC];
  for (int i = 0; i < chains * mr_eff * nv; i++) acc[i] = cgk_var(k, c->vt, LLVMConstNull(c->vt));
#define ACC(u, r, v) acc[((u) * mr_eff + (r)) * nv + (v)]
  /* one step at kk into chain u */
  for (int part = 0; part < 2; part++) {
    int steps = part == 0 ? chains : 1;
    if (part == 1 && chains == 1) break;
    LLVMValueRef lo, hi;
    if (part == 0) {
      lo = ci(k, 0);
      hi = LLVMBuildSDiv(BLD, c->kcur, ci(k, chains), "");
    } else {
      lo = mul(k, LLVMBuildSDiv(BLD, c->kcur, ci(k, chains), ""), ci(k, chains));
      hi = c->kcur;
    }
    cgl_loop lp;
    LLVMValueRef q = cgl_loop_begin(L, &lp, lo, hi, "kk");
    for (int u = 0; u < steps; u++) {
      LLVMValueRef kk = part == 0 ? add(k, mul(k, q, ci(k, chains)), ci(k, u)) : q;
      LLVMValueRef brow = gep(c, bp, mul(k, kk, ci(k, p->nr)));
      LLVMValueRef arow = gep(c, ap, mul(k, kk, ci(k, a_ks)));
      LLVMValueRef bv[8];
      for (int v = 0; v < nv; v++) bv[v] = vload(c, gep(c, brow, ci(k, v * p->vl)));
      for (int r = 0; r < mr_eff; r++) {
        LLVMValueRef av = splat(k, cgl_load(L, c->et, arow, ci(k, r * a_rs)), p->vl);
        for (int v = 0; v < nv; v++) {
          LLVMValueRef a = ACC(u, r, v);
          cgk_set(k, a, fma_(c, av, bv[v], cgk_get(k, a)));
        }
      }
    }
    cgl_loop_end(L, &lp);
  }
  /* sum the chains, store */
  LLVMValueRef sum[MAX_ACC];
  for (int r = 0; r < mr_eff; r++)
    for (int v = 0; v < nv; v++) {
      LLVMValueRef s = cgk_get(k, ACC(0, r, v));
      for (int u = 1; u < chains; u++) s = LLVMBuildFAdd(BLD, s, cgk_get(k, ACC(u, r, v)), "");
      sum[r * nv + v] = s;
    }
#undef ACC
  /* one K block: first and last; else branch on the block */
  if (p->nkb == 1) {
    store_tile(c, sum, m0, n0, mr_eff, nv, nvalid, 1, 1);
  } else {
    cgl_if f, l;
    cgl_if_begin(L, &f, c->first);
    store_tile(c, sum, m0, n0, mr_eff, nv, nvalid, 1, 0);
    cgl_else(L, &f);
    cgl_if_begin(L, &l, c->last);
    store_tile(c, sum, m0, n0, mr_eff, nv, nvalid, 0, 1);
    cgl_else(L, &l);
    store_tile(c, sum, m0, n0, mr_eff, nv, nvalid, 0, 0);
    cgl_if_end(L, &l);
    cgl_if_end(L, &f);
  }
}

/* ---- packing at run time ----------------------------------------------------------------- */

/* B panel jp of a dense B (rows ldb apart) into bpk. */
static void pack_b_dense(gctx *c, LLVMValueRef jp, int nvalid) {
  cg_kernel *k = c->k;
  cgl *L = k->L;
  const cg_gemm_plan *p = c->p;
  int nv = (int)cdiv(nvalid, p->vl);
  LLVMValueRef src0 = gep(c, c->b, add(k, mul(k, c->k0, ci(k, c->g->ldb)), mul(k, jp, ci(k, p->nr))));
  cgl_loop lk;
  LLVMValueRef kk = cgl_loop_begin(L, &lk, ci(k, 0), c->kcur, "bk");
  LLVMValueRef src = gep(c, src0, mul(k, kk, ci(k, c->g->ldb)));
  LLVMValueRef dst = gep(c, c->bpk, mul(k, kk, ci(k, p->nr)));
  for (int v = 0; v < nv; v++) {
    int lanes = (int)imin(p->vl, nvalid - v * p->vl);
    LLVMValueRef s = gep(c, src, ci(k, v * p->vl));
    LLVMValueRef x = lanes < p->vl ? masked_load(c, s, const_mask(c, lanes), LLVMConstNull(c->vt))
                                   : vload(c, s);
    vstore(c, x, gep(c, dst, ci(k, v * p->vl)));
  }
  cgl_loop_end(L, &lk);
}

/* im2col: B[k][j] = x[c, o_j * stride - pad + tap_k * dil] (0 outside x)
 * with k = (c, taps) and j the output position. Two ways to fill a panel:
 *   segments  the panel's nr positions fall into a few runs along the
 *             last output dim; within a run the positions of one tap are
 *             consecutive in x (stride 1: one masked vector load) or
 *             stride apart (a gather);
 *   lanes     for small last dims (many runs): every lane's position is
 *             computed once per panel, each tap is a gather. */
#define MAX_SEG 4
#define MAX_NV 8

typedef struct {
  gctx *c;
  int nseg, nv, lanes; /* lanes: the per-lane mode */
  int seg;             /* segments: the one being packed */
  LLVMValueRef chan;   /* x of channel c */
  LLVMValueRef kk0;    /* row of tap 0 of channel c in the panel */
  int64_t istr[IR_MAX_RANK];
  /* segments */
  LLVMValueRef l0[MAX_SEG], l1[MAX_SEG];   /* i64: first lane, end */
  LLVMValueRef ib[MAX_SEG][IR_MAX_RANK];   /* i64: o_d * stride - pad, outer dims */
  LLVMValueRef iwb[MAX_SEG];               /* i64: last dim's input position at lane l0 */
  LLVMValueRef lmask[MAX_SEG][MAX_NV];     /* lanes of the segment, per vector */
  LLVMValueRef liw[MAX_SEG][MAX_NV];       /* i32 vectors: input position per lane */
  /* lanes */
  LLVMValueRef vib[IR_MAX_RANK][MAX_NV]; /* i32 vectors: o_d * stride - pad per lane */
  LLVMValueRef vmask[MAX_NV];            /* lanes < nvalid */
} im2col_ctx;

static LLVMValueRef iota(gctx *c, int base) {
  LLVMValueRef e[64];
  for (int i = 0; i < c->p->vl; i++) e[i] = cgl_i32(c->k->L, base + i);
  return LLVMConstVector(e, (unsigned)c->p->vl);
}

static LLVMValueRef splat32(gctx *c, int64_t v) {
  return splat(c->k, cgl_i32(c->k->L, (int32_t)v), c->p->vl);
}

static LLVMValueRef gather(gctx *c, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef mask,
                           LLVMValueRef pass) {
  cgl *L = c->k->L;
  LLVMValueRef ptrs = LLVMBuildGEP2(L->b, c->et, base, &idx, 1, "");
  LLVMTypeRef tys[2] = {c->vt, LLVMTypeOf(ptrs)};
  LLVMValueRef args[4] = {ptrs, cgl_i32(L, c->p->esz), mask, pass};
  return cgl_intrinsic_n(L, "llvm.masked.gather", tys, 2, args, 4);
}

/* shufflevector mask: lanes first, first + step, ... (n of them) */
static LLVMValueRef shuf_mask(cgl *L, int n, int first, int step, int dup) {
  LLVMValueRef e[128];
  for (int i = 0; i < n; i++) e[i] = cgl_i32(L, dup ? first + i / 2 : first + i * step);
  return LLVMConstVector(e, (unsigned)n);
}


LLVMValueRef cg_load_stride2(cg_kernel *k, LLVMTypeRef et, int vl, LLVMValueRef base,
                             LLVMValueRef pos0, int64_t lim, LLVMValueRef lo, LLVMValueRef hi,
                             LLVMValueRef pass) {
  cgl *L = k->L;
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)vl);
  LLVMValueRef pos = splat(k, pos0, vl), limv = splat(k, cgl_i32(L, (int32_t)lim), vl);
  LLVMValueRef lo2 = splat(k, LLVMBuildShl(BLD, lo, cgl_i32(L, 1), ""), vl);
  LLVMValueRef hi2 = splat(k, LLVMBuildShl(BLD, hi, cgl_i32(L, 1), ""), vl);
  LLVMValueRef src[2];
  for (int h = 0; h < 2; h++) {
    /* source element e = h*vl + i: output lane e / 2, position pos0 + e */
    LLVMValueRef e[64];
    for (int i = 0; i < vl; i++) e[i] = cgl_i32(L, h * vl + i);
    LLVMValueRef ev = LLVMConstVector(e, (unsigned)vl);
    LLVMValueRef m = LLVMBuildICmp(BLD, LLVMIntULT, LLVMBuildAdd(BLD, pos, ev, ""), limv, "");
    m = LLVMBuildAnd(BLD, m, LLVMBuildICmp(BLD, LLVMIntSGE, ev, lo2, ""), "");
    m = LLVMBuildAnd(BLD, m, LLVMBuildICmp(BLD, LLVMIntSLT, ev, hi2, ""), "");
    LLVMValueRef off = cgl_i64(L, h * vl);
    LLVMValueRef ptr = LLVMBuildGEP2(BLD, et, base, &off, 1, "");
    LLVMTypeRef tys[2] = {vt, L->t_ptr};
    LLVMValueRef args[4] = {ptr, cgl_i32(L, (int32_t)(LLVMABISizeOfType(L->td, et))), m,
                            LLVMConstNull(vt)};
    src[h] = cgl_intrinsic_n(L, "llvm.masked.load", tys, 2, args, 4);
  }
  LLVMValueRef v = LLVMBuildShuffleVector(BLD, src[0], src[1], shuf_mask(L, vl, 0, 2, 0), "");
  /* output lane i: lo <= i < hi and pos0 + 2 i in range */
  LLVMValueRef io[64], io2[64];
  for (int i = 0; i < vl; i++) {
    io[i] = cgl_i32(L, i);
    io2[i] = cgl_i32(L, 2 * i);
  }
  LLVMValueRef iov = LLVMConstVector(io, (unsigned)vl);
  LLVMValueRef m = LLVMBuildICmp(
      BLD, LLVMIntULT, LLVMBuildAdd(BLD, pos, LLVMConstVector(io2, (unsigned)vl), ""), limv, "");
  m = LLVMBuildAnd(BLD, m, LLVMBuildICmp(BLD, LLVMIntSGE, iov, splat(k, lo, vl), ""), "");
  m = LLVMBuildAnd(BLD, m, LLVMBuildICmp(BLD, LLVMIntSLT, iov, splat(k, hi, vl), ""), "");
  return LLVMBuildSelect(BLD, m, v, pass, "");
}

static void im2col_tap(cg_kernel *k, LLVMValueRef *r, void *user) {
  im2col_ctx *x = user;
  gctx *c = x->c;
  cgl *L = k->L;
  const cg_im2col *im = &c->g->im;
  const cg_gemm_plan *p = c->p;
  int nsp = im->nsp, last = nsp - 1;
  LLVMValueRef tap = ci(k, 0);
  for (int d = 0; d < nsp; d++) tap = add(k, mul(k, tap, ci(k, im->kernel[d])), r[d]);
  LLVMValueRef kk = add(k, x->kk0, tap);
  LLVMValueRef cur[MAX_NV];
  for (int v = 0; v < x->nv; v++) cur[v] = LLVMConstNull(c->vt);
  if (x->lanes) {
    LLVMValueRef rd[IR_MAX_RANK];
    for (int d = 0; d < nsp; d++)
      rd[d] = splat(k, LLVMBuildTrunc(BLD, mul(k, r[d], ci(k, im->dil[d])), L->t_i32, ""), p->vl);
    for (int v = 0; v < x->nv; v++) {
      LLVMValueRef m = x->vmask[v], off = NULL;
      for (int d = 0; d < nsp; d++) {
        LLVMValueRef pos = LLVMBuildAdd(BLD, x->vib[d][v], rd[d], "");
        m = LLVMBuildAnd(BLD, m, LLVMBuildICmp(BLD, LLVMIntULT, pos, splat32(c, im->in[d]), ""), "");
        LLVMValueRef t = LLVMBuildMul(BLD, pos, splat32(c, x->istr[d]), "");
        off = off ? LLVMBuildAdd(BLD, off, t, "") : t;
      }
      cur[v] = gather(c, x->chan, off, m, cur[v]);
    }
  } else {
    LLVMValueRef rl = mul(k, r[last], ci(k, im->dil[last]));
    LLVMValueRef rl32 = splat(k, LLVMBuildTrunc(BLD, rl, L->t_i32, ""), p->vl);
    LLVMValueRef lim = splat32(c, im->in[last]);
    {
      int sg = x->seg;
      LLVMValueRef ok = LLVMConstInt(L->t_i1, 1, 0), off = ci(k, 0);
      for (int d = 0; d < last; d++) {
        LLVMValueRef pos = add(k, x->ib[sg][d], mul(k, r[d], ci(k, im->dil[d])));
        ok = LLVMBuildAnd(BLD, ok, LLVMBuildICmp(BLD, LLVMIntULT, pos, ci(k, im->in[d]), ""), "");
        off = add(k, off, mul(k, pos, ci(k, x->istr[d])));
      }
      off = add(k, off, add(k, x->iwb[sg], rl)); /* lane l0's element */
      LLVMValueRef okv = splat(k, ok, p->vl);
      for (int v = 0; v < x->nv; v++) {
        LLVMValueRef iw = LLVMBuildAdd(BLD, x->liw[sg][v], rl32, "");
        LLVMValueRef in = LLVMBuildICmp(BLD, LLVMIntULT, iw, lim, "");
        LLVMValueRef m = LLVMBuildAnd(BLD, LLVMBuildAnd(BLD, x->lmask[sg][v], in, ""), okv, "");
        if (im->stride[last] == 1) {
          /* lane l reads x[off + l - l0] */
          LLVMValueRef base = add(k, LLVMBuildSub(BLD, off, x->l0[sg], ""), ci(k, v * p->vl));
          cur[v] = masked_load(c, gep_any(c, x->chan, base), m, cur[v]);
        } else if (im->stride[last] == 2) {
          /* lane l reads x[off + 2 (l - l0)]: two loads and the even lanes */
          LLVMValueRef rel = LLVMBuildSub(BLD, ci(k, v * p->vl), x->l0[sg], "");
          LLVMValueRef base = add(k, off, mul(k, rel, ci(k, 2)));
          LLVMValueRef pos0 = add(k, add(k, x->iwb[sg], rl), mul(k, rel, ci(k, 2)));
          /* the segment's lanes in this vector, none when outside x */
          LLVMValueRef lo = LLVMBuildTrunc(BLD, LLVMBuildSub(BLD, x->l0[sg], ci(k, v * p->vl), ""),
                                           L->t_i32, "");
          LLVMValueRef hi = LLVMBuildTrunc(
              BLD, LLVMBuildSub(BLD, x->l1[sg], ci(k, v * p->vl), ""), L->t_i32, "");
          hi = LLVMBuildSelect(BLD, ok, hi, lo, "");
          cur[v] = cg_load_stride2(k, c->et, p->vl, gep_any(c, x->chan, base),
                                   LLVMBuildTrunc(BLD, pos0, L->t_i32, ""), im->in[last], lo, hi,
                                   cur[v]);
        } else {
          /* lane l reads x[off + (l - l0) * stride]: x[off - l0*stride + l*stride] */
          LLVMValueRef lane = LLVMBuildSub(
              BLD, iota(c, v * p->vl),
              splat(k, LLVMBuildTrunc(BLD, x->l0[sg], L->t_i32, ""), p->vl), "");
          LLVMValueRef idx =
              LLVMBuildAdd(BLD, LLVMBuildMul(BLD, lane, splat32(c, im->stride[last]), ""),
                           splat(k, LLVMBuildTrunc(BLD, off, L->t_i32, ""), p->vl), "");
          cur[v] = gather(c, x->chan, idx, m, cur[v]);
        }
      }
    }
  }
  LLVMValueRef dst = gep(c, c->bpk, mul(k, kk, ci(k, p->nr)));
  for (int v = 0; v < x->nv; v++) {
    if (x->lanes)
      vstore(c, cur[v], gep(c, dst, ci(k, v * p->vl)));
    else /* the segment's lanes (zero where the taps fall outside x) */
      masked_store(c, cur[v], gep(c, dst, ci(k, v * p->vl)), x->lmask[x->seg][v]);
  }
}

/* Segments of a panel of nvalid positions (their most). */
static int64_t im2col_segments(const cg_im2col *im, int64_t nvalid) {
  return im->nsp == 1 ? 1 : 1 + cdiv(nvalid - 1, im->out[im->nsp - 1]);
}

int cg_im2col_gathers(const cg_im2col *im, const cg_gemm_plan *p) {
  return im2col_segments(im, p->nr) > MAX_SEG || im->stride[im->nsp - 1] > 2;
}

static void pack_b_im2col(gctx *c, LLVMValueRef jp, int nvalid) {
  cg_kernel *k = c->k;
  cgl *L = k->L;
  const cg_gemm_plan *p = c->p;
  const cg_im2col *im = &c->g->im;
  int nsp = im->nsp, last = nsp - 1;
  im2col_ctx x;
  memset(&x, 0, sizeof x);
  x.c = c;
  x.nv = (int)cdiv(nvalid, p->vl);
  KILN_ASSERT(x.nv <= MAX_NV);
  int64_t s = 1;
  for (int d = nsp - 1; d >= 0; d--) {
    x.istr[d] = s;
    s *= im->in[d];
  }
  int64_t isz = s;
  int64_t ow = im->out[last];
  int64_t nseg = im2col_segments(im, nvalid);
  LLVMValueRef j0 = mul(k, jp, ci(k, p->nr));
  if (nseg > MAX_SEG) {
    x.lanes = 1;
    LLVMValueRef j0v = splat(k, LLVMBuildTrunc(BLD, j0, L->t_i32, ""), p->vl);
    for (int v = 0; v < x.nv; v++) {
      x.vmask[v] = LLVMBuildICmp(BLD, LLVMIntSLT, iota(c, v * p->vl), splat32(c, nvalid), "");
      LLVMValueRef o = LLVMBuildAdd(BLD, j0v, iota(c, v * p->vl), "");
      for (int d = last; d >= 0; d--) {
        LLVMValueRef od = d ? LLVMBuildURem(BLD, o, splat32(c, im->out[d]), "") : o;
        if (d) o = LLVMBuildUDiv(BLD, o, splat32(c, im->out[d]), "");
        x.vib[d][v] = LLVMBuildSub(BLD, LLVMBuildMul(BLD, od, splat32(c, im->stride[d]), ""),
                                   splat32(c, im->pad[d]), "");
      }
    }
  } else {
    x.nseg = (int)nseg;
    /* segments of the panel's positions j0 .. j0 + nvalid */
    LLVMValueRef row = LLVMBuildSDiv(BLD, j0, ci(k, ow), "");
    LLVMValueRef col = LLVMBuildSRem(BLD, j0, ci(k, ow), "");
    LLVMValueRef l0 = ci(k, 0);
    for (int sg = 0; sg < x.nseg; sg++) {
      LLVMValueRef len = smin(k, LLVMBuildSub(BLD, ci(k, nvalid), l0, ""),
                              LLVMBuildSub(BLD, ci(k, ow), col, ""));
      x.l0[sg] = l0;
      x.l1[sg] = add(k, l0, len);
      LLVMValueRef o = row;
      for (int d = last - 1; d >= 0; d--) {
        LLVMValueRef od = d ? LLVMBuildSRem(BLD, o, ci(k, im->out[d]), "") : o;
        if (d) o = LLVMBuildSDiv(BLD, o, ci(k, im->out[d]), "");
        x.ib[sg][d] = LLVMBuildSub(BLD, mul(k, od, ci(k, im->stride[d])), ci(k, im->pad[d]), "");
      }
      x.iwb[sg] =
          LLVMBuildSub(BLD, mul(k, col, ci(k, im->stride[last])), ci(k, im->pad[last]), "");
      LLVMValueRef l0v = splat(k, LLVMBuildTrunc(BLD, l0, L->t_i32, ""), p->vl);
      LLVMValueRef endv = splat(k, LLVMBuildTrunc(BLD, add(k, l0, len), L->t_i32, ""), p->vl);
      LLVMValueRef iwbv = splat(k, LLVMBuildTrunc(BLD, x.iwb[sg], L->t_i32, ""), p->vl);
      for (int v = 0; v < x.nv; v++) {
        LLVMValueRef io = iota(c, v * p->vl);
        x.lmask[sg][v] = LLVMBuildAnd(BLD, LLVMBuildICmp(BLD, LLVMIntSGE, io, l0v, ""),
                                      LLVMBuildICmp(BLD, LLVMIntSLT, io, endv, ""), "");
        x.liw[sg][v] = LLVMBuildAdd(
            BLD, iwbv,
            LLVMBuildMul(BLD, LLVMBuildSub(BLD, io, l0v, ""), splat32(c, im->stride[last]), ""),
            "");
      }
      /* the next segment starts a row later at column 0 */
      l0 = add(k, l0, len);
      row = add(k, row, ci(k, 1));
      col = ci(k, 0);
    }
  }
  /* channels of this K block */
  LLVMValueRef c0 = LLVMBuildSDiv(BLD, c->k0, ci(k, im->ksz), "");
  LLVMValueRef nch = LLVMBuildSDiv(BLD, c->kcur, ci(k, im->ksz), "");
  /* segments one after the other (the later ones are often empty) */
  for (int sg = 0; sg < (x.lanes ? 1 : x.nseg); sg++) {
    cgl_if e;
    if (sg > 0) cgl_if_begin(L, &e, LLVMBuildICmp(BLD, LLVMIntSGT, x.l1[sg], x.l0[sg], ""));
    x.seg = sg;
    cgl_loop lc;
    LLVMValueRef ch = cgl_loop_begin(L, &lc, ci(k, 0), nch, "ch");
    x.chan = gep(c, c->b, mul(k, add(k, c0, ch), ci(k, isz)));
    x.kk0 = mul(k, ch, ci(k, im->ksz));
    cgk_box_const(k, nsp, im->kernel, im2col_tap, &x);
    cgl_loop_end(L, &lc);
    if (sg > 0) cgl_if_end(L, &e);
  }
}

/* ---- the task ---------------------------------------------------------------------------- */

static LLVMValueRef table(cg_kernel *k, const int64_t *tab, int64_t n, LLVMValueRef i) {
  if (!tab) return ci(k, 0);
  int same = 1;
  for (int64_t j = 1; j < n && same; j++) same = tab[j] == tab[0];
  if (same) return ci(k, tab[0]);
  LLVMValueRef t = cgl_const_i64_array(k->L, tab, (size_t)n);
  return cgl_load(k->L, k->L->t_i64, t, i);
}

/* Row panels [ip_lo, ip_hi) for B panel bp at column n0 (nvalid columns). */
static void row_panels(gctx *c, LLVMValueRef bp, LLVMValueRef n0, int nvalid) {
  cg_kernel *k = c->k;
  cgl *L = k->L;
  const cg_gemm_plan *p = c->p;
  const cg_gemm *g = c->g;
  int rem = (int)(p->M % p->mr);
  LLVMValueRef ip_lo = LLVMBuildSDiv(BLD, c->m_lo, ci(k, p->mr), "");
  LLVMValueRef full_hi = LLVMBuildSDiv(BLD, c->m_hi, ci(k, p->mr), ""); /* panels of mr rows */
  for (int edge = 0; edge < 2; edge++) {
    if (edge && !rem) break;
    cgl_if e;
    cgl_loop lp;
    LLVMValueRef ip;
    if (!edge) {
      ip = cgl_loop_begin(L, &lp, ip_lo, full_hi, "ip");
    } else {
      cgl_if_begin(L, &e, LLVMBuildICmp(BLD, LLVMIntEQ, c->m_hi, ci(k, p->M), ""));
      ip = ci(k, p->mp - 1);
    }
    LLVMValueRef ap;
    if (g->a_kind == CG_OPND_PACKED)
      ap = gep(c, c->a, add(k, mul(k, c->k0, ci(k, p->mpad)), mul(k, ip, mul(k, ci(k, p->mr), c->kcur))));
    else /* in place: rows lda apart */
      ap = gep(c, c->a, add(k, mul(k, ip, ci(k, p->mr * g->lda)), c->k0));
    ukernel(c, ap, bp, mul(k, ip, ci(k, p->mr)), n0, edge ? rem : p->mr, nvalid);
    if (!edge)
      cgl_loop_end(L, &lp);
    else
      cgl_if_end(L, &e);
  }
}

/* The emission context of one task of g's kernel. */
static void gctx_init(gctx *c, cg_kernel *k, const cg_gemm *g) {
  memset(c, 0, sizeof *c);
  c->k = k;
  c->g = g;
  c->p = &g->p;
  c->et = cgl_dtype(k->L, g->p.t);
  c->vt = LLVMVectorType(c->et, (unsigned)g->p.vl);
}

static void gemm_task(cg_kernel *k, LLVMValueRef t, void *user) {
  const cg_gemm *g = user;
  const cg_gemm_plan *p = &g->p;
  cgl *L = k->L;
  gctx c;
  gctx_init(&c, k, g);
  int64_t nmb = cdiv(p->M, g->mb), nnb = cdiv(p->N, g->nb);
  LLVMValueRef b = LLVMBuildSDiv(BLD, t, ci(k, nmb * nnb), "b");
  LLVMValueRef rest = LLVMBuildSRem(BLD, t, ci(k, nmb * nnb), "");
  LLVMValueRef mi = LLVMBuildSDiv(BLD, rest, ci(k, nnb), "mi");
  LLVMValueRef ni = LLVMBuildSRem(BLD, rest, ci(k, nnb), "ni");
  c.m_lo = mul(k, mi, ci(k, g->mb));
  c.m_hi = smin(k, add(k, c.m_lo, ci(k, g->mb)), ci(k, p->M));
  c.n_lo = mul(k, ni, ci(k, g->nb));
  c.n_hi = smin(k, add(k, c.n_lo, ci(k, g->nb)), ci(k, p->N));
  LLVMValueRef abuf = g->a_kind == CG_OPND_PACKED ? k->blob : k->in[g->a_in];
  LLVMValueRef bbuf = g->b_kind == CG_OPND_PACKED ? k->blob : k->in[g->b_in];
  int b_packed = g->b_kind == CG_OPND_PACKED || g->shared_b;
  c.a = gep(&c, abuf, table(k, g->a_off, g->batch, b));
  if (g->shared_b) /* packed by the first phase into the caller's scratch */
    c.b = cgk_arg(k, (unsigned)g->scratch_param);
  else
    c.b = gep(&c, bbuf, table(k, g->b_off, g->batch, b));
  c.c_off = table(k, g->c_off, g->batch, b);
  c.c = gep(&c, k->out[0], c.c_off);
  if (g->bias_in >= 0) c.bias = gep(&c, k->in[g->bias_in], table(k, g->bias_off, g->batch, b));
  c.bpk = k->scratch;
  int rem_n = (int)(p->N % p->nr);
  cgl_loop lk;
  LLVMValueRef pb = cgl_loop_begin(L, &lk, ci(k, 0), ci(k, p->nkb), "kb");
  c.k0 = mul(k, pb, ci(k, p->kc));
  c.kcur = smin(k, ci(k, p->kc), LLVMBuildSub(BLD, ci(k, p->K), c.k0, ""));
  c.first = LLVMBuildICmp(BLD, LLVMIntEQ, pb, ci(k, 0), "first");
  c.last = LLVMBuildICmp(BLD, LLVMIntEQ, pb, ci(k, p->nkb - 1), "last");
  LLVMValueRef jp_lo = LLVMBuildSDiv(BLD, c.n_lo, ci(k, p->nr), "");
  LLVMValueRef full_hi = LLVMBuildSDiv(BLD, c.n_hi, ci(k, p->nr), "");
  for (int edge = 0; edge < 2; edge++) {
    if (edge && !rem_n) break;
    cgl_if e;
    cgl_loop lp;
    LLVMValueRef jp;
    if (!edge) {
      jp = cgl_loop_begin(L, &lp, jp_lo, full_hi, "jp");
    } else {
      cgl_if_begin(L, &e, LLVMBuildICmp(BLD, LLVMIntEQ, c.n_hi, ci(k, p->N), ""));
      jp = ci(k, p->np - 1);
    }
    int nvalid = edge ? rem_n : p->nr;
    LLVMValueRef bp;
    if (b_packed) {
      bp = gep(&c, c.b, add(k, mul(k, c.k0, ci(k, p->npad)), mul(k, jp, mul(k, ci(k, p->nr), c.kcur))));
    } else {
      if (g->b_kind == CG_OPND_DENSE)
        pack_b_dense(&c, jp, nvalid);
      else
        pack_b_im2col(&c, jp, nvalid);
      bp = c.bpk;
    }
    row_panels(&c, bp, mul(k, jp, ci(k, p->nr)), nvalid);
    if (!edge)
      cgl_loop_end(L, &lp);
    else
      cgl_if_end(L, &e);
  }
  cgl_loop_end(L, &lk);
}

/* Shared B, first phase: task t packs panel t % np of K block t / np
 * into the packed-B layout in the caller's scratch (batch 1). */
static void pack_task(cg_kernel *k, LLVMValueRef t, void *user) {
  const cg_gemm *g = user;
  const cg_gemm_plan *p = &g->p;
  cgl *L = k->L;
  gctx c;
  gctx_init(&c, k, g);
  LLVMValueRef kb = LLVMBuildSDiv(BLD, t, ci(k, p->np), "kb");
  LLVMValueRef jp = LLVMBuildSRem(BLD, t, ci(k, p->np), "jp");
  c.k0 = mul(k, kb, ci(k, p->kc));
  c.kcur = smin(k, ci(k, p->kc), LLVMBuildSub(BLD, ci(k, p->K), c.k0, ""));
  c.b = gep(&c, k->in[g->b_in], table(k, g->b_off, g->batch, ci(k, 0)));
  c.bpk = gep(&c, cgk_arg(k, (unsigned)g->scratch_param),
              add(k, mul(k, c.k0, ci(k, p->npad)), mul(k, jp, mul(k, ci(k, p->nr), c.kcur))));
  int rem_n = (int)(p->N % p->nr);
  for (int edge = 0; edge < 2; edge++) {
    if (edge && !rem_n) break;
    cgl_if e;
    LLVMValueRef is_edge = LLVMBuildICmp(BLD, LLVMIntEQ, jp, ci(k, p->np - 1), "");
    cgl_if_begin(L, &e, edge ? is_edge : rem_n ? LLVMBuildNot(BLD, is_edge, "") : LLVMConstInt(L->t_i1, 1, 0));
    if (g->b_kind == CG_OPND_DENSE)
      pack_b_dense(&c, jp, edge ? rem_n : p->nr);
    else
      pack_b_im2col(&c, jp, edge ? rem_n : p->nr);
    cgl_if_end(L, &e);
  }
}

void cg_gemm_emit(cg_kernel *k, const cg_gemm *g_in) {
  cg_gemm g = *g_in;
  const cg_gemm_plan *p = &g.p;
  KILN_ASSERT(p->K > 0 && p->M > 0 && p->N > 0 && g.batch > 0);
  KILN_ASSERT(p->nv <= 8 && p->vl <= 64);
  if (g.shared_b) {
    /* the scratch parameter: tasks reach the caller's region through it */
    g.scratch_param = -1;
    for (unsigned i = 0; i < LLVMCountParams(k->L->fn); i++)
      if (LLVMGetParam(k->L->fn, i) == k->scratch) g.scratch_param = (int)i;
    KILN_ASSERT(g.scratch_param >= 0);
    cgk_parallel(k, p->nkb * p->np, pack_task, &g);
  }
  int64_t tasks = g.batch * cdiv(p->M, g.mb) * cdiv(p->N, g.nb);
  cgk_parallel(k, tasks, gemm_task, &g);
}

/* The GEMM core of the CPU backend (kernels_gemm.c, pack.c): C = A * B for
 * f32 and f64, with a register-blocked micro-kernel written with LLVM
 * vector types, BLIS-style blocking and packed operands. matmul and conv
 * (kernels_nn.c) lower onto it.
 *
 * Shapes are static, so the plan (micro-tile, blocking, task split) is
 * chosen at compile time from the shapes and the target's vector
 * registers. A constant operand is packed now (pack.c) into the
 * micro-kernel's layout and stored as the kernel's blob; a run-time B is
 * packed panel by panel into the kernel's scratch (a dense copy or
 * im2col), a run-time A is read in place.
 *
 * Layouts, for one matrix (block p of K starts at k0 = p * kc_full and has
 * kc = min(kc_full, K - k0) rows):
 *   packed A  mpad * K elements: block p at k0 * mpad; panel ip (rows
 *             ip*mr ..) at + ip * mr * kc; element (r, kk) at + kk*mr + r.
 *             Rows past M are zero.
 *   packed B  npad * K elements: block p at k0 * npad; panel jp (columns
 *             jp*nr ..) at + jp * nr * kc; element (kk, l) at + kk*nr + l.
 *             Columns past N are zero.
 * The micro-kernel multiplies an mr x kc panel of A by a kc x nr panel of
 * B into mr x nr accumulators (mr rows of nv vectors), fmuladd per step.
 */
#ifndef KILN_CG_GEMM_H
#define KILN_CG_GEMM_H

#include "codegen/cpu/kernels.h"

/* The target's SIMD registers, from the triple, CPU and features. */
typedef struct {
  int bits;  /* vector register width: 128, 256 or 512 */
  int nregs; /* vector registers: 16 or 32 */
} cg_simd;
void cg_simd_of(const cgl *L, cg_simd *s);

typedef struct {
  ir_dtype t; /* IR_F32 or IR_F64 */
  int esz;    /* element bytes */
  int vl;     /* elements per vector */
  int mr, nv, nr;
  int64_t M, N, K;
  int64_t kc;        /* K block (the last may be shorter) */
  int64_t nkb;       /* K blocks */
  int64_t mp, np;    /* panels: ceil(M / mr), ceil(N / nr) */
  int64_t mpad, npad;
} cg_gemm_plan;

/* Blocking for an M x N x K product. k_unit > 1 makes every K block but
 * the last a multiple of k_unit (conv: the taps of one input channel). */
void cg_gemm_plan_make(const cgl *L, ir_dtype t, int64_t M, int64_t N, int64_t K, int64_t k_unit,
                       cg_gemm_plan *p);

/* Elements of a packed matrix. */
int64_t cg_gemm_packed_a_elems(const cg_gemm_plan *p);
int64_t cg_gemm_packed_b_elems(const cg_gemm_plan *p);
/* Packs A [M, K] (rows lda elements apart, element type p->t) / B [K, N]
 * (rows ldb apart) into dst (pack.c). */
void cg_gemm_pack_a(const cg_gemm_plan *p, const void *a, int64_t lda, void *dst);
void cg_gemm_pack_b(const cg_gemm_plan *p, const void *b, int64_t ldb, void *dst);

typedef enum {
  CG_OPND_PACKED = 0, /* pre-packed in the kernel's blob */
  CG_OPND_DENSE,      /* a row-major matrix in an input buffer */
  CG_OPND_IM2COL,     /* B only: conv's input through im2col */
} cg_opnd_kind;

/* conv geometry for CG_OPND_IM2COL: B[k][j] with k = (c, taps) and j the
 * flattened output position. */
typedef struct {
  int nsp;
  int64_t in[IR_MAX_RANK], out[IR_MAX_RANK], kernel[IR_MAX_RANK];
  int64_t stride[IR_MAX_RANK], dil[IR_MAX_RANK], pad[IR_MAX_RANK]; /* pad: begin */
  int64_t ksz;                                                     /* taps per channel */
} cg_im2col;

/* One GEMM kernel: `batch` independent products C_b = A_b * B_b (+ bias)
 * (+ the kernel's epilogue), split into tasks over batch and M/N blocks. */
typedef struct {
  cg_gemm_plan p;
  int64_t batch;
  cg_opnd_kind a_kind, b_kind;
  int a_in, b_in;   /* kernel input of a dense/im2col operand */
  int64_t lda, ldb; /* dense operands' row strides (elements) */
  cg_im2col im;     /* b_kind == CG_OPND_IM2COL */
  int bias_in;      /* kernel input holding a per-row bias, -1: none */
  int64_t ldc;      /* C's row stride (output 0) */
  /* element offsets per batch entry (batch entries each): of A and B in
   * their buffers (packed operands: in the blob), of C in output 0, of the
   * bias; NULL: all 0 */
  int64_t *a_off, *b_off, *c_off, *bias_off;
  /* task split (cg_gemm_split) */
  int64_t mb, nb; /* rows / columns per task: multiples of mr / nr */
  int shared_b;   /* B packed once (first parallel phase) into the calling
                     thread's scratch, read by every task (batch 1) */
  int scratch_param; /* (emission) the kernel's scratch parameter */
} cg_gemm;

/* A masked load with stride 2 as two vector loads and a shuffle (no
 * gather): lane i of the result is base[2 i] when lo <= i < hi and
 * pos0 + 2 i lies in [0, lim), else pass[i] (lo, hi, pos0: i32). */
LLVMValueRef cg_load_stride2(cg_kernel *k, LLVMTypeRef et, int vl, LLVMValueRef base,
                             LLVMValueRef pos0, int64_t lim, LLVMValueRef lo, LLVMValueRef hi,
                             LLVMValueRef pass);

/* 1 when im2col packs B with gathers (small last dims, strides > 2). */
int cg_im2col_gathers(const cg_im2col *im, const cg_gemm_plan *p);

/* Chooses the task split and returns the scratch bytes per thread. */
int64_t cg_gemm_split(cg_gemm *g);
/* Emits the kernel body (k->scratch must hold cg_gemm_split's bytes). */
void cg_gemm_emit(cg_kernel *k, const cg_gemm *g);

#endif

/* Compile-time packing of constant GEMM operands into the micro-kernel's
 * layout (gemm.h): conv weights (A) and matmul's constant B. The packed
 * copy goes into the weights as the kernel's blob. */
#include <string.h>

#include "codegen/cpu/gemm.h"

static void put(const cg_gemm_plan *p, void *dst, int64_t i, const void *src, int64_t j) {
  if (p->t == IR_F64)
    ((double *)dst)[i] = src ? ((const double *)src)[j] : 0.0;
  else
    ((float *)dst)[i] = src ? ((const float *)src)[j] : 0.0f;
}

void cg_gemm_pack_a(const cg_gemm_plan *p, const void *a, int64_t lda, void *dst) {
  for (int64_t k0 = 0; k0 < p->K; k0 += p->kc) {
    int64_t kc = p->K - k0 < p->kc ? p->K - k0 : p->kc;
    int64_t base = k0 * p->mpad;
    for (int64_t ip = 0; ip < p->mp; ip++)
      for (int64_t kk = 0; kk < kc; kk++)
        for (int r = 0; r < p->mr; r++) {
          int64_t m = ip * p->mr + r, o = base + ip * p->mr * kc + kk * p->mr + r;
          put(p, dst, o, m < p->M ? a : NULL, m * lda + k0 + kk);
        }
  }
}

void cg_gemm_pack_b(const cg_gemm_plan *p, const void *b, int64_t ldb, void *dst) {
  for (int64_t k0 = 0; k0 < p->K; k0 += p->kc) {
    int64_t kc = p->K - k0 < p->kc ? p->K - k0 : p->kc;
    int64_t base = k0 * p->npad;
    for (int64_t jp = 0; jp < p->np; jp++)
      for (int64_t kk = 0; kk < kc; kk++)
        for (int l = 0; l < p->nr; l++) {
          int64_t n = jp * p->nr + l, o = base + jp * p->nr * kc + kk * p->nr + l;
          put(p, dst, o, n < p->N ? b : NULL, (k0 + kk) * ldb + n);
        }
  }
}

/* Per-output-channel affine folding into contraction weights: the helpers
 * that fold-batchnorm and fold-scale share (channel_fold.c).
 *
 * A "target" is a contraction whose result y can absorb y' = y * s + t, with
 * s and t one value per output channel, by rewriting its constant weight
 * (and bias):
 *   - conv / conv_transpose with constant weight and constant (or absent)
 *     bias: W'[o] = W[o] * s[o], b'[o] = b[o] * s[o] + t[o];
 *   - matmul(x, W) with a constant W of rank >= 2: the output channel is the
 *     last axis, W'[..., o] = W[..., o] * s[o]. matmul has no bias operand:
 *     its bias is an `add(matmul(x, W), b)` node with a constant per-channel
 *     b (the "bias add"); y is then that add's result and b' = b * s + t.
 * A plain matmul (no bias add) can absorb only the scale; the caller adds
 * the shift itself (fold-batchnorm turns the batch_norm node into the add).
 */
#ifndef KILN_CHANNEL_FOLD_H
#define KILN_CHANNEL_FOLD_H

#include "passes/pass.h"

/* Output channels of one target; more makes the pattern not match. Bounds
 * the per-channel scratch the passes allocate. */
#define CF_MAX_CHANNELS (INT64_C(1) << 24)

typedef struct {
  int node;         /* the conv, conv_transpose or matmul node */
  int bias_add;     /* matmul: its bias add node, or -1 */
  int value;        /* y: the contraction's result, or the bias add's */
  int axis;         /* channel axis of y: 1 for conv, rank - 1 for matmul */
  int64_t channels; /* y.dims[axis] */
} cf_target;

/* 1 when value y is a foldable target's result: y has exactly one use
 * (uses[] as ir_count_uses counts them, so it is no graph output), its
 * producer is a live conv/conv_transpose/matmul (or a bias add over a matmul
 * whose result is used only by that add) with constant weight/bias data of a
 * float dtype the interpreter supports, and at most CF_MAX_CHANNELS
 * channels. Fills *t. */
int cf_match(const ir_graph *g, const int *uses, int y, cf_target *t);

/* 1 when constant c broadcasts per channel against type yt along `axis`:
 * c has data, yt's float dtype, rank <= yt's rank, and (aligned to the
 * right, as NumPy broadcasting aligns) every dim is 1 except the one at
 * `axis`, which is 1 or `channels`. Then vals[0..channels) receive the value
 * of each channel (a dim of 1 repeats its one value). */
int cf_channel_values(const ir_graph *g, int c, const ir_type *yt, int axis, int64_t channels,
                      double *vals);

/* Rewrites target t so that its result becomes y * s + sh (s NULL: ones; sh
 * NULL: zeros). sh must be NULL for a plain matmul. The new weight and bias
 * are new in-memory constants named after the old ones ("_fold" appended; a
 * conv without bias gets "<y>_bias"), `param` when `param` is set or the
 * constant they replace was a parameter; the old constants stay for dce (or
 * other users). The computation is in double, rounded once to the weights'
 * dtype. Returns 0 or a diag error (out of memory for the new data). */
int cf_apply(ir_graph *g, const cf_target *t, const double *s, const double *sh, int param,
             kiln_diag *d);

/* A new in-memory constant of `dtype` and shape [n] holding vals (rounded
 * to the dtype); -1 with a diag error when memory runs out. */
int cf_vector_const(ir_graph *g, const char *name, ir_dtype dtype, int64_t n,
                    const double *vals, int param, kiln_diag *d);

/* Node i (one output, live) is absorbed into the target whose result y is
 * its only data input: its result is replaced by y (pass_replace_value:
 * uses, and a graph output's name), the node is removed, and uses[y] takes
 * over the count of the removed result. y must be used only by node i. */
void cf_drop_node(ir_graph *g, int i, int y, int *uses, pass_repl *r);

/* Folds node i when it matches: 1 when folded, 0 when not, -1 after an
 * error (in d). uses[] is kept up to date by the fold (cf_drop_node). */
typedef int (*cf_fold_fn)(ir_graph *g, int i, int *uses, pass_repl *r, kiln_diag *d);

/* The driver of fold-batchnorm and fold-scale: visits the live nodes in
 * order (applying r's pending replacements to each), calls fold on those
 * whose op `wants`, stops at the first error, adds the folds to
 * ctx->changes and compacts the graph when something was folded. A fold
 * may remove nodes but must add none. Returns KILN_OK or the error's
 * status. */
int cf_run(ir_graph *g, pass_ctx *ctx, int (*wants)(ir_op op), cf_fold_fn fold, kiln_diag *d);

#endif

/* fold-scale: folds multiplications and additions by per-channel constants
 * into the weights and bias of the convolution or matrix multiplication
 * before them (the scale and shift layers that exported models often keep
 * separate, e.g. a decomposed batch norm or a layer scale).
 *
 * Requires: a verified graph in topological node order; the rewrites apply
 * only where the values involved are typed (run infer-shapes first).
 * Guarantees: no live node `op(y, c)` remains (or `op(c, y)` for mul and
 * add) where
 *   - op is mul, div, add or sub, c is a constant with data that broadcasts
 *     per output channel against y (cf_channel_values: every dim 1 except
 *     the channel axis; a scalar counts), the result's type equals y's (no
 *     broadcasting up), and for div no element of c is 0;
 *   - y is the result of a fold target (channel_fold.h) used by nothing
 *     else: conv / conv_transpose (channel axis 1), or matmul(x, W) with a
 *     constant W, or its bias add `add(matmul(x, W), b)` (channel: the last
 *     axis);
 * except add/sub directly on a plain matmul result: that add is the
 * matmul's bias add, which no operand can absorb. The rewrites:
 *   conv:   y * s -> W * s, b * s      y + c -> b + c (a bias appears)
 *   matmul: y * s -> W * s             (bias add) y * s -> W * s, b * s
 *           (bias add) y + c -> b + c
 * with y - c as y + (-c) and y / c as y * (1 / c). Chains fold in one run
 * (nodes are visited in order). New constants are `param` when a constant
 * they came from was. A removed node whose result is a graph output passes
 * its name on (pass_replace_value). Numerics: weights are rescaled in double
 * and rounded once, so results equal the unfolded graph's to rounding. The
 * graph is compacted when something changed. */
#include <stdlib.h>
#include <string.h>

#include "passes/channel_fold.h"

/* The non-constant operand y and the constant c of node n; 0 when the node
 * is not of the form the pass folds. */
static int operands(const ir_graph *g, const ir_node *n, int *y, int *c) {
  if (n->n_in != 2 || n->n_out != 1 || n->in[0] < 0 || n->in[1] < 0) return 0;
  int c0 = pass_const_data(g, n->in[0]) != NULL, c1 = pass_const_data(g, n->in[1]) != NULL;
  int commutes = n->op == IR_OP_MUL || n->op == IR_OP_ADD;
  if (!c0 && c1) {
    *y = n->in[0];
    *c = n->in[1];
    return 1;
  }
  if (commutes && c0 && !c1) {
    *y = n->in[1];
    *c = n->in[0];
    return 1;
  }
  return 0;
}

/* Folds node i when it matches; 1 folded, 0 not, -1 after an error. */
static int fold_one(ir_graph *g, int i, int *uses, pass_repl *r, kiln_diag *d) {
  const ir_node *n = &g->nodes[i];
  int y, c;
  if (!operands(g, n, &y, &c)) return 0;
  int out = n->out[0];
  const ir_value *ov = &g->values[out];
  if (!ov->typed || !g->values[y].typed || !ir_type_equal(&ov->type, &g->values[y].type)) return 0;
  cf_target t;
  if (!cf_match(g, uses, y, &t)) return 0;
  int scale = n->op == IR_OP_MUL || n->op == IR_OP_DIV;
  if (!scale && g->nodes[t.node].op == IR_OP_MATMUL && t.bias_add < 0) return 0;
  double *vals = kiln_xmalloc(sizeof(double) * ((size_t)t.channels + 1));
  int rc = 0;
  if (cf_channel_values(g, c, &g->values[y].type, t.axis, t.channels, vals)) {
    rc = 1;
    for (int64_t o = 0; o < t.channels && rc; o++) {
      if (n->op == IR_OP_DIV) {
        if (vals[o] == 0.0) rc = 0;
        else vals[o] = 1.0 / vals[o];
      } else if (n->op == IR_OP_SUB) {
        vals[o] = -vals[o];
      }
    }
    int param = g->values[c].is_param;
    if (rc && cf_apply(g, &t, scale ? vals : NULL, scale ? NULL : vals, param, d)) rc = -1;
    if (rc == 1) cf_drop_node(g, i, y, uses, r);
  }
  free(vals);
  return rc;
}

/* The ops fold-scale folds: y * c, y / c, y + c, y - c. */
static int is_scale_or_shift(ir_op op) {
  return op == IR_OP_MUL || op == IR_OP_DIV || op == IR_OP_ADD || op == IR_OP_SUB;
}

int pass_fold_scale(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  return cf_run(g, ctx, is_scale_or_shift, fold_one, d);
}

/* fold-batchnorm: folds inference-mode batch normalisation into the
 * preceding convolution or matrix multiplication (model.eval() semantics:
 * batch_norm uses its running statistics, which are constants).
 *
 *   batch_norm(y, gamma, beta, mean, var) = y * a + (beta - mean * a),
 *   a = gamma / sqrt(var + epsilon), per channel (axis 1).
 *
 * Requires: a verified graph in topological node order; the rewrite applies
 * only where the values involved are typed (run infer-shapes first).
 * Guarantees: no live batch_norm node remains whose four parameters are
 * constants with data (of y's float dtype, one value per channel, with
 * gamma / sqrt(var + epsilon) finite) and whose input y is the result of a
 * fold target (channel_fold.h) used by nothing else and with its channel on
 * axis 1:
 *   - conv / conv_transpose: the weight and bias become new constants
 *     (W * a, b * a + beta - mean * a; a bias is added when the conv had
 *     none) and the batch_norm node goes;
 *   - add(matmul(x, W), b) (a linear layer, [N, K] result): W * a and
 *     b * a + beta - mean * a, and the batch_norm node goes;
 *   - matmul(x, W) with a [N, K] result: W * a, and the batch_norm node
 *     becomes the bias add `add(y, <bn>_bias)` with beta - mean * a.
 * New constants are `param` when a constant they were computed from was.
 * A removed batch_norm whose result is a graph output passes its name to
 * the value replacing it (pass_replace_value). Numerics: the weights are
 * rescaled in double and rounded once, so results match the unfolded graph
 * to rounding (not bit for bit). The graph is compacted when something
 * changed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/channel_fold.h"

/* Per-channel a and shift of batch_norm node n over channels C; 0 when a
 * parameter is not a usable constant. *param: a parameter was `param`. */
static int bn_affine(const ir_graph *g, const ir_node *n, ir_dtype dt, int64_t channels,
                     double *a, double *shift, int *param) {
  const void *p[5];
  *param = 0;
  for (int k = 1; k < 5; k++) {
    int v = n->in[k];
    p[k] = pass_const_data(g, v);
    if (!p[k] || g->values[v].type.dtype != dt || ir_type_numel(&g->values[v].type) != channels)
      return 0;
    *param |= g->values[v].is_param;
  }
  double eps = ir_attr_float(n, "epsilon");
  for (int64_t c = 0; c < channels; c++) {
    double gamma = ir_load_f(dt, p[1], c), beta = ir_load_f(dt, p[2], c);
    double mean = ir_load_f(dt, p[3], c), var = ir_load_f(dt, p[4], c);
    a[c] = gamma / sqrt(var + eps);
    shift[c] = beta - mean * a[c];
    if (!isfinite(a[c]) || !isfinite(shift[c])) return 0; /* keep NaN/inf behaviour as is */
  }
  return 1;
}

/* Folds batch_norm node i when it matches; 1 when folded, 0 when not, -1
 * after an error. */
static int fold_one(ir_graph *g, int i, int *uses, pass_repl *r, kiln_diag *d) {
  const ir_node *n = &g->nodes[i];
  if (n->n_in != 5 || n->n_out != 1 || n->in[0] < 0) return 0;
  int y = n->in[0];
  cf_target t;
  if (!cf_match(g, uses, y, &t) || t.axis != 1) return 0;
  ir_dtype dt = g->values[y].type.dtype;
  double *a = kiln_xmalloc(sizeof(double) * ((size_t)t.channels + 1));
  double *shift = kiln_xmalloc(sizeof(double) * ((size_t)t.channels + 1));
  int param, rc = 0;
  if (bn_affine(g, n, dt, t.channels, a, shift, &param)) {
    int plain_matmul = g->nodes[t.node].op == IR_OP_MATMUL && t.bias_add < 0;
    if (plain_matmul) {
      /* W * a; the batch_norm node becomes the bias add */
      rc = cf_apply(g, &t, a, NULL, param, d) ? -1 : 1;
      if (rc == 1) {
        char name[IR_MAX_NAME + 1];
        const char *base = g->values[g->nodes[i].out[0]].name;
        snprintf(name, sizeof name, "%.*s_bias", IR_MAX_NAME - 5, base);
        int b = cf_vector_const(g, name, dt, t.channels, shift, param, d);
        if (b < 0) {
          rc = -1;
        } else {
          ir_node *bn = &g->nodes[i];
          bn->op = IR_OP_ADD;
          bn->n_attrs = 0;
          int in[2] = {y, b};
          ir_node_set_inputs(g, i, in, 2);
        }
      }
    } else {
      rc = cf_apply(g, &t, a, shift, param, d) ? -1 : 1;
      if (rc == 1) cf_drop_node(g, i, y, uses, r);
    }
  }
  free(a);
  free(shift);
  return rc;
}

static int is_batch_norm(ir_op op) { return op == IR_OP_BATCH_NORM; }

int pass_fold_batchnorm(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  return cf_run(g, ctx, is_batch_norm, fold_one, d);
}

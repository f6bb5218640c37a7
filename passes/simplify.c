/* simplify: algebraic clean-ups that remove nodes or shorten chains.
 *
 * Requires: a verified graph in topological node order. The rewrites that
 * look at shapes apply only where the values involved are typed (run
 * infer-shapes first to get them all).
 * Guarantees, for every live node after the pass:
 *   - no identity or dropout (dropout is the identity at inference);
 *   - no reshape whose input comes from a reshape, flatten, squeeze or
 *     unsqueeze (all of them keep the element order, so the outer reshape
 *     can read the inner one's input; its `shape` becomes the concrete
 *     output dims);
 *   - no flatten/squeeze/unsqueeze/reshape whose output type equals its
 *     input type;
 *   - no transpose of a transpose (one transpose with the composed perm) and
 *     no transpose with the identity perm;
 *   - no add/sub of a constant zero and no mul/div by a constant one whose
 *     output type equals the other operand's type (x + 0 may turn -0.0 into
 *     +0.0; kiln does not keep the sign of zero through such adds);
 *   - inner nodes a rewrite bypassed are removed once nothing uses them.
 * A removed node whose result is a graph output keeps the output's name on
 * the value that replaces it; when that value is a graph input, a constant
 * or another graph output, the node stays (pass_replace_value). The graph is
 * compacted when something changed. */
#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"

/* Replaces node i's (only) result by src and removes i; 0 when the result
 * is a graph output that has to stay. */
static int bypass(pass_repl *r, ir_graph *g, int i, int src) {
  if (!pass_replace_value(r, g, g->nodes[i].out[0], src)) return 0;
  ir_node_remove(g, i);
  return 1;
}

/* Live producer of v, or -1. */
static int producer(const ir_graph *g, int v) {
  if (v < 0) return -1;
  int p = g->values[v].producer;
  if (p < 0 || g->nodes[p].dead || g->values[v].kind != IR_VAL_NODE) return -1;
  return p;
}

static const ir_type *typed_or_null(const ir_graph *g, int v) {
  return v >= 0 && g->values[v].typed ? &g->values[v].type : NULL;
}

/* Same-type test of node i's first input and first result. */
static int same_type_in_out(const ir_graph *g, const ir_node *n) {
  const ir_type *a = typed_or_null(g, n->in[0]), *b = typed_or_null(g, n->out[0]);
  return a && b && ir_type_equal(a, b);
}

/* ---- reshape chains ---------------------------------------------------------- */

static int is_view_op(ir_op op) {
  return op == IR_OP_RESHAPE || op == IR_OP_FLATTEN || op == IR_OP_SQUEEZE ||
         op == IR_OP_UNSQUEEZE;
}

/* reshape(view(...view(x))) -> reshape(x); marks the views it skips in
 * `bypassed`. Returns 1 when it rewrote node i. */
static int merge_reshape(ir_graph *g, int i, char *bypassed) {
  ir_node *n = &g->nodes[i];
  int p = producer(g, n->in[0]);
  const ir_type *ot = typed_or_null(g, n->out[0]);
  if (p < 0 || !ot || n->n_in > 1 || !is_view_op(g->nodes[p].op)) return 0;
  /* the old `shape` may hold 0 (copy an input dim) or -1, relative to the
   * old input: write the concrete dims instead */
  int64_t dims[IR_MAX_RANK];
  int zero = 0;
  for (int k = 0; k < ot->rank; k++) {
    dims[k] = ot->dims[k];
    zero |= dims[k] == 0;
  }
  ir_set_ints(g, i, "shape", dims, ot->rank);
  if (zero) ir_set_int(g, i, "allowzero", 1);
  else ir_attr_remove(g, i, "allowzero");
  /* earlier reshapes already read past their own views; flatten, squeeze
   * and unsqueeze do not, so walk the whole chain */
  int src = n->in[0];
  while ((p = producer(g, src)) >= 0 && is_view_op(g->nodes[p].op)) {
    bypassed[p] = 1;
    src = g->nodes[p].in[0];
  }
  ir_node_set_inputs(g, i, &src, 1);
  return 1;
}

/* ---- transposes ----------------------------------------------------------------- */

/* The perm of transpose node n (its attribute, or reversed axes); 0 when
 * the rank is unknown. */
static int get_perm(const ir_graph *g, const ir_node *n, int64_t *perm, int *rank) {
  const ir_attr *a = ir_attr_find(n, "perm");
  if (a) {
    if (a->n > IR_MAX_RANK) return 0;
    *rank = a->n;
    for (int k = 0; k < a->n; k++) perm[k] = a->ints[k];
  } else {
    const ir_type *t = typed_or_null(g, n->in[0]);
    if (!t) return 0;
    *rank = t->rank;
    for (int k = 0; k < t->rank; k++) perm[k] = t->rank - 1 - k;
  }
  /* a valid permutation, else leave the node for inference to report */
  char seen[IR_MAX_RANK] = {0};
  for (int k = 0; k < *rank; k++) {
    if (perm[k] < 0 || perm[k] >= *rank || seen[perm[k]]) return 0;
    seen[perm[k]] = 1;
  }
  return 1;
}

/* transpose(transpose(x, p1), p2) -> transpose(x, p1[p2]). Returns the
 * bypassed node or -1. */
static int merge_transpose(ir_graph *g, int i) {
  int p = producer(g, g->nodes[i].in[0]);
  if (p < 0 || g->nodes[p].op != IR_OP_TRANSPOSE) return -1;
  int64_t p1[IR_MAX_RANK], p2[IR_MAX_RANK], c[IR_MAX_RANK];
  int r1, r2;
  if (!get_perm(g, &g->nodes[p], p1, &r1) || !get_perm(g, &g->nodes[i], p2, &r2) || r1 != r2)
    return -1;
  /* y = x^p1: y.dims[k] = x.dims[p1[k]]; z = y^p2: z.dims[k] = x.dims[p1[p2[k]]] */
  for (int k = 0; k < r2; k++) c[k] = p1[p2[k]];
  ir_set_ints(g, i, "perm", c, r2);
  int src = g->nodes[p].in[0];
  ir_node_set_inputs(g, i, &src, 1);
  return p;
}

static int identity_perm(const ir_graph *g, const ir_node *n) {
  int64_t perm[IR_MAX_RANK];
  int rank;
  if (!get_perm(g, n, perm, &rank)) return 0;
  for (int k = 0; k < rank; k++)
    if (perm[k] != k) return 0;
  return 1;
}

/* ---- neutral elements ------------------------------------------------------------ */

/* v is a constant whose every element equals x (0 or 1). */
static int const_all(const ir_graph *g, int v, int x) {
  const void *data = pass_const_data(g, v);
  if (!data) return 0;
  ir_dtype t = g->values[v].type.dtype;
  int isf = ir_dtype_is_float(t);
  if (!(isf && ir_dtype_supported(t)) && !ir_dtype_is_int(t)) return 0;
  int64_t n = ir_type_numel(&g->values[v].type);
  for (int64_t k = 0; k < n; k++) {
    if (isf ? ir_load_f(t, data, k) != (double)x : ir_load_i(t, data, k) != x) return 0;
  }
  return 1;
}

/* The operand that op(a, b) equals, or -1. */
static int neutral_operand(const ir_graph *g, const ir_node *n) {
  int a = n->in[0], b = n->in[1];
  const ir_type *ot = typed_or_null(g, n->out[0]);
  if (!ot) return -1;
  int unit = (n->op == IR_OP_ADD || n->op == IR_OP_SUB) ? 0 : 1;
  int commutes = n->op == IR_OP_ADD || n->op == IR_OP_MUL;
  const ir_type *at = typed_or_null(g, a), *bt = typed_or_null(g, b);
  if (at && ir_type_equal(at, ot) && const_all(g, b, unit)) return a;
  if (commutes && bt && ir_type_equal(bt, ot) && const_all(g, a, unit)) return b;
  return -1;
}

int pass_simplify(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  pass_repl r;
  pass_repl_init(&r, g);
  /* nodes a rewrite stopped reading from: removed at the end if unused */
  char *bypassed = kiln_xcalloc((size_t)g->n_nodes + 1, 1);
  int changes = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    pass_repl_apply(&r, g, i);
    int inner;
    switch (n->op) {
    case IR_OP_IDENTITY:
    case IR_OP_DROPOUT: changes += bypass(&r, g, i, n->in[0]); break;
    case IR_OP_RESHAPE:
      changes += merge_reshape(g, i, bypassed);
      /* fall through */
    case IR_OP_FLATTEN:
    case IR_OP_SQUEEZE:
    case IR_OP_UNSQUEEZE:
      n = &g->nodes[i];
      if (same_type_in_out(g, n)) changes += bypass(&r, g, i, n->in[0]);
      break;
    case IR_OP_TRANSPOSE:
      if ((inner = merge_transpose(g, i)) >= 0) {
        bypassed[inner] = 1;
        changes++;
      }
      n = &g->nodes[i];
      if (identity_perm(g, n)) changes += bypass(&r, g, i, n->in[0]);
      break;
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_DIV: {
      int src = neutral_operand(g, n);
      if (src >= 0) changes += bypass(&r, g, i, src);
      break;
    }
    default: break;
    }
  }
  /* Drop bypassed nodes nothing reads any more; backwards, so a chain
   * (reshape of reshape of reshape) goes in one sweep. */
  int *uses = kiln_xcalloc((size_t)g->n_values + 1, sizeof(int));
  ir_count_uses(g, uses);
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    ir_node *n = &g->nodes[i];
    if (n->dead || !bypassed[i]) continue;
    int used = 0;
    for (int j = 0; j < n->n_out; j++) used |= uses[n->out[j]] > 0;
    if (used) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) uses[n->in[k]]--;
    ir_node_remove(g, i);
  }
  free(uses);
  free(bypassed);
  pass_repl_free(&r);
  ctx->changes += changes;
  if (changes) ir_graph_compact(g);
  (void)d;
  return KILN_OK;
}

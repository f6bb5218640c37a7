/* fold-constants: evaluates at compile time what does not depend on the
 * graph inputs' data.
 *
 * Requires: a typed graph (infer-shapes has run, or every type is written
 * in the input) in topological node order.
 * Guarantees: every live node whose present inputs are all constants with
 * data, and every shape/size node whose input is typed, has been evaluated
 * with the reference interpreter and its results turned into in-memory
 * constants (same value names, IR_CSRC_INLINE, `param` when an input was a
 * parameter) -- except nodes whose results nothing uses (dce removes them),
 * nodes that would grow the model (FOLD_SMALL_OUTPUT_BYTES), and nodes whose
 * evaluation kiln does not support. Operand-given attributes (schema `@N`)
 * whose operand became constant are resolved into attributes. The graph is
 * compacted when something changed (ids are renumbered). */
#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"

/* A node may always be folded when its results take at most this many bytes
 * together; above it, only when the results are no larger than its inputs.
 * Keeps expand/tile/constant_of_shape/range from writing big tensors into
 * the model that the runtime would compute cheaply. */
#define FOLD_SMALL_OUTPUT_BYTES (INT64_C(1) << 20)

/* 1 when node n can be evaluated now; sets *in_bytes and *param. */
static int foldable(const ir_graph *g, const ir_node *n, int64_t *in_bytes, int *param) {
  *in_bytes = 0;
  *param = 0;
  if (n->body) return 0; /* fused nodes are formed after folding */
  if (n->op == IR_OP_SHAPE || n->op == IR_OP_SIZE) {
    /* only the input's type is read */
    return n->n_in == 1 && n->in[0] >= 0 && g->values[n->in[0]].typed;
  }
  for (int k = 0; k < n->n_in; k++) {
    int v = n->in[k];
    if (v < 0) continue; /* an absent optional input */
    if (!pass_const_data(g, v)) return 0;
    *in_bytes += ir_type_nbytes(&g->values[v].type);
    *param |= g->values[v].is_param;
  }
  return 1;
}

/* Evaluates node i and turns its results into constants. Returns 1 when
 * folded, 0 when left alone, or a negative value after an error in d. */
static int fold_node(ir_graph *g, int i, const int *uses, kiln_diag *d) {
  ir_node *n = &g->nodes[i];
  int64_t in_bytes, out_bytes = 0;
  int param, used = 0;
  if (!foldable(g, n, &in_bytes, &param)) return 0;
  for (int j = 0; j < n->n_out; j++) {
    const ir_value *v = &g->values[n->out[j]];
    used |= uses[n->out[j]] > 0;
    if (!v->typed) {
      if (uses[n->out[j]] > 0) KILN_UNREACHABLE(); /* checked by the caller */
      continue;
    }
    if (!ir_dtype_supported(v->type.dtype)) return 0;
    out_bytes += ir_type_nbytes(&v->type);
  }
  if (!used) return 0; /* dead code: dce removes it */
  if (out_bytes > FOLD_SMALL_OUTPUT_BYTES && out_bytes > in_bytes) return 0;

  int n_in = n->n_in, n_out = n->n_out;
  const ir_tensor **in = kiln_xcalloc((size_t)n_in + 1, sizeof(ir_tensor *));
  ir_tensor *in_t = kiln_xcalloc((size_t)n_in + 1, sizeof(ir_tensor));
  ir_tensor **out = kiln_xcalloc((size_t)n_out + 1, sizeof(ir_tensor *));
  ir_tensor *out_t = kiln_xcalloc((size_t)n_out + 1, sizeof(ir_tensor));
  char *scratch = kiln_xcalloc((size_t)n_out + 1, 1); /* heap tensor for an untyped result */
  int rc = 0;
  for (int k = 0; k < n_in; k++) {
    int v = n->in[k];
    if (v < 0) continue;
    in_t[k].type = g->values[v].type;
    in_t[k].data = (void *)pass_const_data(g, v); /* NULL for shape/size: unread */
    in[k] = &in_t[k];
  }
  for (int j = 0; j < n_out && !rc; j++) {
    const ir_value *v = &g->values[n->out[j]];
    out[j] = &out_t[j];
    if (!v->typed) { /* an unused optional result: evaluate into scratch */
      ir_type t = {.dtype = IR_F32, .rank = 0};
      if (ir_tensor_alloc(&out_t[j], &t, d)) rc = -1;
      scratch[j] = 1;
      continue;
    }
    out_t[j].type = v->type;
    /* written straight into graph-owned memory, zeroed as eval expects */
    out_t[j].data = ir_graph_alloc_data_checked(g, (size_t)ir_type_nbytes(&v->type), d);
    if (!out_t[j].data) rc = -1;
  }
  if (!rc) {
    kiln_diag ed;
    kiln_diag_init(&ed);
    if (ir_eval_node(g, n, in, (ir_tensor *const *)out, &ed)) {
      /* an op kiln cannot evaluate stays for the backend; any other failure
       * would fail at run time as well, so it is reported now */
      if (ed.status == KILN_E_UNSUPPORTED) {
        rc = 0;
      } else {
        kiln_diag_error(d, ed.status, "%s", ed.msg);
        kiln_diag_prefix(d, "while folding constants: ");
        rc = -1;
      }
    } else {
      rc = 1;
    }
  }
  if (rc == 1) {
    ir_node_remove(g, i);
    for (int j = 0; j < n_out; j++) {
      ir_value *v = &g->values[g->nodes[i].out[j]];
      v->producer = -1;
      v->producer_slot = 0;
      if (scratch[j]) {
        v->dead = 1;
        continue;
      }
      v->kind = IR_VAL_CONST;
      v->data = out_t[j].data;
      v->src = IR_CSRC_INLINE;
      v->file = NULL;
      v->file_offset = 0;
      memset(&v->init, 0, sizeof v->init);
      v->is_param = param;
      v->offset = -1;
    }
  }
  for (int j = 0; j < n_out; j++)
    if (scratch[j]) ir_tensor_release(&out_t[j]);
  free(in);
  free(in_t);
  free(out);
  free(out_t);
  free(scratch);
  return rc;
}

/* A node with an operand-given attribute whose operand is now constant:
 * resolve it (infer-shapes does this for operands known before folding).
 * Sets *done when it did. */
static int resolve_operands(ir_graph *g, int i, int *done, kiln_diag *d) {
  const ir_node *n = &g->nodes[i];
  const ir_op_info *info = ir_op_get(n->op);
  int pending = 0;
  for (int a = 0; a < info->n_attrs; a++) {
    int k = info->attrs[a].operand;
    if (k < 0 || !ir_node_has_input(n, k)) continue;
    if (!pass_const_data(g, n->in[k])) return 0; /* not all known yet */
    pending = 1;
  }
  if (!pending) return 0;
  int n_out = n->n_out;
  ir_type *before = kiln_xmalloc(sizeof(ir_type) * ((size_t)n_out + 1));
  for (int j = 0; j < n_out; j++) {
    before[j] = g->values[n->out[j]].type;
    if (!g->values[n->out[j]].typed) before[j].rank = -1; /* nothing to compare */
  }
  int rc = ir_infer_node(g, i, d);
  if (!rc) (*done)++;
  n = &g->nodes[i];
  for (int j = 0; j < n_out && !rc; j++) {
    const ir_value *v = &g->values[n->out[j]];
    if (before[j].rank >= 0 && v->typed && !ir_type_equal(&before[j], &v->type)) {
      char a[256], b[256];
      rc = ir_node_error(d, g, n, "'%s' is declared as %s but is %s", v->name,
                         ir_type_str(&before[j], a, sizeof a), ir_type_str(&v->type, b, sizeof b));
    }
  }
  free(before);
  return rc;
}

int pass_fold_constants(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  /* typed graph: every value a live node reads */
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && !g->values[n->in[k]].typed)
        return kiln_diag_error(d, KILN_E_USAGE,
                               "%s: fold-constants needs a typed graph, but '%s' has no type; "
                               "run infer-shapes first",
                               g->source, g->values[n->in[k]].name);
  }
  for (int k = 0; k < g->n_outputs; k++)
    if (!g->values[g->outputs[k]].typed)
      return kiln_diag_error(d, KILN_E_USAGE,
                             "%s: fold-constants needs a typed graph, but output '%s' has no "
                             "type; run infer-shapes first",
                             g->source, g->values[g->outputs[k]].name);
  int *uses = kiln_xcalloc((size_t)g->n_values + 1, sizeof(int));
  ir_count_uses(g, uses);
  int rc = 0, folded = 0, resolved = 0;
  int nn = g->n_nodes; /* folding adds no nodes */
  for (int i = 0; i < nn && !rc; i++) {
    if (g->nodes[i].dead) continue;
    int r = fold_node(g, i, uses, d);
    if (r < 0) rc = d->status ? d->status : KILN_E_INTERNAL;
    else if (r > 0) folded++;
    else rc = resolve_operands(g, i, &resolved, d);
  }
  free(uses);
  ctx->changes += folded + resolved;
  if (!rc && (folded || resolved)) ir_graph_compact(g);
  return rc;
}

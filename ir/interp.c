/* Reference interpreter: runs nodes one by one in node order over heap
 * tensors, freeing each intermediate after its last use. Simple on purpose:
 * it is the oracle every backend is checked against. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

int ir_eval_node(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                 ir_tensor *const *out, kiln_diag *d) {
  return ir_op_get(n->op)->eval(g, n, in, out, d);
}

int ir_interp_run(const ir_graph *g, const ir_tensor *inputs, ir_tensor *outputs, kiln_diag *d) {
  int nv = g->n_values;
  ir_tensor *vals = kiln_xcalloc((size_t)nv + 1, sizeof(ir_tensor));
  char *owned = kiln_xcalloc((size_t)nv + 1, 1);
  char *ready = kiln_xcalloc((size_t)nv + 1, 1);
  int *uses = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  int rc = KILN_OK;
  ir_count_uses(g, uses);

  for (int i = 0; i < g->n_inputs && !rc; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (!ir_type_equal(&inputs[i].type, &v->type)) {
      char a[256], b[256];
      rc = kiln_diag_error(d, KILN_E_USAGE, "%s: input '%s' must be %s, got %s", g->source,
                           v->name, ir_type_str(&v->type, a, sizeof a),
                           ir_type_str(&inputs[i].type, b, sizeof b));
      break;
    }
    vals[g->inputs[i]] = inputs[i];
    ready[g->inputs[i]] = 1;
  }
  for (int v = 0; v < nv && !rc; v++) {
    const ir_value *val = &g->values[v];
    if (val->kind != IR_VAL_CONST || val->dead) continue;
    if (!val->data) {
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: constant '%s' has no data (elided)",
                           g->source, val->name);
      break;
    }
    vals[v].type = val->type;
    vals[v].data = val->data;
    ready[v] = 1;
  }

  const ir_tensor **in = kiln_xmalloc(sizeof(ir_tensor *) * (IR_MAX_NODE_INPUTS + 1));
  ir_tensor **out = kiln_xmalloc(sizeof(ir_tensor *) * (IR_MAX_NODE_OUTPUTS + 1));
  for (int i = 0; i < g->n_nodes && !rc; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v >= 0) KILN_ASSERT(ready[v]);
      in[k] = v >= 0 ? &vals[v] : NULL;
    }
    for (int j = 0; j < n->n_out && !rc; j++) {
      int v = n->out[j];
      const ir_value *val = &g->values[v];
      if (!val->typed) {
        /* an unused optional output without a type */
        KILN_ASSERT(uses[v] == 0);
        ir_type t = {.dtype = IR_F32, .rank = 0};
        rc = ir_tensor_alloc(&vals[v], &t, d);
      } else {
        rc = ir_tensor_alloc(&vals[v], &val->type, d);
      }
      owned[v] = 1;
      ready[v] = 1;
      out[j] = &vals[v];
    }
    if (rc) break;
    rc = ir_eval_node(g, n, in, out, d);
    if (rc) break;
    /* release what is no longer needed */
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v >= 0 && --uses[v] == 0 && owned[v]) {
        ir_tensor_release(&vals[v]);
        owned[v] = 0;
      }
    }
    for (int j = 0; j < n->n_out; j++) {
      int v = n->out[j];
      if (uses[v] == 0 && owned[v]) {
        ir_tensor_release(&vals[v]);
        owned[v] = 0;
      }
    }
  }
  free(in);
  free(out);

  int n_done = 0;
  for (int j = 0; j < g->n_outputs && !rc; j++) {
    int v = g->outputs[j];
    KILN_ASSERT(ready[v]);
    rc = ir_tensor_alloc(&outputs[j], &vals[v].type, d);
    if (rc) break;
    memcpy(outputs[j].data, vals[v].data, (size_t)ir_type_nbytes(&vals[v].type));
    n_done++;
  }
  if (rc)
    for (int j = 0; j < n_done; j++) ir_tensor_release(&outputs[j]);
  for (int v = 0; v < nv; v++)
    if (owned[v]) ir_tensor_release(&vals[v]);
  free(vals);
  free(owned);
  free(ready);
  free(uses);
  return rc;
}

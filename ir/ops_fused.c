/* The fused op (ops.def, "fusion"): a kernel formed by the fuse pass. Its
 * body graph (ir_node.body) is the computation: inference infers the body
 * from the node's input types and takes its output types, and the
 * reference evaluation interprets the body, so a fused graph stays
 * checkable against the interpreter like any other. */
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"

/* The body's inputs take the node's input types; a body input that already
 * has another type is an error (the body was made for other shapes). */
int infer_fused(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_graph *b = n->body;
  if (!b) return ir_node_error(d, g, n, "a fused node needs a body (graph NAME { ... })");
  if (b->n_inputs != n->n_in || b->n_outputs != n->n_out)
    return ir_node_error(d, g, n, "has %d inputs and %d results but its body %d and %d", n->n_in,
                         n->n_out, b->n_inputs, b->n_outputs);
  char x[256], y[256];
  for (int k = 0; k < n->n_in; k++) {
    const ir_type *t = ir_in_type(g, n, k);
    ir_value *bi = &b->values[b->inputs[k]];
    if (bi->typed && !ir_type_equal(&bi->type, t))
      return ir_node_error(d, g, n, "input %d is %s but its body takes %s", k,
                           ir_type_str(t, x, sizeof x), ir_type_str(&bi->type, y, sizeof y));
    bi->type = *t;
    bi->typed = 1;
  }
  int rc = ir_infer_shapes(b, d);
  if (rc) {
    kiln_diag_prefix(d, "in the body of fused node '%s': ", n->name);
    return rc;
  }
  for (int j = 0; j < n->n_out; j++) {
    const ir_value *bo = &b->values[b->outputs[j]];
    if (!bo->typed)
      return ir_node_error(d, g, n, "the type of body result '%s' cannot be inferred", bo->name);
    *ir_out_type(g, n, j) = bo->type;
  }
  return KILN_OK;
}

int eval_fused(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  const ir_graph *b = n->body;
  KILN_ASSERT(b && b->n_inputs == n->n_in && b->n_outputs == n->n_out);
  ir_tensor *ins = kiln_xcalloc((size_t)n->n_in + 1, sizeof(ir_tensor));
  ir_tensor *res = kiln_xcalloc((size_t)n->n_out + 1, sizeof(ir_tensor));
  for (int k = 0; k < n->n_in; k++) ins[k] = *in[k];
  int rc = ir_interp_run(b, ins, res, d);
  if (rc) {
    kiln_diag_prefix(d, "in the body of fused node '%s': ", n->name);
  } else {
    for (int j = 0; j < n->n_out; j++) {
      KILN_ASSERT(ir_type_equal(&res[j].type, &out[j]->type));
      size_t nb = (size_t)ir_type_nbytes(&res[j].type);
      if (nb) memcpy(out[j]->data, res[j].data, nb);
      ir_tensor_release(&res[j]);
    }
  }
  free(ins);
  free(res);
  return rc;
}

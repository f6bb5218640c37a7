/* STUB: replaced by the real implementations. */
#include "ops_impl.h"

int infer_unary(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_unary(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_logical_not(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_is_class(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_cast(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_cast(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_identity(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_identity(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_binary(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_binary(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_pow(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_prelu(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_compare(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_logical(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_where(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_where(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

/* STUB: replaced by the real implementations. */
#include "ops_impl.h"

int infer_reduce(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_reduce(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_arg_reduce(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_arg_reduce(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_cumsum(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_softmax(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_norm(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_layer_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_batch_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_instance_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_group_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_rms_norm(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_lp_normalization(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

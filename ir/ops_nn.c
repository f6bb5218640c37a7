/* STUB: replaced by the real implementations. */
#include "ops_impl.h"

int infer_matmul(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_matmul(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_conv(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_conv(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_conv_transpose(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_conv_transpose(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_pool(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_max_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_avg_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_lp_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_global_pool(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int eval_global_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_lrn(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

/* STUB: replaced by the real implementations. */
#include "ops_impl.h"

int eval_concat(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_constant_of_shape(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_depth_to_space(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_expand(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_gather(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_gather_elements(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_gather_nd(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_one_hot(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_pad(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_range(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_resize(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_shape(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_size(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_slice(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_space_to_depth(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_split(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_tile(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_transpose(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int eval_trilu(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
         ir_tensor *const *out, kiln_diag *d) {
  (void)in; (void)out;
  return ir_node_error(d, g, n, "not implemented");
}

int infer_concat(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_constant_of_shape(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_depth_to_space(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_expand(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_flatten(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_gather(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_gather_elements(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_gather_nd(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_one_hot(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_pad(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_range(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_reshape(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_resize(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_shape(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_size(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_slice(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_space_to_depth(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_split(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_squeeze(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_tile(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_transpose(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

int infer_unsqueeze(ir_graph *g, ir_node *n, kiln_diag *d) {
  return ir_node_error(d, g, n, "not implemented");
}

/* infer-shapes: static shapes and dtypes for every value.
 *
 * Requires: a verified graph in topological node order (types may be missing
 * on node results). Guarantees: every node result is typed (except unused
 * optional results the op does not produce), operand-given attributes
 * (schema `@N`) are resolved into attributes and their operand slots are
 * cleared, and every result type written in the input (a value typed before
 * the pass) equals the inferred one; otherwise an error names the value.
 * Bodies of fused nodes are inferred the same way. */
#include <stdlib.h>

#include "passes/pass.h"

int pass_infer_shapes(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  int nv = g->n_values;
  /* declared[v]: v is a node result that was typed before inference */
  char *declared = kiln_xcalloc((size_t)nv + 1, 1);
  ir_type *decl = kiln_xmalloc(sizeof(ir_type) * ((size_t)nv + 1));
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->n_out; j++) {
      ir_value *v = &g->values[n->out[j]];
      if (!v->typed) continue;
      declared[n->out[j]] = 1;
      decl[n->out[j]] = v->type;
      /* untyped while inferring: an op that leaves a result alone shows up */
      v->typed = 0;
    }
  }
  int rc = ir_infer_shapes(g, d);
  if (rc) /* give back the declared types that inference did not reach */
    for (int v = 0; v < nv; v++)
      if (declared[v] && !g->values[v].typed) {
        g->values[v].typed = 1;
        g->values[v].type = decl[v];
      }
  for (int i = 0; i < g->n_nodes && !rc; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->n_out && !rc; j++) {
      int v = n->out[j];
      ir_value *val = &g->values[v];
      if (!declared[v] || (val->typed && ir_type_equal(&val->type, &decl[v]))) continue;
      char a[256], b[256], desc[IR_MAX_NAME + 128];
      if (!val->typed)
        rc = kiln_diag_error(d, KILN_E_INVALID,
                             "%s: %s: '%s' is declared as %s but its type cannot be inferred",
                             g->source, ir_node_desc(g, n, desc, sizeof desc), val->name,
                             ir_type_str(&decl[v], a, sizeof a));
      else
        rc = kiln_diag_error(d, KILN_E_INVALID, "%s: %s: '%s' is declared as %s but is %s",
                             g->source, ir_node_desc(g, n, desc, sizeof desc), val->name,
                             ir_type_str(&decl[v], a, sizeof a),
                             ir_type_str(&val->type, b, sizeof b));
    }
  }
  free(declared);
  free(decl);
  /* fused nodes' bodies are graphs of their own; the verifier checks them
   * the same way */
  for (int i = 0; i < g->n_nodes && !rc; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || !n->body) continue;
    rc = pass_infer_shapes(n->body, ctx, d);
    if (rc) kiln_diag_prefix(d, "in the body of fused node '%s': ", n->name);
  }
  return rc;
}

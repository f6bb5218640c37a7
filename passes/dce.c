/* dce: dead-code elimination.
 *
 * Requires: a verified graph in topological node order (types not needed).
 * Guarantees: every remaining node has a result that some graph output
 * depends on; the graph is compacted (dead nodes and values no node or
 * output refers to are dropped, unused constants included, ids renumbered).
 * Graph inputs stay even when unused: they are the model's signature. */
#include <stdlib.h>

#include "passes/pass.h"

int pass_dce(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  char *needed = kiln_xcalloc((size_t)g->n_values + 1, 1);
  for (int i = 0; i < g->n_outputs; i++) needed[g->outputs[i]] = 1;
  int removed = 0;
  /* producers come before consumers, so one backward sweep sees every use
   * of a node's results before the node itself */
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    int live = 0;
    for (int j = 0; j < n->n_out && !live; j++) live = needed[n->out[j]];
    if (!live) {
      ir_node_remove(g, i);
      removed++;
      continue;
    }
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) needed[n->in[k]] = 1;
  }
  free(needed);
  ctx->changes += removed;
  ir_graph_compact(g);
  (void)d;
  return KILN_OK;
}

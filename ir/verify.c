/* Graph verifier: structural invariants every pass must preserve. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static int check_attr_kind(const ir_graph *g, const ir_node *n, const ir_attr *a,
                           kiln_diag *d) {
  const ir_attr_schema *s = ir_op_attr_schema(n->op, a->name);
  if (!s) return ir_node_error(d, g, n, "unknown attribute '%s'", a->name);
  if (s->kind != a->kind)
    return ir_node_error(d, g, n, "attribute '%s' must be %s, not %s", a->name,
                         ir_attr_kind_name(s->kind), ir_attr_kind_name(a->kind));
  if (s->is_dtype && (a->i < 0 || a->i >= IR_DTYPE_COUNT))
    return ir_node_error(d, g, n, "attribute '%s' is not a dtype", a->name);
  return KILN_OK;
}

/* Is input slot k of node n allowed to be absent? Slots below min_in are
 * required unless an attribute given as that operand is present. */
static int slot_may_be_absent(const ir_node *n, const ir_op_info *info, int k) {
  if (k >= info->min_in) return 1;
  for (int i = 0; i < info->n_attrs; i++)
    if (info->attrs[i].operand == k && ir_attr_find(n, info->attrs[i].name)) return 1;
  return 0;
}

/* A fused node has a body whose inputs and outputs match its own, in
 * number and, where both are typed, in type. */
static int check_fused(const ir_graph *g, const ir_node *n, kiln_diag *d) {
  const ir_graph *b = n->body;
  if (!b) return ir_node_error(d, g, n, "a fused node needs a body (graph NAME { ... })");
  if (b->n_inputs != n->n_in)
    return ir_node_error(d, g, n, "has %d inputs but its body takes %d", n->n_in, b->n_inputs);
  if (b->n_outputs != n->n_out)
    return ir_node_error(d, g, n, "has %d results but its body gives %d", n->n_out,
                         b->n_outputs);
  char x[256], y[256];
  for (int k = 0; k < n->n_in; k++) {
    if (n->in[k] < 0) return ir_node_error(d, g, n, "input %d is required", k);
    if (n->in[k] >= g->n_values || b->inputs[k] < 0 || b->inputs[k] >= b->n_values) continue;
    const ir_value *o = &g->values[n->in[k]], *i = &b->values[b->inputs[k]];
    if (o->typed && i->typed && !ir_type_equal(&o->type, &i->type))
      return ir_node_error(d, g, n, "input %d is %s but its body takes %s", k,
                           ir_type_str(&o->type, x, sizeof x), ir_type_str(&i->type, y, sizeof y));
  }
  for (int j = 0; j < n->n_out; j++) {
    if (n->out[j] < 0 || n->out[j] >= g->n_values || b->outputs[j] < 0 ||
        b->outputs[j] >= b->n_values)
      continue;
    const ir_value *o = &g->values[n->out[j]], *i = &b->values[b->outputs[j]];
    if (o->typed && i->typed && !ir_type_equal(&o->type, &i->type))
      return ir_node_error(d, g, n, "result %d is %s but its body gives %s", j,
                           ir_type_str(&o->type, x, sizeof x), ir_type_str(&i->type, y, sizeof y));
  }
  return KILN_OK;
}

int ir_verify(const ir_graph *g, int require_types, kiln_diag *d) {
  int nv = g->n_values;
  char *defined = kiln_xcalloc((size_t)nv + 1, 1);
  char *is_input = kiln_xcalloc((size_t)nv + 1, 1);
  int rc = KILN_OK;
  char what[IR_MAX_NAME + 64];

  for (int i = 0; i < g->n_inputs && !rc; i++) {
    int v = g->inputs[i];
    if (v < 0 || v >= nv) {
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: graph input %d has a bad id", g->source, i);
      break;
    }
    if (is_input[v])
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: '%s' is listed twice as a graph input",
                           g->source, g->values[v].name);
    else if (g->values[v].kind != IR_VAL_INPUT)
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: graph input '%s' is not an input value",
                           g->source, g->values[v].name);
    is_input[v] = 1;
  }
  for (int v = 0; v < nv && !rc; v++) {
    const ir_value *val = &g->values[v];
    if (val->dead) continue;
    if (!val->name || !*val->name)
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: value %d has no name", g->source, v);
    else if (ir_value_find(g, val->name) != v)
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: value name '%s' is not unique", g->source,
                           val->name);
    else if (val->kind == IR_VAL_INPUT && !is_input[v])
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: input '%s' is not in the input list",
                           g->source, val->name);
    else if (val->kind != IR_VAL_NODE && !val->typed)
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: '%s' has no type", g->source, val->name);
    else if (val->kind == IR_VAL_CONST && !val->data && val->src != IR_CSRC_ELIDED)
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: constant '%s' has no data", g->source,
                           val->name);
    else if (require_types && !val->typed)
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: '%s' has no inferred type", g->source,
                           val->name);
    if (!rc && val->typed) {
      snprintf(what, sizeof what, "%s: '%s'", g->source, val->name);
      rc = ir_type_check(&val->type, d, what);
    }
    if (val->kind != IR_VAL_NODE) defined[v] = 1;
  }

  for (int i = 0; i < g->n_nodes && !rc; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    if ((unsigned)n->op >= IR_OP_COUNT) {
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: node %d has a bad op", g->source, i);
      break;
    }
    const ir_op_info *info = ir_op_get(n->op);
    int max_in = info->max_in < 0 ? IR_MAX_NODE_INPUTS : info->max_in;
    int max_out = info->max_out < 0 ? IR_MAX_NODE_OUTPUTS : info->max_out;
    if (n->n_in > max_in || (n->n_in < info->min_in && !slot_may_be_absent(n, info, n->n_in))) {
      rc = ir_node_error(d, g, n, "takes %d to %d inputs, not %d", info->min_in, max_in, n->n_in);
      break;
    }
    if (n->n_out < info->min_out || n->n_out > max_out) {
      rc = ir_node_error(d, g, n, "has %d to %d outputs, not %d", info->min_out, max_out,
                         n->n_out);
      break;
    }
    for (int k = 0; k < info->min_in && !rc; k++)
      if ((k >= n->n_in || n->in[k] < 0) && !slot_may_be_absent(n, info, k))
        rc = ir_node_error(d, g, n, "input %d is required", k);
    for (int k = 0; k < n->n_in && !rc; k++) {
      int v = n->in[k];
      if (v < 0) continue;
      if (v >= nv || g->values[v].dead)
        rc = ir_node_error(d, g, n, "input %d refers to a missing value", k);
      else if (!defined[v])
        rc = ir_node_error(d, g, n, "uses '%s' before its definition (or in a cycle)",
                           g->values[v].name);
    }
    for (int k = 0; k < n->n_attrs && !rc; k++) rc = check_attr_kind(g, n, &n->attrs[k], d);
    for (int k = 0; k < info->n_attrs && !rc; k++) {
      const ir_attr_schema *s = &info->attrs[k];
      if (s->required && !ir_attr_find(n, s->name) &&
          !(s->operand >= 0 && ir_node_has_input(n, s->operand)))
        rc = ir_node_error(d, g, n, "attribute '%s' is required", s->name);
    }
    for (int k = 0; k < n->n_out && !rc; k++) {
      int v = n->out[k];
      if (v < 0 || v >= nv || g->values[v].dead) {
        rc = ir_node_error(d, g, n, "output %d refers to a missing value", k);
      } else if (defined[v] || g->values[v].kind != IR_VAL_NODE ||
                 g->values[v].producer != i || g->values[v].producer_slot != k) {
        rc = ir_node_error(d, g, n, "'%s' is defined more than once", g->values[v].name);
      }
      if (!rc) defined[v] = 1;
    }
    if (!rc && n->op == IR_OP_FUSED) rc = check_fused(g, n, d);
    if (!rc && n->body) {
      rc = ir_verify(n->body, require_types, d);
      if (rc) kiln_diag_prefix(d, "in the body of fused node '%s': ", n->name);
    }
  }
  for (int i = 0; i < g->n_outputs && !rc; i++) {
    int v = g->outputs[i];
    if (v < 0 || v >= nv || !defined[v])
      rc = kiln_diag_error(d, KILN_E_INVALID, "%s: graph output %d ('%s') is never defined",
                           g->source, i, (v >= 0 && v < nv) ? g->values[v].name : "?");
  }
  if (!rc && g->n_outputs == 0)
    rc = kiln_diag_error(d, KILN_E_INVALID, "%s: the graph has no outputs", g->source);
  free(defined);
  free(is_input);
  return rc;
}

/* Shape inference driver, and compile-time evaluation of the values that
 * decide shapes (operands the schema marks `@N`). */
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"

#define MAX_CONST_EVAL_DEPTH 4096

/* Budgets of one compile-time evaluation (ir_try_const_eval). Values that
 * decide shapes are small; without a bound, a tiny model could make the
 * compiler allocate and compute without end (constant_of_shape of a huge
 * shape, a big matmul feeding a reduce that gives a reshape's shape).
 *   elements: over the nodes evaluated, the elements of their inputs and
 *             outputs (bounds memory: outputs are kept, inputs widened);
 *   work:     elements times the work per element of contractions, pools,
 *             LRN, resize and fused bodies (bounds time).
 * Going over is an error (KILN_E_UNSUPPORTED) naming the value. */
#define CONST_EVAL_MAX_ELEMS ((double)(1 << 24))
#define CONST_EVAL_MAX_WORK ((double)(1 << 28))

typedef struct {
  ir_graph *g;
  ir_tensor *memo;  /* per value id */
  char *state;      /* 0 unknown, 1 evaluated, 2 not constant */
  kiln_diag *d;
  double elems, work; /* spent so far, against the budgets above */
} ceval;

static int ceval_value(ceval *c, int v, int depth);

static double numel_of(const ir_graph *g, int v) {
  return v >= 0 && g->values[v].typed ? (double)ir_type_numel(&g->values[v].type) : 0.0;
}

/* Estimated work of evaluating node n (its values typed): elements read and
 * written, times the taps per element where an op has more than one. Also
 * adds the node's elements to *elems. Doubles: no overflow. */
static double node_cost(const ir_graph *g, const ir_node *n, double *elems, int depth) {
  double in = 0, out = 0;
  for (int k = 0; k < n->n_in; k++)
    if (n->op != IR_OP_SHAPE && n->op != IR_OP_SIZE) in += numel_of(g, n->in[k]);
  for (int j = 0; j < n->n_out; j++) out += numel_of(g, n->out[j]);
  *elems += in + out;
  double taps = 1;
  const ir_type *w = n->n_in > 1 && n->in[1] >= 0 ? &g->values[n->in[1]].type : NULL;
  const ir_type *x = n->n_in > 0 && n->in[0] >= 0 ? &g->values[n->in[0]].type : NULL;
  switch (n->op) {
  case IR_OP_MATMUL:
    if (x && x->rank > 0) taps = (double)x->dims[x->rank - 1];
    break;
  case IR_OP_CONV:
  case IR_OP_CONV_TRANSPOSE: /* per output (conv) or input (transpose) element */
    if (w && w->rank > 0)
      taps = (double)ir_type_numel(w) / (w->dims[0] > 0 ? (double)w->dims[0] : 1.0);
    if (n->op == IR_OP_CONV_TRANSPOSE) out += numel_of(g, n->in[0]);
    break;
  case IR_OP_MAX_POOL:
  case IR_OP_AVG_POOL:
  case IR_OP_LP_POOL: {
    const ir_attr *a = ir_attr_find(n, "kernel_shape");
    for (int i = 0; a && i < a->n; i++) taps *= a->ints[i] > 1 ? (double)a->ints[i] : 1;
    break;
  }
  case IR_OP_LRN: {
    const ir_attr *a = ir_attr_find(n, "size");
    if (a && a->i > 1) taps = (double)a->i;
    break;
  }
  case IR_OP_RESIZE: /* up to 4 taps per axis (cubic) */
    if (x) taps = (double)(1 << (2 * (x->rank < IR_MAX_RANK ? x->rank : IR_MAX_RANK)));
    break;
  case IR_OP_FUSED: /* the body's nodes */
    if (n->body && depth < 16)
      for (int i = 0; i < n->body->n_nodes; i++)
        if (!n->body->nodes[i].dead)
          in += node_cost(n->body, &n->body->nodes[i], elems, depth + 1);
    break;
  default: break;
  }
  return in + out * taps;
}

static int ceval_node(ceval *c, int node, int depth) {
  ir_graph *g = c->g;
  ir_node *n = &g->nodes[node];
  const ir_op_info *info = ir_op_get(n->op);
  for (int j = 0; j < n->n_out; j++)
    if (!g->values[n->out[j]].typed) return 0;
  c->work += node_cost(g, n, &c->elems, 0);
  if (c->elems > CONST_EVAL_MAX_ELEMS || c->work > CONST_EVAL_MAX_WORK) {
    char desc[IR_MAX_NAME + 128];
    kiln_diag_error(c->d, KILN_E_UNSUPPORTED,
                    "%s: %s: evaluating it at compile time to decide a shape would take more "
                    "than %.0f elements or %.0f operations; kiln evaluates only small values "
                    "there",
                    g->source, ir_node_desc(g, n, desc, sizeof desc), CONST_EVAL_MAX_ELEMS,
                    CONST_EVAL_MAX_WORK);
    return -1;
  }
  const ir_tensor *ins[IR_MAX_NODE_INPUTS > 64 ? 64 : IR_MAX_NODE_INPUTS];
  const ir_tensor **in = n->n_in > 64 ? kiln_xmalloc(sizeof(ir_tensor *) * (size_t)n->n_in)
                                      : ins;
  ir_tensor shape_only;
  int rc = 1;
  for (int k = 0; k < n->n_in && rc == 1; k++) {
    int v = n->in[k];
    if (v < 0) {
      in[k] = NULL;
      continue;
    }
    if ((n->op == IR_OP_SHAPE || n->op == IR_OP_SIZE) && g->values[v].typed) {
      /* only the type of the input matters */
      shape_only.type = g->values[v].type;
      shape_only.data = NULL;
      in[k] = &shape_only;
      continue;
    }
    rc = ceval_value(c, v, depth + 1);
    in[k] = rc == 1 ? &c->memo[v] : NULL;
  }
  if (rc == 1) {
    ir_tensor *outs[64];
    ir_tensor **out = n->n_out > 64 ? kiln_xmalloc(sizeof(ir_tensor *) * (size_t)n->n_out)
                                    : outs;
    for (int j = 0; j < n->n_out && rc == 1; j++) {
      int v = n->out[j];
      if (ir_tensor_alloc(&c->memo[v], &g->values[v].type, c->d)) rc = -1;
      out[j] = &c->memo[v];
      c->state[v] = 1;
    }
    if (rc == 1 && info->eval(g, n, (const ir_tensor *const *)in, (ir_tensor *const *)out, c->d))
      rc = -1;
    if (out != outs) free(out);
  }
  if (in != ins) free(in);
  return rc;
}

static int ceval_value(ceval *c, int v, int depth) {
  if (c->state[v] == 1) return 1;
  if (c->state[v] == 2) return 0;
  ir_graph *g = c->g;
  ir_value *val = &g->values[v];
  if (depth > MAX_CONST_EVAL_DEPTH)
    return kiln_diag_error(c->d, KILN_E_UNSUPPORTED,
                           "%s: computation of '%s' is nested too deeply to evaluate", g->source,
                           val->name),
           -1;
  if (val->kind == IR_VAL_CONST) {
    if (!val->data) {
      c->state[v] = 2;
      return 0;
    }
    c->memo[v].type = val->type;
    c->memo[v].data = val->data; /* borrowed */
    c->state[v] = 1;
    return 1;
  }
  if (val->kind == IR_VAL_INPUT || val->producer < 0) {
    c->state[v] = 2;
    return 0;
  }
  int rc = ceval_node(c, val->producer, depth);
  if (rc == 0) c->state[v] = 2;
  return rc;
}

int ir_try_const_eval(ir_graph *g, int v, ir_tensor *out, kiln_diag *d) {
  ceval c = {g, kiln_xcalloc((size_t)g->n_values + 1, sizeof(ir_tensor)),
             kiln_xcalloc((size_t)g->n_values + 1, 1), d, 0, 0};
  int rc = ceval_value(&c, v, 0);
  if (rc == 1) {
    if (ir_tensor_alloc(out, &c.memo[v].type, d)) rc = -1;
    else memcpy(out->data, c.memo[v].data, (size_t)ir_type_nbytes(&out->type));
  }
  for (int i = 0; i < g->n_values; i++)
    if (c.state[i] == 1 && g->values[i].kind != IR_VAL_CONST) ir_tensor_release(&c.memo[i]);
  free(c.memo);
  free(c.state);
  return rc;
}

/* A graph input that v depends on (for messages), or -1. */
static int find_input_dep(const ir_graph *g, int v, char *seen, int depth) {
  if (v < 0 || seen[v] || depth > MAX_CONST_EVAL_DEPTH) return -1;
  seen[v] = 1;
  const ir_value *val = &g->values[v];
  if (val->kind == IR_VAL_INPUT) return v;
  if (val->producer < 0) return -1;
  const ir_node *n = &g->nodes[val->producer];
  if (n->op == IR_OP_SHAPE || n->op == IR_OP_SIZE) return -1;
  for (int k = 0; k < n->n_in; k++) {
    int r = find_input_dep(g, n->in[k], seen, depth + 1);
    if (r >= 0) return r;
  }
  return -1;
}

/* Turns the compile-time value t into attribute s of node `node`. */
static int set_operand_attr(ir_graph *g, int node, const ir_attr_schema *s, const ir_tensor *t,
                            kiln_diag *d) {
  ir_node *n = &g->nodes[node];
  int64_t numel = ir_type_numel(&t->type);
  int isf = ir_dtype_is_float(t->type.dtype);
  switch (s->kind) {
  case IR_ATTR_INT:
  case IR_ATTR_FLOAT:
    if (numel != 1)
      return ir_node_error(d, g, n, "input %d gives '%s' and must hold one value, not %lld",
                           s->operand, s->name, (long long)numel);
    if (s->kind == IR_ATTR_INT) {
      int64_t iv;
      if (isf) {
        double fv = ir_tensor_get_f(t, 0);
        if (!(fv >= -0x1p62 && fv <= 0x1p62)) /* also rejects NaN */
          return ir_node_error(d, g, n, "input %d gives '%s' = %g, not a usable integer",
                               s->operand, s->name, fv);
        iv = (int64_t)fv;
      } else {
        iv = ir_tensor_get_i(t, 0);
      }
      ir_set_int(g, node, s->name, iv);
    } else
      ir_set_float(g, node, s->name, ir_tensor_get_f(t, 0));
    break;
  case IR_ATTR_INTS: {
    if (t->type.rank > 1)
      return ir_node_error(d, g, n, "input %d gives '%s' and must be a vector", s->operand,
                           s->name);
    if (isf)
      return ir_node_error(d, g, n, "input %d gives '%s' and must hold integers", s->operand,
                           s->name);
    if (numel > IR_MAX_NODE_INPUTS)
      return ir_node_error(d, g, n, "input %d gives '%s' with too many values (%lld)",
                           s->operand, s->name, (long long)numel);
    int64_t *v = kiln_xmalloc(sizeof(int64_t) * (size_t)(numel + 1));
    for (int64_t i = 0; i < numel; i++) v[i] = ir_tensor_get_i(t, i);
    ir_set_ints(g, node, s->name, v, (int)numel);
    free(v);
    break;
  }
  case IR_ATTR_FLOATS: {
    if (t->type.rank > 1 || numel > IR_MAX_NODE_INPUTS)
      return ir_node_error(d, g, n, "input %d gives '%s' and must be a short vector",
                           s->operand, s->name);
    double *v = kiln_xmalloc(sizeof(double) * (size_t)(numel + 1));
    for (int64_t i = 0; i < numel; i++) v[i] = ir_tensor_get_f(t, i);
    ir_set_floats(g, node, s->name, v, (int)numel);
    free(v);
    break;
  }
  case IR_ATTR_TENSOR: ir_set_tensor(g, node, s->name, t); break;
  default: KILN_UNREACHABLE();
  }
  return KILN_OK;
}

/* Resolves operand-given attributes of a node. */
static int resolve_operands(ir_graph *g, int node, kiln_diag *d) {
  const ir_op_info *info = ir_op_get(g->nodes[node].op);
  int resolved_dtype = -1;
  for (int i = 0; i < info->n_attrs; i++) {
    const ir_attr_schema *s = &info->attrs[i];
    ir_node *n = &g->nodes[node];
    if (s->operand < 0 || !ir_node_has_input(n, s->operand)) continue;
    int v = n->in[s->operand];
    ir_tensor t;
    int r = ir_try_const_eval(g, v, &t, d);
    if (r < 0) return d->status;
    if (r == 0) {
      char *seen = kiln_xcalloc((size_t)g->n_values + 1, 1);
      int dep = find_input_dep(g, v, seen, 0);
      free(seen);
      if (dep >= 0)
        return kiln_diag_error(
            d, KILN_E_UNSUPPORTED,
            "%s: node '%s' (%s): input %d ('%s') decides '%s' and must be known at compile "
            "time, but it depends on graph input '%s'; bind that input to a value with "
            "--bind %s=FILE",
            g->source, n->name, ir_op_name(n->op), s->operand, g->values[v].name, s->name,
            g->values[dep].name, g->values[dep].name);
      return ir_node_error(d, g, n, "input %d ('%s') decides '%s' and must be known at compile time",
                           s->operand, g->values[v].name, s->name);
    }
    if (resolved_dtype < 0) resolved_dtype = (int)t.type.dtype;
    int rc = set_operand_attr(g, node, s, &t, d);
    ir_tensor_release(&t);
    if (rc) return rc;
    n = &g->nodes[node];
    n->in[s->operand] = -1;
  }
  ir_node *n = &g->nodes[node];
  if (resolved_dtype >= 0)
    for (int i = 0; i < info->n_attrs; i++)
      if (info->attrs[i].is_dtype && !strcmp(info->attrs[i].name, "dtype") &&
          !ir_attr_find(n, "dtype"))
        ir_set_int(g, node, "dtype", resolved_dtype);
  while (n->n_in > 0 && n->in[n->n_in - 1] < 0) n->n_in--;
  return KILN_OK;
}

int ir_infer_node(ir_graph *g, int node, kiln_diag *d) {
  int rc = resolve_operands(g, node, d);
  if (rc) return rc;
  ir_node *n = &g->nodes[node];
  for (int k = 0; k < n->n_in; k++) {
    int v = n->in[k];
    if (v < 0) continue;
    if (!g->values[v].typed)
      return ir_node_error(d, g, n, "input '%s' has no known type", g->values[v].name);
    if (!ir_dtype_supported(g->values[v].type.dtype))
      return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: node '%s' (%s): dtype %s is not supported yet",
                             g->source, n->name, ir_op_name(n->op),
                             ir_dtype_name(g->values[v].type.dtype));
  }
  const ir_op_info *info = ir_op_get(n->op);
  rc = info->infer(g, n, d);
  if (rc) return rc;
  n = &g->nodes[node];
  char what[IR_MAX_NAME + 256], desc[IR_MAX_NAME + 128];
  for (int j = 0; j < n->n_out; j++) {
    ir_value *v = &g->values[n->out[j]];
    if (!v->typed) continue; /* optional outputs may stay untyped if unused */
    snprintf(what, sizeof what, "%s: %s: output '%s'", g->source,
             ir_node_desc(g, n, desc, sizeof desc), v->name);
    rc = ir_type_check(&v->type, d, what);
    if (rc) {
      v->typed = 0; /* a typed value always has a valid type, even after an error */
      return rc;
    }
  }
  return KILN_OK;
}

int ir_infer_shapes(ir_graph *g, kiln_diag *d) {
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead) continue;
    int rc = ir_infer_node(g, i, d);
    if (rc) return rc;
  }
  return KILN_OK;
}

/* fuse: groups nodes into kernels and replaces each group by one `fused`
 * node carrying the group as its body graph (ops.def, "fusion").
 *
 * Requires: a typed, verified graph in topological node order (run after
 * infer-shapes and the clean-ups). Guarantees: a typed, verified graph in
 * topological order that computes the same outputs (each fused node's body
 * is the ops it replaced, so the interpreter gives the same results), in
 * which every fused node is one of the kernels below; deterministic (the
 * node order decides every choice).
 *
 * 1. Rewrites. Decomposed normalisations, as ONNX exports of older opsets
 *    write them, become the single op (docs/passes.md has the patterns):
 *      layer norm  reduce_mean, sub, pow 2 (or mul), reduce_mean, add eps,
 *                  sqrt, div (or reciprocal and mul), [mul scale], [add bias]
 *      rms norm    pow 2 (or mul), reduce_mean, add eps, sqrt, div (or
 *                  reciprocal and mul), [mul scale]
 *      softmax     [reduce_max, sub], exp, reduce_sum, div
 *    Every intermediate must have no other use.
 * 2. Groups, formed in node order (an "elementwise op" is a single-result
 *    node of class ELEMWISE or BROADCAST that is not a view):
 *    - contraction: a matmul, conv or conv_transpose and the elementwise
 *      ops after it (bias, activation, residual add, clip, ...) whose
 *      result has the contraction's type (its epilogue);
 *    - reduction: a float reduce_*, softmax, log_softmax, layer_norm (one
 *      result) or rms_norm, the elementwise ops that compute its input and
 *      have no other use (its prologue, of the input's shape), and the
 *      elementwise ops after it of its result's shape (its epilogue);
 *    - elementwise: the remaining elementwise ops, chained producer to
 *      consumer when their results have the same shape.
 *    A node joins a group only when the group stays convex: no path leaves
 *    it and comes back through a node outside it (the fused graph stays
 *    acyclic). A group value used outside the group, or a graph output, is
 *    a result of the fused node (materialised); every other value of the
 *    group lives only inside the kernel. One-node groups stay as they are.
 * 3. Views: reshape, flatten, squeeze, unsqueeze (and identity, dropout) are
 *    never fused; plan-memory and code generation make their results alias
 *    their inputs (ir_op_is_view), so they cost no kernel and no copy.
 *
 * A fused node's inputs are the values its group reads from outside, in
 * order of first use; constants of one element are copied into the body
 * instead. Its results are the materialised values, in node order. The node
 * and its body are named fusedN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"
#include "passes/pass.h"

/* ---- graph queries ------------------------------------------------------------------------ */

typedef struct {
  ir_graph *g;
  int *uses;    /* per value: operand uses by live nodes + graph outputs */
  char *is_out; /* per value: a graph output */
  int *cstart;  /* per value: consumers cons[cstart[v] .. cstart[v+1]) (distinct nodes) */
  int *cons;
} gq;

static void gq_free(gq *q) {
  free(q->uses);
  free(q->is_out);
  free(q->cstart);
  free(q->cons);
  memset(q, 0, sizeof *q);
}

static void gq_build(gq *q, ir_graph *g) {
  int nv = g->n_values;
  q->g = g;
  q->uses = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  q->is_out = kiln_xcalloc((size_t)nv + 1, 1);
  q->cstart = kiln_xcalloc((size_t)nv + 2, sizeof(int));
  ir_count_uses(g, q->uses);
  for (int k = 0; k < g->n_outputs; k++) q->is_out[g->outputs[k]] = 1;
  /* distinct consumer nodes per value */
  int *last = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1));
  for (int v = 0; v < nv; v++) last[v] = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v < 0 || last[v] == i) continue;
      last[v] = i;
      q->cstart[v + 1]++;
    }
  }
  for (int v = 0; v < nv; v++) q->cstart[v + 1] += q->cstart[v];
  q->cons = kiln_xmalloc(sizeof(int) * ((size_t)q->cstart[nv] + 1));
  int *fill = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  for (int v = 0; v < nv; v++) last[v] = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v < 0 || last[v] == i) continue;
      last[v] = i;
      q->cons[q->cstart[v] + fill[v]++] = i;
    }
  }
  free(fill);
  free(last);
}

/* The live node producing v, or -1. */
static int producer(const ir_graph *g, int v) {
  if (v < 0) return -1;
  const ir_value *val = &g->values[v];
  if (val->kind != IR_VAL_NODE || val->producer < 0 || g->nodes[val->producer].dead) return -1;
  return val->producer;
}

/* The live node producing v if it has op `op`, else -1. */
static int producer_op(const ir_graph *g, int v, ir_op op) {
  int p = producer(g, v);
  return p >= 0 && g->nodes[p].op == op && !g->nodes[p].body ? p : -1;
}

/* v is read by exactly one node, once, and is not a graph output. */
static int single_use(const gq *q, int v) { return v >= 0 && q->uses[v] == 1 && !q->is_out[v]; }

/* The value of a one-element float constant. */
static int const_scalar(const ir_graph *g, int v, double *out) {
  if (v < 0) return 0;
  const ir_value *val = &g->values[v];
  if (val->kind != IR_VAL_CONST || !val->data || !val->typed || ir_type_numel(&val->type) != 1 ||
      !ir_dtype_is_float(val->type.dtype))
    return 0;
  *out = ir_load_f(val->type.dtype, val->data, 0);
  return 1;
}

static int is_float_type(const ir_type *t) { return t->dtype == IR_F32 || t->dtype == IR_F64; }

static int same_shape(const ir_type *a, const ir_type *b) {
  if (a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] != b->dims[k]) return 0;
  return 1;
}

static const ir_type *vtype(const ir_graph *g, int v) { return &g->values[v].type; }

/* ---- 1. rewrites of decomposed normalisations ---------------------------------------------- */

/* The first reduced axis when reduce node r reduces exactly the trailing
 * axes [a, rank) of its input with keepdims = 1; -1 otherwise. */
static int trailing_axes(const ir_graph *g, const ir_node *r) {
  if (r->n_in < 1 || r->in[0] < 0 || ir_node_has_input(r, 1)) return -1;
  if (ir_attr_int(r, "keepdims") != 1) return -1;
  int rank = vtype(g, r->in[0])->rank;
  const int64_t *axes;
  int nax = ir_attr_ints(r, "axes", &axes);
  unsigned char red[IR_MAX_RANK] = {0};
  if (nax <= 0) {
    if (ir_attr_int(r, "noop_with_empty_axes")) return -1;
    for (int k = 0; k < rank; k++) red[k] = 1;
  }
  for (int i = 0; i < nax; i++) {
    int a = ir_norm_axis(axes[i], rank);
    if (a < 0) return -1;
    red[a] = 1;
  }
  int first = rank;
  while (first > 0 && red[first - 1]) first--;
  for (int k = 0; k < first; k++)
    if (red[k]) return -1;
  return first < rank ? first : -1;
}

/* The single axis a reduce node reduces with keepdims = 1 (normalised), or -1. */
static int single_axis(const ir_graph *g, const ir_node *r) {
  if (r->n_in < 1 || r->in[0] < 0 || ir_node_has_input(r, 1)) return -1;
  if (ir_attr_int(r, "keepdims") != 1) return -1;
  const int64_t *axes;
  if (ir_attr_ints(r, "axes", &axes) != 1) return -1;
  return ir_norm_axis(axes[0], vtype(g, r->in[0])->rank);
}

/* The other operand of binary node n when one operand is v; -1 when v is
 * not an operand (or both operands are v). */
static int other_operand(const ir_node *n, int v) {
  if (n->n_in != 2) return -1;
  if (n->in[0] == v && n->in[1] != v) return n->in[1];
  if (n->in[1] == v && n->in[0] != v) return n->in[0];
  return -1;
}

/* The only consumer node of v, or -1. */
static int only_consumer(const gq *q, int v) {
  if (v < 0 || q->is_out[v] || q->cstart[v + 1] - q->cstart[v] != 1) return -1;
  return q->cons[q->cstart[v]];
}

/* A value squared: pow(x, 2) or mul(x, x); returns the node, x in *x. */
static int match_square(const ir_graph *g, int v, int *x) {
  int p = producer(g, v);
  if (p < 0 || g->nodes[p].body) return -1;
  const ir_node *n = &g->nodes[p];
  double c;
  if (n->op == IR_OP_POW && const_scalar(g, n->in[1], &c) && c == 2.0) {
    *x = n->in[0];
    return p;
  }
  if (n->op == IR_OP_MUL && n->in[0] == n->in[1]) {
    *x = n->in[0];
    return p;
  }
  return -1;
}

/* var (a reduce_mean result) -> add eps -> sqrt -> (div of num | reciprocal
 * and mul with num): the normalised value num / sqrt(var + eps). Fills
 * nodes[] (3 or 4) and returns the result value, or -1. */
static int match_inv_std(const gq *q, int var, int num, double *eps, int *nodes, int *n_nodes) {
  const ir_graph *g = q->g;
  int a = only_consumer(q, var);
  if (a < 0 || !single_use(q, var) || g->nodes[a].op != IR_OP_ADD) return -1;
  int e = other_operand(&g->nodes[a], var);
  if (!const_scalar(g, e, eps) || !(*eps >= 0) || isinf(*eps) || (double)(float)*eps != *eps)
    return -1;
  int av = g->nodes[a].out[0];
  int s = only_consumer(q, av);
  if (s < 0 || !single_use(q, av) || g->nodes[s].op != IR_OP_SQRT) return -1;
  int sv = g->nodes[s].out[0];
  int t = only_consumer(q, sv);
  if (t < 0 || !single_use(q, sv)) return -1;
  const ir_node *tn = &g->nodes[t];
  nodes[0] = a;
  nodes[1] = s;
  nodes[2] = t;
  if (tn->op == IR_OP_DIV && tn->in[0] == num && tn->in[1] == sv) {
    *n_nodes = 3;
    return tn->out[0];
  }
  int rv;
  double one;
  if (tn->op == IR_OP_RECIPROCAL)
    rv = tn->out[0];
  else if (tn->op == IR_OP_DIV && tn->in[1] == sv && const_scalar(g, tn->in[0], &one) && one == 1.0)
    rv = tn->out[0];
  else
    return -1;
  int m = only_consumer(q, rv);
  if (m < 0 || !single_use(q, rv) || g->nodes[m].op != IR_OP_MUL ||
      other_operand(&g->nodes[m], rv) != num)
    return -1;
  nodes[3] = m;
  *n_nodes = 4;
  return g->nodes[m].out[0];
}

/* An affine step after a normalised value v: op(v, p) or op(p, v) (mul for
 * the scale, add for the bias) where p broadcasts to x's trailing dims from
 * axis without growing the rank (layer_norm's rule for its parameters).
 * Returns the node and p in *param, or -1. */
static int match_affine(const gq *q, int v, ir_op op, const ir_type *x, int axis, int *param) {
  const ir_graph *g = q->g;
  int n = only_consumer(q, v);
  if (n < 0 || !single_use(q, v) || g->nodes[n].op != op) return -1;
  int p = other_operand(&g->nodes[n], v);
  if (p < 0 || !g->values[p].typed) return -1;
  const ir_type *t = vtype(g, p);
  if (t->dtype != x->dtype || t->rank > x->rank - axis) return -1;
  for (int i = 0; i < t->rank; i++) {
    int64_t td = t->dims[t->rank - 1 - i], xd = x->dims[x->rank - 1 - i];
    if (td != xd && td != 1) return -1;
  }
  *param = p;
  return n;
}

/* A constant of ones of x's dtype and its dims from axis (a default scale). */
static int ones_param(ir_graph *g, const ir_type *x, int axis, const char *name) {
  ir_type t = {.dtype = x->dtype, .rank = x->rank - axis};
  for (int i = 0; i < t.rank; i++) t.dims[i] = x->dims[axis + i];
  int64_t n = ir_type_numel(&t);
  void *data = ir_graph_alloc_data(g, (size_t)ir_type_nbytes(&t));
  for (int64_t i = 0; i < n; i++) ir_store_f(t.dtype, data, i, 1.0);
  int v = ir_add_const_nocopy(g, name, &t, data);
  return v;
}

/* Replaces the pattern nodes[0..n) (whose last result `root` survives) by
 * one node op(in) producing root; key[new] takes the root producer's key. */
static int replace_pattern(ir_graph *g, const int *nodes, int n, int root, ir_op op, const int *in,
                           int n_in, int axis, double eps, int **key, int *key_cap, kiln_diag *d) {
  char name[IR_MAX_NAME + 1];
  int rp = producer(g, root);
  KILN_ASSERT(rp >= 0);
  snprintf(name, sizeof name, "%s", g->nodes[rp].name ? g->nodes[rp].name : "");
  int k = (*key)[rp];
  for (int i = 0; i < n; i++) ir_node_remove(g, nodes[i]);
  int id = ir_node_new_with_outputs(g, op, name, in, n_in, &root, 1);
  if (id >= *key_cap) {
    *key_cap = (id + 1) * 2;
    *key = kiln_xrealloc(*key, sizeof(int) * (size_t)*key_cap);
  }
  (*key)[id] = k;
  ir_set_int(g, id, "axis", axis);
  if (op != IR_OP_SOFTMAX) ir_set_float(g, id, "epsilon", eps);
  return ir_infer_node(g, id, d);
}

/* reduce_mean at node i: layer norm or rms norm decomposed. 1 when
 * rewritten, 0 when not, or an error. */
static int rewrite_norm(gq *q, int i, int **key, int *key_cap, kiln_diag *d) {
  ir_graph *g = q->g;
  const ir_node *mn = &g->nodes[i];
  int axis = trailing_axes(g, mn);
  if (axis < 0) return 0;
  int mean = mn->out[0];
  int nodes[16], nn = 0;
  double eps;
  /* layer norm: i is the mean of x */
  int x = mn->in[0];
  if (is_float_type(vtype(g, x))) {
    int s = only_consumer(q, mean);
    const ir_node *sn = s >= 0 ? &g->nodes[s] : NULL;
    if (sn && single_use(q, mean) && sn->op == IR_OP_SUB && sn->in[0] == x && sn->in[1] == mean) {
      int dv = sn->out[0];
      /* dv's consumers: the square and the division (or the mul) */
      int nc = q->cstart[dv + 1] - q->cstart[dv];
      int sq = -1, sqx = -1;
      for (int c = q->cstart[dv]; c < q->cstart[dv + 1]; c++) {
        int cn = q->cons[c];
        const ir_node *cnn = &g->nodes[cn];
        int xx;
        if (cnn->n_out == 1 && match_square(g, cnn->out[0], &xx) == cn && xx == dv) {
          sq = cn;
          sqx = cnn->out[0];
        }
      }
      int m2 = sq >= 0 ? only_consumer(q, sqx) : -1;
      if (!q->is_out[dv] && nc == 2 && m2 >= 0 && single_use(q, sqx) &&
          g->nodes[m2].op == IR_OP_REDUCE_MEAN && trailing_axes(g, &g->nodes[m2]) == axis) {
        int inv[4], ni;
        int nv = match_inv_std(q, g->nodes[m2].out[0], dv, &eps, inv, &ni);
        if (nv >= 0) {
          nodes[nn++] = i;
          nodes[nn++] = s;
          nodes[nn++] = sq;
          nodes[nn++] = m2;
          for (int k = 0; k < ni; k++) nodes[nn++] = inv[k];
          const ir_type xt = *vtype(g, x);
          int scale = -1, bias = -1, root = nv;
          int w = match_affine(q, root, IR_OP_MUL, &xt, axis, &scale);
          if (w >= 0) {
            nodes[nn++] = w;
            root = g->nodes[w].out[0];
            int b = match_affine(q, root, IR_OP_ADD, &xt, axis, &bias);
            if (b >= 0) {
              nodes[nn++] = b;
              root = g->nodes[b].out[0];
            }
          }
          if (scale < 0) scale = ones_param(g, &xt, axis, "layer_norm_scale");
          int in[3] = {x, scale, bias};
          int rc = replace_pattern(g, nodes, nn, root, IR_OP_LAYER_NORM, in, bias >= 0 ? 3 : 2,
                                   axis, eps, key, key_cap, d);
          return rc ? -rc : 1;
        }
      }
    }
  }
  /* rms norm: i is the mean of x squared */
  int sq = producer(g, mn->in[0]);
  if (sq < 0 || !single_use(q, mn->in[0]) || match_square(g, mn->in[0], &x) != sq ||
      !is_float_type(vtype(g, x)))
    return 0;
  int inv[4], ni;
  int nv = match_inv_std(q, mean, x, &eps, inv, &ni);
  if (nv < 0) return 0;
  nodes[nn++] = sq;
  nodes[nn++] = i;
  for (int k = 0; k < ni; k++) nodes[nn++] = inv[k];
  const ir_type xt = *vtype(g, x);
  int scale = -1, root = nv;
  int w = match_affine(q, root, IR_OP_MUL, &xt, axis, &scale);
  if (w >= 0) {
    nodes[nn++] = w;
    root = g->nodes[w].out[0];
  }
  if (scale < 0) scale = ones_param(g, &xt, axis, "rms_norm_scale");
  int in[2] = {x, scale};
  int rc = replace_pattern(g, nodes, nn, root, IR_OP_RMS_NORM, in, 2, axis, eps, key, key_cap, d);
  return rc ? -rc : 1;
}

/* reduce_sum at node i: softmax decomposed as exp(x [- reduce_max x]) /
 * reduce_sum(...) over one axis. */
static int rewrite_softmax(gq *q, int i, int **key, int *key_cap, kiln_diag *d) {
  ir_graph *g = q->g;
  const ir_node *rn = &g->nodes[i];
  int axis = single_axis(g, rn);
  if (axis < 0) return 0;
  int ev = rn->in[0], e = producer_op(g, ev, IR_OP_EXP);
  if (e < 0 || q->is_out[ev] || q->uses[ev] != 2) return 0;
  int sv = rn->out[0];
  int dn = only_consumer(q, sv);
  if (dn < 0 || !single_use(q, sv) || g->nodes[dn].op != IR_OP_DIV || g->nodes[dn].in[0] != ev ||
      g->nodes[dn].in[1] != sv)
    return 0;
  int nodes[5], nn = 0;
  int x = g->nodes[e].in[0];
  int sub = producer_op(g, x, IR_OP_SUB);
  if (sub >= 0 && single_use(q, x)) {
    int xx = g->nodes[sub].in[0], mv = g->nodes[sub].in[1];
    int mx = producer_op(g, mv, IR_OP_REDUCE_MAX);
    if (mx >= 0 && single_use(q, mv) && g->nodes[mx].in[0] == xx &&
        single_axis(g, &g->nodes[mx]) == axis) {
      nodes[nn++] = mx;
      nodes[nn++] = sub;
      x = xx;
    }
  }
  if (!is_float_type(vtype(g, x))) return 0;
  nodes[nn++] = e;
  nodes[nn++] = i;
  nodes[nn++] = dn;
  int root = g->nodes[dn].out[0];
  int rc = replace_pattern(g, nodes, nn, root, IR_OP_SOFTMAX, &x, 1, axis, 0.0, key, key_cap, d);
  return rc ? -rc : 1;
}

/* ---- node order ----------------------------------------------------------------------------- */

/* Drops dead nodes and orders the live ones topologically, earliest key
 * first among the ready ones (so nodes keep their places where they can),
 * then drops unreferenced values. */
static int reorder(ir_graph *g, const int *key, kiln_diag *d) {
  if (ir_graph_order_nodes(g, key))
    return kiln_diag_error(d, KILN_E_INTERNAL, "%s: fuse: the fused graph has a cycle", g->source);
  ir_graph_compact(g);
  return KILN_OK;
}

static int *identity_keys(const ir_graph *g, int *cap) {
  *cap = g->n_nodes + 16;
  int *key = kiln_xmalloc(sizeof(int) * (size_t)*cap);
  for (int i = 0; i < *cap; i++) key[i] = i;
  return key;
}

/* Runs the rewrites over g; returns the number made (or -status). */
static int run_rewrites(ir_graph *g, kiln_diag *d) {
  int cap;
  int *key = identity_keys(g, &cap);
  int made = 0, rc = 0;
  gq q;
  gq_build(&q, g);
  int n0 = g->n_nodes;
  for (int i = 0; i < n0 && rc >= 0; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->body) continue;
    rc = 0;
    if (n->op == IR_OP_REDUCE_MEAN)
      rc = rewrite_norm(&q, i, &key, &cap, d);
    else if (n->op == IR_OP_REDUCE_SUM)
      rc = rewrite_softmax(&q, i, &key, &cap, d);
    if (rc > 0) {
      made++;
      gq_free(&q);
      gq_build(&q, g);
    }
  }
  gq_free(&q);
  if (rc < 0) {
    free(key);
    return rc;
  }
  if (made) {
    int r = reorder(g, key, d);
    if (r) made = -r;
  }
  free(key);
  return made;
}

/* ---- 2. groups ------------------------------------------------------------------------------- */

typedef enum { GK_ELEMENTWISE, GK_CONTRACTION, GK_REDUCTION } group_kind;
static const char *const kind_names[] = {"elementwise", "contraction", "reduction"};

typedef struct {
  group_kind kind;
  int anchor; /* the contraction or reduction node; -1 */
  int n, cap;
  int *members; /* node ids */
  int dead;     /* merged into another group */
} group;

typedef struct {
  ir_graph *g;
  gq q;
  int nn;
  int *gid; /* node -> group, -1 */
  group *groups;
  int n_groups, cap_groups;
  int *in_mark, *vis_mark, stamp; /* convexity search */
  int *stack;
  int *rej; /* node -> 1 + the group that found it would break convexity */
} fz;

static int add_group(fz *c, group_kind kind, int anchor) {
  if (c->n_groups == c->cap_groups) {
    c->cap_groups = c->cap_groups ? 2 * c->cap_groups : 16;
    c->groups = kiln_xrealloc(c->groups, sizeof(group) * (size_t)c->cap_groups);
  }
  group *G = &c->groups[c->n_groups];
  memset(G, 0, sizeof *G);
  G->kind = kind;
  G->anchor = anchor;
  return c->n_groups++;
}

static void group_add(fz *c, int gi, int node) {
  group *G = &c->groups[gi];
  if (G->n == G->cap) {
    G->cap = G->cap ? 2 * G->cap : 8;
    G->members = kiln_xrealloc(G->members, sizeof(int) * (size_t)G->cap);
  }
  G->members[G->n++] = node;
  c->gid[node] = gi;
}

/* An elementwise op fusion may take: one result, class ELEMWISE or
 * BROADCAST, not a view, every type known and supported by codegen. */
static int ew_node(const ir_graph *g, const ir_node *n) {
  if (n->dead || n->body || n->n_out != 1) return 0;
  ir_op_class cls = ir_op_get(n->op)->cls;
  if ((cls != IR_CLASS_ELEMWISE && cls != IR_CLASS_BROADCAST) || ir_op_is_view(n->op)) return 0;
  for (int k = 0; k < n->n_in; k++)
    if (n->in[k] >= 0 &&
        (!g->values[n->in[k]].typed || !ir_dtype_supported(g->values[n->in[k]].type.dtype)))
      return 0;
  const ir_value *o = &g->values[n->out[0]];
  return o->typed && ir_dtype_supported(o->type.dtype);
}

static int contraction_node(const ir_graph *g, const ir_node *n) {
  if (n->dead || n->body || n->n_out != 1 || !g->values[n->out[0]].typed) return 0;
  return (n->op == IR_OP_MATMUL || n->op == IR_OP_CONV || n->op == IR_OP_CONV_TRANSPOSE) &&
         is_float_type(vtype(g, n->out[0]));
}

static int reduction_node(const ir_graph *g, const ir_node *n) {
  if (n->dead || n->body || n->n_out != 1 || n->n_in < 1 || n->in[0] < 0 ||
      !g->values[n->out[0]].typed || !g->values[n->in[0]].typed)
    return 0;
  if (!is_float_type(vtype(g, n->in[0])) || !is_float_type(vtype(g, n->out[0]))) return 0;
  switch (n->op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX:
  case IR_OP_REDUCE_MIN:
  case IR_OP_REDUCE_PROD:
  case IR_OP_REDUCE_L1:
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE:
  case IR_OP_REDUCE_LOG_SUM:
  case IR_OP_REDUCE_LOG_SUM_EXP: {
    /* axes resolved into the attribute; not the identity */
    if (ir_node_has_input(n, 1)) return 0;
    const int64_t *axes;
    if (ir_attr_ints(n, "axes", &axes) <= 0 && ir_attr_int(n, "noop_with_empty_axes")) return 0;
    return 1;
  }
  case IR_OP_SOFTMAX:
  case IR_OP_LOG_SOFTMAX:
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM: return 1;
  default: return 0;
  }
}

/* Would the group gi plus nodes add[0..n_add) (plus group other, if >= 0)
 * stay convex: no path from the union through an outside node back into it?
 * Node ids are topological, so only outside nodes before the union's last
 * member can lead back into it. */
static int convex_with(fz *c, int gi, int other, const int *add, int n_add) {
  const ir_graph *g = c->g;
  int st = ++c->stamp, maxi = -1, sp = 0;
  const group *G[2] = {&c->groups[gi], other >= 0 ? &c->groups[other] : NULL};
  for (int s = 0; s < 2; s++)
    for (int m = 0; G[s] && m < G[s]->n; m++) {
      c->in_mark[G[s]->members[m]] = st;
      if (G[s]->members[m] > maxi) maxi = G[s]->members[m];
    }
  for (int a = 0; a < n_add; a++) {
    c->in_mark[add[a]] = st;
    if (add[a] > maxi) maxi = add[a];
  }
  /* the outside consumers of the union, then everything they reach */
  for (int s = 0; s < 3; s++) {
    int cnt = s < 2 ? (G[s] ? G[s]->n : 0) : n_add;
    for (int m = 0; m < cnt; m++) {
      int x = s < 2 ? G[s]->members[m] : add[m];
      const ir_node *n = &g->nodes[x];
      for (int j = 0; j < n->n_out; j++) {
        int v = n->out[j];
        for (int e = c->q.cstart[v]; e < c->q.cstart[v + 1]; e++) {
          int y = c->q.cons[e];
          if (c->in_mark[y] == st || y > maxi || c->vis_mark[y] == st) continue;
          c->vis_mark[y] = st;
          c->stack[sp++] = y;
        }
      }
    }
  }
  while (sp) {
    int y = c->stack[--sp];
    const ir_node *n = &g->nodes[y];
    for (int j = 0; j < n->n_out; j++) {
      int v = n->out[j];
      for (int e = c->q.cstart[v]; e < c->q.cstart[v + 1]; e++) {
        int z = c->q.cons[e];
        if (c->in_mark[z] == st) return 0;
        if (z > maxi || c->vis_mark[z] == st) continue;
        c->vis_mark[z] = st;
        c->stack[sp++] = z;
      }
    }
  }
  return 1;
}

/* Grows group gi forward: elementwise consumers of its values whose result
 * has shape `shape` (and, when dtype >= 0, that dtype), in node order,
 * while the group stays convex. */
static void grow_epilogue(fz *c, int gi, const ir_type *shape, int dtype) {
  const ir_graph *g = c->g;
  for (int changed = 1; changed;) {
    changed = 0;
    int best = -1;
    group *G = &c->groups[gi];
    /* the earliest admissible consumer: joining in node order keeps the
     * choice deterministic and lets later nodes see earlier ones inside */
    for (int m = 0; m < G->n; m++) {
      const ir_node *n = &g->nodes[G->members[m]];
      for (int e = c->q.cstart[n->out[0]]; e < c->q.cstart[n->out[0] + 1]; e++) {
        int y = c->q.cons[e];
        if (c->gid[y] >= 0 || (best >= 0 && y >= best)) continue;
        const ir_node *yn = &g->nodes[y];
        if (!ew_node(g, yn)) continue;
        const ir_type *yt = vtype(g, yn->out[0]);
        if (!same_shape(yt, shape) || (dtype >= 0 && (int)yt->dtype != dtype)) continue;
        if (c->rej[y] == gi + 1) continue; /* rejected before */
        best = y;
      }
    }
    if (best < 0) break;
    if (convex_with(c, gi, -1, &best, 1))
      group_add(c, gi, best);
    else
      c->rej[best] = gi + 1;
    changed = 1;
  }
}

/* Grows reduction group gi backward from its input: elementwise producers
 * of x's shape all of whose uses are inside the group. */
static void grow_prologue(fz *c, int gi, const ir_type *xshape) {
  ir_graph *g = c->g;
  for (int changed = 1; changed;) {
    changed = 0;
    group *G = &c->groups[gi];
    int best = -1;
    for (int m = 0; m < G->n; m++) {
      int node = G->members[m];
      const ir_node *n = &g->nodes[node];
      /* the anchor's input 0 only; prologue nodes' every input */
      int lim = node == G->anchor ? 1 : n->n_in;
      for (int k = 0; k < lim; k++) {
        int p = producer(g, n->in[k]);
        if (p < 0 || c->gid[p] >= 0 || (best >= 0 && p <= best)) continue;
        const ir_node *pn = &g->nodes[p];
        if (!ew_node(g, pn) || !same_shape(vtype(g, pn->out[0]), xshape)) continue;
        int v = pn->out[0];
        if (c->q.is_out[v]) continue;
        /* every use inside the group, and never as the anchor's parameter */
        int ok = 1;
        for (int e = c->q.cstart[v]; e < c->q.cstart[v + 1] && ok; e++) {
          int y = c->q.cons[e];
          if (c->gid[y] != gi)
            ok = 0;
          else if (y == G->anchor)
            for (int kk = 1; kk < g->nodes[y].n_in; kk++) ok &= g->nodes[y].in[kk] != v;
        }
        if (ok && c->rej[p] != gi + 1) best = p;
      }
    }
    if (best < 0) break;
    if (convex_with(c, gi, -1, &best, 1))
      group_add(c, gi, best);
    else
      c->rej[best] = gi + 1;
    changed = 1;
  }
}

/* Elementwise groups of the nodes no anchor took. */
static void elementwise_groups(fz *c) {
  const ir_graph *g = c->g;
  for (int i = 0; i < c->nn; i++) {
    const ir_node *n = &g->nodes[i];
    if (c->gid[i] >= 0 || !ew_node(g, n)) continue;
    const ir_type *yt = vtype(g, n->out[0]);
    int mine = -1;
    for (int k = 0; k < n->n_in; k++) {
      int p = producer(g, n->in[k]);
      if (p < 0 || c->gid[p] < 0) continue;
      int gp = c->gid[p];
      group *G = &c->groups[gp];
      if (G->kind != GK_ELEMENTWISE || gp == mine) continue;
      if (!same_shape(vtype(g, g->nodes[G->members[0]].out[0]), yt)) continue;
      if (mine < 0) {
        if (convex_with(c, gp, -1, &i, 1)) {
          group_add(c, gp, i);
          mine = gp;
        }
      } else if (convex_with(c, mine, gp, NULL, 0)) {
        /* a second producer group: merge it into this one */
        for (int m = 0; m < G->n; m++) group_add(c, mine, G->members[m]);
        G->n = 0;
        G->dead = 1;
      }
    }
    if (mine < 0) group_add(c, add_group(c, GK_ELEMENTWISE, -1), i);
  }
}

/* ---- 3. fused nodes -------------------------------------------------------------------------- */

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Replaces group gi by a fused node named `name`; key[new] = the position
 * of its last member. *made is 1 when it did (a group whose values nothing
 * reads stays as it is). */
static int build_fused(fz *c, int gi, const char *name, int **key, int *key_cap, int *made,
                       kiln_diag *d) {
  ir_graph *g = c->g;
  group *G = &c->groups[gi];
  *made = 0;
  qsort(G->members, (size_t)G->n, sizeof(int), cmp_int);
  int nv = g->n_values;
  int *inner = kiln_xcalloc((size_t)nv + 1, sizeof(int)); /* uses inside the group */
  int *fout = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1)), nout = 0;
  for (int m = 0; m < G->n; m++) {
    const ir_node *n = &g->nodes[G->members[m]];
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) inner[n->in[k]]++;
  }
  /* results: values used outside the group, and graph outputs */
  for (int m = 0; m < G->n; m++) {
    const ir_node *n = &g->nodes[G->members[m]];
    for (int j = 0; j < n->n_out; j++) {
      int v = n->out[j];
      if (c->q.uses[v] > inner[v] || c->q.is_out[v]) fout[nout++] = v;
    }
  }
  if (nout == 0) {
    free(inner);
    free(fout);
    return KILN_OK;
  }
  int *map = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1));
  for (int v = 0; v < nv; v++) map[v] = -1;
  int *fin = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1)), nin = 0;
  ir_graph *b = ir_graph_new(name);
  b->source = ir_arena_strdup(b->arena, g->source ? g->source : g->name);
  b->base_dir = g->base_dir ? ir_arena_strdup(b->arena, g->base_dir) : NULL;
  /* inputs and one-element constants, in order of first use */
  for (int m = 0; m < G->n; m++) {
    const ir_node *n = &g->nodes[G->members[m]];
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v < 0 || map[v] >= 0) continue;
      int p = producer(g, v);
      if (p >= 0 && p < c->nn && c->gid[p] == gi) continue; /* made inside */
      const ir_value *val = &g->values[v];
      if (val->kind == IR_VAL_CONST && val->data && ir_type_numel(&val->type) == 1) {
        map[v] = ir_add_const(b, val->name, &val->type, val->data);
        b->values[map[v]].is_param = val->is_param;
      } else {
        map[v] = ir_add_input(b, val->name, &val->type);
        fin[nin++] = v;
      }
    }
  }
  for (int m = 0; m < G->n; m++) {
    const ir_node *n = &g->nodes[G->members[m]];
    int *in = kiln_xmalloc(sizeof(int) * ((size_t)n->n_in + 1));
    const char **names = kiln_xmalloc(sizeof(char *) * ((size_t)n->n_out + 1));
    for (int k = 0; k < n->n_in; k++) in[k] = n->in[k] >= 0 ? map[n->in[k]] : -1;
    for (int j = 0; j < n->n_out; j++) names[j] = g->values[n->out[j]].name;
    int bn = ir_node_new(b, n->op, n->name, in, n->n_in, n->n_out, names);
    for (int a = 0; a < n->n_attrs; a++) ir_set_attr(b, bn, &n->attrs[a]);
    for (int j = 0; j < n->n_out; j++) {
      int bv = b->nodes[bn].out[j];
      b->values[bv].typed = g->values[n->out[j]].typed;
      b->values[bv].type = g->values[n->out[j]].type;
      map[n->out[j]] = bv;
    }
    free(in);
    free(names);
  }
  for (int j = 0; j < nout; j++) ir_add_output(b, map[fout[j]]);
  int k = (*key)[G->members[G->n - 1]];
  for (int m = 0; m < G->n; m++) ir_node_remove(g, G->members[m]);
  int id = ir_node_new_with_outputs(g, IR_OP_FUSED, name, fin, nin, fout, nout);
  ir_set_string(g, id, "kind", kind_names[G->kind]);
  g->nodes[id].body = b;
  if (id >= *key_cap) {
    *key_cap = (id + 1) * 2;
    *key = kiln_xrealloc(*key, sizeof(int) * (size_t)*key_cap);
  }
  (*key)[id] = k;
  *made = 1;
  free(map);
  free(inner);
  free(fin);
  free(fout);
  int rc = ir_verify(b, 1, d);
  if (rc) kiln_diag_prefix(d, "fuse: the body of '%s' does not verify: ", name);
  return rc;
}

/* A name fusedN not used by a node of g yet. */
static void fused_name(const ir_graph *g, int *counter, char *buf, size_t n) {
  for (;;) {
    snprintf(buf, n, "fused%d", (*counter)++);
    int taken = 0;
    for (int i = 0; i < g->n_nodes && !taken; i++)
      taken = !g->nodes[i].dead && g->nodes[i].name && strcmp(g->nodes[i].name, buf) == 0;
    if (!taken) return;
  }
}

int pass_fuse(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  int rw = run_rewrites(g, d);
  if (rw < 0) return -rw;
  ctx->changes += rw;

  fz c;
  memset(&c, 0, sizeof c);
  c.g = g;
  c.nn = g->n_nodes;
  gq_build(&c.q, g);
  c.gid = kiln_xmalloc(sizeof(int) * ((size_t)c.nn + 1));
  c.in_mark = kiln_xcalloc((size_t)c.nn + 1, sizeof(int));
  c.vis_mark = kiln_xcalloc((size_t)c.nn + 1, sizeof(int));
  c.stack = kiln_xmalloc(sizeof(int) * ((size_t)c.nn + 1));
  c.rej = kiln_xcalloc((size_t)c.nn + 1, sizeof(int));
  for (int i = 0; i < c.nn; i++) c.gid[i] = -1;
  /* anchors in node order: contractions take their epilogues, reductions
   * their prologues and epilogues */
  for (int i = 0; i < c.nn; i++) {
    const ir_node *n = &g->nodes[i];
    if (c.gid[i] >= 0) continue;
    if (contraction_node(g, n)) {
      int gi = add_group(&c, GK_CONTRACTION, i);
      group_add(&c, gi, i);
      ir_type t = *vtype(g, n->out[0]);
      grow_epilogue(&c, gi, &t, (int)t.dtype);
    } else if (reduction_node(g, n)) {
      int gi = add_group(&c, GK_REDUCTION, i);
      group_add(&c, gi, i);
      ir_type xt = *vtype(g, n->in[0]), yt = *vtype(g, n->out[0]);
      grow_prologue(&c, gi, &xt);
      grow_epilogue(&c, gi, &yt, -1);
    }
  }
  elementwise_groups(&c);

  int cap;
  int *key = identity_keys(g, &cap);
  int rc = KILN_OK, made = 0, counter = 0;
  /* named in the order of their last nodes (where they will stand) */
  int *order = kiln_xmalloc(sizeof(int) * ((size_t)c.n_groups + 1));
  int no = 0;
  for (int gi = 0; gi < c.n_groups; gi++) {
    group *G = &c.groups[gi];
    if (G->dead || G->n < 2) continue;
    qsort(G->members, (size_t)G->n, sizeof(int), cmp_int);
    int e = no++;
    while (e > 0 &&
           c.groups[order[e - 1]].members[c.groups[order[e - 1]].n - 1] > G->members[G->n - 1]) {
      order[e] = order[e - 1];
      e--;
    }
    order[e] = gi;
  }
  for (int q = 0; q < no && !rc; q++) {
    int gi = order[q];
    char name[32];
    int one;
    fused_name(g, &counter, name, sizeof name);
    rc = build_fused(&c, gi, name, &key, &cap, &one, d);
    if (!one) counter--; /* the name stays free */
    made += one;
  }
  free(order);
  for (int gi = 0; gi < c.n_groups; gi++) free(c.groups[gi].members);
  free(c.groups);
  free(c.gid);
  free(c.in_mark);
  free(c.vis_mark);
  free(c.stack);
  free(c.rej);
  gq_free(&c.q);
  if (!rc && made) rc = reorder(g, key, d);
  free(key);
  ctx->changes += made;
  return rc;
}

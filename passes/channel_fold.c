/* Per-output-channel affine folding into conv/conv_transpose/matmul weights,
 * shared by fold-batchnorm and fold-scale. The contracts are in
 * channel_fold.h; this file holds no pass of its own. */
#include "passes/channel_fold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Float dtypes whose data the passes read and write (f32, f64). */
static int float_ok(ir_dtype t) { return ir_dtype_is_float(t) && ir_dtype_supported(t); }

/* v is a constant with data of dtype dt. */
static int const_of(const ir_graph *g, int v, ir_dtype dt) {
  return pass_const_data(g, v) && g->values[v].type.dtype == dt;
}

/* Live producer node of v (not fused), or -1. */
static int live_producer(const ir_graph *g, int v) {
  if (v < 0) return -1;
  const ir_value *val = &g->values[v];
  if (val->kind != IR_VAL_NODE || val->producer < 0) return -1;
  const ir_node *n = &g->nodes[val->producer];
  if (n->dead || n->body) return -1;
  return val->producer;
}

int cf_channel_values(const ir_graph *g, int c, const ir_type *yt, int axis, int64_t channels,
                      double *vals) {
  const void *data = pass_const_data(g, c);
  if (!data) return 0;
  const ir_type *ct = &g->values[c].type;
  if (ct->dtype != yt->dtype || !float_ok(ct->dtype) || ct->rank > yt->rank) return 0;
  int off = yt->rank - ct->rank;
  for (int k = 0; k < ct->rank; k++) {
    int64_t dim = ct->dims[k];
    if (k + off == axis ? (dim != 1 && dim != channels) : dim != 1) return 0;
  }
  int64_t n = ir_type_numel(ct);
  if (vals)
    for (int64_t o = 0; o < channels; o++) vals[o] = ir_load_f(ct->dtype, data, n == 1 ? 0 : o);
  return 1;
}

/* matmul node p (result m) with a constant weight of y's dtype, rank >= 2. */
static int match_matmul(const ir_graph *g, int p, const ir_type *yt) {
  const ir_node *n = &g->nodes[p];
  if (n->n_in != 2 || n->in[0] < 0 || n->in[1] < 0) return 0;
  int w = n->in[1];
  if (!const_of(g, w, yt->dtype)) return 0;
  const ir_type *wt = &g->values[w].type;
  return wt->rank >= 2 && yt->rank >= 1 && wt->dims[wt->rank - 1] == yt->dims[yt->rank - 1];
}

int cf_match(const ir_graph *g, const int *uses, int y, cf_target *t) {
  memset(t, 0, sizeof *t);
  if (y < 0 || uses[y] != 1) return 0;
  const ir_value *yv = &g->values[y];
  int p = live_producer(g, y);
  if (p < 0 || !yv->typed || !float_ok(yv->type.dtype)) return 0;
  const ir_type *yt = &yv->type;
  const ir_node *n = &g->nodes[p];
  t->node = p;
  t->bias_add = -1;
  t->value = y;
  switch (n->op) {
  case IR_OP_CONV:
  case IR_OP_CONV_TRANSPOSE: {
    if (yt->rank < 3 || n->n_in < 2 || n->in[0] < 0 || !const_of(g, n->in[1], yt->dtype))
      return 0;
    if (ir_node_has_input(n, 2)) {
      int b = n->in[2];
      if (!const_of(g, b, yt->dtype) || ir_type_numel(&g->values[b].type) != yt->dims[1])
        return 0;
    }
    t->axis = 1;
    break;
  }
  case IR_OP_MATMUL:
    if (!match_matmul(g, p, yt)) return 0;
    t->axis = yt->rank - 1;
    break;
  case IR_OP_ADD: {
    /* add(matmul(x, W), b) or add(b, matmul(x, W)) */
    int m = -1, b = -1;
    for (int k = 0; k < 2 && n->n_in == 2; k++) {
      int q = live_producer(g, n->in[k]);
      if (q >= 0 && g->nodes[q].op == IR_OP_MATMUL && pass_const_data(g, n->in[1 - k])) {
        m = n->in[k];
        b = n->in[1 - k];
        break;
      }
    }
    if (m < 0 || uses[m] != 1 || !g->values[m].typed || !ir_type_equal(&g->values[m].type, yt))
      return 0;
    int q = g->values[m].producer;
    if (!match_matmul(g, q, yt)) return 0;
    t->axis = yt->rank - 1;
    if (!cf_channel_values(g, b, yt, t->axis, yt->dims[t->axis], NULL)) return 0;
    t->node = q;
    t->bias_add = p;
    break;
  }
  default: return 0;
  }
  t->channels = yt->dims[t->axis];
  return t->channels > 0 && t->channels <= CF_MAX_CHANNELS;
}

int cf_vector_const(ir_graph *g, const char *name, ir_dtype dtype, int64_t n,
                    const double *vals, int param, kiln_diag *d) {
  ir_type ty = {.dtype = dtype, .rank = 1, .dims = {n}};
  void *data = ir_graph_alloc_data_checked(g, (size_t)ir_type_nbytes(&ty), d);
  if (!data) return -1;
  for (int64_t i = 0; i < n; i++) ir_store_f(dtype, data, i, vals[i]);
  int v = ir_add_const_nocopy(g, name, &ty, data);
  g->values[v].is_param = param;
  return v;
}

/* "<base><suffix>", base cut so that the name stays within IR_MAX_NAME. A
 * base that already ends in "_fold" (or "_fold.N", as ir_value_new makes
 * names unique) drops that ending first, so that folding a chain does not
 * grow the name. */
static void fold_name(char *buf, size_t n, const char *base, const char *suffix) {
  size_t len = strlen(base);
  const char *f = NULL;
  for (const char *p = strstr(base, "_fold"); p; p = strstr(p + 1, "_fold")) f = p;
  if (f) {
    const char *e = f + 5;
    if (*e == '.' && e[1]) {
      e++;
      while (*e >= '0' && *e <= '9') e++;
    }
    if (!*e) len = (size_t)(f - base);
  }
  size_t room = IR_MAX_NAME - strlen(suffix);
  if (len > room) len = room;
  snprintf(buf, n, "%.*s%s", (int)len, base, suffix);
}

/* Output channel of weight element i. */
static int64_t weight_channel(const ir_graph *g, const cf_target *t, const ir_type *wt, int64_t i) {
  const ir_node *n = &g->nodes[t->node];
  int64_t numel = ir_type_numel(wt);
  if (n->op == IR_OP_MATMUL) return i % t->channels;
  if (n->op == IR_OP_CONV) return i / (numel / wt->dims[0]); /* W: [M, C/group, k...] */
  /* conv_transpose W: [C, M/group, k...]; channel = (c / (C/group)) * (M/group) + m */
  int64_t c_in = wt->dims[0], mg = wt->dims[1];
  int64_t inner = numel / (c_in * mg);
  int64_t group = ir_attr_int(n, "group");
  int64_t cg = c_in / group;
  int64_t ci = i / (mg * inner), m = (i / inner) % mg;
  return (ci / cg) * mg + m;
}

int cf_apply(ir_graph *g, const cf_target *t, const double *s, const double *sh, int param,
             kiln_diag *d) {
  ir_node *n = &g->nodes[t->node];
  int is_conv = n->op != IR_OP_MATMUL;
  KILN_ASSERT(is_conv || t->bias_add >= 0 || !sh);
  int x = n->in[0], w = n->in[1];
  int old_b = is_conv && ir_node_has_input(n, 2) ? n->in[2] : -1;
  ir_type wt = g->values[w].type;
  ir_dtype dt = wt.dtype;
  int64_t nb = ir_type_nbytes(&wt), numel = ir_type_numel(&wt);
  char name[IR_MAX_NAME + 1];
  int unit = 1; /* every s is 1: the weight stays as it is */
  for (int64_t o = 0; s && o < t->channels && unit; o++) unit = s[o] == 1.0;
  if (unit) s = NULL;

  /* the weight: W' = W * s per channel */
  int new_w = w;
  if (s && numel > 0) {
    void *data = ir_graph_alloc_data_checked(g, (size_t)nb, d);
    if (!data) return d->status;
    const void *src = g->values[w].data;
    for (int64_t i = 0; i < numel; i++)
      ir_store_f(dt, data, i, ir_load_f(dt, src, i) * s[weight_channel(g, t, &wt, i)]);
    fold_name(name, sizeof name, g->values[w].name, "_fold");
    new_w = ir_add_const_nocopy(g, name, &wt, data);
    g->values[new_w].is_param = param || g->values[w].is_param;
  }

  /* the bias: b' = b * s + sh per channel */
  int b_slot = 2, b_old = old_b;
  if (!is_conv && t->bias_add >= 0) {
    /* the operand that is not the matmul's result */
    const ir_node *a = &g->nodes[t->bias_add];
    b_slot = a->in[0] == n->out[0] ? 1 : 0;
    b_old = a->in[b_slot];
  }
  int new_b = b_old;
  if (b_old >= 0 || sh) {
    double *bv = kiln_xcalloc((size_t)t->channels + 1, sizeof(double));
    if (b_old >= 0) {
      if (is_conv) {
        for (int64_t o = 0; o < t->channels; o++)
          bv[o] = ir_load_f(dt, g->values[b_old].data, o);
      } else {
        int ok = cf_channel_values(g, b_old, &g->values[t->value].type, t->axis, t->channels, bv);
        KILN_ASSERT(ok); /* checked by cf_match */
      }
    }
    for (int64_t o = 0; o < t->channels; o++) bv[o] = bv[o] * (s ? s[o] : 1.0) + (sh ? sh[o] : 0.0);
    if (b_old >= 0) fold_name(name, sizeof name, g->values[b_old].name, "_fold");
    else fold_name(name, sizeof name, g->values[t->value].name, "_bias");
    int old_param = b_old >= 0 && g->values[b_old].is_param;
    new_b = cf_vector_const(g, name, dt, t->channels, bv, param || old_param, d);
    free(bv);
    if (new_b < 0) return d->status;
  }

  n = &g->nodes[t->node];
  if (is_conv) {
    int in[3] = {x, new_w, new_b};
    ir_node_set_inputs(g, t->node, in, new_b >= 0 ? 3 : 2);
  } else {
    int in[2] = {x, new_w};
    ir_node_set_inputs(g, t->node, in, 2);
    if (t->bias_add >= 0) {
      const ir_node *a = &g->nodes[t->bias_add];
      int ain[2] = {a->in[0], a->in[1]};
      ain[b_slot] = new_b;
      ir_node_set_inputs(g, t->bias_add, ain, 2);
    }
  }
  return KILN_OK;
}

void cf_drop_node(ir_graph *g, int i, int y, int *uses, pass_repl *r) {
  int out = g->nodes[i].out[0];
  /* y is produced by a node and used only here: always replaceable */
  int ok = pass_replace_value(r, g, out, y);
  KILN_ASSERT(ok);
  ir_node_remove(g, i);
  uses[y] = uses[out];
}

int cf_run(ir_graph *g, pass_ctx *ctx, int (*wants)(ir_op op), cf_fold_fn fold, kiln_diag *d) {
  int *uses = kiln_xcalloc((size_t)g->n_values + 1, sizeof(int));
  ir_count_uses(g, uses);
  pass_repl r;
  pass_repl_init(&r, g);
  int changes = 0, rc = KILN_OK;
  int nn = g->n_nodes; /* the folds add no nodes */
  for (int i = 0; i < nn && !rc; i++) {
    if (g->nodes[i].dead) continue;
    pass_repl_apply(&r, g, i);
    if (!wants(g->nodes[i].op)) continue;
    int f = fold(g, i, uses, &r, d);
    if (f < 0) rc = d->status ? d->status : KILN_E_INTERNAL;
    else changes += f;
  }
  pass_repl_free(&r);
  free(uses);
  ctx->changes += changes;
  if (changes) ir_graph_compact(g);
  return rc;
}

/* cse: common-subexpression elimination.
 *
 * Requires: a verified graph in topological node order (types not needed).
 * Guarantees: no two live nodes have the same op, the same inputs, the same
 * number of results and identical attributes (compared exactly: integers,
 * float bit patterns, strings, lists and tensor bytes; an attribute left at
 * its default differs from one written out); no two constants of at most
 * CSE_MAX_CONST_BYTES with data have the same type, `param` flag and bytes.
 * The first one in node (value) order is kept and the later ones' uses are
 * redirected to it, so the result is deterministic. A duplicate whose result
 * is a graph output gives the kept node's result its name; when that is not
 * possible (the kept result is a graph output too, or is a constant) the
 * duplicate stays. The graph is compacted when something changed. */
#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"

/* Constants up to this size are hashed and merged; bigger ones are weights,
 * rarely duplicated, and would cost a full read each. */
#define CSE_MAX_CONST_BYTES 4096

static uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0x100000001b3ull;
}

static uint64_t mix_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t hash_type(uint64_t h, const ir_type *t) {
  h = mix(h, (uint64_t)t->dtype);
  h = mix(h, (uint64_t)t->rank);
  for (int i = 0; i < t->rank; i++) h = mix(h, (uint64_t)t->dims[i]);
  return h;
}

/* ---- constants --------------------------------------------------------------- */

static int small_const(const ir_graph *g, int v) {
  const ir_value *val = &g->values[v];
  return pass_const_data(g, v) && val->typed && ir_type_nbytes(&val->type) <= CSE_MAX_CONST_BYTES;
}

static uint64_t hash_const(const ir_value *v) {
  uint64_t h = hash_type(1469598103934665603ull, &v->type);
  h = mix(h, (uint64_t)v->is_param);
  return mix_bytes(h, v->data, (size_t)ir_type_nbytes(&v->type));
}

static int const_equal(const ir_value *a, const ir_value *b) {
  return ir_type_equal(&a->type, &b->type) && a->is_param == b->is_param &&
         memcmp(a->data, b->data, (size_t)ir_type_nbytes(&a->type)) == 0;
}

/* ---- nodes --------------------------------------------------------------------- */

static int attr_equal(const ir_attr *a, const ir_attr *b) {
  if (a->kind != b->kind || strcmp(a->name, b->name) != 0) return 0;
  switch (a->kind) {
  case IR_ATTR_INT: return a->i == b->i;
  case IR_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
  case IR_ATTR_STRING: return strcmp(a->s ? a->s : "", b->s ? b->s : "") == 0;
  case IR_ATTR_INTS:
    return a->n == b->n && (a->n == 0 || memcmp(a->ints, b->ints, sizeof(int64_t) * (size_t)a->n) == 0);
  case IR_ATTR_FLOATS:
    return a->n == b->n &&
           (a->n == 0 || memcmp(a->floats, b->floats, sizeof(double) * (size_t)a->n) == 0);
  case IR_ATTR_TENSOR: {
    if (!ir_type_equal(&a->t.type, &b->t.type)) return 0;
    size_t nb = (size_t)ir_type_nbytes(&a->t.type);
    if (nb == 0) return 1;
    if (!a->t.data || !b->t.data) return a->t.data == b->t.data;
    return memcmp(a->t.data, b->t.data, nb) == 0;
  }
  default: KILN_UNREACHABLE();
  }
}

/* Same attributes, in whatever order they are stored. */
static int attrs_equal(const ir_node *a, const ir_node *b) {
  if (a->n_attrs != b->n_attrs) return 0;
  for (int i = 0; i < a->n_attrs; i++) {
    const ir_attr *o = ir_attr_find(b, a->attrs[i].name);
    if (!o || !attr_equal(&a->attrs[i], o)) return 0;
  }
  return 1;
}

static int node_equal(const ir_node *a, const ir_node *b) {
  return a->op == b->op && a->n_in == b->n_in && a->n_out == b->n_out &&
         (a->n_in == 0 || memcmp(a->in, b->in, sizeof(int) * (size_t)a->n_in) == 0) &&
         attrs_equal(a, b);
}

/* Order-independent over attributes (xor of per-attribute hashes). */
static uint64_t hash_node(const ir_node *n) {
  uint64_t h = mix(1469598103934665603ull, (uint64_t)n->op);
  h = mix(h, (uint64_t)n->n_in);
  h = mix(h, (uint64_t)n->n_out);
  for (int k = 0; k < n->n_in; k++) h = mix(h, (uint64_t)(int64_t)n->in[k]);
  uint64_t ah = 0;
  for (int i = 0; i < n->n_attrs; i++) {
    const ir_attr *a = &n->attrs[i];
    uint64_t x = mix_bytes(mix(7, (uint64_t)a->kind), a->name, strlen(a->name));
    if (a->kind == IR_ATTR_INT) x = mix(x, (uint64_t)a->i);
    if (a->kind == IR_ATTR_INTS) x = mix_bytes(x, a->ints, sizeof(int64_t) * (size_t)a->n);
    ah ^= x;
  }
  return mix(h, ah);
}

/* ---- hash table of ids (open addressing, linear probing) ------------------------ */

typedef struct {
  int cap; /* power of two */
  int *id; /* -1: empty */
  uint64_t *h;
} id_table;

static void table_init(id_table *t, int n) {
  t->cap = 16;
  while (t->cap < 2 * n + 2) t->cap *= 2;
  t->id = kiln_xmalloc(sizeof(int) * (size_t)t->cap);
  t->h = kiln_xmalloc(sizeof(uint64_t) * (size_t)t->cap);
  for (int i = 0; i < t->cap; i++) t->id[i] = -1;
}

static void table_free(id_table *t) {
  free(t->id);
  free(t->h);
}

/* The first id with hash h for which eq(x, id) holds, else -1 after
 * inserting x. The table never fills: it holds at most n of 2n+2 slots. */
static int table_find_or_insert(id_table *t, uint64_t h, int x, const ir_graph *g,
                                int (*eq)(const ir_graph *g, int a, int b)) {
  uint64_t mask = (uint64_t)t->cap - 1;
  for (uint64_t s = h & mask;; s = (s + 1) & mask) {
    if (t->id[s] < 0) {
      t->id[s] = x;
      t->h[s] = h;
      return -1;
    }
    if (t->h[s] == h && eq(g, t->id[s], x)) return t->id[s];
  }
}

static int eq_const(const ir_graph *g, int a, int b) {
  return const_equal(&g->values[a], &g->values[b]);
}
static int eq_node(const ir_graph *g, int a, int b) {
  return node_equal(&g->nodes[a], &g->nodes[b]);
}

/* Can every result of `dup` be replaced by the same result of `keep`? Only a
 * graph output needs care: its name has to survive (pass_replace_value). */
static int outputs_replaceable(const ir_graph *g, const ir_node *dup, const ir_node *keep) {
  for (int j = 0; j < dup->n_out; j++)
    if (pass_is_graph_output(g, dup->out[j]) && pass_is_graph_output(g, keep->out[j])) return 0;
  return 1;
}

int pass_cse(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  pass_repl r;
  pass_repl_init(&r, g);
  int merged = 0;

  int n_small = 0;
  for (int v = 0; v < g->n_values; v++) n_small += small_const(g, v);
  id_table ct;
  table_init(&ct, n_small);
  for (int v = 0; v < g->n_values; v++) {
    if (!small_const(g, v)) continue;
    int first = table_find_or_insert(&ct, hash_const(&g->values[v]), v, g, eq_const);
    if (first >= 0 && pass_replace_value(&r, g, v, first)) merged++;
  }
  table_free(&ct);

  id_table nt;
  table_init(&nt, g->n_nodes);
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    pass_repl_apply(&r, g, i);
    if (n->body || n->n_out == 0) continue;
    uint64_t h = hash_node(n);
    int first = table_find_or_insert(&nt, h, i, g, eq_node);
    if (first < 0) continue;
    const ir_node *keep = &g->nodes[first];
    if (!outputs_replaceable(g, n, keep)) continue;
    for (int j = 0; j < n->n_out; j++) {
      int ok = pass_replace_value(&r, g, n->out[j], keep->out[j]);
      KILN_ASSERT(ok); /* checked by outputs_replaceable */
    }
    ir_node_remove(g, i);
    merged++;
  }
  table_free(&nt);
  for (int i = 0; i < g->n_outputs; i++) KILN_ASSERT(pass_repl_find(&r, g->outputs[i]) == g->outputs[i]);
  pass_repl_free(&r);
  ctx->changes += merged;
  if (merged) ir_graph_compact(g);
  (void)d;
  return KILN_OK;
}

/* plan-memory: gives every intermediate value an offset in one arena.
 *
 * Requires: a typed graph whose node order is the execution order (run
 * schedule first to choose it); untyped results get no slot.
 * Guarantees:
 *   - every arena value -- the typed result of a live node that is not a
 *     graph output -- has ir_value.offset, a multiple of PLAN_ALIGN (64),
 *     and a slot of its size rounded up to PLAN_ALIGN inside
 *     [0, g->arena_bytes); every other value has offset -1. Graph outputs
 *     take no arena space: the generated code writes them straight into the
 *     caller's buffers (inputs and constants are the caller's or the
 *     artifact's).
 *   - two arena values live at the same step (memplan.h's liveness: from the
 *     producer's step to the last consumer's, inclusive) never share a byte,
 *     except in-place reuse: the result of an elementwise node (class
 *     ELEMWISE or BROADCAST, not fused, one result) whose type equals an
 *     input's, where that input is an arena value whose last use is this
 *     node, takes the input's slot (the first such input). Graph inputs,
 *     outputs and constants are never written over.
 *   - views (ir_op_is_view: reshape, flatten, squeeze, unsqueeze, identity,
 *     dropout) alias their input: a view is no arena value, its offset is
 *     that of the memory it aliases (-1 outside the arena), and its uses
 *     keep that memory live. The value a graph-output view aliases lives in
 *     the caller's buffer (no arena value). In-place reuse may go through
 *     a view of a dying input.
 *   - g->arena_bytes is the arena's size, a multiple of PLAN_ALIGN, and at
 *     least the lower bound below; deterministic.
 *
 * Algorithm: liveness over node order; values that share a slot in place
 * form one buffer (the union of their lifetimes). Buffers are packed by
 * three strategies and the smallest arena is kept (the first on ties):
 *   PLAN_SIZE_BEST_FIT   largest first; into the smallest gap between
 *                        already placed buffers whose lifetimes intersect
 *                        that fits, else above them (TFLite's greedy by size);
 *   PLAN_SIZE_FIRST_FIT  largest first; at the lowest offset that fits;
 *   PLAN_LIFETIME        in order of definition (then largest first); at the
 *                        lowest offset that fits.
 * Each is O(B^2) for B buffers. Figures (plan_stats): naive = every arena
 * value's aligned size summed; lower bound = the most aligned bytes of
 * buffers live at one step (no packing can do better); arena.
 * The model's total arena is limited to PLAN_MAX_BYTES. */
#include <stdlib.h>
#include <string.h>

#include "passes/memplan.h"

/* Largest naive sum (and so arena) planned: keeps all offset arithmetic far
 * from int64 overflow. */
#define PLAN_MAX_BYTES (INT64_C(1) << 60)

static int64_t align_up(int64_t x) { return (x + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN; }

/* Liveness of g's values in node order (steps are node ids; dead nodes are
 * skipped). */
typedef struct {
  int nv;          /* g->n_values */
  char *arena;     /* value gets an arena slot */
  int64_t *size;   /* aligned slot size */
  int *start, *end; /* steps */
  int *buf;        /* buffer of the value (its own, or the one it reuses) */
  int *root;       /* the value a view aliases (views of views followed); v itself */
} liveness;

static void liveness_free(liveness *l) {
  free(l->arena);
  free(l->size);
  free(l->start);
  free(l->end);
  free(l->buf);
  free(l->root);
}

/* The input whose memory the result of node n aliases when n is a view
 * (ir_op_is_view: the same bytes, reinterpreted), else -1. */
static int view_input(const ir_graph *g, const ir_node *n) {
  if (n->dead || n->body || !ir_op_is_view(n->op) || n->n_out != 1 || n->n_in < 1 || n->in[0] < 0)
    return -1;
  const ir_value *x = &g->values[n->in[0]], *y = &g->values[n->out[0]];
  if (!x->typed || !y->typed || ir_type_nbytes(&x->type) != ir_type_nbytes(&y->type)) return -1;
  return n->in[0];
}

static void liveness_build(const ir_graph *g, liveness *l) {
  int nv = g->n_values;
  l->nv = nv;
  l->arena = kiln_xcalloc((size_t)nv + 1, 1);
  l->size = kiln_xcalloc((size_t)nv + 1, sizeof(int64_t));
  l->start = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  l->end = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  l->buf = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1));
  l->root = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1));
  for (int v = 0; v < nv; v++) l->root[v] = v;
  /* views alias their input (node order: a view's input is resolved first) */
  for (int i = 0; i < g->n_nodes; i++) {
    int x = view_input(g, &g->nodes[i]);
    if (x >= 0) l->root[g->nodes[i].out[0]] = l->root[x];
  }
  for (int v = 0; v < nv; v++) {
    const ir_value *val = &g->values[v];
    l->buf[v] = v;
    l->arena[v] = val->kind == IR_VAL_NODE && !val->dead && val->typed && val->producer >= 0 &&
                  !g->nodes[val->producer].dead && l->root[v] == v;
    if (!l->arena[v]) continue;
    l->size[v] = align_up(ir_type_nbytes(&val->type));
    l->start[v] = l->end[v] = val->producer;
  }
  /* graph outputs, and what a view that is an output aliases, live in the
   * caller's buffers */
  for (int k = 0; k < g->n_outputs; k++) l->arena[l->root[g->outputs[k]]] = 0;
  /* a use of a view is a use of the memory it aliases */
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      if (n->in[k] < 0) continue;
      int r = l->root[n->in[k]];
      if (l->arena[r] && l->end[r] < i) l->end[r] = i;
    }
  }
}

/* Node i may write its result over an input (op class and shape). */
static int in_place_node(const ir_node *n) {
  ir_op_class c = ir_op_get(n->op)->cls;
  return (c == IR_CLASS_ELEMWISE || c == IR_CLASS_BROADCAST) && !n->body && n->n_out == 1 &&
         !n->dead;
}

/* x may share a slot with o, the result of node i: an arena input of i whose
 * last use is i, of o's type. */
static int in_place_pair(const ir_graph *g, const liveness *l, int i, int x, int o) {
  if (x < 0) return 0;
  int r = l->root[x]; /* x may be a view of the memory r */
  return l->arena[r] && l->arena[o] && l->size[r] > 0 && l->end[r] == i &&
         ir_type_equal(&g->values[x].type, &g->values[o].type);
}

/* Merges in-place pairs into buffers: by plan-memory's rule (offs NULL: the
 * first eligible input), or as a plan has them (offs: equal offsets). Returns
 * the number of values written in place. */
static int merge_in_place(const ir_graph *g, liveness *l, const int64_t *offs) {
  int count = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (!in_place_node(n)) continue;
    int o = n->out[0];
    if (!l->arena[o] || l->size[o] == 0) continue;
    for (int k = 0; k < n->n_in; k++) {
      int x = n->in[k];
      if (!in_place_pair(g, l, i, x, o)) continue;
      if (offs && offs[x] != offs[o]) continue;
      l->buf[o] = l->buf[l->root[x]]; /* x is the last of its chain: it dies here */
      count++;
      break;
    }
  }
  return count;
}

/* Buffers: the values that are their own buffer (roots), with the union of
 * their chain's lifetimes. */
typedef struct {
  int nb;
  int *root;      /* value id of buffer b */
  int64_t *size;
  int *start, *end;
  int *of_value;  /* buffer of each arena value */
} buffers;

static void buffers_free(buffers *b) {
  free(b->root);
  free(b->size);
  free(b->start);
  free(b->end);
  free(b->of_value);
}

static void buffers_build(const liveness *l, buffers *b) {
  memset(b, 0, sizeof *b);
  b->root = kiln_xmalloc(sizeof(int) * ((size_t)l->nv + 1));
  b->size = kiln_xmalloc(sizeof(int64_t) * ((size_t)l->nv + 1));
  b->start = kiln_xmalloc(sizeof(int) * ((size_t)l->nv + 1));
  b->end = kiln_xmalloc(sizeof(int) * ((size_t)l->nv + 1));
  b->of_value = kiln_xmalloc(sizeof(int) * ((size_t)l->nv + 1));
  for (int v = 0; v < l->nv; v++) {
    b->of_value[v] = -1;
    if (!l->arena[v] || l->buf[v] != v) continue;
    int k = b->nb++;
    b->root[k] = v;
    b->size[k] = l->size[v];
    b->start[k] = l->start[v];
    b->end[k] = l->end[v];
    b->of_value[v] = k;
  }
  /* values reusing a slot: merge_in_place points each straight at its
   * chain's root */
  for (int v = 0; v < l->nv; v++) {
    if (!l->arena[v] || l->buf[v] == v) continue;
    int k = b->of_value[l->buf[v]];
    KILN_ASSERT(k >= 0);
    b->of_value[v] = k;
    if (l->end[v] > b->end[k]) b->end[k] = l->end[v];
  }
}

int64_t plan_lower_bound(int n, const int64_t *size, const int *start, const int *end) {
  int steps = 0;
  for (int k = 0; k < n; k++)
    if (end[k] + 1 > steps) steps = end[k] + 1;
  int64_t *delta = kiln_xcalloc((size_t)steps + 2, sizeof(int64_t));
  for (int k = 0; k < n; k++) {
    KILN_ASSERT(start[k] >= 0 && start[k] <= end[k]);
    delta[start[k]] += size[k];
    delta[end[k] + 1] -= size[k];
  }
  int64_t live = 0, peak = 0;
  for (int i = 0; i <= steps; i++) {
    live += delta[i];
    if (live > peak) peak = live;
  }
  free(delta);
  return peak;
}

/* ---- packing ------------------------------------------------------------------------ */

typedef struct {
  int64_t k0, k1;
  int idx;
} pkey;

static int pkey_cmp(const void *a, const void *b) {
  const pkey *x = a, *y = b;
  if (x->k0 != y->k0) return x->k0 < y->k0 ? -1 : 1;
  if (x->k1 != y->k1) return x->k1 < y->k1 ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

int64_t plan_pack(int nb, const int64_t *size, const int *start, const int *end,
                  plan_strategy s, int64_t *off) {
  KILN_ASSERT(s >= 0 && s < PLAN_STRATEGY_COUNT);
  pkey *order = kiln_xmalloc(sizeof(pkey) * ((size_t)nb + 1));
  for (int k = 0; k < nb; k++) {
    if (s == PLAN_LIFETIME) order[k] = (pkey){start[k], -size[k], k};
    else order[k] = (pkey){-size[k], start[k], k};
  }
  qsort(order, (size_t)nb, sizeof(pkey), pkey_cmp);
  int *placed = kiln_xmalloc(sizeof(int) * ((size_t)nb + 1)); /* by offset, then index */
  int np = 0;
  int64_t arena = 0;
  for (int q = 0; q < nb; q++) {
    int k = order[q].idx;
    int64_t sz = size[k];
    off[k] = 0;
    if (sz == 0) continue; /* empty tensors take no bytes */
    int64_t prev = 0, best = -1, best_gap = INT64_MAX;
    for (int e = 0; e < np; e++) {
      int p = placed[e];
      if (end[p] < start[k] || end[k] < start[p]) continue; /* not live together */
      if (off[p] - prev >= sz) {
        int64_t gap = off[p] - prev;
        if (s != PLAN_SIZE_BEST_FIT) {
          best = prev;
          break;
        }
        if (gap < best_gap) {
          best_gap = gap;
          best = prev;
        }
      }
      if (off[p] + size[p] > prev) prev = off[p] + size[p];
    }
    if (best < 0) best = prev;
    off[k] = best;
    if (best + sz > arena) arena = best + sz;
    int e = np++;
    while (e > 0 && (off[placed[e - 1]] > best || (off[placed[e - 1]] == best && placed[e - 1] > k))) {
      placed[e] = placed[e - 1];
      e--;
    }
    placed[e] = k;
  }
  free(order);
  free(placed);
  return arena;
}

/* ---- entry points ---------------------------------------------------------------------- */

int plan_memory_run(ir_graph *g, plan_strategy s, int in_place, plan_stats *st, kiln_diag *d) {
  KILN_ASSERT(s == PLAN_BEST || (s >= 0 && s < PLAN_STRATEGY_COUNT));
  memset(st, 0, sizeof *st);
  liveness l;
  liveness_build(g, &l);
  for (int v = 0; v < l.nv; v++) {
    if (!l.arena[v]) continue;
    st->values++;
    st->naive_bytes += l.size[v];
    if (st->naive_bytes > PLAN_MAX_BYTES) {
      liveness_free(&l);
      return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                             "%s: the intermediate values take more than %lld bytes; kiln "
                             "cannot plan an arena this large",
                             g->source ? g->source : g->name, (long long)PLAN_MAX_BYTES);
    }
  }
  if (in_place) st->in_place = merge_in_place(g, &l, NULL);
  buffers b;
  buffers_build(&l, &b);
  st->lower_bound_bytes = plan_lower_bound(b.nb, b.size, b.start, b.end);
  int64_t *off = kiln_xmalloc(sizeof(int64_t) * ((size_t)b.nb + 1));
  int64_t *best_off = kiln_xmalloc(sizeof(int64_t) * ((size_t)b.nb + 1));
  int64_t best = -1;
  for (int k = 0; k < PLAN_STRATEGY_COUNT; k++) {
    if (s != PLAN_BEST && k != (int)s) continue;
    int64_t a = plan_pack(b.nb, b.size, b.start, b.end, (plan_strategy)k, off);
    if (best < 0 || a < best) {
      best = a;
      st->strategy = (plan_strategy)k;
      memcpy(best_off, off, sizeof(int64_t) * (size_t)b.nb);
    }
  }
  for (int v = 0; v < g->n_values; v++)
    g->values[v].offset = l.arena[v] ? best_off[b.of_value[v]] : -1;
  /* views: the offset of the memory they alias */
  for (int v = 0; v < g->n_values; v++)
    if (l.root[v] != v) g->values[v].offset = g->values[l.root[v]].offset;
  g->arena_bytes = best;
  st->arena_bytes = best;
  KILN_ASSERT(best >= st->lower_bound_bytes && best <= st->naive_bytes);
  free(off);
  free(best_off);
  buffers_free(&b);
  liveness_free(&l);
  return KILN_OK;
}

void plan_memory_stats(const ir_graph *g, plan_stats *st) {
  memset(st, 0, sizeof *st);
  liveness l;
  liveness_build(g, &l);
  int64_t *offs = kiln_xmalloc(sizeof(int64_t) * ((size_t)l.nv + 1));
  for (int v = 0; v < l.nv; v++) {
    offs[v] = g->values[v].offset;
    if (!l.arena[v]) continue;
    st->values++;
    st->naive_bytes += l.size[v];
  }
  st->in_place = merge_in_place(g, &l, offs);
  buffers b;
  buffers_build(&l, &b);
  st->lower_bound_bytes = plan_lower_bound(b.nb, b.size, b.start, b.end);
  st->arena_bytes = g->arena_bytes;
  st->strategy = PLAN_BEST;
  buffers_free(&b);
  liveness_free(&l);
  free(offs);
}

typedef struct {
  int start, v;
} vstart;

static int vstart_cmp(const void *a, const void *b) {
  const vstart *x = a, *y = b;
  if (x->start != y->start) return x->start < y->start ? -1 : 1;
  return (x->v > y->v) - (x->v < y->v);
}

/* o written in place over x, as the plan says (same offset, legal pair). */
static int planned_in_place(const ir_graph *g, const liveness *l, int x, int o) {
  int i = g->values[o].producer;
  if (i < 0 || !in_place_node(&g->nodes[i]) || g->values[x].offset != g->values[o].offset)
    return 0;
  const ir_node *n = &g->nodes[i];
  for (int k = 0; k < n->n_in; k++)
    if (n->in[k] >= 0 && l->root[n->in[k]] == x) return in_place_pair(g, l, i, n->in[k], o);
  return 0;
}

int plan_memory_check(const ir_graph *g, kiln_diag *d) {
  const char *src = g->source ? g->source : g->name;
  if (g->arena_bytes < 0)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: the graph has no memory plan", src);
  liveness l;
  liveness_build(g, &l);
  int rc = KILN_OK;
  vstart *vs = kiln_xmalloc(sizeof(vstart) * ((size_t)l.nv + 1));
  int n = 0;
  for (int v = 0; v < l.nv && !rc; v++) {
    const ir_value *val = &g->values[v];
    if (!l.arena[v] && l.root[v] != v) {
      /* a view: where its memory is */
      int64_t want = g->values[l.root[v]].offset;
      if (!l.arena[l.root[v]]) want = -1;
      if (val->offset != want && !val->dead)
        rc = kiln_diag_error(d, KILN_E_INVALID, "%s: view '%s' has offset %lld, not %lld (that "
                             "of '%s', whose memory it aliases)",
                             src, val->name, (long long)val->offset, (long long)want,
                             g->values[l.root[v]].name);
      continue;
    }
    if (!l.arena[v]) {
      if (val->offset != -1 && !val->dead)
        rc = kiln_diag_error(d, KILN_E_INVALID, "%s: '%s' lives outside the arena but has offset %lld",
                             src, val->name, (long long)val->offset);
      continue;
    }
    if (val->offset < 0 || val->offset % PLAN_ALIGN != 0 ||
        val->offset + l.size[v] > g->arena_bytes)
      rc = kiln_diag_error(d, KILN_E_INVALID,
                           "%s: '%s' has offset %lld (size %lld) in an arena of %lld bytes", src,
                           val->name, (long long)val->offset, (long long)l.size[v],
                           (long long)g->arena_bytes);
    if (l.size[v] > 0) vs[n++] = (vstart){l.start[v], v};
  }
  qsort(vs, (size_t)n, sizeof(vstart), vstart_cmp);
  for (int a = 0; a < n && !rc; a++) {
    int x = vs[a].v;
    for (int b = a + 1; b < n && vs[b].start <= l.end[x] && !rc; b++) {
      int y = vs[b].v;
      int64_t ox = g->values[x].offset, oy = g->values[y].offset;
      if (ox + l.size[x] <= oy || oy + l.size[y] <= ox) continue; /* disjoint bytes */
      if (planned_in_place(g, &l, x, y) || planned_in_place(g, &l, y, x)) continue;
      rc = kiln_diag_error(d, KILN_E_INVALID,
                           "%s: '%s' [%lld, +%lld) and '%s' [%lld, +%lld) are live at the same "
                           "time and overlap in the arena",
                           src, g->values[x].name, (long long)ox, (long long)l.size[x],
                           g->values[y].name, (long long)oy, (long long)l.size[y]);
    }
  }
  free(vs);
  liveness_free(&l);
  return rc;
}

int pass_plan_memory(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  plan_stats st;
  int rc = plan_memory_run(g, PLAN_BEST, 1, &st, d);
  if (!rc && ctx->opts->verify_each) {
    rc = plan_memory_check(g, d);
    if (rc) kiln_diag_prefix(d, "plan-memory: ");
  }
  ctx->changes += st.values;
  return rc;
}

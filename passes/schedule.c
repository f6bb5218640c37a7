/* schedule: chooses the node order (the execution order) to lower the peak
 * of live intermediate memory.
 *
 * Requires: a typed graph in topological node order (untyped results count
 * as 0 bytes).
 * Guarantees: the node order is a topological order of the same nodes whose
 * peak live bytes (memplan.h's model: an intermediate lives from its
 * producer's step to its last consumer's, graph outputs to the end, inputs
 * and constants never) is no higher than the original order's; the original
 * order is kept when nothing is strictly better. Deterministic: the result
 * depends only on the graph. When the order changes, any memory plan is
 * dropped (offsets -1, arena_bytes -1): run plan-memory after schedule.
 * Dead nodes are compacted away first.
 *
 * Algorithm: the original order, four greedy list schedules
 * (SCHED_GREEDY_*) and, for graphs of at most SCHED_EXACT_MAX_NODES nodes,
 * an exact dynamic programme over the sets of executed nodes, pruned by the
 * best peak found so far and bounded by SCHED_EXACT_MAX_STATES states and
 * SCHED_EXACT_MAX_WORK node visits (past them the best heuristic order
 * stands). The lowest peak wins; ties go to the original order, then to the
 * earlier candidate in the list above. Cost: O(n * R * d) per greedy
 * variant (R: ready nodes at a step, d: operands per node); the exact search
 * is bounded by its limits. */
#include <stdlib.h>
#include <string.h>

#include "passes/memplan.h"

/* The graph as the scheduler sees it. Nodes are numbered by their position
 * among the live nodes (0..n-1, in node order); "counted" values are the
 * typed results of live nodes. Lists are CSR arrays (x_start[k]..x_start[k+1]). */
typedef struct {
  int n;               /* live nodes */
  int *node;           /* node id of position k */
  int64_t *outb;       /* bytes of node k's counted results */
  int nv;              /* counted values */
  int64_t *size;       /* bytes of counted value j */
  char *keep;          /* j is a graph output: never freed */
  int *ncons;          /* distinct consumer nodes of j */
  int *cons_start, *cons; /* consumer positions of j */
  int *res_start, *res;   /* counted results of node k */
  int *arg_start, *arg;   /* distinct counted inputs of node k */
  int *pred_start, *pred; /* distinct producer positions of node k's inputs */
  int *succ_start, *succ; /* distinct consumer positions of node k's results */
} sdag;

static void sdag_free(sdag *s) {
  free(s->node);
  free(s->outb);
  free(s->size);
  free(s->keep);
  free(s->ncons);
  free(s->cons_start);
  free(s->cons);
  free(s->res_start);
  free(s->res);
  free(s->arg_start);
  free(s->arg);
  free(s->pred_start);
  free(s->pred);
  free(s->succ_start);
  free(s->succ);
}

/* Builds the CSR list start[] from per-row counts (start has rows + 1). */
static int *csr_start(const int *cnt, int rows) {
  int *start = kiln_xcalloc((size_t)rows + 2, sizeof(int));
  for (int k = 0; k < rows; k++) start[k + 1] = start[k] + cnt[k];
  return start;
}

static void sdag_build(const ir_graph *g, sdag *s) {
  memset(s, 0, sizeof *s);
  int nn = g->n_nodes, nval = g->n_values;
  int *pos = kiln_xmalloc(sizeof(int) * ((size_t)nn + 1));
  int *vid = kiln_xmalloc(sizeof(int) * ((size_t)nval + 1));
  s->node = kiln_xmalloc(sizeof(int) * ((size_t)nn + 1));
  for (int i = 0; i < nn; i++) {
    pos[i] = -1;
    if (!g->nodes[i].dead) {
      pos[i] = s->n;
      s->node[s->n++] = i;
    }
  }
  int n = s->n;
  /* counted values, in value order */
  for (int v = 0; v < nval; v++) {
    const ir_value *val = &g->values[v];
    int p = val->kind == IR_VAL_NODE && !val->dead && val->producer >= 0 ? pos[val->producer] : -1;
    vid[v] = p >= 0 && val->typed ? s->nv++ : -1;
  }
  int nv = s->nv;
  s->size = kiln_xcalloc((size_t)nv + 1, sizeof(int64_t));
  s->keep = kiln_xcalloc((size_t)nv + 1, 1);
  s->outb = kiln_xcalloc((size_t)n + 1, sizeof(int64_t));
  for (int v = 0; v < nval; v++)
    if (vid[v] >= 0) s->size[vid[v]] = ir_type_nbytes(&g->values[v].type);
  for (int k = 0; k < g->n_outputs; k++)
    if (vid[g->outputs[k]] >= 0) s->keep[vid[g->outputs[k]]] = 1;

  /* per node: results, distinct counted inputs, distinct predecessors */
  int nmark = nv > n ? nv : n;
  int *mark = kiln_xmalloc(sizeof(int) * ((size_t)nmark + 1));
  int *cres = kiln_xcalloc((size_t)n + 1, sizeof(int));
  int *carg = kiln_xcalloc((size_t)n + 1, sizeof(int));
  int *cpred = kiln_xcalloc((size_t)n + 1, sizeof(int));
  int *csucc = kiln_xcalloc((size_t)n + 1, sizeof(int));
  s->ncons = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  /* pass 1 counts, pass 2 fills; `mark` dedups per node with stamps */
  for (int pass = 0; pass < 2; pass++) {
    int *fres = NULL, *farg = NULL, *fpred = NULL, *fsucc = NULL, *fcons = NULL;
    if (pass == 1) {
      s->res_start = csr_start(cres, n);
      s->arg_start = csr_start(carg, n);
      s->pred_start = csr_start(cpred, n);
      s->succ_start = csr_start(csucc, n);
      s->cons_start = csr_start(s->ncons, nv);
      s->res = kiln_xmalloc(sizeof(int) * ((size_t)s->res_start[n] + 1));
      s->arg = kiln_xmalloc(sizeof(int) * ((size_t)s->arg_start[n] + 1));
      s->pred = kiln_xmalloc(sizeof(int) * ((size_t)s->pred_start[n] + 1));
      s->succ = kiln_xmalloc(sizeof(int) * ((size_t)s->succ_start[n] + 1));
      s->cons = kiln_xmalloc(sizeof(int) * ((size_t)s->cons_start[nv] + 1));
      fres = kiln_xcalloc((size_t)n + 1, sizeof(int));
      farg = kiln_xcalloc((size_t)n + 1, sizeof(int));
      fpred = kiln_xcalloc((size_t)n + 1, sizeof(int));
      fsucc = kiln_xcalloc((size_t)n + 1, sizeof(int));
      fcons = kiln_xcalloc((size_t)nv + 1, sizeof(int));
    }
    for (int i = 0; i < nmark; i++) mark[i] = -1;
    for (int k = 0; k < n; k++) {
      const ir_node *nd = &g->nodes[s->node[k]];
      for (int j = 0; j < nd->n_out; j++) {
        int c = vid[nd->out[j]];
        if (c < 0) continue;
        if (pass == 0) {
          cres[k]++;
          s->outb[k] += s->size[c];
        } else {
          s->res[s->res_start[k] + fres[k]++] = c;
        }
      }
      /* distinct counted inputs (mark[j] == k: seen at this node) */
      for (int a = 0; a < nd->n_in; a++) {
        int v = nd->in[a];
        if (v < 0 || vid[v] < 0 || mark[vid[v]] == k) continue;
        mark[vid[v]] = k;
        int c = vid[v];
        if (pass == 0) {
          carg[k]++;
          s->ncons[c]++;
        } else {
          s->arg[s->arg_start[k] + farg[k]++] = c;
          s->cons[s->cons_start[c] + fcons[c]++] = k;
        }
      }
    }
    /* predecessors/successors: distinct producer positions (any producer,
     * typed or not) */
    for (int i = 0; i < nmark; i++) mark[i] = -1;
    for (int k = 0; k < n; k++) {
      const ir_node *nd = &g->nodes[s->node[k]];
      for (int a = 0; a < nd->n_in; a++) {
        int v = nd->in[a];
        if (v < 0) continue;
        const ir_value *val = &g->values[v];
        int p = val->kind == IR_VAL_NODE && val->producer >= 0 ? pos[val->producer] : -1;
        if (p < 0 || mark[p] == k) continue;
        mark[p] = k;
        if (pass == 0) {
          cpred[k]++;
          csucc[p]++;
        } else {
          s->pred[s->pred_start[k] + fpred[k]++] = p;
          s->succ[s->succ_start[p] + fsucc[p]++] = k;
        }
      }
    }
    free(fres);
    free(farg);
    free(fpred);
    free(fsucc);
    free(fcons);
  }
  free(mark);
  free(cres);
  free(carg);
  free(cpred);
  free(csucc);
  free(pos);
  free(vid);
}

/* Bytes freed right after node k runs, given rem[j] = consumers of j not yet
 * run (k included): k's unread results, and inputs whose last consumer is k. */
static int64_t freed_after(const sdag *s, int k, const int *rem) {
  int64_t f = 0;
  for (int e = s->res_start[k]; e < s->res_start[k + 1]; e++) {
    int j = s->res[e];
    if (s->ncons[j] == 0 && !s->keep[j]) f += s->size[j];
  }
  for (int e = s->arg_start[k]; e < s->arg_start[k + 1]; e++) {
    int j = s->arg[e];
    if (rem[j] == 1 && !s->keep[j]) f += s->size[j];
  }
  return f;
}

/* Peak of an order of positions. */
static int64_t simulate(const sdag *s, const int *order) {
  int *rem = kiln_xmalloc(sizeof(int) * ((size_t)s->nv + 1));
  memcpy(rem, s->ncons, sizeof(int) * (size_t)s->nv);
  int64_t live = 0, peak = 0;
  for (int t = 0; t < s->n; t++) {
    int k = order[t];
    live += s->outb[k];
    if (live > peak) peak = live;
    live -= freed_after(s, k, rem);
    for (int e = s->arg_start[k]; e < s->arg_start[k + 1]; e++) rem[s->arg[e]]--;
  }
  free(rem);
  return peak;
}

int64_t sched_peak_bytes(const ir_graph *g, const int *order) {
  sdag s;
  sdag_build(g, &s);
  int *p = kiln_xmalloc(sizeof(int) * ((size_t)s.n + 1));
  if (!order) {
    for (int k = 0; k < s.n; k++) p[k] = k;
  } else {
    int *pos = kiln_xmalloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    for (int k = 0; k < s.n; k++) pos[s.node[k]] = k;
    for (int k = 0; k < s.n; k++) p[k] = pos[order[k]];
    free(pos);
  }
  int64_t peak = simulate(&s, p);
  free(p);
  sdag_free(&s);
  return peak;
}

/* ---- greedy list scheduling ------------------------------------------------------- */

/* Candidate keys, compared lexicographically (smaller wins). */
typedef struct {
  int64_t k[3];
} gkey;

static int key_less(const gkey *a, const gkey *b) {
  for (int i = 0; i < 3; i++)
    if (a->k[i] != b->k[i]) return a->k[i] < b->k[i];
  return 0;
}

/* Writes an order of positions; returns its peak. */
static int64_t greedy(const sdag *s, sched_greedy_variant v, int *order) {
  int n = s->n;
  int *rem = kiln_xmalloc(sizeof(int) * ((size_t)s->nv + 1));
  memcpy(rem, s->ncons, sizeof(int) * (size_t)s->nv);
  int *waiting = kiln_xcalloc((size_t)n + 1, sizeof(int));
  int *ready = kiln_xmalloc(sizeof(int) * ((size_t)n + 1));
  int *stamp = kiln_xmalloc(sizeof(int) * ((size_t)n + 1));
  int nr = 0;
  for (int k = 0; k < n; k++) {
    waiting[k] = s->pred_start[k + 1] - s->pred_start[k];
    stamp[k] = -1;
    if (!waiting[k]) ready[nr++] = k;
  }
  int64_t live = 0, peak = 0;
  for (int t = 0; t < n; t++) {
    KILN_ASSERT(nr > 0); /* the graph is acyclic */
    int best = -1;
    int64_t best_freed = 0;
    gkey bk = {{0, 0, 0}};
    for (int r = 0; r < nr; r++) {
      int k = ready[r];
      int64_t alloc = s->outb[k], fr = freed_after(s, k, rem), net = alloc - fr;
      gkey key;
      switch (v) {
      case SCHED_GREEDY_NET: key = (gkey){{net, k, 0}}; break;
      case SCHED_GREEDY_FREE: key = (gkey){{-fr, alloc, k}}; break;
      case SCHED_GREEDY_STEP: key = (gkey){{live + alloc, net, k}}; break;
      default: key = (gkey){{net, -(int64_t)stamp[k], k}}; break;
      }
      if (best < 0 || key_less(&key, &bk)) {
        best = ready[r];
        bk = key;
        best_freed = fr;
      }
    }
    for (int r = 0; r < nr; r++)
      if (ready[r] == best) {
        ready[r] = ready[--nr];
        break;
      }
    order[t] = best;
    live += s->outb[best];
    if (live > peak) peak = live;
    live -= best_freed;
    for (int e = s->arg_start[best]; e < s->arg_start[best + 1]; e++) rem[s->arg[e]]--;
    for (int e = s->succ_start[best]; e < s->succ_start[best + 1]; e++) {
      int u = s->succ[e];
      if (--waiting[u] == 0) {
        stamp[u] = t;
        ready[nr++] = u;
      }
    }
  }
  free(rem);
  free(waiting);
  free(ready);
  free(stamp);
  return peak;
}

int64_t sched_greedy(const ir_graph *g, sched_greedy_variant v, int *order) {
  sdag s;
  sdag_build(g, &s);
  int64_t peak = greedy(&s, v, order);
  for (int t = 0; t < s.n; t++) order[t] = s.node[order[t]];
  sdag_free(&s);
  return peak;
}

/* ---- exact search ----------------------------------------------------------------- */

typedef struct {
  int words;          /* 64-bit words per set */
  int cap, count;     /* states stored */
  uint64_t *bits;     /* count * words */
  int64_t *value;     /* least peak of an order reaching the state */
  int64_t *live;      /* live bytes after the state's nodes ran */
  int *parent, *via;  /* best predecessor state and the node run from it */
  int *slot;          /* the state's entry in hash */
  int *hash;          /* open addressing over the layer being built; -1 empty */
  int hash_cap;       /* a power of two, more than twice the layer's states */
  int layer_start;    /* first state of the layer being built */
} xsearch;

static uint64_t set_hash(const uint64_t *b, int words) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (int w = 0; w < words; w++) {
    h ^= b[w];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return h;
}

static int in_set(const uint64_t *b, int k) { return (int)((b[k >> 6] >> (k & 63)) & 1); }

/* Inserts state st into the hash table (not present yet). */
static void hash_insert(xsearch *x, int st) {
  uint64_t h = set_hash(x->bits + (size_t)st * (size_t)x->words, x->words);
  int mask = x->hash_cap - 1, i = (int)(h & (uint64_t)mask);
  while (x->hash[i] >= 0) i = (i + 1) & mask;
  x->hash[i] = st;
  x->slot[st] = i;
}

/* The state with set b in the layer being built, added when new (value
 * INT64_MAX). -1 when the state limit is reached. */
static int lookup_or_add(xsearch *x, const uint64_t *b, int max_states) {
  if (2 * (x->count - x->layer_start + 1) >= x->hash_cap) { /* grow, rehash the layer */
    x->hash_cap *= 2;
    x->hash = kiln_xrealloc(x->hash, sizeof(int) * (size_t)x->hash_cap);
    for (int i = 0; i < x->hash_cap; i++) x->hash[i] = -1;
    for (int st = x->layer_start; st < x->count; st++) hash_insert(x, st);
  }
  uint64_t h = set_hash(b, x->words);
  int mask = x->hash_cap - 1;
  for (int i = (int)(h & (uint64_t)mask);; i = (i + 1) & mask) {
    int st = x->hash[i];
    if (st < 0) {
      if (x->count >= max_states) return -1;
      if (x->count == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 1024;
        if (x->cap > max_states) x->cap = max_states;
        x->bits = kiln_xrealloc(x->bits, sizeof(uint64_t) * (size_t)x->cap * (size_t)x->words);
        x->value = kiln_xrealloc(x->value, sizeof(int64_t) * (size_t)x->cap);
        x->live = kiln_xrealloc(x->live, sizeof(int64_t) * (size_t)x->cap);
        x->parent = kiln_xrealloc(x->parent, sizeof(int) * (size_t)x->cap);
        x->via = kiln_xrealloc(x->via, sizeof(int) * (size_t)x->cap);
        x->slot = kiln_xrealloc(x->slot, sizeof(int) * (size_t)x->cap);
      }
      st = x->count++;
      memcpy(x->bits + (size_t)st * (size_t)x->words, b, sizeof(uint64_t) * (size_t)x->words);
      x->value[st] = INT64_MAX;
      x->hash[i] = st;
      x->slot[st] = i;
      return st;
    }
    if (!memcmp(x->bits + (size_t)st * (size_t)x->words, b, sizeof(uint64_t) * (size_t)x->words))
      return st;
  }
}

/* The search over positions; order receives positions. */
static sched_exact_result exact(const sdag *s, int64_t bound, int max_states, int *order,
                                int64_t *peak) {
  int n = s->n;
  if (n > SCHED_EXACT_MAX_NODES) return SCHED_EXACT_LIMIT;
  if (max_states <= 0 || max_states > SCHED_EXACT_MAX_STATES) max_states = SCHED_EXACT_MAX_STATES;
  xsearch x;
  memset(&x, 0, sizeof x);
  x.words = (n + 63) / 64 ? (n + 63) / 64 : 1;
  x.hash_cap = 64;
  x.hash = kiln_xmalloc(sizeof(int) * (size_t)x.hash_cap);
  for (int i = 0; i < x.hash_cap; i++) x.hash[i] = -1;
  uint64_t *cur = kiln_xcalloc((size_t)x.words, sizeof(uint64_t));
  int *ready = kiln_xmalloc(sizeof(int) * ((size_t)n + 1));
  int *rem = kiln_xmalloc(sizeof(int) * ((size_t)s->nv + 1));
  sched_exact_result res = SCHED_EXACT_NONE;
  int64_t work = 0;

  int root = lookup_or_add(&x, cur, max_states);
  x.value[root] = 0;
  x.live[root] = 0;
  x.parent[root] = -1;
  x.via[root] = -1;
  int lo = 0, hi = 1;
  for (int layer = 0; layer < n && res == SCHED_EXACT_NONE; layer++) {
    /* the table dedups within the layer being built: empty it */
    for (int st = lo; st < hi; st++) x.hash[x.slot[st]] = -1;
    x.layer_start = hi;
    for (int st = lo; st < hi && res == SCHED_EXACT_NONE; st++) {
      if (x.value[st] >= bound) continue;
      memcpy(cur, x.bits + (size_t)st * (size_t)x.words, sizeof(uint64_t) * (size_t)x.words);
      int nr = 0;
      for (int k = 0; k < n; k++) {
        work++;
        if (in_set(cur, k)) continue;
        int ok = 1;
        for (int e = s->pred_start[k]; e < s->pred_start[k + 1] && ok; e++) {
          work++;
          ok = in_set(cur, s->pred[e]);
        }
        if (ok) ready[nr++] = k;
      }
      for (int r = 0; r < nr && res == SCHED_EXACT_NONE; r++) {
        int k = ready[r];
        int64_t step = x.live[st] + s->outb[k];
        int64_t val = step > x.value[st] ? step : x.value[st];
        if (val >= bound) continue;
        /* rem[j] for k's inputs: consumers outside the set (k included) */
        for (int e = s->arg_start[k]; e < s->arg_start[k + 1]; e++) {
          int j = s->arg[e], c = 0;
          for (int f = s->cons_start[j]; f < s->cons_start[j + 1]; f++) {
            work++;
            c += !in_set(cur, s->cons[f]);
          }
          rem[j] = c;
        }
        int64_t after = step - freed_after(s, k, rem);
        cur[k >> 6] |= UINT64_C(1) << (k & 63);
        int t = lookup_or_add(&x, cur, max_states);
        cur[k >> 6] &= ~(UINT64_C(1) << (k & 63));
        if (t < 0) {
          res = SCHED_EXACT_LIMIT;
          break;
        }
        if (val < x.value[t]) {
          x.value[t] = val;
          x.live[t] = after;
          x.parent[t] = st;
          x.via[t] = k;
        }
      }
      if (work > SCHED_EXACT_MAX_WORK) res = SCHED_EXACT_LIMIT;
    }
    lo = hi;
    hi = x.count;
    if (lo == hi) break; /* every path was pruned: nothing beats the bound */
  }
  if (res == SCHED_EXACT_NONE && n == 0 && bound > 0) {
    *peak = 0;
    res = SCHED_EXACT_BETTER;
  } else if (res == SCHED_EXACT_NONE && lo < hi && n > 0) {
    /* the last layer holds the full set (one state), below the bound */
    KILN_ASSERT(hi - lo == 1 && x.value[lo] < bound);
    *peak = x.value[lo];
    int t = n;
    for (int st = lo; x.parent[st] >= 0; st = x.parent[st]) order[--t] = x.via[st];
    KILN_ASSERT(t == 0);
    res = SCHED_EXACT_BETTER;
  }
  free(x.bits);
  free(x.value);
  free(x.live);
  free(x.parent);
  free(x.via);
  free(x.slot);
  free(x.hash);
  free(cur);
  free(ready);
  free(rem);
  return res;
}

sched_exact_result sched_exact(const ir_graph *g, int64_t bound, int max_states, int *order,
                               int64_t *peak) {
  sdag s;
  sdag_build(g, &s);
  sched_exact_result r = exact(&s, bound, max_states, order, peak);
  if (r == SCHED_EXACT_BETTER)
    for (int t = 0; t < s.n; t++) order[t] = s.node[order[t]];
  sdag_free(&s);
  return r;
}

/* ---- the pass --------------------------------------------------------------------- */

/* Puts node order[k] (ids, every live node once) at position k; returns how
 * many nodes moved. */
static int apply_order(ir_graph *g, const int *order, int n) {
  int moved = 0;
  for (int k = 0; k < n; k++) moved += order[k] != k;
  if (!moved) return 0;
  ir_node *nodes = kiln_xmalloc(sizeof(ir_node) * ((size_t)n + 1));
  int *nmap = kiln_xmalloc(sizeof(int) * ((size_t)g->n_nodes + 1));
  for (int k = 0; k < n; k++) {
    nodes[k] = g->nodes[order[k]];
    nmap[order[k]] = k;
  }
  memcpy(g->nodes, nodes, sizeof(ir_node) * (size_t)n);
  for (int v = 0; v < g->n_values; v++) {
    ir_value *val = &g->values[v];
    if (val->producer >= 0) val->producer = nmap[val->producer];
    val->offset = -1; /* the memory plan belonged to the old order */
  }
  g->arena_bytes = -1;
  free(nodes);
  free(nmap);
  return moved;
}

int pass_schedule(ir_graph *g, pass_ctx *ctx, kiln_diag *d) {
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].dead) {
      ir_graph_compact(g);
      break;
    }
  sdag s;
  sdag_build(g, &s);
  int n = s.n;
  KILN_ASSERT(n == g->n_nodes);
  int *best = kiln_xmalloc(sizeof(int) * ((size_t)n + 1));
  int *cand = kiln_xmalloc(sizeof(int) * ((size_t)n + 1));
  for (int k = 0; k < n; k++) best[k] = k;
  int64_t best_peak = simulate(&s, best);
  for (int v = 0; v < SCHED_GREEDY_COUNT && n > 1; v++) {
    int64_t p = greedy(&s, (sched_greedy_variant)v, cand);
    if (p < best_peak) {
      best_peak = p;
      memcpy(best, cand, sizeof(int) * (size_t)n);
    }
  }
  int64_t p;
  if (n > 1 && best_peak > 0 && exact(&s, best_peak, 0, cand, &p) == SCHED_EXACT_BETTER) {
    best_peak = p;
    memcpy(best, cand, sizeof(int) * (size_t)n);
  }
  /* positions are node ids: the graph has no dead nodes */
  ctx->changes += apply_order(g, best, n);
  free(best);
  free(cand);
  sdag_free(&s);
  (void)d;
  return KILN_OK;
}

/* The pass manager: the pass registry (passes.def), pipelines (-O levels and
 * --passes lists), and pass_run with --verify-each, --time-passes and
 * --dump-after. Also the small helpers the rewriting passes share.
 *
 * Requires: a graph that satisfies ir_verify (the caller parses and checks
 * it). Guarantees: the passes run in order; the first failure stops the
 * pipeline and its message names the pass when a check after it failed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "passes/pass.h"

/* Longest dump path (dump_dir + "/NN-name.kir.bin"). */
#define PASS_MAX_PATH 4096

static const pass_info pass_table[] = {
#define PASS(name, desc, fn) {name, desc, fn},
#include "passes.def"
#undef PASS
};
#define PASS_COUNT ((int)(sizeof pass_table / sizeof pass_table[0]))

void pass_options_default(pass_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
}

const pass_info *pass_list(int *n) {
  *n = PASS_COUNT;
  return pass_table;
}

const pass_info *pass_find(const char *name) {
  for (int i = 0; i < PASS_COUNT; i++)
    if (strcmp(pass_table[i].name, name) == 0) return &pass_table[i];
  return NULL;
}

/* ---- pipelines --------------------------------------------------------------- */

static const char *const pipeline_o0[] = {"infer-shapes"};
static const char *const pipeline_o1[] = {"infer-shapes",   "simplify",   "fold-constants",
                                          "fold-batchnorm", "fold-scale", "dce",
                                          "cse",            "dce"};
/* -O1, then fusion, the execution order and the memory plan */
static const char *const pipeline_o2[] = {"infer-shapes",   "simplify",   "fold-constants",
                                          "fold-batchnorm", "fold-scale", "dce",
                                          "cse",            "dce",        "fuse",
                                          "schedule",       "plan-memory"};

int pass_pipeline_for_level(int level, pass_pipeline *p) {
  const char *const *names;
  int n;
  p->n = 0;
  if (level < 0 || level > 3) return KILN_E_USAGE;
  if (level == 0) {
    names = pipeline_o0;
    n = (int)(sizeof pipeline_o0 / sizeof pipeline_o0[0]);
  } else if (level == 1) {
    names = pipeline_o1;
    n = (int)(sizeof pipeline_o1 / sizeof pipeline_o1[0]);
  } else {
    /* -O3 adds no graph passes to -O2; the backend reads the level */
    names = pipeline_o2;
    n = (int)(sizeof pipeline_o2 / sizeof pipeline_o2[0]);
  }
  for (int i = 0; i < n; i++) {
    const pass_info *pi = pass_find(names[i]);
    KILN_ASSERT(pi != NULL && p->n < PASS_MAX_PIPELINE);
    p->passes[p->n++] = pi;
  }
  return KILN_OK;
}

/* "infer-shapes, simplify, ..." for messages. */
static void known_passes(char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < PASS_COUNT && k + 1 < n; i++) {
    int w = snprintf(buf + k, n - k, "%s%s", i ? ", " : "", pass_table[i].name);
    if (w < 0) break;
    k += (size_t)w;
  }
}

/* Calls fn(name, len, arg) for each comma-separated item of list, with
 * surrounding blanks trimmed; stops at the first non-zero return. */
static int each_item(const char *list, int (*fn)(const char *s, size_t len, void *arg),
                     void *arg) {
  const char *p = list;
  for (;;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    const char *s = p;
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    int rc = fn(s, len, arg);
    if (rc) return rc;
    if (!e) return 0;
    p = e + 1;
  }
}

/* The registered pass named by s[0..len), or NULL. */
static const pass_info *find_n(const char *s, size_t len) {
  for (int i = 0; i < PASS_COUNT; i++)
    if (strlen(pass_table[i].name) == len && memcmp(pass_table[i].name, s, len) == 0)
      return &pass_table[i];
  return NULL;
}

typedef struct {
  pass_pipeline *p;
  kiln_diag *d;
} parse_state;

static int unknown_pass(kiln_diag *d, const char *what, const char *s, size_t len) {
  char known[1024];
  known_passes(known, sizeof known);
  if (len == 0)
    return kiln_diag_error(d, KILN_E_USAGE, "%s: empty pass name; known passes: %s", what,
                           known);
  return kiln_diag_error(d, KILN_E_USAGE, "%s: unknown pass '%.*s'; known passes: %s", what,
                         (int)(len > 200 ? 200 : len), s, known);
}

static int parse_item(const char *s, size_t len, void *arg) {
  parse_state *st = arg;
  const pass_info *pi = find_n(s, len);
  if (!pi) return unknown_pass(st->d, "--passes", s, len);
  if (st->p->n >= PASS_MAX_PIPELINE)
    return kiln_diag_error(st->d, KILN_E_USAGE, "--passes: more than %d passes",
                           PASS_MAX_PIPELINE);
  st->p->passes[st->p->n++] = pi;
  return 0;
}

int pass_pipeline_parse(const char *list, pass_pipeline *p, kiln_diag *d) {
  p->n = 0;
  const char *s = list ? list : "";
  while (*s == ' ' || *s == '\t') s++;
  if (!*s) return KILN_OK; /* the empty pipeline */
  parse_state st = {p, d};
  int rc = each_item(list, parse_item, &st);
  if (rc) p->n = 0;
  return rc;
}

void pass_pipeline_str(const pass_pipeline *p, char *buf, size_t n) {
  if (n == 0) return;
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < p->n && k + 1 < n; i++) {
    int w = snprintf(buf + k, n - k, "%s%s", i ? "," : "", p->passes[i]->name);
    if (w < 0) break;
    k += (size_t)w;
  }
}

/* ---- dumps --------------------------------------------------------------------- */

typedef struct {
  int all;
  char want[PASS_COUNT]; /* by index in pass_table */
  kiln_diag *d;
} dump_set;

static int dump_item(const char *s, size_t len, void *arg) {
  dump_set *ds = arg;
  if (len == 3 && memcmp(s, "all", 3) == 0) {
    ds->all = 1;
    return 0;
  }
  const pass_info *pi = find_n(s, len);
  if (!pi) return unknown_pass(ds->d, "--dump-after", s, len);
  ds->want[pi - pass_table] = 1;
  return 0;
}

/* By name: a caller may build a pipeline from its own pass_info rows. */
static int dump_wanted(const dump_set *ds, const pass_info *pi) {
  const pass_info *reg = pass_find(pi->name);
  return ds->all || (reg && ds->want[reg - pass_table]);
}

/* Writes g after pass number idx (0-based) either to dump_dir/NN-name.kir
 * (large constants to NN-name.kir.bin) or to `report` with them elided. */
static int dump_graph(const ir_graph *g, int idx, const pass_info *pi, int changes,
                      const pass_options *o, FILE *report, kiln_diag *d) {
  ir_print_opts po;
  ir_print_opts_default(&po);
  po.show_offsets = g->arena_bytes >= 0; /* the memory plan, once there is one */
  if (!o->dump_dir) {
    fprintf(report, "# ---- IR after %02d-%s (%d change%s) ----\n", idx + 1, pi->name, changes,
            changes == 1 ? "" : "s");
    po.side_file = NULL; /* elide large constants */
    po.side_ref = NULL;
    int rc = ir_print(g, report, &po, d);
    fflush(report);
    return rc;
  }
  if (mkdir(o->dump_dir, 0777) != 0 && errno != EEXIST)
    return kiln_diag_error(d, KILN_E_IO, "--dump-dir: cannot create '%s': %s", o->dump_dir,
                           strerror(errno));
  char path[PASS_MAX_PATH], side[PASS_MAX_PATH], ref[256];
  int w1 = snprintf(path, sizeof path, "%s/%02d-%s.kir", o->dump_dir, idx + 1, pi->name);
  int w2 = snprintf(side, sizeof side, "%s.bin", path);
  snprintf(ref, sizeof ref, "%02d-%s.kir.bin", idx + 1, pi->name);
  if (w1 < 0 || w2 < 0 || (size_t)w2 >= sizeof side)
    return kiln_diag_error(d, KILN_E_USAGE, "--dump-dir: path '%s' is too long", o->dump_dir);
  /* a side file left by an earlier run would otherwise look current */
  if (unlink(side) != 0 && errno != ENOENT)
    return kiln_diag_error(d, KILN_E_IO, "%s: cannot remove: %s", side, strerror(errno));
  po.side_file = side;
  po.side_ref = ref;
  FILE *f = fopen(path, "w");
  if (!f) return kiln_diag_error(d, KILN_E_IO, "%s: cannot create: %s", path, strerror(errno));
  int rc = ir_print(g, f, &po, d);
  if (fclose(f) != 0 && !rc)
    rc = kiln_diag_error(d, KILN_E_IO, "%s: write failed: %s", path, strerror(errno));
  return rc;
}

/* ---- running --------------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Every value a live node or the output list refers to is typed. */
static int graph_typed(const ir_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && !g->values[n->in[k]].typed) return 0;
  }
  for (int i = 0; i < g->n_outputs; i++)
    if (!g->values[g->outputs[i]].typed) return 0;
  return 1;
}

typedef struct {
  double ms;
  int nodes;
} pass_stat;

static void print_timing(FILE *f, const pass_pipeline *p, const pass_stat *st, int ran) {
  double total = 0;
  for (int i = 0; i < ran; i++) total += st[i].ms;
  fprintf(f, "===-------------------------------------------------===\n");
  fprintf(f, "  kiln pass timing\n");
  fprintf(f, "===-------------------------------------------------===\n");
  fprintf(f, "  %-3s %-18s %10s %7s %8s\n", "#", "pass", "wall ms", "%", "nodes");
  for (int i = 0; i < ran; i++)
    fprintf(f, "  %02d  %-18s %10.3f %6.1f%% %8d\n", i + 1, p->passes[i]->name, st[i].ms,
            total > 0 ? 100.0 * st[i].ms / total : 0.0, st[i].nodes);
  fprintf(f, "      %-18s %10.3f %6.1f%%\n", "total", total, ran ? 100.0 : 0.0);
  fflush(f);
}

int pass_run(ir_graph *g, const pass_pipeline *p, const pass_options *o, kiln_diag *d) {
  pass_options defaults;
  if (!o) {
    pass_options_default(&defaults);
    o = &defaults;
  }
  FILE *report = o->report ? o->report : stderr;
  dump_set ds;
  memset(&ds, 0, sizeof ds);
  ds.d = d;
  if (o->dump_after && *o->dump_after) {
    int rc = each_item(o->dump_after, dump_item, &ds);
    if (rc) return rc;
  }
  int typed = graph_typed(g);
  if (o->verify_each) {
    int rc = ir_verify(g, typed, d);
    if (rc) {
      kiln_diag_prefix(d, "the input graph fails verification: ");
      return rc;
    }
  }
  pass_stat st[PASS_MAX_PIPELINE];
  int ran = 0, rc = KILN_OK;
  KILN_ASSERT(p->n >= 0 && p->n <= PASS_MAX_PIPELINE);
  for (int i = 0; i < p->n && !rc; i++) {
    const pass_info *pi = p->passes[i];
    pass_ctx ctx = {.opts = o, .index = i, .changes = 0};
    double t0 = now_ms();
    rc = pi->run(g, &ctx, d);
    st[i].ms = now_ms() - t0;
    st[i].nodes = pass_count_nodes(g);
    ran = i + 1;
    if (rc) break;
    if (!strcmp(pi->name, "infer-shapes")) typed = 1;
    if (o->verify_each) {
      rc = ir_verify(g, typed, d);
      if (rc) {
        kiln_diag_prefix(d, "verification after pass %02d '%s' failed: ", i + 1, pi->name);
        break;
      }
    }
    if (dump_wanted(&ds, pi)) rc = dump_graph(g, i, pi, ctx.changes, o, report, d);
  }
  if (o->time_passes) print_timing(report, p, st, ran);
  return rc;
}

/* ---- helpers for the passes --------------------------------------------------------- */

int pass_count_nodes(const ir_graph *g) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) n += !g->nodes[i].dead;
  return n;
}

int pass_is_graph_output(const ir_graph *g, int v) {
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == v) return 1;
  return 0;
}

void pass_repl_init(pass_repl *r, const ir_graph *g) {
  r->n = g->n_values;
  r->to = kiln_xmalloc(sizeof(int) * ((size_t)r->n + 1));
  for (int v = 0; v < r->n; v++) r->to[v] = v;
}

void pass_repl_free(pass_repl *r) {
  free(r->to);
  r->to = NULL;
  r->n = 0;
}

int pass_repl_find(pass_repl *r, int v) {
  if (v < 0 || v >= r->n) return v; /* absent input, or a value made after init */
  int root = v;
  while (r->to[root] != root) root = r->to[root];
  while (r->to[v] != root) { /* path compression */
    int next = r->to[v];
    r->to[v] = root;
    v = next;
  }
  return root;
}

int pass_repl_apply(pass_repl *r, ir_graph *g, int node) {
  ir_node *n = &g->nodes[node];
  int changed = 0;
  for (int k = 0; k < n->n_in; k++) {
    int v = pass_repl_find(r, n->in[k]);
    if (v != n->in[k]) {
      n->in[k] = v;
      changed++;
    }
  }
  return changed;
}

int pass_replace_value(pass_repl *r, ir_graph *g, int old, int repl) {
  KILN_ASSERT(old >= 0 && old < r->n && repl >= 0 && repl < g->n_values);
  repl = pass_repl_find(r, repl);
  KILN_ASSERT(repl != old);
  if (pass_is_graph_output(g, old)) {
    const ir_value *rv = &g->values[repl];
    if (rv->kind != IR_VAL_NODE || rv->producer < 0 || pass_is_graph_output(g, repl))
      return 0;
    /* free old's name, then give it to repl: the outputs keep their names */
    const char *name = g->values[old].name; /* arena memory: stays valid */
    ir_value_rename(g, old, ""); /* "" gives a fresh tN name */
    ir_value_rename(g, repl, name);
    KILN_ASSERT(strcmp(g->values[repl].name, name) == 0);
    for (int i = 0; i < g->n_outputs; i++)
      if (g->outputs[i] == old) g->outputs[i] = repl;
  }
  r->to[old] = repl;
  return 1;
}

const void *pass_const_data(const ir_graph *g, int v) {
  if (v < 0) return NULL;
  const ir_value *val = &g->values[v];
  if (val->kind != IR_VAL_CONST || val->dead || !val->data) return NULL;
  return val->data;
}

/* Graph construction, attributes, compaction, ordering and cloning. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir.h"

/* Large buffers and file mappings owned by a graph. */
typedef struct ir_mem {
  struct ir_mem *next;
  void *p;
  size_t len;
  int mapped;
} ir_mem;

ir_graph *ir_graph_new(const char *name) {
  ir_graph *g = kiln_xcalloc(1, sizeof *g);
  g->arena = ir_arena_new();
  g->name = ir_arena_strdup(g->arena, name && *name ? name : "main");
  g->source = ir_arena_strdup(g->arena, "<graph>");
  g->base_dir = ir_arena_strdup(g->arena, ".");
  g->arena_bytes = -1;
  return g;
}

void ir_graph_free(ir_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].body) ir_graph_free(g->nodes[i].body);
  ir_mem *m = g->mem;
  while (m) {
    ir_mem *n = m->next;
    if (m->mapped)
      munmap(m->p, m->len);
    else
      free(m->p);
    free(m);
    m = n;
  }
  free(g->values);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g->name_tab);
  ir_arena_free(g->arena);
  free(g);
}

/* ---- names ------------------------------------------------------------------ */
static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static void name_tab_put(ir_graph *g, int v) {
  uint64_t mask = (uint64_t)g->name_tab_cap - 1;
  uint64_t h = hash_str(g->values[v].name) & mask;
  while (g->name_tab[h] >= 0) {
    if (g->name_tab[h] == v) return;
    h = (h + 1) & mask;
  }
  g->name_tab[h] = v;
}

/* Rebuilds the table with at least `cap` slots (a power of two, at least
 * twice the number of values). */
static void name_tab_rebuild(ir_graph *g, int cap) {
  if (cap < 64) cap = 64;
  while (cap < 2 * (g->n_values + 1)) cap *= 2;
  free(g->name_tab);
  g->name_tab_cap = cap;
  g->name_tab = kiln_xmalloc(sizeof(int) * (size_t)cap);
  for (int i = 0; i < cap; i++) g->name_tab[i] = -1;
  for (int v = 0; v < g->n_values; v++)
    if (!g->values[v].dead) name_tab_put(g, v);
}

static void name_tab_insert(ir_graph *g, int v) {
  if (2 * (g->n_values + 1) > g->name_tab_cap)
    name_tab_rebuild(g, g->name_tab_cap * 2); /* inserts v too */
  else
    name_tab_put(g, v);
}

int ir_value_find(const ir_graph *g, const char *name) {
  if (!g->name_tab_cap) return -1;
  uint64_t mask = (uint64_t)g->name_tab_cap - 1;
  uint64_t h = hash_str(name) & mask;
  while (g->name_tab[h] >= 0) {
    int v = g->name_tab[h];
    if (!g->values[v].dead && strcmp(g->values[v].name, name) == 0) return v;
    h = (h + 1) & mask;
  }
  return -1;
}

/* A name not yet used in the graph, derived from `base`. */
static const char *unique_name(ir_graph *g, const char *base) {
  char buf[IR_MAX_NAME + 32];
  if (!base || !*base) {
    for (int k = g->n_values;; k++) {
      snprintf(buf, sizeof buf, "t%d", k);
      if (ir_value_find(g, buf) < 0) return ir_arena_strdup(g->arena, buf);
    }
  }
  if (ir_value_find(g, base) < 0) return ir_arena_strdup(g->arena, base);
  size_t bl = strlen(base);
  if (bl > IR_MAX_NAME) bl = IR_MAX_NAME;
  for (int k = 1;; k++) {
    snprintf(buf, sizeof buf, "%.*s.%d", (int)bl, base, k);
    if (ir_value_find(g, buf) < 0) return ir_arena_strdup(g->arena, buf);
  }
}

int ir_value_new(ir_graph *g, const char *name, ir_value_kind kind) {
  const char *nm = unique_name(g, name);
  if (g->n_values == g->cap_values) {
    g->cap_values = g->cap_values ? g->cap_values * 2 : 64;
    g->values = kiln_xrealloc(g->values, sizeof(ir_value) * (size_t)g->cap_values);
  }
  int v = g->n_values++;
  ir_value *val = &g->values[v];
  memset(val, 0, sizeof *val);
  val->name = nm;
  val->kind = kind;
  val->producer = -1;
  val->offset = -1;
  name_tab_insert(g, v);
  return v;
}

void ir_value_rename(ir_graph *g, int v, const char *name) {
  const char *old = g->values[v].name;
  if (strcmp(old, name) == 0) return;
  g->values[v].name = "\x01"; /* not findable while choosing the new name */
  name_tab_rebuild(g, g->name_tab_cap);
  g->values[v].name = unique_name(g, name);
  name_tab_rebuild(g, g->name_tab_cap);
}

static void push_int(int **arr, int *n, int *cap, int x) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    *arr = kiln_xrealloc(*arr, sizeof(int) * (size_t)*cap);
  }
  (*arr)[(*n)++] = x;
}

int ir_add_input(ir_graph *g, const char *name, const ir_type *t) {
  int v = ir_value_new(g, name, IR_VAL_INPUT);
  g->values[v].type = *t;
  g->values[v].typed = 1;
  push_int(&g->inputs, &g->n_inputs, &g->cap_inputs, v);
  return v;
}

void *ir_graph_alloc_data_checked(ir_graph *g, size_t n, kiln_diag *d) {
  if (n > (size_t)IR_MAX_BYTES) {
    kiln_diag_error(d, KILN_E_NOMEM, "%s: %zu bytes of data exceed the limit", g->source, n);
    return NULL;
  }
  size_t sz = (n + 63) & ~(size_t)63;
  if (sz == 0) sz = 64;
  void *p = NULL;
  if (posix_memalign(&p, 64, sz) != 0) {
    kiln_diag_error(d, KILN_E_NOMEM, "%s: out of memory allocating %zu bytes", g->source, n);
    return NULL;
  }
  ir_mem *m = kiln_xcalloc(1, sizeof *m);
  m->p = p;
  memset(m->p, 0, sz);
  m->len = sz;
  m->next = g->mem;
  g->mem = m;
  return m->p;
}

void *ir_graph_alloc_data(ir_graph *g, size_t n) {
  kiln_diag d;
  kiln_diag_init(&d);
  void *p = ir_graph_alloc_data_checked(g, n, &d);
  if (!p) {
    fprintf(stderr, "kiln: %s\n", d.msg);
    abort();
  }
  return p;
}

int ir_open_regular_file(const char *path, int64_t *size, kiln_diag *d) {
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  if (fd < 0) {
    kiln_diag_error(d, KILN_E_IO, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    kiln_diag_error(d, KILN_E_IO, "%s: not a regular file", path);
    return -1;
  }
  *size = (int64_t)st.st_size;
  return fd;
}

const void *ir_graph_map_file(ir_graph *g, const char *path, int64_t offset, int64_t len,
                              kiln_diag *d) {
  if (offset < 0 || len < 0)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: negative offset or length", path), NULL;
  int64_t size;
  int fd = ir_open_regular_file(path, &size, d);
  if (fd < 0) return NULL;
  if (offset > size || len > size - offset) {
    close(fd);
    kiln_diag_error(d, KILN_E_INVALID,
                    "%s: data range [%lld, %lld) lies outside the file (%lld bytes)", path,
                    (long long)offset,
                    /* offset + len may overflow: saturate (only for the message) */
                    (long long)(len > INT64_MAX - offset ? INT64_MAX : offset + len),
                    (long long)size);
    return NULL;
  }
  if (len == 0) {
    close(fd);
    return ir_graph_alloc_data(g, 0);
  }
  long page = sysconf(_SC_PAGESIZE);
  int64_t base = offset - offset % page;
  size_t maplen = (size_t)(len + (offset - base));
  void *p = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, (off_t)base);
  close(fd);
  if (p == MAP_FAILED) {
    kiln_diag_error(d, KILN_E_IO, "%s: cannot map: %s", path, strerror(errno));
    return NULL;
  }
  ir_mem *m = kiln_xcalloc(1, sizeof *m);
  m->p = p;
  m->len = maplen;
  m->mapped = 1;
  m->next = g->mem;
  g->mem = m;
  return (const char *)p + (offset - base);
}

int ir_add_const_nocopy(ir_graph *g, const char *name, const ir_type *t, void *data) {
  int v = ir_value_new(g, name, IR_VAL_CONST);
  ir_value *val = &g->values[v];
  val->type = *t;
  val->typed = 1;
  val->data = data;
  val->src = IR_CSRC_INLINE;
  return v;
}

int ir_add_const(ir_graph *g, const char *name, const ir_type *t, const void *data) {
  int64_t nb = ir_type_nbytes(t);
  void *p = ir_graph_alloc_data(g, (size_t)nb);
  if (data && nb) memcpy(p, data, (size_t)nb);
  return ir_add_const_nocopy(g, name, t, p);
}

void ir_add_output(ir_graph *g, int v) {
  push_int(&g->outputs, &g->n_outputs, &g->cap_outputs, v);
}

/* ---- nodes ------------------------------------------------------------------ */
static int node_alloc(ir_graph *g, ir_op op, const char *name) {
  KILN_ASSERT((unsigned)op < IR_OP_COUNT);
  if (g->n_nodes == g->cap_nodes) {
    g->cap_nodes = g->cap_nodes ? g->cap_nodes * 2 : 64;
    g->nodes = kiln_xrealloc(g->nodes, sizeof(ir_node) * (size_t)g->cap_nodes);
  }
  int id = g->n_nodes++;
  ir_node *n = &g->nodes[id];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->name = ir_arena_strdup(g->arena, name ? name : "");
  return id;
}

void ir_node_set_inputs(ir_graph *g, int node, const int *in, int n_in) {
  ir_node *n = &g->nodes[node];
  n->in = ir_arena_memdup(g->arena, in, sizeof(int) * (size_t)n_in);
  n->n_in = n_in;
}

int ir_node_new_with_outputs(ir_graph *g, ir_op op, const char *name, const int *in,
                             int n_in, const int *out, int n_out) {
  int id = node_alloc(g, op, name);
  ir_node_set_inputs(g, id, in, n_in);
  ir_node *n = &g->nodes[id];
  n->out = ir_arena_memdup(g->arena, out, sizeof(int) * (size_t)n_out);
  n->n_out = n_out;
  for (int j = 0; j < n_out; j++) {
    ir_value *v = &g->values[out[j]];
    v->kind = IR_VAL_NODE;
    v->producer = id;
    v->producer_slot = j;
  }
  return id;
}

int ir_node_new(ir_graph *g, ir_op op, const char *name, const int *in, int n_in, int n_out,
                const char *const *out_names) {
  int *out = kiln_xmalloc(sizeof(int) * (size_t)(n_out ? n_out : 1));
  for (int j = 0; j < n_out; j++)
    out[j] = ir_value_new(g, out_names ? out_names[j] : NULL, IR_VAL_NODE);
  int id = ir_node_new_with_outputs(g, op, name, in, n_in, out, n_out);
  free(out);
  return id;
}

void ir_node_remove(ir_graph *g, int node) {
  ir_node *n = &g->nodes[node];
  n->dead = 1;
  for (int j = 0; j < n->n_out; j++) {
    ir_value *v = &g->values[n->out[j]];
    if (v->producer == node) v->producer = -1;
  }
}

int ir_node_has_input(const ir_node *n, int i) { return i < n->n_in && n->in[i] >= 0; }

const ir_type *ir_in_type(const ir_graph *g, const ir_node *n, int i) {
  KILN_ASSERT(i < n->n_in && n->in[i] >= 0);
  const ir_value *v = &g->values[n->in[i]];
  KILN_ASSERT(v->typed);
  return &v->type;
}

ir_type *ir_out_type(ir_graph *g, const ir_node *n, int j) {
  KILN_ASSERT(j < n->n_out);
  ir_value *v = &g->values[n->out[j]];
  v->typed = 1;
  return &v->type;
}

/* ---- attributes ------------------------------------------------------------- */
const char *ir_attr_kind_name(ir_attr_kind k) {
  static const char *names[] = {"int", "float", "string", "ints", "floats", "tensor"};
  KILN_ASSERT((unsigned)k < IR_ATTR_KIND_COUNT);
  return names[k];
}

const ir_attr *ir_attr_find(const ir_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

static ir_attr copy_attr(ir_arena *a, const ir_attr *src) {
  ir_attr r = *src;
  r.name = ir_arena_strdup(a, src->name);
  if (src->s) r.s = ir_arena_strdup(a, src->s);
  if (src->kind == IR_ATTR_INTS)
    r.ints = ir_arena_memdup(a, src->ints, sizeof(int64_t) * (size_t)src->n);
  if (src->kind == IR_ATTR_FLOATS)
    r.floats = ir_arena_memdup(a, src->floats, sizeof(double) * (size_t)src->n);
  if (src->kind == IR_ATTR_TENSOR && src->t.data)
    r.t.data = ir_arena_memdup(a, src->t.data, (size_t)ir_type_nbytes(&src->t.type));
  return r;
}

void ir_set_attr(ir_graph *g, int node, const ir_attr *a) {
  ir_node *n = &g->nodes[node];
  ir_attr c = copy_attr(g->arena, a);
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, a->name) == 0) {
      n->attrs[i] = c;
      return;
    }
  KILN_ASSERT(n->n_attrs < IR_MAX_ATTRS);
  ir_attr *na = ir_arena_alloc(g->arena, sizeof(ir_attr) * (size_t)(n->n_attrs + 1));
  /* keep attributes sorted by name: printing is then canonical */
  int k = 0, placed = 0;
  for (int i = 0; i < n->n_attrs; i++) {
    if (!placed && strcmp(c.name, n->attrs[i].name) < 0) {
      na[k++] = c;
      placed = 1;
    }
    na[k++] = n->attrs[i];
  }
  if (!placed) na[k++] = c;
  n->attrs = na;
  n->n_attrs = k;
}

void ir_attr_remove(ir_graph *g, int node, const char *name) {
  ir_node *n = &g->nodes[node];
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) {
      memmove(&n->attrs[i], &n->attrs[i + 1], sizeof(ir_attr) * (size_t)(n->n_attrs - i - 1));
      n->n_attrs--;
      return;
    }
}

void ir_set_int(ir_graph *g, int node, const char *name, int64_t v) {
  ir_attr a = {.name = name, .kind = IR_ATTR_INT, .i = v};
  ir_set_attr(g, node, &a);
}
void ir_set_float(ir_graph *g, int node, const char *name, double v) {
  ir_attr a = {.name = name, .kind = IR_ATTR_FLOAT, .f = v};
  ir_set_attr(g, node, &a);
}
void ir_set_string(ir_graph *g, int node, const char *name, const char *s) {
  ir_attr a = {.name = name, .kind = IR_ATTR_STRING, .s = s};
  ir_set_attr(g, node, &a);
}
void ir_set_ints(ir_graph *g, int node, const char *name, const int64_t *v, int n) {
  ir_attr a = {.name = name, .kind = IR_ATTR_INTS, .ints = (int64_t *)v, .n = n};
  ir_set_attr(g, node, &a);
}
void ir_set_floats(ir_graph *g, int node, const char *name, const double *v, int n) {
  ir_attr a = {.name = name, .kind = IR_ATTR_FLOATS, .floats = (double *)v, .n = n};
  ir_set_attr(g, node, &a);
}
void ir_set_tensor(ir_graph *g, int node, const char *name, const ir_tensor *t) {
  ir_attr a = {.name = name, .kind = IR_ATTR_TENSOR, .t = *t};
  ir_set_attr(g, node, &a);
}

static const ir_attr *attr_or_default(const ir_node *n, const char *name) {
  const ir_attr *a = ir_attr_find(n, name);
  if (a) return a;
  const ir_attr_schema *s = ir_op_attr_schema(n->op, name);
  if (!s) {
    fprintf(stderr, "kiln: op %s has no attribute '%s'\n", ir_op_name(n->op), name);
    KILN_UNREACHABLE();
  }
  return s->has_default ? &s->def : NULL;
}

int64_t ir_attr_int(const ir_node *n, const char *name) {
  const ir_attr *a = attr_or_default(n, name);
  if (!a) return 0;
  return a->kind == IR_ATTR_FLOAT ? (int64_t)a->f : a->i;
}
double ir_attr_float(const ir_node *n, const char *name) {
  const ir_attr *a = attr_or_default(n, name);
  if (!a) return 0.0;
  return a->kind == IR_ATTR_INT ? (double)a->i : a->f;
}
const char *ir_attr_str(const ir_node *n, const char *name) {
  const ir_attr *a = attr_or_default(n, name);
  return a && a->s ? a->s : "";
}
int ir_attr_ints(const ir_node *n, const char *name, const int64_t **out) {
  const ir_attr *a = attr_or_default(n, name);
  if (!a) {
    *out = NULL;
    return -1;
  }
  *out = a->ints;
  return a->n;
}
int ir_attr_floats(const ir_node *n, const char *name, const double **out) {
  const ir_attr *a = attr_or_default(n, name);
  if (!a) {
    *out = NULL;
    return -1;
  }
  *out = a->floats;
  return a->n;
}
int ir_attr_has(const ir_node *n, const char *name) { return ir_attr_find(n, name) != NULL; }

/* ---- whole-graph utilities ------------------------------------------------- */
void ir_count_uses(const ir_graph *g, int *uses) {
  memset(uses, 0, sizeof(int) * (size_t)g->n_values);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) uses[n->in[k]]++;
  }
  for (int k = 0; k < g->n_outputs; k++) uses[g->outputs[k]]++;
}

void ir_graph_compact(ir_graph *g) {
  int nv = g->n_values;
  int *uses = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  ir_count_uses(g, uses);
  int *keep = kiln_xcalloc((size_t)nv + 1, sizeof(int));
  for (int i = 0; i < g->n_inputs; i++) keep[g->inputs[i]] = 1;
  for (int i = 0; i < g->n_nodes; i++) {
    ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int j = 0; j < n->n_out; j++) keep[n->out[j]] = 1;
  }
  for (int v = 0; v < nv; v++) {
    ir_value *val = &g->values[v];
    if (val->dead) keep[v] = 0;
    else if (val->kind == IR_VAL_CONST && uses[v] > 0) keep[v] = 1;
  }
  int *map = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1));
  int k = 0;
  for (int v = 0; v < nv; v++) {
    if (keep[v]) {
      map[v] = k;
      g->values[k++] = g->values[v];
    } else {
      map[v] = -1;
    }
  }
  g->n_values = k;
  int *nmap = kiln_xmalloc(sizeof(int) * ((size_t)g->n_nodes + 1));
  int kn = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead) {
      if (g->nodes[i].body) ir_graph_free(g->nodes[i].body);
      nmap[i] = -1;
      continue;
    }
    nmap[i] = kn;
    g->nodes[kn++] = g->nodes[i];
  }
  g->n_nodes = kn;
  for (int i = 0; i < kn; i++) {
    ir_node *n = &g->nodes[i];
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) {
        KILN_ASSERT(map[n->in[j]] >= 0);
        n->in[j] = map[n->in[j]];
      }
    for (int j = 0; j < n->n_out; j++) n->out[j] = map[n->out[j]];
  }
  for (int v = 0; v < k; v++)
    if (g->values[v].producer >= 0) g->values[v].producer = nmap[g->values[v].producer];
  for (int i = 0; i < g->n_inputs; i++) g->inputs[i] = map[g->inputs[i]];
  for (int i = 0; i < g->n_outputs; i++) {
    KILN_ASSERT(map[g->outputs[i]] >= 0);
    g->outputs[i] = map[g->outputs[i]];
  }
  name_tab_rebuild(g, g->name_tab_cap ? g->name_tab_cap : 64);
  free(uses);
  free(keep);
  free(map);
  free(nmap);
}

/* Min-heap of (key, node id), least key first, ties by id. */
typedef struct {
  int key, id;
} order_key;

static int key_less(order_key a, order_key b) {
  return a.key != b.key ? a.key < b.key : a.id < b.id;
}

static void heap_push(order_key *h, int *n, order_key x) {
  int i = (*n)++;
  h[i] = x;
  while (i > 0 && key_less(h[i], h[(i - 1) / 2])) {
    int p = (i - 1) / 2;
    order_key t = h[p];
    h[p] = h[i];
    h[i] = t;
    i = p;
  }
}

static order_key heap_pop(order_key *h, int *n) {
  order_key top = h[0];
  h[0] = h[--(*n)];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < *n && key_less(h[l], h[m])) m = l;
    if (r < *n && key_less(h[r], h[m])) m = r;
    if (m == i) break;
    order_key t = h[m];
    h[m] = h[i];
    h[i] = t;
    i = m;
  }
  return top;
}

/* The live node producing v, or -1. */
static int live_producer(const ir_graph *g, int v) {
  if (v < 0) return -1;
  int p = g->values[v].producer;
  return p >= 0 && !g->nodes[p].dead ? p : -1;
}

int ir_graph_order_nodes(ir_graph *g, const int *key) {
  int nn = g->n_nodes;
  int *pending = kiln_xcalloc((size_t)nn + 1, sizeof(int));
  /* consumers lists in CSR form */
  int *start = kiln_xcalloc((size_t)nn + 2, sizeof(int));
  for (int i = 0; i < nn; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      int p = live_producer(g, n->in[k]);
      if (p >= 0) {
        pending[i]++;
        start[p + 1]++;
      }
    }
  }
  for (int i = 0; i < nn; i++) start[i + 1] += start[i];
  int *adj = kiln_xmalloc(sizeof(int) * ((size_t)start[nn] + 1));
  int *fill = kiln_xcalloc((size_t)nn + 1, sizeof(int));
  for (int i = 0; i < nn; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->n_in; k++) {
      int p = live_producer(g, n->in[k]);
      if (p >= 0) adj[start[p] + fill[p]++] = i;
    }
  }
  order_key *heap = kiln_xmalloc(sizeof(order_key) * ((size_t)nn + 1));
  int *order = kiln_xmalloc(sizeof(int) * ((size_t)nn + 1));
  int hn = 0, no = 0, live = 0;
  for (int i = 0; i < nn; i++) {
    if (g->nodes[i].dead) continue;
    live++;
    if (pending[i] == 0) heap_push(heap, &hn, (order_key){key ? key[i] : i, i});
  }
  while (hn > 0) {
    int i = heap_pop(heap, &hn).id;
    order[no++] = i;
    for (int e = start[i]; e < start[i + 1]; e++) {
      int c = adj[e];
      if (--pending[c] == 0) heap_push(heap, &hn, (order_key){key ? key[c] : c, c});
    }
  }
  int rc = 0;
  if (no != live) {
    rc = -1;
  } else {
    ir_node *nodes = kiln_xmalloc(sizeof(ir_node) * ((size_t)no + 1));
    int *nmap = kiln_xmalloc(sizeof(int) * ((size_t)nn + 1));
    for (int i = 0; i < nn; i++) nmap[i] = -1;
    for (int k = 0; k < no; k++) {
      nodes[k] = g->nodes[order[k]];
      nmap[order[k]] = k;
    }
    for (int i = 0; i < nn; i++)
      if (g->nodes[i].dead && g->nodes[i].body) ir_graph_free(g->nodes[i].body);
    memcpy(g->nodes, nodes, sizeof(ir_node) * (size_t)no);
    g->n_nodes = no;
    for (int v = 0; v < g->n_values; v++) {
      ir_value *val = &g->values[v];
      if (val->producer >= 0) val->producer = nmap[val->producer];
    }
    free(nodes);
    free(nmap);
  }
  free(pending);
  free(start);
  free(adj);
  free(fill);
  free(heap);
  free(order);
  return rc;
}

int ir_graph_toposort(ir_graph *g, kiln_diag *d) {
  if (ir_graph_order_nodes(g, NULL))
    return kiln_diag_error(d, KILN_E_INVALID, "%s: the graph has a cycle", g->source);
  return KILN_OK;
}

ir_graph *ir_graph_clone(const ir_graph *g) {
  ir_graph *c = ir_graph_new(g->name);
  c->source = ir_arena_strdup(c->arena, g->source);
  c->base_dir = ir_arena_strdup(c->arena, g->base_dir);
  c->arena_bytes = g->arena_bytes;
  c->cap_values = g->n_values ? g->n_values : 1;
  c->values = kiln_xmalloc(sizeof(ir_value) * (size_t)c->cap_values);
  c->n_values = g->n_values;
  for (int v = 0; v < g->n_values; v++) {
    ir_value *d = &c->values[v];
    *d = g->values[v];
    d->name = ir_arena_strdup(c->arena, d->name);
    if (d->file) d->file = ir_arena_strdup(c->arena, d->file);
    if (d->init.name) {
      d->init.name = ir_arena_strdup(c->arena, d->init.name);
      for (int k = 0; k < d->init.n_args; k++)
        d->init.arg_names[k] = ir_arena_strdup(c->arena, d->init.arg_names[k]);
    }
    if (d->kind == IR_VAL_CONST && d->data) {
      int64_t nb = ir_type_nbytes(&d->type);
      void *p = ir_graph_alloc_data(c, (size_t)nb);
      if (nb) memcpy(p, g->values[v].data, (size_t)nb);
      d->data = p;
    }
  }
  c->cap_nodes = g->n_nodes ? g->n_nodes : 1;
  c->nodes = kiln_xmalloc(sizeof(ir_node) * (size_t)c->cap_nodes);
  c->n_nodes = g->n_nodes;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *s = &g->nodes[i];
    ir_node *d = &c->nodes[i];
    *d = *s;
    d->name = ir_arena_strdup(c->arena, s->name);
    d->in = ir_arena_memdup(c->arena, s->in, sizeof(int) * (size_t)s->n_in);
    d->out = ir_arena_memdup(c->arena, s->out, sizeof(int) * (size_t)s->n_out);
    d->attrs = ir_arena_alloc(c->arena, sizeof(ir_attr) * (size_t)(s->n_attrs + 1));
    for (int k = 0; k < s->n_attrs; k++) d->attrs[k] = copy_attr(c->arena, &s->attrs[k]);
    d->body = s->body ? ir_graph_clone(s->body) : NULL;
  }
  for (int i = 0; i < g->n_inputs; i++) push_int(&c->inputs, &c->n_inputs, &c->cap_inputs, g->inputs[i]);
  for (int i = 0; i < g->n_outputs; i++)
    push_int(&c->outputs, &c->n_outputs, &c->cap_outputs, g->outputs[i]);
  name_tab_rebuild(c, 64);
  return c;
}

const char *ir_node_desc(const ir_graph *g, const ir_node *n, char *buf, size_t len) {
  if (n->name && *n->name)
    snprintf(buf, len, "node '%s' (%s)", n->name, ir_op_name(n->op));
  else if (n->n_out > 0)
    snprintf(buf, len, "node producing '%s' (%s)", g->values[n->out[0]].name, ir_op_name(n->op));
  else
    snprintf(buf, len, "node (%s)", ir_op_name(n->op));
  return buf;
}

int ir_node_error(kiln_diag *d, const ir_graph *g, const ir_node *n, const char *fmt, ...) {
  char desc[IR_MAX_NAME + 128], msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: %s", g->source,
                         ir_node_desc(g, n, desc, sizeof desc), msg);
}

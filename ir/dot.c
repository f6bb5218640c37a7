/* Graphviz DOT output of a graph (dot.h has the drawing's conventions). */
#include "dot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings ------------------------------------------------------------------------------ */

/* The body of a quoted string (no quotes); see ir_dot_put_string. */
static void put_esc(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)(str ? str : "");
  size_t n = strlen((const char *)s);
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c == '"') fputs("\\\"", f);
    else if (c == '\\') fputs("\\\\", f);
    else if (c == '&') fputs("&amp;", f);
    else if (c == '\n') fputs("\\\\n", f);
    else if (c == '\t') fputs("\\\\t", f);
    else if (c == '\r') fputs("\\\\r", f);
    else if (c < 0x20 || c == 0x7f) fprintf(f, "\\\\x%02x", c);
    else {
      int len = ir_utf8_len(s + i, n - i);
      if (len == 0) {
        fprintf(f, "\\\\x%02x", c);
      } else {
        fwrite(s + i, 1, (size_t)len, f);
        i += (size_t)len;
        continue;
      }
    }
    i++;
  }
}

void ir_dot_put_string(FILE *f, const char *s) {
  fputc('"', f);
  put_esc(f, s);
  fputc('"', f);
}

/* ---- scopes ------------------------------------------------------------------------------- */

/* The top-level graph or a body. Ids in a scope: nodes `<prefix>n<i>`,
 * inputs and constants `<prefix>v<i>`; a body's prefix is its node's id and
 * `_` (`n3_n0`), its cluster `cluster_<node id>`. */
typedef struct dscope {
  const ir_graph *g;
  const struct dscope *parent;
  int node; /* the node of parent->g whose body g is; -1 at the top */
  int depth;
  char prefix[16 * (IR_DOT_MAX_DEPTH + 1)];
} dscope;

static void scope_child(const dscope *s, int node, dscope *c) {
  c->g = s->g->nodes[node].body;
  c->parent = s;
  c->node = node;
  c->depth = s->depth + 1;
  char step[16];
  int k = snprintf(step, sizeof step, "n%d_", node);
  size_t have = strlen(s->prefix);
  KILN_ASSERT(k > 0 && have + (size_t)k < sizeof c->prefix); /* IR_DOT_MAX_DEPTH */
  memcpy(c->prefix, s->prefix, have);
  memcpy(c->prefix + have, step, (size_t)k + 1);
}

/* A live node of s drawn as a cluster. */
static int is_cluster(const dscope *s, const ir_node *n) {
  return n->body && s->depth < IR_DOT_MAX_DEPTH;
}

static int live_node(const ir_graph *g, int p) {
  return p >= 0 && p < g->n_nodes && !g->nodes[p].dead;
}

/* Writes into id the id of the drawn node an edge carrying value v of s
 * starts at: a node, or an input or constant box; a fused node's result is
 * looked up in its body, a body input is followed out to the value feeding
 * it. *is_const is set when that is a constant. 0 when there is none (an
 * unproduced value). `steps` bounds the walk on malformed graphs. */
static int resolve(const dscope *s, int v, char *id, size_t n, int *is_const, int steps) {
  const ir_graph *g = s->g;
  if (v < 0 || v >= g->n_values || steps > 4 * IR_DOT_MAX_DEPTH + 8) return 0;
  const ir_value *val = &g->values[v];
  switch (val->kind) {
  case IR_VAL_NODE: {
    int p = val->producer;
    if (!live_node(g, p)) return 0;
    const ir_node *nd = &g->nodes[p];
    if (is_cluster(s, nd)) {
      int slot = val->producer_slot;
      if (slot < 0 || slot >= nd->body->n_outputs) return 0;
      dscope c;
      scope_child(s, p, &c);
      return resolve(&c, nd->body->outputs[slot], id, n, is_const, steps + 1);
    }
    snprintf(id, n, "%sn%d", s->prefix, p);
    return 1;
  }
  case IR_VAL_INPUT:
    if (s->parent) {
      const ir_node *fn = &s->parent->g->nodes[s->node];
      for (int k = 0; k < g->n_inputs && k < fn->n_in; k++)
        if (g->inputs[k] == v)
          return resolve(s->parent, fn->in[k], id, n, is_const, steps + 1);
      return 0;
    }
    snprintf(id, n, "%sv%d", s->prefix, v);
    return 1;
  case IR_VAL_CONST:
    snprintf(id, n, "%sv%d", s->prefix, v);
    *is_const = 1;
    return 1;
  }
  return 0;
}

/* ---- declarations ------------------------------------------------------------------------- */

static void put_type_esc(FILE *f, const ir_value *val) {
  char ty[256];
  if (val->typed) put_esc(f, ir_type_str(&val->type, ty, sizeof ty));
  else fputs("?", f);
}

static void indent(FILE *f, int n) {
  for (int i = 0; i < n; i++) fputc(' ', f);
}

static int *count_uses(const ir_graph *g) {
  int *uses = kiln_xcalloc((size_t)g->n_values + 1, sizeof(int));
  ir_count_uses(g, uses);
  return uses;
}

static void decl_scope(FILE *f, const dscope *s, int ind);

static void decl_node(FILE *f, const dscope *s, int i, int ind) {
  const ir_node *n = &s->g->nodes[i];
  if (is_cluster(s, n)) {
    dscope c;
    scope_child(s, i, &c);
    const ir_attr *kind = ir_attr_find(n, "kind");
    indent(f, ind);
    fprintf(f, "subgraph cluster_%sn%d {\n", s->prefix, i);
    indent(f, ind + 2);
    fputs("label=\"", f);
    put_esc(f, ir_op_name(n->op));
    if (kind && kind->kind == IR_ATTR_STRING && kind->s) {
      fputs(" (", f);
      put_esc(f, kind->s);
      fputc(')', f);
    }
    if (n->name && *n->name) {
      fputs("\\n", f);
      put_esc(f, n->name);
    }
    fputs("\";\n", f);
    indent(f, ind + 2);
    /* nested bodies alternate shades */
    fprintf(f, "style=\"rounded,filled\"; color=\"#4a6fa5\"; fillcolor=\"%s\";\n",
            c.depth % 2 ? "#e8f0fe" : "#d0defa");
    decl_scope(f, &c, ind + 2);
    indent(f, ind);
    fputs("}\n", f);
    return;
  }
  indent(f, ind);
  fprintf(f, "%sn%d [label=\"", s->prefix, i);
  put_esc(f, ir_op_name(n->op));
  if (n->name && *n->name) {
    fputs("\\n", f);
    put_esc(f, n->name);
  }
  fputs("\"];\n", f);
}

/* Constants and nodes of s; at the top also the inputs and outputs. */
static void decl_scope(FILE *f, const dscope *s, int ind) {
  const ir_graph *g = s->g;
  if (!s->parent) {
    for (int k = 0; k < g->n_inputs; k++) {
      int v = g->inputs[k];
      if (v < 0 || v >= g->n_values) continue;
      indent(f, ind);
      fprintf(f, "v%d [shape=oval, style=filled, fillcolor=\"#d7f0d7\", label=\"input\\n", v);
      put_esc(f, g->values[v].name);
      fputs("\\n", f);
      put_type_esc(f, &g->values[v]);
      fputs("\"];\n", f);
    }
    for (int k = 0; k < g->n_outputs; k++) {
      int v = g->outputs[k];
      if (v < 0 || v >= g->n_values) continue;
      indent(f, ind);
      fprintf(f, "out%d [shape=oval, style=filled, fillcolor=\"#fde2c8\", label=\"output\\n", k);
      put_esc(f, g->values[v].name);
      fputs("\\n", f);
      put_type_esc(f, &g->values[v]);
      fputs("\"];\n", f);
    }
  }
  int *uses = count_uses(g);
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (val->dead || val->kind != IR_VAL_CONST || !uses[v]) continue;
    indent(f, ind);
    fprintf(f, "%sv%d [shape=box, style=filled, fillcolor=\"#eeeeee\", color=\"#999999\", "
               "fontsize=8, height=0.2, label=\"",
            s->prefix, v);
    put_esc(f, val->name);
    fputs("\\n", f);
    put_type_esc(f, val);
    fputs("\"];\n", f);
  }
  free(uses);
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead) decl_node(f, s, i, ind);
}

/* ---- edges -------------------------------------------------------------------------------- */

static void put_edge(FILE *f, const char *from, const char *to, const ir_value *val,
                     int from_const) {
  fprintf(f, "  %s -> %s", from, to);
  const char *sep = " [";
  if (val->typed) {
    fputs(" [label=\"", f);
    put_type_esc(f, val);
    fputc('"', f);
    sep = ", ";
  }
  if (from_const) {
    fprintf(f, "%scolor=\"#999999\"", sep);
    sep = ", ";
  }
  if (sep[0] == ',') fputc(']', f);
  fputs(";\n", f);
}

/* Edges into the nodes of s (one per distinct value a node reads), then,
 * at the top, into the outputs. */
static void edges_scope(FILE *f, const dscope *s) {
  const ir_graph *g = s->g;
  char from[512], to[512];
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (is_cluster(s, n)) {
      dscope c;
      scope_child(s, i, &c);
      edges_scope(f, &c);
      continue;
    }
    snprintf(to, sizeof to, "%sn%d", s->prefix, i);
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k], seen = 0;
      if (v < 0 || v >= g->n_values) continue;
      for (int j = 0; j < k && !seen; j++) seen = n->in[j] == v;
      int is_const = 0;
      if (seen || !resolve(s, v, from, sizeof from, &is_const, 0)) continue;
      put_edge(f, from, to, &g->values[v], is_const);
    }
  }
  if (!s->parent)
    for (int k = 0; k < g->n_outputs; k++) {
      int v = g->outputs[k], is_const = 0;
      if (v < 0 || v >= g->n_values || !resolve(s, v, from, sizeof from, &is_const, 0)) continue;
      snprintf(to, sizeof to, "out%d", k);
      put_edge(f, from, to, &g->values[v], is_const);
    }
}

int ir_write_dot(const ir_graph *g, FILE *f, kiln_diag *d) {
  KILN_ASSERT(g && f);
  dscope top;
  memset(&top, 0, sizeof top);
  top.g = g;
  top.node = -1;
  fputs("digraph kiln {\n", f);
  fputs("  graph [label=", f);
  ir_dot_put_string(f, g->name && *g->name ? g->name : "main");
  fputs(", labelloc=t, fontname=\"Helvetica\"];\n", f);
  fputs("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", "
        "fontname=\"Helvetica\", fontsize=10];\n",
        f);
  fputs("  edge [fontname=\"Helvetica\", fontsize=8];\n", f);
  decl_scope(f, &top, 2);
  edges_scope(f, &top);
  fputs("}\n", f);
  if (ferror(f))
    return kiln_diag_error(d, KILN_E_IO, "cannot write the graph: %s", strerror(errno));
  return KILN_OK;
}

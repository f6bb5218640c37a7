/* The public compiler API (include/kiln.h) over the IR, frontends and passes. */
#include "kiln.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/cg.h"
#include "frontend/kir.h"
#include "frontend/onnx.h"
#include "ir.h"
#include "ir/dot.h"
#include "kilnrt.h"
#include "passes/memplan.h"
#include "passes/pass.h"

_Static_assert(sizeof(kiln_tensor) == sizeof(ir_tensor), "kiln_tensor mirrors ir_tensor");
_Static_assert(offsetof(kiln_tensor, data) == offsetof(ir_tensor, data),
               "kiln_tensor mirrors ir_tensor");

struct kiln_model {
  ir_graph *g;
};

const char *kiln_version(void) { return KILN_VERSION; }

const char *kiln_dtype_name(kiln_dtype t) {
  if ((unsigned)t >= KILN_DTYPE_COUNT) return "?";
  return ir_dtype_name((ir_dtype)t);
}

int64_t kiln_tensor_numel(const kiln_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

size_t kiln_tensor_nbytes(const kiln_tensor *t) {
  return (size_t)kiln_tensor_numel(t) * ir_dtype_size((ir_dtype)t->dtype);
}

void kiln_tensor_free(kiln_tensor *t) {
  free(t->data);
  t->data = NULL;
}

void kiln_load_options_init(kiln_load_options *o) { memset(o, 0, sizeof *o); }

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Applies --shape pins to a .kir graph's inputs: a pin must agree with the
 * declared shape (a .kir file has no dynamic dims). */
static int check_pins(ir_graph *g, const kiln_load_options *o, kiln_diag *d) {
  for (int i = 0; o && i < o->n_shapes; i++) {
    int v = ir_value_find(g, o->shape_names[i]);
    if (v < 0 || g->values[v].kind != IR_VAL_INPUT)
      return kiln_diag_error(d, KILN_E_USAGE, "%s: --shape names '%s', which is not an input",
                             g->source, o->shape_names[i]);
    ir_type t = g->values[v].type;
    t.rank = o->shape_ranks[i];
    for (int k = 0; k < t.rank; k++) t.dims[k] = o->shape_dims[i][k];
    if (!ir_type_equal(&t, &g->values[v].type)) {
      char a[256], b[256];
      return kiln_diag_error(d, KILN_E_USAGE, "%s: --shape gives %s for input '%s', declared %s",
                             g->source, ir_type_str(&t, a, sizeof a), o->shape_names[i],
                             ir_type_str(&g->values[v].type, b, sizeof b));
    }
  }
  return KILN_OK;
}

int kiln_model_load(const char *path, const kiln_load_options *o, kiln_model **out,
                    kiln_diag *d) {
  *out = NULL;
  ir_graph *g = NULL;
  int is_onnx = ends_with(path, ".onnx");
  if (is_onnx) {
    /* the ONNX loader applies the pins to the inputs' dynamic dims */
    onnx_load_options oo;
    onnx_load_options_init(&oo);
    if (o && o->n_shapes > ONNX_MAX_PINS)
      return kiln_diag_error(d, KILN_E_USAGE, "%s: more than %d --shape pins", path,
                             ONNX_MAX_PINS);
    for (int i = 0; o && i < o->n_shapes; i++) {
      oo.shape_names[i] = o->shape_names[i];
      oo.shape_ranks[i] = o->shape_ranks[i];
      memcpy(oo.shape_dims[i], o->shape_dims[i], sizeof oo.shape_dims[i]);
    }
    oo.n_shapes = o ? o->n_shapes : 0;
    g = onnx_load(path, &oo, d);
  } else {
    g = kir_parse_file(path, d);
  }
  if (!g) return d->status ? d->status : KILN_E_PARSE;
  int rc = is_onnx ? KILN_OK : check_pins(g, o, d);
  if (rc) {
    ir_graph_free(g);
    return rc;
  }
  kiln_model *m = kiln_xcalloc(1, sizeof *m);
  m->g = g;
  *out = m;
  return KILN_OK;
}

int kiln_model_scan(const char *path, kiln_scan_report *r, kiln_diag *d) {
  memset(r, 0, sizeof *r);
  if (!ends_with(path, ".onnx")) return KILN_OK;
  onnx_scan_report sr;
  int rc = onnx_scan(path, &sr, d);
  if (rc) return rc;
  r->ir_version = sr.ir_version;
  r->opset = sr.opset;
  r->n_nodes = sr.n_nodes;
  for (int i = 0; i < sr.n_ops && r->n_ops < KILN_SCAN_MAX_OPS; i++) {
    kiln_scan_op *o = &r->ops[r->n_ops++];
    snprintf(o->op, sizeof o->op, "%s", sr.ops[i].op_type);
    snprintf(o->first_node, sizeof o->first_node, "%s", sr.ops[i].first_node);
    o->count = sr.ops[i].count;
    o->supported = sr.ops[i].supported;
    r->n_unsupported += !o->supported;
  }
  onnx_scan_report_free(&sr);
  return KILN_OK;
}

void kiln_model_free(kiln_model *m) {
  if (!m) return;
  ir_graph_free(m->g);
  free(m);
}

int kiln_model_bind(kiln_model *m, const char *name, const kiln_tensor *value, kiln_diag *d) {
  ir_graph *g = m->g;
  int v = ir_value_find(g, name);
  if (v < 0 || g->values[v].kind != IR_VAL_INPUT)
    return kiln_diag_error(d, KILN_E_USAGE, "%s: cannot bind '%s': the model has no such input",
                           g->source, name);
  ir_type t = {.dtype = (ir_dtype)value->dtype, .rank = value->rank};
  for (int i = 0; i < t.rank; i++) t.dims[i] = value->dims[i];
  ir_value *val = &g->values[v];
  if (val->type.dtype != t.dtype || val->type.rank != t.rank) {
    char a[256], b[256];
    return kiln_diag_error(d, KILN_E_USAGE, "%s: cannot bind '%s': it is %s, the value is %s",
                           g->source, name, ir_type_str(&val->type, a, sizeof a),
                           ir_type_str(&t, b, sizeof b));
  }
  void *data = ir_graph_alloc_data_checked(g, (size_t)ir_type_nbytes(&t), d);
  if (!data) return d->status;
  memcpy(data, value->data, (size_t)ir_type_nbytes(&t));
  val = &g->values[v];
  val->kind = IR_VAL_CONST;
  val->type = t;
  val->data = data;
  val->src = IR_CSRC_INLINE;
  int k = 0;
  for (int i = 0; i < g->n_inputs; i++)
    if (g->inputs[i] != v) g->inputs[k++] = g->inputs[i];
  g->n_inputs = k;
  return KILN_OK;
}

int kiln_model_input_decides_shape(const kiln_model *m, int i) {
  const ir_graph *g = m->g;
  if (i < 0 || i >= g->n_inputs) return 0;
  /* forward reachability from the input, in node order (topological) */
  char *reach = kiln_xcalloc((size_t)g->n_values + 1, 1);
  reach[g->inputs[i]] = 1;
  int found = 0;
  for (int k = 0; k < g->n_nodes && !found; k++) {
    const ir_node *n = &g->nodes[k];
    if (n->dead) continue;
    const ir_op_info *info = ir_op_get(n->op);
    int any = 0;
    for (int j = 0; j < n->n_in; j++) {
      if (n->in[j] < 0 || !reach[n->in[j]]) continue;
      any = 1;
      for (int a = 0; a < info->n_attrs; a++)
        if (info->attrs[a].operand == j) found = 1;
    }
    /* shape/size read only the type of their input, not its values */
    if (any && n->op != IR_OP_SHAPE && n->op != IR_OP_SIZE)
      for (int j = 0; j < n->n_out; j++) reach[n->out[j]] = 1;
  }
  free(reach);
  return found;
}

void kiln_pipeline_options_init(kiln_pipeline_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
}

static int make_pipeline(const kiln_pipeline_options *o, pass_pipeline *p, kiln_diag *d) {
  if (o->passes) return pass_pipeline_parse(o->passes, p, d);
  int lvl = o->opt_level < 0 ? 0 : o->opt_level > 2 ? 2 : o->opt_level;
  return pass_pipeline_for_level(lvl, p);
}

int kiln_pipeline_describe(const kiln_pipeline_options *o, char *buf, size_t n, kiln_diag *d) {
  pass_pipeline p;
  int rc = make_pipeline(o, &p, d);
  if (rc) return rc;
  pass_pipeline_str(&p, buf, n);
  return KILN_OK;
}

/* Runs the pipeline the options select over g. */
static int run_pipeline(ir_graph *g, const kiln_pipeline_options *o, kiln_diag *d) {
  pass_pipeline p;
  int rc = make_pipeline(o, &p, d);
  if (rc) return rc;
  pass_options po;
  pass_options_default(&po);
  po.opt_level = o->opt_level;
  po.verify_each = o->verify_each;
  po.time_passes = o->time_passes;
  po.dump_after = o->dump_after;
  po.dump_dir = o->dump_dir;
  po.report = o->report;
  return pass_run(g, &p, &po, d);
}

int kiln_model_optimize(kiln_model *m, const kiln_pipeline_options *o, kiln_diag *d) {
  return run_pipeline(m->g, o, d);
}

int kiln_model_print(const kiln_model *m, FILE *f, const char *side_file, kiln_diag *d) {
  ir_print_opts po;
  ir_print_opts_default(&po);
  po.side_file = side_file;
  po.side_ref = side_file;
  po.show_offsets = m->g->arena_bytes >= 0; /* planned (plan-memory ran) */
  return ir_print(m->g, f, &po, d);
}

int kiln_model_num_inputs(const kiln_model *m) { return m->g->n_inputs; }
int kiln_model_num_outputs(const kiln_model *m) { return m->g->n_outputs; }

static void value_info(const ir_graph *g, int v, kiln_value_info *out) {
  const ir_value *val = &g->values[v];
  memset(out, 0, sizeof *out);
  out->name = val->name;
  out->typed = val->typed;
  out->dtype = (kiln_dtype)val->type.dtype;
  out->rank = val->type.rank;
  for (int i = 0; i < val->type.rank; i++) out->dims[i] = val->type.dims[i];
}

int kiln_model_input(const kiln_model *m, int i, kiln_value_info *out) {
  if (i < 0 || i >= m->g->n_inputs) return KILN_E_USAGE;
  value_info(m->g, m->g->inputs[i], out);
  return KILN_OK;
}

int kiln_model_output(const kiln_model *m, int i, kiln_value_info *out) {
  if (i < 0 || i >= m->g->n_outputs) return KILN_E_USAGE;
  value_info(m->g, m->g->outputs[i], out);
  return KILN_OK;
}

int kiln_model_interpret(const kiln_model *m, const kiln_tensor *inputs, kiln_tensor *outputs,
                         kiln_diag *d) {
  int rc = ir_verify(m->g, 1, d);
  if (rc) return rc;
  return ir_interp_run(m->g, (const ir_tensor *)inputs, (ir_tensor *)outputs, d);
}

/* splitmix64: a small, well-mixed generator for test inputs. */
static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int kiln_tensor_random(kiln_tensor *t, uint64_t seed, kiln_diag *d) {
  ir_tensor *it = (ir_tensor *)t;
  ir_type type = it->type;
  int rc = ir_tensor_alloc(it, &type, d);
  if (rc) return rc;
  int64_t n = ir_type_numel(&type);
  uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = splitmix(&s);
    if (ir_dtype_is_float(type.dtype))
      ir_tensor_set_f(it, i, (double)(r >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    else if (type.dtype == IR_BOOL)
      ir_tensor_set_i(it, i, (int64_t)(r >> 63));
    else
      ir_tensor_set_i(it, i, (int64_t)(r >> 62));
  }
  return KILN_OK;
}

/* ---- inspection ------------------------------------------------------------- */

/* Bytes of the largest set of intermediates live at once when nodes run in
 * node order (an intermediate lives from its producer to its last use). */
static int64_t peak_live_bytes(const ir_graph *g) {
  int nv = g->n_values;
  int *last = kiln_xmalloc(sizeof(int) * ((size_t)nv + 1));
  for (int v = 0; v < nv; v++) last[v] = -1;
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_in; k++)
      if (g->nodes[i].in[k] >= 0) last[g->nodes[i].in[k]] = i;
  for (int k = 0; k < g->n_outputs; k++) last[g->outputs[k]] = g->n_nodes;
  int64_t live = 0, peak = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    for (int j = 0; j < n->n_out; j++) {
      const ir_value *v = &g->values[n->out[j]];
      if (v->typed) live += ir_type_nbytes(&v->type);
    }
    if (live > peak) peak = live;
    for (int j = 0; j < n->n_out; j++) {
      const ir_value *v = &g->values[n->out[j]];
      if (v->typed && last[n->out[j]] < 0) live -= ir_type_nbytes(&v->type);
    }
    for (int k = 0; k < n->n_in; k++) {
      int v = n->in[k];
      if (v < 0 || g->values[v].kind != IR_VAL_NODE || last[v] != i) continue;
      int dup = 0;
      for (int k2 = 0; k2 < k; k2++) dup |= n->in[k2] == v;
      if (!dup) live -= ir_type_nbytes(&g->values[v].type);
    }
  }
  free(last);
  return peak;
}

/* Kernels of a pipeline's result, and the bytes of intermediate results
 * they write per inference (graph outputs left out). Every live node is a
 * kernel except those code generation evaluates at compile time (range,
 * shape, size, constant_of_shape: cg_op_is_static) and, when `views`, the
 * views that alias their input (ir_op_is_view; plan-memory and codegen make
 * them free once fuse has run). */
static void kernel_figures(const ir_graph *g, int views, int *kernels, int64_t *bytes) {
  *kernels = 0;
  *bytes = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead || n->op == IR_OP_RANGE || n->op == IR_OP_SHAPE || n->op == IR_OP_SIZE ||
        n->op == IR_OP_CONSTANT_OF_SHAPE)
      continue;
    if (views && ir_op_is_view(n->op) && n->n_out == 1) continue;
    (*kernels)++;
    for (int j = 0; j < n->n_out; j++) {
      const ir_value *v = &g->values[n->out[j]];
      if (v->typed && !pass_is_graph_output(g, n->out[j])) *bytes += ir_type_nbytes(&v->type);
    }
  }
}

/* The fusion figures: the -O2 pipeline up to fuse, without and with it. */
static void fusion_figures(const ir_graph *src, kiln_inspect_report *r) {
  r->kernels_before_fusion = r->kernels_after_fusion = -1;
  r->intermediate_bytes_before_fusion = r->intermediate_bytes_after_fusion = -1;
  pass_pipeline full;
  pass_pipeline_for_level(2, &full);
  for (int with = 0; with < 2; with++) {
    pass_pipeline p;
    p.n = 0;
    for (int i = 0; i < full.n; i++) {
      const char *nm = full.passes[i]->name;
      if (strcmp(nm, "schedule") && strcmp(nm, "plan-memory") && (with || strcmp(nm, "fuse")))
        p.passes[p.n++] = full.passes[i];
    }
    pass_options po;
    pass_options_default(&po);
    kiln_diag d;
    kiln_diag_init(&d);
    ir_graph *g = ir_graph_clone(src);
    int rc = pass_run(g, &p, &po, &d);
    if (!rc && with)
      kernel_figures(g, 1, &r->kernels_after_fusion, &r->intermediate_bytes_after_fusion);
    else if (!rc)
      kernel_figures(g, 0, &r->kernels_before_fusion, &r->intermediate_bytes_before_fusion);
    ir_graph_free(g);
    kiln_diag_clear(&d);
    if (rc) return;
  }
}

int kiln_model_inspect(kiln_model *m, kiln_inspect_report *r, kiln_diag *d) {
  memset(r, 0, sizeof *r);
  ir_graph *g = m->g;
  int need = 0;
  for (int v = 0; v < g->n_values; v++) need |= !g->values[v].typed;
  if (need) {
    pass_pipeline p;
    pass_pipeline_for_level(0, &p);
    pass_options po;
    pass_options_default(&po);
    int rc = pass_run(g, &p, &po, d);
    if (rc) return rc;
  }
  int counts[IR_OP_COUNT] = {0};
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead) continue;
    counts[g->nodes[i].op]++;
    r->n_nodes++;
  }
  for (int op = 0; op < IR_OP_COUNT && r->n_ops < KILN_INSPECT_MAX_OPS; op++)
    if (counts[op]) {
      r->op_names[r->n_ops] = ir_op_name((ir_op)op);
      r->op_counts[r->n_ops++] = counts[op];
    }
  int *uses = kiln_xcalloc((size_t)g->n_values + 1, sizeof(int));
  ir_count_uses(g, uses);
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (val->dead || !val->typed) continue;
    int64_t nb = ir_type_nbytes(&val->type);
    if (val->kind == IR_VAL_CONST) {
      if (!uses[v]) continue;
      r->constant_bytes += nb;
      if (val->is_param && ir_dtype_is_float(val->type.dtype)) {
        r->parameters += ir_type_numel(&val->type);
        r->parameter_bytes += nb;
      }
    } else if (val->kind == IR_VAL_INPUT) {
      r->input_bytes += nb;
    } else {
      r->activation_bytes += nb;
    }
  }
  for (int k = 0; k < g->n_outputs; k++) {
    const ir_value *val = &g->values[g->outputs[k]];
    if (val->typed) r->output_bytes += ir_type_nbytes(&val->type);
  }
  free(uses);
  r->activation_peak_bytes = peak_live_bytes(g);
  /* Inference keeps the constants, the inputs and the live intermediates.
   * Training keeps parameters, their gradients and optimiser state (SGD none,
   * Momentum one buffer, Adam two), plus every activation for the backward
   * pass; the other constants count once. */
  int64_t other_const = r->constant_bytes - r->parameter_bytes;
  r->mem_inference = r->constant_bytes + r->input_bytes + r->activation_peak_bytes;
  int64_t train_base = other_const + r->input_bytes + r->activation_bytes;
  r->mem_train_sgd = train_base + 2 * r->parameter_bytes;
  r->mem_train_momentum = train_base + 3 * r->parameter_bytes;
  r->mem_train_adam = train_base + 4 * r->parameter_bytes;
  fusion_figures(g, r);
  return KILN_OK;
}

/* ---- compilation ------------------------------------------------------------------ */

void kiln_compile_options_init(kiln_compile_options *o) {
  memset(o, 0, sizeof *o);
  o->opt_level = 2;
}

_Static_assert((int)KILN_EMIT_SO == (int)CG_EMIT_SO && (int)KILN_EMIT_HEADER == (int)CG_EMIT_HEADER,
               "kiln_emit_kind mirrors cg_emit_kind");

static void to_cg_options(const kiln_compile_options *o, cg_options *c) {
  cg_options_init(c);
  if (!o) return;
  c->emit = (cg_emit_kind)o->emit;
  c->name = o->name;
  c->weights = o->weights_file ? CG_WEIGHTS_FILE : CG_WEIGHTS_EMBED;
  c->triple = o->target;
  c->cpu = o->cpu;
  c->features = o->features;
  c->opt_level = o->opt_level;
  c->cc = o->cc;
  c->no_header = o->no_header;
  c->time_passes = o->time_passes;
  c->report = o->report;
  c->progress = o->progress;
  c->progress_user = o->progress_user;
}

int kiln_model_compile(const kiln_model *m, const char *out, const kiln_compile_options *o,
                       kiln_diag *d) {
  cg_options c;
  to_cg_options(o, &c);
  c.out = out;
  return cg_compile(m->g, &c, d);
}

/* Compiles to a temporary shared object (removed once loaded) and runs it
 * once with libkilnrt (include/kilnrt.h). */
int kiln_model_run_compiled(const kiln_model *m, const kiln_compile_options *o,
                            const kiln_tensor *inputs, kiln_tensor *outputs, kiln_diag *d) {
  const ir_graph *g = m->g;
  for (int i = 0; i < g->n_inputs; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    const ir_tensor *t = (const ir_tensor *)&inputs[i];
    if (!ir_type_equal(&t->type, &v->type)) {
      char x[256], y[256];
      return kiln_diag_error(d, KILN_E_USAGE, "%s: input '%s' must be %s, got %s", g->source,
                             v->name, ir_type_str(&v->type, x, sizeof x),
                             ir_type_str(&t->type, y, sizeof y));
    }
  }
  const char *tmp = getenv("TMPDIR");
  char dir[4096], so[4200];
  snprintf(dir, sizeof dir, "%s/kiln-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    return kiln_diag_error(d, KILN_E_IO, "%s: cannot create a temporary directory: %s", dir,
                           strerror(errno));
  snprintf(so, sizeof so, "%s/model.so", dir);
  cg_options c;
  to_cg_options(o, &c);
  c.emit = CG_EMIT_SO;
  c.out = so;
  c.name = "kiln_model";
  c.weights = CG_WEIGHTS_EMBED;
  c.no_header = 1;
  kilnrt_model *rt = NULL;
  int rc = cg_compile(g, &c, d);
  if (!rc && kilnrt_load(so, c.name, &rt))
    rc = kiln_diag_error(d, KILN_E_RUNTIME, "%s", kilnrt_last_error());
  if (!rc && o && o->threads > 0 && kilnrt_set_threads(rt, o->threads, NULL))
    rc = kiln_diag_error(d, KILN_E_RUNTIME, "%s", kilnrt_last_error());
  unlink(so);
  rmdir(dir);
  if (rc) return rc;
  int n_out = g->n_outputs, made = 0;
  void **ins = calloc((size_t)g->n_inputs + 1, sizeof(void *));
  void **outs = calloc((size_t)n_out + 1, sizeof(void *));
  if (!ins || !outs) rc = kiln_diag_error(d, KILN_E_NOMEM, "out of memory");
  for (int i = 0; !rc && i < g->n_inputs; i++) ins[i] = inputs[i].data;
  for (int j = 0; !rc && j < n_out; j++, made++) {
    ir_tensor *t = (ir_tensor *)&outputs[j];
    rc = ir_tensor_alloc(t, &g->values[g->outputs[j]].type, d);
    outs[j] = t->data;
  }
  if (!rc && kilnrt_run(rt, NULL, (const void *const *)ins, outs))
    rc = kiln_diag_error(d, KILN_E_RUNTIME, "%s: the compiled model failed: %s", g->source,
                         kilnrt_last_error());
  if (rc)
    for (int j = 0; j < made; j++) ir_tensor_release((ir_tensor *)&outputs[j]);
  free(ins);
  free(outs);
  kilnrt_unload(rt);
  return rc;
}

/* ---- memory figures --------------------------------------------------------- */

int kiln_model_memory(const kiln_model *m, const kiln_pipeline_options *o, kiln_memory_report *r,
                      kiln_diag *d) {
  memset(r, 0, sizeof *r);
  kiln_pipeline_options defaults;
  if (!o) {
    kiln_pipeline_options_init(&defaults);
    o = &defaults;
  }
  pass_pipeline full, pre, post;
  int rc = make_pipeline(o, &full, d);
  if (rc) return rc;
  pre.n = post.n = 0;
  for (int i = 0; i < full.n; i++)
    if (strcmp(full.passes[i]->name, "schedule") && strcmp(full.passes[i]->name, "plan-memory"))
      pre.passes[pre.n++] = full.passes[i];
  post.passes[post.n++] = pass_find("schedule");
  post.passes[post.n++] = pass_find("plan-memory");
  KILN_ASSERT(post.passes[0] && post.passes[1]);
  pass_options po;
  pass_options_default(&po);
  po.opt_level = o->opt_level;
  po.verify_each = o->verify_each;
  ir_graph *g = ir_graph_clone(m->g);
  int untyped = 0;
  for (int v = 0; v < g->n_values; v++) untyped |= !g->values[v].dead && !g->values[v].typed;
  if (untyped) {
    pass_pipeline p0;
    pass_pipeline_for_level(0, &p0);
    rc = pass_run(g, &p0, &po, d);
  }
  if (!rc) rc = pass_run(g, &pre, &po, d);
  if (!rc) {
    r->peak_default_order_bytes = sched_peak_bytes(g, NULL);
    rc = pass_run(g, &post, &po, d);
  }
  if (!rc) {
    plan_stats st;
    r->peak_scheduled_bytes = sched_peak_bytes(g, NULL);
    plan_memory_stats(g, &st);
    r->naive_bytes = st.naive_bytes;
    r->lower_bound_bytes = st.lower_bound_bytes;
    r->arena_bytes = st.arena_bytes;
  }
  ir_graph_free(g);
  return rc;
}

/* ---- Graphviz ---------------------------------------------------------------- */

int kiln_model_write_dot(const kiln_model *m, const kiln_pipeline_options *o, FILE *f,
                         kiln_diag *d) {
  kiln_pipeline_options defaults;
  if (!o) {
    kiln_pipeline_options_init(&defaults);
    o = &defaults;
  }
  ir_graph *g = ir_graph_clone(m->g);
  int rc = run_pipeline(g, o, d);
  if (!rc) rc = ir_write_dot(g, f, d);
  ir_graph_free(g);
  return rc;
}

/* Unit tests for the pass manager and the graph passes. Every pass test
 * builds a graph with the C API, checks the rewritten structure, and runs the
 * interpreter before and after the pass on the same random inputs: the
 * outputs (and their names) must not change. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "passes/pass.h"

/* ---- building graphs ------------------------------------------------------------ */

#define TY(dt, rank, ...) th_type(dt, rank, (const int64_t[]){0, __VA_ARGS__} + 1)
#define SCALAR(dt) th_type(dt, 0, NULL)

static int input(ir_graph *g, const char *name, ir_type t) { return ir_add_input(g, name, &t); }

/* A constant from doubles (cast to the dtype). */
static int cst(ir_graph *g, const char *name, ir_type t, const double *vals) {
  ir_tensor x = th_tensor(t.dtype, t.rank, t.dims, vals);
  int v = ir_add_const(g, name, &t, x.data);
  ir_tensor_release(&x);
  return v;
}

/* A constant filled with one value. */
static int cst_fill(ir_graph *g, const char *name, ir_type t, double x) {
  int64_t n = ir_type_numel(&t);
  double *vals = malloc(sizeof(double) * (size_t)(n + 1));
  for (int64_t i = 0; i < n; i++) vals[i] = x;
  int v = cst(g, name, t, vals);
  free(vals);
  return v;
}

/* The node producing value v. */
static int prod(const ir_graph *g, int v) { return g->values[v].producer; }
static int out_node(const ir_graph *g, int k) { return prod(g, g->outputs[k]); }

static int count_consts(const ir_graph *g) {
  int c = 0;
  for (int v = 0; v < g->n_values; v++)
    c += !g->values[v].dead && g->values[v].kind == IR_VAL_CONST;
  return c;
}

/* ---- running passes and comparing ------------------------------------------------- */

static int run_passes_opts(ir_graph *g, const char *list, pass_options *o, kiln_diag *d) {
  pass_pipeline p;
  int rc = pass_pipeline_parse(list, &p, d);
  if (rc) return rc;
  return pass_run(g, &p, o, d);
}

/* Shape inference, then a copy to compare against. */
static ir_graph *typed_copy(ir_graph *g) {
  th_run_passes(g, "infer-shapes");
  return ir_graph_clone(g);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0 * 4.0 - 2.0; /* [-2, 2) */
}

/* Both graphs have the same inputs and output names, and compute the same
 * outputs (bit for bit: passes move computation, they do not change it) on
 * random inputs. */
static void check_same_impl(const ir_graph *ref, const ir_graph *g, int line) {
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_verify(g, 1, &d) == 0, "line %d: %s", line, d.msg);
  ck_assert_int_eq(ref->n_inputs, g->n_inputs);
  ir_tensor feeds[8];
  ck_assert(g->n_inputs <= 8);
  for (int i = 0; i < g->n_inputs; i++) {
    const ir_type *t = &ref->values[ref->inputs[i]].type;
    ck_assert(ir_type_equal(t, &g->values[g->inputs[i]].type));
    ck_assert(ir_tensor_alloc(&feeds[i], t, &d) == 0);
    for (int64_t e = 0; e < ir_type_numel(t); e++) {
      if (ir_dtype_is_float(t->dtype)) ir_tensor_set_f(&feeds[i], e, rnd());
      else ir_tensor_set_i(&feeds[i], e, (int64_t)(rnd() * 4));
    }
  }
  th_assert_same_run_impl(ref, g, feeds, 0.0, 0.0, __FILE__, line);
  for (int i = 0; i < g->n_inputs; i++) ir_tensor_release(&feeds[i]);
}
#define check_same(ref, g) check_same_impl(ref, g, __LINE__)

/* ---- the manager ------------------------------------------------------------------ */

START_TEST(test_pipelines) {
  pass_pipeline p;
  char buf[512];
  kiln_diag d;
  kiln_diag_init(&d);
  int n;
  const pass_info *all = pass_list(&n);
  ck_assert_int_eq(n, 10);
  for (int i = 0; i < n; i++) {
    ck_assert_ptr_eq(pass_find(all[i].name), &all[i]);
    ck_assert(all[i].desc && *all[i].desc && all[i].run);
  }
  ck_assert_ptr_null(pass_find("nope"));

  ck_assert_int_eq(pass_pipeline_for_level(0, &p), 0);
  pass_pipeline_str(&p, buf, sizeof buf);
  ck_assert_str_eq(buf, "infer-shapes");
  ck_assert_int_eq(pass_pipeline_for_level(1, &p), 0);
  pass_pipeline_str(&p, buf, sizeof buf);
  ck_assert_str_eq(buf, "infer-shapes,simplify,fold-constants,fold-batchnorm,fold-scale,dce,cse,dce");
  for (int level = 2; level <= 3; level++) {
    ck_assert_int_eq(pass_pipeline_for_level(level, &p), 0);
    pass_pipeline_str(&p, buf, sizeof buf);
    ck_assert_str_eq(buf, "infer-shapes,simplify,fold-constants,fold-batchnorm,fold-scale,dce,cse,"
                          "dce,fuse,schedule,plan-memory");
  }
  ck_assert_int_ne(pass_pipeline_for_level(4, &p), 0);
  ck_assert_int_ne(pass_pipeline_for_level(-1, &p), 0);

  ck_assert_int_eq(pass_pipeline_parse("", &p, &d), 0);
  ck_assert_int_eq(p.n, 0);
  ck_assert_int_eq(pass_pipeline_parse(" dce , cse,dce", &p, &d), 0);
  pass_pipeline_str(&p, buf, sizeof buf);
  ck_assert_str_eq(buf, "dce,cse,dce");
  /* truncation keeps a terminated string */
  pass_pipeline_str(&p, buf, 6);
  ck_assert_str_eq(buf, "dce,c");

  ck_assert_int_eq(pass_pipeline_parse("dce,fold", &p, &d), KILN_E_USAGE);
  ck_assert_msg(strstr(d.msg, "unknown pass 'fold'"), "%s", d.msg);
  ck_assert_msg(strstr(d.msg, "infer-shapes") && strstr(d.msg, "fold-constants") &&
                    strstr(d.msg, "cse") && strstr(d.msg, "simplify"),
                "%s", d.msg);
  kiln_diag_clear(&d);
  ck_assert_int_ne(pass_pipeline_parse("dce,,cse", &p, &d), 0);
  ck_assert_msg(strstr(d.msg, "empty pass name"), "%s", d.msg);
  kiln_diag_clear(&d);
  char many[PASS_MAX_PIPELINE * 4 + 16] = "";
  for (int i = 0; i <= PASS_MAX_PIPELINE; i++) strcat(many, i ? ",dce" : "dce");
  ck_assert_int_ne(pass_pipeline_parse(many, &p, &d), 0);
  ck_assert_msg(strstr(d.msg, "more than"), "%s", d.msg);
}
END_TEST

/* x -> relu -> out, plus a dead branch and an unused constant. */
static ir_graph *small_graph(void) {
  ir_graph *g = ir_graph_new("small");
  int x = input(g, "x", TY(IR_F32, 2, 2, 3));
  int c = cst_fill(g, "c", TY(IR_F32, 1, 3), 2.0);
  int big = cst_fill(g, "big", TY(IR_F32, 2, 8, 3), 0.5);
  int a = th_op(g, IR_OP_ADD, "a", 2, x, c);
  int e = th_op(g, IR_OP_ADD, "e", 2, c, big); /* constant, unused */
  (void)e;
  int y = th_op(g, IR_OP_RELU, "y", 1, a);
  ir_add_output(g, y);
  return g;
}

START_TEST(test_time_passes) {
  ir_graph *g = small_graph();
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  pass_options o;
  pass_options_default(&o);
  o.time_passes = 1;
  o.report = f;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_eq(run_passes_opts(g, "infer-shapes,dce,dce", &o, &d), 0);
  fclose(f);
  ck_assert_msg(strstr(text, "wall ms") && strstr(text, "nodes") && strstr(text, "total"),
                "%s", text);
  ck_assert_msg(strstr(text, "01  infer-shapes") && strstr(text, "02  dce") &&
                    strstr(text, "03  dce"),
                "%s", text);
  ck_assert_msg(strstr(text, "100.0%"), "%s", text);
  free(text);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_verify_each_and_errors) {
  kiln_diag d;
  kiln_diag_init(&d);
  pass_options o;
  pass_options_default(&o);
  o.verify_each = 1;
  /* a bad input graph is reported as such, before any pass runs */
  ir_graph *g = ir_graph_new("bad");
  input(g, "x", TY(IR_F32, 1, 4));
  ck_assert_int_ne(run_passes_opts(g, "dce", &o, &d), 0);
  ck_assert_msg(strstr(d.msg, "input graph") && strstr(d.msg, "no outputs"), "%s", d.msg);
  ir_graph_free(g);
  /* a pass error stops the pipeline and the timing table still prints */
  g = ir_graph_new("bad2");
  int x = input(g, "x", TY(IR_F32, 1, 4));
  int w = input(g, "w", TY(IR_F32, 1, 5));
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, x, w));
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  o.time_passes = 1;
  o.report = f;
  kiln_diag_clear(&d);
  ck_assert_int_ne(run_passes_opts(g, "infer-shapes,dce", &o, &d), 0);
  fclose(f);
  ck_assert_msg(strstr(d.msg, "'y'"), "%s", d.msg);
  ck_assert_msg(strstr(text, "infer-shapes") && !strstr(text, "dce"), "%s", text);
  free(text);
  ir_graph_free(g);
  /* unknown --dump-after names */
  g = small_graph();
  pass_options_default(&o);
  o.dump_after = "dce,bogus";
  kiln_diag_clear(&d);
  ck_assert_int_eq(run_passes_opts(g, "dce", &o, &d), KILN_E_USAGE);
  ck_assert_msg(strstr(d.msg, "--dump-after") && strstr(d.msg, "'bogus'") && strstr(d.msg, "cse"),
                "%s", d.msg);
  ir_graph_free(g);
}
END_TEST

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

START_TEST(test_dumps) {
  /* to a directory: one NN-pass.kir per pass, large constants in a .bin */
  char dir[] = "/tmp/kiln_dumps_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ir_graph *g = ir_graph_new("dumps");
  int x = input(g, "x", TY(IR_F32, 2, 8, 8));
  int c1 = cst_fill(g, "c1", TY(IR_F32, 2, 8, 8), 0.5);
  int c2 = cst_fill(g, "c2", TY(IR_F32, 2, 8, 8), 1.5);
  int s = th_op(g, IR_OP_ADD, "s", 2, c1, c2); /* folds into a 64-element constant */
  ir_add_output(g, th_op(g, IR_OP_MUL, "y", 2, x, s));
  pass_options o;
  pass_options_default(&o);
  o.dump_after = "all";
  o.dump_dir = dir;
  pass_pipeline p;
  ck_assert_int_eq(pass_pipeline_for_level(1, &p), 0);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(pass_run(g, &p, &o, &d) == 0, "%s", d.msg);
  const char *names[] = {"01-infer-shapes", "02-simplify", "03-fold-constants",
                         "04-fold-batchnorm", "05-fold-scale", "06-dce",
                         "07-cse",          "08-dce"};
  char path[512];
  for (int i = 0; i < 8; i++) {
    snprintf(path, sizeof path, "%s/%s.kir", dir, names[i]);
    char *text = slurp(path);
    ck_assert_msg(text != NULL, "missing %s", path);
    ck_assert_msg(strstr(text, "graph dumps"), "%s: %s", path, text);
    if (i >= 2) /* folded: no add left, and the product reads a constant */
      ck_assert_msg(!strstr(text, "add("), "%s: %s", path, text);
    free(text);
  }
  snprintf(path, sizeof path, "%s/03-fold-constants.kir", dir);
  char *text = slurp(path);
  ck_assert_msg(strstr(text, "03-fold-constants.kir.bin"), "%s", text);
  free(text);
  snprintf(path, sizeof path, "%s/03-fold-constants.kir.bin", dir);
  ck_assert_msg(file_exists(path), "missing %s", path);
  for (int i = 0; i < 8; i++) {
    snprintf(path, sizeof path, "%s/%s.kir", dir, names[i]);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.kir.bin", dir, names[i]);
    unlink(path);
  }
  ck_assert_int_eq(rmdir(dir), 0);
  ir_graph_free(g);

  /* to the report: only the named passes, large constants elided */
  g = small_graph();
  char *rep = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&rep, &len);
  pass_options_default(&o);
  o.dump_after = "dce";
  o.report = f;
  ck_assert_msg(run_passes_opts(g, "infer-shapes,dce", &o, &d) == 0, "%s", d.msg);
  fclose(f);
  ck_assert_msg(strstr(rep, "after 02-dce") && !strstr(rep, "infer-shapes"), "%s", rep);
  ck_assert_msg(strstr(rep, "relu("), "%s", rep);
  free(rep);
  ir_graph_free(g);
  (void)x;
}
END_TEST

/* ---- infer-shapes ------------------------------------------------------------------ */

START_TEST(test_infer_declared_types) {
  ir_graph *g = ir_graph_new("decl");
  int x = input(g, "x", TY(IR_F32, 2, 2, 3));
  int y = th_op(g, IR_OP_RELU, "y", 1, x);
  int t = th_op(g, IR_OP_TRANSPOSE, "t", 1, y);
  ir_add_output(g, t);
  /* right declarations pass */
  g->values[y].typed = 1;
  g->values[y].type = TY(IR_F32, 2, 2, 3);
  th_run_passes(g, "infer-shapes");
  ck_assert(ir_type_equal(&g->values[t].type, &(ir_type){.dtype = IR_F32, .rank = 2, .dims = {3, 2}}));
  /* a wrong one is an error naming the value */
  g->values[t].type = TY(IR_F32, 2, 2, 3);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_ne(run_passes_opts(g, "infer-shapes", NULL, &d), 0);
  ck_assert_msg(strstr(d.msg, "'t'") && strstr(d.msg, "f32[2,3]") && strstr(d.msg, "f32[3,2]"),
                "%s", d.msg);
  g->values[t].type = TY(IR_I64, 2, 3, 2);
  kiln_diag_clear(&d);
  ck_assert_int_ne(run_passes_opts(g, "infer-shapes", NULL, &d), 0);
  ck_assert_msg(strstr(d.msg, "'t'") && strstr(d.msg, "i64"), "%s", d.msg);
  ir_graph_free(g);
}
END_TEST

/* ---- fold-constants ---------------------------------------------------------------- */

START_TEST(test_fold_arith) {
  ir_graph *g = ir_graph_new("fold");
  int x = input(g, "x", TY(IR_F32, 2, 2, 3));
  int a = cst(g, "a", TY(IR_F32, 1, 3), TH_VALS(1, 2, 3));
  int b = cst(g, "b", TY(IR_F32, 1, 3), TH_VALS(10, 20, 30));
  int w = cst(g, "w", TY(IR_F32, 1, 3), TH_VALS(0.5, 0.25, 2));
  g->values[w].is_param = 1;
  int s = th_op(g, IR_OP_ADD, "s", 2, a, b);     /* [11, 22, 33] */
  int n = th_op(g, IR_OP_NEG, "n", 1, s);         /* [-11, -22, -33] */
  int ws = th_op(g, IR_OP_MUL, "ws", 2, w, n);   /* parameter-derived */
  int y = th_op(g, IR_OP_MUL, "y", 2, x, ws);
  ir_add_output(g, y);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "fold-constants");
  ck_assert_int_eq(th_count_op(g, IR_OP_ADD), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_NEG), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_MUL), 1);
  const ir_node *m = &g->nodes[out_node(g, 0)];
  const ir_value *c = &g->values[m->in[1]];
  ck_assert_int_eq(c->kind, IR_VAL_CONST);
  ck_assert_str_eq(c->name, "ws");
  ck_assert_int_eq(c->src, IR_CSRC_INLINE);
  ck_assert_int_eq(c->is_param, 1);
  const float *cf = c->data;
  ck_assert(cf[0] == -5.5f && cf[1] == -5.5f && cf[2] == -66.0f);
  /* only the folded result is left; a and b and the intermediates are gone */
  ck_assert_int_eq(count_consts(g), 1);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);

  /* a non-parameter fold is not a parameter */
  g = ir_graph_new("fold2");
  x = input(g, "x", TY(IR_F32, 1, 3));
  a = cst(g, "a", TY(IR_F32, 1, 3), TH_VALS(1, 2, 3));
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, x, th_op(g, IR_OP_EXP, "e", 1, a)));
  ref = typed_copy(g);
  th_run_passes(g, "fold-constants");
  ck_assert_int_eq(th_count_op(g, IR_OP_EXP), 0);
  ck_assert_int_eq(g->values[g->nodes[out_node(g, 0)].in[1]].is_param, 0);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* A graph output computed from constants only becomes a constant output. */
START_TEST(test_fold_output) {
  ir_graph *g = ir_graph_new("fold_out");
  int x = input(g, "x", TY(IR_F32, 1, 2));
  int a = cst(g, "a", TY(IR_F32, 1, 2), TH_VALS(1, 4));
  ir_add_output(g, th_op(g, IR_OP_SQRT, "r", 1, a));
  ir_add_output(g, th_op(g, IR_OP_RELU, "y", 1, x));
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "fold-constants,dce");
  ck_assert_int_eq(g->n_nodes, 1);
  ck_assert_int_eq(g->values[g->outputs[0]].kind, IR_VAL_CONST);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* shape -> gather -> concat -> reshape(x, shape) ends as reshape{shape=...} */
START_TEST(test_fold_shape_chain) {
  ir_graph *g = ir_graph_new("chain");
  int x = input(g, "x", TY(IR_F32, 3, 2, 3, 4));
  int s = th_op(g, IR_OP_SHAPE, "s", 1, x);
  int i0 = cst(g, "i0", TY(IR_I64, 1, 1), TH_VALS(0));
  int d0 = th_op(g, IR_OP_GATHER, "d0", 2, s, i0);
  int m1 = cst(g, "m1", TY(IR_I64, 1, 1), TH_VALS(-1));
  int cat = th_op(g, IR_OP_CONCAT, "cat", 2, d0, m1);
  ir_set_int(g, prod(g, cat), "axis", 0);
  int r = th_op(g, IR_OP_RESHAPE, "r", 2, x, cat);
  /* the shape's size also feeds the data path: folded, not only resolved */
  int sz = th_op(g, IR_OP_SIZE, "sz", 1, x);
  int szf = th_op(g, IR_OP_CAST, "szf", 1, sz);
  ir_set_int(g, prod(g, szf), "to", IR_F32);
  ir_add_output(g, th_op(g, IR_OP_MUL, "y", 2, r, szf));
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "infer-shapes,fold-constants,dce");
  ck_assert_int_eq(th_count_op(g, IR_OP_SHAPE), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_GATHER), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_CONCAT), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_SIZE), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_CAST), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_RESHAPE), 1);
  ck_assert_int_eq(g->n_nodes, 2);
  int ri = -1;
  for (int i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].op == IR_OP_RESHAPE) ri = i;
  const ir_node *rn = &g->nodes[ri];
  ck_assert_int_eq(rn->n_in, 1);
  const int64_t *shape;
  ck_assert_int_eq(ir_attr_ints(rn, "shape", &shape), 2);
  ck_assert(shape[0] == 2 && shape[1] == -1);
  ir_type want = TY(IR_F32, 2, 2, 12);
  ck_assert(ir_type_equal(&g->values[rn->out[0]].type, &want));
  /* left: the folded size (a scalar) and nothing else */
  ck_assert_int_eq(count_consts(g), 1);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* Folding does not blow small constants up into big ones. */
START_TEST(test_fold_growth_limit) {
  ir_graph *g = ir_graph_new("grow");
  int x = input(g, "x", TY(IR_F32, 2, 1024, 512));
  int one = cst(g, "one", TY(IR_F32, 1, 1), TH_VALS(3));
  /* 1024 x 512 f32 = 2 MiB from 4 bytes: stays an expand */
  int big = th_op(g, IR_OP_EXPAND, "big", 1, one);
  ir_set_ints(g, prod(g, big), "shape", TH_DIMS(1024, 512), 2);
  /* 16 x 16: folded */
  int small = th_op(g, IR_OP_EXPAND, "small", 1, one);
  ir_set_ints(g, prod(g, small), "shape", TH_DIMS(16, 16), 2);
  int y = th_op(g, IR_OP_ADD, "y", 2, x, big);
  int z = th_op(g, IR_OP_RELU, "z", 1, small);
  ir_add_output(g, y);
  ir_add_output(g, z);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "fold-constants,dce");
  ck_assert_int_eq(th_count_op(g, IR_OP_EXPAND), 1);
  ck_assert_int_eq(th_count_op(g, IR_OP_RELU), 0); /* small -> relu folded */
  const ir_node *e = &g->nodes[prod(g, g->nodes[out_node(g, 0)].in[1])];
  ck_assert_int_eq(e->op, IR_OP_EXPAND);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_fold_needs_types) {
  ir_graph *g = small_graph();
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_ne(run_passes_opts(g, "fold-constants", NULL, &d), 0);
  ck_assert_msg(strstr(d.msg, "typed") && strstr(d.msg, "infer-shapes"), "%s", d.msg);
  ir_graph_free(g);
}
END_TEST

/* ---- dce ----------------------------------------------------------------------------- */

START_TEST(test_dce) {
  ir_graph *g = ir_graph_new("dce");
  int x = input(g, "x", TY(IR_F32, 1, 4));
  int unused_in = input(g, "unused", TY(IR_F32, 1, 4));
  int c = cst_fill(g, "c", TY(IR_F32, 1, 4), 1.0);
  int dead1 = th_op(g, IR_OP_NEG, "dead1", 1, x);
  int dead2 = th_op(g, IR_OP_EXP, "dead2", 1, dead1);
  th_op(g, IR_OP_ADD, "dead3", 2, dead2, c);
  int live = th_op(g, IR_OP_RELU, "live", 1, x);
  int keep = th_op(g, IR_OP_SIGMOID, "keep", 1, live);
  ir_add_output(g, keep);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "dce");
  ck_assert_int_eq(g->n_nodes, 2);
  ck_assert_int_eq(th_count_op(g, IR_OP_RELU), 1);
  ck_assert_int_eq(th_count_op(g, IR_OP_SIGMOID), 1);
  ck_assert_int_eq(count_consts(g), 0);
  ck_assert_int_eq(g->n_inputs, 2); /* the signature stays */
  ck_assert_int_ge(ir_value_find(g, "unused"), 0);
  ck_assert_int_lt(ir_value_find(g, "dead2"), 0);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
  (void)unused_in;
}
END_TEST

/* ---- cse ----------------------------------------------------------------------------- */

START_TEST(test_cse_nodes) {
  ir_graph *g = ir_graph_new("cse");
  int x = input(g, "x", TY(IR_F32, 2, 2, 3));
  int w = input(g, "w", TY(IR_F32, 2, 2, 3));
  int a = th_op(g, IR_OP_ADD, "a", 2, x, w);
  int b = th_op(g, IR_OP_ADD, "b", 2, x, w);
  int b2 = th_op(g, IR_OP_ADD, "b2", 2, w, x); /* other operand order: kept */
  int la = th_op(g, IR_OP_LEAKY_RELU, "la", 1, a);
  int lb = th_op(g, IR_OP_LEAKY_RELU, "lb", 1, b); /* same as la once b is a */
  int lc = th_op(g, IR_OP_LEAKY_RELU, "lc", 1, a);
  ir_set_float(g, prod(g, lc), "alpha", 0.2); /* another alpha: kept */
  int ld = th_op(g, IR_OP_LEAKY_RELU, "ld", 1, a);
  ir_set_float(g, prod(g, ld), "alpha", 0.2); /* same as lc */
  int m1 = th_op(g, IR_OP_MUL, "m1", 2, la, lb);
  int m2 = th_op(g, IR_OP_MUL, "m2", 2, lc, ld);
  int m3 = th_op(g, IR_OP_MUL, "m3", 2, m1, b2);
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, m3, m2));
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "cse");
  ck_assert_int_eq(th_count_op(g, IR_OP_LEAKY_RELU), 2);
  ck_assert_int_eq(th_count_op(g, IR_OP_ADD), 3); /* a, b2, y */
  ck_assert_int_lt(ir_value_find(g, "b"), 0);
  ck_assert_int_lt(ir_value_find(g, "lb"), 0);
  ck_assert_int_lt(ir_value_find(g, "ld"), 0);
  int v1 = ir_value_find(g, "m1"), v2 = ir_value_find(g, "m2");
  const ir_node *n1 = &g->nodes[prod(g, v1)], *n2 = &g->nodes[prod(g, v2)];
  ck_assert_int_eq(n1->in[0], n1->in[1]);
  ck_assert_int_eq(n2->in[0], n2->in[1]);
  ck_assert_int_eq(n1->in[0], ir_value_find(g, "la"));
  ck_assert_int_eq(n2->in[0], ir_value_find(g, "lc"));
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_cse_constants) {
  ir_graph *g = ir_graph_new("csec");
  int x = input(g, "x", TY(IR_F32, 1, 3));
  int c1 = cst(g, "c1", TY(IR_F32, 1, 3), TH_VALS(1, 2, 3));
  int c2 = cst(g, "c2", TY(IR_F32, 1, 3), TH_VALS(1, 2, 3));
  int c3 = cst(g, "c3", TY(IR_F32, 1, 3), TH_VALS(1, 2, 4));     /* other bytes */
  int c4 = cst(g, "c4", TY(IR_I32, 1, 3), TH_VALS(1, 2, 3));     /* other type */
  int c5 = cst(g, "c5", TY(IR_F32, 2, 1, 3), TH_VALS(1, 2, 3));  /* other shape */
  int c6 = cst(g, "c6", TY(IR_F32, 1, 3), TH_VALS(1, 2, 3));
  g->values[c6].is_param = 1; /* a parameter stays apart */
  int a1 = th_op(g, IR_OP_ADD, "a1", 2, x, c1);
  int a2 = th_op(g, IR_OP_ADD, "a2", 2, x, c2); /* same as a1 once c2 is c1 */
  int a3 = th_op(g, IR_OP_ADD, "a3", 2, x, c3);
  int a5 = th_op(g, IR_OP_ADD, "a5", 2, x, c5);
  int a6 = th_op(g, IR_OP_ADD, "a6", 2, x, c6);
  int k = th_op(g, IR_OP_CAST, "k", 1, c4);
  ir_set_int(g, prod(g, k), "to", IR_F32);
  int s = th_op(g, IR_OP_MUL, "s", 2, a1, a2);
  s = th_op(g, IR_OP_MUL, "s2", 2, s, a3);
  s = th_op(g, IR_OP_MUL, "s3", 2, s, a5);
  s = th_op(g, IR_OP_MUL, "s4", 2, s, a6);
  ir_add_output(g, th_op(g, IR_OP_MUL, "y", 2, s, k));
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "cse");
  ck_assert_int_lt(ir_value_find(g, "c2"), 0);
  ck_assert_int_lt(ir_value_find(g, "a2"), 0);
  ck_assert_int_eq(count_consts(g), 5);
  ck_assert_int_eq(th_count_op(g, IR_OP_ADD), 4);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* Tensor attributes compare by bytes. */
START_TEST(test_cse_tensor_attrs) {
  ir_graph *g = ir_graph_new("cset");
  int x = input(g, "x", TY(IR_F32, 1, 4));
  int outs[3];
  const double fill[3] = {2.0, 2.0, 3.0};
  for (int i = 0; i < 3; i++) {
    char name[8];
    snprintf(name, sizeof name, "k%d", i);
    int v = th_op(g, IR_OP_CONSTANT_OF_SHAPE, name, 0);
    ir_set_ints(g, prod(g, v), "shape", TH_DIMS(4), 1);
    ir_tensor t = th_tensor(IR_F32, 1, TH_DIMS(1), &fill[i]);
    ir_set_tensor(g, prod(g, v), "value", &t);
    ir_tensor_release(&t);
    outs[i] = v;
  }
  int s = th_op(g, IR_OP_ADD, "s", 2, x, outs[0]);
  s = th_op(g, IR_OP_ADD, "s1", 2, s, outs[1]);
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, s, outs[2]));
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "cse");
  ck_assert_int_eq(th_count_op(g, IR_OP_CONSTANT_OF_SHAPE), 2);
  ck_assert_int_lt(ir_value_find(g, "k1"), 0);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* Duplicates that are graph outputs keep the outputs' names. */
START_TEST(test_cse_outputs) {
  ir_graph *g = ir_graph_new("cseo");
  int x = input(g, "x", TY(IR_F32, 1, 4));
  int t = th_op(g, IR_OP_RELU, "t", 1, x);      /* not an output: takes 'o1' */
  int o1 = th_op(g, IR_OP_RELU, "o1", 1, x);
  int o2 = th_op(g, IR_OP_RELU, "o2", 1, x);    /* o1 is an output now: stays */
  int n = th_op(g, IR_OP_NEG, "n", 1, t);
  ir_add_output(g, o1);
  ir_add_output(g, o2);
  ir_add_output(g, n);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "cse");
  ck_assert_int_eq(th_count_op(g, IR_OP_RELU), 2);
  ck_assert_int_lt(ir_value_find(g, "t"), 0);
  const ir_node *nn = &g->nodes[out_node(g, 2)];
  ck_assert_int_eq(nn->in[0], g->outputs[0]);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
  (void)o2;
}
END_TEST

/* ---- simplify --------------------------------------------------------------------- */

START_TEST(test_simplify_identity) {
  ir_graph *g = ir_graph_new("id");
  int x = input(g, "x", TY(IR_F32, 2, 2, 3));
  int i1 = th_op(g, IR_OP_IDENTITY, "i1", 1, x);
  int dr = th_op(g, IR_OP_DROPOUT, "dr", 1, i1);
  int r = th_op(g, IR_OP_RELU, "r", 1, dr);
  int out = th_op(g, IR_OP_IDENTITY, "out", 1, r);  /* r takes the name 'out' */
  int keep = th_op(g, IR_OP_IDENTITY, "keep", 1, x); /* x is an input: stays */
  ir_add_output(g, out);
  ir_add_output(g, keep);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "simplify");
  ck_assert_int_eq(th_count_op(g, IR_OP_DROPOUT), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_IDENTITY), 1);
  ck_assert_int_eq(g->n_nodes, 2);
  const ir_node *rn = &g->nodes[out_node(g, 0)];
  ck_assert_int_eq(rn->op, IR_OP_RELU);
  ck_assert_int_eq(rn->in[0], g->inputs[0]);
  ck_assert_str_eq(g->values[g->outputs[0]].name, "out");
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_simplify_reshapes) {
  ir_graph *g = ir_graph_new("rs");
  int x = input(g, "x", TY(IR_F32, 3, 2, 3, 4));
  int r1 = th_op(g, IR_OP_RESHAPE, "r1", 1, x);
  ir_set_ints(g, prod(g, r1), "shape", TH_DIMS(6, 4), 2);
  /* 0 copies r1's dim 0 (6), not x's (2): the merged reshape must say 6 */
  int r2 = th_op(g, IR_OP_RESHAPE, "r2", 1, r1);
  ir_set_ints(g, prod(g, r2), "shape", TH_DIMS(0, 2, -1), 3);
  int f = th_op(g, IR_OP_FLATTEN, "f", 1, r2); /* [6, 4] */
  int r3 = th_op(g, IR_OP_RESHAPE, "r3", 1, f);
  ir_set_ints(g, prod(g, r3), "shape", TH_DIMS(4, 6), 2);
  int y = th_op(g, IR_OP_RELU, "y", 1, r3);
  /* no-op reshapes */
  int same = th_op(g, IR_OP_RESHAPE, "same", 1, y);
  ir_set_ints(g, prod(g, same), "shape", TH_DIMS(4, -1), 2);
  int sq = th_op(g, IR_OP_SQUEEZE, "sq", 1, same); /* nothing to squeeze */
  int fl = th_op(g, IR_OP_FLATTEN, "fl", 1, sq);   /* already 2-d */
  int us = th_op(g, IR_OP_UNSQUEEZE, "us", 1, fl);
  ir_set_ints(g, prod(g, us), "axes", TH_DIMS(0), 1); /* [1, 4, 6]: kept */
  ir_add_output(g, us);
  ir_add_output(g, r1); /* r1 stays for this use */
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "simplify");
  ck_assert_int_eq(th_count_op(g, IR_OP_RESHAPE), 2); /* r1 and the merged r3 */
  ck_assert_int_eq(th_count_op(g, IR_OP_FLATTEN), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_SQUEEZE), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_UNSQUEEZE), 1);
  int r3v = ir_value_find(g, "r3");
  const ir_node *n3 = &g->nodes[prod(g, r3v)];
  ck_assert_int_eq(n3->in[0], g->inputs[0]);
  const int64_t *shape;
  ck_assert_int_eq(ir_attr_ints(n3, "shape", &shape), 2);
  ck_assert(shape[0] == 4 && shape[1] == 6);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);

  /* the 0-copy case on its own */
  g = ir_graph_new("rs0");
  x = input(g, "x", TY(IR_F32, 3, 2, 3, 4));
  r1 = th_op(g, IR_OP_RESHAPE, "r1", 1, x);
  ir_set_ints(g, prod(g, r1), "shape", TH_DIMS(6, 4), 2);
  r2 = th_op(g, IR_OP_RESHAPE, "r2", 1, r1);
  ir_set_ints(g, prod(g, r2), "shape", TH_DIMS(0, 2, -1), 3);
  ir_add_output(g, r2);
  ref = typed_copy(g);
  th_run_passes(g, "simplify");
  ck_assert_int_eq(g->n_nodes, 1);
  const ir_node *n2 = &g->nodes[out_node(g, 0)];
  ck_assert_int_eq(n2->in[0], g->inputs[0]);
  ck_assert_int_eq(ir_attr_ints(n2, "shape", &shape), 3);
  ck_assert(shape[0] == 6 && shape[1] == 2 && shape[2] == 2);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_simplify_transposes) {
  ir_graph *g = ir_graph_new("tr");
  int x = input(g, "x", TY(IR_F32, 3, 2, 3, 4));
  /* p1 then its inverse: gone */
  int t1 = th_op(g, IR_OP_TRANSPOSE, "t1", 1, x);
  ir_set_ints(g, prod(g, t1), "perm", TH_DIMS(1, 2, 0), 3);
  int t2 = th_op(g, IR_OP_TRANSPOSE, "t2", 1, t1);
  ir_set_ints(g, prod(g, t2), "perm", TH_DIMS(2, 0, 1), 3);
  int a = th_op(g, IR_OP_RELU, "a", 1, t2);
  /* p1 then a swap: one transpose with perm p1[p2] = [2, 1, 0]... */
  int t3 = th_op(g, IR_OP_TRANSPOSE, "t3", 1, a);
  ir_set_ints(g, prod(g, t3), "perm", TH_DIMS(1, 2, 0), 3);
  int t4 = th_op(g, IR_OP_TRANSPOSE, "t4", 1, t3);
  ir_set_ints(g, prod(g, t4), "perm", TH_DIMS(1, 0, 2), 3);
  /* ...then [0, 2, 1]: [2, 0, 1] */
  int t5 = th_op(g, IR_OP_TRANSPOSE, "t5", 1, t4);
  ir_set_ints(g, prod(g, t5), "perm", TH_DIMS(0, 2, 1), 3);
  /* an identity perm alone */
  int t6 = th_op(g, IR_OP_TRANSPOSE, "t6", 1, t5);
  ir_set_ints(g, prod(g, t6), "perm", TH_DIMS(0, 1, 2), 3);
  ir_add_output(g, t6);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "simplify");
  ck_assert_int_eq(th_count_op(g, IR_OP_TRANSPOSE), 1);
  ck_assert_int_eq(g->n_nodes, 2);
  const ir_node *t = &g->nodes[out_node(g, 0)];
  ck_assert_int_eq(t->op, IR_OP_TRANSPOSE);
  ck_assert_str_eq(g->values[t->out[0]].name, "t6");
  ck_assert_int_eq(g->nodes[prod(g, t->in[0])].op, IR_OP_RELU);
  const int64_t *perm;
  ck_assert_int_eq(ir_attr_ints(t, "perm", &perm), 3);
  ck_assert(perm[0] == 2 && perm[1] == 0 && perm[2] == 1);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);

  /* two default (reversing) transposes cancel; the output keeps its name */
  g = ir_graph_new("tr2");
  x = input(g, "x", TY(IR_F32, 3, 2, 3, 4));
  a = th_op(g, IR_OP_RELU, "a", 1, x);
  t1 = th_op(g, IR_OP_TRANSPOSE, "t1", 1, a);
  ir_add_output(g, th_op(g, IR_OP_TRANSPOSE, "out", 1, t1));
  ref = typed_copy(g);
  th_run_passes(g, "simplify");
  ck_assert_int_eq(g->n_nodes, 1);
  ck_assert_int_eq(g->nodes[out_node(g, 0)].op, IR_OP_RELU);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_simplify_neutral) {
  ir_graph *g = ir_graph_new("neutral");
  int x = input(g, "x", TY(IR_F32, 2, 2, 3));
  int v = input(g, "v", TY(IR_F32, 1, 3));
  int z3 = cst_fill(g, "z3", TY(IR_F32, 1, 3), 0.0);
  int z23 = cst_fill(g, "z23", TY(IR_F32, 2, 2, 3), 0.0);
  int o3 = cst_fill(g, "o3", TY(IR_F32, 1, 3), 1.0);
  int mixed = cst(g, "mixed", TY(IR_F32, 1, 3), TH_VALS(1, 0, 1));
  int a = th_op(g, IR_OP_ADD, "a", 2, x, z3);     /* removed */
  int b = th_op(g, IR_OP_ADD, "b", 2, z3, a);     /* removed (commutes) */
  int c = th_op(g, IR_OP_SUB, "c", 2, b, z3);     /* removed */
  int d = th_op(g, IR_OP_SUB, "d", 2, z3, c);     /* 0 - c: kept */
  int e = th_op(g, IR_OP_MUL, "e", 2, o3, d);     /* removed */
  int f = th_op(g, IR_OP_DIV, "f", 2, e, o3);     /* removed */
  int h = th_op(g, IR_OP_DIV, "h", 2, o3, f);     /* 1 / f: kept */
  int k = th_op(g, IR_OP_MUL, "k", 2, h, mixed);  /* not all ones: kept */
  int w = th_op(g, IR_OP_ADD, "w", 2, v, z23);    /* broadcasts v up: kept */
  ir_add_output(g, k);
  ir_add_output(g, w);
  ir_graph *ref = typed_copy(g);
  th_run_passes(g, "simplify");
  ck_assert_int_eq(g->n_nodes, 4);
  ck_assert_int_eq(th_count_op(g, IR_OP_SUB), 1);
  ck_assert_int_eq(th_count_op(g, IR_OP_DIV), 1);
  ck_assert_int_eq(th_count_op(g, IR_OP_MUL), 1);
  ck_assert_int_eq(th_count_op(g, IR_OP_ADD), 1);
  const ir_node *dn = &g->nodes[prod(g, ir_value_find(g, "d"))];
  ck_assert_int_eq(dn->in[1], g->inputs[0]);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* The -O1 pipeline over a graph that exercises every pass. */
START_TEST(test_o1_pipeline) {
  ir_graph *g = ir_graph_new("o1");
  int x = input(g, "x", TY(IR_F32, 2, 4, 6));
  int w = cst_fill(g, "w", TY(IR_F32, 2, 6, 6), 0.25);
  g->values[w].is_param = 1;
  int wt = th_op(g, IR_OP_TRANSPOSE, "wt", 1, w);          /* folded */
  int s = th_op(g, IR_OP_SHAPE, "s", 1, x);
  int r = th_op(g, IR_OP_RESHAPE, "r", 2, x, s);           /* a no-op reshape */
  int i = th_op(g, IR_OP_IDENTITY, "i", 1, r);
  int m1 = th_op(g, IR_OP_MATMUL, "m1", 2, i, wt);
  int m2 = th_op(g, IR_OP_MATMUL, "m2", 2, i, wt);         /* cse */
  int a = th_op(g, IR_OP_ADD, "a", 2, m1, m2);
  ir_add_output(g, th_op(g, IR_OP_TANH, "y", 1, a));
  ir_graph *ref = typed_copy(g);
  pass_pipeline p;
  ck_assert_int_eq(pass_pipeline_for_level(1, &p), 0);
  pass_options o;
  pass_options_default(&o);
  o.verify_each = 1;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(pass_run(g, &p, &o, &d) == 0, "%s", d.msg);
  ck_assert_int_eq(g->n_nodes, 3); /* matmul, add, tanh */
  ck_assert_int_eq(th_count_op(g, IR_OP_MATMUL), 1);
  ck_assert_int_eq(count_consts(g), 1);
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].kind == IR_VAL_CONST) ck_assert_int_eq(g->values[v].is_param, 1);
  check_same(ref, g);
  ir_graph_free(ref);
  ir_graph_free(g);
}
END_TEST

/* Random graphs through -O1: chains of elementwise, reshape and transpose
 * nodes over inputs and constants, with identities, neutral constants,
 * duplicates and constant-only branches mixed in so that every pass has
 * something to do. The outputs must not change. */
#define RG_VALUES 64 /* values one random graph holds at most */

typedef struct {
  ir_graph *g;
  int n;
  int v[RG_VALUES]; /* candidate operands */
  int node_count;
} rand_graph;

static uint64_t rg_state;
static int rg_next(int n) {
  rg_state = rg_state * 6364136223846793005ull + 1442695040888963407ull;
  return (int)((rg_state >> 33) % (uint64_t)n);
}

/* A candidate with exactly type t, or -1. */
static int rg_pick(rand_graph *r, const ir_type *t) {
  int idx[RG_VALUES], k = 0;
  for (int i = 0; i < r->n; i++)
    if (ir_type_equal(&r->g->values[r->v[i]].type, t)) idx[k++] = r->v[i];
  return k ? idx[rg_next(k)] : -1;
}

/* Types v (the generator picks operands by type). */
static void rg_infer(rand_graph *r, int v) {
  kiln_diag d;
  kiln_diag_init(&d);
  int p = r->g->values[v].producer;
  if (p >= 0) ck_assert_msg(ir_infer_node(r->g, p, &d) == 0, "%s", d.msg);
}

/* Types v and makes it a candidate operand. */
static void rg_add(rand_graph *r, int v) {
  rg_infer(r, v);
  if (r->n < RG_VALUES) r->v[r->n++] = v;
}

static ir_graph *random_graph(uint64_t seed) {
  rg_state = seed * 0x9e3779b97f4a7c15ull + 1;
  rand_graph r = {.g = ir_graph_new("random")};
  ir_graph *g = r.g;
  const ir_type shapes[] = {TY(IR_F32, 3, 2, 3, 4), TY(IR_F32, 2, 6, 4), TY(IR_F32, 1, 24),
                            TY(IR_F32, 3, 4, 3, 2), TY(IR_F32, 2, 4, 6)};
  const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
  rg_add(&r, input(g, "x", shapes[0]));
  rg_add(&r, input(g, "x2", shapes[rg_next(n_shapes)]));
  char name[32];
  for (int step = 0; step < 24; step++) {
    snprintf(name, sizeof name, "v%d", step);
    int a = r.v[rg_next(r.n)];
    const ir_type *at = &g->values[a].type;
    int kind = rg_next(10);
    int v = -1;
    if (kind == 0) { /* unary, sometimes a no-op */
      static const ir_op un[] = {IR_OP_RELU, IR_OP_NEG, IR_OP_TANH, IR_OP_IDENTITY, IR_OP_DROPOUT};
      v = th_op(g, un[rg_next(5)], name, 1, a);
    } else if (kind == 1) { /* binary with a same-typed operand */
      static const ir_op bin[] = {IR_OP_ADD, IR_OP_MUL, IR_OP_SUB};
      int b = rg_pick(&r, at);
      v = th_op(g, bin[rg_next(3)], name, 2, a, b);
    } else if (kind == 2) { /* neutral element (sometimes broadcast up) */
      static const ir_op bin[] = {IR_OP_ADD, IR_OP_MUL, IR_OP_SUB, IR_OP_DIV};
      int o = rg_next(4);
      ir_type ct = rg_next(2) ? *at : TY(IR_F32, 1, at->dims[at->rank - 1]);
      int c = cst_fill(g, NULL, ct, o == 1 || o == 3 ? 1.0 : 0.0);
      v = rg_next(2) ? th_op(g, bin[o], name, 2, a, c) : th_op(g, bin[o], name, 2, c, a);
    } else if (kind == 3) { /* reshape to another shape of 24 elements */
      v = th_op(g, IR_OP_RESHAPE, name, 1, a);
      const ir_type *st = &shapes[rg_next(n_shapes)];
      ir_set_ints(g, prod(g, v), "shape", st->dims, st->rank);
    } else if (kind == 4) { /* transpose, random perm or the default */
      v = th_op(g, IR_OP_TRANSPOSE, name, 1, a);
      if (rg_next(3)) {
        int64_t perm[IR_MAX_RANK];
        for (int k = 0; k < at->rank; k++) perm[k] = k;
        for (int k = at->rank - 1; k > 0; k--) {
          int j = rg_next(k + 1);
          int64_t t = perm[k];
          perm[k] = perm[j];
          perm[j] = t;
        }
        ir_set_ints(g, prod(g, v), "perm", perm, at->rank);
      }
    } else if (kind == 5) { /* a duplicate of an earlier node */
      int src = r.v[rg_next(r.n)];
      int p = g->values[src].producer;
      if (p < 0) continue;
      const ir_node *pn = &g->nodes[p];
      int nn = ir_node_new(g, pn->op, name, pn->in, pn->n_in, 1, (const char *const[]){name});
      for (int k = 0; k < g->nodes[p].n_attrs; k++) ir_set_attr(g, nn, &g->nodes[p].attrs[k]);
      v = g->nodes[nn].out[0];
    } else if (kind == 6) { /* a constant-only branch, folded away */
      int c = cst(g, NULL, TY(IR_F32, 1, 1), TH_VALS(0.75));
      int e = th_op(g, IR_OP_TANH, NULL, 1, c);
      rg_infer(&r, e); /* not candidates: every candidate has 24 elements */
      int s = th_op(g, IR_OP_SUB, NULL, 2, e, c);
      rg_infer(&r, s);
      v = th_op(g, IR_OP_MUL, name, 2, a, s);
    } else if (kind == 7) { /* flatten / squeeze / unsqueeze */
      if (at->rank == 1) {
        v = th_op(g, IR_OP_UNSQUEEZE, name, 1, a);
        ir_set_ints(g, prod(g, v), "axes", TH_DIMS(0), 1);
      } else if (at->dims[0] == 1) {
        v = th_op(g, IR_OP_SQUEEZE, name, 1, a);
      } else {
        v = th_op(g, IR_OP_FLATTEN, name, 1, a);
      }
    } else { /* broadcast with a small operand */
      int b = cst(g, NULL, TY(IR_F32, 1, 1), TH_VALS(0.5 + rg_next(4)));
      v = th_op(g, rg_next(2) ? IR_OP_ADD : IR_OP_MUL, name, 2, a, b);
    }
    rg_add(&r, v);
  }
  /* outputs: the last value and a few others, perhaps repeated names */
  ir_add_output(g, r.v[r.n - 1]);
  for (int k = 0; k < 3; k++) {
    int v = r.v[rg_next(r.n)];
    if (!pass_is_graph_output(g, v)) ir_add_output(g, v);
  }
  return g;
}

START_TEST(test_random_graphs) {
  for (uint64_t seed = 0; seed < 200; seed++) {
    ir_graph *g = random_graph(seed);
    ir_graph *ref = typed_copy(g);
    pass_pipeline p;
    ck_assert_int_eq(pass_pipeline_for_level(1, &p), 0);
    pass_options o;
    pass_options_default(&o);
    o.verify_each = 1;
    kiln_diag d;
    kiln_diag_init(&d);
    ck_assert_msg(pass_run(g, &p, &o, &d) == 0, "seed %d: %s", (int)seed, d.msg);
    ck_assert_int_le(g->n_nodes, ref->n_nodes);
    check_same(ref, g);
    /* a second run changes nothing any more */
    int before = g->n_nodes;
    ck_assert_msg(pass_run(g, &p, &o, &d) == 0, "seed %d: %s", (int)seed, d.msg);
    ck_assert_int_eq(g->n_nodes, before);
    ir_graph_free(ref);
    ir_graph_free(g);
  }
}
END_TEST

static Suite *passes_suite(void) {
  Suite *s = suite_create("passes");
  TCase *m = tcase_create("manager");
  tcase_add_test(m, test_pipelines);
  tcase_add_test(m, test_time_passes);
  tcase_add_test(m, test_verify_each_and_errors);
  tcase_add_test(m, test_dumps);
  suite_add_tcase(s, m);
  TCase *p = tcase_create("passes");
  tcase_add_test(p, test_infer_declared_types);
  tcase_add_test(p, test_fold_arith);
  tcase_add_test(p, test_fold_output);
  tcase_add_test(p, test_fold_shape_chain);
  tcase_add_test(p, test_fold_growth_limit);
  tcase_add_test(p, test_fold_needs_types);
  tcase_add_test(p, test_dce);
  tcase_add_test(p, test_cse_nodes);
  tcase_add_test(p, test_cse_constants);
  tcase_add_test(p, test_cse_tensor_attrs);
  tcase_add_test(p, test_cse_outputs);
  tcase_add_test(p, test_simplify_identity);
  tcase_add_test(p, test_simplify_reshapes);
  tcase_add_test(p, test_simplify_transposes);
  tcase_add_test(p, test_simplify_neutral);
  tcase_add_test(p, test_o1_pipeline);
  tcase_add_test(p, test_random_graphs);
  suite_add_tcase(s, p);
  return s;
}

TH_MAIN(passes_suite)

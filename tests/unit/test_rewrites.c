/* Unit tests for the eval-mode rewrites: fold-batchnorm, fold-scale, and the
 * -O1 pipeline's handling of dropout and constant weight transposes. Every
 * test builds a graph with the C API, runs the pass, checks the structure,
 * and compares the interpreter's outputs before and after on random inputs
 * (folding rescales weights, so within rounding, not bit for bit). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "passes/pass.h"

/* ---- building graphs ------------------------------------------------------------ */

#define TY(rank, ...) th_type(IR_F32, rank, (const int64_t[]){0, __VA_ARGS__} + 1)

static uint64_t rng_state;
static double rnd(void) { /* [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static int input(ir_graph *g, const char *name, ir_type t) { return ir_add_input(g, name, &t); }

/* A constant with values lo + (hi - lo) * U[0, 1). */
static int rconst(ir_graph *g, const char *name, ir_type t, double lo, double hi, int param) {
  int64_t n = ir_type_numel(&t);
  float *vals = malloc(sizeof(float) * (size_t)(n + 1));
  for (int64_t i = 0; i < n; i++) vals[i] = (float)(lo + (hi - lo) * (rnd() + 1.0) / 2.0);
  int v = ir_add_const(g, name, &t, vals);
  g->values[v].is_param = param;
  free(vals);
  return v;
}

static int fconst(ir_graph *g, const char *name, ir_type t, const float *vals) {
  return ir_add_const(g, name, &t, vals);
}

static int conv(ir_graph *g, const char *out, int x, int w, int b, int group) {
  int v = b >= 0 ? th_op(g, IR_OP_CONV, out, 3, x, w, b) : th_op(g, IR_OP_CONV, out, 2, x, w);
  int n = g->values[v].producer;
  ir_set_ints(g, n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
  if (group != 1) ir_set_int(g, n, "group", group);
  return v;
}

/* batch_norm with random statistics for C channels (scale and bias params). */
static int bn(ir_graph *g, const char *out, int x, int64_t c) {
  int s = rconst(g, NULL, TY(1, c), 0.5, 1.5, 1);
  int b = rconst(g, NULL, TY(1, c), -0.5, 0.5, 1);
  int m = rconst(g, NULL, TY(1, c), -0.3, 0.3, 0);
  int var = rconst(g, NULL, TY(1, c), 0.2, 2.0, 0);
  return th_op(g, IR_OP_BATCH_NORM, out, 5, x, s, b, m, var);
}

static const ir_node *find_op(const ir_graph *g, ir_op o) {
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == o) return &g->nodes[i];
  return NULL;
}

/* ---- running and comparing ---------------------------------------------------------- */

/* Runs `list` on g (after infer-shapes) and checks that the outputs (and
 * their names) stay the same within rtol/atol on random inputs; the callers
 * check the structure. */
static void check_rewrite_impl(ir_graph *g, const char *list, double rtol, double atol, int line) {
  th_run_passes(g, "infer-shapes");
  ir_graph *ref = ir_graph_clone(g);
  th_run_passes(g, list);
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor feeds[8];
  ck_assert(g->n_inputs <= 8);
  for (int trial = 0; trial < 3; trial++) {
    for (int i = 0; i < g->n_inputs; i++) {
      const ir_type *t = &ref->values[ref->inputs[i]].type;
      ck_assert(ir_tensor_alloc(&feeds[i], t, &d) == 0);
      for (int64_t e = 0; e < ir_type_numel(t); e++) ir_tensor_set_f(&feeds[i], e, 2.0 * rnd());
    }
    th_assert_same_run_impl(ref, g, feeds, rtol, atol, __FILE__, line);
    for (int i = 0; i < g->n_inputs; i++) ir_tensor_release(&feeds[i]);
  }
  ir_graph_free(ref);
}
#define check_rewrite(g, list) check_rewrite_impl(g, list, 1e-5, 1e-5, __LINE__)

/* A constant the node reads as input k, with the param flag it must have. */
static void check_param_input(const ir_graph *g, const ir_node *n, int k, int param) {
  ck_assert_int_gt(n->n_in, k);
  const ir_value *v = &g->values[n->in[k]];
  ck_assert_int_eq(v->kind, IR_VAL_CONST);
  ck_assert_int_eq(v->is_param, param);
}

/* ---- fold-batchnorm ----------------------------------------------------------------- */

START_TEST(test_bn_conv_bias) {
  rng_state = 1;
  ir_graph *g = ir_graph_new("bn");
  int x = input(g, "x", TY(4, 2, 3, 6, 6));
  int w = rconst(g, "w", TY(4, 4, 3, 3, 3), -0.5, 0.5, 1);
  int b = rconst(g, "b", TY(1, 4), -0.5, 0.5, 1);
  int c = conv(g, "c", x, w, b, 1);
  int y = bn(g, "y", c, 4);
  ir_add_output(g, th_op(g, IR_OP_RELU, "r", 1, y));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
  const ir_node *n = find_op(g, IR_OP_CONV);
  ck_assert_int_eq(n->n_in, 3);
  check_param_input(g, n, 1, 1);
  check_param_input(g, n, 2, 1);
  ck_assert_str_eq(g->values[n->in[1]].name, "w_fold");
  ck_assert_str_eq(g->values[n->in[2]].name, "b_fold");
  /* the old weight went with compaction */
  ck_assert_int_eq(ir_value_find(g, "w"), -1);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_bn_conv_no_bias_output_name) {
  rng_state = 2;
  ir_graph *g = ir_graph_new("bn");
  int x = input(g, "x", TY(4, 1, 4, 5, 5));
  int w = rconst(g, "w", TY(4, 6, 2, 3, 3), -0.5, 0.5, 0); /* group 2, a non-param weight */
  int c = conv(g, "c", x, w, -1, 2);
  ir_add_output(g, bn(g, "y", c, 6));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
  const ir_node *n = find_op(g, IR_OP_CONV);
  /* a bias appears; the conv's result takes the output's name */
  ck_assert_int_eq(n->n_in, 3);
  ck_assert_str_eq(g->values[n->out[0]].name, "y");
  check_param_input(g, n, 1, 1); /* the statistics' scale was a parameter */
  check_param_input(g, n, 2, 1);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_bn_conv_transpose) {
  rng_state = 3;
  for (int group = 1; group <= 2; group++) {
    ir_graph *g = ir_graph_new("bn");
    int x = input(g, "x", TY(4, 2, 4, 3, 3));
    /* W: [C_in, C_out / group, k, k] */
    int w = rconst(g, "w", TY(4, 4, 3, 2, 2), -0.5, 0.5, 1);
    int b = rconst(g, "b", TY(1, 3 * group), -0.5, 0.5, 1);
    int c = th_op(g, IR_OP_CONV_TRANSPOSE, "c", 3, x, w, b);
    ir_set_int(g, g->values[c].producer, "group", group);
    ir_add_output(g, th_op(g, IR_OP_TANH, "t", 1, bn(g, "y", c, 3 * group)));
    check_rewrite(g, "fold-batchnorm");
    ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
    ir_graph_free(g);
  }
}
END_TEST

START_TEST(test_bn_matmul) {
  rng_state = 4;
  ir_graph *g = ir_graph_new("bn");
  int x = input(g, "x", TY(2, 5, 7));
  int w = rconst(g, "w", TY(2, 7, 3), -0.5, 0.5, 1);
  int m = th_op(g, IR_OP_MATMUL, "m", 2, x, w);
  ir_add_output(g, bn(g, "y", m, 3));
  check_rewrite(g, "fold-batchnorm");
  /* the batch_norm became the bias add */
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
  const ir_node *a = find_op(g, IR_OP_ADD);
  ck_assert_ptr_nonnull(a);
  ck_assert_str_eq(g->values[a->out[0]].name, "y");
  ck_assert_str_eq(g->values[a->in[1]].name, "y_bias");
  check_param_input(g, a, 1, 1);
  check_param_input(g, find_op(g, IR_OP_MATMUL), 1, 1);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_bn_linear) {
  rng_state = 5;
  ir_graph *g = ir_graph_new("bn");
  int x = input(g, "x", TY(2, 4, 6));
  int w = rconst(g, "w", TY(2, 6, 5), -0.5, 0.5, 1);
  int b = rconst(g, "b", TY(1, 5), -0.5, 0.5, 1);
  int m = th_op(g, IR_OP_MATMUL, "m", 2, x, w);
  int l = th_op(g, IR_OP_ADD, "l", 2, b, m); /* bias first */
  ir_add_output(g, th_op(g, IR_OP_RELU, "r", 1, bn(g, "y", l, 5)));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_ADD), 1);
  const ir_node *a = find_op(g, IR_OP_ADD);
  check_param_input(g, a, 0, 1);
  ck_assert_str_eq(g->values[a->in[0]].name, "b_fold");
  ir_graph_free(g);
}
END_TEST

START_TEST(test_bn_not_folded) {
  rng_state = 6;
  /* the conv's result has another user */
  ir_graph *g = ir_graph_new("bn");
  int x = input(g, "x", TY(4, 1, 2, 4, 4));
  int w = rconst(g, "w", TY(4, 2, 2, 3, 3), -0.5, 0.5, 1);
  int c = conv(g, "c", x, w, -1, 1);
  ir_add_output(g, bn(g, "y", c, 2));
  ir_add_output(g, th_op(g, IR_OP_RELU, "r", 1, c));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 1);
  ir_graph_free(g);

  /* the conv's result is a graph output */
  g = ir_graph_new("bn");
  x = input(g, "x", TY(4, 1, 2, 4, 4));
  w = rconst(g, "w", TY(4, 2, 2, 3, 3), -0.5, 0.5, 1);
  c = conv(g, "c", x, w, -1, 1);
  ir_add_output(g, c);
  ir_add_output(g, bn(g, "y", c, 2));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 1);
  ir_graph_free(g);

  /* a weight that is not constant, statistics that are not constant */
  g = ir_graph_new("bn");
  x = input(g, "x", TY(4, 1, 2, 4, 4));
  int wi = input(g, "w", TY(4, 2, 2, 3, 3));
  c = conv(g, "c", x, wi, -1, 1);
  ir_add_output(g, bn(g, "y", c, 2));
  int w2 = rconst(g, "w2", TY(4, 2, 2, 3, 3), -0.5, 0.5, 1);
  int c2 = conv(g, "c2", x, w2, -1, 1);
  int mean = input(g, "mean", TY(1, 2));
  int one = rconst(g, NULL, TY(1, 2), 1, 1, 1);
  ir_add_output(g, th_op(g, IR_OP_BATCH_NORM, "y2", 5, c2, one, one, mean, one));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 2);
  ir_graph_free(g);

  /* a rank-3 matmul: batch_norm's channel axis is not the matmul's */
  g = ir_graph_new("bn");
  x = input(g, "x", TY(3, 2, 3, 4));
  w = rconst(g, "w", TY(2, 4, 3), -0.5, 0.5, 1);
  int m = th_op(g, IR_OP_MATMUL, "m", 2, x, w);
  ir_add_output(g, bn(g, "y", m, 3));
  check_rewrite(g, "fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 1);
  ir_graph_free(g);

  /* zero variance and epsilon 0: inf scale, left alone */
  g = ir_graph_new("bn");
  x = input(g, "x", TY(4, 1, 2, 4, 4));
  w = rconst(g, "w", TY(4, 2, 2, 3, 3), -0.5, 0.5, 1);
  c = conv(g, "c", x, w, -1, 1);
  int zero = rconst(g, NULL, TY(1, 2), 0, 0, 0);
  int ones = rconst(g, NULL, TY(1, 2), 1, 1, 1);
  int y = th_op(g, IR_OP_BATCH_NORM, "y", 5, c, ones, zero, zero, zero);
  ir_set_float(g, g->values[y].producer, "epsilon", 0.0);
  ir_add_output(g, y);
  th_run_passes(g, "infer-shapes,fold-batchnorm");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 1);
  ir_graph_free(g);
}
END_TEST

/* ---- fold-scale ------------------------------------------------------------------- */

START_TEST(test_scale_conv_chain) {
  rng_state = 7;
  ir_graph *g = ir_graph_new("scale");
  int x = input(g, "x", TY(4, 2, 3, 5, 5));
  int w = rconst(g, "w", TY(4, 4, 3, 3, 3), -0.5, 0.5, 1);
  int c = conv(g, "c", x, w, -1, 1);
  int s = rconst(g, "s", TY(4, 1, 4, 1, 1), 0.5, 2.0, 0);
  int m = th_op(g, IR_OP_MUL, "m", 2, s, c);                       /* W * s */
  int a = th_op(g, IR_OP_ADD, "a", 2, m, rconst(g, "sh", TY(3, 4, 1, 1), -1, 1, 1)); /* bias */
  int q = th_op(g, IR_OP_DIV, "q", 2, a, rconst(g, "dv", TY(1, 1), 1.5, 2.5, 0)); /* scalar */
  int z = th_op(g, IR_OP_SUB, "z", 2, q, rconst(g, "su", TY(4, 1, 4, 1, 1), -1, 1, 0));
  ir_add_output(g, th_op(g, IR_OP_RELU, "r", 1, z));
  check_rewrite(g, "fold-scale");
  ck_assert_int_eq(g->n_nodes, 2); /* conv, relu */
  const ir_node *n = find_op(g, IR_OP_CONV);
  ck_assert_int_eq(n->n_in, 3);
  check_param_input(g, n, 1, 1);
  check_param_input(g, n, 2, 1); /* `sh` was a parameter */
  ir_graph_free(g);
}
END_TEST

START_TEST(test_scale_matmul) {
  rng_state = 8;
  ir_graph *g = ir_graph_new("scale");
  int x = input(g, "x", TY(3, 2, 3, 6));
  int w = rconst(g, "w", TY(2, 6, 4), -0.5, 0.5, 1);
  int m = th_op(g, IR_OP_MATMUL, "m", 2, x, w);
  int s = th_op(g, IR_OP_MUL, "s", 2, m, rconst(g, "k", TY(1, 4), 0.5, 2, 0)); /* W * k */
  int b = th_op(g, IR_OP_ADD, "b", 2, s, rconst(g, "bias", TY(2, 1, 4), -1, 1, 1)); /* stays */
  int b2 = th_op(g, IR_OP_ADD, "b2", 2, b, rconst(g, "bias2", TY(1, 4), -1, 1, 1)); /* merges */
  int s2 = th_op(g, IR_OP_MUL, "s2", 2, b2, rconst(g, "k2", TY(1, 1), 0.5, 2, 0)); /* both */
  ir_add_output(g, s2);
  check_rewrite(g, "fold-scale");
  ck_assert_int_eq(g->n_nodes, 2); /* matmul and its bias add */
  const ir_node *a = find_op(g, IR_OP_ADD);
  ck_assert_str_eq(g->values[a->out[0]].name, "s2");
  check_param_input(g, a, 1, 1);
  check_param_input(g, find_op(g, IR_OP_MATMUL), 1, 1);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_scale_not_folded) {
  rng_state = 9;
  ir_graph *g = ir_graph_new("scale");
  int x = input(g, "x", TY(4, 1, 2, 4, 4));
  int c1 = conv(g, "c1", x, rconst(g, "w1", TY(4, 2, 2, 3, 3), -1, 1, 1), -1, 1);
  /* per-position, not per-channel */
  ir_add_output(g, th_op(g, IR_OP_MUL, "y1", 2, c1, rconst(g, NULL, TY(4, 1, 1, 4, 4), -1, 1, 0)));
  int c2 = conv(g, "c2", x, rconst(g, "w2", TY(4, 2, 2, 3, 3), -1, 1, 1), -1, 1);
  /* broadcasts the result up (batch 3) */
  ir_add_output(g, th_op(g, IR_OP_ADD, "y2", 2, c2, rconst(g, NULL, TY(4, 3, 2, 1, 1), -1, 1, 0)));
  int c3 = conv(g, "c3", x, rconst(g, "w3", TY(4, 2, 2, 3, 3), -1, 1, 1), -1, 1);
  /* a zero divisor */
  float z[2] = {1.0f, 0.0f};
  ir_add_output(g, th_op(g, IR_OP_DIV, "y3", 2, c3, fconst(g, NULL, TY(4, 1, 2, 1, 1), z)));
  int c4 = conv(g, "c4", x, rconst(g, "w4", TY(4, 2, 2, 3, 3), -1, 1, 1), -1, 1);
  /* c - y is not y's affine map in the supported form */
  ir_add_output(g, th_op(g, IR_OP_SUB, "y4", 2, rconst(g, NULL, TY(3, 2, 1, 1), -1, 1, 0), c4));
  int c5 = conv(g, "c5", x, rconst(g, "w5", TY(4, 2, 2, 3, 3), -1, 1, 1), -1, 1);
  /* the conv's result has two users */
  int k = rconst(g, NULL, TY(3, 2, 1, 1), -1, 1, 0);
  ir_add_output(g, th_op(g, IR_OP_MUL, "y5", 2, c5, k));
  ir_add_output(g, th_op(g, IR_OP_MUL, "y6", 2, c5, c5));
  /* a plain matmul's add is its bias add */
  int xm = input(g, "xm", TY(2, 3, 2));
  int m = th_op(g, IR_OP_MATMUL, "m", 2, xm, rconst(g, "wm", TY(2, 2, 2), -1, 1, 1));
  ir_add_output(g, th_op(g, IR_OP_ADD, "y7", 2, m, rconst(g, NULL, TY(1, 2), -1, 1, 0)));
  int nodes = g->n_nodes;
  check_rewrite(g, "fold-scale");
  ck_assert_int_eq(g->n_nodes, nodes);
  ir_graph_free(g);
}
END_TEST

/* ---- the -O1 pipeline: dropout, weight transposes, everything together ------------- */

START_TEST(test_o1_eval_rewrites) {
  rng_state = 10;
  ir_graph *g = ir_graph_new("eval");
  int x = input(g, "x", TY(4, 2, 3, 6, 6));
  int c = conv(g, "c", x, rconst(g, "w", TY(4, 8, 3, 3, 3), -0.5, 0.5, 1), -1, 1);
  int dr = th_op(g, IR_OP_DROPOUT, "dr", 1, c);
  int y = bn(g, "bn", dr, 8);
  int r = th_op(g, IR_OP_RELU, "r", 1, y);
  int p = th_op(g, IR_OP_GLOBAL_AVG_POOL, "p", 1, r);
  int f = th_op(g, IR_OP_FLATTEN, "f", 1, p);
  int wt = rconst(g, "wt", TY(2, 5, 8), -0.5, 0.5, 1); /* stored [out, in] */
  int t = th_op(g, IR_OP_TRANSPOSE, "t", 1, wt);
  int m = th_op(g, IR_OP_MATMUL, "m", 2, f, t);
  int m2 = th_op(g, IR_OP_MUL, "m2", 2, m, rconst(g, NULL, TY(1, 5), 0.5, 1.5, 0));
  ir_add_output(g, th_op(g, IR_OP_DROPOUT, "out", 1, m2));
  check_rewrite(g, "infer-shapes,simplify,fold-constants,fold-batchnorm,fold-scale,dce,cse,dce");
  ck_assert_int_eq(th_count_op(g, IR_OP_DROPOUT), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_TRANSPOSE), 0);
  ck_assert_int_eq(th_count_op(g, IR_OP_MUL), 0);
  const ir_node *mm = find_op(g, IR_OP_MATMUL);
  check_param_input(g, mm, 1, 1); /* the pre-transposed, rescaled weight */
  ck_assert_int_eq(g->values[mm->in[1]].type.dims[0], 8);
  ck_assert_int_eq(g->values[mm->in[1]].type.dims[1], 5);
  ck_assert_str_eq(g->values[mm->out[0]].name, "out");
  ir_graph_free(g);
}
END_TEST

/* The -O2 pipeline on the same kind of network: numerics hold and the
 * memory plan is present. */
START_TEST(test_o2_numerics) {
  rng_state = 11;
  ir_graph *g = ir_graph_new("o2");
  int x = input(g, "x", TY(4, 1, 3, 8, 8));
  int h = x;
  int64_t ch = 3;
  for (int layer = 0; layer < 3; layer++) {
    int64_t out = 4 + 2 * layer;
    int w = rconst(g, NULL, TY(4, out, ch, 3, 3), -0.4, 0.4, 1);
    int c = conv(g, NULL, h, w, rconst(g, NULL, TY(1, out), -0.1, 0.1, 1), 1);
    int b = bn(g, NULL, c, out);
    int r = th_op(g, IR_OP_RELU, NULL, 1, b);
    h = layer == 1 ? th_op(g, IR_OP_ADD, NULL, 2, r, th_op(g, IR_OP_SIGMOID, NULL, 1, r)) : r;
    ch = out;
  }
  ir_add_output(g, th_op(g, IR_OP_GLOBAL_AVG_POOL, "y", 1, h));
  check_rewrite(g, "infer-shapes,simplify,fold-constants,fold-batchnorm,fold-scale,dce,cse,dce,"
                   "schedule,plan-memory");
  ck_assert_int_eq(th_count_op(g, IR_OP_BATCH_NORM), 0);
  ck_assert_int_ge(g->arena_bytes, 0);
  ir_graph_free(g);
}
END_TEST

static Suite *rewrites_suite(void) {
  Suite *s = suite_create("rewrites");
  TCase *tc = tcase_create("fold-batchnorm");
  tcase_add_test(tc, test_bn_conv_bias);
  tcase_add_test(tc, test_bn_conv_no_bias_output_name);
  tcase_add_test(tc, test_bn_conv_transpose);
  tcase_add_test(tc, test_bn_matmul);
  tcase_add_test(tc, test_bn_linear);
  tcase_add_test(tc, test_bn_not_folded);
  suite_add_tcase(s, tc);
  tc = tcase_create("fold-scale");
  tcase_add_test(tc, test_scale_conv_chain);
  tcase_add_test(tc, test_scale_matmul);
  tcase_add_test(tc, test_scale_not_folded);
  suite_add_tcase(s, tc);
  tc = tcase_create("pipelines");
  tcase_add_test(tc, test_o1_eval_rewrites);
  tcase_add_test(tc, test_o2_numerics);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(rewrites_suite)

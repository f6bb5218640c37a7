/* The fuse pass and fused kernels against the reference interpreter.
 *
 * - Random DAGs (seeded, reproducible) of elementwise and broadcast ops,
 *   matmuls, reductions, softmax and norms (some written decomposed, as
 *   ONNX exports do), reshapes and transposes, with values read by several
 *   nodes and intermediate graph outputs. Each runs through -O0, -O1 and
 *   -O2 (with --verify-each, so every pass's result verifies and the memory
 *   plan is checked), then the interpreter and compiled native code; every
 *   output is compared with the interpreter on the -O0 graph. The -O2 graph
 *   must also print, parse and print back identically.
 * - One case per fusion rule, compiled and compared the same way, with
 *   structural checks (how many kernels of which kind).
 * - The inspect figures on examples/mlp.kir.
 *
 * Tolerances: interpreted pipelines rtol 1e-5 (the rewrites of decomposed
 * norms round differently); compiled code rtol 1e-3, atol 1e-4 (kernels
 * compute in f32 where the interpreter uses double, and a random DAG can
 * chain many of them).
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cg.h"
#include "frontend/kir.h"
#include "harness.h"
#include "kiln.h"
#include "passes/pass.h"

/* ---- text building ------------------------------------------------------------------------ */

typedef struct {
  char *s;
  size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int w = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (b->s && b->n + (size_t)w < b->cap) {
      b->n += (size_t)w;
      return;
    }
    b->cap = (b->cap + (size_t)w + 1) * 2;
    b->s = realloc(b->s, b->cap);
    ck_assert(b->s != NULL);
    if (b->n == 0) b->s[0] = 0;
  }
}

/* ---- running and comparing ---------------------------------------------------------------- */

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static int rnd(uint64_t *s, int n) { return (int)(rng(s) % (uint64_t)n); }

static ir_graph *parse(const char *text) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("fuse-test", text, strlen(text), NULL, &d);
  ck_assert_msg(g != NULL, "%s\n%s", d.msg, text);
  return g;
}

static void run_pipeline(ir_graph *g, const char *passes, int level, const char *text) {
  pass_pipeline p;
  kiln_diag d;
  kiln_diag_init(&d);
  if (passes)
    ck_assert_int_eq(pass_pipeline_parse(passes, &p, &d), 0);
  else
    ck_assert_int_eq(pass_pipeline_for_level(level, &p), 0);
  pass_options o;
  pass_options_default(&o);
  o.opt_level = level;
  o.verify_each = 1;
  int rc = pass_run(g, &p, &o, &d);
  ck_assert_msg(rc == 0, "pipeline -O%d: %s\n%s", level, d.msg, text);
}

/* Deterministic inputs in [-1, 1) (floats) for the graph's inputs. */
static ir_tensor *make_inputs(const ir_graph *g, uint64_t seed) {
  ir_tensor *in = calloc((size_t)g->n_inputs + 1, sizeof(ir_tensor));
  kiln_diag d;
  kiln_diag_init(&d);
  uint64_t s = seed * 7919 + 1;
  for (int i = 0; i < g->n_inputs; i++) {
    ck_assert_int_eq(ir_tensor_alloc(&in[i], &g->values[g->inputs[i]].type, &d), 0);
    int64_t n = ir_type_numel(&in[i].type);
    for (int64_t k = 0; k < n; k++)
      ir_tensor_set_f(&in[i], k, (double)(rng(&s) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  }
  return in;
}

static void free_tensors(ir_tensor *t, int n) {
  for (int i = 0; i < n; i++) ir_tensor_release(&t[i]);
  free(t);
}

static ir_tensor *interpret(const ir_graph *g, const ir_tensor *in, const char *what,
                            const char *text) {
  ir_tensor *out = calloc((size_t)g->n_outputs + 1, sizeof(ir_tensor));
  kiln_diag d;
  kiln_diag_init(&d);
  int rc = ir_interp_run(g, in, out, &d);
  ck_assert_msg(rc == 0, "%s: %s\n%s", what, d.msg, text);
  return out;
}

static ir_tensor *compiled(const ir_graph *g, const ir_tensor *in, const char *what,
                           const char *text) {
  ir_tensor *out = calloc((size_t)g->n_outputs + 1, sizeof(ir_tensor));
  kiln_diag d;
  kiln_diag_init(&d);
  cg_options o;
  cg_options_init(&o);
  o.opt_level = 2;
  int rc = cg_run(g, &o, in, out, &d);
  ck_assert_msg(rc == 0, "%s: %s\n%s", what, d.msg, text);
  return out;
}

static void compare(const ir_tensor *got, const ir_tensor *want, int n, double rtol, double atol,
                    const char *what, const char *text) {
  for (int j = 0; j < n; j++) {
    char a[128], b[128];
    ck_assert_msg(ir_type_equal(&got[j].type, &want[j].type), "%s: output %d is %s, want %s\n%s",
                  what, j, ir_type_str(&got[j].type, a, sizeof a),
                  ir_type_str(&want[j].type, b, sizeof b), text);
    int64_t cnt = ir_type_numel(&got[j].type);
    for (int64_t i = 0; i < cnt; i++) {
      double x = ir_tensor_get_f(&got[j], i), y = ir_tensor_get_f(&want[j], i);
      if (isnan(x) && isnan(y)) continue;
      if (isinf(y) && x == y) continue;
      ck_assert_msg(fabs(x - y) <= atol + rtol * fabs(y),
                    "%s: output %d element %lld: got %.9g, want %.9g\n%s", what, j, (long long)i, x,
                    y, text);
    }
  }
}

static int count_op(const ir_graph *g, ir_op op, const char *kind) {
  int n = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *nd = &g->nodes[i];
    if (nd->dead || nd->op != op) continue;
    if (kind && strcmp(ir_attr_str(nd, "kind"), kind)) continue;
    n++;
  }
  return n;
}

/* print -> parse -> print is the identity. */
static void check_round_trip(const ir_graph *g) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_print_opts po;
  ir_print_opts_default(&po);
  po.show_offsets = 1;
  char *a = ir_print_str(g, &po, &d);
  ck_assert_msg(a != NULL, "%s", d.msg);
  ir_graph *h = kir_parse_string("round-trip", a, strlen(a), NULL, &d);
  ck_assert_msg(h != NULL, "%s\n%s", d.msg, a);
  char *b = ir_print_str(h, &po, &d);
  ck_assert_msg(b != NULL && strcmp(a, b) == 0, "round trip differs:\n%s\n----\n%s", a, b);
  free(a);
  free(b);
  ir_graph_free(h);
}

typedef struct {
  int fused, elementwise, contraction, reduction;
} fuse_stats;

/* The model through every pipeline, interpreted and compiled, against the
 * interpreter at -O0; returns what -O2 fused. */
static fuse_stats check_model(const char *text, uint64_t seed, int compile) {
  fuse_stats st = {0};
  ir_graph *ref = parse(text);
  run_pipeline(ref, NULL, 0, text);
  ir_tensor *in = make_inputs(ref, seed);
  ir_tensor *want = interpret(ref, in, "-O0 interpreted", text);
  int n_out = ref->n_outputs;
  for (int level = 0; level <= 2; level++) {
    ir_graph *g = parse(text);
    run_pipeline(g, NULL, level, text);
    char what[64];
    snprintf(what, sizeof what, "-O%d interpreted", level);
    ir_tensor *got = interpret(g, in, what, text);
    compare(got, want, n_out, 1e-5, 1e-6, what, text);
    free_tensors(got, n_out);
    if (compile) {
      snprintf(what, sizeof what, "-O%d compiled", level);
      got = compiled(g, in, what, text);
      compare(got, want, n_out, 1e-3, 1e-4, what, text);
      free_tensors(got, n_out);
    }
    if (level == 2) {
      check_round_trip(g);
      st.fused = count_op(g, IR_OP_FUSED, NULL);
      st.elementwise = count_op(g, IR_OP_FUSED, "elementwise");
      st.contraction = count_op(g, IR_OP_FUSED, "contraction");
      st.reduction = count_op(g, IR_OP_FUSED, "reduction");
    }
    ir_graph_free(g);
  }
  free_tensors(want, n_out);
  free_tensors(in, ref->n_inputs);
  ir_graph_free(ref);
  return st;
}

/* ---- random DAGs ---------------------------------------------------------------------------- */

#define RG_MAX 64

typedef struct {
  sbuf b;
  uint64_t s;
  int n; /* values */
  int rank[RG_MAX];
  int64_t dims[RG_MAX][4];
  int uses[RG_MAX];
  int consts, tmps;
} rgraph;

static void rg_dims_str(const rgraph *r, int v, char *buf, size_t n) {
  size_t k = 0;
  for (int d = 0; d < r->rank[v] && k < n; d++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "," : "", (long long)r->dims[v][d]);
  if (r->rank[v] == 0) buf[0] = 0;
}

static int rg_new(rgraph *r, int rank, const int64_t *dims) {
  ck_assert(r->n < RG_MAX);
  int v = r->n++;
  r->rank[v] = rank;
  for (int d = 0; d < rank; d++) r->dims[v][d] = dims[d];
  r->uses[v] = 0;
  return v;
}

/* A constant %cN of the given dims. */
static void rg_const(rgraph *r, char *name, size_t n, int rank, const int64_t *dims, double lo,
                     double hi) {
  snprintf(name, n, "c%d", r->consts++);
  sb_printf(&r->b, "  const %%%s: f32[", name);
  for (int d = 0; d < rank; d++) sb_printf(&r->b, "%s%lld", d ? "," : "", (long long)dims[d]);
  sb_printf(&r->b, "] = uniform(seed=%d, low=%g, high=%g)\n", r->consts, lo, hi);
}

/* A random operand broadcastable onto value v's shape: v's own shape
 * suffix, with some dims 1. */
static void rg_bcast_dims(rgraph *r, int v, int *rank, int64_t *dims) {
  int rk = r->rank[v] == 0 ? 0 : rnd(&r->s, r->rank[v] + 1);
  for (int d = 0; d < rk; d++) {
    int vd = r->rank[v] - rk + d;
    dims[d] = rnd(&r->s, 3) == 0 ? 1 : r->dims[v][vd];
  }
  *rank = rk;
}

/* A value with some use preference for recent ones. */
static int rg_pick(rgraph *r) {
  if (rnd(&r->s, 3) == 0) return rnd(&r->s, r->n);
  int lo = r->n > 4 ? r->n - 4 : 0;
  return lo + rnd(&r->s, r->n - lo);
}

static const char *const unary_ops[] = {"relu", "tanh", "sigmoid", "neg",     "abs",
                                        "silu", "gelu", "erf",     "softsign"};

static char *random_model(uint64_t seed) {
  rgraph r;
  memset(&r, 0, sizeof r);
  r.s = seed * 0x9e3779b97f4a7c15ull + 12345;
  int64_t B = 1 + rnd(&r.s, 2), M = 2 + rnd(&r.s, 5), K = 3 + rnd(&r.s, 14);
  sb_printf(&r.b, "graph g%llu {\n", (unsigned long long)seed);
  int64_t d0[3] = {B, M, K};
  int x0 = rg_new(&r, 3, d0);
  sb_printf(&r.b, "  input %%v%d: f32[%lld,%lld,%lld]\n", x0, (long long)B, (long long)M,
            (long long)K);
  int64_t d1[2] = {M, K};
  int x1 = rg_new(&r, 2, d1);
  sb_printf(&r.b, "  input %%v%d: f32[%lld,%lld]\n", x1, (long long)M, (long long)K);
  int steps = 6 + rnd(&r.s, 14);
  for (int step = 0; step < steps; step++) {
    int a = rg_pick(&r), kind = rnd(&r.s, 20);
    char ds[64], cn[32];
    rg_dims_str(&r, a, ds, sizeof ds);
    int y;
    if (kind < 6) { /* unary */
      const char *op = unary_ops[rnd(&r.s, (int)(sizeof unary_ops / sizeof unary_ops[0]))];
      y = rg_new(&r, r.rank[a], r.dims[a]);
      sb_printf(&r.b, "  %%v%d = %s(%%v%d)\n", y, op, a);
    } else if (kind < 12) { /* binary with broadcasting */
      static const char *const ops[] = {"add", "sub", "mul", "max", "min", "add"};
      const char *op = ops[rnd(&r.s, 6)];
      int rk;
      int64_t bd[4];
      char bname[32];
      int pick = rnd(&r.s, 3);
      int b = -1;
      if (pick == 0) {
        /* another value of the same shape */
        for (int t = 0; t < 8 && b < 0; t++) {
          int c = rnd(&r.s, r.n);
          if (r.rank[c] == r.rank[a] &&
              !memcmp(r.dims[c], r.dims[a], sizeof(int64_t) * (size_t)r.rank[a]))
            b = c;
        }
      }
      if (b >= 0) {
        snprintf(bname, sizeof bname, "v%d", b);
        r.uses[b]++;
      } else {
        rg_bcast_dims(&r, a, &rk, bd);
        rg_const(&r, bname, sizeof bname, rk, bd, -1, 1);
      }
      y = rg_new(&r, r.rank[a], r.dims[a]);
      if (rnd(&r.s, 2))
        sb_printf(&r.b, "  %%v%d = %s(%%v%d, %%%s)\n", y, op, a, bname);
      else
        sb_printf(&r.b, "  %%v%d = %s(%%%s, %%v%d)\n", y, op, bname, a);
    } else if (kind < 14 && r.rank[a] >= 2) { /* matmul + maybe bias */
      int64_t Kd = r.dims[a][r.rank[a] - 1], N = 2 + rnd(&r.s, 12);
      int64_t wd[2] = {Kd, N};
      double bound = 1.0 / sqrt((double)Kd);
      rg_const(&r, cn, sizeof cn, 2, wd, -bound, bound);
      int64_t od[4];
      memcpy(od, r.dims[a], sizeof od);
      od[r.rank[a] - 1] = N;
      y = rg_new(&r, r.rank[a], od);
      sb_printf(&r.b, "  %%v%d = matmul(%%v%d, %%%s)\n", y, a, cn);
    } else if (kind < 16) { /* reduction over the last axis, keepdims */
      static const char *const ops[] = {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                                        "reduce_l2"};
      int64_t od[4];
      memcpy(od, r.dims[a], sizeof od);
      if (r.rank[a] == 0) continue;
      od[r.rank[a] - 1] = 1;
      y = rg_new(&r, r.rank[a], od);
      sb_printf(&r.b, "  %%v%d = %s(%%v%d) {axes = [-1]}\n", y, ops[rnd(&r.s, 5)], a);
    } else if (kind < 18 && r.rank[a] >= 1) { /* softmax, norms */
      int64_t last = r.dims[a][r.rank[a] - 1];
      int which = rnd(&r.s, 4);
      y = rg_new(&r, r.rank[a], r.dims[a]);
      if (which == 0) {
        sb_printf(&r.b, "  %%v%d = softmax(%%v%d) {axis = -1}\n", y, a);
      } else if (which == 1) {
        char g[32], be[32];
        rg_const(&r, g, sizeof g, 1, &last, 0.5, 1.5);
        rg_const(&r, be, sizeof be, 1, &last, -0.5, 0.5);
        sb_printf(&r.b, "  %%v%d = layer_norm(%%v%d, %%%s, %%%s) {axis = -1}\n", y, a, g, be);
      } else if (which == 2) {
        char g[32];
        rg_const(&r, g, sizeof g, 1, &last, 0.5, 1.5);
        sb_printf(&r.b, "  %%v%d = rms_norm(%%v%d, %%%s) {axis = -1}\n", y, a, g);
      } else {
        /* layer norm as ONNX opset < 17 exports it */
        char two[32], eps[32];
        snprintf(two, sizeof two, "c%d", r.consts++);
        sb_printf(&r.b, "  const %%%s: f32[] = 2.0\n", two);
        snprintf(eps, sizeof eps, "c%d", r.consts++);
        sb_printf(&r.b, "  const %%%s: f32[] = 0.00001\n", eps);
        int n0 = r.tmps++;
        sb_printf(&r.b,
                  "  %%t%d_mu = reduce_mean(%%v%d) {axes = [-1]}\n"
                  "  %%t%d_d = sub(%%v%d, %%t%d_mu)\n"
                  "  %%t%d_p = pow(%%t%d_d, %%%s)\n"
                  "  %%t%d_var = reduce_mean(%%t%d_p) {axes = [-1]}\n"
                  "  %%t%d_ve = add(%%t%d_var, %%%s)\n"
                  "  %%t%d_sd = sqrt(%%t%d_ve)\n"
                  "  %%v%d = div(%%t%d_d, %%t%d_sd)\n",
                  n0, a, n0, a, n0, n0, n0, two, n0, n0, n0, n0, eps, n0, n0, y, n0, n0);
      }
    } else if (kind < 19 && r.rank[a] >= 2) { /* reshape / flatten views, transpose */
      int64_t od[4];
      int rk = r.rank[a];
      memcpy(od, r.dims[a], sizeof od);
      int w = rnd(&r.s, 3);
      if (w == 0) {
        /* merge the last two dims, then maybe split them back later */
        od[rk - 2] *= od[rk - 1];
        y = rg_new(&r, rk - 1, od);
        sb_printf(&r.b, "  %%v%d = reshape(%%v%d) {shape = [", y, a);
        for (int d = 0; d < rk - 1; d++) sb_printf(&r.b, "%s%lld", d ? ", " : "", (long long)od[d]);
        sb_printf(&r.b, "]}\n");
      } else if (w == 1) {
        int64_t t = od[rk - 1];
        od[rk - 1] = od[rk - 2];
        od[rk - 2] = t;
        y = rg_new(&r, rk, od);
        sb_printf(&r.b, "  %%v%d = transpose(%%v%d) {perm = [", y, a);
        for (int d = 0; d < rk; d++)
          sb_printf(&r.b, "%s%d", d ? ", " : "", d < rk - 2 ? d : d == rk - 2 ? rk - 1 : rk - 2);
        sb_printf(&r.b, "]}\n");
      } else {
        int64_t ud[4];
        ud[0] = 1;
        for (int d = 0; d < rk && d < 3; d++) ud[d + 1] = od[d];
        if (rk > 3) continue;
        int u = rg_new(&r, rk + 1, ud);
        sb_printf(&r.b, "  %%v%d = unsqueeze(%%v%d) {axes = [0]}\n", u, a);
        y = rg_new(&r, rk, od);
        sb_printf(&r.b, "  %%v%d = squeeze(%%v%d) {axes = [0]}\n", y, u);
      }
    } else { /* clip */
      y = rg_new(&r, r.rank[a], r.dims[a]);
      sb_printf(&r.b, "  %%v%d = clip(%%v%d) {max = 1.5, min = -0.5}\n", y, a);
    }
    r.uses[a]++;
  }
  /* outputs: the last value and one or two earlier ones (read elsewhere too) */
  int outs[3], no = 0;
  outs[no++] = r.n - 1;
  for (int t = 0; t < 2 && r.n > 3; t++) {
    int v = 2 + rnd(&r.s, r.n - 3);
    int dup = 0;
    for (int k = 0; k < no; k++) dup |= outs[k] == v;
    if (!dup) outs[no++] = v;
  }
  sb_printf(&r.b, "  output ");
  for (int k = 0; k < no; k++) sb_printf(&r.b, "%s%%v%d", k ? ", " : "", outs[k]);
  sb_printf(&r.b, "\n}\n");
  return r.b.s;
}

static fuse_stats total;

START_TEST(test_random_dags) {
  /* _i: a slice of seeds per test, so each stays within the time limit */
  for (int s = 0; s < 8; s++) {
    uint64_t seed = (uint64_t)_i * 8 + (uint64_t)s;
    char *text = random_model(seed);
    fuse_stats st = check_model(text, seed, 1);
    total.fused += st.fused;
    total.elementwise += st.elementwise;
    total.contraction += st.contraction;
    total.reduction += st.reduction;
    free(text);
  }
}
END_TEST

/* Interpreted only: many more graphs. */
START_TEST(test_random_dags_interpreted) {
  fuse_stats t = {0};
  for (uint64_t seed = 1000; seed < 1300; seed++) {
    char *text = random_model(seed);
    fuse_stats st = check_model(text, seed, 0);
    t.fused += st.fused;
    t.elementwise += st.elementwise;
    t.contraction += st.contraction;
    t.reduction += st.reduction;
    free(text);
  }
  /* the generator reaches every kind of kernel */
  ck_assert_int_gt(t.elementwise, 30);
  ck_assert_int_gt(t.contraction, 30);
  ck_assert_int_gt(t.reduction, 30);
}
END_TEST

/* ---- one case per rule ------------------------------------------------------------------------
 */

typedef struct {
  const char *text;
  int fused, elementwise, contraction, reduction; /* expected at -O2; -1: any */
  int nodes;                                      /* live nodes at -O2; -1: any */
} rule_case;

static const rule_case rule_cases[] = {
    /* elementwise chain with a broadcast vector, two results */
    {"graph a {\n  input %x: f32[3,5,7]\n  input %b: f32[7]\n"
     "  %a = add(%x, %b)\n  %s = sigmoid(%a)\n  %m = mul(%a, %s)\n  %t = tanh(%m)\n"
     "  output %t, %a\n}\n",
     1, 1, 0, 0, 1},
    /* dtypes change inside: compare, where, cast */
    {"graph a {\n  input %x: f32[4,6]\n  input %y: f32[4,1]\n"
     "  %c = greater(%x, %y)\n  %w = where(%c, %x, %y)\n  %i = cast(%w) {to = i32}\n"
     "  %f = cast(%i) {to = f32}\n  %z = add(%f, %w)\n  output %z\n}\n",
     1, 1, 0, 0, 1},
    /* matmul, bias, relu; batched matmul with a residual */
    {"graph a {\n  input %x: f32[2,3,8]\n  param %w: f32[8,5] = uniform(seed=1, low=-0.5, "
     "high=0.5)\n"
     "  param %b: f32[5] = uniform(seed=2)\n  input %r: f32[2,3,5]\n"
     "  %h = matmul(%x, %w)\n  %hb = add(%h, %b)\n  %a = relu(%hb)\n  %y = add(%a, %r)\n"
     "  output %y\n}\n",
     1, 0, 1, 0, 1},
    /* a big matmul (the GEMM path) with an epilogue, and its raw result kept */
    {"graph a {\n  input %x: f32[37,70]\n  param %w: f32[70,45] = uniform(seed=3, low=-0.2, "
     "high=0.2)\n"
     "  param %b: f32[45] = uniform(seed=4)\n"
     "  %h = matmul(%x, %w)\n  %hb = add(%h, %b)\n  %g = gelu(%hb)\n  %n = neg(%h)\n"
     "  %t = transpose(%n) {perm = [1, 0]}\n  output %g, %t\n}\n",
     1, 0, 1, 0, 2},
    /* conv + residual + clip; conv_transpose + relu */
    {"graph a {\n  input %img: f32[1,4,9,9]\n  param %k: f32[4,4,3,3] = uniform(seed=5, low=-0.3, "
     "high=0.3)\n"
     "  param %kt: f32[4,2,2,2] = uniform(seed=6, low=-0.3, high=0.3)\n"
     "  %c = conv(%img, %k) {pads = [1, 1, 1, 1]}\n  %r = add(%c, %img)\n"
     "  %y = clip(%r) {max = 6.0, min = 0.0}\n"
     "  %ct = conv_transpose(%y, %kt) {strides = [2, 2]}\n  %z = relu(%ct)\n  output %z\n}\n",
     2, 0, 2, 0, 2},
    /* softmax with prologue and epilogue; log_softmax over a middle axis */
    {"graph a {\n  input %q: f32[2,5,9]\n  input %m: f32[9]\n  const %s: f32[] = 0.5\n"
     "  %a = mul(%q, %s)\n  %b = add(%a, %m)\n  %p = softmax(%b) {axis = -1}\n"
     "  %o = mul(%p, %q)\n  %l = log_softmax(%q) {axis = 1}\n  %l2 = neg(%l)\n"
     "  output %o, %l2\n}\n",
     2, 0, 0, 2, 2},
    /* every reduce_* with a prologue and an epilogue, several axes, keepdims 0 */
    {"graph a {\n  input %x: f32[3,4,5]\n"
     "  %e = tanh(%x)\n  %r1 = reduce_sum(%e) {axes = [0, 2]}\n  %o1 = exp(%r1)\n"
     "  %e2 = abs(%x)\n  %r2 = reduce_mean(%e2) {axes = [1], keepdims = 0}\n  %o2 = sqrt(%r2)\n"
     "  %e3 = neg(%x)\n  %r3 = reduce_max(%e3)\n  %o3 = relu(%r3)\n"
     "  %e4 = softsign(%x)\n  %r4 = reduce_min(%e4) {axes = [2]}\n  %o4 = neg(%r4)\n"
     "  %e5 = sigmoid(%x)\n  %r5 = reduce_prod(%e5) {axes = [2]}\n  %o5 = neg(%r5)\n"
     "  %e6 = relu(%x)\n  %r6 = reduce_l1(%e6) {axes = [1]}\n  %o6 = neg(%r6)\n"
     "  %e7 = erf(%x)\n  %r7 = reduce_l2(%e7) {axes = [1]}\n  %o7 = neg(%r7)\n"
     "  %e8 = sin(%x)\n  %r8 = reduce_sum_square(%e8) {axes = [0]}\n  %o8 = neg(%r8)\n"
     "  %e9 = hard_sigmoid(%x)\n  %r9 = reduce_log_sum(%e9) {axes = [1]}\n  %o9 = neg(%r9)\n"
     "  %e10 = cos(%x)\n  %r10 = reduce_log_sum_exp(%e10) {axes = [0, 1]}\n  %o10 = neg(%r10)\n"
     "  output %o1, %o2, %o3, %o4, %o5, %o6, %o7, %o8, %o9, %o10\n}\n",
     10, 0, 0, 10, 10},
    /* layer_norm of a residual sum, rms_norm with an epilogue */
    {"graph a {\n  input %x: f32[2,3,16]\n  input %r: f32[2,3,16]\n"
     "  param %g: f32[16] = uniform(seed=7, low=0.5, high=1.5)\n"
     "  param %be: f32[3,16] = uniform(seed=8)\n"
     "  %h = add(%x, %r)\n  %n = layer_norm(%h, %g, %be) {axis = -2}\n"
     "  %s = rms_norm(%x, %g) {axis = -1}\n  %t = mul(%s, %r)\n  output %n, %t\n}\n",
     2, 0, 0, 2, 2},
    /* decomposed layer norm and softmax become one kernel each */
    {"graph a {\n  input %x: f32[4,32]\n  param %g: f32[32] = uniform(seed=9)\n"
     "  param %b: f32[32] = uniform(seed=10)\n  const %two: f32[] = 2.0\n"
     "  const %eps: f32[] = 0.00001\n"
     "  %mu = reduce_mean(%x) {axes = [1]}\n  %d = sub(%x, %mu)\n  %p = pow(%d, %two)\n"
     "  %v = reduce_mean(%p) {axes = [1]}\n  %ve = add(%v, %eps)\n  %sd = sqrt(%ve)\n"
     "  %n = div(%d, %sd)\n  %sc = mul(%n, %g)\n  %y = add(%sc, %b)\n  %r = relu(%y)\n"
     "  %m = reduce_max(%r) {axes = [1]}\n  %z = sub(%r, %m)\n  %e = exp(%z)\n"
     "  %s = reduce_sum(%e) {axes = [1]}\n  %q = div(%e, %s)\n  output %q\n}\n",
     1, 0, 0, 1, 2},
    /* views: a reshaped input, a reshape that is the output, views between
     * kernels (elementwise ops on either side of a view are not fused) */
    {"graph a {\n  input %x: f32[2,12]\n  param %w: f32[4,4] = uniform(seed=11)\n"
     "  %r = reshape(%x) {shape = [6, 4]}\n  %m = matmul(%r, %w)\n  %a = tanh(%m)\n"
     "  %f = reshape(%a) {shape = [2, 3, 4]}\n  %u = unsqueeze(%f) {axes = [0]}\n"
     "  %e = exp(%u)\n  %q = squeeze(%e) {axes = [0]}\n  %s = sigmoid(%q)\n"
     "  %y = flatten(%s) {axis = 1}\n  output %y, %f\n}\n",
     1, 0, 1, 0, 8},
    /* a view of a constant (folded at -O1 and -O2; a view at -O0) read and output */
    {"graph a {\n  input %x: f32[12]\n  param %c: f32[2,6] = uniform(seed=12)\n"
     "  %v = reshape(%c) {shape = [12]}\n  %y = add(%x, %v)\n  %z = tanh(%y)\n"
     "  output %z, %v\n}\n",
     1, 1, 0, 0, 1},
    /* a view of an input is an output; a value and its view both outputs */
    {"graph a {\n  input %x: f32[3,4]\n  %v = reshape(%x) {shape = [12]}\n  %n = neg(%x)\n"
     "  %e = exp(%n)\n  %w = reshape(%e) {shape = [4, 3]}\n  output %v, %w, %e\n}\n",
     1, 1, 0, 0, 3},
};

START_TEST(test_rules) {
  const rule_case *rc = &rule_cases[_i];
  check_model(rc->text, (uint64_t)_i, 1);
  ir_graph *g = parse(rc->text);
  run_pipeline(g, NULL, 2, rc->text);
  if (rc->fused >= 0)
    ck_assert_msg(count_op(g, IR_OP_FUSED, NULL) == rc->fused, "case %d: %d fused nodes, want %d",
                  _i, count_op(g, IR_OP_FUSED, NULL), rc->fused);
  ck_assert_int_eq(count_op(g, IR_OP_FUSED, "elementwise"), rc->elementwise);
  ck_assert_int_eq(count_op(g, IR_OP_FUSED, "contraction"), rc->contraction);
  ck_assert_int_eq(count_op(g, IR_OP_FUSED, "reduction"), rc->reduction);
  if (rc->nodes >= 0)
    ck_assert_msg(pass_count_nodes(g) == rc->nodes, "case %d: %d nodes, want %d", _i,
                  pass_count_nodes(g), rc->nodes);
  ir_graph_free(g);
}
END_TEST

/* A value read outside its group is a result of the fused node; one read
 * only inside is not. */
START_TEST(test_materialised) {
  const char *text = "graph a {\n  input %x: f32[8]\n  %a = exp(%x)\n  %b = neg(%a)\n"
                     "  %c = sigmoid(%b)\n  %t = transpose(%a) {perm = [0]}\n"
                     "  output %c, %t\n}\n";
  ir_graph *g = parse(text);
  run_pipeline(g, "infer-shapes,fuse", 2, text);
  ck_assert_int_eq(count_op(g, IR_OP_FUSED, "elementwise"), 1);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->op != IR_OP_FUSED) continue;
    ck_assert_int_eq(n->n_out, 2);
    ck_assert_str_eq(g->values[n->out[0]].name, "a");
    ck_assert_str_eq(g->values[n->out[1]].name, "c");
    ck_assert_int_eq(n->body->n_nodes, 3);
  }
  ir_graph_free(g);
}
END_TEST

/* The fused graph prints, parses and prints back the same; fusing is
 * deterministic. */
START_TEST(test_deterministic) {
  char *text = random_model(77);
  ir_graph *a = parse(text), *b = parse(text);
  run_pipeline(a, NULL, 2, text);
  run_pipeline(b, NULL, 2, text);
  kiln_diag d;
  kiln_diag_init(&d);
  char *pa = ir_print_str(a, NULL, &d), *pb = ir_print_str(b, NULL, &d);
  ck_assert_str_eq(pa, pb);
  free(pa);
  free(pb);
  ir_graph_free(a);
  ir_graph_free(b);
  free(text);
}
END_TEST

/* kiln inspect's figures. */
START_TEST(test_inspect_figures) {
  kiln_model *m;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(kiln_model_load("examples/mlp.kir", NULL, &m, &d) == 0, "%s", d.msg);
  kiln_inspect_report r;
  ck_assert_msg(kiln_model_inspect(m, &r, &d) == 0, "%s", d.msg);
  /* simplify drops the adds of the zero biases: matmul, relu, matmul ->
   * the first matmul with its relu, the second */
  ck_assert_int_eq(r.kernels_before_fusion, 3);
  ck_assert_int_eq(r.kernels_after_fusion, 2);
  /* before: h and a ([1,512] each); after: a */
  ck_assert_int_eq(r.intermediate_bytes_before_fusion, 2 * 2048);
  ck_assert_int_eq(r.intermediate_bytes_after_fusion, 2048);
  kiln_model_free(m);
}
END_TEST

static Suite *fuse_suite(void) {
  Suite *s = suite_create("fuse");
  TCase *tc = tcase_create("rules");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_rules, 0, (int)(sizeof rule_cases / sizeof rule_cases[0]));
  tcase_add_test(tc, test_materialised);
  tcase_add_test(tc, test_deterministic);
  tcase_add_test(tc, test_inspect_figures);
  suite_add_tcase(s, tc);
  tc = tcase_create("random");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_random_dags, 0, 6);
  tcase_add_test(tc, test_random_dags_interpreted);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(fuse_suite)

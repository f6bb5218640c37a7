/* Code generation against the reference interpreter.
 *
 * Each test builds a graph holding several cases of one op (shapes with
 * broadcasting, odd sizes that leave vector remainders, rank 0 and 1, every
 * dtype the op takes), compiles it to a temporary shared object, loads it,
 * runs it on deterministic random inputs (with NaN, infinities, signed
 * zeros and integer extremes mixed in) and compares every output with
 * ir_interp_run:
 *   - integers, bools and data movement: exact;
 *   - floats: |got - want| <= atol + rtol * |want|, NaN matching NaN and
 *     infinities exactly. The tolerance is stated per test; the defaults
 *     (f32 rtol 1e-5, atol 1e-6; f64 1e-12) cover the ulp or two a libm
 *     function computed in f32 may differ from the interpreter's double.
 *     Contractions accumulate in the element type (kernels.h), so matmul
 *     and conv use atol = K * 2^-20 with K the reduction length.
 * Also tested: the artifact's entries (typed, packed, workspace, weights
 * in a side file), NEEDED libraries, reproducible output, AArch64 objects,
 * the generated header, and errors.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/cg.h"
#include "frontend/kir.h"
#include "kiln.h"
#include "harness.h"
#include "kiln_artifact.h"
#include "passes/pass.h"

/* ---- random data ------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

typedef enum { FILL_DEFAULT, FILL_RANGE, FILL_DATA } fill_kind;

/* Fills element i of t: FILL_DEFAULT mixes specials into uniform values,
 * FILL_RANGE draws uniformly from [lo, hi] (integers inclusive). */
static void fill_tensor(ir_tensor *t, fill_kind kind, double lo, double hi, uint64_t seed) {
  uint64_t s = seed * 0x2545f4914f6cdd1dull + 7;
  int64_t n = ir_type_numel(&t->type);
  ir_dtype dt = t->type.dtype;
  static const double fspecial[] = {NAN,   INFINITY, -INFINITY, 0.0,  -0.0,
                                    1e-30, -1e30,    0.5,       -0.5, 2.5};
  for (int64_t i = 0; i < n; i++) {
    double u = rng_unit(&s);
    if (dt == IR_BOOL) {
      ir_tensor_set_i(t, i, rng_next(&s) & 1);
    } else if (ir_dtype_is_float(dt)) {
      double v;
      if (kind == FILL_DEFAULT && u < 0.08)
        v = fspecial[rng_next(&s) % 10];
      else if (kind == FILL_DEFAULT)
        v = rng_unit(&s) * 6.0 - 3.0;
      else
        v = lo + rng_unit(&s) * (hi - lo);
      ir_tensor_set_f(t, i, v);
    } else if (kind == FILL_RANGE) {
      int64_t a = (int64_t)lo, b = (int64_t)hi;
      ir_tensor_set_i(t, i, a + (int64_t)(rng_next(&s) % (uint64_t)(b - a + 1)));
    } else {
      /* integers: extremes and small values often, any bit pattern too */
      uint64_t r = rng_next(&s);
      int64_t v;
      if (u < 0.2) {
        static const int64_t sp[] = {0, 1, -1, INT64_MIN, INT64_MAX, 2, -2};
        v = sp[r % 7];
      } else if (u < 0.6) {
        v = (int64_t)(r % 201) - 100;
      } else {
        v = (int64_t)r;
      }
      ir_tensor_set_i(t, i, v); /* wraps into the dtype */
    }
  }
}

/* ---- test graphs ------------------------------------------------------------------------- */

#define TG_MAX_INPUTS 512

typedef struct {
  ir_graph *g;
  int n;
  fill_kind kind[TG_MAX_INPUTS];
  double lo[TG_MAX_INPUTS], hi[TG_MAX_INPUTS];
  int cases;
} tg;

static char tmp_dir[256];
static int artifact_no;

static void tmp_init(void) {
  if (tmp_dir[0]) return;
  snprintf(tmp_dir, sizeof tmp_dir, "%s/kiln-cgtest-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert(mkdtemp(tmp_dir) != NULL);
}

static tg tg_new(const char *name) {
  tg t;
  memset(&t, 0, sizeof t);
  t.g = ir_graph_new(name);
  t.g->source = "test";
  return t;
}

static ir_type mk_type(ir_dtype dt, int rank, const int64_t *dims) {
  ir_type ty = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) ty.dims[i] = dims[i];
  return ty;
}

static int tg_input_k(tg *t, ir_dtype dt, int rank, const int64_t *dims, fill_kind kind, double lo,
                      double hi) {
  ck_assert(t->n < TG_MAX_INPUTS);
  ir_type ty = mk_type(dt, rank, dims);
  char name[32];
  snprintf(name, sizeof name, "in%d", t->n);
  t->kind[t->n] = kind;
  t->lo[t->n] = lo;
  t->hi[t->n] = hi;
  t->n++;
  return ir_add_input(t->g, name, &ty);
}

static int tg_input(tg *t, ir_dtype dt, int rank, const int64_t *dims) {
  return tg_input_k(t, dt, rank, dims, FILL_DEFAULT, 0, 0);
}

static int tg_input_range(tg *t, ir_dtype dt, int rank, const int64_t *dims, double lo, double hi) {
  return tg_input_k(t, dt, rank, dims, FILL_RANGE, lo, hi);
}

/* A constant: vals (numel entries) or random in [lo, hi]. */
static int tg_const(tg *t, ir_dtype dt, int rank, const int64_t *dims, const double *vals,
                    double lo, double hi) {
  ir_type ty = mk_type(dt, rank, dims);
  ir_tensor tmp;
  ck_assert(ir_tensor_alloc(&tmp, &ty, NULL) == 0);
  if (vals) {
    for (int64_t i = 0; i < ir_type_numel(&ty); i++) {
      if (ir_dtype_is_float(dt))
        ir_tensor_set_f(&tmp, i, vals[i]);
      else
        ir_tensor_set_i(&tmp, i, (int64_t)vals[i]);
    }
  } else {
    fill_tensor(&tmp, FILL_RANGE, lo, hi, (uint64_t)t->g->n_values * 31 + 5);
  }
  char name[32];
  snprintf(name, sizeof name, "c%d", t->g->n_values);
  int v = ir_add_const(t->g, name, &ty, tmp.data);
  ir_tensor_release(&tmp);
  return v;
}

/* A node whose outputs all become graph outputs; returns the node id. */
static int tg_node(tg *t, ir_op op, const int *in, int n_in, int n_out) {
  char name[32];
  snprintf(name, sizeof name, "%s_%d", ir_op_name(op), t->cases++);
  int n = ir_node_new(t->g, op, name, in, n_in, n_out, NULL);
  for (int j = 0; j < n_out; j++) ir_add_output(t->g, t->g->nodes[n].out[j]);
  return n;
}

/* Output j of node n (after the node exists: creating nodes moves the array). */
static int out_of(const ir_graph *g, int n, int j) { return g->nodes[n].out[j]; }

static int tg_node1(tg *t, ir_op op, int a) { return tg_node(t, op, &a, 1, 1); }
static int tg_node2(tg *t, ir_op op, int a, int b) {
  int in[2] = {a, b};
  return tg_node(t, op, in, 2, 1);
}

static int elem_close(ir_dtype dt, const void *got, const void *want, int64_t i, double rtol,
                      double atol) {
  if (!ir_dtype_is_float(dt)) return ir_load_i(dt, got, i) == ir_load_i(dt, want, i);
  double a = ir_load_f(dt, got, i), b = ir_load_f(dt, want, i);
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  if (isinf(a) || isinf(b)) return a == b;
  return fabs(a - b) <= atol + rtol * fabs(b);
}

typedef struct {
  double rtol, atol;  /* for f32; f64 uses 1e-12 unless f64_same */
  int f64_same;       /* f64 outputs get rtol/atol too */
  const char *passes; /* NULL: infer-shapes */
  int opt_level;      /* 0: -O2, -1: -O0, else the level */
  int threads;        /* also run on 1, 2 and 3 threads: the same bytes */
} check_opts;

/* Compiles and runs t's graph and compares with the interpreter; frees it. */
static void tg_check_opts(tg *t, const check_opts *co) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = t->g;
  pass_pipeline p;
  ck_assert(pass_pipeline_parse(co->passes ? co->passes : "infer-shapes", &p, &d) == 0);
  ck_assert_msg(pass_run(g, &p, NULL, &d) == 0, "%s: passes: %s", g->name, d.msg);
  ck_assert_msg(ir_verify(g, 1, &d) == 0, "%s: verify: %s", g->name, d.msg);
  ir_tensor *ins = calloc((size_t)g->n_inputs + 1, sizeof(ir_tensor));
  ir_tensor *want = calloc((size_t)g->n_outputs + 1, sizeof(ir_tensor));
  ir_tensor *got = calloc((size_t)g->n_outputs + 1, sizeof(ir_tensor));
  for (int i = 0; i < g->n_inputs; i++) {
    ck_assert(ir_tensor_alloc(&ins[i], &g->values[g->inputs[i]].type, NULL) == 0);
    fill_tensor(&ins[i], t->kind[i], t->lo[i], t->hi[i], (uint64_t)i * 7919 + 13);
  }
  int rc = ir_interp_run(g, ins, want, &d);
  ck_assert_msg(rc == 0, "%s: interpreter: %s", g->name, d.msg);

  tmp_init();
  char so[512];
  snprintf(so, sizeof so, "%s/a%d.so", tmp_dir, artifact_no++);
  cg_options o;
  cg_options_init(&o);
  o.out = so;
  o.name = "t";
  o.no_header = 1;
  o.opt_level = co->opt_level < 0 ? 0 : co->opt_level ? co->opt_level : 2; /* -1: -O0 */
  rc = cg_compile(g, &o, &d);
  ck_assert_msg(rc == 0, "%s: compile: %s", g->name, d.msg);
  cg_loaded a;
  rc = cg_load(so, "t", &a, &d);
  ck_assert_msg(rc == 0, "%s: load: %s", g->name, d.msg);
  void **ip = calloc((size_t)g->n_inputs + 1, sizeof(void *));
  void **op = calloc((size_t)g->n_outputs + 1, sizeof(void *));
  for (int i = 0; i < g->n_inputs; i++) ip[i] = ins[i].data;
  for (int j = 0; j < g->n_outputs; j++) {
    ck_assert(ir_tensor_alloc(&got[j], &g->values[g->outputs[j]].type, NULL) == 0);
    /* poison: every element must be written */
    memset(got[j].data, 0xa5, (size_t)ir_type_nbytes(&got[j].type));
    op[j] = got[j].data;
  }
  rc = a.run_packed(ip, op, NULL);
  ck_assert_msg(rc == 0, "%s: run returned %d", g->name, rc);
  for (int j = 0; j < g->n_outputs; j++) {
    const ir_value *v = &g->values[g->outputs[j]];
    ir_dtype dt = v->type.dtype;
    double rtol = co->rtol, atol = co->atol;
    if (dt == IR_F64 && !co->f64_same) rtol = atol = 1e-12;
    int64_t n = ir_type_numel(&v->type);
    for (int64_t i = 0; i < n; i++) {
      if (elem_close(dt, got[j].data, want[j].data, i, rtol, atol)) continue;
      const ir_node *nd = &g->nodes[v->producer >= 0 ? v->producer : 0];
      char ty[128];
      ck_abort_msg("%s: output %s (%s of node %s) element %lld: got %.17g, want %.17g", g->name,
                   v->name, ir_type_str(&v->type, ty, sizeof ty), nd->name, (long long)i,
                   ir_load_f(dt, got[j].data, i), ir_load_f(dt, want[j].data, i));
    }
  }
  if (co->threads) {
    /* results do not depend on the number of threads */
    int (*set_threads)(int);
    *(void **)&set_threads = dlsym(a.handle, "t_set_threads");
    ck_assert(set_threads != NULL);
    for (int nt = 1; nt <= 3; nt++) {
      ck_assert_int_ge(set_threads(nt), 1);
      void **op2 = calloc((size_t)g->n_outputs + 1, sizeof(void *));
      for (int j = 0; j < g->n_outputs; j++) {
        op2[j] = malloc((size_t)ir_type_nbytes(&got[j].type) + 1);
        memset(op2[j], 0x5a, (size_t)ir_type_nbytes(&got[j].type));
      }
      ck_assert_int_eq(a.run_packed(ip, op2, NULL), 0);
      for (int j = 0; j < g->n_outputs; j++) {
        ck_assert_msg(!memcmp(op2[j], got[j].data, (size_t)ir_type_nbytes(&got[j].type)),
                      "%s: output %d differs on %d threads", g->name, j, nt);
        free(op2[j]);
      }
      free(op2);
    }
    set_threads(0);
  }
  cg_unload(&a);
  unlink(so);
  for (int i = 0; i < g->n_inputs; i++) ir_tensor_release(&ins[i]);
  for (int j = 0; j < g->n_outputs; j++) {
    ir_tensor_release(&want[j]);
    ir_tensor_release(&got[j]);
  }
  free(ins);
  free(want);
  free(got);
  free(ip);
  free(op);
  ir_graph_free(g);
  t->g = NULL;
}

static void tg_check(tg *t, double rtol, double atol) {
  check_opts co = {.rtol = rtol, .atol = atol};
  tg_check_opts(t, &co);
}

#define D(...)  ((const int64_t[]){__VA_ARGS__})
#define F32_TOL 1e-5, 1e-6

/* Shapes every elementwise test covers: rank 0, rank 1 (one element and
 * odd lengths that leave vector remainders), rank 2 and 3. */
static const struct {
  int rank;
  int64_t dims[4];
} shapes[] = {{0, {0}}, {1, {1}}, {1, {7}}, {1, {67}}, {2, {3, 5}}, {3, {2, 3, 17}}};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])

static const ir_dtype float_types[] = {IR_F32, IR_F64};
static const ir_dtype int_types[] = {IR_I64, IR_I32, IR_I16, IR_I8, IR_U8};
static const ir_dtype all_types[] = {IR_F32, IR_F64, IR_I64, IR_I32, IR_I16, IR_I8, IR_U8, IR_BOOL};

/* ---- unary ------------------------------------------------------------------------------- */

static const ir_op float_unary[] = {
    IR_OP_NEG,          IR_OP_ABS,        IR_OP_EXP,      IR_OP_LOG,
    IR_OP_SQRT,         IR_OP_RECIPROCAL, IR_OP_SIN,      IR_OP_COS,
    IR_OP_TAN,          IR_OP_ASIN,       IR_OP_ACOS,     IR_OP_ATAN,
    IR_OP_SINH,         IR_OP_COSH,       IR_OP_ASINH,    IR_OP_ACOSH,
    IR_OP_ATANH,        IR_OP_TANH,       IR_OP_SIGMOID,  IR_OP_RELU,
    IR_OP_LEAKY_RELU,   IR_OP_ELU,        IR_OP_SELU,     IR_OP_CELU,
    IR_OP_GELU,         IR_OP_SILU,       IR_OP_SOFTPLUS, IR_OP_SOFTSIGN,
    IR_OP_HARD_SIGMOID, IR_OP_HARD_SWISH, IR_OP_MISH,     IR_OP_THRESHOLDED_RELU,
    IR_OP_SHRINK,       IR_OP_ERF,        IR_OP_FLOOR,    IR_OP_CEIL,
    IR_OP_ROUND,        IR_OP_SIGN,       IR_OP_CLIP,     IR_OP_ISNAN,
    IR_OP_ISINF,        IR_OP_IDENTITY,   IR_OP_DROPOUT};

START_TEST(test_unary_float) {
  for (size_t o = 0; o < sizeof float_unary / sizeof float_unary[0]; o++) {
    ir_op op = float_unary[o];
    tg t = tg_new(ir_op_name(op));
    for (int f = 0; f < 2; f++)
      for (int s = 0; s < N_SHAPES; s++) {
        int x = tg_input(&t, float_types[f], shapes[s].rank, shapes[s].dims);
        int n = tg_node1(&t, op, x);
        /* non-default attributes on some cases */
        if (s % 2 == 1) {
          switch (op) {
          case IR_OP_LEAKY_RELU:
          case IR_OP_ELU:
          case IR_OP_CELU:
          case IR_OP_THRESHOLDED_RELU: ir_set_float(t.g, n, "alpha", 0.75); break;
          case IR_OP_GELU: ir_set_string(t.g, n, "approximate", "tanh"); break;
          case IR_OP_SHRINK:
            ir_set_float(t.g, n, "lambd", 1.25);
            ir_set_float(t.g, n, "bias", 0.5);
            break;
          case IR_OP_HARD_SIGMOID: ir_set_float(t.g, n, "alpha", 0.125); break;
          case IR_OP_ISINF: ir_set_int(t.g, n, "detect_negative", 0); break;
          default: break;
          }
        }
        if (op == IR_OP_CLIP) {
          /* both bounds, one bound, none, min > max */
          if (s % 4 == 0)
            ir_set_float(t.g, n, "min", -0.5), ir_set_float(t.g, n, "max", 1.5);
          else if (s % 4 == 1)
            ir_set_float(t.g, n, "max", 0.25);
          else if (s % 4 == 3)
            ir_set_float(t.g, n, "min", 1.0), ir_set_float(t.g, n, "max", -1.0);
        }
        if (op == IR_OP_ISINF && s % 3 == 2) ir_set_int(t.g, n, "detect_positive", 0);
      }
    tg_check(&t, F32_TOL);
  }
}
END_TEST

/* f32 exp, tanh, erf, sigmoid, silu and gelu (inline math in double,
 * kernels_common.c) over wide ranges, tiny values and the specials of
 * FILL_DEFAULT: within an ulp or two of the interpreter's libm results,
 * subnormals included. */
START_TEST(test_unary_f32_inline_math) {
  const ir_op ops[] = {IR_OP_EXP,  IR_OP_TANH, IR_OP_ERF, IR_OP_SIGMOID,
                       IR_OP_SILU, IR_OP_GELU, IR_OP_GELU};
  const double ranges[][2] = {{-1e-6, 1e-6}, {-0.2, 0.2},   {-1.5, 1.5},   {-6, 6},
                              {-20, 20},     {-110, 110},   {-1e4, 1e4},   {85, 92}};
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    tg t = tg_new(ir_op_name(ops[o]));
    for (int r = 0; r <= (int)(sizeof ranges / sizeof ranges[0]); r++) {
      int x = r == 0 ? tg_input(&t, IR_F32, 1, D(4099))
                     : tg_input_range(&t, IR_F32, 1, D(4099), ranges[r - 1][0], ranges[r - 1][1]);
      int n = tg_node1(&t, ops[o], x);
      if (o == 6) ir_set_string(t.g, n, "approximate", "tanh");
    }
    tg_check(&t, 0x1p-23, 0x1p-148);
  }
}
END_TEST

START_TEST(test_unary_int) {
  const ir_op ops[] = {IR_OP_NEG,  IR_OP_ABS,    IR_OP_RELU, IR_OP_SIGN,
                       IR_OP_CLIP, IR_OP_SHRINK, IR_OP_ERF,  IR_OP_IDENTITY};
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    ir_op op = ops[o];
    tg t = tg_new(ir_op_name(op));
    for (int ti = 0; ti < 5; ti++) {
      ir_dtype dt = int_types[ti];
      if ((op == IR_OP_NEG || op == IR_OP_RELU) && dt == IR_U8) continue;
      for (int s = 0; s < N_SHAPES; s += 2) {
        int x = tg_input(&t, dt, shapes[s].rank, shapes[s].dims);
        int n = tg_node1(&t, op, x);
        if (op == IR_OP_CLIP) {
          if (s == 0) ir_set_float(t.g, n, "min", -3.5), ir_set_float(t.g, n, "max", 200.25);
          if (s == 2) ir_set_float(t.g, n, "min", 300.0); /* beyond i8: wraps on store */
        }
        if (op == IR_OP_SHRINK && s == 2) {
          ir_set_float(t.g, n, "lambd", 3.0);
          ir_set_float(t.g, n, "bias", 2.0);
        }
      }
    }
    tg_check(&t, 0, 0);
  }
}
END_TEST

START_TEST(test_not) {
  tg t = tg_new("not");
  for (int s = 0; s < N_SHAPES; s++)
    tg_node1(&t, IR_OP_NOT, tg_input(&t, IR_BOOL, shapes[s].rank, shapes[s].dims));
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_cast) {
  tg t = tg_new("cast");
  for (int a = 0; a < 8; a++)
    for (int b = 0; b < 8; b++) {
      int x = tg_input(&t, all_types[a], 1, D(37));
      int n = tg_node1(&t, IR_OP_CAST, x);
      ir_set_int(t.g, n, "to", all_types[b]);
    }
  /* floats far outside the integer ranges saturate */
  int x = tg_input_range(&t, IR_F64, 2, D(3, 11), -1e20, 1e20);
  for (int b = 2; b < 8; b++) ir_set_int(t.g, tg_node1(&t, IR_OP_CAST, x), "to", all_types[b]);
  tg_check(&t, 0, 0); /* casts are exact */
}
END_TEST

/* ---- binary ------------------------------------------------------------------------------ */

static const struct {
  int ra, rb;
  int64_t a[4], b[4];
} bshapes[] = {
    {0, 0, {0}, {0}},          /* scalars */
    {1, 1, {7}, {7}},          /* same shape, odd length */
    {1, 0, {67}, {0}},         /* scalar broadcast */
    {2, 2, {3, 1}, {1, 5}},    /* outer product */
    {3, 1, {2, 3, 17}, {17}},  /* trailing broadcast */
    {3, 2, {2, 1, 5}, {3, 1}}, /* both sides */
    {2, 2, {4, 33}, {4, 33}},
};
#define N_BSHAPES (int)(sizeof bshapes / sizeof bshapes[0])

static void binary_cases(tg *t, ir_op op, ir_dtype at, ir_dtype bt, void (*attrs)(tg *, int)) {
  for (int s = 0; s < N_BSHAPES; s++) {
    int a = tg_input(t, at, bshapes[s].ra, bshapes[s].a);
    int b = tg_input(t, bt, bshapes[s].rb, bshapes[s].b);
    int n = tg_node2(t, op, a, b);
    if (attrs) attrs(t, n);
  }
}

static void set_fmod(tg *t, int n) { ir_set_int(t->g, n, "fmod", 1); }

START_TEST(test_binary_arith) {
  const ir_op ops[] = {IR_OP_ADD, IR_OP_SUB, IR_OP_MUL, IR_OP_DIV, IR_OP_MAX, IR_OP_MIN, IR_OP_MOD};
  for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
    tg t = tg_new(ir_op_name(ops[o]));
    for (int ti = 0; ti < 7; ti++) {
      ir_dtype dt = all_types[ti];
      int isf = ir_dtype_is_float(dt);
      binary_cases(&t, ops[o], dt, dt, ops[o] == IR_OP_MOD && isf ? set_fmod : NULL);
      if (ops[o] == IR_OP_MOD && !isf) binary_cases(&t, ops[o], dt, dt, set_fmod);
    }
    tg_check(&t, 0, 0); /* + - * / max min fmod are exact in the element type */
  }
}
END_TEST

START_TEST(test_binary_pow) {
  tg t = tg_new("pow");
  const ir_dtype bases[] = {IR_F32, IR_F64, IR_I32, IR_I64};
  const ir_dtype exps[] = {IR_F32, IR_F64, IR_I64, IR_I32, IR_I8, IR_U8};
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 6; b++)
      for (int s = 0; s < N_BSHAPES; s += 2) {
        int x = ir_dtype_is_float(bases[a])
                    ? tg_input(&t, bases[a], bshapes[s].ra, bshapes[s].a)
                    : tg_input_range(&t, bases[a], bshapes[s].ra, bshapes[s].a, -6, 6);
        int e = ir_dtype_is_float(exps[b])
                    ? tg_input(&t, exps[b], bshapes[s].rb, bshapes[s].b)
                    : tg_input_range(&t, exps[b], bshapes[s].rb, bshapes[s].b, -3, 70);
        tg_node2(&t, IR_OP_POW, x, e);
      }
  /* any exponent bits: wrapping square-and-multiply */
  tg_node2(&t, IR_OP_POW, tg_input(&t, IR_I64, 1, D(41)), tg_input(&t, IR_I64, 1, D(41)));
  tg_check(&t, 0, 0); /* computed in double with libm's pow, like the interpreter */
}
END_TEST

START_TEST(test_binary_compare_logic) {
  const ir_op cmp[] = {IR_OP_EQUAL, IR_OP_LESS, IR_OP_LESS_EQUAL, IR_OP_GREATER,
                       IR_OP_GREATER_EQUAL};
  for (int o = 0; o < 5; o++) {
    tg t = tg_new(ir_op_name(cmp[o]));
    for (int ti = 0; ti < (cmp[o] == IR_OP_EQUAL ? 8 : 7); ti++)
      binary_cases(&t, cmp[o], all_types[ti], all_types[ti], NULL);
    tg_check(&t, 0, 0);
  }
  tg t = tg_new("logic");
  binary_cases(&t, IR_OP_AND, IR_BOOL, IR_BOOL, NULL);
  binary_cases(&t, IR_OP_OR, IR_BOOL, IR_BOOL, NULL);
  binary_cases(&t, IR_OP_XOR, IR_BOOL, IR_BOOL, NULL);
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_prelu) {
  tg t = tg_new("prelu");
  const ir_dtype types[] = {IR_F32, IR_F64, IR_I32, IR_I64};
  for (int ti = 0; ti < 4; ti++) {
    tg_node2(&t, IR_OP_PRELU, tg_input(&t, types[ti], 3, D(2, 3, 17)),
             tg_input(&t, types[ti], 1, D(17)));
    tg_node2(&t, IR_OP_PRELU, tg_input(&t, types[ti], 2, D(4, 9)),
             tg_input(&t, types[ti], 2, D(4, 1)));
    tg_node2(&t, IR_OP_PRELU, tg_input(&t, types[ti], 1, D(7)), tg_input(&t, types[ti], 0, D(0)));
    tg_node2(&t, IR_OP_PRELU, tg_input(&t, types[ti], 0, D(0)), tg_input(&t, types[ti], 0, D(0)));
  }
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_where) {
  tg t = tg_new("where");
  for (int ti = 0; ti < 8; ti++)
    for (int s = 0; s < N_BSHAPES; s++) {
      int c = tg_input(&t, IR_BOOL, bshapes[s].ra, bshapes[s].a);
      int x = tg_input(&t, all_types[ti], bshapes[s].rb, bshapes[s].b);
      int y = tg_input(&t, all_types[ti], 1, D(1));
      int in[3] = {c, x, y};
      tg_node(&t, IR_OP_WHERE, in, 3, 1);
    }
  tg_check(&t, 0, 0);
}
END_TEST

/* ---- data movement ----------------------------------------------------------------------- */

START_TEST(test_shape_ops) {
  tg t = tg_new("shape_ops");
  for (int ti = 0; ti < 8; ti++) {
    ir_dtype dt = all_types[ti];
    int x = tg_input(&t, dt, 3, D(2, 3, 4));
    int n = tg_node1(&t, IR_OP_RESHAPE, x);
    ir_set_ints(t.g, n, "shape", D(4, -1), 2);
    n = tg_node1(&t, IR_OP_FLATTEN, x);
    ir_set_int(t.g, n, "axis", 2);
    int y = tg_input(&t, dt, 3, D(1, 5, 1));
    tg_node1(&t, IR_OP_SQUEEZE, y);
    n = tg_node1(&t, IR_OP_UNSQUEEZE, tg_input(&t, dt, 0, D(0)));
    ir_set_ints(t.g, n, "axes", D(0, 1), 2);
    /* transpose: default (reversed) and explicit perms */
    tg_node1(&t, IR_OP_TRANSPOSE, x);
    n = tg_node1(&t, IR_OP_TRANSPOSE, tg_input(&t, dt, 4, D(2, 3, 5, 7)));
    ir_set_ints(t.g, n, "perm", D(0, 2, 3, 1), 4);
    n = tg_node1(&t, IR_OP_TRANSPOSE, tg_input(&t, dt, 2, D(67, 3)));
    ir_set_ints(t.g, n, "perm", D(1, 0), 2);
    tg_node1(&t, IR_OP_TRANSPOSE, tg_input(&t, dt, 0, D(0)));
    /* expand */
    n = tg_node1(&t, IR_OP_EXPAND, tg_input(&t, dt, 2, D(3, 1)));
    ir_set_ints(t.g, n, "shape", D(2, 1, 5), 3);
    n = tg_node1(&t, IR_OP_EXPAND, tg_input(&t, dt, 0, D(0)));
    ir_set_ints(t.g, n, "shape", D(9), 1);
    /* tile */
    n = tg_node1(&t, IR_OP_TILE, tg_input(&t, dt, 2, D(2, 3)));
    ir_set_ints(t.g, n, "repeats", D(3, 2), 2);
    n = tg_node1(&t, IR_OP_TILE, tg_input(&t, dt, 1, D(5)));
    ir_set_ints(t.g, n, "repeats", D(0), 1);
  }
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_concat_split_slice) {
  tg t = tg_new("concat_split_slice");
  for (int ti = 0; ti < 8; ti += 3) {
    ir_dtype dt = all_types[ti];
    int a = tg_input(&t, dt, 3, D(2, 3, 4)), b = tg_input(&t, dt, 3, D(2, 1, 4)),
        c = tg_input(&t, dt, 3, D(2, 5, 4));
    int in[3] = {a, b, c};
    int n = tg_node(&t, IR_OP_CONCAT, in, 3, 1);
    ir_set_int(t.g, n, "axis", 1);
    int in2[2] = {a, a};
    n = tg_node(&t, IR_OP_CONCAT, in2, 2, 1);
    ir_set_int(t.g, n, "axis", -1);
    int v = tg_input(&t, dt, 1, D(7)), w = tg_input(&t, dt, 1, D(0));
    int in3[2] = {v, w};
    n = tg_node(&t, IR_OP_CONCAT, in3, 2, 1);
    ir_set_int(t.g, n, "axis", 0);
    /* split: sizes, equal parts, num_outputs with a short last part */
    n = tg_node(&t, IR_OP_SPLIT, &c, 1, 3);
    ir_set_int(t.g, n, "axis", 1);
    ir_set_ints(t.g, n, "split", D(1, 3, 1), 3);
    n = tg_node(&t, IR_OP_SPLIT, &a, 1, 2);
    ir_set_int(t.g, n, "axis", 2);
    int x = tg_input(&t, dt, 1, D(7));
    n = tg_node(&t, IR_OP_SPLIT, &x, 1, 3);
    ir_set_int(t.g, n, "num_outputs", 3);
    /* slice: steps, negative steps, clamping, omitted axes */
    int s = tg_input(&t, dt, 3, D(5, 6, 7));
    n = tg_node1(&t, IR_OP_SLICE, s);
    ir_set_ints(t.g, n, "starts", D(1, -1), 2);
    ir_set_ints(t.g, n, "ends", D(100, -100), 2);
    ir_set_ints(t.g, n, "axes", D(0, 2), 2);
    ir_set_ints(t.g, n, "steps", D(2, -3), 2);
    n = tg_node1(&t, IR_OP_SLICE, s);
    ir_set_ints(t.g, n, "starts", D(0, 2), 2);
    ir_set_ints(t.g, n, "ends", D(3, 5), 2);
    n = tg_node1(&t, IR_OP_SLICE, s);
    ir_set_ints(t.g, n, "starts", D(4), 1);
    ir_set_ints(t.g, n, "ends", D(2), 1);
    ir_set_ints(t.g, n, "axes", D(1), 1); /* empty */
  }
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_gather_family) {
  tg t = tg_new("gather");
  const ir_dtype idx_types[] = {IR_I64, IR_I32, IR_I8};
  for (int ti = 0; ti < 8; ti += 2) {
    ir_dtype dt = all_types[ti];
    int x = tg_input(&t, dt, 3, D(4, 5, 6));
    for (int it = 0; it < 3; it++) {
      /* gather along each axis with negative indices */
      for (int axis = 0; axis < 3; axis++) {
        int64_t dim = axis == 0 ? 4 : axis == 1 ? 5 : 6;
        int ind = tg_const(&t, idx_types[it], 2, D(2, 3), NULL, (double)-dim, (double)(dim - 1));
        int n = tg_node2(&t, IR_OP_GATHER, x, ind);
        ir_set_int(t.g, n, "axis", axis);
      }
      int ind0 = tg_const(&t, idx_types[it], 0, D(0), TH_VALS(-2), 0, 0);
      tg_node2(&t, IR_OP_GATHER, x, ind0);
    }
    /* gather_elements: indices smaller than data off the axis */
    int ge = tg_const(&t, IR_I64, 3, D(3, 5, 2), NULL, -5, 4);
    int n = tg_node2(&t, IR_OP_GATHER_ELEMENTS, x, ge);
    ir_set_int(t.g, n, "axis", 1);
    /* gather_nd: plain and with batch dims */
    int nd = tg_const(&t, IR_I64, 2, D(3, 2), TH_VALS(0, 1, 3, -1, -4, 4), 0, 0);
    tg_node2(&t, IR_OP_GATHER_ND, x, nd);
    int nb = tg_const(&t, IR_I32, 3, D(4, 2, 1), TH_VALS(0, 4, 1, 2, -1, 3, 0, 0), 0, 0);
    n = tg_node2(&t, IR_OP_GATHER_ND, x, nb);
    ir_set_int(t.g, n, "batch_dims", 1);
  }
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_pad_modes) {
  tg t = tg_new("pad");
  const char *modes[] = {"constant", "reflect", "edge", "wrap"};
  for (int ti = 0; ti < 8; ti += 1) {
    ir_dtype dt = all_types[ti];
    int x = tg_input(&t, dt, 3, D(2, 4, 5));
    for (int m = 0; m < 4; m++) {
      int n = tg_node1(&t, IR_OP_PAD, x);
      ir_set_string(t.g, n, "mode", modes[m]);
      ir_set_ints(t.g, n, "pads", D(0, 2, 3, 1, 0, 2), 6);
      if (m == 0) ir_set_float(t.g, n, "value", 2.5);
      n = tg_node1(&t, IR_OP_PAD, x); /* negative pads crop; axes */
      ir_set_string(t.g, n, "mode", modes[m]);
      ir_set_ints(t.g, n, "pads", D(-1, 3, 1, -2), 4);
      ir_set_ints(t.g, n, "axes", D(1, 2), 2);
    }
  }
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_block_trilu_onehot) {
  tg t = tg_new("block");
  for (int ti = 0; ti < 8; ti += 1) {
    ir_dtype dt = all_types[ti];
    int x = tg_input(&t, dt, 4, D(2, 8, 3, 5));
    int n = tg_node1(&t, IR_OP_DEPTH_TO_SPACE, x);
    ir_set_int(t.g, n, "blocksize", 2);
    n = tg_node1(&t, IR_OP_DEPTH_TO_SPACE, x);
    ir_set_int(t.g, n, "blocksize", 2);
    ir_set_string(t.g, n, "mode", "CRD");
    n = tg_node1(&t, IR_OP_SPACE_TO_DEPTH, tg_input(&t, dt, 4, D(1, 3, 6, 9)));
    ir_set_int(t.g, n, "blocksize", 3);
    int m = tg_input(&t, dt, 3, D(2, 5, 7));
    for (int kk = -2; kk <= 3; kk += 5) {
      n = tg_node1(&t, IR_OP_TRILU, m);
      ir_set_int(t.g, n, "k", kk);
      n = tg_node1(&t, IR_OP_TRILU, m);
      ir_set_int(t.g, n, "k", kk);
      ir_set_int(t.g, n, "upper", 0);
    }
    if (dt == IR_BOOL) continue;
    /* one_hot: values of this dtype; indices with out-of-range ones */
    int vals = tg_input(&t, dt, 1, D(2));
    int ind = tg_input_range(&t, IR_I64, 2, D(3, 4), -7, 7);
    int in[3] = {ind, -1, vals};
    n = tg_node(&t, IR_OP_ONE_HOT, in, 3, 1);
    ir_set_int(t.g, n, "depth", 5);
    n = tg_node(&t, IR_OP_ONE_HOT, in, 3, 1);
    ir_set_int(t.g, n, "depth", 6);
    ir_set_int(t.g, n, "axis", 0);
  }
  tg_check(&t, 0, 0);
}
END_TEST

START_TEST(test_resize) {
  tg t = tg_new("resize");
  const char *coords[] = {"half_pixel",    "half_pixel_symmetric", "pytorch_half_pixel",
                          "align_corners", "asymmetric",           "tf_half_pixel_for_nearest"};
  const char *rounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  int x = tg_input(&t, IR_F32, 4, D(1, 2, 4, 5));
  int xi = tg_input(&t, IR_I32, 4, D(1, 2, 4, 5));
  for (int c = 0; c < 6; c++) {
    for (int r = 0; r < 4; r++) {
      int n = tg_node1(&t, IR_OP_RESIZE, r % 2 ? xi : x);
      ir_set_string(t.g, n, "coordinate_transformation_mode", coords[c]);
      ir_set_string(t.g, n, "nearest_mode", rounds[r]);
      ir_set_floats(t.g, n, "scales", (const double[]){1, 1, 2.0, 0.6}, 4);
    }
    for (int m = 1; m < 3; m++) {
      if (c == 5) continue; /* tf_half_pixel_for_nearest: nearest only */
      for (int excl = 0; excl < 2; excl++) {
        int n = tg_node1(&t, IR_OP_RESIZE, excl ? xi : x);
        ir_set_string(t.g, n, "coordinate_transformation_mode", coords[c]);
        ir_set_string(t.g, n, "mode", m == 1 ? "linear" : "cubic");
        ir_set_int(t.g, n, "exclude_outside", excl);
        ir_set_ints(t.g, n, "sizes", D(1, 2, 7, 3), 4);
      }
    }
  }
  tg_check(&t, 1e-5, 1e-5); /* taps in double like the interpreter; f32 rounding once */
}
END_TEST

/* ---- reductions -------------------------------------------------------------------------- */

static const ir_op reduce_ops[] = {
    IR_OP_REDUCE_SUM,     IR_OP_REDUCE_MEAN,       IR_OP_REDUCE_MAX, IR_OP_REDUCE_MIN,
    IR_OP_REDUCE_PROD,    IR_OP_REDUCE_L1,         IR_OP_REDUCE_L2,  IR_OP_REDUCE_SUM_SQUARE,
    IR_OP_REDUCE_LOG_SUM, IR_OP_REDUCE_LOG_SUM_EXP};

/* Reductions accumulate in double in the interpreter's order: exact. */
static void check_exact(tg *t) {
  check_opts co = {.rtol = 0, .atol = 0, .f64_same = 1};
  tg_check_opts(t, &co);
}

START_TEST(test_reduce) {
  for (size_t o = 0; o < sizeof reduce_ops / sizeof reduce_ops[0]; o++) {
    ir_op op = reduce_ops[o];
    tg t = tg_new(ir_op_name(op));
    for (int ti = 0; ti < 8; ti++) {
      ir_dtype dt = all_types[ti];
      if (dt == IR_BOOL && op != IR_OP_REDUCE_MAX && op != IR_OP_REDUCE_MIN) continue;
      int x = tg_input(&t, dt, 3, D(2, 3, 5));
      int n = tg_node1(&t, op, x); /* all axes, keepdims */
      n = tg_node1(&t, op, x);
      ir_set_ints(t.g, n, "axes", D(1), 1);
      n = tg_node1(&t, op, x);
      ir_set_ints(t.g, n, "axes", D(0, -1), 2);
      ir_set_int(t.g, n, "keepdims", 0);
      n = tg_node1(&t, op, x);
      ir_set_ints(t.g, n, "axes", D(2), 1);
      n = tg_node1(&t, op, x);
      ir_set_int(t.g, n, "noop_with_empty_axes", 1);
      n = tg_node1(&t, op, tg_input(&t, dt, 1, D(67)));
      ir_set_int(t.g, n, "keepdims", 0);
      tg_node1(&t, op, tg_input(&t, dt, 0, D(0)));
      /* an empty reduced axis: the identity of the reduction */
      n = tg_node1(&t, op, tg_input(&t, dt, 3, D(2, 0, 3)));
      ir_set_ints(t.g, n, "axes", D(1), 1);
    }
    check_exact(&t);
  }
}
END_TEST

START_TEST(test_arg_cumsum) {
  tg t = tg_new("arg_cumsum");
  for (int ti = 0; ti < 8; ti++) {
    ir_dtype dt = all_types[ti];
    /* few distinct values so ties are common */
    int x = ir_dtype_is_float(dt) ? tg_input(&t, dt, 3, D(3, 4, 5))
                                  : tg_input_range(&t, dt, 3, D(3, 4, 5), 0, 1);
    for (int axis = -1; axis < 3; axis++)
      for (int last = 0; last < 2; last++) {
        int n = tg_node1(&t, axis % 2 ? IR_OP_ARGMAX : IR_OP_ARGMIN, x);
        ir_set_int(t.g, n, "axis", axis);
        ir_set_int(t.g, n, "select_last_index", last);
        ir_set_int(t.g, n, "keepdims", axis != 1);
        n = tg_node1(&t, axis % 2 ? IR_OP_ARGMIN : IR_OP_ARGMAX, x);
        ir_set_int(t.g, n, "axis", axis);
        ir_set_int(t.g, n, "select_last_index", last);
      }
    if (dt == IR_BOOL) continue;
    for (int axis = 0; axis < 3; axis++)
      for (int fl = 0; fl < 4; fl++) {
        int n = tg_node1(&t, IR_OP_CUMSUM, x);
        ir_set_int(t.g, n, "axis", axis);
        ir_set_int(t.g, n, "exclusive", fl & 1);
        ir_set_int(t.g, n, "reverse", fl >> 1);
      }
    int n = tg_node1(&t, IR_OP_CUMSUM, tg_input(&t, dt, 1, D(67)));
    ir_set_int(t.g, n, "axis", 0);
  }
  check_exact(&t);
}
END_TEST

START_TEST(test_softmax_norms) {
  tg t = tg_new("softmax_norms");
  for (int f = 0; f < 2; f++) {
    ir_dtype dt = float_types[f];
    int x = tg_input_range(&t, dt, 3, D(2, 3, 17), -4, 4);
    int xs = tg_input(&t, dt, 2, D(3, 6)); /* with NaN and infinities */
    const ir_op sm[] = {IR_OP_SOFTMAX, IR_OP_LOG_SOFTMAX, IR_OP_HARDMAX};
    for (int o = 0; o < 3; o++)
      for (int axis = -1; axis < 3; axis++) {
        int n = tg_node1(&t, sm[o], x);
        ir_set_int(t.g, n, "axis", axis);
        if (axis < 2) ir_set_int(t.g, tg_node1(&t, sm[o], xs), "axis", axis);
      }
    for (int p = 1; p <= 2; p++)
      for (int axis = 0; axis < 3; axis++) {
        int n = tg_node1(&t, IR_OP_LP_NORMALIZATION, x);
        ir_set_int(t.g, n, "axis", axis);
        ir_set_int(t.g, n, "p", p);
      }
    /* layer_norm: scale/bias broadcast to the normalised dims, optional
     * outputs; rms_norm */
    int sc = tg_input(&t, dt, 2, D(3, 17)), bi = tg_input(&t, dt, 1, D(17));
    int in[3] = {x, sc, bi};
    int n = tg_node(&t, IR_OP_LAYER_NORM, in, 3, 3);
    ir_set_int(t.g, n, "axis", 1);
    int in2[2] = {x, bi};
    tg_node(&t, IR_OP_LAYER_NORM, in2, 2, 1);
    n = tg_node(&t, IR_OP_RMS_NORM, in2, 2, 1);
    int in3[2] = {x, tg_input(&t, dt, 2, D(3, 1))};
    n = tg_node(&t, IR_OP_RMS_NORM, in3, 2, 1);
    ir_set_int(t.g, n, "axis", 1);
    ir_set_float(t.g, n, "epsilon", 0.125);
    /* batch_norm of rank 1, 2, 4 */
    const int64_t bshape[3][4] = {{5}, {4, 3}, {2, 3, 4, 5}};
    const int branks[3] = {1, 2, 4};
    for (int b = 0; b < 3; b++) {
      int64_t c = branks[b] == 1 ? 1 : bshape[b][1];
      int bin[5] = {tg_input_range(&t, dt, branks[b], bshape[b], -3, 3),
                    tg_input_range(&t, dt, 1, D(c), -2, 2), tg_input_range(&t, dt, 1, D(c), -2, 2),
                    tg_input_range(&t, dt, 1, D(c), -1, 1), tg_input_range(&t, dt, 1, D(c), 0, 2)};
      tg_node(&t, IR_OP_BATCH_NORM, bin, 5, 1);
    }
    /* instance_norm, group_norm */
    int xg = tg_input_range(&t, dt, 4, D(2, 6, 3, 5), -3, 3);
    int gin[3] = {xg, tg_input(&t, dt, 1, D(6)), tg_input(&t, dt, 1, D(6))};
    tg_node(&t, IR_OP_INSTANCE_NORM, gin, 3, 1);
    n = tg_node(&t, IR_OP_GROUP_NORM, gin, 3, 1);
    ir_set_int(t.g, n, "num_groups", 3);
    n = tg_node(&t, IR_OP_GROUP_NORM, gin, 3, 1);
    ir_set_int(t.g, n, "num_groups", 1);
  }
  check_exact(&t);
}
END_TEST

/* ---- contractions ------------------------------------------------------------------------ */

static void mm_case(tg *t, ir_dtype dt, int ra, const int64_t *a, int rb, const int64_t *b) {
  int x, y;
  if (ir_dtype_is_float(dt)) {
    x = tg_input_range(t, dt, ra, a, -1, 1);
    y = tg_input_range(t, dt, rb, b, -1, 1);
  } else {
    x = tg_input(t, dt, ra, a);
    y = tg_input(t, dt, rb, b);
  }
  tg_node2(t, IR_OP_MATMUL, x, y);
}

START_TEST(test_matmul) {
  const ir_dtype types[] = {IR_F32, IR_F64, IR_I32, IR_I64};
  for (int ti = 0; ti < 4; ti++) {
    tg t = tg_new("matmul");
    ir_dtype dt = types[ti];
    mm_case(&t, dt, 2, D(3, 4), 2, D(4, 5));
    mm_case(&t, dt, 2, D(1, 33), 2, D(33, 67));
    mm_case(&t, dt, 1, D(7), 2, D(7, 3));
    mm_case(&t, dt, 2, D(3, 7), 1, D(7));
    mm_case(&t, dt, 1, D(7), 1, D(7));
    mm_case(&t, dt, 3, D(2, 3, 4), 2, D(4, 5));
    mm_case(&t, dt, 4, D(2, 1, 3, 4), 3, D(3, 4, 6));
    mm_case(&t, dt, 2, D(5, 0), 2, D(0, 3)); /* K = 0: zeros */
    mm_case(&t, dt, 2, D(17, 130), 2, D(130, 19));
    /* f32 accumulates in f32: atol K * 2^-20 for |a|, |b| <= 1 */
    check_opts co = {.rtol = 1e-5, .atol = 130 * 0x1p-20};
    if (dt == IR_F64) co.rtol = co.atol = 1e-12, co.f64_same = 1;
    if (!ir_dtype_is_float(dt)) co.rtol = co.atol = 0; /* integers wrap exactly */
    tg_check_opts(&t, &co);
  }
}
END_TEST

static void conv_case(tg *t, ir_dtype dt, int rank, const int64_t *x, const int64_t *w, int bias,
                      int64_t group, const int64_t *strides, const int64_t *dil,
                      const int64_t *pads, int transpose, const int64_t *out_pad) {
  int nsp = rank - 2;
  int in[3] = {tg_input_range(t, dt, rank, x, -1, 1), tg_input_range(t, dt, rank, w, -1, 1),
               bias ? tg_input_range(t, dt, 1, D(transpose ? w[1] * group : w[0]), -1, 1) : -1};
  int n = tg_node(t, transpose ? IR_OP_CONV_TRANSPOSE : IR_OP_CONV, in, bias ? 3 : 2, 1);
  ir_set_int(t->g, n, "group", group);
  if (strides) ir_set_ints(t->g, n, "strides", strides, nsp);
  if (dil) ir_set_ints(t->g, n, "dilations", dil, nsp);
  if (pads) ir_set_ints(t->g, n, "pads", pads, 2 * nsp);
  if (out_pad) ir_set_ints(t->g, n, "output_padding", out_pad, nsp);
}

START_TEST(test_conv) {
  for (int f = 0; f < 2; f++) {
    ir_dtype dt = float_types[f];
    tg t = tg_new("conv");
    conv_case(&t, dt, 4, D(2, 3, 7, 6), D(4, 3, 3, 3), 1, 1, NULL, NULL, NULL, 0, NULL);
    conv_case(&t, dt, 4, D(1, 4, 9, 8), D(6, 2, 3, 2), 0, 2, D(2, 1), D(1, 2), D(1, 0, 2, 1), 0,
              NULL);
    conv_case(&t, dt, 3, D(2, 3, 17), D(3, 1, 5), 1, 3, D(3), NULL, D(2, 4), 0, NULL);
    conv_case(&t, dt, 5, D(1, 2, 4, 5, 3), D(2, 2, 2, 3, 2), 1, 1, D(1, 2, 1), NULL,
              D(0, 1, 1, 1, 0, 0), 0, NULL);
    conv_case(&t, dt, 4, D(1, 2, 3, 3), D(2, 2, 5, 5), 1, 1, NULL, NULL, D(2, 2, 2, 2), 0, NULL);
    /* conv_transpose: w [C, M/group, k...] */
    conv_case(&t, dt, 4, D(2, 3, 4, 5), D(3, 2, 3, 3), 1, 1, NULL, NULL, NULL, 1, NULL);
    conv_case(&t, dt, 4, D(1, 4, 3, 4), D(4, 3, 3, 2), 1, 2, D(2, 3), D(1, 2), D(1, 0, 0, 1), 1,
              D(1, 2));
    conv_case(&t, dt, 3, D(2, 2, 7), D(2, 1, 4), 0, 1, D(2), NULL, D(1, 1), 1, NULL);
    check_opts co = {.rtol = 1e-5, .atol = 100 * 0x1p-20};
    tg_check_opts(&t, &co);
  }
}
END_TEST

/* ---- the GEMM core (codegen/cpu/kernels_gemm.c): tiling edges, pre-packed constants,
 * conv lowerings, threads ---------------------------------------------------------------------- */

/* matmul with either operand a constant (pre-packed at compile time). */
static void mm_case_c(tg *t, ir_dtype dt, int ra, const int64_t *a, int rb, const int64_t *b,
                      int const_a, int const_b) {
  int x = const_a ? tg_const(t, dt, ra, a, NULL, -1, 1) : tg_input_range(t, dt, ra, a, -1, 1);
  int y = const_b ? tg_const(t, dt, rb, b, NULL, -1, 1) : tg_input_range(t, dt, rb, b, -1, 1);
  tg_node2(t, IR_OP_MATMUL, x, y);
}

START_TEST(test_gemm_matmul) {
  for (int f = 0; f < 2; f++) {
    ir_dtype dt = float_types[f];
    tg t = tg_new("gemm_matmul");
    /* M, N, K around the micro-tile (14 x 32 for AVX-512 f32, 6 x 16 AVX2) and vector width */
    mm_case_c(&t, dt, 2, D(1, 1), 2, D(1, 1), 0, 0);
    mm_case_c(&t, dt, 2, D(1, 1), 2, D(1, 1), 0, 1);
    mm_case_c(&t, dt, 2, D(14, 1), 2, D(1, 32), 0, 1);
    mm_case_c(&t, dt, 2, D(15, 7), 2, D(7, 33), 0, 0);
    mm_case_c(&t, dt, 2, D(13, 7), 2, D(7, 31), 1, 0);
    mm_case_c(&t, dt, 2, D(6, 2), 2, D(2, 17), 0, 1);
    mm_case_c(&t, dt, 2, D(29, 300), 2, D(300, 17), 0, 1);
    mm_case_c(&t, dt, 2, D(3, 700), 2, D(700, 70), 0, 0); /* several K blocks */
    mm_case_c(&t, dt, 2, D(3, 700), 2, D(700, 70), 0, 1);
    mm_case_c(&t, dt, 2, D(17, 650), 2, D(650, 5), 1, 0);
    mm_case_c(&t, dt, 2, D(1, 64), 2, D(64, 1000), 0, 1); /* a linear layer, batch 1 */
    mm_case_c(&t, dt, 2, D(64, 48), 2, D(48, 96), 0, 0);  /* split into tasks */
    mm_case_c(&t, dt, 2, D(100, 96), 2, D(96, 100), 0, 1);
    mm_case_c(&t, dt, 2, D(300, 50), 2, D(50, 20), 0, 0);   /* B packed once, shared */
    mm_case_c(&t, dt, 2, D(200, 400), 2, D(400, 40), 1, 0); /* the same, K blocks */
    /* batches, broadcasting, 1-D operands */
    mm_case_c(&t, dt, 4, D(2, 3, 17, 9), 3, D(3, 9, 20), 0, 0);
    mm_case_c(&t, dt, 4, D(2, 3, 17, 9), 3, D(3, 9, 20), 0, 1);
    mm_case_c(&t, dt, 4, D(4, 1, 5, 6), 4, D(1, 3, 6, 7), 0, 0);
    mm_case_c(&t, dt, 3, D(2, 5, 6), 2, D(6, 40), 1, 0);
    mm_case_c(&t, dt, 3, D(3, 16, 24), 3, D(3, 24, 16), 0, 0); /* attention-like */
    mm_case_c(&t, dt, 1, D(7), 2, D(7, 40), 0, 1);
    mm_case_c(&t, dt, 2, D(3, 40), 1, D(40), 0, 1);
    mm_case_c(&t, dt, 1, D(40), 1, D(40), 1, 0);
    check_opts co = {.rtol = 1e-5, .atol = 700 * 0x1p-20, .threads = 1};
    if (dt == IR_F64) co.rtol = co.atol = 1e-12, co.f64_same = 1;
    tg_check_opts(&t, &co);
  }
}
END_TEST

/* conv with constant (pre-packed) or input weights */
static void conv_case_c(tg *t, ir_dtype dt, int rank, const int64_t *x, const int64_t *w, int bias,
                        int64_t group, const int64_t *strides, const int64_t *dil,
                        const int64_t *pads, int const_w) {
  int nsp = rank - 2;
  int in[3] = {tg_input_range(t, dt, rank, x, -1, 1),
               const_w ? tg_const(t, dt, rank, w, NULL, -1, 1) : tg_input_range(t, dt, rank, w, -1, 1),
               bias ? tg_const(t, dt, 1, D(w[0]), NULL, -1, 1) : -1};
  int n = tg_node(t, IR_OP_CONV, in, bias ? 3 : 2, 1);
  ir_set_int(t->g, n, "group", group);
  if (strides) ir_set_ints(t->g, n, "strides", strides, nsp);
  if (dil) ir_set_ints(t->g, n, "dilations", dil, nsp);
  if (pads) ir_set_ints(t->g, n, "pads", pads, 2 * nsp);
}

START_TEST(test_gemm_conv) {
  for (int f = 0; f < 2; f++) {
    ir_dtype dt = float_types[f];
    tg t = tg_new("gemm_conv");
    /* 1x1: a plain GEMM over x (unit strides, no pads), and through im2col */
    conv_case_c(&t, dt, 4, D(1, 16, 9, 9), D(24, 16, 1, 1), 1, 1, NULL, NULL, NULL, 1);
    conv_case_c(&t, dt, 4, D(2, 16, 9, 9), D(15, 16, 1, 1), 0, 1, NULL, NULL, NULL, 0);
    conv_case_c(&t, dt, 4, D(1, 8, 9, 9), D(12, 8, 1, 1), 1, 1, D(2, 2), NULL, NULL, 1);
    conv_case_c(&t, dt, 4, D(1, 8, 6, 6), D(3, 8, 1, 1), 0, 1, NULL, NULL, D(1, 0, 0, 1), 1);
    /* 3x3 with padding: rows shorter than a panel (segments), tiny rows (lanes) */
    conv_case_c(&t, dt, 4, D(2, 5, 13, 11), D(7, 5, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 4, 7, 7), D(9, 4, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 3, 40, 37), D(15, 3, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 2, 3, 2), D(1, 2, 3, 3), 0, 1, NULL, NULL, D(2, 2, 2, 2), 0);
    /* strides, dilations, asymmetric pads */
    conv_case_c(&t, dt, 4, D(1, 3, 20, 18), D(6, 3, 3, 3), 1, 1, D(2, 1), D(2, 2), D(1, 2, 0, 1),
                1);
    conv_case_c(&t, dt, 4, D(1, 3, 23, 21), D(8, 3, 7, 7), 1, 1, D(2, 2), NULL, D(3, 3, 3, 3), 1);
    /* groups, depthwise (with a depth multiplier), several K blocks */
    conv_case_c(&t, dt, 4, D(1, 8, 10, 12), D(6, 4, 3, 3), 1, 2, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(2, 6, 11, 19), D(6, 1, 3, 3), 1, 6, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 3, 8, 9), D(6, 1, 3, 3), 0, 3, D(2, 2), NULL, D(0, 1, 1, 0), 0);
    conv_case_c(&t, dt, 4, D(1, 1, 9, 40), D(5, 1, 5, 5), 1, 1, NULL, D(1, 2), D(2, 4, 2, 4), 1);
    conv_case_c(&t, dt, 4, D(1, 40, 12, 12), D(16, 40, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 40, 12, 12), D(16, 40, 3, 3), 0, 1, D(2, 2), NULL, NULL, 0);
    conv_case_c(&t, dt, 4, D(1, 32, 28, 28), D(32, 32, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    /* small images, many output channels: B packed once, shared by the tasks */
    conv_case_c(&t, dt, 4, D(1, 8, 5, 5), D(64, 8, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 64, 7, 7), D(128, 64, 3, 3), 1, 1, NULL, NULL, D(1, 1, 1, 1), 1);
    conv_case_c(&t, dt, 4, D(1, 16, 9, 9), D(48, 16, 3, 3), 0, 1, D(2, 2), NULL, D(1, 1, 1, 1), 0);
    conv_case_c(&t, dt, 4, D(1, 24, 7, 7), D(100, 24, 1, 1), 1, 1, NULL, NULL, NULL, 1);
    /* 1-D and 3-D */
    conv_case_c(&t, dt, 3, D(2, 3, 40), D(5, 3, 4), 1, 1, D(3), NULL, D(2, 1), 1);
    conv_case_c(&t, dt, 3, D(1, 4, 30), D(4, 1, 5), 1, 4, NULL, D(2), D(4, 4), 1);
    conv_case_c(&t, dt, 3, D(1, 16, 50), D(20, 16, 1), 1, 1, NULL, NULL, NULL, 1);
    conv_case_c(&t, dt, 5, D(1, 2, 5, 6, 7), D(4, 2, 3, 2, 3), 1, 1, D(1, 2, 1), NULL,
                D(1, 0, 1, 1, 1, 0), 1);
    conv_case_c(&t, dt, 5, D(1, 3, 4, 5, 6), D(3, 1, 3, 3, 3), 1, 3, NULL, NULL,
                D(1, 1, 1, 1, 1, 1), 0);
    check_opts co = {.rtol = 1e-5, .atol = 400 * 0x1p-20, .threads = 1};
    if (dt == IR_F64) co.rtol = co.atol = 1e-12, co.f64_same = 1;
    tg_check_opts(&t, &co);
  }
}
END_TEST

/* vectorised max_pool (one output) and avg_pool: the interpreter's results bit for bit
 * (NaNs and infinities in the inputs) */
START_TEST(test_gemm_pool) {
  for (int f = 0; f < 2; f++) {
    ir_dtype dt = float_types[f];
    tg t = tg_new("vec_pool");
    int x = tg_input(&t, dt, 4, D(2, 3, 19, 37));
    int x1 = tg_input(&t, dt, 3, D(2, 3, 41));
    int x3 = tg_input(&t, dt, 5, D(1, 2, 5, 6, 18));
    for (int op = 0; op < 2; op++) {
      ir_op o = op ? IR_OP_AVG_POOL : IR_OP_MAX_POOL;
      for (int cip = 0; cip < 1 + op; cip++) {
        int n = tg_node1(&t, o, x);
        ir_set_ints(t.g, n, "kernel_shape", D(3, 3), 2);
        ir_set_ints(t.g, n, "strides", D(2, 2), 2);
        ir_set_ints(t.g, n, "pads", D(1, 1, 1, 1), 4);
        if (op) ir_set_int(t.g, n, "count_include_pad", cip);
        n = tg_node1(&t, o, x);
        ir_set_ints(t.g, n, "kernel_shape", D(2, 3), 2);
        ir_set_ints(t.g, n, "dilations", D(2, 2), 2);
        ir_set_ints(t.g, n, "pads", D(0, 1, 1, 2), 4);
        ir_set_int(t.g, n, "ceil_mode", 1);
        if (op) ir_set_int(t.g, n, "count_include_pad", cip);
        n = tg_node1(&t, o, x);
        ir_set_ints(t.g, n, "kernel_shape", D(3, 2), 2);
        ir_set_ints(t.g, n, "strides", D(1, 3), 2);
        if (op) ir_set_int(t.g, n, "count_include_pad", cip);
        n = tg_node1(&t, o, x1);
        ir_set_ints(t.g, n, "kernel_shape", D(5), 1);
        ir_set_ints(t.g, n, "pads", D(2, 2), 2);
        if (op) ir_set_int(t.g, n, "count_include_pad", cip);
        n = tg_node1(&t, o, x3);
        ir_set_ints(t.g, n, "kernel_shape", D(2, 3, 3), 3);
        ir_set_ints(t.g, n, "strides", D(1, 2, 2), 3);
        ir_set_ints(t.g, n, "pads", D(1, 0, 1, 0, 1, 1), 6);
        if (op) ir_set_int(t.g, n, "count_include_pad", cip);
      }
    }
    check_opts co = {.rtol = 0, .atol = 0, .f64_same = 1, .threads = 1};
    tg_check_opts(&t, &co);
  }
}
END_TEST

START_TEST(test_pool) {
  tg t = tg_new("pool");
  for (int ti = 0; ti < 7; ti++) {
    ir_dtype dt = all_types[ti];
    int isf = ir_dtype_is_float(dt);
    int x = tg_input(&t, dt, 4, D(2, 3, 7, 6));
    int n = tg_node(&t, IR_OP_MAX_POOL, &x, 1, 2);
    ir_set_ints(t.g, n, "kernel_shape", D(3, 2), 2);
    ir_set_ints(t.g, n, "strides", D(2, 2), 2);
    ir_set_ints(t.g, n, "pads", D(1, 0, 1, 1), 4);
    ir_set_int(t.g, n, "ceil_mode", 1);
    n = tg_node(&t, IR_OP_MAX_POOL, &x, 1, 2);
    ir_set_ints(t.g, n, "kernel_shape", D(2, 3), 2);
    ir_set_ints(t.g, n, "dilations", D(2, 1), 2);
    ir_set_int(t.g, n, "storage_order", 1);
    if (!isf) continue;
    int x1 = tg_input(&t, dt, 3, D(2, 3, 17));
    for (int cip = 0; cip < 2; cip++) {
      n = tg_node1(&t, IR_OP_AVG_POOL, x);
      ir_set_ints(t.g, n, "kernel_shape", D(3, 3), 2);
      ir_set_ints(t.g, n, "pads", D(1, 1, 2, 1), 4);
      ir_set_ints(t.g, n, "strides", D(2, 1), 2);
      ir_set_int(t.g, n, "count_include_pad", cip);
      ir_set_int(t.g, n, "ceil_mode", 1);
      n = tg_node1(&t, IR_OP_AVG_POOL, x1);
      ir_set_ints(t.g, n, "kernel_shape", D(4), 1);
      ir_set_ints(t.g, n, "pads", D(2, 1), 2);
      ir_set_int(t.g, n, "count_include_pad", cip);
    }
    for (int p = 1; p <= 3; p++) {
      n = tg_node1(&t, IR_OP_LP_POOL, x);
      ir_set_ints(t.g, n, "kernel_shape", D(2, 2), 2);
      ir_set_ints(t.g, n, "pads", D(1, 1, 1, 1), 4);
      ir_set_int(t.g, n, "p", p);
    }
    tg_node1(&t, IR_OP_GLOBAL_AVG_POOL, x);
    tg_node1(&t, IR_OP_GLOBAL_MAX_POOL, x);
    tg_node1(&t, IR_OP_GLOBAL_LP_POOL, x);
    n = tg_node1(&t, IR_OP_GLOBAL_LP_POOL, x1);
    ir_set_int(t.g, n, "p", 3);
    tg_node1(&t, IR_OP_GLOBAL_MAX_POOL, tg_input(&t, dt, 2, D(3, 4)));
    n = tg_node1(&t, IR_OP_LRN, tg_input(&t, dt, 4, D(2, 5, 3, 2)));
    ir_set_int(t.g, n, "size", 3);
    n = tg_node1(&t, IR_OP_LRN, x1);
    ir_set_int(t.g, n, "size", 4);
    ir_set_float(t.g, n, "alpha", 0.5);
    ir_set_float(t.g, n, "beta", 0.25);
  }
  /* f64 accumulation in the interpreter's order; LLVM may turn pow(s, 1/p)
   * with a constant p into sqrt (p = 2), an ulp away from libm's pow */
  check_opts co = {.rtol = 0x1p-23, .atol = 1e-300};
  tg_check_opts(&t, &co);
}
END_TEST

/* range, shape, size and constant_of_shape are evaluated at compile time */
START_TEST(test_static_ops) {
  tg t = tg_new("static");
  int x = tg_input(&t, IR_F32, 3, D(2, 3, 5));
  tg_node1(&t, IR_OP_SHAPE, x);
  int n = tg_node1(&t, IR_OP_SHAPE, x);
  ir_set_int(t.g, n, "start", 1);
  tg_node1(&t, IR_OP_SIZE, x);
  n = tg_node(&t, IR_OP_RANGE, NULL, 0, 1);
  ir_set_float(t.g, n, "start", 1.5);
  ir_set_float(t.g, n, "limit", 9.0);
  ir_set_float(t.g, n, "delta", 0.75);
  n = tg_node(&t, IR_OP_RANGE, NULL, 0, 1);
  ir_set_float(t.g, n, "start", 10);
  ir_set_float(t.g, n, "limit", -3);
  ir_set_float(t.g, n, "delta", -2);
  ir_set_int(t.g, n, "dtype", IR_I32);
  n = tg_node(&t, IR_OP_CONSTANT_OF_SHAPE, NULL, 0, 1);
  ir_set_ints(t.g, n, "shape", D(3, 4), 2);
  ir_tensor v = th_tensor(IR_I64, 1, D(1), TH_VALS(-7));
  ir_set_tensor(t.g, n, "value", &v);
  ir_tensor_release(&v);
  /* a static output feeding a kernel */
  n = tg_node1(&t, IR_OP_SIZE, x);
  int s = out_of(t.g, n, 0);
  tg_node2(&t, IR_OP_ADD, s, s);
  tg_check(&t, 0, 0);
}
END_TEST

/* ---- artifacts --------------------------------------------------------------------------- */

static ir_graph *load_example(const char *path) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_file(path, &d);
  ck_assert_msg(g != NULL, "%s", d.msg);
  pass_pipeline p;
  ck_assert(pass_pipeline_for_level(2, &p) == 0);
  ck_assert_msg(pass_run(g, &p, NULL, &d) == 0, "%s", d.msg);
  return g;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
  b[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return b;
}

static int compile_to(const ir_graph *g, cg_emit_kind kind, const char *file, cg_options *o,
                      kiln_diag *d) {
  tmp_init();
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tmp_dir, file);
  o->emit = kind;
  o->out = path;
  return cg_compile(g, o, d);
}

/* The same model compiled twice gives byte-identical files, for every kind. */
START_TEST(test_reproducible) {
  ir_graph *g = load_example("examples/mlp.kir");
  const cg_emit_kind kinds[] = {CG_EMIT_SO,  CG_EMIT_OBJ,  CG_EMIT_LIB,
                                CG_EMIT_ASM, CG_EMIT_LLVM, CG_EMIT_HEADER};
  const char *files[] = {"libr.so", "r.o", "libr.a", "r.s", "r.ll", "r.h"};
  for (int i = 0; i < 6; i++) {
    char *bytes[2];
    size_t len[2];
    for (int rep = 0; rep < 2; rep++) {
      kiln_diag d;
      kiln_diag_init(&d);
      cg_options o;
      cg_options_init(&o);
      o.weights = i == 1 ? CG_WEIGHTS_FILE : CG_WEIGHTS_EMBED;
      ck_assert_msg(compile_to(g, kinds[i], files[i], &o, &d) == 0, "%s", d.msg);
      char path[512];
      snprintf(path, sizeof path, "%s/%s", tmp_dir, files[i]);
      bytes[rep] = read_all(path, &len[rep]);
      unlink(path);
    }
    ck_assert_msg(len[0] == len[1] && !memcmp(bytes[0], bytes[1], len[0]),
                  "%s differs between two compiles", files[i]);
    free(bytes[0]);
    free(bytes[1]);
  }
  ir_graph_free(g);
}
END_TEST

/* --emit=obj for AArch64 works without a cross toolchain: an ELF64 object
 * for EM_AARCH64 (183); other CPUs of the host architecture compile too. */
START_TEST(test_cross_targets) {
  ir_graph *g = load_example("examples/cnn.kir");
  kiln_diag d;
  kiln_diag_init(&d);
  cg_options o;
  cg_options_init(&o);
  o.triple = "aarch64-linux-gnu";
  ck_assert_msg(compile_to(g, CG_EMIT_OBJ, "a64.o", &o, &d) == 0, "%s", d.msg);
  char path[512];
  snprintf(path, sizeof path, "%s/a64.o", tmp_dir);
  size_t n;
  unsigned char *b = (unsigned char *)read_all(path, &n);
  ck_assert(n > 64 && !memcmp(b, "\177ELF", 4));
  ck_assert_int_eq(b[4], 2);                   /* ELFCLASS64 */
  ck_assert_int_eq(b[5], 1);                   /* little-endian */
  ck_assert_int_eq(b[16] | (b[17] << 8), 1);   /* ET_REL */
  ck_assert_int_eq(b[18] | (b[19] << 8), 183); /* EM_AARCH64 */
  free(b);
  ck_assert_msg(compile_to(g, CG_EMIT_ASM, "a64.s", &o, &d) == 0, "%s", d.msg);
  o.cpu = "cortex-a76";
  ck_assert_msg(compile_to(g, CG_EMIT_LIB, "liba64.a", &o, &d) == 0, "%s", d.msg);
  cg_options_init(&o);
  o.triple = "x86_64-linux-gnu";
  const char *cpus[] = {"generic", "x86-64-v3", "znver3"};
  for (int i = 0; i < 3; i++) {
    o.cpu = cpus[i];
    ck_assert_msg(compile_to(g, CG_EMIT_OBJ, "x.o", &o, &d) == 0, "%s: %s", cpus[i], d.msg);
  }
  ir_graph_free(g);
}
END_TEST

/* Options and graphs codegen refuses, with a status and a message. */
START_TEST(test_errors) {
  ir_graph *g = load_example("examples/mlp.kir");
  kiln_diag d;
  cg_options o;
  struct {
    const char *triple, *cpu, *name, *cc;
    int status;
    const char *msg;
  } cases[] = {
      {"aarch64-linux-gnu", "native", NULL, NULL, KILN_E_USAGE, "native"},
      {"nonsense-vendor-os", NULL, NULL, NULL, KILN_E_USAGE, "unknown target"},
      {NULL, NULL, "1bad", NULL, KILN_E_USAGE, "C identifier"},
      {NULL, NULL, NULL, "/nonexistent/cc", KILN_E_IO, "cannot run"},
      {NULL, "bogus", NULL, NULL, KILN_E_USAGE, "unknown CPU"},
      {"aarch64-linux-gnu", "znver3", NULL, NULL, KILN_E_USAGE, "unknown CPU"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kiln_diag_init(&d);
    cg_options_init(&o);
    o.triple = cases[i].triple;
    o.cpu = cases[i].cpu;
    o.name = cases[i].name;
    o.cc = cases[i].cc;
    ck_assert_int_eq(compile_to(g, CG_EMIT_SO, "e.so", &o, &d), cases[i].status);
    ck_assert_msg(strstr(d.msg, cases[i].msg), "case %zu: %s", i, d.msg);
  }
  kiln_diag_init(&d);
  cg_options_init(&o);
  o.features = "+nosuchfeature";
  ck_assert_int_eq(compile_to(g, CG_EMIT_OBJ, "e.o", &o, &d), KILN_E_USAGE);
  ck_assert_msg(strstr(d.msg, "nosuchfeature"), "%s", d.msg);
  ir_graph_free(g);
  /* a dtype codegen does not support: named in the message */
  tg t = tg_new("f16");
  int nr = tg_node1(&t, IR_OP_RELU, tg_input(&t, IR_F16, 1, D(4)));
  *ir_out_type(t.g, &t.g->nodes[nr], 0) = mk_type(IR_F16, 1, D(4)); /* typed by hand */
  kiln_diag_init(&d);
  cg_options_init(&o);
  ck_assert_int_eq(compile_to(t.g, CG_EMIT_OBJ, "f16.o", &o, &d), KILN_E_UNSUPPORTED);
  ck_assert_msg(strstr(d.msg, "f16"), "%s", d.msg);
  ir_graph_free(t.g);
}
END_TEST

/* Outputs that are inputs, constants or repeated are copied; names of the
 * typed entry's parameters are C identifiers; the header carries the ABI
 * block of include/kiln_artifact.h verbatim. */
START_TEST(test_outputs_and_header) {
  tg t = tg_new("io");
  ir_type ty = mk_type(IR_F32, 2, D(2, 3));
  t.n = 2;
  int x = ir_add_input(t.g, "input.1", &ty);
  int z = ir_add_input(t.g, "2x", &ty);
  int c = tg_const(&t, IR_F32, 2, D(2, 3), NULL, -1, 1);
  int na = ir_node_new(t.g, IR_OP_ADD, "add", (int[]){x, z}, 2, 1, NULL);
  int y = out_of(t.g, na, 0);
  ir_add_output(t.g, y);
  ir_add_output(t.g, x);
  ir_add_output(t.g, c);
  ir_add_output(t.g, y);
  tg_check(&t, 0, 0);

  ir_graph *g = ir_graph_new("hdr");
  g->source = "test";
  x = ir_add_input(g, "input.1", &ty);
  z = ir_add_input(g, "int", &ty);
  na = ir_node_new(g, IR_OP_ADD, "add", (int[]){x, z}, 2, 1, (const char *[]){"out/0"});
  ir_add_output(g, out_of(g, na, 0));
  kiln_diag d;
  kiln_diag_init(&d);
  pass_pipeline p;
  pass_pipeline_parse("infer-shapes", &p, &d);
  ck_assert(pass_run(g, &p, NULL, &d) == 0);
  cg_options o;
  cg_options_init(&o);
  o.name = "hdr";
  ck_assert_msg(compile_to(g, CG_EMIT_HEADER, "hdr.h", &o, &d) == 0, "%s", d.msg);
  char path[512];
  snprintf(path, sizeof path, "%s/hdr.h", tmp_dir);
  size_t n, m;
  char *h = read_all(path, &n), *abi = read_all("include/kiln_artifact.h", &m);
  ck_assert_msg(strstr(h, "int hdr_run(const float *input_1, const float *int_, float *out_0);"),
                "%s", h);
  char *b = strstr(abi, "/* ABI-BEGIN */"), *e = strstr(abi, "/* ABI-END */");
  ck_assert(b && e);
  e[strlen("/* ABI-END */")] = 0;
  ck_assert_msg(strstr(h, b), "NAME.h does not carry include/kiln_artifact.h's ABI block");
  free(h);
  free(abi);
  ir_graph_free(g);
}
END_TEST

/* Statuses at run time: an index out of range, missing or foreign weights,
 * misaligned workspace and weights; explicit weights through run_packed_w. */
START_TEST(test_run_statuses) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = ir_graph_new("st");
  g->source = "test";
  ir_type xt = mk_type(IR_F32, 2, D(4, 3)), it = mk_type(IR_I64, 1, D(2));
  int x = ir_add_input(g, "x", &xt), idx = ir_add_input(g, "idx", &it);
  float wv[12];
  for (int i = 0; i < 12; i++) wv[i] = (float)i;
  int w = ir_add_const(g, "w", &xt, wv);
  int na = ir_node_new(g, IR_OP_ADD, "add", (int[]){x, w}, 2, 1, NULL);
  int ng = ir_node_new(g, IR_OP_GATHER, "g", (int[]){out_of(g, na, 0), idx}, 2, 1, NULL);
  ir_add_output(g, out_of(g, ng, 0));
  pass_pipeline p;
  pass_pipeline_parse("infer-shapes", &p, &d);
  ck_assert(pass_run(g, &p, NULL, &d) == 0);
  cg_options o;
  cg_options_init(&o);
  o.name = "st";
  o.weights = CG_WEIGHTS_FILE;
  o.no_header = 1;
  ck_assert_msg(compile_to(g, CG_EMIT_SO, "st.so", &o, &d) == 0, "%s", d.msg);
  char so[512], wpath[512];
  snprintf(so, sizeof so, "%s/st.so", tmp_dir);
  snprintf(wpath, sizeof wpath, "%s/st.weights", tmp_dir);
  cg_loaded a;
  ck_assert_msg(cg_load(so, "st", &a, &d) == 0, "%s", d.msg);
  ck_assert(a.set_weights != NULL && a.meta->weights_mode == KILN_ARTIFACT_WEIGHTS_FILE);
  ck_assert_int_eq(a.meta->workspace_size % KILN_ARTIFACT_ALIGN, 0);
  float xv[12] = {0}, y[6];
  int64_t iv[2] = {-1, 2};
  void *ins[2] = {xv, iv}, *outs[1] = {y};
  ck_assert_int_eq(a.run_packed(ins, outs, NULL), KILN_ARTIFACT_E_NO_WEIGHTS);
  size_t n;
  char *file = read_all(wpath, &n);
  unsigned char *img = aligned_alloc(64, (n + 63) / 64 * 64);
  memcpy(img, file, n);
  ck_assert_int_eq(a.set_weights(img, n - 1), KILN_ARTIFACT_E_WEIGHTS);
  ck_assert_int_eq(a.set_weights(img, n), 0);
  ck_assert_int_eq(a.run_packed(ins, outs, NULL), 0);
  ck_assert(y[0] == 9 && y[2] == 11 && y[3] == 6 && y[5] == 8);
  /* an index out of range stops the run */
  iv[1] = 4;
  ck_assert_int_eq(a.run_packed(ins, outs, NULL), KILN_ARTIFACT_E_INDEX);
  iv[1] = -4;
  ck_assert_int_eq(a.run_packed(ins, outs, NULL), 0);
  /* explicit weights: aligned data accepted, misaligned refused */
  unsigned char *data = img + KILN_ARTIFACT_WEIGHTS_HEADER;
  ck_assert_int_eq(a.run_packed_w(ins, outs, NULL, data), 0);
  ck_assert_int_eq(a.run_packed_w(ins, outs, NULL, data + 4), KILN_ARTIFACT_E_ALIGN);
  /* caller workspace: aligned accepted, misaligned refused */
  unsigned char *ws = aligned_alloc(64, a.meta->workspace_size + 64);
  ck_assert_int_eq(a.run_packed(ins, outs, ws), 0);
  if (a.meta->workspace_size > 0)
    ck_assert_int_eq(a.run_packed(ins, outs, ws + 8), KILN_ARTIFACT_E_ALIGN);
  free(ws);
  cg_unload(&a);
  free(img);
  free(file);
  ir_graph_free(g);
}
END_TEST

/* The example models through the public API: -O2, compile, run, compare. */
START_TEST(test_examples_api) {
  const char *models[] = {"examples/mlp.kir", "examples/cnn.kir", "examples/attention.kir"};
  for (int i = 0; i < 3; i++) {
    kiln_diag d;
    kiln_diag_init(&d);
    kiln_model *m;
    ck_assert_msg(kiln_model_load(models[i], NULL, &m, &d) == 0, "%s", d.msg);
    kiln_pipeline_options po;
    kiln_pipeline_options_init(&po);
    ck_assert_msg(kiln_model_optimize(m, &po, &d) == 0, "%s", d.msg);
    int ni = kiln_model_num_inputs(m), no = kiln_model_num_outputs(m);
    kiln_tensor in[8], want[8], got[8];
    ck_assert(ni <= 8 && no <= 8);
    for (int k = 0; k < ni; k++) {
      kiln_value_info vi;
      kiln_model_input(m, k, &vi);
      memset(&in[k], 0, sizeof in[k]);
      in[k].dtype = vi.dtype;
      in[k].rank = vi.rank;
      memcpy(in[k].dims, vi.dims, sizeof vi.dims);
      ck_assert(kiln_tensor_random(&in[k], (uint64_t)k + 1, &d) == 0);
    }
    ck_assert_msg(kiln_model_interpret(m, in, want, &d) == 0, "%s", d.msg);
    ck_assert_msg(kiln_model_run_compiled(m, NULL, in, got, &d) == 0, "%s: %s", models[i], d.msg);
    for (int j = 0; j < no; j++) {
      for (int64_t e = 0; e < kiln_tensor_numel(&want[j]); e++)
        ck_assert_msg(elem_close((ir_dtype)want[j].dtype, got[j].data, want[j].data, e, 1e-4, 1e-5),
                      "%s: output %d element %lld", models[i], j, (long long)e);
      kiln_tensor_free(&want[j]);
      kiln_tensor_free(&got[j]);
    }
    for (int k = 0; k < ni; k++) kiln_tensor_free(&in[k]);
    kiln_model_free(m);
  }
}
END_TEST

/* -O0 and -O1 LLVM pipelines produce the same results. */
START_TEST(test_opt_levels) {
  for (int lvl = 0; lvl < 2; lvl++) {
    tg t = tg_new("levels");
    int x = tg_input(&t, IR_F32, 3, D(2, 3, 17));
    int b = tg_input(&t, IR_F32, 1, D(17));
    int na = tg_node2(&t, IR_OP_ADD, x, b);
    int s = out_of(t.g, na, 0);
    int n = tg_node1(&t, IR_OP_REDUCE_SUM, s);
    ir_set_ints(t.g, n, "axes", D(1), 1);
    n = tg_node1(&t, IR_OP_SOFTMAX, s);
    check_opts co = {.rtol = 0, .atol = 0, .f64_same = 1, .opt_level = lvl ? 1 : -1};
    tg_check_opts(&t, &co);
  }
}
END_TEST

Suite *codegen_suite(void) {
  Suite *s = suite_create("codegen");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_unary_float);
  tcase_add_test(tc, test_unary_int);
  tcase_add_test(tc, test_unary_f32_inline_math);
  tcase_add_test(tc, test_not);
  tcase_add_test(tc, test_cast);
  tcase_add_test(tc, test_binary_arith);
  tcase_add_test(tc, test_binary_pow);
  tcase_add_test(tc, test_binary_compare_logic);
  tcase_add_test(tc, test_prelu);
  tcase_add_test(tc, test_where);
  tcase_add_test(tc, test_shape_ops);
  tcase_add_test(tc, test_concat_split_slice);
  tcase_add_test(tc, test_gather_family);
  tcase_add_test(tc, test_pad_modes);
  tcase_add_test(tc, test_block_trilu_onehot);
  tcase_add_test(tc, test_resize);
  tcase_add_test(tc, test_reduce);
  tcase_add_test(tc, test_arg_cumsum);
  tcase_add_test(tc, test_softmax_norms);
  tcase_add_test(tc, test_matmul);
  tcase_add_test(tc, test_conv);
  tcase_add_test(tc, test_pool);
  tcase_add_test(tc, test_static_ops);
  suite_add_tcase(s, tc);
  TCase *tm = tcase_create("gemm");
  tcase_set_timeout(tm, 300);
  tcase_add_test(tm, test_gemm_matmul);
  tcase_add_test(tm, test_gemm_conv);
  tcase_add_test(tm, test_gemm_pool);
  suite_add_tcase(s, tm);
  TCase *ta = tcase_create("artifact");
  tcase_set_timeout(ta, 300);
  tcase_add_test(ta, test_reproducible);
  tcase_add_test(ta, test_cross_targets);
  tcase_add_test(ta, test_errors);
  tcase_add_test(ta, test_outputs_and_header);
  tcase_add_test(ta, test_run_statuses);
  tcase_add_test(ta, test_examples_api);
  tcase_add_test(ta, test_opt_levels);
  suite_add_tcase(s, ta);
  return s;
}

TH_MAIN(codegen_suite)

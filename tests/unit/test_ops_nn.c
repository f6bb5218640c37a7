/* Unit tests for the contraction, pooling and LRN ops (ir/ops_nn.c):
 * hand-computed cases, PyTorch/NumPy references (tests/data/ops/nn/, made
 * by gen.py there), canonicalisation of auto_pad/output_shape, and errors for
 * bad shapes and attributes. */
#include <math.h>
#include <string.h>

#include "harness.h"

#define NN_DIR "tests/data/ops/nn/"

static ir_tensor npy(const char *name) {
  char path[256];
  snprintf(path, sizeof path, NN_DIR "%s.npy", name);
  return th_load_npy(path);
}

/* npy("<base>_<suffix>") */
static ir_tensor npy2(const char *base, const char *suffix) {
  char name[128];
  snprintf(name, sizeof name, "%s_%s", base, suffix);
  return npy(name);
}

/* A zero tensor of the given dtype and dims (for error cases, where only the
 * type matters). */
#define T(dt, ...) \
  th_tensor(dt, (int)(sizeof(TH_DIMS(__VA_ARGS__)) / sizeof(int64_t)), TH_DIMS(__VA_ARGS__), NULL)
/* A tensor with values. */
#define TV(dt, dims, vals) \
  th_tensor(dt, (int)(sizeof(dims) / sizeof(int64_t)), dims, vals)

/* ---- attributes: th_check takes a plain function, so the attributes to set
 * are staged here first (use_attrs), then applied by apply_attrs. ---------- */
typedef struct {
  const char *name;
  char kind; /* 'i' int, 'I' ints, 's' string, 'f' float */
  int n;
  int64_t v[12];
  const char *s;
  double f;
} attr_spec;

#define NARGS64(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define AI(nm, val) {.name = nm, .kind = 'i', .n = 1, .v = {val}}
#define AIS(nm, ...) {.name = nm, .kind = 'I', .n = NARGS64(__VA_ARGS__), .v = {__VA_ARGS__}}
#define AS(nm, str) {.name = nm, .kind = 's', .s = str}
#define AF(nm, val) {.name = nm, .kind = 'f', .f = val}

static attr_spec staged[16];
static int n_staged;

/* Stages a {0}-terminated list of attributes (NULL: none). */
static void use_attrs(const attr_spec *a) {
  n_staged = 0;
  for (; a && a->name; a++) {
    ck_assert(n_staged < 16);
    staged[n_staged++] = *a;
  }
}
#define ATTRS(...) use_attrs((const attr_spec[]){__VA_ARGS__, {0}})
#define NO_ATTRS() use_attrs(NULL)

static void apply_attrs(ir_graph *g, int node) {
  for (int i = 0; i < n_staged; i++) {
    const attr_spec *a = &staged[i];
    switch (a->kind) {
    case 'i': ir_set_int(g, node, a->name, a->v[0]); break;
    case 'I': ir_set_ints(g, node, a->name, a->v, a->n); break;
    case 's': ir_set_string(g, node, a->name, a->s); break;
    case 'f': ir_set_float(g, node, a->name, a->f); break;
    default: ck_abort();
    }
  }
}

/* Runs a node with the staged attributes; outs[0..n_out) receive outputs. */
static void run_node(const char *op, int n_in, ir_tensor *ins, unsigned const_mask, int n_out,
                     ir_tensor *outs) {
  const ir_tensor *p[8];
  for (int i = 0; i < n_in; i++) p[i] = &ins[i];
  th_case c = th_node(op, n_in, p, const_mask, n_out);
  apply_attrs(c.g, c.node);
  kiln_diag d;
  kiln_diag_init(&d);
  int rc = th_run(&c, outs, &d);
  ck_assert_msg(rc == 0, "%s failed: %s", op, d.msg);
  th_free(&c);
}

/* Builds the node (inputs of the given types, staged attributes) and checks
 * that it fails with a message containing `want`. Frees the inputs. */
static void expect_error_impl(const char *op, int n_in, ir_tensor *ins, int n_out,
                              const char *want, int line) {
  const ir_tensor *p[8];
  for (int i = 0; i < n_in; i++) p[i] = &ins[i];
  th_case c = th_node(op, n_in, p, 0, n_out);
  apply_attrs(c.g, c.node);
  th_expect_node_error_impl(&c, want, __FILE__, line);
  th_free(&c);
  for (int i = 0; i < n_in; i++) ir_tensor_release(&ins[i]);
}
#define expect_error(op, n_in, ins, want) expect_error_impl(op, n_in, ins, 1, want, __LINE__)

/* Checks a node against npy references: inputs <base>_<in_names[i]>, output
 * <base>_<out_name>. */
static void check_npy_impl(const char *op, const char *base, const char *const *in_names,
                           int n_in, unsigned const_mask, const char *out_name, double tol,
                           int line) {
  ir_tensor ins[4];
  for (int i = 0; i < n_in; i++) ins[i] = npy2(base, in_names[i]);
  ir_tensor want = npy2(base, out_name);
  th_check_impl(op, n_in, ins, const_mask, apply_attrs, &want, tol, tol, __FILE__, line);
  ir_tensor_release(&want);
}
#define NAMES(...) ((const char *const[]){__VA_ARGS__})
#define check_npy(op, base, names, const_mask, out_name, tol)                                \
  check_npy_impl(op, base, names, (int)(sizeof(names) / sizeof(names[0])), const_mask, out_name, \
                 tol, __LINE__)

#define TOL32 2e-6
#define TOL64 1e-12

/* ======================================================================== */
/* matmul                                                                   */
/* ======================================================================== */

START_TEST(test_matmul_hand) {
  NO_ATTRS();
  /* [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] (i64) */
  ir_tensor ins[2] = {TV(IR_I64, TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6)),
                      TV(IR_I64, TH_DIMS(3, 2), TH_VALS(7, 8, 9, 10, 11, 12))};
  ir_tensor want = TV(IR_I64, TH_DIMS(2, 2), TH_VALS(58, 64, 139, 154));
  th_check("matmul", 2, ins, 0, NULL, &want, 0, 0);
  ir_tensor_release(&want);
  /* 1-D x 2-D: [1,2] x [[1,2,3],[4,5,6]] = [9,12,15] (the prepended 1 removed) */
  ir_tensor ins2[2] = {TV(IR_F32, TH_DIMS(2), TH_VALS(1, 2)),
                       TV(IR_F32, TH_DIMS(2, 3), TH_VALS(1, 2, 3, 4, 5, 6))};
  want = TV(IR_F32, TH_DIMS(3), TH_VALS(9, 12, 15));
  th_check("matmul", 2, ins2, 0x2, NULL, &want, 0, 0);
  ir_tensor_release(&want);
  /* i32 wraps like NumPy: 65536*65536 + 1*5 = 2^32 + 5 -> 5 */
  ir_tensor ins3[2] = {TV(IR_I32, TH_DIMS(2), TH_VALS(65536, 1)),
                       TV(IR_I32, TH_DIMS(2), TH_VALS(65536, 5))};
  want = th_tensor(IR_I32, 0, NULL, TH_VALS(5));
  th_check("matmul", 2, ins3, 0, NULL, &want, 0, 0);
  ir_tensor_release(&want);
  /* K = 0: an empty sum is 0 */
  ir_tensor ins4[2] = {T(IR_F32, 2, 0), T(IR_F32, 0, 3)};
  want = T(IR_F32, 2, 3);
  th_check("matmul", 2, ins4, 0, NULL, &want, 0, 0);
  ir_tensor_release(&want);
}
END_TEST

START_TEST(test_matmul_ref) {
  NO_ATTRS();
  check_npy("matmul", "mm_bcast", NAMES("a", "b"), 0, "y", TOL32);
  check_npy("matmul", "mm_1d_left", NAMES("a", "b"), 0x2, "y", TOL32);
  check_npy("matmul", "mm_1d_right", NAMES("a", "b"), 0, "y", TOL32);
  check_npy("matmul", "mm_1d_1d", NAMES("a", "b"), 0, "y", TOL32);
  check_npy("matmul", "mm_f64", NAMES("a", "b"), 0, "y", TOL64);
}
END_TEST

START_TEST(test_matmul_errors) {
  NO_ATTRS();
  ir_tensor a[2] = {T(IR_F32, 2, 3), T(IR_F32, 4, 2)};
  expect_error("matmul", 2, a, "inner dims 3 and 4 differ");
  ir_tensor b[2] = {T(IR_F32, 2, 2, 3), T(IR_F32, 3, 3, 2)};
  expect_error("matmul", 2, b, "do not broadcast");
  ir_tensor c[2] = {th_tensor(IR_F32, 0, NULL, NULL), T(IR_F32, 3)};
  expect_error("matmul", 2, c, "rank 1 or more");
  ir_tensor e[2] = {T(IR_F32, 2, 3), T(IR_F64, 3, 2)};
  expect_error("matmul", 2, e, "dtype");
  ir_tensor f[2] = {T(IR_I8, 2, 3), T(IR_I8, 3, 2)};
  expect_error("matmul", 2, f, "dtype i8");
}
END_TEST

/* ======================================================================== */
/* conv                                                                     */
/* ======================================================================== */

START_TEST(test_conv_hand) {
  /* x = 1..9 as [1,1,3,3]; w = [[1,0],[0,-1]]: y = x[i,j] - x[i+1,j+1] = -4,
   * plus bias 0.5 */
  NO_ATTRS();
  ir_tensor ins[3] = {TV(IR_F32, TH_DIMS(1, 1, 3, 3), TH_VALS(1, 2, 3, 4, 5, 6, 7, 8, 9)),
                      TV(IR_F32, TH_DIMS(1, 1, 2, 2), TH_VALS(1, 0, 0, -1)),
                      TV(IR_F32, TH_DIMS(1), TH_VALS(0.5))};
  ir_tensor want = TV(IR_F32, TH_DIMS(1, 1, 2, 2), TH_VALS(-3.5, -3.5, -3.5, -3.5));
  th_check("conv", 3, ins, 0x6, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* pads 1, stride 2, w = ones 2x2: windows rows/cols {-1,0} and {1,2}:
   * [x00, x01+x02, x10+x20, x11+x12+x21+x22] = [1, 5, 11, 28] */
  ATTRS(AIS("pads", 1, 1, 1, 1), AIS("strides", 2, 2));
  ir_tensor ins2[2] = {TV(IR_F32, TH_DIMS(1, 1, 3, 3), TH_VALS(1, 2, 3, 4, 5, 6, 7, 8, 9)),
                       TV(IR_F32, TH_DIMS(1, 1, 2, 2), TH_VALS(1, 1, 1, 1))};
  want = TV(IR_F32, TH_DIMS(1, 1, 2, 2), TH_VALS(1, 5, 11, 28));
  th_check("conv", 2, ins2, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* an empty batch is fine */
  NO_ATTRS();
  ir_tensor ins3[2] = {T(IR_F32, 0, 2, 4), T(IR_F32, 3, 2, 2)};
  want = T(IR_F32, 0, 3, 3);
  th_check("conv", 2, ins3, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
}
END_TEST

START_TEST(test_conv_ref) {
  ATTRS(AI("group", 2), AIS("strides", 2), AIS("pads", 1, 2), AIS("dilations", 2));
  check_npy("conv", "conv1d", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AIS("strides", 2, 1), AIS("pads", 1, 0, 2, 1), AIS("dilations", 1, 2),
        AIS("kernel_shape", 3, 2));
  check_npy("conv", "conv2d", NAMES("x", "w", "b"), 0, "y", TOL32);
  ATTRS(AI("group", 4), AIS("pads", 1, 1, 1, 1));
  check_npy("conv", "conv2d_dw", NAMES("x", "w"), 0x2, "y", TOL32);
  ATTRS(AI("group", 2), AIS("strides", 1, 2, 1), AIS("pads", 0, 1, 1, 1, 0, 1),
        AIS("dilations", 2, 1, 1));
  check_npy("conv", "conv3d", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AIS("strides", 1, 2), AIS("pads", 0, 1, 1, 0));
  check_npy("conv", "conv2d_f64", NAMES("x", "w", "b"), 0x6, "y", TOL64);
  ATTRS(AS("auto_pad", "SAME_LOWER"), AIS("strides", 2, 2));
  check_npy("conv", "conv2d_same_lower", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AS("auto_pad", "SAME_UPPER"), AIS("dilations", 1, 2));
  check_npy("conv", "conv2d_same_upper", NAMES("x", "w", "b"), 0x6, "y", TOL32);
}
END_TEST

/* Infers a one-node graph twice (the second time on the canonical form) and
 * returns the case for inspection; *out_type gets output 0's type. */
static th_case infer_twice(const char *op, int n_in, ir_tensor *ins, int n_out,
                           ir_type *out_type) {
  const ir_tensor *p[8];
  for (int i = 0; i < n_in; i++) p[i] = &ins[i];
  th_case c = th_node(op, n_in, p, 0, n_out);
  apply_attrs(c.g, c.node);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_infer_shapes(c.g, &d) == 0, "%s", d.msg);
  ir_type first = c.g->values[c.g->nodes[c.node].out[0]].type;
  ck_assert_msg(ir_infer_shapes(c.g, &d) == 0, "%s", d.msg);
  ck_assert(ir_type_equal(&first, &c.g->values[c.g->nodes[c.node].out[0]].type));
  ck_assert_msg(ir_verify(c.g, 1, &d) == 0, "%s", d.msg);
  *out_type = first;
  for (int i = 0; i < n_in; i++) ir_tensor_release(&ins[i]);
  return c;
}

static void assert_ints(const ir_node *n, const char *name, int cnt, const int64_t *want) {
  const ir_attr *a = ir_attr_find(n, name);
  ck_assert_msg(a && a->kind == IR_ATTR_INTS, "attribute %s missing", name);
  ck_assert_int_eq(a->n, cnt);
  for (int i = 0; i < cnt; i++) ck_assert_int_eq(a->ints[i], want[i]);
}

START_TEST(test_canonical_form) {
  ir_type t;
  char buf[128];
  /* conv SAME_LOWER -> explicit pads [2, 1, 1, 0], no auto_pad */
  ATTRS(AS("auto_pad", "SAME_LOWER"), AIS("strides", 2, 2));
  ir_tensor a[2] = {T(IR_F32, 1, 2, 7, 8), T(IR_F32, 3, 2, 4, 3)};
  th_case c = infer_twice("conv", 2, a, 1, &t);
  ck_assert_str_eq(ir_type_str(&t, buf, sizeof buf), "f32[1,3,4,4]");
  const ir_node *n = &c.g->nodes[c.node];
  ck_assert(!ir_attr_has(n, "auto_pad"));
  assert_ints(n, "pads", 4, TH_DIMS(2, 1, 1, 0));
  th_free(&c);
  /* conv VALID -> pads 0 */
  ATTRS(AS("auto_pad", "VALID"), AIS("strides", 2, 3));
  ir_tensor b[2] = {T(IR_F32, 1, 1, 7, 8), T(IR_F32, 1, 1, 2, 2)};
  c = infer_twice("conv", 2, b, 1, &t);
  ck_assert_str_eq(ir_type_str(&t, buf, sizeof buf), "f32[1,1,3,3]");
  assert_ints(&c.g->nodes[c.node], "pads", 4, TH_DIMS(0, 0, 0, 0));
  th_free(&c);
  /* conv_transpose output_shape [10, 8] beyond the full 9 x 7 result:
   * zero pads and output_padding [1, 1]; output_shape dropped */
  ATTRS(AIS("output_shape", 10, 8), AIS("strides", 3, 2));
  ir_tensor e[2] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 2, 3, 3)};
  c = infer_twice("conv_transpose", 2, e, 1, &t);
  ck_assert_str_eq(ir_type_str(&t, buf, sizeof buf), "f32[1,2,10,8]");
  n = &c.g->nodes[c.node];
  ck_assert(!ir_attr_has(n, "output_shape"));
  assert_ints(n, "pads", 4, TH_DIMS(0, 0, 0, 0));
  assert_ints(n, "output_padding", 2, TH_DIMS(1, 1));
  th_free(&c);
  /* max_pool SAME_UPPER with ceil_mode: ceil_mode is dropped with auto_pad;
   * in 5, stride 3, kernel 1: out 2, SAME pad (1*3 + 1 - 5 < 0) clamped to 0 */
  ATTRS(AS("auto_pad", "SAME_UPPER"), AI("ceil_mode", 1), AIS("kernel_shape", 1),
        AIS("strides", 3));
  ir_tensor f[1] = {T(IR_F32, 1, 1, 5)};
  c = infer_twice("max_pool", 1, f, 1, &t);
  ck_assert_str_eq(ir_type_str(&t, buf, sizeof buf), "f32[1,1,2]");
  n = &c.g->nodes[c.node];
  ck_assert(!ir_attr_has(n, "auto_pad") && !ir_attr_has(n, "ceil_mode"));
  assert_ints(n, "pads", 2, TH_DIMS(0, 0));
  th_free(&c);
}
END_TEST

START_TEST(test_conv_errors) {
  ATTRS(AI("group", 2));
  ir_tensor a[2] = {T(IR_F32, 1, 3, 5, 5), T(IR_F32, 4, 1, 3, 3)};
  expect_error("conv", 2, a, "input channels 3 are not divisible by group 2");
  ir_tensor b[2] = {T(IR_F32, 1, 4, 5, 5), T(IR_F32, 3, 2, 3, 3)};
  expect_error("conv", 2, b, "output channels 3");
  NO_ATTRS();
  ir_tensor c[2] = {T(IR_F32, 1, 3, 5, 5), T(IR_F32, 2, 2, 3, 3)};
  expect_error("conv", 2, c, "input channels per group");
  ir_tensor e[2] = {T(IR_F32, 1, 3, 5, 5), T(IR_F32, 2, 3, 3)};
  expect_error("conv", 2, e, "rank");
  ir_tensor f[2] = {T(IR_F32, 1, 1, 2, 2), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, f, "padded input has only 2");
  ir_tensor g[3] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 2, 1, 3, 3), T(IR_F32, 3)};
  expect_error("conv", 3, g, "bias must be [2]");
  ir_tensor h[2] = {T(IR_F32, 1, 4), T(IR_F32, 1, 4)};
  expect_error("conv", 2, h, "at least one spatial dim");
  ir_tensor i[2] = {T(IR_I32, 1, 1, 4, 4), T(IR_I32, 1, 1, 3, 3)};
  expect_error("conv", 2, i, "dtype i32");
  ir_tensor j[2] = {T(IR_F32, 1, 1, 0, 4), T(IR_F32, 1, 1, 1, 1)};
  expect_error("conv", 2, j, "empty spatial dim");
  ir_tensor j2[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 0, 1)};
  expect_error("conv", 2, j2, "empty kernel dim");
  ATTRS(AIS("strides", 1, 0));
  ir_tensor k[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, k, "'strides' has 0 at index 1; it must be >= 1");
  ATTRS(AIS("dilations", -1, 1));
  ir_tensor l[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, l, "'dilations' has -1");
  ATTRS(AIS("pads", 0, -1, 0, 0));
  ir_tensor m[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, m, "'pads' has -1");
  ATTRS(AIS("pads", 1, 1));
  ir_tensor o[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, o, "'pads' has 2 values; 4 expected");
  ATTRS(AIS("kernel_shape", 3, 2));
  ir_tensor q[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, q, "kernel_shape[1] is 2");
  ATTRS(AS("auto_pad", "SAME"));
  ir_tensor r[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, r, "auto_pad 'SAME' is not one of");
  ATTRS(AS("auto_pad", "VALID"), AIS("pads", 1, 1, 1, 1));
  ir_tensor s[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, s, "cannot be combined with auto_pad");
  ATTRS(AI("group", 0));
  ir_tensor u[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, u, "'group' is 0");
  /* huge values: the window span overflows or exceeds the limit */
  ATTRS(AIS("dilations", INT64_C(1) << 40, 1));
  ir_tensor v[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, v, "spans more than");
  ATTRS(AIS("dilations", INT64_MAX, 1));
  ir_tensor w[2] = {T(IR_F32, 1, 1, 4, 4), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv", 2, w, "above the limit");
}
END_TEST

/* ======================================================================== */
/* conv_transpose                                                           */
/* ======================================================================== */

START_TEST(test_conv_transpose_hand) {
  /* x [1, 2], w [1, 10]: stride 2 places copies apart: [1, 10, 2, 20];
   * stride 1 overlaps them: [1, 10 + 2, 20] */
  ATTRS(AIS("strides", 2));
  ir_tensor a[2] = {TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 2)),
                    TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 10))};
  ir_tensor want = TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(1, 10, 2, 20));
  th_check("conv_transpose", 2, a, 0x2, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* stride 1, bias 0.5, pads [1, 0] crop the first element */
  ATTRS(AIS("pads", 1, 0));
  ir_tensor b[3] = {TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 2)),
                    TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 10)),
                    TV(IR_F32, TH_DIMS(1), TH_VALS(0.5))};
  want = TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(12.5, 20.5));
  th_check("conv_transpose", 3, b, 0x6, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* output_padding adds a bias-only element at the end */
  ATTRS(AIS("output_padding", 1));
  ir_tensor e[3] = {TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 2)),
                    TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 10)),
                    TV(IR_F32, TH_DIMS(1), TH_VALS(0.5))};
  want = TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(1.5, 12.5, 20.5, 0.5));
  th_check("conv_transpose", 3, e, 0x6, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
}
END_TEST

START_TEST(test_conv_transpose_ref) {
  ATTRS(AIS("strides", 2), AIS("pads", 1, 0));
  check_npy("conv_transpose", "convt1d", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AI("group", 2), AIS("strides", 2, 3), AIS("dilations", 1, 2), AIS("pads", 1, 0, 0, 2),
        AIS("output_padding", 1, 1), AIS("kernel_shape", 3, 2));
  check_npy("conv_transpose", "convt2d", NAMES("x", "w", "b"), 0, "y", TOL32);
  ATTRS(AIS("strides", 1, 2, 2), AIS("pads", 0, 1, 0, 0, 0, 1));
  check_npy("conv_transpose", "convt3d", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AIS("strides", 3, 2), AIS("output_shape", 8, 6));
  check_npy("conv_transpose", "convt_oshape", NAMES("x", "w"), 0x2, "y", TOL32);
  /* output_shape may also be given as [N, C_out, D1, D2] */
  ATTRS(AIS("strides", 3, 2), AIS("output_shape", 1, 2, 10, 8));
  check_npy("conv_transpose", "convt_oshape_big", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AIS("strides", 2, 2), AS("auto_pad", "SAME_UPPER"));
  check_npy("conv_transpose", "convt_same_upper", NAMES("x", "w", "b"), 0x6, "y", TOL32);
  ATTRS(AIS("strides", 2, 2), AS("auto_pad", "SAME_LOWER"));
  check_npy("conv_transpose", "convt_same_lower", NAMES("x", "w", "b"), 0x6, "y", TOL32);
}
END_TEST

START_TEST(test_conv_transpose_errors) {
  NO_ATTRS();
  ir_tensor a[2] = {T(IR_F32, 1, 2, 3, 3), T(IR_F32, 3, 1, 3, 3)};
  expect_error("conv_transpose", 2, a, "channels in dim 0");
  ATTRS(AI("group", 2));
  ir_tensor b[2] = {T(IR_F32, 1, 3, 3, 3), T(IR_F32, 3, 1, 3, 3)};
  expect_error("conv_transpose", 2, b, "not divisible by group 2");
  ATTRS(AIS("output_shape", 5));
  ir_tensor c[2] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv_transpose", 2, c, "'output_shape' has 1 values; 2 expected");
  ATTRS(AIS("output_shape", 2, 1, 5, 5));
  ir_tensor e[2] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv_transpose", 2, e, "output_shape starts [2, 1]");
  ATTRS(AIS("pads", 3, 0, 2, 0));
  ir_tensor f[2] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv_transpose", 2, f, "remove the whole output");
  ATTRS(AIS("strides", INT64_C(1) << 40, 1));
  ir_tensor g[2] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv_transpose", 2, g, "above the limit");
  ATTRS(AIS("output_padding", -1, 0));
  ir_tensor h[2] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 1, 3, 3)};
  expect_error("conv_transpose", 2, h, "'output_padding' has -1");
  NO_ATTRS();
  ir_tensor i[3] = {T(IR_F32, 1, 1, 3, 3), T(IR_F32, 1, 2, 3, 3), T(IR_F32, 1)};
  expect_error("conv_transpose", 3, i, "bias must be [2]");
}
END_TEST

/* ======================================================================== */
/* pools                                                                    */
/* ======================================================================== */

/* Runs max_pool with indices on <base>_x against <base>_y and <base>_i. */
static void check_max_pool_npy(const char *base) {
  ir_tensor x = npy2(base, "x"), want_y = npy2(base, "y"), want_i = npy2(base, "i");
  ir_tensor outs[2];
  run_node("max_pool", 1, &x, 0, 2, outs);
  th_assert_close(&outs[0], &want_y, 0, 0);
  th_assert_close(&outs[1], &want_i, 0, 0);
  for (int j = 0; j < 2; j++) ir_tensor_release(&outs[j]);
  ir_tensor_release(&x);
  ir_tensor_release(&want_y);
  ir_tensor_release(&want_i);
}

START_TEST(test_max_pool_hand) {
  /* NaN propagates and its index is reported: [1, nan, 3, 2], kernel 2 */
  ATTRS(AIS("kernel_shape", 2));
  ir_tensor x = TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(1, NAN, 3, 2));
  ir_tensor outs[2];
  run_node("max_pool", 1, &x, 0, 2, outs);
  ck_assert(isnan(ir_tensor_get_f(&outs[0], 0)) && isnan(ir_tensor_get_f(&outs[0], 1)));
  ck_assert(ir_tensor_get_f(&outs[0], 2) == 3.0);
  ck_assert_int_eq(ir_tensor_get_i(&outs[1], 0), 1);
  ck_assert_int_eq(ir_tensor_get_i(&outs[1], 1), 1);
  ck_assert_int_eq(ir_tensor_get_i(&outs[1], 2), 2);
  ir_tensor_release(&outs[0]);
  ir_tensor_release(&outs[1]);
  ir_tensor_release(&x);
  /* integers, exact: i32 [-5, -3, -9, -1] kernel 2 -> [-3, -3, -1];
   * u8 2x2 with pads [1, 1, 0, 0] (the padding never wins over 0..255) */
  ir_tensor a[1] = {TV(IR_I32, TH_DIMS(1, 1, 4), TH_VALS(-5, -3, -9, -1))};
  ir_tensor want = TV(IR_I32, TH_DIMS(1, 1, 3), TH_VALS(-3, -3, -1));
  th_check("max_pool", 1, a, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  ATTRS(AIS("kernel_shape", 2, 2), AIS("pads", 1, 1, 0, 0));
  ir_tensor b[1] = {TV(IR_U8, TH_DIMS(1, 1, 2, 2), TH_VALS(1, 200, 3, 4))};
  want = TV(IR_U8, TH_DIMS(1, 1, 2, 2), TH_VALS(1, 200, 3, 200));
  th_check("max_pool", 1, b, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* ceil_mode: [1, 2, 3, 4], kernel 3, stride 2 -> windows {0,1,2}, {2,3} */
  ATTRS(AIS("kernel_shape", 3), AIS("strides", 2), AI("ceil_mode", 1));
  ir_tensor c[1] = {TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(1, 2, 3, 4))};
  want = TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(3, 4));
  th_check("max_pool", 1, c, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* ceil_mode drops a last window that would start in the right padding:
   * in 2, kernel 1, stride 2: ceil gives 2 windows, the second starts at 2 */
  ATTRS(AIS("kernel_shape", 1, 1), AIS("strides", 2, 2), AI("ceil_mode", 1));
  ir_tensor e[1] = {TV(IR_F32, TH_DIMS(1, 1, 2, 2), TH_VALS(1, 2, 3, 4))};
  want = TV(IR_F32, TH_DIMS(1, 1, 1, 1), TH_VALS(1));
  th_check("max_pool", 1, e, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
}
END_TEST

START_TEST(test_max_pool_ref) {
  ATTRS(AIS("kernel_shape", 3, 2), AIS("strides", 2, 2), AIS("pads", 1, 1, 1, 1),
        AIS("dilations", 1, 2), AI("ceil_mode", 1));
  check_max_pool_npy("maxpool2d");
  ATTRS(AIS("kernel_shape", 2, 3), AIS("strides", 2, 2), AIS("pads", 0, 1, 0, 1),
        AI("storage_order", 1));
  check_max_pool_npy("maxpool2d_col");
  ATTRS(AIS("kernel_shape", 3), AIS("strides", 2), AIS("pads", 1, 1), AIS("dilations", 2),
        AI("ceil_mode", 1));
  check_max_pool_npy("maxpool1d");
  ATTRS(AIS("kernel_shape", 2, 3, 2), AIS("strides", 2, 2, 1), AIS("pads", 1, 1, 0, 1, 1, 0),
        AIS("dilations", 1, 1, 2), AI("ceil_mode", 1));
  check_max_pool_npy("maxpool3d");
  ATTRS(AIS("kernel_shape", 3, 3), AIS("pads", 0, 1, 2, 0));
  check_npy("max_pool", "maxpool_asym", NAMES("x"), 0, "y", 0);
}
END_TEST

START_TEST(test_avg_pool_hand) {
  /* [1, 2, 3], kernel 2, pads 1: windows {-1,0} {0,1} {1,2} {2,3};
   * without the pads in the count [1, 1.5, 2.5, 3], with them [0.5, 1.5, 2.5, 1.5] */
  ATTRS(AIS("kernel_shape", 2), AIS("pads", 1, 1));
  ir_tensor a[1] = {TV(IR_F32, TH_DIMS(1, 1, 3), TH_VALS(1, 2, 3))};
  ir_tensor want = TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(1, 1.5, 2.5, 3));
  th_check("avg_pool", 1, a, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  ATTRS(AIS("kernel_shape", 2), AIS("pads", 1, 1), AI("count_include_pad", 1));
  ir_tensor b[1] = {TV(IR_F32, TH_DIMS(1, 1, 3), TH_VALS(1, 2, 3))};
  want = TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(0.5, 1.5, 2.5, 1.5));
  th_check("avg_pool", 1, b, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* ceil_mode with count_include_pad: the part of the last window beyond the
   * right pad is not counted. [1, 2, 3, 4], kernel 3, stride 2, pads [1, 0]:
   * out ceil((5 - 3) / 2) + 1 = 2; windows {-1,0,1} -> 3/3, {1,2,3} -> 9/3 */
  ATTRS(AIS("kernel_shape", 3), AIS("strides", 2), AIS("pads", 1, 0), AI("ceil_mode", 1),
        AI("count_include_pad", 1));
  ir_tensor c[1] = {TV(IR_F32, TH_DIMS(1, 1, 4), TH_VALS(1, 2, 3, 4))};
  want = TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(1, 3));
  th_check("avg_pool", 1, c, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* [1..5], kernel 2, stride 2, ceil: windows {0,1} {2,3} {4,(5)} -> 4 counted
   * once even with count_include_pad (5 is beyond the padded input) */
  ATTRS(AIS("kernel_shape", 2), AIS("strides", 2), AI("ceil_mode", 1),
        AI("count_include_pad", 1));
  ir_tensor e[1] = {TV(IR_F32, TH_DIMS(1, 1, 5), TH_VALS(1, 2, 3, 4, 5))};
  want = TV(IR_F32, TH_DIMS(1, 1, 3), TH_VALS(1.5, 3.5, 5));
  th_check("avg_pool", 1, e, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* dilation 2 over [1..6], kernel 2, pads [0, 1], window taps {o, o+2}:
   * o=0..4 -> {1,3} {2,4} {3,5} {4,6} {5,pad}: [2, 3, 4, 5, 5] */
  ATTRS(AIS("kernel_shape", 2), AIS("dilations", 2), AIS("pads", 0, 1));
  ir_tensor f[1] = {TV(IR_F64, TH_DIMS(1, 1, 6), TH_VALS(1, 2, 3, 4, 5, 6))};
  want = TV(IR_F64, TH_DIMS(1, 1, 5), TH_VALS(2, 3, 4, 5, 5));
  th_check("avg_pool", 1, f, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
}
END_TEST

START_TEST(test_avg_pool_ref) {
  ATTRS(AIS("kernel_shape", 3, 3), AIS("strides", 2, 3), AIS("pads", 1, 1, 1, 1),
        AI("ceil_mode", 1), AI("count_include_pad", 1));
  check_npy("avg_pool", "avgpool2d_cip", NAMES("x"), 0, "y", TOL32);
  ATTRS(AIS("kernel_shape", 3, 3), AIS("strides", 2, 3), AIS("pads", 1, 1, 1, 1),
        AI("ceil_mode", 1));
  check_npy("avg_pool", "avgpool2d_nocip", NAMES("x"), 0, "y", TOL32);
  ATTRS(AIS("kernel_shape", 4), AIS("strides", 3), AIS("pads", 2, 2), AI("ceil_mode", 1));
  check_npy("avg_pool", "avgpool1d", NAMES("x"), 0, "y", TOL32);
  ATTRS(AIS("kernel_shape", 3, 2, 3), AIS("strides", 2, 2, 2), AIS("pads", 1, 1, 1, 1, 1, 1),
        AI("count_include_pad", 1));
  check_npy("avg_pool", "avgpool3d", NAMES("x"), 0, "y", TOL32);
  ATTRS(AIS("kernel_shape", 2, 3), AIS("strides", 1, 2), AIS("pads", 1, 0, 0, 1),
        AIS("dilations", 2, 2));
  ir_tensor x = npy("avgpool_dil_x"), want = npy("avgpool_dil_nocip_y");
  th_check("avg_pool", 1, &x, 0, apply_attrs, &want, TOL32, TOL32);
  ir_tensor_release(&want);
  ATTRS(AIS("kernel_shape", 2, 3), AIS("strides", 1, 2), AIS("pads", 1, 0, 0, 1),
        AIS("dilations", 2, 2), AI("count_include_pad", 1));
  x = npy("avgpool_dil_x");
  want = npy("avgpool_dil_cip_y");
  th_check("avg_pool", 1, &x, 0, apply_attrs, &want, TOL32, TOL32);
  ir_tensor_release(&want);
}
END_TEST

START_TEST(test_lp_pool) {
  /* [3, -4]: p 2 -> 5, p 1 -> 7, p 3 -> (27 + 64)^(1/3) */
  ATTRS(AIS("kernel_shape", 2));
  ir_tensor a[1] = {TV(IR_F64, TH_DIMS(1, 1, 2), TH_VALS(3, -4))};
  ir_tensor want = TV(IR_F64, TH_DIMS(1, 1, 1), TH_VALS(5));
  th_check("lp_pool", 1, a, 0, apply_attrs, &want, 1e-15, 0);
  ir_tensor_release(&want);
  ATTRS(AIS("kernel_shape", 2), AI("p", 1));
  ir_tensor b[1] = {TV(IR_F64, TH_DIMS(1, 1, 2), TH_VALS(3, -4))};
  want = TV(IR_F64, TH_DIMS(1, 1, 1), TH_VALS(7));
  th_check("lp_pool", 1, b, 0, apply_attrs, &want, 1e-15, 0);
  ir_tensor_release(&want);
  ATTRS(AIS("kernel_shape", 2), AI("p", 3));
  ir_tensor c[1] = {TV(IR_F64, TH_DIMS(1, 1, 2), TH_VALS(3, -4))};
  want = TV(IR_F64, TH_DIMS(1, 1, 1), TH_VALS(cbrt(91.0)));
  th_check("lp_pool", 1, c, 0, apply_attrs, &want, 1e-15, 0);
  ir_tensor_release(&want);
  /* no overflow for large values: |[3e200, 4e200]|_2 = 5e200 */
  ATTRS(AIS("kernel_shape", 2));
  ir_tensor e[1] = {TV(IR_F64, TH_DIMS(1, 1, 2), TH_VALS(3e200, 4e200))};
  want = TV(IR_F64, TH_DIMS(1, 1, 1), TH_VALS(5e200));
  th_check("lp_pool", 1, e, 0, apply_attrs, &want, 1e-15, 0);
  ir_tensor_release(&want);
  /* a window of padding only is 0 */
  ATTRS(AIS("kernel_shape", 1), AIS("pads", 1, 0));
  ir_tensor f[1] = {TV(IR_F32, TH_DIMS(1, 1, 1), TH_VALS(-2))};
  want = TV(IR_F32, TH_DIMS(1, 1, 2), TH_VALS(0, 2));
  th_check("lp_pool", 1, f, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);
  /* references */
  ATTRS(AIS("kernel_shape", 2, 3), AIS("strides", 2, 2), AI("p", 3));
  check_npy("lp_pool", "lppool2d", NAMES("x"), 0, "p3_y", TOL32);
  ATTRS(AIS("kernel_shape", 3, 3), AIS("strides", 1, 2), AIS("pads", 1, 0, 1, 2));
  check_npy("lp_pool", "lppool2d", NAMES("x"), 0, "pads_y", TOL32);
  ATTRS(AIS("kernel_shape", 3), AI("p", 1));
  check_npy("lp_pool", "lppool1d", NAMES("x"), 0, "p1_y", TOL32);
  ATTRS(AIS("kernel_shape", 2, 2), AIS("dilations", 2, 1));
  check_npy("lp_pool", "lppool_dil", NAMES("x"), 0, "y", TOL32);
}
END_TEST

START_TEST(test_pool_errors) {
  NO_ATTRS();
  ir_tensor a[1] = {T(IR_F32, 1, 1, 4, 4)};
  expect_error("max_pool", 1, a, "kernel_shape");
  ATTRS(AIS("kernel_shape", 2));
  ir_tensor b[1] = {T(IR_F32, 1, 1, 4, 4)};
  expect_error("avg_pool", 1, b, "'kernel_shape' has 1 values; 2 expected");
  ATTRS(AIS("kernel_shape", 0, 2));
  ir_tensor c[1] = {T(IR_F32, 1, 1, 4, 4)};
  expect_error("lp_pool", 1, c, "'kernel_shape' has 0");
  ATTRS(AIS("kernel_shape", 2), AIS("pads", 2, 0));
  ir_tensor e[1] = {T(IR_F32, 1, 1, 3)};
  expect_error("max_pool", 1, e, "covers only padding");
  ATTRS(AIS("kernel_shape", 2), AIS("pads", 2, 0));
  ir_tensor e2[1] = {T(IR_F32, 1, 1, 3)};
  expect_error("avg_pool", 1, e2, "covers only padding");
  /* dilation skipping over the whole input: taps {-1, 2} with in 1 */
  ATTRS(AIS("kernel_shape", 2), AIS("pads", 1, 2), AIS("dilations", 3));
  ir_tensor e3[1] = {T(IR_F32, 1, 1, 1)};
  expect_error("max_pool", 1, e3, "covers only padding");
  ATTRS(AIS("kernel_shape", 2), AI("storage_order", 2));
  ir_tensor f[1] = {T(IR_F32, 1, 1, 3)};
  expect_error("max_pool", 1, f, "'storage_order' must be 0 or 1");
  ATTRS(AIS("kernel_shape", 2), AI("ceil_mode", 5));
  ir_tensor h[1] = {T(IR_F32, 1, 1, 3)};
  expect_error("avg_pool", 1, h, "'ceil_mode' must be 0 or 1");
  ATTRS(AIS("kernel_shape", 2), AI("p", 0));
  ir_tensor i[1] = {T(IR_F32, 1, 1, 3)};
  expect_error("lp_pool", 1, i, "'p' is 0");
  ATTRS(AIS("kernel_shape", 2));
  ir_tensor j[1] = {T(IR_I32, 1, 1, 3)};
  expect_error("avg_pool", 1, j, "dtype i32");
  ir_tensor k[1] = {T(IR_BOOL, 1, 1, 3)};
  expect_error("max_pool", 1, k, "dtype bool");
  ir_tensor l[1] = {T(IR_F32, 1, 3)};
  expect_error("max_pool", 1, l, "at least one spatial dim");
  ATTRS(AIS("kernel_shape", INT64_C(1) << 40));
  ir_tensor m[1] = {T(IR_F32, 1, 1, 4)};
  expect_error("max_pool", 1, m, "padded input has only 4");
  ATTRS(AIS("kernel_shape", INT64_MAX));
  ir_tensor o[1] = {T(IR_F32, 1, 1, 4)};
  expect_error("max_pool", 1, o, "above the limit");
  ATTRS(AIS("kernel_shape", 2), AIS("strides", 1), AIS("dilations", 1, 1));
  ir_tensor q[1] = {T(IR_F32, 1, 1, 4)};
  expect_error("max_pool", 1, q, "'dilations' has 2 values; 1 expected");
}
END_TEST

/* ======================================================================== */
/* global pools                                                             */
/* ======================================================================== */

START_TEST(test_global_pool) {
  /* [[1, -2], [3, -4]] per plane: avg -0.5, max 3, lp2 sqrt(30) */
  NO_ATTRS();
  const double v[] = {1, -2, 3, -4};
  ir_tensor a[1] = {TV(IR_F32, TH_DIMS(1, 1, 2, 2), v)};
  ir_tensor want = TV(IR_F32, TH_DIMS(1, 1, 1, 1), TH_VALS(-0.5));
  th_check("global_avg_pool", 1, a, 0, NULL, &want, 0, 0);
  ir_tensor_release(&want);
  ir_tensor b[1] = {TV(IR_F32, TH_DIMS(1, 1, 2, 2), v)};
  want = TV(IR_F32, TH_DIMS(1, 1, 1, 1), TH_VALS(3));
  th_check("global_max_pool", 1, b, 0, NULL, &want, 0, 0);
  ir_tensor_release(&want);
  ir_tensor c[1] = {TV(IR_F64, TH_DIMS(1, 1, 2, 2), v)};
  want = TV(IR_F64, TH_DIMS(1, 1, 1, 1), TH_VALS(sqrt(30.0)));
  th_check("global_lp_pool", 1, c, 0, NULL, &want, 1e-15, 0);
  ir_tensor_release(&want);
  const char *bases[] = {"gp1d", "gp2d", "gp3d"};
  for (int i = 0; i < 3; i++) {
    NO_ATTRS();
    check_npy("global_avg_pool", bases[i], NAMES("x"), 0, "avg", TOL32);
    check_npy("global_max_pool", bases[i], NAMES("x"), 0, "max", 0);
    ATTRS(AI("p", 3));
    check_npy("global_lp_pool", bases[i], NAMES("x"), 0, "lp3", TOL32);
  }
  NO_ATTRS();
  ir_tensor e[1] = {T(IR_F32, 4)};
  expect_error("global_avg_pool", 1, e, "must be [N, C, ...]");
  ir_tensor f[1] = {T(IR_F32, 1, 2, 0, 3)};
  expect_error("global_max_pool", 1, f, "nothing to pool");
  ir_tensor g[1] = {T(IR_I64, 1, 2, 3)};
  expect_error("global_max_pool", 1, g, "dtype i64");
  ATTRS(AI("p", -1));
  ir_tensor h[1] = {T(IR_F32, 1, 2, 3)};
  expect_error("global_lp_pool", 1, h, "'p' is -1");
}
END_TEST

/* ======================================================================== */
/* lrn                                                                      */
/* ======================================================================== */

START_TEST(test_lrn) {
  /* channels [1, 2, 3], alpha/size = 1, beta 1, bias 1:
   * size 3 (window c-1..c+1): 1/(1+5), 2/(1+14), 3/(1+13);
   * size 2 (window c..c+1, per ONNX's floor/ceil split): 1/(1+5), 2/(1+13), 3/(1+9) */
  ATTRS(AI("size", 3), AF("alpha", 3.0), AF("beta", 1.0), AF("bias", 1.0));
  ir_tensor a[1] = {TV(IR_F64, TH_DIMS(1, 3, 1), TH_VALS(1, 2, 3))};
  ir_tensor want = TV(IR_F64, TH_DIMS(1, 3, 1), TH_VALS(1.0 / 6, 2.0 / 15, 3.0 / 14));
  th_check("lrn", 1, a, 0, apply_attrs, &want, 1e-15, 0);
  ir_tensor_release(&want);
  ATTRS(AI("size", 2), AF("alpha", 2.0), AF("beta", 1.0), AF("bias", 1.0));
  ir_tensor b[1] = {TV(IR_F64, TH_DIMS(1, 3), TH_VALS(1, 2, 3))};
  want = TV(IR_F64, TH_DIMS(1, 3), TH_VALS(1.0 / 6, 2.0 / 14, 3.0 / 10));
  th_check("lrn", 1, b, 0, apply_attrs, &want, 1e-15, 0);
  ir_tensor_release(&want);
  ATTRS(AI("size", 5), AF("alpha", 0.5), AF("beta", 0.75), AF("bias", 2.0));
  check_npy("lrn", "lrn", NAMES("x"), 0, "s5_y", TOL32);
  ATTRS(AI("size", 4), AF("alpha", 0.3), AF("beta", 0.6), AF("bias", 1.5));
  check_npy("lrn", "lrn", NAMES("x"), 0, "s4_y", TOL32);
  ATTRS(AI("size", 3));
  check_npy("lrn", "lrn3d", NAMES("x"), 0, "y", TOL32);
  /* a window larger than the channel count is clipped */
  ATTRS(AI("size", INT64_MAX), AF("alpha", 0.0), AF("beta", 1.0), AF("bias", 2.0));
  ir_tensor c[1] = {TV(IR_F32, TH_DIMS(1, 2), TH_VALS(1, 4))};
  want = TV(IR_F32, TH_DIMS(1, 2), TH_VALS(0.5, 2));
  th_check("lrn", 1, c, 0, apply_attrs, &want, 0, 0);
  ir_tensor_release(&want);

  ATTRS(AI("size", 0));
  ir_tensor e[1] = {T(IR_F32, 1, 3, 2)};
  expect_error("lrn", 1, e, "'size' is 0");
  ATTRS(AI("size", 3));
  ir_tensor f[1] = {T(IR_F32, 3)};
  expect_error("lrn", 1, f, "must be [N, C, ...]");
  ATTRS(AI("size", 3), AF("beta", NAN));
  ir_tensor h[1] = {T(IR_F32, 1, 3)};
  expect_error("lrn", 1, h, "must be finite");
  ATTRS(AI("size", 3));
  ir_tensor i[1] = {T(IR_I32, 1, 3)};
  expect_error("lrn", 1, i, "dtype i32");
}
END_TEST

static Suite *nn_suite(void) {
  Suite *s = suite_create("ops_nn");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_matmul_hand);
  tcase_add_test(tc, test_matmul_ref);
  tcase_add_test(tc, test_matmul_errors);
  tcase_add_test(tc, test_conv_hand);
  tcase_add_test(tc, test_conv_ref);
  tcase_add_test(tc, test_canonical_form);
  tcase_add_test(tc, test_conv_errors);
  tcase_add_test(tc, test_conv_transpose_hand);
  tcase_add_test(tc, test_conv_transpose_ref);
  tcase_add_test(tc, test_conv_transpose_errors);
  tcase_add_test(tc, test_max_pool_hand);
  tcase_add_test(tc, test_max_pool_ref);
  tcase_add_test(tc, test_avg_pool_hand);
  tcase_add_test(tc, test_avg_pool_ref);
  tcase_add_test(tc, test_lp_pool);
  tcase_add_test(tc, test_pool_errors);
  tcase_add_test(tc, test_global_pool);
  tcase_add_test(tc, test_lrn);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(nn_suite)

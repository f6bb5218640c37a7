/* Shape inference under hostile attribute values: every op of the op table
 * (ir/ops.def), with inputs of several shapes and dtypes, each attribute of
 * its schema set in turn to extreme values (INT64_MIN/MAX, huge and negative
 * sizes, NaN and infinities, empty and over-long lists, unknown strings and
 * dtypes). Parsers hand such values to ir_infer_shapes as they are (the .kir
 * parser checks only kinds, the ONNX loader copies attributes), so each infer
 * function must either accept them with valid output types or fail with a
 * diagnostic: no crash, no sanitizer report, no assertion.
 *
 * The graphs are built the way the parsers build them and pass ir_verify
 * first (required attributes get a neutral value; the verifier's contract
 * is what infer functions may rely on). The fuzzers (tests/fuzz) explore
 * combinations; this suite covers every op and attribute deterministically.
 * The "limits" cases are IR-level regressions the fuzzers found (type
 * limits of empty tensors, the budget of compile-time evaluation).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- input configurations ------------------------------------------------------ */
typedef struct {
  const char *what;
  ir_type first; /* input 0 */
  ir_type rest;  /* the other inputs */
} in_cfg;

#define TY(dt, r, ...) ((ir_type){.dtype = (dt), .rank = (r), .dims = {__VA_ARGS__}})

static const in_cfg cfgs[] = {
    {"f32[2,3,4,5]", TY(IR_F32, 4, 2, 3, 4, 5), TY(IR_F32, 4, 2, 3, 4, 5)},
    {"scalars", TY(IR_F32, 0, 0), TY(IR_F32, 0, 0)},
    {"i64[3]", TY(IR_I64, 1, 3), TY(IR_I64, 1, 3)},
    {"empty f32[1,0,7]", TY(IR_F32, 3, 1, 0, 7), TY(IR_F32, 3, 1, 0, 7)},
    {"2^40 elements", TY(IR_F32, 2, INT64_C(1) << 20, INT64_C(1) << 20),
     TY(IR_F32, 2, INT64_C(1) << 20, INT64_C(1) << 20)},
    {"f32[1,3,8,8] and i64[4]", TY(IR_F32, 4, 1, 3, 8, 8), TY(IR_I64, 1, 4)},
    {"rank 8", TY(IR_F32, 8, 1, 2, 1, 2, 1, 2, 1, 2), TY(IR_F32, 8, 1, 2, 1, 2, 1, 2, 1, 2)},
    {"bool[4,1] and u8[1,4]", TY(IR_BOOL, 2, 4, 1), TY(IR_U8, 2, 1, 4)},
    {"f64[0] and i32[1]", TY(IR_F64, 1, 0), TY(IR_I32, 1, 1)},
};
#define N_CFGS ((int)(sizeof cfgs / sizeof cfgs[0]))

/* ---- hostile values ----------------------------------------------------------------- */
static const int64_t hostile_ints[] = {INT64_MIN,
                                       INT64_MIN + 1,
                                       -(INT64_C(1) << 40),
                                       -(INT64_C(1) << 31),
                                       -9,
                                       -2,
                                       -1,
                                       0,
                                       1,
                                       2,
                                       3,
                                       8,
                                       9,
                                       INT64_C(1) << 31,
                                       INT64_C(1) << 40,
                                       (INT64_C(1) << 53) + 1,
                                       INT64_MAX - 1,
                                       INT64_MAX};
#define N_INTS ((int)(sizeof hostile_ints / sizeof hostile_ints[0]))

static const double hostile_floats[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, -1e30, 1e30, FLT_MAX,
                                        -FLT_MAX};
#define N_FLOATS ((int)(sizeof hostile_floats / sizeof hostile_floats[0]))

static const char *const hostile_strings[] = {
    "", "bogus", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge",
    "wrap", "nearest", "linear", "cubic", "DCR", "CRD", "tanh", "none", "half_pixel",
    "asymmetric", "align_corners", "pytorch_half_pixel", "tf_crop_and_resize",
    "half_pixel_symmetric", "round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
#define N_STRINGS ((int)(sizeof hostile_strings / sizeof hostile_strings[0]))

/* Lists: built on demand (some are long). */
#define N_LISTS 16
static int make_int_list(int k, int64_t *buf, int cap) {
  switch (k) {
  case 0: return 0;
  case 1: buf[0] = INT64_MIN; return 1;
  case 2: buf[0] = INT64_MAX; return 1;
  case 3: for (int i = 0; i < 9; i++) buf[i] = -1; return 9;
  case 4: for (int i = 0; i < 4; i++) buf[i] = 0; return 4;
  case 5: buf[0] = buf[1] = INT64_C(1) << 40; return 2;
  case 6: for (int i = 0; i < cap; i++) buf[i] = 1; return cap; /* longer than any rank */
  case 7: buf[0] = 1, buf[1] = -1, buf[2] = INT64_MAX, buf[3] = INT64_MIN; return 4;
  case 8: for (int i = 0; i < 8; i++) buf[i] = INT64_MAX; return 8;
  case 9: for (int i = 0; i < 8; i++) buf[i] = INT64_MIN; return 8;
  case 10: for (int i = 0; i < 4; i++) buf[i] = INT64_C(1) << 31; return 4;
  case 11: buf[0] = 0, buf[1] = 0, buf[2] = 0, buf[3] = 1; return 4;
  case 12: for (int i = 0; i < 8; i++) buf[i] = i - 4; return 8;
  case 13: buf[0] = 2, buf[1] = 2; return 2;
  case 14: for (int i = 0; i < 16; i++) buf[i] = (i & 1) ? -3 : 3; return 16;
  default: buf[0] = 1, buf[1] = 1, buf[2] = 1, buf[3] = 1; return 4;
  }
}

static int make_float_list(int k, double *buf, int cap) {
  switch (k) {
  case 0: return 0;
  case 1: buf[0] = NAN; return 1;
  case 2: buf[0] = INFINITY, buf[1] = -INFINITY; return 2;
  case 3: for (int i = 0; i < 8; i++) buf[i] = 1e30; return 8;
  case 4: for (int i = 0; i < 4; i++) buf[i] = 0; return 4;
  case 5: for (int i = 0; i < 4; i++) buf[i] = -1; return 4;
  case 6: for (int i = 0; i < cap; i++) buf[i] = 1; return cap;
  case 7: for (int i = 0; i < 4; i++) buf[i] = FLT_MAX; return 4;
  case 8: for (int i = 0; i < 4; i++) buf[i] = 1e-45; return 4;
  case 9: buf[0] = 1, buf[1] = 1, buf[2] = NAN, buf[3] = 2; return 4;
  default: for (int i = 0; i < 4; i++) buf[i] = 2; return 4;
  }
}

/* ---- one case -------------------------------------------------------------------------- */
/* A neutral value for a required attribute (so that the graph verifies). */
static void set_neutral(ir_graph *g, int node, const ir_attr_schema *s) {
  static const int64_t one[1] = {1};
  static const double onef[1] = {1.0};
  switch (s->kind) {
  case IR_ATTR_INT: ir_set_int(g, node, s->name, s->is_dtype ? IR_F32 : 1); break;
  case IR_ATTR_FLOAT: ir_set_float(g, node, s->name, 1.0); break;
  case IR_ATTR_STRING: ir_set_string(g, node, s->name, ""); break;
  case IR_ATTR_INTS: ir_set_ints(g, node, s->name, one, 1); break;
  case IR_ATTR_FLOATS: ir_set_floats(g, node, s->name, onef, 1); break;
  case IR_ATTR_TENSOR: {
    ir_tensor t = th_tensor(IR_F32, 0, NULL, TH_VALS(0));
    ir_set_tensor(g, node, s->name, &t);
    ir_tensor_release(&t);
    break;
  }
  default: break;
  }
}

/* How an attribute is set in a case: which schema entry (-1: none) and
 * which value of its kind. */
typedef struct {
  int attr, value;
} attr_choice;

static int64_t scratch_i[65536 + 8];
static double scratch_f[65536 + 8];

static void set_hostile(ir_graph *g, int node, const ir_attr_schema *s, int k) {
  switch (s->kind) {
  case IR_ATTR_INT:
    if (s->is_dtype)
      ir_set_int(g, node, s->name, k < IR_DTYPE_COUNT ? k : (k == IR_DTYPE_COUNT ? -1 : 1000));
    else
      ir_set_int(g, node, s->name, hostile_ints[k]);
    break;
  case IR_ATTR_FLOAT: {
    /* float attributes hold float32 values (ir.h); NaN and infinities too */
    double v = k < N_FLOATS ? hostile_floats[k] : (k == N_FLOATS ? NAN : (k == N_FLOATS + 1 ? INFINITY : -INFINITY));
    ir_set_float(g, node, s->name, v);
    break;
  }
  case IR_ATTR_STRING: ir_set_string(g, node, s->name, hostile_strings[k]); break;
  case IR_ATTR_INTS: {
    int n = make_int_list(k, scratch_i, 65536);
    ir_set_ints(g, node, s->name, scratch_i, n);
    break;
  }
  case IR_ATTR_FLOATS: {
    int n = make_float_list(k, scratch_f, 65536);
    ir_set_floats(g, node, s->name, scratch_f, n);
    break;
  }
  case IR_ATTR_TENSOR: {
    static const ir_type types[] = {TY(IR_F32, 0, 0), TY(IR_I64, 1, 3), TY(IR_F32, 1, 0),
                                    TY(IR_BOOL, 2, 2, 2), TY(IR_F64, 1, 1)};
    ir_tensor t;
    ck_assert(ir_tensor_alloc(&t, &types[k % 5], NULL) == 0);
    ir_set_tensor(g, node, s->name, &t);
    ir_tensor_release(&t);
    break;
  }
  default: break;
  }
}

static int n_values_of(const ir_attr_schema *s) {
  switch (s->kind) {
  case IR_ATTR_INT: return s->is_dtype ? IR_DTYPE_COUNT + 2 : N_INTS;
  case IR_ATTR_FLOAT: return N_FLOATS + 3;
  case IR_ATTR_STRING: return N_STRINGS;
  case IR_ATTR_INTS: return N_LISTS;
  case IR_ATTR_FLOATS: return 11;
  case IR_ATTR_TENSOR: return 5;
  default: return 0;
  }
}

/* Builds op with n_in inputs of configuration cfg and n_out results, sets
 * attribute choice ch, verifies and infers. */
static void run_case(ir_op op, const in_cfg *cfg, int n_in, int n_out, attr_choice ch) {
  const ir_op_info *info = ir_op_get(op);
  ir_graph *g = ir_graph_new("hostile");
  g->source = "hostile";
  int in[8];
  for (int k = 0; k < n_in; k++) {
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", k);
    in[k] = ir_add_input(g, nm, k == 0 ? &cfg->first : &cfg->rest);
  }
  int node = ir_node_new(g, op, "n", in, n_in, n_out, NULL);
  for (int i = 0; i < info->n_attrs; i++) {
    const ir_attr_schema *s = &info->attrs[i];
    if (s->required && !(s->operand >= 0 && s->operand < n_in)) set_neutral(g, node, s);
  }
  if (ch.attr >= 0) set_hostile(g, node, &info->attrs[ch.attr], ch.value);
  for (int j = 0; j < n_out; j++) ir_add_output(g, g->nodes[node].out[j]);
  kiln_diag d;
  kiln_diag_init(&d);
  if (ir_verify(g, 0, &d) == KILN_OK) {
    kiln_diag_init(&d);
    if (ir_infer_shapes(g, &d) == KILN_OK) {
      /* what inference wrote must hold: valid types, and the graph verifies */
      for (int j = 0; j < n_out; j++) {
        const ir_value *v = &g->values[g->nodes[node].out[j]];
        if (!v->typed) continue;
        kiln_diag_init(&d);
        ck_assert_msg(ir_type_check(&v->type, &d, "output") == KILN_OK, "%s (%s): %s",
                      info->name, cfg->what, d.msg);
      }
      kiln_diag_init(&d);
      ck_assert_msg(ir_verify(g, 0, &d) == KILN_OK, "%s (%s): after inference: %s",
                    info->name, cfg->what, d.msg);
    } else {
      ck_assert_msg(d.status != KILN_OK && d.msg[0], "%s (%s): an error without a message",
                    info->name, cfg->what);
    }
  } else {
    ck_assert_msg(d.msg[0], "%s: verifier error without a message", info->name);
  }
  ir_graph_free(g);
}

/* Every op (one loop iteration each), every input configuration, input and
 * result counts at both ends of the op's range, each attribute in turn at
 * each of its hostile values. */
START_TEST(test_op_hostile_attrs) {
  ir_op op = (ir_op)_i;
  const ir_op_info *info = ir_op_get(op);
  int max_in = info->max_in < 0 ? 3 : (info->max_in > 5 ? 5 : info->max_in);
  int max_out = info->max_out < 0 ? 3 : (info->max_out > 4 ? 4 : info->max_out);
  int ins[2] = {info->min_in, max_in}, outs[2] = {info->min_out < 1 ? 1 : info->min_out, max_out};
  for (int c = 0; c < N_CFGS; c++)
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++) {
        if ((a && ins[1] == ins[0]) || (b && outs[1] == outs[0])) continue;
        run_case(op, &cfgs[c], ins[a], outs[b], (attr_choice){-1, 0});
        for (int k = 0; k < info->n_attrs; k++)
          for (int v = 0; v < n_values_of(&info->attrs[k]); v++)
            run_case(op, &cfgs[c], ins[a], outs[b], (attr_choice){k, v});
      }
}
END_TEST

/* Pairs of hostile INTS values for ops with several list attributes (pads
 * with strides, starts with ends, ...): the interplay is where sizes are
 * computed from several attributes. */
START_TEST(test_op_hostile_attr_pairs) {
  ir_op op = (ir_op)_i;
  const ir_op_info *info = ir_op_get(op);
  const in_cfg *cfg = &cfgs[0];
  for (int c = 0; c < N_CFGS; c += 5) {
    cfg = &cfgs[c];
    for (int k1 = 0; k1 < info->n_attrs; k1++)
      for (int k2 = k1 + 1; k2 < info->n_attrs; k2++) {
        const ir_attr_schema *s1 = &info->attrs[k1], *s2 = &info->attrs[k2];
        if (s1->kind != IR_ATTR_INTS && s1->kind != IR_ATTR_INT) continue;
        if (s2->kind != IR_ATTR_INTS && s2->kind != IR_ATTR_INT) continue;
        int n1 = n_values_of(s1), n2 = n_values_of(s2);
        for (int v1 = 0; v1 < n1; v1++)
          for (int v2 = 0; v2 < n2; v2++) {
            ir_graph *g = ir_graph_new("hostile");
            g->source = "hostile";
            int in[8];
            for (int k = 0; k < info->min_in; k++)
              in[k] = ir_add_input(g, k ? "y" : "x", k == 0 ? &cfg->first : &cfg->rest);
            int n_out = info->min_out < 1 ? 1 : info->min_out;
            int node = ir_node_new(g, op, "n", in, info->min_in, n_out, NULL);
            for (int i = 0; i < info->n_attrs; i++)
              if (info->attrs[i].required && !(info->attrs[i].operand >= 0 &&
                                                info->attrs[i].operand < info->min_in))
                set_neutral(g, node, &info->attrs[i]);
            set_hostile(g, node, s1, v1);
            set_hostile(g, node, s2, v2);
            ir_add_output(g, g->nodes[node].out[0]);
            kiln_diag d;
            kiln_diag_init(&d);
                      if (ir_verify(g, 0, &d) == KILN_OK) {
              kiln_diag_init(&d);
              if (ir_infer_shapes(g, &d) != KILN_OK)
                ck_assert_msg(d.msg[0], "%s: an error without a message", info->name);
            }
            ir_graph_free(g);
          }
      }
  }
}
END_TEST

/* ---- limits the fuzzers found missing ------------------------------------------------------------ */
/* An empty tensor's other dims are bounded too (as the .kir parser has it):
 * f32[0, 2^30, 2^20] is invalid, f32[0, 2^20, 2^20] is valid. */
START_TEST(test_type_check_empty_tensor_dims) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_type big = TY(IR_F32, 3, 0, INT64_C(1) << 30, INT64_C(1) << 20);
  ck_assert_int_eq(ir_type_check(&big, &d, "t"), KILN_E_NOMEM);
  ir_type ok = TY(IR_F32, 3, 0, INT64_C(1) << 20, INT64_C(1) << 20);
  kiln_diag_init(&d);
  ck_assert_int_eq(ir_type_check(&ok, &d, "t"), KILN_OK);
  ir_type huge_dim = TY(IR_F32, 2, INT64_MAX, 0);
  kiln_diag_init(&d);
  ck_assert_int_eq(ir_type_check(&huge_dim, &d, "t"), KILN_E_NOMEM);
}
END_TEST

/* Compile-time evaluation of a shape-deciding value is bounded: a tiny graph
 * must not make inference allocate gigabytes or multiply for minutes. */
static void expect_const_eval_refused(int matmul) {
  ir_graph *g = ir_graph_new("g");
  g->source = "g";
  ir_type xt = TY(IR_F32, 1, 2);
  int x = ir_add_input(g, "x", &xt);
  int64_t side = matmul ? 2048 : 30000;
  int cs = ir_node_new(g, IR_OP_CONSTANT_OF_SHAPE, "cs", NULL, 0, 1, NULL);
  ir_set_ints(g, cs, "shape", (const int64_t[]){side, side}, 2);
  ir_tensor one = th_tensor(IR_I64, 1, TH_DIMS(1), TH_VALS(1));
  ir_set_tensor(g, cs, "value", &one);
  ir_tensor_release(&one);
  int v = g->nodes[cs].out[0];
  if (matmul) v = g->nodes[ir_node_new(g, IR_OP_MATMUL, "mm", (int[]){v, v}, 2, 1, NULL)].out[0];
  int rs = ir_node_new(g, IR_OP_REDUCE_SUM, "sum", &v, 1, 1, NULL);
  ir_set_int(g, rs, "keepdims", 0);
  int ex = ir_node_new(g, IR_OP_EXPAND, "ex", (int[]){x, g->nodes[rs].out[0]}, 2, 1, NULL);
  ir_add_output(g, g->nodes[ex].out[0]);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_eq(ir_verify(g, 0, &d), KILN_OK);
  ck_assert_int_eq(ir_infer_shapes(g, &d), KILN_E_UNSUPPORTED);
  ck_assert_msg(strstr(d.msg, "at compile time") && strstr(d.msg, matmul ? "'mm'" : "'sum'"),
                "%s", d.msg);
  ir_graph_free(g);
}

START_TEST(test_const_eval_budget) {
  expect_const_eval_refused(0); /* 900M elements: memory */
  expect_const_eval_refused(1); /* a 2048^3 matmul: time */
}
END_TEST

static Suite *hostile_suite(void) {
  Suite *s = suite_create("hostile_attrs");
  TCase *tc = tcase_create("single");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_op_hostile_attrs, 0, IR_OP_COUNT);
  suite_add_tcase(s, tc);
  tc = tcase_create("pairs");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_op_hostile_attr_pairs, 0, IR_OP_COUNT);
  suite_add_tcase(s, tc);
  tc = tcase_create("limits");
  tcase_add_test(tc, test_type_check_empty_tensor_dims);
  tcase_add_test(tc, test_const_eval_budget);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(hostile_suite)

/* Unit tests for the IR core: graphs, names, attributes, verifier, ordering. */
#include <string.h>

#include "harness.h"

START_TEST(test_unique_names) {
  ir_graph *g = ir_graph_new("g");
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {4}};
  int a = ir_add_input(g, "x", &t);
  int b = ir_value_new(g, "x", IR_VAL_NODE);
  int c = ir_value_new(g, "x", IR_VAL_NODE);
  ck_assert_str_eq(g->values[a].name, "x");
  ck_assert_str_eq(g->values[b].name, "x.1");
  ck_assert_str_eq(g->values[c].name, "x.2");
  ck_assert_int_eq(ir_value_find(g, "x.1"), b);
  ck_assert_int_eq(ir_value_find(g, "nope"), -1);
  for (int i = 0; i < 1000; i++) ir_value_new(g, "many", IR_VAL_NODE);
  ck_assert_int_ge(ir_value_find(g, "many.999"), 0);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_attrs_and_defaults) {
  ir_graph *g = ir_graph_new("g");
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {4}};
  int x = ir_add_input(g, "x", &t);
  int n = ir_node_new(g, IR_OP_LEAKY_RELU, "lr", &x, 1, 1, NULL);
  ck_assert(ir_attr_float(&g->nodes[n], "alpha") > 0.0099 &&
            ir_attr_float(&g->nodes[n], "alpha") < 0.0101);
  ck_assert(!ir_attr_has(&g->nodes[n], "alpha"));
  ir_set_float(g, n, "alpha", 0.5);
  ck_assert(ir_attr_float(&g->nodes[n], "alpha") == 0.5);
  ir_set_float(g, n, "alpha", 0.25);
  ck_assert_int_eq(g->nodes[n].n_attrs, 1);
  ck_assert(ir_attr_float(&g->nodes[n], "alpha") == 0.25);
  ir_attr_remove(g, n, "alpha");
  ck_assert_int_eq(g->nodes[n].n_attrs, 0);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_verify_errors) {
  ir_graph *g = ir_graph_new("g");
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {4}};
  int x = ir_add_input(g, "x", &t);
  int n = ir_node_new(g, IR_OP_RELU, "r", &x, 1, 1, NULL);
  kiln_diag d;
  kiln_diag_init(&d);
  /* no outputs */
  ck_assert_int_ne(ir_verify(g, 0, &d), 0);
  ck_assert(strstr(d.msg, "no outputs"));
  ir_add_output(g, g->nodes[n].out[0]);
  kiln_diag_clear(&d);
  ck_assert_int_eq(ir_verify(g, 0, &d), 0);
  /* untyped with require_types */
  ck_assert_int_ne(ir_verify(g, 1, &d), 0);
  kiln_diag_clear(&d);
  /* wrong arity */
  int two[2] = {x, x};
  ir_node_set_inputs(g, n, two, 2);
  ck_assert_int_ne(ir_verify(g, 0, &d), 0);
  ck_assert(strstr(d.msg, "inputs"));
  ir_graph_free(g);
}
END_TEST

START_TEST(test_use_before_def) {
  ir_graph *g = ir_graph_new("g");
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {4}};
  int x = ir_add_input(g, "x", &t);
  int v = ir_value_new(g, "later", IR_VAL_NODE);
  int n1 = ir_node_new(g, IR_OP_RELU, "first", &v, 1, 1, NULL);
  int n2 = ir_node_new_with_outputs(g, IR_OP_NEG, "second", &x, 1, &v, 1);
  (void)n2;
  ir_add_output(g, g->nodes[n1].out[0]);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_ne(ir_verify(g, 0, &d), 0);
  ck_assert(strstr(d.msg, "before its definition"));
  kiln_diag_clear(&d);
  ck_assert_int_eq(ir_graph_toposort(g, &d), 0);
  ck_assert_int_eq(ir_verify(g, 0, &d), 0);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_NEG);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_cycle_detected) {
  ir_graph *g = ir_graph_new("g");
  int a = ir_value_new(g, "a", IR_VAL_NODE);
  int b = ir_value_new(g, "b", IR_VAL_NODE);
  ir_node_new_with_outputs(g, IR_OP_RELU, "n1", &a, 1, &b, 1);
  ir_node_new_with_outputs(g, IR_OP_RELU, "n2", &b, 1, &a, 1);
  ir_add_output(g, a);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_ne(ir_graph_toposort(g, &d), 0);
  ck_assert(strstr(d.msg, "cycle"));
  ir_graph_free(g);
}
END_TEST

START_TEST(test_compact) {
  ir_graph *g = ir_graph_new("g");
  ir_type t = {.dtype = IR_F32, .rank = 1, .dims = {4}};
  int x = ir_add_input(g, "x", &t);
  float c[4] = {1, 2, 3, 4};
  int k = ir_add_const(g, "k", &t, c);
  int unused = ir_add_const(g, "unused", &t, c);
  (void)unused;
  int in2[2] = {x, k};
  int n1 = ir_node_new(g, IR_OP_ADD, "add", in2, 2, 1, NULL);
  int n2 = ir_node_new(g, IR_OP_NEG, "dead", &x, 1, 1, NULL);
  ir_add_output(g, g->nodes[n1].out[0]);
  ir_node_remove(g, n2);
  ir_graph_compact(g);
  ck_assert_int_eq(g->n_nodes, 1);
  ck_assert_int_eq(ir_value_find(g, "unused"), -1);
  ck_assert_int_ge(ir_value_find(g, "k"), 0);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_verify(g, 0, &d) == 0, "%s", d.msg);
  ir_graph *cl = ir_graph_clone(g);
  ck_assert_int_eq(cl->n_nodes, 1);
  ck_assert_msg(ir_verify(cl, 0, &d) == 0, "%s", d.msg);
  ir_graph_free(cl);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_dtypes) {
  ir_dtype t;
  for (int i = 0; i < IR_DTYPE_COUNT; i++) {
    ck_assert_int_eq(ir_dtype_from_name(ir_dtype_name((ir_dtype)i), &t), 0);
    ck_assert_int_eq(t, i);
  }
  ck_assert_int_ne(ir_dtype_from_name("f33", &t), 0);
  /* saturating, NaN-safe float -> int stores */
  int32_t i32;
  ir_store_f(IR_I32, &i32, 0, 1e20);
  ck_assert_int_eq(i32, INT32_MAX);
  ir_store_f(IR_I32, &i32, 0, 0.0 / 0.0);
  ck_assert_int_eq(i32, 0);
  uint16_t h;
  ir_store_f(IR_F16, &h, 0, 1.5);
  ck_assert(ir_load_f(IR_F16, &h, 0) == 1.5);
  ir_store_f(IR_BF16, &h, 0, -2.0);
  ck_assert(ir_load_f(IR_BF16, &h, 0) == -2.0);
}
END_TEST

START_TEST(test_type_limits) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_type t = {.dtype = IR_F32, .rank = 2, .dims = {1 << 20, 1 << 21}};
  ck_assert_int_ne(ir_type_check(&t, &d, "big"), 0);
  ck_assert(strstr(d.msg, "2^40"));
  kiln_diag_clear(&d);
  t.dims[1] = -1;
  ck_assert_int_ne(ir_type_check(&t, &d, "neg"), 0);
}
END_TEST

/* docs/ir.md lists every op of the table (keeps the reference in sync). */
START_TEST(test_ops_documented) {
  FILE *f = fopen("docs/ir.md", "rb");
  ck_assert_msg(f != NULL, "docs/ir.md not found (run from the repo root)");
  static char doc[1 << 20];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  doc[n] = 0;
  fclose(f);
  for (int op = 0; op < IR_OP_COUNT; op++) {
    char pat[128];
    snprintf(pat, sizeof pat, "| `%s` |", ir_op_name((ir_op)op));
    ck_assert_msg(strstr(doc, pat) != NULL, "docs/ir.md does not document op %s",
                  ir_op_name((ir_op)op));
  }
}
END_TEST

/* Every op of the table has known-value tests in tests/unit/test_ops_*.c,
 * which name the op as a string ("relu") when they run it through th_check
 * (`fused` has its own suite, test_fuse.c). A new op without tests fails
 * here. */
START_TEST(test_ops_have_value_tests) {
  static const char *const files[] = {"tests/unit/test_ops_elementwise.c",
                                      "tests/unit/test_ops_nn.c", "tests/unit/test_ops_reduce.c",
                                      "tests/unit/test_ops_shape.c"};
  static char src[4 << 20];
  size_t n = 0;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    FILE *f = fopen(files[i], "rb");
    ck_assert_msg(f != NULL, "%s not found (run from the repo root)", files[i]);
    n += fread(src + n, 1, sizeof src - 1 - n, f);
    fclose(f);
  }
  src[n] = 0;
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (op == IR_OP_FUSED) continue;
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\"", ir_op_name((ir_op)op));
    ck_assert_msg(strstr(src, pat) != NULL, "op %s has no known-value test in tests/unit/test_ops_*.c",
                  ir_op_name((ir_op)op));
  }
}
END_TEST

static Suite *ir_suite(void) {
  Suite *s = suite_create("ir");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_unique_names);
  tcase_add_test(tc, test_attrs_and_defaults);
  tcase_add_test(tc, test_verify_errors);
  tcase_add_test(tc, test_use_before_def);
  tcase_add_test(tc, test_cycle_detected);
  tcase_add_test(tc, test_compact);
  tcase_add_test(tc, test_dtypes);
  tcase_add_test(tc, test_type_limits);
  tcase_add_test(tc, test_ops_documented);
  tcase_add_test(tc, test_ops_have_value_tests);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(ir_suite)

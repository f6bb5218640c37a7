/* Graphviz DOT output (ir/dot.c, `kiln inspect --dot`):
 *
 * - string escaping: quotes, backslashes (so no Graphviz `\N`, `\l`, ...
 *   escape can come from a name), `&` (Graphviz decodes HTML entities),
 *   control bytes, invalid UTF-8; valid UTF-8 passes unchanged;
 * - a small model after -O2: its fused kernel is a cluster holding the
 *   fused ops, edges carry `dtype[dims]` labels, inputs, outputs and
 *   constants are drawn, hostile names are escaped, no quoted string spans
 *   a line, and the output is the same every time;
 * - hand-written nested bodies: edges go through fused nodes to the body
 *   nodes (into a body input, out of a body output, and a body output that
 *   is a body input);
 * - untyped values give unlabelled edges; write errors are reported.
 * tests/cli/cli_test.sh checks the command line (--dot, --svg) and, when
 * Graphviz is installed, that `dot -Tsvg` accepts the output.
 */
#include <stdlib.h>
#include <string.h>

#include "frontend/kir.h"
#include "harness.h"
#include "ir/dot.h"
#include "passes/pass.h"

static char *escaped(const char *s) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  ir_dot_put_string(f, s);
  ck_assert_int_eq(fclose(f), 0);
  return buf;
}

static void check_escape(const char *in, const char *want) {
  char *got = escaped(in);
  ck_assert_msg(!strcmp(got, want), "escape of '%s': got %s, want %s", in, got, want);
  free(got);
}

START_TEST(test_escape) {
  check_escape("plain_name.1", "\"plain_name.1\"");
  check_escape("", "\"\"");
  check_escape("a\"b", "\"a\\\"b\"");
  check_escape("a\\b", "\"a\\\\b\"");
  check_escape("\\N\\l\\", "\"\\\\N\\\\l\\\\\"");
  check_escape("x&lt;y", "\"x&amp;lt;y\"");
  check_escape("line\nbreak\ttab\rcr", "\"line\\\\nbreak\\\\ttab\\\\rcr\"");
  check_escape("\x01\x1f\x7f", "\"\\\\x01\\\\x1f\\\\x7f\"");
  check_escape("caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\xa5", "\"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\xa5\"");
  /* invalid UTF-8: a lone continuation byte, a truncated sequence, an
   * overlong form, a surrogate, a byte that never starts one */
  check_escape("\x80", "\"\\\\x80\"");
  check_escape("a\xc3", "\"a\\\\xc3\"");
  check_escape("\xc0\xaf", "\"\\\\xc0\\\\xaf\"");
  check_escape("\xed\xa0\x80", "\"\\\\xed\\\\xa0\\\\x80\"");
  check_escape("\xff", "\"\\\\xff\"");
  check_escape("<{|}>", "\"<{|}>\"");
}
END_TEST

/* ---- graphs -------------------------------------------------------------------------------- */

static ir_graph *parse(const char *text) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("dot_test.kir", text, strlen(text), ".", &d);
  ck_assert_msg(g != NULL, "parse: %s", d.msg);
  return g;
}

static void run_passes(ir_graph *g, const char *passes) {
  kiln_diag d;
  kiln_diag_init(&d);
  pass_pipeline p;
  if (passes) ck_assert_int_eq(pass_pipeline_parse(passes, &p, &d), 0);
  else pass_pipeline_for_level(2, &p);
  pass_options po;
  pass_options_default(&po);
  po.verify_each = 1;
  ck_assert_msg(pass_run(g, &p, &po, &d) == 0, "pipeline: %s", d.msg);
}

static char *dot_of(const ir_graph *g) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_write_dot(g, f, &d) == 0, "ir_write_dot: %s", d.msg);
  ck_assert_int_eq(fclose(f), 0);
  return buf;
}

static void assert_has(const char *text, const char *want) {
  ck_assert_msg(strstr(text, want) != NULL, "DOT lacks <%s>:\n%s", want, text);
}

/* Every line has its quoted strings closed (unescaped quotes come in
 * pairs): no name put a raw newline inside a string. */
static void assert_quotes_balanced(const char *text) {
  int open = 0, line = 1;
  for (const char *p = text; *p; p++) {
    if (*p == '\\' && open && p[1]) {
      p++;
      ck_assert_msg(*p != '\n', "escaped newline in a string on line %d", line);
      continue;
    }
    if (*p == '"') open = !open;
    if (*p == '\n') {
      ck_assert_msg(!open, "a quoted string spans line %d:\n%s", line, text);
      line++;
    }
  }
  ck_assert(!open);
}

/* The text of cluster `cluster_<id> { ... }` (malloc'd), which must exist. */
static char *cluster_text(const char *text, const char *id) {
  char head[128];
  snprintf(head, sizeof head, "subgraph cluster_%s {\n", id);
  const char *a = strstr(text, head);
  ck_assert_msg(a != NULL, "no %s in:\n%s", head, text);
  int depth = 0;
  const char *p = a;
  for (; *p; p++) {
    if (*p == '"') { /* skip strings */
      for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1]) p++;
      continue;
    }
    if (*p == '{') depth++;
    if (*p == '}' && --depth == 0) break;
  }
  ck_assert(*p == '}');
  return strndup(a, (size_t)(p - a + 1));
}

static const char *contraction_kir =
    "graph \"hostile \\\"g\\\"\" {\n"
    "  input %\"x\\\"in\\\\put\\n&lt;\": f32[2,8]\n"
    "  param %w: f32[8,16] = uniform(seed=1)\n"
    "  param %\"b\\xff\\xc3\\xa9\": f32[16] = uniform(seed=2)\n"
    "  %h = matmul(%\"x\\\"in\\\\put\\n&lt;\", %w) @\"mm \\\"q\\\" \\\\N\"\n"
    "  %hb = add(%h, %\"b\\xff\\xc3\\xa9\") @bias_add\n"
    "  %\"y\\\\l\" = relu(%hb)\n"
    "  %z = reduce_sum(%\"y\\\\l\") {axes = [1], keepdims = 0}\n"
    "  output %\"y\\\\l\", %z\n"
    "}\n";

START_TEST(test_fused_model) {
  ir_graph *g = parse(contraction_kir);
  run_passes(g, NULL);
  char *t = dot_of(g);
  assert_quotes_balanced(t);
  ck_assert(!strncmp(t, "digraph kiln {\n", 15));
  ck_assert(t[strlen(t) - 2] == '}' && t[strlen(t) - 1] == '\n');
  /* the graph's own name, escaped */
  assert_has(t, "label=\"hostile \\\"g\\\"\"");
  /* one fused kernel (matmul, add, relu) as a cluster, the reduction outside */
  ck_assert_ptr_null(strstr(strstr(t, "subgraph cluster_") + 1, "subgraph cluster_"));
  char *c = cluster_text(t, "n0");
  assert_has(c, "label=\"fused (contraction)\\nfused0\"");
  assert_has(c, "n0_n0 [label=\"matmul\\nmm \\\"q\\\" \\\\N\"]");
  assert_has(c, "n0_n1 [label=\"add\\nbias_add\"]");
  assert_has(c, "n0_n2 [label=\"relu\"]");
  ck_assert_ptr_null(strstr(c, "reduce_sum"));
  free(c);
  assert_has(t, "n1 [label=\"reduce_sum\"]");
  /* inputs, outputs, constants; hostile names escaped */
  assert_has(t, "label=\"input\\nx\\\"in\\\\put\\\\n&amp;lt;\\nf32[2,8]\"");
  assert_has(t, "out0 [shape=oval, style=filled, fillcolor=\"#fde2c8\", "
                "label=\"output\\ny\\\\l\\nf32[2,16]\"]");
  assert_has(t, "label=\"output\\nz\\nf32[2]\"");
  assert_has(t, "label=\"w\\nf32[8,16]\"");
  assert_has(t, "label=\"b\\\\xff\xc3\xa9\\nf32[16]\"");
  /* edges: into the body nodes from outside, inside the kernel, out of it,
   * each labelled with its type */
  assert_has(t, "v0 -> n0_n0 [label=\"f32[2,8]\"];\n");
  assert_has(t, "v1 -> n0_n0 [label=\"f32[8,16]\", color=\"#999999\"];\n");
  assert_has(t, "n0_n0 -> n0_n1 [label=\"f32[2,16]\"];\n");
  assert_has(t, "v2 -> n0_n1 [label=\"f32[16]\", color=\"#999999\"];\n");
  assert_has(t, "n0_n1 -> n0_n2 [label=\"f32[2,16]\"];\n");
  assert_has(t, "n0_n2 -> n1 [label=\"f32[2,16]\"];\n");
  assert_has(t, "n0_n2 -> out0 [label=\"f32[2,16]\"];\n");
  assert_has(t, "n1 -> out1 [label=\"f32[2]\"];\n");
  /* deterministic: the same graph, parsed and optimised again */
  ir_graph *g2 = parse(contraction_kir);
  run_passes(g2, NULL);
  char *t2 = dot_of(g2);
  ck_assert_str_eq(t, t2);
  free(t2);
  ir_graph_free(g2);
  free(t);
  ir_graph_free(g);
}
END_TEST

/* Nested bodies: x feeds the inner relu through two body inputs; %b in
 * the outer body is the inner body's output; %z is the outer body's input
 * passed straight out. */
static const char *nested_kir =
    "graph nest {\n"
    "  input %x: f32[4]\n"
    "  %y: f32[4], %z: f32[4] = fused(%x) {kind = \"elementwise\"} @outer graph outer {\n"
    "    input %a: f32[4]\n"
    "    %b: f32[4] = fused(%a) {kind = \"elementwise\"} @inner graph inner {\n"
    "      input %p: f32[4]\n"
    "      %q: f32[4] = relu(%p)\n"
    "      output %q\n"
    "    }\n"
    "    %c: f32[4] = neg(%b)\n"
    "    output %c, %a\n"
    "  }\n"
    "  %w: f32[4] = add(%y, %z)\n"
    "  output %w\n"
    "}\n";

START_TEST(test_nested_bodies) {
  ir_graph *g = parse(nested_kir);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_verify(g, 1, &d) == 0, "verify: %s", d.msg);
  char *t = dot_of(g);
  assert_quotes_balanced(t);
  char *outer = cluster_text(t, "n0");
  char *inner = cluster_text(t, "n0_n0");
  ck_assert_ptr_nonnull(strstr(outer, inner));
  assert_has(inner, "n0_n0_n0 [label=\"relu\"]");
  assert_has(outer, "n0_n1 [label=\"neg\"]");
  assert_has(t, "v0 -> n0_n0_n0 [label=\"f32[4]\"];\n");
  assert_has(t, "n0_n0_n0 -> n0_n1 [label=\"f32[4]\"];\n");
  assert_has(t, "n0_n1 -> n1 [label=\"f32[4]\"];\n");
  assert_has(t, "v0 -> n1 [label=\"f32[4]\"];\n");
  assert_has(t, "n1 -> out0 [label=\"f32[4]\"];\n");
  free(inner);
  free(outer);
  free(t);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_untyped_and_repeated_operands) {
  /* no pipeline: %h is untyped, so its edge has no label; mul(h, h) reads
   * one value twice and draws one edge */
  ir_graph *g = parse("graph u {\n  input %x: f32[3]\n  %h = relu(%x)\n"
                      "  %s = mul(%h, %h)\n  output %s\n}\n");
  char *t = dot_of(g);
  assert_has(t, "v0 -> n0 [label=\"f32[3]\"];\n");
  assert_has(t, "n0 -> n1;\n");
  ck_assert_ptr_null(strstr(strstr(t, "n0 -> n1;\n") + 1, "n0 -> n1"));
  assert_has(t, "label=\"output\\ns\\n?\"");
  free(t);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_write_error) {
  ir_graph *g = parse(nested_kir);
  FILE *f = fopen("/dev/full", "w");
  if (!f) {
    ir_graph_free(g);
    return; /* no /dev/full here */
  }
  setvbuf(f, NULL, _IONBF, 0);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_eq(ir_write_dot(g, f, &d), KILN_E_IO);
  ck_assert(strstr(d.msg, "cannot write") != NULL);
  fclose(f);
  ir_graph_free(g);
}
END_TEST

static Suite *dot_suite(void) {
  Suite *s = suite_create("dot");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_escape);
  tcase_add_test(tc, test_fused_model);
  tcase_add_test(tc, test_nested_bodies);
  tcase_add_test(tc, test_untyped_and_repeated_operands);
  tcase_add_test(tc, test_write_error);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(dot_suite)

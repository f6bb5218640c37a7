/* The .kir format: parser (frontend/kir_parser.c), printer (ir/printer.c) and
 * initialisers (ir/init.c), against docs/kir.md. Parse, print and verify
 * only: nothing here needs shape inference or the interpreter.
 *
 * The central property: for every graph g, print(parse(print(g))) ==
 * print(g) byte for byte. It is checked on every .kir file under examples/
 * and tests/ (files meant not to parse are named *.invalid.kir and
 * skipped), on hand-built graphs that exercise every printable feature, and
 * on random mutations of the examples (which must fail cleanly or round
 * trip). Golden tests that expect an error may fail to parse. */
#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/kir.h"
#include "harness.h"

/* ---- helpers --------------------------------------------------------------------- */
static ir_graph *parse_text(const char *text) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("t.kir", text, strlen(text), NULL, &d);
  ck_assert_msg(g != NULL, "parse failed: %s\n--- text:\n%s", d.msg, text);
  return g;
}

static char *print_graph(const ir_graph *g, const ir_print_opts *o) {
  kiln_diag d;
  kiln_diag_init(&d);
  char *s = ir_print_str(g, o, &d);
  ck_assert_msg(s != NULL, "print failed: %s", d.msg);
  return s;
}

/* Asserts print(parse(print(g))) == print(g); returns print(g) (free it). */
static char *check_roundtrip(const ir_graph *g, const ir_print_opts *o) {
  char *s1 = print_graph(g, o);
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g2 = kir_parse_string("printed.kir", s1, strlen(s1), g->base_dir, &d);
  ck_assert_msg(g2 != NULL, "printed text does not parse: %s\n--- text:\n%s", d.msg, s1);
  char *s2 = print_graph(g2, o);
  ck_assert_msg(strcmp(s1, s2) == 0, "round trip differs\n--- first:\n%s--- second:\n%s", s1, s2);
  free(s2);
  ir_graph_free(g2);
  return s1;
}

/* Parsing must fail with this status and exactly this message. */
static void expect_error(const char *text, int status, const char *msg) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("t.kir", text, strlen(text), NULL, &d);
  ck_assert_msg(g == NULL, "expected an error for:\n%s", text);
  ck_assert_msg(strcmp(d.msg, msg) == 0, "message\n  got:  %s\n  want: %s", d.msg, msg);
  ck_assert_msg(d.status == status, "status %d (%s), want %d for: %s", d.status,
                kiln_status_name(d.status), status, d.msg);
}

static const char *MLP_DOC =
    "# A 33-512-10 multilayer perceptron.\n"
    "graph mlp {\n"
    "  input %x: f32[1,33]\n"
    "  param %w1: f32[33,512] = kaiming_uniform(seed=1)\n"
    "  param %b1: f32[512] = zeros\n"
    "  param %w2: f32[512,10] = kaiming_uniform(seed=2)\n"
    "  param %b2: f32[10] = zeros\n"
    "  %h = matmul(%x, %w1)\n"
    "  %h1 = add(%h, %b1)\n"
    "  %a = relu(%h1)\n"
    "  %z = matmul(%a, %w2)\n"
    "  %y = add(%z, %b2)\n"
    "  output %y\n"
    "}\n";

/* A temporary directory, removed with its files by rm_tmpdir. */
static void make_tmpdir(char *buf, size_t n) {
  snprintf(buf, n, "/tmp/kiln_test_kir_XXXXXX");
  ck_assert(mkdtemp(buf) != NULL);
}
static void rm_tmpdir(const char *dir) {
  DIR *dd = opendir(dir);
  if (!dd) return;
  struct dirent *e;
  char p[4096];
  while ((e = readdir(dd))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(dd);
  rmdir(dir);
}
static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert(f != NULL);
  ck_assert(fwrite(data, 1, n, f) == n);
  fclose(f);
}

/* ---- parsing ---------------------------------------------------------------------- */
START_TEST(test_parse_doc_example) {
  ir_graph *g = parse_text(MLP_DOC);
  ck_assert_str_eq(g->name, "mlp");
  ck_assert_str_eq(g->source, "t.kir");
  ck_assert(g->base_dir[0] == '/'); /* made absolute */
  ck_assert_int_eq(g->n_inputs, 1);
  ck_assert_int_eq(g->n_nodes, 5);
  ck_assert_int_eq(g->n_outputs, 1);
  int64_t params = 0;
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].kind == IR_VAL_CONST && g->values[v].is_param)
      params += ir_type_numel(&g->values[v].type);
  ck_assert_int_eq(params, 22538);
  int w1 = ir_value_find(g, "w1");
  ck_assert_int_ge(w1, 0);
  ck_assert_int_eq(g->values[w1].src, IR_CSRC_INIT);
  ck_assert_str_eq(g->values[w1].init.name, "kaiming_uniform");
  ck_assert_int_eq(g->values[w1].init.n_args, 1);
  ck_assert_str_eq(g->values[w1].init.arg_names[0], "seed");
  ck_assert(g->values[w1].init.arg_vals[0] == 1.0);
  ck_assert(g->values[w1].data != NULL);
  ck_assert_int_eq(g->nodes[0].op, IR_OP_MATMUL);
  ck_assert_int_eq(g->nodes[2].op, IR_OP_RELU);
  ck_assert_str_eq(g->values[g->outputs[0]].name, "y");
  ck_assert(!g->values[g->outputs[0]].typed);
  /* the canonical print of the doc example is the example without its comment */
  char *s = check_roundtrip(g, NULL);
  ck_assert_str_eq(s, strchr(MLP_DOC, '\n') + 1);
  free(s);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_parse_constructs) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_file("tests/data/kir/constructs.kir", &d);
  ck_assert_msg(g != NULL, "%s", d.msg);
  ck_assert_str_eq(g->name, "constructs test");
  ck_assert_str_eq(g->source, "tests/data/kir/constructs.kir");
  ck_assert_msg(strstr(g->base_dir, "/tests/data/kir") && g->base_dir[0] == '/', "%s",
                g->base_dir);
  ck_assert_int_eq(g->arena_bytes, 4096);
  int x = ir_value_find(g, "x"), in1 = ir_value_find(g, "input.1");
  ck_assert_int_eq(g->values[x].offset, 0);
  ck_assert_int_eq(g->values[in1].offset, -1);
  ck_assert_int_eq(ir_value_find(g, "0"), g->inputs[2]);
  /* literals of every dtype */
  const ir_value *v = &g->values[ir_value_find(g, "s")];
  ck_assert_int_eq(v->type.rank, 0);
  ck_assert(*(float *)v->data == 0.5f);
  v = &g->values[ir_value_find(g, "d")];
  ck_assert(((double *)v->data)[0] == -2.5e-3 && ((double *)v->data)[1] == 1e300);
  v = &g->values[ir_value_find(g, "flags")];
  ck_assert(memcmp(v->data, "\1\0\1", 3) == 0);
  v = &g->values[ir_value_find(g, "i8")];
  ck_assert(((int8_t *)v->data)[0] == -128 && ((int8_t *)v->data)[1] == 127);
  v = &g->values[ir_value_find(g, "u8")];
  ck_assert(((uint8_t *)v->data)[1] == 255);
  v = &g->values[ir_value_find(g, "i64")];
  ck_assert(((int64_t *)v->data)[0] == INT64_MAX && ((int64_t *)v->data)[1] == INT64_MIN);
  v = &g->values[ir_value_find(g, "h")];
  ck_assert(ir_load_f(IR_F16, v->data, 1) == -65504.0);
  v = &g->values[ir_value_find(g, "special")];
  float *sp = v->data;
  ck_assert(isinf(sp[0]) && sp[0] > 0 && isinf(sp[1]) && sp[1] < 0 && isnan(sp[2]));
  ck_assert(sp[3] == 0 && signbit(sp[3]));
  v = &g->values[ir_value_find(g, "elided")];
  ck_assert_int_eq(v->src, IR_CSRC_ELIDED);
  ck_assert(v->data == NULL);
  v = &g->values[ir_value_find(g, "w")];
  ck_assert(v->is_param && v->src == IR_CSRC_INIT);
  ck_assert(!g->values[ir_value_find(g, "minf")].is_param);
  v = &g->values[ir_value_find(g, "minf")];
  ck_assert(isinf(((float *)v->data)[1]) && ((float *)v->data)[1] < 0);
  v = &g->values[ir_value_find(g, "k")];
  ck_assert(((int64_t *)v->data)[0] == 1 && ((int64_t *)v->data)[1] == 1);
  /* nodes */
  const ir_node *n = &g->nodes[0];
  ck_assert_str_eq(n->name, "/layer1/Add");
  const ir_value *m = &g->values[ir_value_find(g, "m")];
  ck_assert(m->typed && m->type.rank == 2 && m->type.dims[1] == 3 && m->offset == 64);
  for (int i = 0; i < g->n_nodes; i++) {
    n = &g->nodes[i];
    const ir_attr *a;
    switch (n->op) {
    case IR_OP_LEAKY_RELU:
      a = ir_attr_find(n, "alpha");
      ck_assert(a && a->kind == IR_ATTR_FLOAT && a->f == (double)0.1f); /* float32 value */
      break;
    case IR_OP_GELU: ck_assert_str_eq(ir_attr_str(n, "approximate"), "tanh"); break;
    case IR_OP_SQUEEZE:
      a = ir_attr_find(n, "axes");
      ck_assert(a && a->kind == IR_ATTR_INTS && a->n == 0); /* [] takes the schema's kind */
      break;
    case IR_OP_CLIP: ck_assert(n->n_in == 3 && n->in[1] == -1 && n->in[2] >= 0); break;
    case IR_OP_SPLIT:
      ck_assert_int_eq(n->n_out, 2);
      ck_assert_str_eq(n->attrs[0].name, "axis"); /* sorted whatever the written order */
      break;
    case IR_OP_CAST: ck_assert_int_eq(ir_attr_int(n, "to"), IR_I64); break;
    case IR_OP_CONSTANT_OF_SHAPE:
      a = ir_attr_find(n, "value");
      ck_assert(a && a->kind == IR_ATTR_TENSOR && a->t.type.dtype == IR_F32);
      ck_assert(*(float *)a->t.data == 0.25f);
      ck_assert_int_eq(n->n_in, 0);
      break;
    case IR_OP_RESIZE:
      a = ir_attr_find(n, "scales");
      ck_assert(a && a->kind == IR_ATTR_FLOATS && a->n == 2 && a->floats[1] == 2.5);
      break;
    case IR_OP_EXP:
      ck_assert_str_eq(n->name, "e_node");
      ck_assert(n->body != NULL);
      ck_assert_str_eq(n->body->name, "fused");
      ck_assert_int_eq(n->body->n_inputs, 1);
      break;
    default: break;
    }
  }
  ck_assert_int_eq(g->n_outputs, 5);
  free(check_roundtrip(g, NULL));
  ir_print_opts o;
  ir_print_opts_default(&o);
  o.show_offsets = 1;
  char *s = check_roundtrip(g, &o);
  ck_assert(strstr(s, "graph \"constructs test\" arena 4096 {\n"));
  ck_assert(strstr(s, "  input %x: f32[2,3] at 0\n"));
  ck_assert(strstr(s, "  %m: f32[2,3] at 64 = mul(%a, %s)\n"));
  free(s);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_file_data) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_file("tests/data/kir/file_data.kir", &d);
  ck_assert_msg(g != NULL, "%s", d.msg);
  const ir_value *w = &g->values[ir_value_find(g, "w")];
  const ir_value *n = &g->values[ir_value_find(g, "n")];
  ck_assert_int_eq(w->src, IR_CSRC_FILE);
  ck_assert(w->file[0] == '/' && strstr(w->file, "tests/data/kir/weights.bin"));
  ck_assert(((float *)w->data)[3] == 1.5f && ((float *)w->data)[15] == 7.5f);
  ck_assert_int_eq(n->file_offset, 64);
  ck_assert(((int64_t *)n->data)[1] == -2 && ((int64_t *)n->data)[3] == -4);
  char *s = check_roundtrip(g, NULL);
  char want[8192];
  snprintf(want, sizeof want, "  const %%n: i64[4] = file(\"%s\", offset=64)\n", n->file);
  ck_assert_msg(strstr(s, want), "%s", s);
  free(s);
  ir_graph_free(g);
}
END_TEST

/* ---- printing ---------------------------------------------------------------------- */
START_TEST(test_print_canonical) {
  ir_graph *g = ir_graph_new("tiny");
  ir_type t14 = th_type(IR_F32, 2, TH_DIMS(1, 4)), t4 = th_type(IR_F32, 1, TH_DIMS(4));
  int x = ir_add_input(g, "x", &t14);
  float w[4] = {0.1f, -2.0f, 1e-7f, 3e10f};
  int wv = ir_add_const(g, "w", &t4, w);
  g->values[wv].is_param = 1;
  const char *names[] = {"y"};
  int n = ir_node_new(g, IR_OP_ADD, "", (int[]){x, wv}, 2, 1, names);
  int n2 = ir_node_new(g, IR_OP_SOFTMAX, "sm", &g->nodes[n].out[0], 1, 1, NULL);
  ir_set_int(g, n2, "axis", -1);
  *ir_out_type(g, &g->nodes[n2], 0) = t14;
  ir_add_output(g, g->nodes[n2].out[0]);
  ir_add_output(g, x);
  char *s = check_roundtrip(g, NULL);
  ck_assert_str_eq(s, "graph tiny {\n"
                      "  input %x: f32[1,4]\n"
                      "  param %w: f32[4] = [0.1, -2.0, 1e-7, 30000000000.0]\n"
                      "  %y = add(%x, %w)\n"
                      "  %t3: f32[1,4] = softmax(%y) {axis = -1} @sm\n"
                      "  output %t3, %x\n"
                      "}\n");
  free(s);
  ir_graph_free(g);
}
END_TEST

/* Reals print as the shortest text that reads back to the same value, with
 * a '.' or an exponent. */
START_TEST(test_print_reals) {
  ir_graph *g = ir_graph_new("reals");
  double dv[] = {100.0, 1e20, 1e-5, 1e-6, 0.1, 1.0 / 3.0, -0.0, 5e-324, 1.7976931348623157e308,
                 123456789012345678.0, 0.000123};
  ir_type td = th_type(IR_F64, 1, TH_DIMS(11));
  int c = ir_add_const(g, "d", &td, dv);
  float fv[] = {0.1f, 16777216.0f, 1e-45f, 3.4028235e38f, 0.35355339f};
  ir_type tf = th_type(IR_F32, 1, TH_DIMS(5));
  int c2 = ir_add_const(g, "f", &tf, fv);
  int n = ir_node_new(g, IR_OP_ADD, "", (int[]){c, c}, 2, 1, NULL);
  ir_add_output(g, g->nodes[n].out[0]);
  ir_add_output(g, c2);
  char *s = check_roundtrip(g, NULL);
  ck_assert_msg(strstr(s, "= [100.0, 1e20, 0.00001, 1e-6, 0.1, 0.3333333333333333, -0.0, 5e-324, "
                          "1.7976931348623157e308, 1.2345678901234568e17, 0.000123]\n"),
                "%s", s);
  ck_assert_msg(strstr(s, "= [0.1, 16777216.0, 1e-45, 3.4028235e38, 0.35355338]\n"), "%s", s);
  free(s);
  ir_graph_free(g);

  /* exactness on many random bit patterns, f32 and f64 */
  uint64_t st = 12345;
  ir_graph *r = ir_graph_new("random");
  enum { N = 4000 };
  double *dd = malloc(sizeof(double) * N);
  float *ff = malloc(sizeof(float) * N);
  for (int i = 0; i < N; i++) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t b = st ^ (st >> 29);
    memcpy(&dd[i], &b, 8);
    uint32_t b32 = (uint32_t)(b >> 32);
    memcpy(&ff[i], &b32, 4);
    if (isnan(dd[i])) dd[i] = (double)i;
    if (isnan(ff[i])) ff[i] = (float)i;
  }
  ir_type tdn = th_type(IR_F64, 1, TH_DIMS(N)), tfn = th_type(IR_F32, 1, TH_DIMS(N));
  int a = ir_add_const(r, "a", &tdn, dd), b = ir_add_const(r, "b", &tfn, ff);
  ir_add_output(r, a);
  ir_add_output(r, b);
  ir_print_opts o;
  ir_print_opts_default(&o);
  o.inline_limit = N;
  char *txt = check_roundtrip(r, &o);
  ir_graph *back = parse_text(txt);
  ck_assert(memcmp(back->values[ir_value_find(back, "a")].data, dd, sizeof(double) * N) == 0);
  ck_assert(memcmp(back->values[ir_value_find(back, "b")].data, ff, sizeof(float) * N) == 0);
  ir_graph_free(back);
  free(txt);
  free(dd);
  free(ff);
  ir_graph_free(r);
}
END_TEST

/* Names that are not plain print quoted, with escapes; the output is valid
 * UTF-8 and reads back to the same bytes. */
START_TEST(test_print_names) {
  const char *vnames[] = {"plain_1.x", "with space", "/layer1/conv/Conv_output_0", "q\"uote",
                          "back\\slash", "tab\there\nnl", "caf\xc3\xa9",
                          "bad\xff\xfe utf8 \xc3", "ctl\x01\x7f", "0", "..."};
  int nn = (int)(sizeof vnames / sizeof vnames[0]);
  ir_graph *g = ir_graph_new("weird name!");
  ir_type t = th_type(IR_F32, 1, TH_DIMS(2));
  int prev = ir_add_input(g, vnames[0], &t);
  for (int i = 1; i < nn; i++) {
    int n = ir_node_new(g, IR_OP_RELU, vnames[nn - i], &prev, 1, 1, &vnames[i]);
    prev = g->nodes[n].out[0];
  }
  ir_add_output(g, prev);
  char *s = check_roundtrip(g, NULL);
  ck_assert_msg(strstr(s, "graph \"weird name!\" {\n"), "%s", s);
  ck_assert_msg(strstr(s, "input %plain_1.x: f32[2]\n"), "%s", s);
  ck_assert_msg(strstr(s, "%\"with space\" = relu(%plain_1.x) @...\n"), "%s", s);
  ck_assert_msg(strstr(s, "%\"q\\\"uote\""), "%s", s);
  ck_assert_msg(strstr(s, "%\"back\\\\slash\""), "%s", s);
  ck_assert_msg(strstr(s, "%\"tab\\there\\nnl\""), "%s", s);
  ck_assert_msg(strstr(s, "%\"caf\xc3\xa9\""), "%s", s);
  ck_assert_msg(strstr(s, "%\"bad\\xff\\xfe utf8 \\xc3\""), "%s", s);
  ck_assert_msg(strstr(s, "%\"ctl\\x01\\x7f\""), "%s", s);
  ck_assert_msg(strstr(s, "%0 = relu("), "%s", s);
  ir_graph *back = parse_text(s);
  for (int i = 0; i < nn; i++) ck_assert_int_ge(ir_value_find(back, vnames[i]), 0);
  ir_graph_free(back);
  free(s);
  ir_graph_free(g);
}
END_TEST

/* Every attribute kind, every dtype literal, scalars, empty lists, absent
 * inputs, multiple results, node names, elided constants. */
START_TEST(test_print_handbuilt) {
  ir_graph *g = ir_graph_new("all");
  ir_type t = th_type(IR_F32, 2, TH_DIMS(2, 2));
  int x = ir_add_input(g, "x", &t);
  /* one constant per dtype, and a scalar of each */
  static const char *dn[] = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool"};
  double vals[3] = {1.5, -2, 0};
  for (int k = 0; k < IR_DTYPE_COUNT; k++) {
    ir_dtype dt;
    ck_assert_int_eq(ir_dtype_from_name(dn[k], &dt), 0);
    ir_tensor tt = th_tensor(dt, 1, TH_DIMS(3), vals);
    char name[32];
    snprintf(name, sizeof name, "c_%s", dn[k]);
    ir_add_const(g, name, &tt.type, tt.data);
    ir_tensor_release(&tt);
    ir_tensor sc = th_tensor(dt, 0, NULL, vals);
    snprintf(name, sizeof name, "s_%s", dn[k]);
    ir_add_const(g, name, &sc.type, sc.data);
    ir_tensor_release(&sc);
  }
  ir_type big = th_type(IR_F32, 1, TH_DIMS(17));
  ir_add_const(g, "big", &big, NULL); /* over the inline limit: elided */
  int el = ir_add_const_nocopy(g, "elided", &big, NULL);
  g->values[el].src = IR_CSRC_ELIDED;
  ir_type e0 = th_type(IR_I64, 1, TH_DIMS(0));
  ir_add_const(g, "empty", &e0, NULL);

  int n1 = ir_node_new(g, IR_OP_LEAKY_RELU, "leaky", &x, 1, 1, NULL);
  ir_set_float(g, n1, "alpha", 0.2);
  int a = g->nodes[n1].out[0];
  int n2 = ir_node_new(g, IR_OP_CONV, "", (int[]){a, a, -1}, 3, 1, NULL); /* absent bias */
  ir_set_ints(g, n2, "pads", NULL, 0);                                      /* empty list */
  ir_set_ints(g, n2, "strides", (const int64_t[]){1, 2}, 2);
  ir_set_string(g, n2, "auto_pad", "SAME_UPPER");
  ir_set_int(g, n2, "group", 1);
  int n3 = ir_node_new(g, IR_OP_RESIZE, "", &x, 1, 1, NULL);
  ir_set_floats(g, n3, "scales", (const double[]){1.0, 0.5}, 2);
  int n4 = ir_node_new(g, IR_OP_CAST, "to bool", &x, 1, 1, NULL);
  ir_set_int(g, n4, "to", IR_BOOL);
  int n5 = ir_node_new(g, IR_OP_CONSTANT_OF_SHAPE, "", NULL, 0, 1, NULL);
  ir_set_ints(g, n5, "shape", (const int64_t[]){3}, 1);
  ir_tensor tv = th_tensor(IR_I32, 0, NULL, TH_VALS(-7));
  ir_set_tensor(g, n5, "value", &tv);
  ir_tensor_release(&tv);
  const char *outs[] = {"s0", "s1", "s2"};
  int n6 = ir_node_new(g, IR_OP_SPLIT, "", &x, 1, 3, outs); /* multiple results */
  ir_set_floats(g, n3, "scales", (const double[]){1.0, 0.5}, 2);
  int n7 = ir_node_new(g, IR_OP_RANGE, "", NULL, 0, 1, NULL);
  ir_set_float(g, n7, "start", 0);
  ir_set_float(g, n7, "limit", 1e30);
  ir_set_float(g, n7, "delta", -0.0);
  ir_set_int(g, n7, "dtype", IR_F64);
  for (int k = 0; k < g->n_nodes; k++)
    for (int j = 0; j < g->nodes[k].n_out; j++) ir_add_output(g, g->nodes[k].out[j]);
  (void)n6;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_verify(g, 0, &d) == 0, "%s", d.msg);
  char *s = check_roundtrip(g, NULL);
  const char *want[] = {
      "  const %c_f32: f32[3] = [1.5, -2.0, 0.0]\n",
      "  const %s_f32: f32[] = 1.5\n",
      "  const %c_f16: f16[3] = [1.5, -2.0, 0.0]\n",
      "  const %c_bf16: bf16[3] = [1.5, -2.0, 0.0]\n",
      "  const %c_f64: f64[3] = [1.5, -2.0, 0.0]\n",
      "  const %c_i64: i64[3] = [1, -2, 0]\n",
      "  const %s_i32: i32[] = 1\n",
      "  const %c_u8: u8[3] = [1, 254, 0]\n", /* -2 wraps, as ir_store_i does */
      "  const %c_bool: bool[3] = [true, true, false]\n",
      "  const %s_bool: bool[] = true\n",
      "  const %big: f32[17] = ...\n",
      "  const %elided: f32[17] = ...\n",
      "  const %empty: i64[0] = []\n",
      "  %t24 = leaky_relu(%x) {alpha = 0.2} @leaky\n",
      ("  %t25 = conv(%t24, %t24, _) {auto_pad = \"SAME_UPPER\", group = 1, pads = [], "
       "strides = [1, 2]}\n"),
      "  %t26 = resize(%x) {scales = [1.0, 0.5]}\n",
      "  %t27 = cast(%x) {to = bool} @\"to bool\"\n",
      "  %t28 = constant_of_shape() {shape = [3], value = i32[] -7}\n",
      "  %s0, %s1, %s2 = split(%x)\n",
      "  %t32 = range() {delta = -0.0, dtype = f64, limit = 1e30, start = 0.0}\n",
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
    ck_assert_msg(strstr(s, want[k]), "missing:\n%s--- in:\n%s", want[k], s);
  free(s);
  ir_graph_free(g);
}
END_TEST

/* Large in-memory constants go to the side file (64-byte aligned, appended)
 * and read back from it; file() constants print their absolute path. */
START_TEST(test_side_file) {
  char dir[64], side[128], kir[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(side, sizeof side, "%s/out.kir.bin", dir);
  snprintf(kir, sizeof kir, "%s/out.kir", dir);
  ir_graph *g = ir_graph_new("side");
  ir_type t20 = th_type(IR_F32, 1, TH_DIMS(20)), t3 = th_type(IR_I8, 1, TH_DIMS(33));
  float a[20];
  int8_t b[33];
  for (int i = 0; i < 20; i++) a[i] = (float)i * 0.25f - 1;
  for (int i = 0; i < 33; i++) b[i] = (int8_t)(i - 16);
  int va = ir_add_const(g, "a", &t20, a);
  int vb = ir_add_const(g, "b", &t3, b);
  ir_add_output(g, va);
  ir_add_output(g, vb);
  ir_print_opts o;
  ir_print_opts_default(&o);
  o.side_file = side;
  o.side_ref = "out.kir.bin"; /* relative to the .kir, as `kiln ir -o` writes it */
  char *s = print_graph(g, &o);
  ck_assert_msg(strstr(s, "const %a: f32[20] = file(\"out.kir.bin\", offset=0)\n"), "%s", s);
  ck_assert_msg(strstr(s, "const %b: i8[33] = file(\"out.kir.bin\", offset=128)\n"), "%s", s);
  struct stat st;
  ck_assert(stat(side, &st) == 0 && st.st_size == 128 + 33);
  write_file(kir, s, strlen(s));
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *back = kir_parse_file(kir, &d);
  ck_assert_msg(back != NULL, "%s", d.msg);
  ck_assert(memcmp(back->values[ir_value_find(back, "a")].data, a, sizeof a) == 0);
  ck_assert(memcmp(back->values[ir_value_find(back, "b")].data, b, sizeof b) == 0);
  ck_assert_str_eq(back->values[ir_value_find(back, "b")].file, side);
  /* re-printed: absolute paths, which then round-trip exactly */
  char *s2 = check_roundtrip(back, &o);
  char want[512];
  snprintf(want, sizeof want, "const %%b: i8[33] = file(\"%s\", offset=128)\n", side);
  ck_assert_msg(strstr(s2, want), "%s", s2);
  ck_assert(stat(side, &st) == 0 && st.st_size == 128 + 33); /* nothing new written */
  /* the full property with an absolute side reference */
  o.side_ref = side;
  free(check_roundtrip(g, &o));
  /* a side file that cannot be written is an i/o error */
  o.side_file = "/nonexistent/dir/side.bin";
  kiln_diag_init(&d);
  ck_assert(ir_print_str(g, &o, &d) == NULL);
  ck_assert_int_eq(d.status, KILN_E_IO);
  ck_assert_str_eq(d.msg, "/nonexistent/dir/side.bin: cannot open: No such file or directory");
  o.side_file = side;
  /* a hand-built file constant with a relative, unnormalised path prints
   * absolute and normalised, as the parser stores it */
  char wbin[160];
  snprintf(wbin, sizeof wbin, "%s/w.bin", dir);
  write_file(wbin, a, sizeof a);
  ir_graph *h = ir_graph_new("rel");
  h->base_dir = ir_arena_strdup(h->arena, dir);
  int vf = ir_add_const(h, "f", &t20, a);
  h->values[vf].src = IR_CSRC_FILE;
  h->values[vf].file = ".//w.bin";
  h->values[vf].file_offset = 0;
  ir_add_output(h, vf);
  char *s3 = check_roundtrip(h, NULL);
  snprintf(want, sizeof want, "const %%f: f32[20] = file(\"%s\", offset=0)\n", wbin);
  ck_assert_msg(strstr(s3, want), "%s", s3);
  free(s3);
  ir_graph_free(h);
  free(s);
  free(s2);
  ir_graph_free(back);
  ir_graph_free(g);
  rm_tmpdir(dir);
}
END_TEST

START_TEST(test_print_locale) {
  /* a locale whose decimal point is a comma must not change the text */
  const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
  if (!loc) loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
  ir_graph *g = parse_text(MLP_DOC);
  ir_graph *h = parse_text("graph g { input %x: f32[2] const %c: f32[2] = [0.5, 1.25] "
                           "%y = leaky_relu(%x) {alpha = 0.5} output %y, %c }");
  char *s = check_roundtrip(h, NULL);
  ck_assert_msg(strstr(s, "[0.5, 1.25]") && strstr(s, "alpha = 0.5"), "%s", s);
  free(s);
  setlocale(LC_NUMERIC, "C");
  ir_graph_free(g);
  ir_graph_free(h);
}
END_TEST

/* ---- every .kir file in the tree ---------------------------------------------------- */
static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Golden tests marked `# EXPECT: error` (tests/golden/golden.cmake) may
 * fail to parse on purpose; when they parse, they must round-trip too. */
static int may_fail(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char line[256];
  int r = 0;
  while (!r && fgets(line, sizeof line, f)) r = strncmp(line, "# EXPECT: error", 15) == 0;
  fclose(f);
  return r;
}

static void walk_kir(const char *dir, int depth, int *count) {
  ck_assert_msg(depth < 16, "directories nested too deeply at %s", dir);
  DIR *dd = opendir(dir);
  if (!dd) return;
  struct dirent *e;
  while ((e = readdir(dd))) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      /* fuzz corpora hold deliberately broken inputs */
      if (!strcmp(e->d_name, "corpus")) continue;
      walk_kir(path, depth + 1, count);
    } else if (S_ISREG(st.st_mode) && ends_with(e->d_name, ".kir") &&
               !ends_with(e->d_name, ".invalid.kir")) {
      kiln_diag d;
      kiln_diag_init(&d);
      ir_graph *g = kir_parse_file(path, &d);
      if (!g && may_fail(path)) continue;
      ck_assert_msg(g != NULL, "%s", d.msg);
      free(check_roundtrip(g, NULL));
      ir_print_opts o;
      ir_print_opts_default(&o);
      o.show_offsets = 1;
      free(check_roundtrip(g, &o));
      ir_graph_free(g);
      (*count)++;
    }
  }
  closedir(dd);
}

START_TEST(test_roundtrip_tree) {
  int count = 0;
  walk_kir("examples", 0, &count);
  walk_kir("tests", 0, &count);
  ck_assert_msg(count >= 5, "found only %d .kir files (run from the source root)", count);
}
END_TEST

START_TEST(test_examples) {
  static const struct {
    const char *path;
    int nodes;
    int64_t params;
  } ex[] = {{"examples/mlp.kir", 5, 22538},
            {"examples/cnn.kir", 9, 8 * 9 + 8 + 16 * 8 * 9 + 16 + 160 + 10},
            {"examples/attention.kir", 22, 64 + 4 * (32 * 32 + 32)}};
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
    kiln_diag d;
    kiln_diag_init(&d);
    ir_graph *g = kir_parse_file(ex[i].path, &d);
    ck_assert_msg(g != NULL, "%s", d.msg);
    ck_assert_int_eq(g->n_nodes, ex[i].nodes);
    int64_t params = 0;
    for (int v = 0; v < g->n_values; v++)
      if (g->values[v].kind == IR_VAL_CONST && g->values[v].is_param)
        params += ir_type_numel(&g->values[v].type);
    ck_assert_int_eq(params, ex[i].params);
    ir_graph_free(g);
  }
}
END_TEST

/* ---- initialisers -------------------------------------------------------------------- */
/* An independent xoshiro256** / splitmix64, to pin the algorithm. */
static uint64_t t_sm(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static uint64_t t_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t t_next(uint64_t s[4]) {
  uint64_t r = t_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = t_rotl(s[3], 45);
  return r;
}

static int fill(const char *spec_text, ir_dtype dt, int rank, const int64_t *dims, void *out,
                kiln_diag *d) {
  /* through the parser, so the spec syntax is covered too */
  char text[512], ts[128];
  ir_type t = th_type(dt, rank, dims);
  snprintf(text, sizeof text, "graph g { param %%w: %s = %s output %%w }",
           ir_type_str(&t, ts, sizeof ts), spec_text);
  kiln_diag_init(d);
  ir_graph *g = kir_parse_string("t.kir", text, strlen(text), NULL, d);
  if (!g) return d->status;
  memcpy(out, g->values[0].data, (size_t)ir_type_nbytes(&t));
  free(check_roundtrip(g, NULL));
  ir_graph_free(g);
  return 0;
}

START_TEST(test_init_known_values) {
  /* committed values: splitmix64 from 0, and the generator seeded with 1 */
  uint64_t x = 0;
  ck_assert(t_sm(&x) == 0xe220a8397b1dcdafull);
  uint64_t s[4];
  x = 1;
  for (int i = 0; i < 4; i++) s[i] = t_sm(&x);
  ck_assert(s[0] == 0x910a2dec89025cc1ull && s[3] == 0x71c18690ee42c90bull);
  ck_assert(t_next(s) == 0xb3f2af6d0fc710c5ull);
  ck_assert(t_next(s) == 0x853b559647364ceaull);

  /* uniform(seed=1) in f64 is exactly (next >> 11) * 2^-53 */
  enum { N = 1000 };
  double u[N];
  kiln_diag d;
  ck_assert_int_eq(fill("uniform(seed=1)", IR_F64, 1, TH_DIMS(N), u, &d), 0);
  ck_assert(u[0] == 0x1.67e55eda1f8e2p-1 && u[5] == 0x1.260918937fedp-3);
  x = 1;
  for (int i = 0; i < 4; i++) s[i] = t_sm(&x);
  for (int i = 0; i < N; i++) ck_assert(u[i] == (double)(t_next(s) >> 11) * 0x1.0p-53);

  /* normal(seed=1): Marsaglia's polar method over the same stream, pairs
   * used in order; the first values are committed, the rest must agree
   * with libm's log to a few ulps */
  double z[N];
  ck_assert_int_eq(fill("normal(seed=1)", IR_F64, 1, TH_DIMS(N), z, &d), 0);
  ck_assert(z[0] == 0x1.e267c87ac62ebp+0 && z[1] == 0x1.84abd879d0e18p-3);
  ck_assert(z[3] == -0x1.e8d0b0399ee9cp+0 && z[5] == -0x1.95abea9281847p-1);
  x = 1;
  for (int i = 0; i < 4; i++) s[i] = t_sm(&x);
  for (int i = 0; i < N;) {
    double a = 2.0 * ((double)(t_next(s) >> 11) * 0x1.0p-53) - 1.0;
    double b = 2.0 * ((double)(t_next(s) >> 11) * 0x1.0p-53) - 1.0;
    double q = a * a + b * b;
    if (q >= 1 || q == 0) continue;
    double m = sqrt(-2.0 * log(q) / q);
    ck_assert_msg(fabs(z[i] - a * m) <= 1e-14 * fabs(a * m) + 1e-300, "normal %d", i);
    i++;
    if (i < N) ck_assert_msg(fabs(z[i] - b * m) <= 1e-14 * fabs(b * m) + 1e-300, "normal %d", i);
    i++;
  }

  /* kaiming_uniform f32 [2,2], seed 1: b = sqrt(2) sqrt(3/2) = sqrt(3) */
  float k[4];
  ck_assert_int_eq(fill("kaiming_uniform(seed=1)", IR_F32, 2, TH_DIMS(2, 2), k, &d), 0);
  ck_assert(k[0] == 0x1.67e7fep-1f && k[3] == -0x1.817bc8p-2f);
  double bnd = sqrt(2.0) * sqrt(3.0 / 2.0);
  ck_assert(k[0] == (float)(-bnd + 2 * bnd * u[0]));
}
END_TEST

static double max_abs(const float *v, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

START_TEST(test_init_fans_and_ranges) {
  kiln_diag d;
  enum { BIG = 33 * 512 };
  float *w = malloc(sizeof(float) * BIG);
  /* rank 2 [in, out]: fan_in = 33 */
  ck_assert_int_eq(fill("kaiming_uniform(seed=1)", IR_F32, 2, TH_DIMS(33, 512), w, &d), 0);
  double b = sqrt(6.0 / 33.0); /* 0.42640143271122083 */
  ck_assert(fabs(b - 0.42640143271122083) < 1e-16);
  double m = max_abs(w, BIG);
  ck_assert_msg(m <= (float)b && m > 0.999 * b, "max %g, bound %g", m, b);
  /* a = sqrt(5) (PyTorch's Linear): b = 1 / sqrt(fan_in) */
  ck_assert_int_eq(fill("kaiming_uniform(a=2.23606797749979, seed=3)", IR_F32, 2,
                        TH_DIMS(33, 512), w, &d), 0);
  m = max_abs(w, BIG);
  ck_assert(m <= 1 / sqrt(33.0) + 1e-7 && m > 0.999 / sqrt(33.0));
  /* rank 4 conv [out, in, kh, kw] = [8,2,3,3]: fan_in = 18, fan_out = 72 */
  int cn = 8 * 2 * 3 * 3;
  ck_assert_int_eq(fill("xavier_uniform(seed=5)", IR_F32, 4, TH_DIMS(8, 2, 3, 3), w, &d), 0);
  m = max_abs(w, cn);
  b = sqrt(6.0 / (18 + 72));
  ck_assert_msg(m <= (float)b && m > 0.9 * b, "max %g, bound %g", m, b);
  ck_assert_int_eq(fill("kaiming_uniform(seed=5)", IR_F32, 4, TH_DIMS(8, 2, 3, 3), w, &d), 0);
  m = max_abs(w, cn);
  b = sqrt(2.0) * sqrt(3.0 / 18);
  ck_assert_msg(m <= (float)b && m > 0.9 * b, "max %g, bound %g", m, b);
  /* fan overrides */
  ck_assert_int_eq(
      fill("xavier_uniform(gain=2, seed=5, fan_in=1, fan_out=2)", IR_F32, 1, TH_DIMS(500), w, &d),
      0);
  m = max_abs(w, 500);
  b = 2 * sqrt(6.0 / 3);
  ck_assert_msg(m <= (float)b && m > 0.95 * b, "max %g, bound %g", m, b);
  /* rank 1 [n]: fan_in = fan_out = n */
  ck_assert_int_eq(fill("xavier_uniform(seed=6)", IR_F32, 1, TH_DIMS(600), w, &d), 0);
  m = max_abs(w, 600);
  b = sqrt(6.0 / 1200);
  ck_assert(m <= (float)b && m > 0.95 * b);
  /* uniform range, normal moments, constants */
  ck_assert_int_eq(fill("uniform(low=2, high=3, seed=9)", IR_F32, 1, TH_DIMS(BIG), w, &d), 0);
  double lo = 9, hi = -9, sum = 0, sq = 0;
  for (int i = 0; i < BIG; i++) {
    lo = fmin(lo, w[i]);
    hi = fmax(hi, w[i]);
  }
  ck_assert(lo >= 2 && hi <= 3 && lo < 2.001 && hi > 2.999);
  ck_assert_int_eq(fill("normal(mean=1, std=0.5, seed=4)", IR_F32, 1, TH_DIMS(BIG), w, &d), 0);
  for (int i = 0; i < BIG; i++) {
    sum += w[i];
    sq += (w[i] - 1.0) * (w[i] - 1.0);
  }
  ck_assert(fabs(sum / BIG - 1.0) < 0.01 && fabs(sqrt(sq / BIG) - 0.5) < 0.01);
  ck_assert_int_eq(fill("constant(value=-1.5)", IR_F32, 1, TH_DIMS(3), w, &d), 0);
  ck_assert(w[0] == -1.5f && w[2] == -1.5f);
  int64_t iv[3];
  ck_assert_int_eq(fill("ones", IR_I64, 1, TH_DIMS(3), iv, &d), 0);
  ck_assert(iv[0] == 1 && iv[2] == 1);
  ck_assert_int_eq(fill("constant(value=-7)", IR_I64, 1, TH_DIMS(3), iv, &d), 0);
  ck_assert(iv[1] == -7);
  /* the same seed gives the same data; another seed other data */
  float a1[64], a2[64];
  fill("normal(seed=42)", IR_F32, 1, TH_DIMS(64), a1, &d);
  fill("normal(seed=42)", IR_F32, 1, TH_DIMS(64), a2, &d);
  ck_assert(memcmp(a1, a2, sizeof a1) == 0);
  fill("normal(seed=43)", IR_F32, 1, TH_DIMS(64), a2, &d);
  ck_assert(memcmp(a1, a2, sizeof a1) != 0);
  free(w);
}
END_TEST

START_TEST(test_init_errors) {
  static const struct {
    const char *spec, *type, *msg;
    int at; /* column of the error within the spec */
  } cases[] = {
      {"zeroz", "f32[2]", "unknown initialiser 'zeroz' (zeros, ones, constant, "
                          "uniform, normal, xavier_uniform, kaiming_uniform)", 0},
      {"kaiming_uniform(sed=1)", "f32[2]",
       "kaiming_uniform has no argument 'sed'", 0},
      {"normal(seed=1, seed=2)", "f32[2]", "normal: argument 'seed' is given twice", 0},
      {"normal(seed=-1)", "f32[2]", "normal: seed must be an integer in [0, 2^53]", 0},
      {"normal(seed=1.5)", "f32[2]", "normal: seed must be an integer in [0, 2^53]", 0},
      {"normal(std=-1)", "f32[2]", "normal: std < 0", 0},
      {"normal(mean=nan)", "f32[2]", "normal: 'mean' must be finite", 0},
      {"uniform(low=1, high=0)", "f32[2]", "uniform: low > high", 0},
      {"uniform", "i64[2]", "uniform fills float tensors, not i64", 0},
      {"constant", "f32[2]", "constant needs 'value'", 0},
      {"constant(value=0.5)", "i32[2]", "constant: value is not a i32", 0},
      {"constant(value=300)", "u8[2]", "constant: value is not a u8", 0},
      {"constant(value=2)", "bool[2]", "constant: value for bool must be 0 or 1", 0},
      {"xavier_uniform(fan_in=0)", "f32[2]",
       "xavier_uniform: 'fan_in' must be a positive integer (at most 2^53)", 0},
      {"xavier_uniform(gain=-1)", "f32[2]", "xavier_uniform: gain < 0", 0},
      {"normal(a=1, b=2, c=3, d=4, e=5)", "f32[2]", "too many arguments", 27},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[256], msg[256];
    snprintf(text, sizeof text, "graph g { input %%x: f32[1] param %%w: %s = %s output %%w }",
             cases[i].type, cases[i].spec);
    /* the spec starts at column 41 + the length of the type */
    snprintf(msg, sizeof msg, "t.kir:1:%d: %s", 41 + (int)strlen(cases[i].type) + cases[i].at,
             cases[i].msg);
    expect_error(text, KILN_E_INVALID, msg);
  }
  /* data over the per-file limit is refused before anything is allocated */
  expect_error("graph g { param %w: f32[1099511627776] = zeros output %w }", KILN_E_NOMEM,
               "t.kir:1:42: initialised data exceeds the limit of 4294967296 bytes per file");
  /* direct API: check-only mode and a missing name */
  kiln_diag d;
  kiln_diag_init(&d);
  ir_init_spec sp = {.name = "ones"};
  ir_type t = th_type(IR_F32, 1, TH_DIMS(2));
  ck_assert_int_eq(ir_init_fill(&sp, &t, NULL, &d), 0);
  sp.name = NULL;
  ck_assert_int_ne(ir_init_fill(&sp, &t, NULL, &d), 0);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------------- */
#define G1 "graph g {\n  input %x: f32[2]\n" /* line 3 is the line under test */

START_TEST(test_errors) {
  static const struct {
    const char *text;
    int status;
    const char *msg;
  } cases[] = {
      /* the error classes of the brief */
      {G1 "  %y = matmull(%x)\n  output %y\n}", KILN_E_INVALID, "t.kir:3:8: unknown op 'matmull'"},
      {G1 "  %y = relu(%x) {alpha = 1}\n  output %y\n}", KILN_E_INVALID,
       "t.kir:3:18: unknown attribute 'alpha' for op 'relu'"},
      {G1 "  %y = softmax(%x) {axis = 1.5}\n  output %y\n}", KILN_E_INVALID,
       "t.kir:3:28: attribute 'axis' of 'softmax' takes an int, not a float"},
      {G1 "  input %x: f32[3]\n  output %x\n}", KILN_E_INVALID,
       "t.kir:3:9: '%x' is already defined (at 2:9)"},
      {G1 "  %y = relu(%q)\n  output %y\n}", KILN_E_INVALID, "t.kir:3:13: '%q' is not defined"},
      {G1 "  input %z: f33[2]\n  output %z\n}", KILN_E_PARSE,
       "t.kir:3:13: unknown dtype 'f33' (f32, f16, bf16, f64, i64, i32, i16, i8, u8, bool)"},
      {G1 "  const %c: f32[3] = [1, 2]\n  output %c\n}", KILN_E_INVALID,
       "t.kir:3:22: the literal has 2 elements; f32[3] has 3"},
      {G1 "  const %c: f32[2] = [1, 2, 3]\n  output %c\n}", KILN_E_INVALID,
       "t.kir:3:29: too many elements: f32[2] has 2"},
      {G1, KILN_E_PARSE, "t.kir:3:1: expected '}', found the end of the input"},
      {G1 "  %y = relu(%x", KILN_E_PARSE, "t.kir:3:15: expected ',' or ')', found the end of the input"},
      {G1 "  %y = gelu(%x) {approximate = \"tanh}\n  output %y\n}", KILN_E_PARSE,
       "t.kir:3:32: unterminated string"},
      {G1 "  input %big: f32[1048576,1048576,2]\n  output %big\n}", KILN_E_NOMEM,
       "t.kir:3:15: the type has more than 2^40 elements (the limit per tensor)"},
      /* more syntax */
      {"", KILN_E_PARSE, "t.kir:1:1: expected 'graph', found the end of the input"},
      {"graph g { input %x: f32[2] output %x } extra", KILN_E_PARSE,
       "t.kir:1:40: expected the end of the input after the graph, found 'extra'"},
      {G1 "  h = relu(%x)\n}", KILN_E_PARSE,
       "t.kir:3:3: expected a statement (input, param, const, output, %name = op(...)) or '}', "
       "found 'h'"},
      {G1 "  %y = relu(%x) $\n}", KILN_E_PARSE, "t.kir:3:17: unexpected character '$'"},
      {G1 "  %y = relu(%x) \xc3\xa9\n}", KILN_E_PARSE,
       "t.kir:3:17: unexpected byte 0xc3 (non-ASCII text belongs in strings and comments)"},
      {G1 "  %y = gelu(%x) {approximate = \"a\\qb\"}\n}", KILN_E_PARSE,
       "t.kir:3:34: unknown escape '\\q'"},
      {G1 "  %y = gelu(%x) {approximate = \"a\\x00\"}\n}", KILN_E_PARSE,
       "t.kir:3:34: a string cannot hold a NUL byte (\\x00)"},
      {G1 "  %y = gelu(%x) {approximate = \"a\\x4\"}\n}", KILN_E_PARSE,
       "t.kir:3:34: \\x needs two hexadecimal digits"},
      {G1 "  %\"\" = relu(%x)\n}", KILN_E_PARSE, "t.kir:3:3: empty name after '%'"},
      {G1 "  % = relu(%x)\n}", KILN_E_PARSE, "t.kir:3:3: expected a name or a string after '%'"},
      {G1 "  const %c: i64[1] = [99999999999999999999]\n}", KILN_E_PARSE,
       "t.kir:3:23: integer 99999999999999999999 is out of the 64-bit range"},
      {G1 "  const %c: f32[1] = [12abc]\n}", KILN_E_PARSE, "t.kir:3:23: malformed number"},
      {G1 "  const %c: f32[1] = [- 1]\n}", KILN_E_PARSE, "t.kir:3:23: expected a number after '-'"},
      {G1 "  %y = relu(%x) @\n}", KILN_E_PARSE, "t.kir:3:17: expected a name or a string after '@'"},
      {G1 "  %y = softmax(%x) {axis 1}\n}", KILN_E_PARSE,
       "t.kir:3:26: expected '=' after the attribute name, found the number 1"},
      {G1 "  %y = softmax(%x) {axis = }\n}", KILN_E_PARSE,
       "t.kir:3:28: attribute 'axis' of 'softmax' takes an int, not '}'"},
      {G1 "  input %y: f32[1,2,3,4,5,6,7,8,9]\n}", KILN_E_UNSUPPORTED,
       "t.kir:3:33: more than 8 dimensions"},
      {G1 "  input %y: f32[-1]\n}", KILN_E_INVALID, "t.kir:3:17: negative dimension -1"},
      /* more semantics */
      {G1 "  %y = softmax(%x) {axis = 1, axis = 2}\n}", KILN_E_INVALID,
       "t.kir:3:31: attribute 'axis' is given twice"},
      {G1 "  %y = cast(%x) {to = 3}\n}", KILN_E_INVALID,
       "t.kir:3:23: attribute 'to' of 'cast' takes a dtype name, not an int"},
      {G1 "  %y = transpose(%x) {perm = [1, 0.5]}\n}", KILN_E_INVALID,
       "t.kir:3:34: attribute 'perm' of 'transpose' takes a list of ints, not 0.5"},
      {G1 "  %y = gelu(%x) {approximate = 1}\n}", KILN_E_INVALID,
       "t.kir:3:32: attribute 'approximate' of 'gelu' takes a string, not an int"},
      {G1 "  %y = leaky_relu(%x) {alpha = 1e39}\n}", KILN_E_INVALID,
       "t.kir:3:32: 1e39 is out of range for f32"},
      {G1 "  %y = constant_of_shape() {shape = [2], value = [1]}\n}", KILN_E_INVALID,
       "t.kir:3:50: attribute 'value' of 'constant_of_shape' takes a tensor (a type and a "
       "literal), not a list"},
      {G1 "  %y, %z = relu(%x)\n}", KILN_E_INVALID, "t.kir:3:12: 'relu' produces 1 results, not 2"},
      {G1 "  %y = relu(%x, %x)\n}", KILN_E_INVALID, "t.kir:3:17: 'relu' takes 1 inputs, not more"},
      {G1 "  %y = relu(_)\n}", KILN_E_INVALID, "t.kir:3:8: 'relu' needs input 0 (it takes 1)"},
      {G1 "  %y = concat(%x, %x)\n  output %y\n}", KILN_E_INVALID,
       "t.kir:3:8: 'concat' needs attribute 'axis'"},
      {G1 "  %y, %y = split(%x)\n}", KILN_E_INVALID, "t.kir:3:7: '%y' is already defined (at 3:3)"},
      {G1 "  %y = relu(%y)\n}", KILN_E_INVALID, "t.kir:3:13: '%y' is not defined"},
      {G1 "  const %c: i32[2] = [1.5, 2]\n}", KILN_E_INVALID,
       "t.kir:3:23: 1.5 is not an integer (the dtype is i32)"},
      {G1 "  const %c: i8[1] = [200]\n}", KILN_E_INVALID, "t.kir:3:22: 200 is out of range for i8"},
      {G1 "  const %c: bool[1] = [2]\n}", KILN_E_PARSE,
       "t.kir:3:24: expected true or false, found the number 2"},
      {G1 "  const %c: f16[1] = [1e5]\n}", KILN_E_INVALID, "t.kir:3:23: 1e5 is out of range for f16"},
      {G1 "  const %c: f32[2] = 1\n}", KILN_E_INVALID,
       "t.kir:3:22: f32[2] has 2 elements: write them as a list [...]"},
      {"graph g { input %x: f32[2] }", KILN_E_INVALID, "t.kir: the graph has no outputs"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_error(cases[i].text, cases[i].status, cases[i].msg);
}
END_TEST

/* NUL bytes and non-UTF-8 bytes: errors with positions outside strings and
 * comments; any byte but NUL inside them. */
START_TEST(test_bytes) {
  const char t1[] = "graph g {\n  input %x: f32[2]\x00\n  output %x\n}";
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", t1, sizeof t1 - 1, NULL, &d) == NULL);
  ck_assert_str_eq(d.msg, "t.kir:2:19: NUL byte in the input");
  const char t2[] = "graph g { # comment \x00\n input %x: f32[2] output %x }";
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", t2, sizeof t2 - 1, NULL, &d) == NULL);
  ck_assert_str_eq(d.msg, "t.kir:1:21: NUL byte in the input");
  const char t3[] = "graph g { input %\"a\x00\" : f32[2] output %x }";
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", t3, sizeof t3 - 1, NULL, &d) == NULL);
  ck_assert_str_eq(d.msg, "t.kir:1:20: NUL byte in the input");
  /* raw non-UTF-8 bytes in comments and strings are fine */
  const char *t4 = "graph g { # \xff\xfe\n input %\"\xff\xc3\xa9\": f32[2] output %\"\xff\xc3\xa9\" }";
  ir_graph *g = parse_text(t4);
  ck_assert_int_eq(ir_value_find(g, "\xff\xc3\xa9"), 0);
  char *s = check_roundtrip(g, NULL);
  ck_assert_msg(strstr(s, "input %\"\\xff\xc3\xa9\": f32[2]"), "%s", s);
  free(s);
  ir_graph_free(g);
  /* a control byte inside a string must be escaped */
  expect_error("graph g { input %\"a\x01\": f32[2] output %x }", KILN_E_PARSE,
               "t.kir:1:20: control byte 0x01 in a string (write it as an escape)");
  /* names at the length limit pass, one byte more fails */
  char text[2 * IR_MAX_NAME + 128];
  char name[IR_MAX_NAME + 2];
  memset(name, 'n', IR_MAX_NAME);
  name[IR_MAX_NAME] = 0;
  snprintf(text, sizeof text, "graph g { input %%%s: f32[2] output %%%s }", name, name);
  ir_graph_free(parse_text(text));
  name[IR_MAX_NAME] = 'n';
  name[IR_MAX_NAME + 1] = 0;
  snprintf(text, sizeof text, "graph g { input %%%s: f32[2] output %%%s }", name, name);
  expect_error(text, KILN_E_PARSE, "t.kir:1:17: name longer than 1024 bytes");
}
END_TEST

START_TEST(test_file_errors) {
  char dir[64], bin[128], text[512], msg[1024];
  make_tmpdir(dir, sizeof dir);
  snprintf(bin, sizeof bin, "%s/w.bin", dir);
  float data[4] = {1, 2, 3, 4};
  write_file(bin, data, sizeof data);
  kiln_diag d;
  /* in range */
  snprintf(text, sizeof text, "graph g {\n  const %%c: f32[2] = file(\"w.bin\", offset=8)\n  output %%c\n}");
  kiln_diag_init(&d);
  ir_graph *g = kir_parse_string("t.kir", text, strlen(text), dir, &d);
  ck_assert_msg(g != NULL, "%s", d.msg);
  ck_assert(((float *)g->values[0].data)[1] == 4.0f);
  ir_graph_free(g);
  /* out of range */
  snprintf(text, sizeof text, "graph g {\n  const %%c: f32[2] = file(\"w.bin\", offset=12)\n  output %%c\n}");
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", text, strlen(text), dir, &d) == NULL);
  snprintf(msg, sizeof msg,
           "t.kir:2:22: %s: data range [12, 20) lies outside the file (16 bytes)", bin);
  ck_assert_str_eq(d.msg, msg);
  ck_assert_int_eq(d.status, KILN_E_INVALID);
  /* a huge offset must not overflow */
  snprintf(text, sizeof text,
           "graph g {\n  const %%c: f32[2] = file(\"w.bin\", offset=9223372036854775807)\n  output %%c\n}");
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", text, strlen(text), dir, &d) == NULL);
  ck_assert_int_eq(d.status, KILN_E_INVALID);
  /* missing */
  snprintf(text, sizeof text, "graph g {\n  const %%c: f32[2] = file(\"./nope.bin\")\n  output %%c\n}");
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", text, strlen(text), dir, &d) == NULL);
  snprintf(msg, sizeof msg, "t.kir:2:22: %s/nope.bin: cannot open: No such file or directory", dir);
  ck_assert_str_eq(d.msg, msg);
  ck_assert_int_eq(d.status, KILN_E_IO);
  /* a directory is not a data file, nor a .kir file */
  snprintf(text, sizeof text, "graph g {\n  const %%c: f32[2] = file(\"%s\")\n  output %%c\n}", dir);
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", text, strlen(text), "/", &d) == NULL);
  ck_assert_int_eq(d.status, KILN_E_IO);
  kiln_diag_init(&d);
  ck_assert(kir_parse_file(dir, &d) == NULL);
  ck_assert_int_eq(d.status, KILN_E_IO);
  /* FIFOs are refused, not waited on */
  char fifo[128];
  snprintf(fifo, sizeof fifo, "%s/fifo", dir);
  ck_assert(mkfifo(fifo, 0600) == 0);
  kiln_diag_init(&d);
  ck_assert(kir_parse_file(fifo, &d) == NULL);
  ck_assert_int_eq(d.status, KILN_E_IO);
  snprintf(text, sizeof text, "graph g {\n  const %%c: f32[2] = file(\"fifo\")\n  output %%c\n}");
  kiln_diag_init(&d);
  ck_assert(kir_parse_string("t.kir", text, strlen(text), dir, &d) == NULL);
  snprintf(msg, sizeof msg, "t.kir:2:22: %s: not a regular file", fifo);
  ck_assert_str_eq(d.msg, msg);
  kiln_diag_init(&d);
  ck_assert(kir_parse_file("/nonexistent/dir/x.kir", &d) == NULL);
  ck_assert_str_eq(d.msg, "/nonexistent/dir/x.kir: cannot open: No such file or directory");
  ck_assert_int_eq(d.status, KILN_E_IO);
  rm_tmpdir(dir);
}
END_TEST

/* Fused bodies nest up to KIR_MAX_DEPTH and no further. */
START_TEST(test_depth_limit) {
  for (int depth = KIR_MAX_DEPTH; depth <= KIR_MAX_DEPTH + 1; depth++) {
    char text[8192];
    size_t k = 0;
    k += (size_t)snprintf(text + k, sizeof text - k, "graph g0 {\n input %%x: f32[1]\n");
    for (int i = 0; i < depth; i++)
      k += (size_t)snprintf(text + k, sizeof text - k, " %%y = relu(%%x) graph g%d {\n input %%x: f32[1]\n",
                            i + 1);
    for (int i = 0; i <= depth; i++)
      k += (size_t)snprintf(text + k, sizeof text - k, " output %%%s\n}\n", i == 0 ? "x" : "y");
    kiln_diag d;
    kiln_diag_init(&d);
    ir_graph *g = kir_parse_string("t.kir", text, k, NULL, &d);
    if (depth == KIR_MAX_DEPTH) {
      ck_assert_msg(g != NULL, "%s", d.msg);
      free(check_roundtrip(g, NULL));
      ir_graph_free(g);
    } else {
      ck_assert(g == NULL);
      ck_assert_msg(strstr(d.msg, "fused bodies nested more than 8 deep"), "%s", d.msg);
    }
  }
}
END_TEST

/* Truncations and random byte mutations of the examples: every result is a
 * graph that round-trips or an error with a position; never a crash. */
START_TEST(test_mutations) {
  const char *files[] = {"examples/mlp.kir", "examples/attention.kir",
                         "tests/data/kir/constructs.kir"};
  static const char alphabet[] = "%@{}()[],:=._\"\\#-0123456789aefinx \n\xff";
  uint64_t st = 99;
  int ok = 0, bad = 0;
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    FILE *fp = fopen(files[f], "rb");
    ck_assert(fp != NULL);
    char *src = malloc(1 << 16);
    size_t n = fread(src, 1, (1 << 16) - 1, fp);
    fclose(fp);
    char *buf = malloc(n + 1);
    for (int iter = 0; iter < 1500; iter++) {
      memcpy(buf, src, n);
      size_t len = n;
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      if (iter < 300) {
        len = (size_t)((st >> 33) % (n + 1)); /* truncation */
      } else {
        int edits = 1 + (int)((st >> 20) % 4);
        for (int e = 0; e < edits; e++) {
          st = st * 6364136223846793005ull + 1442695040888963407ull;
          size_t pos = (size_t)((st >> 33) % n);
          buf[pos] = alphabet[(st >> 12) % (sizeof alphabet - 1)];
        }
      }
      kiln_diag d;
      kiln_diag_init(&d);
      ir_graph *g = kir_parse_string("m.kir", buf, len, "tests/data/kir", &d);
      if (g) {
        free(check_roundtrip(g, NULL));
        ir_graph_free(g);
        ok++;
      } else {
        ck_assert_msg(d.status != KILN_OK && strncmp(d.msg, "m.kir", 5) == 0, "%s", d.msg);
        bad++;
      }
    }
    free(buf);
    free(src);
  }
  ck_assert(ok > 0 && bad > 0);
}
END_TEST

static Suite *kir_suite(void) {
  Suite *s = suite_create("kir");
  TCase *p = tcase_create("parse");
  tcase_add_test(p, test_parse_doc_example);
  tcase_add_test(p, test_parse_constructs);
  tcase_add_test(p, test_file_data);
  tcase_add_test(p, test_examples);
  suite_add_tcase(s, p);
  TCase *pr = tcase_create("print");
  tcase_add_test(pr, test_print_canonical);
  tcase_add_test(pr, test_print_reals);
  tcase_add_test(pr, test_print_names);
  tcase_add_test(pr, test_print_handbuilt);
  tcase_add_test(pr, test_side_file);
  tcase_add_test(pr, test_print_locale);
  tcase_add_test(pr, test_roundtrip_tree);
  suite_add_tcase(s, pr);
  TCase *in = tcase_create("init");
  tcase_add_test(in, test_init_known_values);
  tcase_add_test(in, test_init_fans_and_ranges);
  tcase_add_test(in, test_init_errors);
  suite_add_tcase(s, in);
  TCase *er = tcase_create("errors");
  tcase_add_test(er, test_errors);
  tcase_add_test(er, test_bytes);
  tcase_add_test(er, test_file_errors);
  tcase_add_test(er, test_depth_limit);
  tcase_add_test(er, test_mutations);
  suite_add_tcase(s, er);
  return s;
}

TH_MAIN(kir_suite)

#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kilnrt_npy.h"
#include "passes/pass.h"

ir_tensor th_tensor(ir_dtype dt, int rank, const int64_t *dims, const double *vals) {
  ir_type t = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  ir_tensor r;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_tensor_alloc(&r, &t, &d) == 0, "%s", d.msg);
  int64_t n = ir_type_numel(&t);
  if (vals)
    for (int64_t i = 0; i < n; i++) {
      if (ir_dtype_is_float(dt)) ir_tensor_set_f(&r, i, vals[i]);
      else ir_tensor_set_i(&r, i, (int64_t)vals[i]);
    }
  return r;
}

ir_tensor th_load_npy(const char *path) {
  kiln_npy a;
  char err[512];
  int rc = kiln_npy_read(path, &a, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  ir_tensor r = {.type = {.dtype = (ir_dtype)a.dtype, .rank = a.rank}, .data = a.data};
  for (int i = 0; i < a.rank; i++) r.type.dims[i] = a.dims[i];
  return r;
}

th_case th_node(const char *op, int n_in, const ir_tensor *const *ins, unsigned const_mask,
                int n_out) {
  th_case c;
  ir_op o;
  ck_assert_msg(ir_op_from_name(op, &o) == 0, "unknown op %s", op);
  memset(&c, 0, sizeof c);
  c.g = ir_graph_new("test");
  int in[64];
  ck_assert(n_in <= 64);
  for (int i = 0; i < n_in; i++) {
    char name[16];
    snprintf(name, sizeof name, "in%d", i);
    if (!ins[i]) in[i] = -1;
    else if (const_mask & (1u << i)) in[i] = ir_add_const(c.g, name, &ins[i]->type, ins[i]->data);
    else {
      in[i] = ir_add_input(c.g, name, &ins[i]->type);
      c.feeds[c.n_feeds++] = ins[i];
    }
  }
  c.node = ir_node_new(c.g, o, "n", in, n_in, n_out, NULL);
  for (int j = 0; j < n_out; j++) ir_add_output(c.g, c.g->nodes[c.node].out[j]);
  return c;
}

static int run_with(th_case *c, const ir_tensor *feeds, ir_tensor *outs, kiln_diag *d);

int th_run(th_case *c, ir_tensor *outs, kiln_diag *d) {
  ir_tensor feeds[64];
  for (int i = 0; i < c->n_feeds; i++) feeds[i] = *c->feeds[i];
  return run_with(c, feeds, outs, d);
}

void th_free(th_case *c) {
  ir_graph_free(c->g);
  c->g = NULL;
}

void th_assert_close_impl(const ir_tensor *got, const ir_tensor *want, double rtol, double atol,
                          const char *file, int line) {
  char a[256], b[256];
  ck_assert_msg(ir_type_equal(&got->type, &want->type), "%s:%d: got type %s, want %s", file,
                line, ir_type_str(&got->type, a, sizeof a), ir_type_str(&want->type, b, sizeof b));
  int64_t n = ir_type_numel(&got->type);
  for (int64_t i = 0; i < n; i++) {
    if (ir_dtype_is_float(got->type.dtype)) {
      double x = ir_tensor_get_f(got, i), y = ir_tensor_get_f(want, i);
      if (isnan(y)) {
        ck_assert_msg(isnan(x), "%s:%d: element %lld: got %.9g, want nan", file, line,
                      (long long)i, x);
        continue;
      }
      if (isinf(y)) {
        ck_assert_msg(x == y, "%s:%d: element %lld: got %.9g, want %g", file, line,
                      (long long)i, x, y);
        continue;
      }
      ck_assert_msg(fabs(x - y) <= atol + rtol * fabs(y),
                    "%s:%d: element %lld: got %.9g, want %.9g (rtol %g, atol %g)", file, line,
                    (long long)i, x, y, rtol, atol);
    } else {
      int64_t x = ir_tensor_get_i(got, i), y = ir_tensor_get_i(want, i);
      ck_assert_msg(x == y, "%s:%d: element %lld: got %lld, want %lld", file, line,
                    (long long)i, (long long)x, (long long)y);
    }
  }
}

/* Runs with explicit input tensors (in graph-input order). */
static int run_with(th_case *c, const ir_tensor *feeds, ir_tensor *outs, kiln_diag *d) {
  ir_graph *g = c->g;
  int rc = ir_verify(g, 0, d);
  if (!rc) rc = ir_infer_shapes(g, d);
  if (!rc) rc = ir_verify(g, 1, d);
  if (!rc) rc = ir_interp_run(g, feeds, outs, d);
  return rc;
}

void th_check_impl(const char *op, int n_in, ir_tensor *ins, unsigned const_mask,
                   void (*set_attrs)(ir_graph *g, int node), const ir_tensor *want, double rtol,
                   double atol, const char *file, int line) {
  const ir_tensor *p[64];
  ir_tensor feeds[64];
  int nf = 0;
  for (int i = 0; i < n_in; i++) {
    p[i] = ins[i].data || ir_type_numel(&ins[i].type) == 0 ? &ins[i] : NULL;
    if (ins[i].type.rank == -1) p[i] = NULL;
    if (p[i] && !(const_mask & (1u << i))) feeds[nf++] = ins[i];
  }
  th_case c = th_node(op, n_in, p, const_mask, 1);
  if (set_attrs) set_attrs(c.g, c.node);
  kiln_diag d;
  kiln_diag_init(&d);
  ir_tensor out;
  int rc = run_with(&c, feeds, &out, &d);
  ck_assert_msg(rc == 0, "%s:%d: %s failed: %s", file, line, op, d.msg);
  th_assert_close_impl(&out, want, rtol, atol, file, line);
  ir_tensor_release(&out);
  th_free(&c);
  for (int i = 0; i < n_in; i++) ir_tensor_release(&ins[i]);
}

int th_expect_error(th_case *c, kiln_diag *d) {
  ir_graph *g = c->g;
  ir_tensor feeds[64], outs[64];
  int nf = g->n_inputs;
  ck_assert(nf <= 64 && g->n_outputs <= 64);
  for (int i = 0; i < nf; i++) {
    kiln_diag dd;
    kiln_diag_init(&dd);
    ck_assert(ir_tensor_alloc(&feeds[i], &g->values[g->inputs[i]].type, &dd) == 0);
  }
  int rc = run_with(c, feeds, outs, d);
  if (rc == 0)
    for (int j = 0; j < g->n_outputs; j++) ir_tensor_release(&outs[j]);
  for (int i = 0; i < nf; i++) ir_tensor_release(&feeds[i]);
  ck_assert_msg(rc != 0, "expected an error");
  ck_assert_msg(d->msg[0] != 0, "the error has no message");
  return rc;
}

ir_type th_type(ir_dtype dt, int rank, const int64_t *dims) {
  ir_type t = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  return t;
}

int th_op(ir_graph *g, ir_op o, const char *out, int n_in, ...) {
  int in[8];
  ck_assert(n_in <= 8);
  va_list ap;
  va_start(ap, n_in);
  for (int i = 0; i < n_in; i++) in[i] = va_arg(ap, int);
  va_end(ap);
  const char *names[1] = {out};
  int n = ir_node_new(g, o, out, in, n_in, 1, names);
  return g->nodes[n].out[0];
}

int th_count_op(const ir_graph *g, ir_op o) {
  int c = 0;
  for (int i = 0; i < g->n_nodes; i++) c += !g->nodes[i].dead && g->nodes[i].op == o;
  return c;
}

void th_run_passes(ir_graph *g, const char *list) {
  pass_pipeline p;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(pass_pipeline_parse(list, &p, &d) == 0, "passes %s: %s", list, d.msg);
  pass_options o;
  pass_options_default(&o);
  o.verify_each = 1;
  ck_assert_msg(pass_run(g, &p, &o, &d) == 0, "passes %s failed: %s", list, d.msg);
}

void th_assert_same_run_impl(const ir_graph *ref, const ir_graph *g, const ir_tensor *feeds,
                             double rtol, double atol, const char *file, int line) {
  ck_assert_int_eq(ref->n_outputs, g->n_outputs);
  for (int k = 0; k < g->n_outputs; k++)
    ck_assert_msg(strcmp(ref->values[ref->outputs[k]].name, g->values[g->outputs[k]].name) == 0,
                  "%s:%d: output %d renamed from '%s' to '%s'", file, line, k,
                  ref->values[ref->outputs[k]].name, g->values[g->outputs[k]].name);
  ir_tensor a[64], b[64];
  ck_assert(g->n_outputs <= 64);
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_interp_run(ref, feeds, a, &d) == 0, "%s:%d: before: %s", file, line, d.msg);
  ck_assert_msg(ir_interp_run(g, feeds, b, &d) == 0, "%s:%d: after: %s", file, line, d.msg);
  for (int k = 0; k < g->n_outputs; k++) {
    th_assert_close_impl(&b[k], &a[k], rtol, atol, file, line);
    ir_tensor_release(&a[k]);
    ir_tensor_release(&b[k]);
  }
}

int th_expect_node_error_impl(th_case *c, const char *want, const char *file, int line) {
  kiln_diag d;
  kiln_diag_init(&d);
  int rc = th_expect_error(c, &d);
  ck_assert_msg(strstr(d.msg, want), "%s:%d: message '%s' lacks '%s'", file, line, d.msg, want);
  ck_assert_msg(strstr(d.msg, "node 'n'"), "%s:%d: message '%s' does not name the node", file,
                line, d.msg);
  return rc;
}

int th_main(Suite *(*const *suites)(void), int n) {
  SRunner *sr = srunner_create(suites[0]());
  for (int i = 1; i < n; i++) srunner_add_suite(sr, suites[i]());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

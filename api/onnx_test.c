/* Checking models against reference outputs (include/kiln_onnx_test.h):
 * tensor files, comparisons, ONNX test directories. */
#include "kiln_onnx_test.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/onnx.h"
#include "ir.h"
#include "kilnrt_npy.h"

void kiln_check_options_init(kiln_check_options *o) {
  memset(o, 0, sizeof *o);
  o->rtol = KILN_CHECK_RTOL;
  o->atol = KILN_CHECK_ATOL;
  o->mode = KILN_EXEC_INTERPRET;
  kiln_pipeline_options_init(&o->pipe);
}

/* ---- tensor files ------------------------------------------------------------- */

int kiln_tensor_read(const char *path, kiln_tensor *t, kiln_diag *d) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "rb");
  if (!f) return kiln_diag_error(d, KILN_E_IO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char magic[6] = {0};
  size_t got = fread(magic, 1, sizeof magic, f);
  fclose(f);
  /* A TensorProto cannot start with 0x93: that byte would be a field key
   * with wire type 3 (start group), which ONNX never uses. */
  if (got == sizeof magic && !memcmp(magic, "\x93NUMPY", 6)) {
    kiln_npy a;
    char err[1024];
    int rc = kiln_npy_read(path, &a, err, sizeof err);
    if (rc) return kiln_diag_error(d, rc, "%s", err);
    t->dtype = a.dtype;
    t->rank = a.rank;
    for (int i = 0; i < a.rank; i++) t->dims[i] = a.dims[i];
    t->data = a.data;
    return KILN_OK;
  }
  ir_tensor it;
  int rc = onnx_read_tensor(path, &it, NULL, d);
  if (rc) return rc;
  t->dtype = (kiln_dtype)it.type.dtype;
  t->rank = it.type.rank;
  for (int i = 0; i < it.type.rank; i++) t->dims[i] = it.type.dims[i];
  t->data = it.data;
  return KILN_OK;
}

/* ---- comparison ------------------------------------------------------------------ */

static void type_string(kiln_dtype dt, int rank, const int64_t *dims, char *buf, size_t n) {
  ir_type t = {.dtype = (ir_dtype)dt, .rank = rank};
  for (int i = 0; i < rank && i < IR_MAX_RANK; i++) t.dims[i] = dims[i];
  ir_type_str(&t, buf, n);
}

int kiln_tensor_compare(const kiln_tensor *got, const kiln_tensor *want, double rtol,
                        double atol, kiln_output_check *r) {
  r->ok = 0;
  r->shape_ok = 0;
  r->why[0] = 0;
  r->n_bad = 0;
  r->max_abs = 0;
  r->max_rel = 0;
  r->dtype = want->dtype;
  r->rank = want->rank;
  for (int i = 0; i < want->rank && i < KILN_MAX_RANK; i++) r->dims[i] = want->dims[i];
  r->numel = kiln_tensor_numel(want);

  int same = got->dtype == want->dtype && got->rank == want->rank;
  for (int i = 0; same && i < want->rank; i++) same = got->dims[i] == want->dims[i];
  if (!same) {
    char a[200], b[200];
    type_string(got->dtype, got->rank, got->dims, a, sizeof a);
    type_string(want->dtype, want->rank, want->dims, b, sizeof b);
    snprintf(r->why, sizeof r->why, "got %s, want %s", a, b);
    return 0;
  }
  r->shape_ok = 1;
  ir_dtype dt = (ir_dtype)want->dtype;
  int64_t n = r->numel;
  if (ir_dtype_is_float(dt)) {
    for (int64_t i = 0; i < n; i++) {
      double g = ir_load_f(dt, got->data, i), w = ir_load_f(dt, want->data, i);
      if (isnan(w) || isnan(g)) {
        r->n_bad += !(isnan(w) && isnan(g));
        continue;
      }
      if (isinf(w) || isinf(g)) {
        r->n_bad += g != w;
        continue;
      }
      double e = fabs(g - w);
      if (e > r->max_abs) r->max_abs = e;
      if (w != 0 && e / fabs(w) > r->max_rel) r->max_rel = e / fabs(w);
      r->n_bad += !(e <= atol + rtol * fabs(w));
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      int64_t g = ir_load_i(dt, got->data, i), w = ir_load_i(dt, want->data, i);
      if (g == w) continue;
      r->n_bad++;
      /* the difference as a double; exact enough for a report */
      double e = fabs((double)g - (double)w);
      if (e > r->max_abs) r->max_abs = e;
      if (w != 0 && e / fabs((double)w) > r->max_rel) r->max_rel = e / fabs((double)w);
    }
  }
  r->ok = r->n_bad == 0;
  return r->ok;
}

/* Keeps the worse of two checks of the same output (data sets of one test). */
static void merge_check(kiln_output_check *acc, const kiln_output_check *c) {
  if (!c->shape_ok && acc->shape_ok) {
    *acc = *c;
    return;
  }
  if (!acc->shape_ok) return;
  acc->ok = acc->ok && c->ok;
  acc->n_bad += c->n_bad;
  if (c->max_abs > acc->max_abs) acc->max_abs = c->max_abs;
  if (c->max_rel > acc->max_rel) acc->max_rel = c->max_rel;
}

/* ---- running a model ------------------------------------------------------------- */

int kiln_model_check(kiln_model *m, int n_inputs, const kiln_tensor *inputs, int n_expected,
                     const kiln_tensor *expected, const kiln_check_options *o,
                     kiln_check_result *r, kiln_diag *d) {
  memset(r, 0, sizeof *r);
  r->n_data_sets = 1;
  int n_in = kiln_model_num_inputs(m);
  if (n_inputs != n_in)
    return kiln_diag_error(d, KILN_E_INVALID, "the model has %d inputs, %d were given", n_in,
                           n_inputs);
  if (n_expected > KILN_CHECK_MAX_IO || n_expected < 0)
    return kiln_diag_error(d, KILN_E_USAGE, "%d references given; at most %d outputs are checked",
                           n_expected, KILN_CHECK_MAX_IO);
  if (o->mode != KILN_EXEC_INTERPRET && o->mode != KILN_EXEC_COMPILED)
    return kiln_diag_error(d, KILN_E_USAGE, "unknown execution mode %d", (int)o->mode);

  /* Names, copied: binding changes the model's input list. */
  char **names = kiln_xcalloc((size_t)n_in + 1, sizeof(char *));
  int rc = KILN_OK;
  for (int i = 0; i < n_in; i++) {
    kiln_value_info vi;
    kiln_model_input(m, i, &vi);
    names[i] = kiln_xstrdup(vi.name);
    const kiln_tensor *t = &inputs[i];
    int same = t->dtype == vi.dtype && t->rank == vi.rank;
    for (int k = 0; same && k < vi.rank; k++) same = t->dims[k] == vi.dims[k];
    if (!same && !rc) {
      char a[128], b[128];
      type_string(vi.dtype, vi.rank, vi.dims, a, sizeof a);
      type_string(t->dtype, t->rank, t->dims, b, sizeof b);
      rc = kiln_diag_error(d, KILN_E_INVALID, "input '%s' is %s, the data given is %s", vi.name,
                           a, b);
    }
  }

  /* Bind the inputs that decide shapes (their values must be compile-time). */
  for (int i = 0; i < n_in && !rc; i++) {
    int cur = -1;
    for (int k = 0; k < kiln_model_num_inputs(m); k++) {
      kiln_value_info vi;
      kiln_model_input(m, k, &vi);
      if (!strcmp(vi.name, names[i])) cur = k;
    }
    if (cur < 0 || !kiln_model_input_decides_shape(m, cur)) continue;
    if (o->notes)
      fprintf(o->notes, "note: input '%s' decides a shape; binding its value as a constant\n",
              names[i]);
    rc = kiln_model_bind(m, names[i], &inputs[i], d);
    r->n_bound++;
  }
  if (!rc) rc = kiln_model_optimize(m, &o->pipe, d);

  /* Feeds for the inputs that are left, by name. */
  int n_left = rc ? 0 : kiln_model_num_inputs(m);
  kiln_tensor *feeds = kiln_xcalloc((size_t)n_left + 1, sizeof(kiln_tensor));
  for (int k = 0; k < n_left && !rc; k++) {
    kiln_value_info vi;
    kiln_model_input(m, k, &vi);
    int i = 0;
    while (i < n_in && strcmp(names[i], vi.name)) i++;
    if (i == n_in) {
      rc = kiln_diag_error(d, KILN_E_INTERNAL, "input '%s' appeared during optimisation",
                           vi.name);
      break;
    }
    feeds[k] = inputs[i];
  }

  int n_out = rc ? 0 : kiln_model_num_outputs(m);
  if (!rc && n_out != n_expected)
    rc = kiln_diag_error(d, KILN_E_INVALID, "the model has %d outputs, %d references were given",
                         n_out, n_expected);
  kiln_tensor *outs = kiln_xcalloc((size_t)n_out + 1, sizeof(kiln_tensor));
  if (!rc)
    rc = o->mode == KILN_EXEC_COMPILED ? kiln_model_run_compiled(m, o->compile, feeds, outs, d)
                                       : kiln_model_interpret(m, feeds, outs, d);
  if (!rc) {
    r->n_outputs = n_out;
    int bad = 0;
    for (int j = 0; j < n_out; j++) {
      kiln_output_check *c = &r->outputs[j];
      kiln_value_info vi;
      kiln_model_output(m, j, &vi);
      snprintf(c->name, sizeof c->name, "%s", vi.name);
      bad |= !kiln_tensor_compare(&outs[j], &expected[j], o->rtol, o->atol, c);
    }
    if (bad) rc = kiln_diag_error(d, KILN_E_MISMATCH, "outputs differ from the reference");
    for (int j = 0; j < n_out; j++) kiln_tensor_free(&outs[j]);
  }
  free(outs);
  free(feeds);
  for (int i = 0; i < n_in; i++) free(names[i]);
  free(names);
  return rc;
}

/* ---- ONNX test directories ------------------------------------------------------- */

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Reads dir/PREFIX_0.pb, PREFIX_1.pb, ... while present into ts[]. */
static int read_tensor_files(const char *dir, const char *prefix, kiln_tensor *ts, int *n,
                             kiln_diag *d) {
  *n = 0;
  for (int k = 0;; k++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, k);
    if (!file_exists(path)) return KILN_OK;
    if (k >= KILN_CHECK_MAX_IO)
      return kiln_diag_error(d, KILN_E_USAGE, "%s: more than %d %s files", dir,
                             KILN_CHECK_MAX_IO, prefix);
    int rc = kiln_tensor_read(path, &ts[k], d);
    if (rc) return rc;
    (*n)++;
  }
}

static int run_data_set(const char *model, const char *set_dir, const kiln_check_options *o,
                        kiln_check_result *r, kiln_diag *d) {
  kiln_model *m = NULL;
  kiln_load_options lo;
  kiln_load_options_init(&lo);
  int rc = kiln_model_load(model, &lo, &m, d);
  if (rc) return rc;
  kiln_tensor *ins = kiln_xcalloc(KILN_CHECK_MAX_IO, sizeof(kiln_tensor));
  kiln_tensor *outs = kiln_xcalloc(KILN_CHECK_MAX_IO, sizeof(kiln_tensor));
  int n_in = 0, n_out = 0;
  rc = read_tensor_files(set_dir, "input", ins, &n_in, d);
  if (!rc) rc = read_tensor_files(set_dir, "output", outs, &n_out, d);
  if (!rc && n_out == 0)
    rc = kiln_diag_error(d, KILN_E_IO, "%s: no output_0.pb", set_dir);
  if (!rc) rc = kiln_model_check(m, n_in, ins, n_out, outs, o, r, d);
  for (int k = 0; k < KILN_CHECK_MAX_IO; k++) {
    kiln_tensor_free(&ins[k]);
    kiln_tensor_free(&outs[k]);
  }
  free(ins);
  free(outs);
  kiln_model_free(m);
  return rc;
}

int kiln_onnx_test_run(const char *dir, const kiln_check_options *o, kiln_check_result *r,
                       kiln_diag *d) {
  memset(r, 0, sizeof *r);
  char model[4096];
  snprintf(model, sizeof model, "%s/model.onnx", dir);
  if (!file_exists(model))
    return kiln_diag_error(d, KILN_E_IO, "%s: cannot open: %s", model, strerror(errno));
  kiln_check_result *one = kiln_xcalloc(1, sizeof *one);
  int status = KILN_OK;
  int n_sets = 0;
  for (int s = 0;; s++) {
    char set_dir[4096];
    snprintf(set_dir, sizeof set_dir, "%s/test_data_set_%d", dir, s);
    if (!file_exists(set_dir)) break;
    if (s >= KILN_CHECK_MAX_DATA_SETS) {
      status = kiln_diag_error(d, KILN_E_USAGE, "%s: more than %d data sets", dir,
                               KILN_CHECK_MAX_DATA_SETS);
      break;
    }
    int rc = run_data_set(model, set_dir, o, one, d);
    if (rc && rc != KILN_E_MISMATCH) {
      status = rc;
      break;
    }
    if (n_sets == 0) {
      *r = *one;
    } else {
      for (int j = 0; j < r->n_outputs && j < one->n_outputs; j++)
        merge_check(&r->outputs[j], &one->outputs[j]);
      r->n_bound = one->n_bound > r->n_bound ? one->n_bound : r->n_bound;
    }
    n_sets++;
    if (rc == KILN_E_MISMATCH) {
      status = KILN_E_MISMATCH;
      kiln_diag_clear(d); /* let a later set's error be recorded */
    }
  }
  free(one);
  r->n_data_sets = n_sets;
  if (status == KILN_OK && n_sets == 0)
    status = kiln_diag_error(d, KILN_E_IO, "%s: no test_data_set_0 directory", dir);
  if (status == KILN_E_MISMATCH && !d->status)
    kiln_diag_error(d, KILN_E_MISMATCH, "%s: outputs differ from the reference", dir);
  return status;
}

void kiln_check_result_print(const kiln_check_result *r, FILE *f) {
  for (int j = 0; j < r->n_outputs; j++) {
    const kiln_output_check *c = &r->outputs[j];
    if (!c->shape_ok) {
      fprintf(f, "  %s: FAIL (%s)\n", c->name, c->why);
      continue;
    }
    char ty[256];
    type_string(c->dtype, c->rank, c->dims, ty, sizeof ty);
    fprintf(f, "  %s: %s max_abs=%.3g max_rel=%.3g", c->name, ty, c->max_abs, c->max_rel);
    if (c->ok)
      fprintf(f, " ok\n");
    else
      fprintf(f, " FAIL (%lld of %lld elements outside tolerance)\n", (long long)c->n_bad,
              (long long)c->numel);
  }
}

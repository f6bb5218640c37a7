/* libkilnrt (include/kilnrt.h) on artifacts this test compiles itself with
 * the compiler API: examples/mlp.kir (embedded and file weights, and under
 * another NAME), a model with five inputs and five outputs of mixed dtypes,
 * and one with 40 inputs and 40 outputs.
 *
 * Checked: metadata; packed runs against the reference interpreter; the
 * libffi typed path against the packed path (bit for bit); workspace reuse;
 * 4 threads x 50 runs giving identical results; weights files (right,
 * truncated, corrupt, another model's); loading errors (no file, not a
 * shared object, not an artifact, wrong name); per-thread error messages;
 * kilnrt_set_threads: the counts it reports, bit-identical results on 1, 2
 * and 3 threads of a model whose conv and matmul split into tasks (the pool
 * really starts threads), and an artifact without NAME_set_threads.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "kiln.h"
#include "kilnrt.h"

/* ---- fixture: artifacts compiled once per test case, in a temporary dir ---------- */

static char g_dir[256];
static char p_mlp[512], p_mlpw[512], p_mlpw_weights[512], p_other[512], p_other_weights[512];
static char p_renamed[512], p_multi[512], p_wide[512], p_text[512];
static char p_par[512], p_nothreads[512];

static void path_in(char *buf, size_t n, const char *file) {
  snprintf(buf, n, "%s/%s", g_dir, file);
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  ck_assert(fwrite(data, 1, n, f) == n);
  ck_assert(fclose(f) == 0);
}

static void *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = malloc((size_t)len + 1);
  ck_assert(p && fread(p, 1, (size_t)len, f) == (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return p;
}

/* Loads a model file and runs the -O2 pipeline over it. */
static kiln_model *load_optimized(const char *path) {
  kiln_model *m = NULL;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(kiln_model_load(path, NULL, &m, &d) == 0, "%s", d.msg);
  kiln_pipeline_options po;
  kiln_pipeline_options_init(&po);
  ck_assert_msg(kiln_model_optimize(m, &po, &d) == 0, "%s", d.msg);
  return m;
}

/* Compiles the model at src to the .so out (name NULL: from the file). */
static void compile(const char *src, const char *out, const char *name, int weights_file) {
  kiln_model *m = load_optimized(src);
  kiln_compile_options co;
  kiln_compile_options_init(&co);
  co.name = name;
  co.weights_file = weights_file;
  co.no_header = 1;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(kiln_model_compile(m, out, &co, &d) == 0, "%s: %s", src, d.msg);
  kiln_model_free(m);
}

static const char multi_kir[] =
    "graph multi {\n"
    "  input %a: f32[2,3]\n  input %b: f32[3]\n  input %c: i32[4]\n"
    "  input %d: f64[2]\n  input %e: bool[3]\n"
    "  %s = add(%a, %b)\n  %r = relu(%s)\n  %ci = add(%c, %c)\n"
    "  %dd = mul(%d, %d)\n  %ne = not(%e)\n"
    "  output %r, %ci, %dd, %s, %ne\n}\n";

/* An MLP of mlp.kir's shape with other weights: same weights size. */
static const char other_kir[] =
    "graph other {\n  input %x: f32[1,33]\n"
    "  param %w1: f32[33,512] = kaiming_uniform(seed=7)\n  param %b1: f32[512] = zeros\n"
    "  param %w2: f32[512,10] = kaiming_uniform(seed=8)\n  param %b2: f32[10] = zeros\n"
    "  %h = matmul(%x, %w1)\n  %h1 = add(%h, %b1)\n  %a = relu(%h1)\n"
    "  %z = matmul(%a, %w2)\n  %y = add(%z, %b2)\n  output %y\n}\n";

enum { WIDE_N = 40 }; /* 80 typed parameters */

/* Large enough for the thread pool: the conv (im2col GEMM) and the matmul
 * each split into several tasks. */
static const char par_kir[] =
    "graph par {\n"
    "  input %x: f32[1,32,28,28]\n  input %a: f32[64,48]\n"
    "  param %w: f32[32,32,3,3] = kaiming_uniform(seed=3)\n  param %b: f32[32] = zeros\n"
    "  param %m: f32[48,96] = xavier_uniform(seed=4)\n"
    "  %c = conv(%x, %w, %b) {kernel_shape = [3, 3], pads = [1, 1, 1, 1]}\n"
    "  %r = relu(%c)\n  %y = matmul(%a, %m)\n  output %r, %y\n}\n";

/* The par model linked without NAME_set_threads, as an artifact of a kiln
 * without thread pools would be: the object file, then a shared object
 * whose version script exports only the other entries. */
static void compile_without_set_threads(const char *src, const char *out) {
  char obj[600], map[600], cmd[2400];
  snprintf(obj, sizeof obj, "%s.o", out);
  snprintf(map, sizeof map, "%s.map", out);
  kiln_model *m = load_optimized(src);
  kiln_compile_options co;
  kiln_compile_options_init(&co);
  co.emit = KILN_EMIT_OBJ;
  co.name = "old";
  co.no_header = 1;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(kiln_model_compile(m, obj, &co, &d) == 0, "%s: %s", src, d.msg);
  kiln_model_free(m);
  const char vs[] = "{ global: old_metadata; old_run_packed; old_run_packed_w; old_run; "
                    "local: *; };\n";
  write_file(map, vs, strlen(vs));
  const char *cc = getenv("KILN_CC") && *getenv("KILN_CC") ? getenv("KILN_CC") : "cc";
  snprintf(cmd, sizeof cmd, "%s -shared -o '%s' '%s' -Wl,--version-script='%s' -lm -lpthread",
           cc, out, obj, map);
  ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

static void fixture_setup(void) {
  snprintf(g_dir, sizeof g_dir, "%s/kiln-test-runtime-XXXXXX",
           getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert(mkdtemp(g_dir) != NULL);
  path_in(p_mlp, sizeof p_mlp, "libmlp.so");
  compile("examples/mlp.kir", p_mlp, NULL, 0);
  path_in(p_mlpw, sizeof p_mlpw, "mlpw.so");
  compile("examples/mlp.kir", p_mlpw, NULL, 1);
  path_in(p_mlpw_weights, sizeof p_mlpw_weights, "mlpw.weights");
  /* a file name that does not give the NAME: found in the symbol table */
  path_in(p_renamed, sizeof p_renamed, "some-file.v2.so");
  compile("examples/mlp.kir", p_renamed, "hidden_name", 0);

  char src[512];
  path_in(src, sizeof src, "other.kir");
  write_file(src, other_kir, strlen(other_kir));
  path_in(p_other, sizeof p_other, "other.so");
  compile(src, p_other, NULL, 1);
  path_in(p_other_weights, sizeof p_other_weights, "other.weights");

  path_in(src, sizeof src, "multi.kir");
  write_file(src, multi_kir, strlen(multi_kir));
  path_in(p_multi, sizeof p_multi, "multi.so");
  compile(src, p_multi, NULL, 0);

  char *wide = malloc(64 * 1024);
  size_t k = (size_t)sprintf(wide, "graph wide {\n");
  for (int i = 0; i < WIDE_N; i++) k += (size_t)sprintf(wide + k, "  input %%x%d: f32[5]\n", i);
  for (int i = 0; i < WIDE_N; i++)
    k += (size_t)sprintf(wide + k, "  %%y%d = mul(%%x%d, %%x%d)\n", i, i, (i + 1) % WIDE_N);
  k += (size_t)sprintf(wide + k, "  output ");
  for (int i = 0; i < WIDE_N; i++) k += (size_t)sprintf(wide + k, "%s%%y%d", i ? ", " : "", i);
  k += (size_t)sprintf(wide + k, "\n}\n");
  path_in(src, sizeof src, "wide.kir");
  write_file(src, wide, k);
  free(wide);
  path_in(p_wide, sizeof p_wide, "wide.so");
  compile(src, p_wide, NULL, 0);

  path_in(src, sizeof src, "par.kir");
  write_file(src, par_kir, strlen(par_kir));
  path_in(p_par, sizeof p_par, "par.so");
  compile(src, p_par, NULL, 0);
  path_in(p_nothreads, sizeof p_nothreads, "old.so");
  compile_without_set_threads(src, p_nothreads);

  path_in(p_text, sizeof p_text, "text.so");
  write_file(p_text, "not an ELF file\n", 16);
}

static void fixture_teardown(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static kilnrt_model *load_ok(const char *path, const char *name) {
  kilnrt_model *m = NULL;
  int rc = kilnrt_load(path, name, &m);
  ck_assert_msg(rc == 0, "%s: %s (%s)", path, kilnrt_last_error(), kilnrt_status_name(rc));
  ck_assert(m != NULL);
  ck_assert_str_eq(kilnrt_last_error(), "");
  return m;
}

/* Buffers for one run: deterministic random inputs (seed), zeroed outputs. */
typedef struct {
  int ni, no;
  kiln_tensor in[WIDE_N], out[WIDE_N];
  void *ins[WIDE_N], *outs[WIDE_N];
} io;

static void io_init(io *b, const kilnrt_model *m, uint64_t seed) {
  memset(b, 0, sizeof *b);
  b->ni = kilnrt_num_inputs(m);
  b->no = kilnrt_num_outputs(m);
  ck_assert(b->ni <= WIDE_N && b->no <= WIDE_N);
  kiln_diag d;
  kiln_diag_init(&d);
  for (int i = 0; i < b->ni; i++) {
    const kiln_artifact_tensor *t = kilnrt_input(m, i);
    b->in[i].dtype = (kiln_dtype)t->dtype;
    b->in[i].rank = t->rank;
    memcpy(b->in[i].dims, t->dims, sizeof b->in[i].dims);
    ck_assert_msg(kiln_tensor_random(&b->in[i], seed * 131 + (uint64_t)i, &d) == 0, "%s", d.msg);
    b->ins[i] = b->in[i].data;
  }
  for (int j = 0; j < b->no; j++) {
    const kiln_artifact_tensor *t = kilnrt_output(m, j);
    b->out[j].dtype = (kiln_dtype)t->dtype;
    b->out[j].rank = t->rank;
    memcpy(b->out[j].dims, t->dims, sizeof b->out[j].dims);
    b->out[j].data = calloc(1, t->nbytes + 1);
    b->outs[j] = b->out[j].data;
  }
}

static void io_free(io *b) {
  for (int i = 0; i < b->ni; i++) kiln_tensor_free(&b->in[i]);
  for (int j = 0; j < b->no; j++) kiln_tensor_free(&b->out[j]);
}

static int run_packed(kilnrt_model *m, kilnrt_workspace *ws, io *b) {
  return kilnrt_run(m, ws, (const void *const *)b->ins, b->outs);
}

static int run_typed(kilnrt_model *m, io *b) {
  return kilnrt_run_typed(m, (const void *const *)b->ins, b->outs);
}

/* Same output bytes in a and b (same model). */
static void assert_same_outputs(const kilnrt_model *m, const io *a, const io *b) {
  for (int j = 0; j < a->no; j++)
    ck_assert_msg(!memcmp(a->outs[j], b->outs[j], kilnrt_output(m, j)->nbytes),
                  "output %d ('%s') differs", j, kilnrt_output(m, j)->name);
}

/* ---- metadata ------------------------------------------------------------------------- */

START_TEST(metadata_mlp) {
  kilnrt_model *m = load_ok(p_mlp, NULL);
  const kiln_artifact_metadata *md = kilnrt_metadata(m);
  ck_assert_str_eq(kilnrt_name(m), "mlp");
  ck_assert_str_eq(kilnrt_path(m), p_mlp);
  ck_assert_uint_eq(md->abi_version, KILN_ARTIFACT_ABI_VERSION);
  ck_assert_str_eq(md->model, "mlp");
  ck_assert_str_eq(md->kiln_version, kiln_version());
  ck_assert_str_eq(kilnrt_version(), kiln_version());
  ck_assert(md->target_triple && strlen(md->target_triple) > 0);
  ck_assert_int_eq(kilnrt_num_inputs(m), 1);
  ck_assert_int_eq(kilnrt_num_outputs(m), 1);
  const kiln_artifact_tensor *x = kilnrt_input(m, 0), *y = kilnrt_output(m, 0);
  ck_assert_str_eq(x->name, "x");
  ck_assert_int_eq(x->dtype, KILN_ARTIFACT_F32);
  ck_assert_int_eq(x->rank, 2);
  ck_assert_int_eq(x->dims[0], 1);
  ck_assert_int_eq(x->dims[1], 33);
  ck_assert_uint_eq(x->nbytes, 33 * 4);
  ck_assert_str_eq(y->name, "y");
  ck_assert_int_eq(y->rank, 2);
  ck_assert_int_eq(y->dims[1], 10);
  ck_assert_uint_eq(y->nbytes, 10 * 4);
  ck_assert(kilnrt_input(m, 1) == NULL && kilnrt_input(m, -1) == NULL);
  ck_assert(kilnrt_output(m, 1) == NULL);
  ck_assert_int_eq(kilnrt_find_input(m, "x"), 0);
  ck_assert_int_eq(kilnrt_find_output(m, "y"), 0);
  ck_assert_int_eq(kilnrt_find_input(m, "y"), -1);
  /* 22538 parameters of f32, each tensor 64-byte aligned; -O2 may drop the
   * zero biases; matmul weights are stored pre-packed for the GEMM
   * micro-kernel, their columns padded to its width (10 -> at most 32) */
  ck_assert_uint_ge(md->weights_size, (33 * 512 + 512 * 10) * 4);
  ck_assert_uint_lt(md->weights_size, (33 * 512 + 512 * 32 + 512 + 10) * 4 + 4 * 64);
  ck_assert_int_eq(md->weights_mode, KILN_ARTIFACT_WEIGHTS_EMBEDDED);
  ck_assert(!kilnrt_weights_in_file(m) && kilnrt_weights_ready(m));
  ck_assert_uint_eq(md->workspace_align, KILN_ARTIFACT_ALIGN);
  ck_assert_int_eq(kilnrt_has_typed_entry(m), 1);
  kilnrt_unload(m);
}
END_TEST

START_TEST(metadata_multi) {
  kilnrt_model *m = load_ok(p_multi, NULL);
  static const char *const in_names[] = {"a", "b", "c", "d", "e"};
  static const int32_t in_types[] = {KILN_ARTIFACT_F32, KILN_ARTIFACT_F32, KILN_ARTIFACT_I32,
                                     KILN_ARTIFACT_F64, KILN_ARTIFACT_BOOL};
  static const char *const out_names[] = {"r", "ci", "dd", "s", "ne"};
  static const int32_t out_types[] = {KILN_ARTIFACT_F32, KILN_ARTIFACT_I32, KILN_ARTIFACT_F64,
                                      KILN_ARTIFACT_F32, KILN_ARTIFACT_BOOL};
  ck_assert_int_eq(kilnrt_num_inputs(m), 5);
  ck_assert_int_eq(kilnrt_num_outputs(m), 5);
  for (int i = 0; i < 5; i++) {
    ck_assert_str_eq(kilnrt_input(m, i)->name, in_names[i]);
    ck_assert_int_eq(kilnrt_input(m, i)->dtype, in_types[i]);
    ck_assert_str_eq(kilnrt_output(m, i)->name, out_names[i]);
    ck_assert_int_eq(kilnrt_output(m, i)->dtype, out_types[i]);
  }
  ck_assert_uint_eq(kilnrt_input(m, 3)->nbytes, 16);
  ck_assert_uint_eq(kilnrt_output(m, 4)->nbytes, 3);
  ck_assert_str_eq(kilnrt_dtype_name(KILN_ARTIFACT_BOOL), "bool");
  ck_assert_uint_eq(kilnrt_dtype_size(KILN_ARTIFACT_F64), 8);
  ck_assert_uint_eq(kilnrt_dtype_size(99), 0);
  kilnrt_unload(m);
}
END_TEST

/* The NAME is found from the symbol table when the file name does not give
 * it, and a path without '/' means the current directory. */
START_TEST(name_discovery) {
  kilnrt_model *m = load_ok(p_renamed, NULL);
  ck_assert_str_eq(kilnrt_name(m), "hidden_name");
  kilnrt_unload(m);
  m = load_ok(p_renamed, "hidden_name");
  kilnrt_unload(m);
  char cwd[4096];
  ck_assert(getcwd(cwd, sizeof cwd) != NULL);
  ck_assert(chdir(g_dir) == 0);
  m = load_ok("libmlp.so", NULL);
  ck_assert_str_eq(kilnrt_name(m), "mlp");
  kilnrt_unload(m);
  ck_assert(chdir(cwd) == 0);
}
END_TEST

/* ---- runs ----------------------------------------------------------------------------- */

/* Packed runs match the reference interpreter on the same optimised graph. */
START_TEST(run_matches_interpreter) {
  char multi_src[512];
  path_in(multi_src, sizeof multi_src, "multi.kir");
  const char *const models[][2] = {{"examples/mlp.kir", p_mlp}, {multi_src, p_multi}};
  for (int k = 0; k < 2; k++) {
    kiln_model *km = load_optimized(models[k][0]);
    kilnrt_model *m = load_ok(models[k][1], NULL);
    for (uint64_t seed = 0; seed < 3; seed++) {
      io b;
      io_init(&b, m, seed);
      ck_assert_msg(run_packed(m, NULL, &b) == 0, "%s", kilnrt_last_error());
      kiln_tensor want[WIDE_N];
      kiln_diag d;
      kiln_diag_init(&d);
      ck_assert_int_eq(kiln_model_num_outputs(km), b.no);
      ck_assert_msg(kiln_model_interpret(km, b.in, want, &d) == 0, "%s", d.msg);
      for (int j = 0; j < b.no; j++) {
        /* f32 contractions accumulate in f32: K=512 gives ~512 ulp */
        th_assert_close((const ir_tensor *)&b.out[j], (const ir_tensor *)&want[j], 1e-4, 1e-4);
        kiln_tensor_free(&want[j]);
      }
      io_free(&b);
    }
    kilnrt_unload(m);
    kiln_model_free(km);
  }
}
END_TEST

/* The typed entry through libffi gives the packed entry's bytes. */
START_TEST(typed_matches_packed) {
  const char *const paths[] = {p_mlp, p_multi, p_wide};
  for (int k = 0; k < 3; k++) {
    kilnrt_model *m = load_ok(paths[k], NULL);
    ck_assert_msg(kilnrt_has_typed_entry(m), "%s", paths[k]);
    for (uint64_t seed = 0; seed < 3; seed++) {
      io a, b;
      io_init(&a, m, seed);
      io_init(&b, m, seed);
      ck_assert_msg(run_packed(m, NULL, &a) == 0, "%s", kilnrt_last_error());
      ck_assert_msg(run_typed(m, &b) == 0, "%s", kilnrt_last_error());
      assert_same_outputs(m, &a, &b);
      io_free(&a);
      io_free(&b);
    }
    kilnrt_unload(m);
  }
}
END_TEST

START_TEST(wide_values) {
  kilnrt_model *m = load_ok(p_wide, NULL);
  ck_assert_int_eq(kilnrt_num_inputs(m), WIDE_N);
  io b;
  io_init(&b, m, 5);
  ck_assert_msg(run_typed(m, &b) == 0, "%s", kilnrt_last_error());
  /* y_i = x_i * x_{i+1}: every parameter reached its place */
  for (int i = 0; i < WIDE_N; i++)
    for (int e = 0; e < 5; e++) {
      float x = ((float *)b.ins[i])[e], x1 = ((float *)b.ins[(i + 1) % WIDE_N])[e];
      ck_assert_float_eq(((float *)b.outs[i])[e], x * x1);
    }
  io_free(&b);
  kilnrt_unload(m);
}
END_TEST

/* One workspace reused for many runs gives what per-call workspaces give. */
START_TEST(workspace_reuse) {
  kilnrt_model *m = load_ok(p_mlp, NULL);
  kilnrt_workspace *ws = NULL;
  ck_assert_int_eq(kilnrt_workspace_create(m, &ws), 0);
  ck_assert((uintptr_t)kilnrt_workspace_data(ws) % KILN_ARTIFACT_ALIGN == 0);
  ck_assert_uint_ge(kilnrt_workspace_size(ws), kilnrt_metadata(m)->workspace_size);
  ck_assert_uint_gt(kilnrt_workspace_size(ws), 0);
  for (uint64_t seed = 0; seed < 10; seed++) {
    io a, b;
    io_init(&a, m, seed);
    io_init(&b, m, seed);
    memset(kilnrt_workspace_data(ws), 0xA5, kilnrt_workspace_size(ws)); /* garbage between calls */
    ck_assert_int_eq(run_packed(m, ws, &a), 0);
    ck_assert_int_eq(run_packed(m, NULL, &b), 0);
    assert_same_outputs(m, &a, &b);
    io_free(&a);
    io_free(&b);
  }
  /* a workspace too small for the model */
  kilnrt_model *w = load_ok(p_wide, NULL);
  if (kilnrt_metadata(w)->workspace_size < kilnrt_metadata(m)->workspace_size) {
    kilnrt_workspace *small = NULL;
    ck_assert_int_eq(kilnrt_workspace_create(w, &small), 0);
    if (kilnrt_workspace_size(small) < kilnrt_metadata(m)->workspace_size) {
      io a;
      io_init(&a, m, 0);
      ck_assert_int_eq(run_packed(m, small, &a), KILN_E_USAGE);
      ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "workspace"));
      io_free(&a);
    }
    kilnrt_workspace_free(small);
  }
  kilnrt_unload(w);
  kilnrt_workspace_free(ws);
  kilnrt_unload(m);
}
END_TEST

/* ---- threads -------------------------------------------------------------------------- */

enum { N_THREADS = 4, N_RUNS = 50, N_SETS = 4 };

typedef struct {
  kilnrt_model *m;
  const io *ref; /* N_SETS reference runs */
  int id;
  int typed;     /* use the typed entry (artifact-owned workspace) */
  int failures;
  char msg[256];
} worker;

static void *work(void *arg) {
  worker *w = arg;
  kilnrt_workspace *ws = NULL;
  if (!w->typed && kilnrt_workspace_create(w->m, &ws)) {
    snprintf(w->msg, sizeof w->msg, "%s", kilnrt_last_error());
    w->failures++;
    return NULL;
  }
  for (int r = 0; r < N_RUNS; r++) {
    int set = (r + w->id) % N_SETS;
    io b;
    memset(&b, 0, sizeof b);
    b.ni = w->ref[set].ni;
    b.no = w->ref[set].no;
    for (int i = 0; i < b.ni; i++) b.ins[i] = w->ref[set].ins[i];
    float out[10];
    b.outs[0] = out;
    int rc = w->typed ? kilnrt_run_typed(w->m, (const void *const *)b.ins, b.outs)
                      : kilnrt_run(w->m, ws, (const void *const *)b.ins, b.outs);
    if (rc || memcmp(out, w->ref[set].outs[0], sizeof out)) {
      snprintf(w->msg, sizeof w->msg, "run %d: rc %d %s", r, rc, kilnrt_last_error());
      w->failures++;
    }
  }
  kilnrt_workspace_free(ws);
  return NULL;
}

static void threads_on(const char *path, const char *weights) {
  kilnrt_model *m = load_ok(path, NULL);
  if (weights) ck_assert_msg(kilnrt_load_weights(m, weights) == 0, "%s", kilnrt_last_error());
  ck_assert_int_eq(kilnrt_num_outputs(m), 1);
  ck_assert_uint_eq(kilnrt_output(m, 0)->nbytes, 10 * sizeof(float));
  io ref[N_SETS];
  for (int s = 0; s < N_SETS; s++) {
    io_init(&ref[s], m, 100 + (uint64_t)s);
    ck_assert_int_eq(run_packed(m, NULL, &ref[s]), 0);
  }
  pthread_t th[N_THREADS];
  worker w[N_THREADS];
  for (int t = 0; t < N_THREADS; t++) {
    w[t] = (worker){.m = m, .ref = ref, .id = t, .typed = t >= 2};
    ck_assert_int_eq(pthread_create(&th[t], NULL, work, &w[t]), 0);
  }
  for (int t = 0; t < N_THREADS; t++) {
    pthread_join(th[t], NULL);
    ck_assert_msg(w[t].failures == 0, "thread %d: %d failures; %s", t, w[t].failures, w[t].msg);
  }
  for (int s = 0; s < N_SETS; s++) io_free(&ref[s]);
  kilnrt_unload(m);
}

/* 4 threads x 50 runs (two packed with own workspaces, two typed), cycling
 * through 4 input sets: every result equals the single-threaded one. */
START_TEST(threads_identical) { threads_on(p_mlp, NULL); }
END_TEST

START_TEST(threads_identical_file_weights) { threads_on(p_mlpw, p_mlpw_weights); }
END_TEST

/* ---- weights files ---------------------------------------------------------------------- */

START_TEST(weights_file) {
  kilnrt_model *e = load_ok(p_mlp, NULL);
  kilnrt_model *m = load_ok(p_mlpw, NULL);
  ck_assert_str_eq(kilnrt_name(m), "mlpw");
  ck_assert(kilnrt_weights_in_file(m) && !kilnrt_weights_ready(m));
  io a, b;
  io_init(&a, e, 3);
  io_init(&b, m, 3);
  /* runs before the weights are loaded fail clearly */
  ck_assert_int_eq(run_packed(m, NULL, &b), KILN_E_USAGE);
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "kilnrt_load_weights"));
  ck_assert_int_eq(run_typed(m, &b), KILN_E_USAGE);
  ck_assert_int_eq(kilnrt_load_weights(m, p_mlpw_weights), 0);
  ck_assert(kilnrt_weights_ready(m));
  ck_assert_int_eq(run_packed(e, NULL, &a), 0);
  ck_assert_int_eq(run_packed(m, NULL, &b), 0);
  assert_same_outputs(m, &a, &b);
  memset(b.outs[0], 0, 40);
  ck_assert_msg(run_typed(m, &b) == 0, "%s", kilnrt_last_error());
  assert_same_outputs(m, &a, &b);
  /* an embedded-weights artifact takes no file */
  ck_assert_int_eq(kilnrt_load_weights(e, p_mlpw_weights), KILN_E_USAGE);
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "embeds"));
  io_free(&a);
  io_free(&b);
  kilnrt_unload(m);
  kilnrt_unload(e);
}
END_TEST

/* Expects kilnrt_load_weights(m, file with data) to fail with status and a
 * message containing needle; the model keeps working weights. */
static void bad_weights(kilnrt_model *m, const void *data, size_t n, int status,
                        const char *needle) {
  char p[512];
  path_in(p, sizeof p, "bad.weights");
  write_file(p, data, n);
  ck_assert_int_eq(kilnrt_load_weights(m, p), status);
  ck_assert_msg(strstr(kilnrt_last_error(), needle) != NULL, "'%s' lacks '%s'",
                kilnrt_last_error(), needle);
  ck_assert_msg(strstr(kilnrt_last_error(), "bad.weights") != NULL, "%s", kilnrt_last_error());
}

START_TEST(weights_file_errors) {
  kilnrt_model *m = load_ok(p_mlpw, NULL);
  size_t n;
  unsigned char *good = read_file(p_mlpw_weights, &n);
  ck_assert_uint_eq(n, KILN_ARTIFACT_WEIGHTS_HEADER + kilnrt_metadata(m)->weights_size);
  unsigned char *buf = malloc(n + 64);
  bad_weights(m, good, n - 1, KILN_E_INVALID, "truncated or padded");
  memcpy(buf, good, n);
  memset(buf + n, 0, 64);
  bad_weights(m, buf, n + 64, KILN_E_INVALID, "truncated or padded");
  bad_weights(m, good, 10, KILN_E_INVALID, "too short");
  memcpy(buf, good, n);
  buf[0] = 'X';
  bad_weights(m, buf, n, KILN_E_INVALID, "bad magic");
  memcpy(buf, good, n);
  buf[n - 5] ^= 1;
  bad_weights(m, buf, n, KILN_E_INVALID, "corrupt");
  memcpy(buf, good, n);
  buf[8] = 9; /* ABI version */
  bad_weights(m, buf, n, KILN_E_INVALID, "ABI version");
  /* another model's weights: same size, other checksum */
  size_t on;
  unsigned char *other = read_file(p_other_weights, &on);
  ck_assert_uint_eq(on, n);
  bad_weights(m, other, on, KILN_E_INVALID, "another model");
  ck_assert_int_eq(kilnrt_load_weights(m, "/nonexistent/x.weights"), KILN_E_IO);
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "/nonexistent/x.weights"));
  /* nothing was loaded by the failures */
  ck_assert(!kilnrt_weights_ready(m));
  free(other);
  free(buf);
  free(good);
  kilnrt_unload(m);
}
END_TEST

/* Two loads of one file share the library and its default weights: typed
 * runs of each install their own image, and unloading one leaves the other
 * working. */
START_TEST(same_library_twice) {
  char copy[512];
  path_in(copy, sizeof copy, "copy.weights");
  size_t n;
  void *img = read_file(p_mlpw_weights, &n);
  write_file(copy, img, n);
  free(img);
  kilnrt_model *a = load_ok(p_mlpw, NULL), *b = load_ok(p_mlpw, NULL);
  ck_assert_int_eq(kilnrt_load_weights(a, p_mlpw_weights), 0);
  ck_assert_int_eq(kilnrt_load_weights(b, copy), 0);
  io x, y;
  io_init(&x, a, 1);
  io_init(&y, b, 1);
  for (int r = 0; r < 3; r++) {
    ck_assert_int_eq(run_typed(a, &x), 0);
    ck_assert_int_eq(run_typed(b, &y), 0);
    assert_same_outputs(a, &x, &y);
  }
  kilnrt_unload(a);
  memset(y.outs[0], 0, 40);
  ck_assert_int_eq(run_typed(b, &y), 0);
  assert_same_outputs(b, &x, &y);
  io_free(&x);
  io_free(&y);
  kilnrt_unload(b);
}
END_TEST

/* ---- the artifact's thread count -------------------------------------------------------- */

/* The default count: $KILN_NUM_THREADS when positive, else the online CPUs,
 * at most 64 (docs/abi.md). */
static int default_threads(void) {
  const char *e = getenv("KILN_NUM_THREADS");
  long n = e ? strtol(e, NULL, 10) : 0;
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > 64 ? 64 : (int)n;
}

/* Threads of this process (/proc/self/task). */
static int process_threads(void) {
  DIR *d = opendir("/proc/self/task");
  ck_assert(d != NULL);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static int threads_set(kilnrt_model *m, int n) {
  int got = -1;
  int rc = kilnrt_set_threads(m, n, &got);
  ck_assert_msg(rc == 0, "kilnrt_set_threads(%d): %s", n, kilnrt_last_error());
  ck_assert_str_eq(kilnrt_last_error(), "");
  return got;
}

START_TEST(set_threads_counts) {
  kilnrt_model *m = load_ok(p_par, NULL);
  ck_assert_int_eq(threads_set(m, 2), 2);
  ck_assert_int_eq(threads_set(m, 1), 1);
  ck_assert_int_eq(threads_set(m, 3), 3);
  ck_assert_int_eq(threads_set(m, 1000), 64); /* the artifact's cap */
  ck_assert_int_eq(threads_set(m, 0), default_threads());
  ck_assert_int_eq(threads_set(m, -5), default_threads());
  ck_assert_int_eq(kilnrt_set_threads(m, 2, NULL), 0);
  /* one count per artifact: a second model of the same file shares it */
  kilnrt_model *b = load_ok(p_par, NULL);
  ck_assert_int_eq(threads_set(b, 3), 3);
  ck_assert_int_eq(threads_set(m, 2), 2);
  kilnrt_unload(b);
  /* no parallel kernel: one thread whatever is asked */
  kilnrt_model *mlp = load_ok(p_mlp, NULL);
  ck_assert_int_eq(threads_set(mlp, 4), 1);
  ck_assert_int_eq(threads_set(mlp, 0), 1);
  kilnrt_unload(mlp);
  /* errors */
  int got = -1;
  ck_assert_int_eq(kilnrt_set_threads(NULL, 2, &got), KILN_E_USAGE);
  ck_assert_int_eq(got, 0);
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "kilnrt_set_threads"));
  ck_assert_int_eq(kilnrt_set_threads(NULL, 2, NULL), KILN_E_USAGE);
  kilnrt_unload(m);
}
END_TEST

/* 1, 2 and 3 threads give the same bytes, packed and typed; with 3 the
 * pool starts two threads (so the kernels split into at least 3 tasks). */
START_TEST(set_threads_identical) {
  kilnrt_model *m = load_ok(p_par, NULL);
  ck_assert_int_eq(kilnrt_num_outputs(m), 2);
  ck_assert_int_eq(threads_set(m, 1), 1);
  io ref;
  io_init(&ref, m, 5);
  ck_assert_int_eq(run_packed(m, NULL, &ref), 0);
  int before = process_threads();
  kilnrt_workspace *ws = NULL;
  ck_assert_int_eq(kilnrt_workspace_create(m, &ws), 0);
  for (int nt = 3; nt >= 1; nt--) {
    ck_assert_int_eq(threads_set(m, nt), nt);
    for (int typed = 0; typed < 1 + kilnrt_has_typed_entry(m); typed++) {
      io b;
      io_init(&b, m, 5);
      for (int j = 0; j < b.no; j++) memset(b.outs[j], 0xa5, kilnrt_output(m, j)->nbytes);
      ck_assert_int_eq(typed ? run_typed(m, &b) : run_packed(m, ws, &b), 0);
      for (int j = 0; j < b.no; j++)
        ck_assert_msg(!memcmp(b.outs[j], ref.outs[j], kilnrt_output(m, j)->nbytes),
                      "output %d differs on %d threads (%s)", j, nt, typed ? "typed" : "packed");
      io_free(&b);
    }
    if (nt == 3)
      ck_assert_msg(process_threads() >= before + 2,
                    "3 threads: the pool did not start (threads %d, before %d)",
                    process_threads(), before);
  }
  kilnrt_workspace_free(ws);
  io_free(&ref);
  kilnrt_unload(m);
}
END_TEST

/* An artifact that does not export NAME_set_threads: count 1, and it runs. */
START_TEST(set_threads_absent) {
  kilnrt_model *m = load_ok(p_nothreads, NULL);
  ck_assert_str_eq(kilnrt_name(m), "old");
  ck_assert_int_eq(threads_set(m, 3), 1);
  ck_assert_int_eq(threads_set(m, 0), 1);
  io b;
  io_init(&b, m, 5);
  ck_assert_int_eq(run_packed(m, NULL, &b), 0);
  /* the same model with the entry: the same bytes */
  kilnrt_model *p = load_ok(p_par, NULL);
  ck_assert_int_eq(threads_set(p, 2), 2);
  io c;
  io_init(&c, p, 5);
  ck_assert_int_eq(run_packed(p, NULL, &c), 0);
  assert_same_outputs(p, &b, &c);
  io_free(&b);
  io_free(&c);
  kilnrt_unload(p);
  kilnrt_unload(m);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

static void expect_load_error(const char *path, const char *name, int status, const char *needle) {
  kilnrt_model *m = (kilnrt_model *)1;
  ck_assert_int_eq(kilnrt_load(path, name, &m), status);
  ck_assert(m == NULL);
  ck_assert_msg(strstr(kilnrt_last_error(), needle) != NULL, "'%s' lacks '%s'",
                kilnrt_last_error(), needle);
}

START_TEST(load_errors) {
  expect_load_error("/nonexistent/model.so", NULL, KILN_E_IO, "/nonexistent/model.so");
  expect_load_error(g_dir, NULL, KILN_E_IO, "not a regular file");
  expect_load_error(p_text, NULL, KILN_E_INVALID, "cannot load as a shared object");
  /* a shared object that is not an artifact: the test's own libkilnrt-free
   * system library */
  const char *libm = "/lib/x86_64-linux-gnu/libm.so.6";
  if (access(libm, R_OK) == 0) expect_load_error(libm, NULL, KILN_E_INVALID, "not a kiln artifact");
  expect_load_error(p_mlp, "nope", KILN_E_INVALID, "no kiln artifact named 'nope'");
  expect_load_error(p_mlp, "", KILN_E_USAGE, "name");
  expect_load_error(NULL, NULL, KILN_E_USAGE, "path");
  ck_assert_int_eq(kilnrt_load(p_mlp, NULL, NULL), KILN_E_USAGE);
  kilnrt_unload(NULL);
  ck_assert_str_eq(kilnrt_status_name(KILN_E_INVALID), "invalid");
}
END_TEST

START_TEST(run_errors) {
  kilnrt_model *m = load_ok(p_multi, NULL);
  io b;
  io_init(&b, m, 0);
  void *saved = b.ins[2];
  b.ins[2] = NULL;
  ck_assert_int_eq(run_packed(m, NULL, &b), KILN_E_USAGE);
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "input 2 ('c') is NULL"));
  ck_assert_int_eq(run_typed(m, &b), KILN_E_USAGE);
  b.ins[2] = saved;
  b.outs[4] = NULL;
  ck_assert_int_eq(run_packed(m, NULL, &b), KILN_E_USAGE);
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "output 4 ('ne')"));
  b.outs[4] = b.out[4].data;
  ck_assert_int_eq(kilnrt_run(NULL, NULL, NULL, NULL), KILN_E_USAGE);
  ck_assert_int_eq(kilnrt_run(m, NULL, NULL, b.outs), KILN_E_USAGE);
  ck_assert_int_eq(kilnrt_workspace_create(NULL, NULL), KILN_E_USAGE);
  ck_assert_int_eq(run_packed(m, NULL, &b), 0);
  ck_assert_str_eq(kilnrt_last_error(), "");
  io_free(&b);
  kilnrt_unload(m);
}
END_TEST

static void *fail_in_thread(void *arg) {
  kilnrt_model *m = NULL;
  int rc = kilnrt_load("/nonexistent/thread.so", NULL, &m);
  snprintf(arg, 256, "%d %s", rc, kilnrt_last_error());
  return NULL;
}

/* Error messages belong to the thread that made the call. */
START_TEST(errors_per_thread) {
  kilnrt_model *m = NULL;
  ck_assert_int_ne(kilnrt_load("/nonexistent/main.so", NULL, &m), 0);
  char other[256];
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, fail_in_thread, other), 0);
  pthread_join(t, NULL);
  ck_assert_ptr_nonnull(strstr(other, "/nonexistent/thread.so"));
  ck_assert_ptr_nonnull(strstr(kilnrt_last_error(), "/nonexistent/main.so"));
}
END_TEST

static Suite *runtime_suite(void) {
  Suite *s = suite_create("runtime");
  TCase *tc = tcase_create("artifacts");
  tcase_add_unchecked_fixture(tc, fixture_setup, fixture_teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, metadata_mlp);
  tcase_add_test(tc, metadata_multi);
  tcase_add_test(tc, name_discovery);
  tcase_add_test(tc, run_matches_interpreter);
  tcase_add_test(tc, typed_matches_packed);
  tcase_add_test(tc, wide_values);
  tcase_add_test(tc, workspace_reuse);
  tcase_add_test(tc, threads_identical);
  tcase_add_test(tc, threads_identical_file_weights);
  tcase_add_test(tc, weights_file);
  tcase_add_test(tc, weights_file_errors);
  tcase_add_test(tc, same_library_twice);
  tcase_add_test(tc, load_errors);
  tcase_add_test(tc, run_errors);
  tcase_add_test(tc, errors_per_thread);
  tcase_add_test(tc, set_threads_counts);
  tcase_add_test(tc, set_threads_identical);
  tcase_add_test(tc, set_threads_absent);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(runtime_suite)

/* kiln — the command line. A thin layer over the public API (kiln.h) and
 * the runtime (kilnrt.h: artifacts; kilnrt_npy.h: .npy files).
 *
 * Exit codes: 0 success, 1 an error in the model or while running it,
 * 2 bad command-line use (unknown flag, bad value, missing argument).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "kiln_onnx_test.h"
#include "kilnrt.h"
#include "kilnrt_npy.h"
#include "progress.h"

#define EXIT_USAGE 2
#define MAX_IO 256 /* --input / --bind flags on one command line */

static const char *prog = "kiln";

static void errorf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: error: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static int usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s%s%s: error: ", prog, cmd ? " " : "", cmd ? cmd : "");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "Try '%s %s --help'.\n", prog, cmd);
  else
    fprintf(stderr, "Try '%s --help'.\n", prog);
  return EXIT_USAGE;
}

/* ---- help texts ----------------------------------------------------------------- */
static const char *main_help =
    "kiln — a deep learning compiler\n"
    "\n"
    "usage: kiln COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  ir MODEL        print the model's IR (.kir) after a pass pipeline\n"
    "  compile MODEL   compile a model to a shared object, object, static library,\n"
    "                  assembly or LLVM IR, with a C header\n"
    "  run MODEL|ARTIFACT\n"
    "                  run a model or a compiled .so on inputs from .npy files or\n"
    "                  random data\n"
    "  bench MODEL|ARTIFACT\n"
    "                  time a compiled model on random inputs (min/median/max)\n"
    "  inspect MODEL   inputs, outputs, op histogram, parameters, memory estimates\n"
    "\n"
    "MODEL is a .kir file (kiln's text IR) or an .onnx file; ARTIFACT is a shared\n"
    "object from 'kiln compile'.\n"
    "\n"
    "options:\n"
    "  -h, --help      show help (also 'kiln COMMAND --help')\n"
    "  --version       print the version\n";

static const char *pipeline_help =
    "pipeline options:\n"
    "  -O0, -O1, -O2, -O3     optimisation level (default -O2)\n"
    "  --passes=a,b,c         run exactly these passes ('' runs none)\n"
    "  --print-pipeline       print the passes that would run, then exit\n"
    "  --verify-each          verify the IR after every pass\n"
    "  --time-passes          print a table of pass times to stderr\n"
    "  --dump-after=P[,P]|all print the IR after the named passes\n"
    "  --dump-dir=DIR         write dumps as DIR/NN-PASS.kir (default: stderr)\n"
    "model options:\n"
    "  --shape NAME=DIMS      pin an input's dynamic dims, e.g. x=1x3x224x224\n"
    "  --bind NAME=FILE       make input NAME a constant with the value in FILE\n"
    "                         (.npy or ONNX TensorProto .pb)\n";

static const char *ir_help =
    "usage: kiln ir MODEL [options]\n"
    "\n"
    "Runs a pass pipeline over MODEL and prints the resulting IR as .kir.\n"
    "\n"
    "  -o FILE                write the IR to FILE (large constants go to FILE.bin)\n";

static const char *run_help =
    "usage: kiln run MODEL|ARTIFACT [options]\n"
    "\n"
    "Runs MODEL, or ARTIFACT (a .so from 'kiln compile', through libkilnrt), and\n"
    "prints one line per output: shape, min, max, mean.\n"
    "\n"
    "  --input NAME=FILE      feed input NAME from a .npy or ONNX TensorProto .pb\n"
    "                         file (repeatable)\n"
    "  --random-inputs        fill inputs not given with deterministic random data\n"
    "                         (floats uniform in [-1,1), integers in [0,4), bools)\n"
    "  --seed N               seed for --random-inputs (default 0)\n"
    "  --output-dir DIR       write each output as DIR/NAME.npy\n"
    "  --interp               run with the reference interpreter (default: compile\n"
    "                         to a temporary shared object and run that)\n"
    "  --threads N            compiled runs: threads the artifact's kernels may use,\n"
    "                         the calling thread included (default: the artifact's\n"
    "                         default, $KILN_NUM_THREADS or the online CPUs); not\n"
    "                         with --interp (exit 2), which runs on one thread\n"
    "  --weights FILE         ARTIFACT: its weights file (default: NAME.weights next\n"
    "                         to it, for artifacts compiled with --weights=file)\n"
    "  --name NAME            ARTIFACT: the entry prefix (default: found in the file)\n"
    "\n"
    "For an ARTIFACT, input names, dtypes and shapes come from its metadata; the\n"
    "pipeline and model options do not apply.\n"
    "\n"
    "Inputs that decide a shape (a reshape target, slice bounds, ...) are bound\n"
    "as constants from their files before compiling; kiln says so.\n"
    "\n"
    "usage: kiln run --onnx-test DIR [--rtol R] [--atol A] [options]\n"
    "\n"
    "Runs an ONNX test directory (DIR/model.onnx, DIR/test_data_set_N/input_K.pb)\n"
    "and compares every output with DIR/test_data_set_N/output_K.pb: prints the\n"
    "max abs/rel error per output and PASS or FAIL; exits 0 only on PASS.\n"
    "Compiled like a plain run (--threads applies); --interp uses the reference\n"
    "interpreter.\n"
    "  --rtol R, --atol A     tolerances: |got-want| <= atol + rtol*|want|\n"
    "                         (default 1e-3 and 1e-7, as ONNX's runner)\n";

static const char *compile_help =
    "usage: kiln compile MODEL -o OUT [options]\n"
    "\n"
    "Compiles MODEL to native code through LLVM (docs/abi.md, docs/deploy.md).\n"
    "Writes OUT and, for so/obj/lib, NAME.h next to it.\n"
    "\n"
    "  -o OUT                 the artifact to write\n"
    "  --emit=KIND            so (default), obj, lib (.a), asm, llvm (IR text), header\n"
    "  --name NAME            entry point prefix, a C identifier (default: from OUT)\n"
    "  --weights=embed|file   embed the constants (default) or write NAME.weights\n"
    "  --target=TRIPLE        target triple, e.g. aarch64-linux-gnu (default: this machine)\n"
    "  --mcpu=CPU             native (default), generic, x86-64-v3, znver3, ...\n"
    "  --mattr=FEATURES       CPU features, e.g. +avx2,-avx512f (default: the CPU's)\n"
    "  --cc CC                C compiler driver that links the .so ($KILN_CC, else cc)\n"
    "\n"
    "-O0/-O1 select LLVM's default<O0>/<O1> pipeline, -O2/-O3 default<O3>;\n"
    "--time-passes also times the code-generation phases.\n";

static const char *bench_help =
    "usage: kiln bench MODEL|ARTIFACT [options]\n"
    "\n"
    "Times a compiled model: a MODEL is compiled first (-O2 unless a pipeline\n"
    "option says otherwise), an ARTIFACT (.so) is loaded as it is. Runs the warm-up\n"
    "iterations, then times each of N iterations (CLOCK_MONOTONIC) on deterministic\n"
    "random inputs with one reused workspace, and prints min_ms, mean_ms, max_ms\n"
    "and, last, median_ms.\n"
    "\n"
    "  --iters N              timed iterations (default 100)\n"
    "  --warmup N             untimed iterations first (default 10)\n"
    "  --threads N            threads the artifact's kernels may use, the calling\n"
    "                         thread included (default: the artifact's default,\n"
    "                         $KILN_NUM_THREADS or the online CPUs); the report's\n"
    "                         threads: line gives the count in effect\n"
    "  --seed N               seed of the random inputs (default 0)\n"
    "  --weights FILE         ARTIFACT: its weights file (default: NAME.weights next\n"
    "                         to it, for artifacts compiled with --weights=file)\n"
    "  --name NAME            ARTIFACT: the entry prefix (default: found in the file)\n";

static const char *inspect_help =
    "usage: kiln inspect MODEL [options]\n"
    "\n"
    "Prints the model's inputs and outputs, an op histogram, the number of\n"
    "trainable parameters, memory estimates, and the kernels and bytes of\n"
    "intermediates written per inference before and after fusion (see\n"
    "docs/cli.md).\n"
    "\n"
    "  --json                 print the report as JSON\n"
    "  --memory               add the memory plan (docs/passes.md): naive_bytes,\n"
    "                         lower_bound_bytes, arena_bytes, and the peak live bytes\n"
    "                         in the model's own order and after `schedule`; the\n"
    "                         pipeline options choose the passes run before those\n"
    "  --dot FILE             write the graph after the pipeline (default -O2) as\n"
    "                         Graphviz DOT: fused kernels are clusters of their ops,\n"
    "                         edges carry the values' types (docs/cli.md)\n"
    "  --svg FILE             the same drawing rendered to SVG by Graphviz's 'dot'\n"
    "                         program, which must be on PATH\n";

/* ---- option parsing ------------------------------------------------------------------ */
typedef struct {
  int argc;
  char **argv;
  int i;
  const char *cmd;
} args;

/* Matches flag `name` at argv[i], as `--name=VALUE` or `--name VALUE`.
 * Returns 1 and sets *val when it matches; 0 otherwise; -1 when the value is
 * missing (an error has been printed). */
static int flag_value(args *a, const char *name, const char **val) {
  const char *s = a->argv[a->i];
  size_t n = strlen(name);
  if (strncmp(s, name, n) != 0) return 0;
  if (s[n] == '=') {
    *val = s + n + 1;
    return 1;
  }
  if (s[n] != 0) return 0;
  if (a->i + 1 >= a->argc) {
    usage_error(a->cmd, "%s needs a value", name);
    return -1;
  }
  *val = a->argv[++a->i];
  return 1;
}

static int parse_dims(const char *s, int *rank, int64_t *dims) {
  *rank = 0;
  if (!*s) return 0; /* scalar */
  for (;;) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0) return -1;
    if (*rank >= KILN_MAX_RANK) return -1;
    dims[(*rank)++] = v;
    if (*end == 0) return 0;
    if (*end != 'x' && *end != 'X' && *end != ',') return -1;
    s = end + 1;
  }
}

typedef struct {
  const char *model;
  kiln_load_options load;
  kiln_pipeline_options pipe;
  int print_pipeline;
  int n_binds;
  const char *bind_names[MAX_IO];
  const char *bind_files[MAX_IO];
  /* ir */
  const char *out_file;
  /* run */
  int n_inputs;
  const char *input_names[MAX_IO];
  const char *input_files[MAX_IO];
  int random_inputs;
  unsigned long long seed;
  const char *output_dir;
  int interp;
  const char *onnx_test; /* --onnx-test DIR */
  double rtol, atol;
  /* inspect */
  int json;
  int memory; /* --memory */
  const char *dot_file; /* --dot */
  const char *svg_file; /* --svg */
  /* artifacts (run, bench) */
  const char *model_flag;   /* first pipeline/model option given (they need a MODEL) */
  const char *weights_file; /* --weights */
  const char *entry_name;   /* --name */
  /* bench */
  long iters, warmup, threads;
} options;

/* Splits "NAME=VALUE" (the last '=' separates, so names may contain '='
 * only if the value does not). */
static int split_assign(const char *s, const char **name, const char **value, char *buf,
                        size_t n) {
  const char *eq = strrchr(s, '=');
  if (!eq || eq == s || !eq[1]) return -1;
  size_t ln = (size_t)(eq - s);
  if (ln >= n) return -1;
  memcpy(buf, s, ln);
  buf[ln] = 0;
  *name = buf;
  *value = eq + 1;
  return 0;
}

static char name_store[MAX_IO * 3][1024];
static int name_store_n;

static int parse_common(args *a, options *o, int *handled) {
  const char *v;
  const char *s = a->argv[a->i];
  int r;
  *handled = 1;
  if (!strcmp(s, "-O0") || !strcmp(s, "-O1") || !strcmp(s, "-O2") || !strcmp(s, "-O3")) {
    o->pipe.opt_level = s[2] - '0';
    return 0;
  }
  if (!strncmp(s, "-O", 2) && s[2])
    return usage_error(a->cmd, "unknown optimisation level '%s' (use -O0 to -O3)", s);
  if ((r = flag_value(a, "--passes", &v))) {
    if (r < 0) return EXIT_USAGE;
    o->pipe.passes = v;
    return 0;
  }
  if (!strcmp(s, "--print-pipeline")) {
    o->print_pipeline = 1;
    return 0;
  }
  if (!strcmp(s, "--verify-each")) {
    o->pipe.verify_each = 1;
    return 0;
  }
  if (!strcmp(s, "--time-passes")) {
    o->pipe.time_passes = 1;
    return 0;
  }
  if ((r = flag_value(a, "--dump-after", &v))) {
    if (r < 0) return EXIT_USAGE;
    if (!*v) return usage_error(a->cmd, "--dump-after needs pass names or 'all'");
    o->pipe.dump_after = v;
    return 0;
  }
  if ((r = flag_value(a, "--dump-dir", &v))) {
    if (r < 0) return EXIT_USAGE;
    if (!*v) return usage_error(a->cmd, "--dump-dir needs a directory");
    o->pipe.dump_dir = v;
    return 0;
  }
  if ((r = flag_value(a, "--shape", &v))) {
    if (r < 0) return EXIT_USAGE;
    const char *name, *dims;
    if (name_store_n >= MAX_IO * 3 || o->load.n_shapes >= KILN_MAX_SHAPE_PINS)
      return usage_error(a->cmd, "too many --shape flags");
    char *buf = name_store[name_store_n++];
    if (split_assign(v, &name, &dims, buf, sizeof name_store[0]))
      return usage_error(a->cmd, "--shape expects NAME=DIMS (e.g. x=1x3x224x224), got '%s'", v);
    int k = o->load.n_shapes;
    if (parse_dims(dims, &o->load.shape_ranks[k], o->load.shape_dims[k]))
      return usage_error(a->cmd, "--shape %s: bad dimensions '%s' (use e.g. 1x3x224x224)", name,
                         dims);
    o->load.shape_names[k] = name;
    o->load.n_shapes++;
    return 0;
  }
  if ((r = flag_value(a, "--bind", &v))) {
    if (r < 0) return EXIT_USAGE;
    const char *name, *file;
    if (name_store_n >= MAX_IO * 3 || o->n_binds >= MAX_IO)
      return usage_error(a->cmd, "too many --bind flags");
    char *buf = name_store[name_store_n++];
    if (split_assign(v, &name, &file, buf, sizeof name_store[0]))
      return usage_error(a->cmd, "--bind expects NAME=FILE, got '%s'", v);
    o->bind_names[o->n_binds] = name;
    o->bind_files[o->n_binds++] = file;
    return 0;
  }
  *handled = 0;
  return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */
/* Reads a .npy or ONNX TensorProto (.pb) file; prints the error. */
static int load_tensor_file(const char *path, kiln_tensor *t) {
  kiln_diag d;
  kiln_diag_init(&d);
  int rc = kiln_tensor_read(path, t, &d);
  if (rc) errorf("%s", d.msg[0] ? d.msg : kiln_status_name(rc));
  return rc;
}

static int report_diag(const kiln_diag *d) {
  errorf("%s", d->msg[0] ? d->msg : kiln_status_name(d->status));
  return d->status == KILN_E_USAGE ? EXIT_USAGE : 1;
}

static void type_str(kiln_dtype dt, int rank, const int64_t *dims, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "%s[", kiln_dtype_name(dt));
  for (int i = 0; i < rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)dims[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* Loads the model and applies --bind. */
static int open_model(options *o, kiln_model **m) {
  kiln_diag d;
  kiln_diag_init(&d);
  if (kiln_model_load(o->model, &o->load, m, &d)) return report_diag(&d);
  for (int i = 0; i < o->n_binds; i++) {
    kiln_tensor t;
    int rc = load_tensor_file(o->bind_files[i], &t);
    if (rc) return 1;
    rc = kiln_model_bind(*m, o->bind_names[i], &t, &d);
    kiln_tensor_free(&t);
    if (rc) return report_diag(&d);
  }
  return 0;
}

static int do_print_pipeline(options *o) {
  char buf[4096];
  kiln_diag d;
  kiln_diag_init(&d);
  if (kiln_pipeline_describe(&o->pipe, buf, sizeof buf, &d)) return report_diag(&d);
  printf("%s\n", buf);
  return 0;
}

static int need_model(args *a, options *o, const char *help) {
  if (!o->model) {
    usage_error(a->cmd, "missing MODEL argument");
    (void)help;
    return EXIT_USAGE;
  }
  struct stat st;
  if (stat(o->model, &st) != 0) {
    errorf("%s: %s", o->model, strerror(errno));
    return 1;
  }
  return 0;
}

/* ---- kiln ir -------------------------------------------------------------------------------- */
static int cmd_ir(args *a) {
  options o;
  memset(&o, 0, sizeof o);
  kiln_load_options_init(&o.load);
  kiln_pipeline_options_init(&o.pipe);
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *s = a->argv[a->i], *v;
    int handled, rc, r;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      printf("%s\n%s", ir_help, pipeline_help);
      return 0;
    }
    if ((rc = parse_common(a, &o, &handled))) return rc;
    if (handled) continue;
    if ((r = flag_value(a, "-o", &v))) {
      if (r < 0) return EXIT_USAGE;
      o.out_file = v;
      continue;
    }
    if (s[0] == '-' && s[1]) return usage_error(a->cmd, "unknown option '%s'", s);
    if (o.model) return usage_error(a->cmd, "unexpected argument '%s'", s);
    o.model = s;
  }
  if (o.print_pipeline) return do_print_pipeline(&o);
  int rc = need_model(a, &o, ir_help);
  if (rc) return rc;
  kiln_model *m = NULL;
  if ((rc = open_model(&o, &m))) {
    kiln_model_free(m);
    return rc;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  if (kiln_model_optimize(m, &o.pipe, &d)) {
    kiln_model_free(m);
    return report_diag(&d);
  }
  FILE *f = stdout;
  char side[4096];
  const char *side_file = NULL;
  if (o.out_file) {
    f = fopen(o.out_file, "w");
    if (!f) {
      errorf("%s: cannot create: %s", o.out_file, strerror(errno));
      kiln_model_free(m);
      return 1;
    }
    snprintf(side, sizeof side, "%s.bin", o.out_file);
    remove(side);
    side_file = side;
  }
  rc = kiln_model_print(m, f, side_file, &d);
  if (f != stdout && fclose(f) != 0 && !rc) {
    errorf("%s: write failed", o.out_file);
    rc = 1;
  }
  kiln_model_free(m);
  if (rc) return report_diag(&d);
  return 0;
}

/* ---- kiln run -------------------------------------------------------------------------------- */
/* Output file name from a value name: keeps [A-Za-z0-9_.-], maps the rest
 * to '_' and never yields "." or "..". */
static void safe_file_name(const char *name, char *buf, size_t n) {
  size_t k = 0;
  for (const char *p = name; *p && k + 1 < n; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    buf[k++] = ok ? c : '_';
  }
  buf[k] = 0;
  if (k == 0 || !strcmp(buf, ".") || !strcmp(buf, "..")) snprintf(buf, n, "output");
}

static void summarize(const char *name, const kiln_tensor *t) {
  char ty[256];
  type_str(t->dtype, t->rank, t->dims, ty, sizeof ty);
  int64_t n = kiln_tensor_numel(t);
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double v;
    switch (t->dtype) {
    case KILN_F32: v = ((const float *)t->data)[i]; break;
    case KILN_F64: v = ((const double *)t->data)[i]; break;
    case KILN_I64: v = (double)((const int64_t *)t->data)[i]; break;
    case KILN_I32: v = ((const int32_t *)t->data)[i]; break;
    case KILN_I16: v = ((const int16_t *)t->data)[i]; break;
    case KILN_I8: v = ((const int8_t *)t->data)[i]; break;
    case KILN_U8:
    case KILN_BOOL: v = ((const uint8_t *)t->data)[i]; break;
    default: v = NAN;
    }
    if (v < mn) mn = v;
    if (v > mx) mx = v;
    sum += v;
  }
  if (n == 0)
    printf("%s: %s (empty)\n", name, ty);
  else
    printf("%s: %s min=%.6g max=%.6g mean=%.6g\n", name, ty, mn, mx, sum / (double)n);
}

/* ---- artifacts: kiln run ARTIFACT, kiln bench ------------------------------------------ */
/* 1 when path is an ELF file (a compiled artifact rather than a model). */
static int is_artifact(const char *path) {
  unsigned char magic[4] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(magic, 1, 4, f);
  fclose(f);
  return n == 4 && !memcmp(magic, "\177ELF", 4);
}

/* --weights FILE and --name NAME (for artifacts); returns as flag_value. */
static int parse_artifact_flag(args *a, options *o) {
  const char *v, *flag = "--weights";
  int r = flag_value(a, flag, &v);
  if (r == 0) r = flag_value(a, flag = "--name", &v);
  if (r > 0 && !*v) {
    usage_error(a->cmd, "%s needs a value", flag);
    return -1;
  }
  if (r > 0) *(flag[2] == 'w' ? &o->weights_file : &o->entry_name) = v;
  return r;
}

/* Reports the runtime's error; exit status 2 for misuse, else 1. */
static int report_rt(int status) {
  errorf("%s", kilnrt_last_error()[0] ? kilnrt_last_error() : kilnrt_status_name(status));
  return status == KILN_E_USAGE ? EXIT_USAGE : 1;
}

/* Loads an artifact and, when its weights are in a file, the weights:
 * weights_file, else NAME.weights next to the artifact. */
static int open_artifact(const char *path, const options *o, kilnrt_model **out) {
  kilnrt_model *m = NULL;
  int rc = kilnrt_load(path, o->entry_name, &m);
  if (rc) return report_rt(rc);
  if (kilnrt_weights_in_file(m) || o->weights_file) {
    char def[4200];
    const char *w = o->weights_file;
    if (!w) {
      const char *slash = strrchr(path, '/');
      snprintf(def, sizeof def, "%.*s%s.weights", slash ? (int)(slash - path + 1) : 0, path,
               kilnrt_name(m));
      w = def;
      if (access(w, F_OK) != 0) {
        errorf("%s keeps its weights in a file and %s does not exist; give --weights FILE",
               path, w);
        kilnrt_unload(m);
        return EXIT_USAGE;
      }
    }
    if ((rc = kilnrt_load_weights(m, w))) {
      rc = report_rt(rc);
      kilnrt_unload(m);
      return rc;
    }
  }
  *out = m;
  return 0;
}

/* --threads: sets the artifact's thread count (want <= 0 leaves its default)
 * and gives the count in effect; a note says when that is not want. */
static int set_threads(kilnrt_model *m, long want, int *in_effect) {
  int rc = kilnrt_set_threads(m, want > 0 ? (int)want : 0, in_effect);
  if (rc) return report_rt(rc);
  if (want > 0 && *in_effect != want) {
    if (*in_effect == 1)
      fprintf(stderr, "%s: note: --threads %ld: the artifact has no parallel kernels; it runs "
              "on one thread\n", prog, want);
    else
      fprintf(stderr, "%s: note: --threads %ld: the artifact uses at most %d threads\n", prog,
              want, *in_effect);
  }
  return 0;
}

static void art_type_str(const kiln_artifact_tensor *t, char *buf, size_t n) {
  type_str((kiln_dtype)t->dtype, t->rank, t->dims, buf, n);
}

/* Buffers for an artifact's inputs: from --input files (dtype and shape
 * checked against the metadata) or random (--random-inputs / always for
 * bench). ins[i] receives the data; the tensors go to t[] (free them). */
static int artifact_inputs(const options *o, const kilnrt_model *m, int random, kiln_tensor *t,
                           void **ins) {
  int n = kilnrt_num_inputs(m);
  for (int k = 0; k < o->n_inputs; k++)
    if (kilnrt_find_input(m, o->input_names[k]) < 0) {
      errorf("%s: the artifact has no input '%s'", o->model, o->input_names[k]);
      return EXIT_USAGE;
    }
  for (int i = 0; i < n; i++) {
    const kiln_artifact_tensor *in = kilnrt_input(m, i);
    int k = 0;
    while (k < o->n_inputs && strcmp(o->input_names[k], in->name)) k++;
    if (k < o->n_inputs) {
      if (load_tensor_file(o->input_files[k], &t[i])) return 1;
      int same = (int32_t)t[i].dtype == in->dtype && t[i].rank == in->rank;
      for (int j = 0; same && j < in->rank; j++) same = t[i].dims[j] == in->dims[j];
      if (!same) {
        char want[256], got[256];
        art_type_str(in, want, sizeof want);
        type_str(t[i].dtype, t[i].rank, t[i].dims, got, sizeof got);
        errorf("%s: input '%s' must be %s, but %s holds %s", o->model, in->name, want,
               o->input_files[k], got);
        return 1;
      }
    } else if (random) {
      kiln_diag d;
      kiln_diag_init(&d);
      t[i].dtype = (kiln_dtype)in->dtype;
      t[i].rank = in->rank;
      memcpy(t[i].dims, in->dims, sizeof t[i].dims);
      if (kiln_tensor_random(&t[i], o->seed + (unsigned long long)i, &d)) return report_diag(&d);
    } else {
      errorf("%s: no value for input '%s' (give --input %s=FILE.npy or --random-inputs)",
             o->model, in->name, in->name);
      return EXIT_USAGE;
    }
    ins[i] = t[i].data;
  }
  return 0;
}

/* Output tensors shaped by the metadata (zeroed); outs[j] gets the data. */
static int artifact_outputs(const kilnrt_model *m, kiln_tensor *t, void **outs) {
  for (int j = 0; j < kilnrt_num_outputs(m); j++) {
    const kiln_artifact_tensor *out = kilnrt_output(m, j);
    t[j].dtype = (kiln_dtype)out->dtype;
    t[j].rank = out->rank;
    memcpy(t[j].dims, out->dims, sizeof t[j].dims);
    t[j].data = calloc(1, out->nbytes ? (size_t)out->nbytes : 1);
    if (!t[j].data) {
      errorf("out of memory for output '%s'", out->name);
      return 1;
    }
    outs[j] = t[j].data;
  }
  return 0;
}

/* Writes outputs[j] as DIR/NAME.npy (see safe_file_name). */
static int write_output(const char *dir, const char *name, const kiln_tensor *t) {
  char fname[1100], path[4096], err[1024];
  safe_file_name(name, fname, sizeof fname);
  snprintf(path, sizeof path, "%s/%s.npy", dir, fname);
  if (kiln_npy_write(path, t->dtype, t->rank, t->dims, t->data, err, sizeof err)) {
    errorf("%s", err);
    return 1;
  }
  return 0;
}

static int make_output_dir(const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    errorf("%s: cannot create directory: %s", dir, strerror(errno));
    return 1;
  }
  return 0;
}

/* kiln run ARTIFACT: inputs and outputs from the artifact's metadata. */
static int run_artifact(options *o) {
  kilnrt_model *m = NULL;
  int status = open_artifact(o->model, o, &m);
  if (status) return status;
  int threads;
  if (o->threads > 0 && (status = set_threads(m, o->threads, &threads))) {
    kilnrt_unload(m);
    return status;
  }
  int ni = kilnrt_num_inputs(m), no = kilnrt_num_outputs(m);
  kiln_tensor *tin = calloc((size_t)ni + 1, sizeof *tin);
  kiln_tensor *tout = calloc((size_t)no + 1, sizeof *tout);
  void **ins = calloc((size_t)ni + 1, sizeof *ins), **outs = calloc((size_t)no + 1, sizeof *outs);
  if (!tin || !tout || !ins || !outs) {
    errorf("out of memory");
    status = 1;
  }
  if (!status) status = artifact_inputs(o, m, o->random_inputs, tin, ins);
  if (!status) status = artifact_outputs(m, tout, outs);
  int rc;
  if (!status && (rc = kilnrt_run(m, NULL, (const void *const *)ins, outs)))
    status = report_rt(rc);
  if (!status && o->output_dir) status = make_output_dir(o->output_dir);
  for (int j = 0; j < no && !status; j++) {
    summarize(kilnrt_output(m, j)->name, &tout[j]);
    if (o->output_dir) status = write_output(o->output_dir, kilnrt_output(m, j)->name, &tout[j]);
  }
  for (int i = 0; tin && i < ni; i++) kiln_tensor_free(&tin[i]);
  for (int j = 0; tout && j < no; j++) kiln_tensor_free(&tout[j]);
  free(tin);
  free(tout);
  free(ins);
  free(outs);
  kilnrt_unload(m);
  return status;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Compiles a model for bench into dir/model.so. */
static int bench_compile(options *o, const char *so) {
  kiln_model *m = NULL;
  int rc = open_model(o, &m);
  if (!rc) {
    kiln_diag d;
    kiln_diag_init(&d);
    kiln_compile_options co;
    kiln_compile_options_init(&co);
    co.name = "kiln_bench";
    co.no_header = 1;
    co.opt_level = o->pipe.opt_level;
    co.time_passes = o->pipe.time_passes;
    co.report = o->pipe.report;
    if (kiln_model_optimize(m, &o->pipe, &d) || kiln_model_compile(m, so, &co, &d))
      rc = report_diag(&d);
  }
  kiln_model_free(m);
  return rc;
}

static int parse_count(args *a, const char *flag, const char *v, long min, long *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (*end || end == v || errno || x < min || x > 100000000L)
    return usage_error(a->cmd, "%s: bad count '%s' (an integer >= %ld)", flag, v, min);
  *out = x;
  return 0;
}

/* --threads N (run, bench): an integer from 1 to 1024. */
static int parse_threads(args *a, const char *v, long *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (*end || end == v || errno || x < 1 || x > 1024)
    return usage_error(a->cmd, "--threads: bad count '%s' (an integer from 1 to 1024)", v);
  *out = x;
  return 0;
}

static int cmd_bench(args *a) {
  options o;
  memset(&o, 0, sizeof o);
  kiln_load_options_init(&o.load);
  kiln_pipeline_options_init(&o.pipe);
  o.iters = 100;
  o.warmup = 10;
  o.threads = 0; /* the artifact's default */
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *s = a->argv[a->i], *v;
    int handled, rc, r;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      printf("%s\n%s", bench_help, pipeline_help);
      return 0;
    }
    if ((rc = parse_common(a, &o, &handled))) return rc;
    if (handled) {
      if (!o.model_flag) o.model_flag = s;
      continue;
    }
    if ((r = parse_artifact_flag(a, &o))) {
      if (r < 0) return EXIT_USAGE;
      continue;
    }
    if ((r = flag_value(a, "--iters", &v))) {
      if (r < 0 || parse_count(a, "--iters", v, 1, &o.iters)) return EXIT_USAGE;
      continue;
    }
    if ((r = flag_value(a, "--warmup", &v))) {
      if (r < 0 || parse_count(a, "--warmup", v, 0, &o.warmup)) return EXIT_USAGE;
      continue;
    }
    if ((r = flag_value(a, "--threads", &v))) {
      if (r < 0 || parse_threads(a, v, &o.threads)) return EXIT_USAGE;
      continue;
    }
    if ((r = flag_value(a, "--seed", &v))) {
      if (r < 0) return EXIT_USAGE;
      char *end;
      errno = 0;
      o.seed = strtoull(v, &end, 10);
      if (*end || end == v || errno) return usage_error(a->cmd, "--seed: bad number '%s'", v);
      continue;
    }
    if (s[0] == '-' && s[1]) return usage_error(a->cmd, "unknown option '%s'", s);
    if (o.model) return usage_error(a->cmd, "unexpected argument '%s'", s);
    o.model = s;
  }
  if (o.print_pipeline) return do_print_pipeline(&o);
  int status = need_model(a, &o, bench_help);
  if (status) return status;
  int artifact = is_artifact(o.model);
  if (artifact && o.model_flag)
    return usage_error(a->cmd, "%s applies to a model, not to the compiled artifact %s",
                       o.model_flag, o.model);
  if (!artifact && (o.weights_file || o.entry_name))
    return usage_error(a->cmd, "%s applies to a compiled artifact (.so), not to %s",
                       o.weights_file ? "--weights" : "--name", o.model);

  /* a model is compiled into a temporary directory, removed once loaded */
  kilnrt_model *m = NULL;
  if (artifact) {
    status = open_artifact(o.model, &o, &m);
  } else {
    const char *tmp = getenv("TMPDIR");
    char dir[4096], so[4200];
    snprintf(dir, sizeof dir, "%s/kiln-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
      errorf("%s: cannot create a temporary directory: %s", dir, strerror(errno));
      return 1;
    }
    snprintf(so, sizeof so, "%s/kiln_bench.so", dir);
    status = bench_compile(&o, so);
    if (!status) status = open_artifact(so, &o, &m);
    unlink(so);
    rmdir(dir);
  }
  if (status) return status;
  int threads = 0; /* in effect */
  if ((status = set_threads(m, o.threads, &threads))) {
    kilnrt_unload(m);
    return status;
  }

  const kiln_artifact_metadata *md = kilnrt_metadata(m);
  int ni = kilnrt_num_inputs(m), no = kilnrt_num_outputs(m);
  kiln_tensor *tin = calloc((size_t)ni + 1, sizeof *tin);
  kiln_tensor *tout = calloc((size_t)no + 1, sizeof *tout);
  void **ins = calloc((size_t)ni + 1, sizeof *ins), **outs = calloc((size_t)no + 1, sizeof *outs);
  double *ms = calloc((size_t)o.iters, sizeof *ms);
  kilnrt_workspace *ws = NULL;
  int rc;
  if (!tin || !tout || !ins || !outs || !ms) {
    errorf("out of memory");
    status = 1;
  }
  if (!status) status = artifact_inputs(&o, m, 1, tin, ins);
  if (!status) status = artifact_outputs(m, tout, outs);
  if (!status && (rc = kilnrt_workspace_create(m, &ws))) status = report_rt(rc);
  for (long i = 0; i < o.warmup && !status; i++)
    if ((rc = kilnrt_run(m, ws, (const void *const *)ins, outs))) status = report_rt(rc);
  for (long i = 0; i < o.iters && !status; i++) {
    double t0 = now_ms();
    rc = kilnrt_run(m, ws, (const void *const *)ins, outs);
    ms[i] = now_ms() - t0;
    if (rc) status = report_rt(rc);
  }
  if (!status) {
    double sum = 0;
    for (long i = 0; i < o.iters; i++) sum += ms[i];
    qsort(ms, (size_t)o.iters, sizeof *ms, cmp_double);
    long h = o.iters / 2;
    double median = o.iters % 2 ? ms[h] : (ms[h - 1] + ms[h]) / 2;
    printf("model: %s\n", o.model);
    printf("artifact: %s (kiln %s, %s, cpu %s)\n", kilnrt_name(m),
           md->kiln_version ? md->kiln_version : "?",
           md->target_triple ? md->target_triple : "?", md->target_cpu ? md->target_cpu : "?");
    for (int i = 0; i < ni; i++) {
      char ty[256];
      art_type_str(kilnrt_input(m, i), ty, sizeof ty);
      printf("input: %s %s\n", kilnrt_input(m, i)->name, ty);
    }
    printf("workspace_bytes: %llu\n", (unsigned long long)md->workspace_size);
    printf("threads: %d\n", threads);
    printf("warmup: %ld\n", o.warmup);
    printf("iterations: %ld\n", o.iters);
    printf("min_ms: %.6f\n", ms[0]);
    printf("mean_ms: %.6f\n", sum / (double)o.iters);
    printf("max_ms: %.6f\n", ms[o.iters - 1]);
    printf("median_ms: %.6f\n", median);
  }
  for (int i = 0; tin && i < ni; i++) kiln_tensor_free(&tin[i]);
  for (int j = 0; tout && j < no; j++) kiln_tensor_free(&tout[j]);
  free(tin);
  free(tout);
  free(ins);
  free(outs);
  free(ms);
  kilnrt_workspace_free(ws);
  kilnrt_unload(m);
  return status;
}

/* kiln run --onnx-test DIR: one ONNX test directory against its references,
 * executed as a plain `kiln run` would (compiled, or --interp). */
static int run_onnx_test(args *a, options *o) {
  if (o->model) return usage_error(a->cmd, "give either MODEL or --onnx-test DIR, not both");
  if (o->n_inputs || o->n_binds || o->random_inputs || o->output_dir || o->load.n_shapes)
    return usage_error(a->cmd, "--onnx-test takes its inputs from the test directory; "
                               "--input, --bind, --shape, --random-inputs and --output-dir "
                               "do not apply");
  kiln_check_options co;
  kiln_check_options_init(&co);
  co.pipe = o->pipe;
  co.notes = stderr;
  if (o->rtol >= 0) co.rtol = o->rtol;
  if (o->atol >= 0) co.atol = o->atol;
  kiln_compile_options cc;
  kiln_compile_options_init(&cc);
  cc.opt_level = o->pipe.opt_level;
  cc.time_passes = o->pipe.time_passes;
  cc.report = o->pipe.report;
  cc.threads = (int)o->threads;
  co.compile = &cc;
  co.mode = o->interp ? KILN_EXEC_INTERPRET : KILN_EXEC_COMPILED;
  kiln_check_result *r = calloc(1, sizeof *r);
  if (!r) {
    errorf("out of memory");
    return 1;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  printf("%s (%s, rtol %g, atol %g)\n", o->onnx_test, o->interp ? "interpreter" : "compiled",
         co.rtol, co.atol);
  fflush(stdout);
  int rc = kiln_onnx_test_run(o->onnx_test, &co, r, &d);
  kiln_check_result_print(r, stdout);
  int n_sets = r->n_data_sets;
  free(r);
  if (rc == KILN_OK || rc == KILN_E_MISMATCH) {
    printf("%s (%d data set%s)\n", rc ? "FAIL" : "PASS", n_sets, n_sets == 1 ? "" : "s");
    return rc ? 1 : 0;
  }
  printf("FAIL (%s)\n", kiln_status_name(rc));
  return report_diag(&d);
}

static int cmd_run(args *a) {
  options o;
  memset(&o, 0, sizeof o);
  kiln_load_options_init(&o.load);
  kiln_pipeline_options_init(&o.pipe);
  o.rtol = o.atol = -1; /* unset */
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *s = a->argv[a->i], *v;
    int handled, rc, r;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      printf("%s\n%s", run_help, pipeline_help);
      return 0;
    }
    if ((rc = parse_common(a, &o, &handled))) return rc;
    if (handled) {
      if (!o.model_flag) o.model_flag = s;
      continue;
    }
    if ((r = parse_artifact_flag(a, &o))) {
      if (r < 0) return EXIT_USAGE;
      continue;
    }
    if ((r = flag_value(a, "--input", &v))) {
      if (r < 0) return EXIT_USAGE;
      const char *name, *file;
      if (name_store_n >= MAX_IO * 3 || o.n_inputs >= MAX_IO)
        return usage_error(a->cmd, "too many --input flags");
      char *buf = name_store[name_store_n++];
      if (split_assign(v, &name, &file, buf, sizeof name_store[0]))
        return usage_error(a->cmd, "--input expects NAME=FILE, got '%s'", v);
      o.input_names[o.n_inputs] = name;
      o.input_files[o.n_inputs++] = file;
      continue;
    }
    if (!strcmp(s, "--random-inputs")) {
      o.random_inputs = 1;
      continue;
    }
    if (!strcmp(s, "--interp")) {
      o.interp = 1;
      continue;
    }
    if ((r = flag_value(a, "--threads", &v))) {
      if (r < 0 || parse_threads(a, v, &o.threads)) return EXIT_USAGE;
      continue;
    }
    if ((r = flag_value(a, "--onnx-test", &v))) {
      if (r < 0) return EXIT_USAGE;
      if (!*v) return usage_error(a->cmd, "--onnx-test needs a directory");
      o.onnx_test = v;
      continue;
    }
    if ((r = flag_value(a, "--rtol", &v)) || (r = flag_value(a, "--atol", &v))) {
      if (r < 0) return EXIT_USAGE;
      char *end;
      errno = 0;
      double x = strtod(v, &end);
      if (*end || end == v || errno || !(x >= 0) || isinf(x))
        return usage_error(a->cmd, "%s: bad tolerance '%s' (a number >= 0)", s, v);
      *(s[2] == 'r' ? &o.rtol : &o.atol) = x;
      continue;
    }
    if ((r = flag_value(a, "--seed", &v))) {
      if (r < 0) return EXIT_USAGE;
      char *end;
      errno = 0;
      o.seed = strtoull(v, &end, 10);
      if (*end || end == v || errno) return usage_error(a->cmd, "--seed: bad number '%s'", v);
      continue;
    }
    if ((r = flag_value(a, "--output-dir", &v))) {
      if (r < 0) return EXIT_USAGE;
      if (!*v) return usage_error(a->cmd, "--output-dir needs a directory");
      o.output_dir = v;
      continue;
    }
    if (s[0] == '-' && s[1]) return usage_error(a->cmd, "unknown option '%s'", s);
    if (o.model) return usage_error(a->cmd, "unexpected argument '%s'", s);
    o.model = s;
  }
  if (o.print_pipeline) return do_print_pipeline(&o);
  if (o.interp && o.threads)
    return usage_error(a->cmd, "--threads applies to compiled runs; the interpreter (--interp) "
                               "runs on one thread");
  if (o.onnx_test) return run_onnx_test(a, &o);
  if (o.rtol >= 0 || o.atol >= 0)
    return usage_error(a->cmd, "--rtol and --atol need --onnx-test");
  int rc = need_model(a, &o, run_help);
  if (rc) return rc;
  if (is_artifact(o.model)) {
    if (o.model_flag || o.interp)
      return usage_error(a->cmd, "%s applies to a model, not to the compiled artifact %s",
                         o.interp ? "--interp" : o.model_flag, o.model);
    return run_artifact(&o);
  }
  if (o.weights_file || o.entry_name)
    return usage_error(a->cmd, "%s applies to a compiled artifact (.so), not to %s",
                       o.weights_file ? "--weights" : "--name", o.model);
  kiln_model *m = NULL;
  if ((rc = open_model(&o, &m))) {
    kiln_model_free(m);
    return rc;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  int n_in = kiln_model_num_inputs(m);
  kiln_tensor *feeds = calloc((size_t)n_in + 1, sizeof(kiln_tensor));
  kiln_tensor *outs = NULL;
  int n_out = 0;
  int status = 0;

  /* read the input files; every named input must exist */
  kiln_tensor given[MAX_IO];
  memset(given, 0, sizeof given);
  for (int k = 0; k < o.n_inputs && !status; k++) {
    int found = 0;
    for (int i = 0; i < n_in; i++) {
      kiln_value_info vi;
      kiln_model_input(m, i, &vi);
      if (!strcmp(vi.name, o.input_names[k])) found = 1;
    }
    if (!found) {
      errorf("%s: the model has no input '%s'", o.model, o.input_names[k]);
      status = EXIT_USAGE;
      break;
    }
    if (load_tensor_file(o.input_files[k], &given[k])) status = 1;
  }
  /* bind given inputs that decide shapes */
  for (int k = 0; k < o.n_inputs && !status; k++) {
    for (int i = 0; i < kiln_model_num_inputs(m); i++) {
      kiln_value_info vi;
      kiln_model_input(m, i, &vi);
      if (strcmp(vi.name, o.input_names[k]) || !kiln_model_input_decides_shape(m, i)) continue;
      fprintf(stderr, "%s: note: input '%s' decides a shape; binding it to %s as a constant\n",
              prog, vi.name, o.input_files[k]);
      if (kiln_model_bind(m, vi.name, &given[k], &d)) status = report_diag(&d);
      break;
    }
  }
  if (!status && kiln_model_optimize(m, &o.pipe, &d)) status = report_diag(&d);
  n_in = kiln_model_num_inputs(m);
  for (int i = 0; i < n_in && !status; i++) {
    kiln_value_info vi;
    kiln_model_input(m, i, &vi);
    int k;
    for (k = 0; k < o.n_inputs; k++)
      if (!strcmp(vi.name, o.input_names[k])) break;
    if (k < o.n_inputs) {
      kiln_tensor *t = &given[k];
      int same = t->dtype == vi.dtype && t->rank == vi.rank;
      for (int j = 0; same && j < vi.rank; j++) same = t->dims[j] == vi.dims[j];
      if (!same) {
        char want[256], got[256];
        type_str(vi.dtype, vi.rank, vi.dims, want, sizeof want);
        type_str(t->dtype, t->rank, t->dims, got, sizeof got);
        errorf("%s: input '%s' must be %s, but %s holds %s", o.model, vi.name, want,
               o.input_files[k], got);
        status = 1;
        break;
      }
      feeds[i] = *t;
      feeds[i].data = t->data;
    } else if (o.random_inputs) {
      feeds[i].dtype = vi.dtype;
      feeds[i].rank = vi.rank;
      memcpy(feeds[i].dims, vi.dims, sizeof vi.dims);
      if (kiln_tensor_random(&feeds[i], o.seed + (unsigned long long)i, &d))
        status = report_diag(&d);
    } else {
      errorf("%s: no value for input '%s' (give --input %s=FILE.npy or --random-inputs)",
             o.model, vi.name, vi.name);
      status = EXIT_USAGE;
    }
  }
  if (!status) {
    n_out = kiln_model_num_outputs(m);
    outs = calloc((size_t)n_out + 1, sizeof(kiln_tensor));
    kiln_compile_options co;
    kiln_compile_options_init(&co);
    co.opt_level = o.pipe.opt_level;
    co.time_passes = o.pipe.time_passes;
    co.report = o.pipe.report;
    co.threads = (int)o.threads;
    if (o.interp ? kiln_model_interpret(m, feeds, outs, &d)
                 : kiln_model_run_compiled(m, &co, feeds, outs, &d)) {
      status = report_diag(&d);
      n_out = 0;
    }
  }
  if (!status && o.output_dir) {
    if (mkdir(o.output_dir, 0777) != 0 && errno != EEXIST) {
      errorf("%s: cannot create directory: %s", o.output_dir, strerror(errno));
      status = 1;
    }
  }
  for (int j = 0; j < n_out && !status; j++) {
    kiln_value_info vi;
    kiln_model_output(m, j, &vi);
    summarize(vi.name, &outs[j]);
    if (o.output_dir) {
      char fname[1100], path[4096], err[1024];
      safe_file_name(vi.name, fname, sizeof fname);
      snprintf(path, sizeof path, "%s/%s.npy", o.output_dir, fname);
      if (kiln_npy_write(path, outs[j].dtype, outs[j].rank, outs[j].dims, outs[j].data, err,
                         sizeof err)) {
        errorf("%s", err);
        status = 1;
      }
    }
  }
  for (int j = 0; j < n_out; j++) kiln_tensor_free(&outs[j]);
  for (int i = 0; i < n_in; i++) {
    int is_given = 0;
    for (int k = 0; k < o.n_inputs; k++) is_given |= feeds[i].data == given[k].data;
    if (!is_given) kiln_tensor_free(&feeds[i]);
  }
  for (int k = 0; k < o.n_inputs; k++) kiln_tensor_free(&given[k]);
  free(feeds);
  free(outs);
  kiln_model_free(m);
  return status;
}

/* ---- kiln compile ---------------------------------------------------------------------------- */
static int cmd_compile(args *a) {
  options o;
  memset(&o, 0, sizeof o);
  kiln_load_options_init(&o.load);
  kiln_pipeline_options_init(&o.pipe);
  kiln_compile_options co;
  kiln_compile_options_init(&co);
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *s = a->argv[a->i], *v;
    int handled, rc, r;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      printf("%s\n%s", compile_help, pipeline_help);
      return 0;
    }
    if ((rc = parse_common(a, &o, &handled))) return rc;
    if (handled) continue;
    if ((r = flag_value(a, "-o", &v))) {
      if (r < 0) return EXIT_USAGE;
      if (!*v) return usage_error(a->cmd, "-o needs a file name");
      o.out_file = v;
      continue;
    }
    if ((r = flag_value(a, "--emit", &v))) {
      static const char *const kinds[] = {"so", "obj", "lib", "asm", "llvm", "header"};
      if (r < 0) return EXIT_USAGE;
      int k = 0;
      while (k < 6 && strcmp(v, kinds[k])) k++;
      if (k == 6)
        return usage_error(a->cmd, "--emit must be so, obj, lib, asm, llvm or header, not '%s'", v);
      co.emit = (kiln_emit_kind)k;
      continue;
    }
    if ((r = flag_value(a, "--weights", &v))) {
      if (r < 0) return EXIT_USAGE;
      if (strcmp(v, "embed") && strcmp(v, "file"))
        return usage_error(a->cmd, "--weights must be embed or file, not '%s'", v);
      co.weights_file = !strcmp(v, "file");
      continue;
    }
    if ((r = flag_value(a, "--name", &v)) > 0) co.name = v;
    else if (r == 0 && (r = flag_value(a, "--target", &v)) > 0) co.target = v;
    else if (r == 0 && (r = flag_value(a, "--mcpu", &v)) > 0) co.cpu = v;
    else if (r == 0 && (r = flag_value(a, "--mattr", &v)) > 0) co.features = v;
    else if (r == 0 && (r = flag_value(a, "--cc", &v)) > 0) co.cc = v;
    if (r < 0) return EXIT_USAGE;
    if (r > 0) {
      if (!*v) return usage_error(a->cmd, "%s needs a value", s);
      continue;
    }
    if (s[0] == '-' && s[1]) return usage_error(a->cmd, "unknown option '%s'", s);
    if (o.model) return usage_error(a->cmd, "unexpected argument '%s'", s);
    o.model = s;
  }
  if (o.print_pipeline) return do_print_pipeline(&o);
  int rc = need_model(a, &o, compile_help);
  if (rc) return rc;
  if (!o.out_file) return usage_error(a->cmd, "missing -o OUT");
  /* a progress line on a terminal: loading, the graph passes, then the
   * code-generation phases (tools/progress.h) */
  char label[300];
  snprintf(label, sizeof label, "%s: compiling %s", prog, o.model);
  int steps_before_codegen = 2;
  /* (not with reports that share stderr: timing tables, IR dumps) */
  if (!o.pipe.time_passes && !(o.pipe.dump_after && !o.pipe.dump_dir))
    progress_begin(label, steps_before_codegen + 6);
  progress_phase(0, "loading");
  kiln_model *m = NULL;
  if ((rc = open_model(&o, &m))) {
    progress_end();
    kiln_model_free(m);
    return rc;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  co.opt_level = o.pipe.opt_level;
  co.time_passes = o.pipe.time_passes;
  co.report = o.pipe.report;
  co.progress = progress_compile_cb;
  co.progress_user = &steps_before_codegen;
  progress_phase(1, "graph passes");
  rc = kiln_model_optimize(m, &o.pipe, &d) || kiln_model_compile(m, o.out_file, &co, &d);
  progress_end();
  kiln_model_free(m);
  return rc ? report_diag(&d) : 0;
}

/* ---- kiln inspect --------------------------------------------------------------------------- */
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void json_dims(const kiln_value_info *vi) {
  printf("[");
  for (int i = 0; i < vi->rank; i++) printf("%s%lld", i ? ", " : "", (long long)vi->dims[i]);
  printf("]");
}

/* Describes a model kiln cannot load because of unsupported ops. */
static void print_scan(const options *o, const kiln_scan_report *r) {
  if (o->json) {
    printf("{\n  \"model\": ");
    json_str(o->model);
    printf(",\n  \"opset\": %lld,\n  \"nodes\": %d,\n  \"ops\": {", r->opset, r->n_nodes);
    for (int i = 0; i < r->n_ops; i++) {
      printf("%s\n    ", i ? "," : "");
      json_str(r->ops[i].op);
      printf(": %d", r->ops[i].count);
    }
    printf("\n  },\n  \"unsupported\": [");
    int k = 0;
    for (int i = 0; i < r->n_ops; i++) {
      if (r->ops[i].supported) continue;
      printf("%s\n    {\"op\": ", k++ ? "," : "");
      json_str(r->ops[i].op);
      printf(", \"count\": %d, \"first_node\": ", r->ops[i].count);
      json_str(r->ops[i].first_node);
      printf("}");
    }
    printf("\n  ]\n}\n");
    return;
  }
  printf("model: %s\n", o->model);
  printf("opset: %lld\n", r->opset);
  printf("ops: %d nodes\n", r->n_nodes);
  for (int i = 0; i < r->n_ops; i++)
    printf("  %-20s %d%s\n", r->ops[i].op, r->ops[i].count,
           r->ops[i].supported ? "" : "  (unsupported)");
  printf("unsupported ops: %d\n", r->n_unsupported);
  for (int i = 0; i < r->n_ops; i++)
    if (!r->ops[i].supported)
      printf("  %s: %d node%s, first '%s'\n", r->ops[i].op, r->ops[i].count,
             r->ops[i].count == 1 ? "" : "s", r->ops[i].first_node);
}

/* --dot FILE / --svg FILE. The program `prog` on PATH (an executable
 * regular file; PATH unset: /usr/local/bin:/usr/bin:/bin) into buf; 0 when
 * found. An empty PATH entry is the current directory, as for execvp. */
static int find_in_path(const char *prog, char *buf, size_t n) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path;;) {
    const char *colon = strchr(p, ':');
    int len = colon ? (int)(colon - p) : (int)strlen(p);
    int k = snprintf(buf, n, "%.*s/%s", len ? len : 1, len ? p : ".", prog);
    struct stat st;
    if (k > 0 && (size_t)k < n && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
        access(buf, X_OK) == 0)
      return 0;
    if (!colon) return -1;
    p = colon + 1;
  }
}

/* The model's DOT text after the pipeline (malloc'd, *len bytes); NULL
 * with the error reported. */
static char *dot_text(const kiln_model *m, const options *o, size_t *len, int *rc) {
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  if (!f) {
    errorf("cannot open a memory stream: %s", strerror(errno));
    *rc = 1;
    return NULL;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  int st = kiln_model_write_dot(m, &o->pipe, f, &d);
  int closed = fclose(f) == 0;
  if (st || !closed) {
    free(text);
    if (st) {
      *rc = report_diag(&d);
    } else {
      errorf("out of memory");
      *rc = 1;
    }
    return NULL;
  }
  return text;
}

static int write_text_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "w");
  if (!f) {
    errorf("%s: cannot create: %s", path, strerror(errno));
    return 1;
  }
  int bad = fwrite(text, 1, len, f) != len;
  bad |= fclose(f) != 0;
  if (bad) {
    errorf("%s: write failed", path);
    remove(path);
    return 1;
  }
  return 0;
}

extern char **environ;

/* Runs `dot -Tsvg` (the program at dot, no shell) with text on its standard
 * input and svg as its standard output. */
static int render_svg(const char *dot, const char *svg, const char *text, size_t len) {
  int fd = open(svg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    errorf("%s: cannot create: %s", svg, strerror(errno));
    return 1;
  }
  int pfd[2] = {-1, -1};
  if (pipe(pfd) != 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(pfd[1], F_SETFD, FD_CLOEXEC) != 0) {
    errorf("cannot create a pipe: %s", strerror(errno));
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
    close(fd);
    remove(svg);
    return 1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  char arg0[] = "dot", arg1[] = "-Tsvg";
  char *argv[] = {arg0, arg1, NULL};
  pid_t pid;
  int err = posix_spawn(&pid, dot, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[0]);
  close(fd);
  if (err) {
    close(pfd[1]);
    errorf("cannot run %s: %s", dot, strerror(err));
    remove(svg);
    return 1;
  }
  /* dot may exit before reading everything: no SIGPIPE, its status tells */
  struct sigaction ign, old;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, &old);
  int werr = 0;
  for (size_t off = 0; off < len;) {
    ssize_t k = write(pfd[1], text + off, len - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      werr = k < 0 ? errno : EIO;
      break;
    }
    off += (size_t)k;
  }
  close(pfd[1]);
  sigaction(SIGPIPE, &old, NULL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      status = -1;
      break;
    }
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (status != -1 && WIFEXITED(status))
      errorf("%s: '%s -Tsvg' failed with exit status %d", svg, dot, WEXITSTATUS(status));
    else
      errorf("%s: '%s -Tsvg' did not finish", svg, dot);
    remove(svg);
    return 1;
  }
  if (werr) {
    errorf("%s: cannot send the graph to '%s': %s", svg, dot, strerror(werr));
    remove(svg);
    return 1;
  }
  return 0;
}

/* Writes --dot and --svg. */
static int write_drawings(const kiln_model *m, const options *o, const char *dot) {
  size_t len = 0;
  int rc = 0;
  char *text = dot_text(m, o, &len, &rc);
  if (!text) return rc;
  if (o->dot_file) rc = write_text_file(o->dot_file, text, len);
  if (!rc && o->svg_file) rc = render_svg(dot, o->svg_file, text, len);
  free(text);
  return rc;
}

static int cmd_inspect(args *a) {
  options o;
  memset(&o, 0, sizeof o);
  kiln_load_options_init(&o.load);
  kiln_pipeline_options_init(&o.pipe);
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *s = a->argv[a->i];
    int handled, rc;
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
      printf("%s\n%s", inspect_help, pipeline_help);
      return 0;
    }
    if ((rc = parse_common(a, &o, &handled))) return rc;
    if (handled) continue;
    if (!strcmp(s, "--json")) {
      o.json = 1;
      continue;
    }
    if (!strcmp(s, "--memory")) {
      o.memory = 1;
      continue;
    }
    const char *v, *flag = "--dot";
    int r = flag_value(a, flag, &v);
    if (r == 0) r = flag_value(a, flag = "--svg", &v);
    if (r < 0) return EXIT_USAGE;
    if (r > 0) {
      if (!*v) return usage_error(a->cmd, "%s needs a file name", flag);
      *(flag[2] == 'd' ? &o.dot_file : &o.svg_file) = v;
      continue;
    }
    if (s[0] == '-' && s[1]) return usage_error(a->cmd, "unknown option '%s'", s);
    if (o.model) return usage_error(a->cmd, "unexpected argument '%s'", s);
    o.model = s;
  }
  int rc = need_model(a, &o, inspect_help);
  if (rc) return rc;
  char dot[4096] = "";
  if (o.svg_file && find_in_path("dot", dot, sizeof dot)) {
    errorf("--svg needs Graphviz's 'dot' program, which is not on PATH (install Graphviz, "
           "or write the graph with --dot FILE and render it elsewhere)");
    return 1;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  {
    /* a model with unsupported ops cannot be loaded, but is still described */
    kiln_scan_report *sr = calloc(1, sizeof *sr);
    if (!sr) return 1;
    if (kiln_model_scan(o.model, sr, &d)) {
      free(sr);
      return report_diag(&d);
    }
    if (sr->n_unsupported) {
      print_scan(&o, sr);
      free(sr);
      if (o.dot_file || o.svg_file) {
        errorf("%s: cannot draw the graph: the model has unsupported ops", o.model);
        return 1;
      }
      return 0;
    }
    free(sr);
  }
  kiln_model *m = NULL;
  if ((rc = open_model(&o, &m))) {
    kiln_model_free(m);
    return rc;
  }
  kiln_inspect_report r;
  if (kiln_model_inspect(m, &r, &d)) {
    kiln_model_free(m);
    return report_diag(&d);
  }
  kiln_memory_report mr;
  if (o.memory && kiln_model_memory(m, &o.pipe, &mr, &d)) {
    kiln_model_free(m);
    return report_diag(&d);
  }
  if ((o.dot_file || o.svg_file) && (rc = write_drawings(m, &o, dot))) {
    kiln_model_free(m);
    return rc;
  }
  int ni = kiln_model_num_inputs(m), no = kiln_model_num_outputs(m);
  if (o.json) {
    printf("{\n  \"model\": ");
    json_str(o.model);
    printf(",\n  \"inputs\": [");
    for (int i = 0; i < ni; i++) {
      kiln_value_info vi;
      kiln_model_input(m, i, &vi);
      printf("%s\n    {\"name\": ", i ? "," : "");
      json_str(vi.name);
      printf(", \"dtype\": \"%s\", \"shape\": ", kiln_dtype_name(vi.dtype));
      json_dims(&vi);
      printf("}");
    }
    printf("\n  ],\n  \"outputs\": [");
    for (int i = 0; i < no; i++) {
      kiln_value_info vi;
      kiln_model_output(m, i, &vi);
      printf("%s\n    {\"name\": ", i ? "," : "");
      json_str(vi.name);
      printf(", \"dtype\": \"%s\", \"shape\": ", kiln_dtype_name(vi.dtype));
      json_dims(&vi);
      printf("}");
    }
    printf("\n  ],\n  \"nodes\": %d,\n  \"ops\": {", r.n_nodes);
    for (int i = 0; i < r.n_ops; i++)
      printf("%s\n    \"%s\": %d", i ? "," : "", r.op_names[i], r.op_counts[i]);
    printf("\n  },\n");
    printf("  \"parameters\": %lld,\n", (long long)r.parameters);
    printf("  \"parameter_bytes\": %lld,\n", (long long)r.parameter_bytes);
    printf("  \"constant_bytes\": %lld,\n", (long long)r.constant_bytes);
    printf("  \"activation_bytes\": %lld,\n", (long long)r.activation_bytes);
    printf("  \"activation_peak_bytes\": %lld,\n", (long long)r.activation_peak_bytes);
    printf("  \"memory_bytes\": {\"inference\": %lld, \"training_sgd\": %lld, "
           "\"training_momentum\": %lld, \"training_adam\": %lld}",
           (long long)r.mem_inference, (long long)r.mem_train_sgd,
           (long long)r.mem_train_momentum, (long long)r.mem_train_adam);
    printf(",\n  \"fusion\": {\"kernels_before\": %d, \"kernels_after\": %d, "
           "\"intermediate_bytes_before\": %lld, \"intermediate_bytes_after\": %lld}",
           r.kernels_before_fusion, r.kernels_after_fusion,
           (long long)r.intermediate_bytes_before_fusion,
           (long long)r.intermediate_bytes_after_fusion);
    if (o.memory)
      printf(",\n  \"memory_plan\": {\"naive_bytes\": %lld, \"lower_bound_bytes\": %lld, "
             "\"arena_bytes\": %lld, \"peak_default_order_bytes\": %lld, "
             "\"peak_scheduled_bytes\": %lld}",
             (long long)mr.naive_bytes, (long long)mr.lower_bound_bytes,
             (long long)mr.arena_bytes, (long long)mr.peak_default_order_bytes,
             (long long)mr.peak_scheduled_bytes);
    printf("\n}\n");
  } else {
    printf("model: %s\n", o.model);
    printf("inputs:\n");
    for (int i = 0; i < ni; i++) {
      kiln_value_info vi;
      char ty[256];
      kiln_model_input(m, i, &vi);
      type_str(vi.dtype, vi.rank, vi.dims, ty, sizeof ty);
      printf("  %s: %s\n", vi.name, ty);
    }
    printf("outputs:\n");
    for (int i = 0; i < no; i++) {
      kiln_value_info vi;
      char ty[256];
      kiln_model_output(m, i, &vi);
      type_str(vi.dtype, vi.rank, vi.dims, ty, sizeof ty);
      printf("  %s: %s\n", vi.name, ty);
    }
    printf("ops: %d nodes\n", r.n_nodes);
    for (int i = 0; i < r.n_ops; i++) printf("  %-20s %d\n", r.op_names[i], r.op_counts[i]);
    printf("parameters: %lld\n", (long long)r.parameters);
    printf("parameter_bytes: %lld\n", (long long)r.parameter_bytes);
    printf("constant_bytes: %lld\n", (long long)r.constant_bytes);
    printf("activation_bytes: %lld\n", (long long)r.activation_bytes);
    printf("activation_peak_bytes: %lld\n", (long long)r.activation_peak_bytes);
    printf("memory_inference_bytes: %lld\n", (long long)r.mem_inference);
    printf("memory_training_sgd_bytes: %lld\n", (long long)r.mem_train_sgd);
    printf("memory_training_momentum_bytes: %lld\n", (long long)r.mem_train_momentum);
    printf("memory_training_adam_bytes: %lld\n", (long long)r.mem_train_adam);
    if (r.kernels_before_fusion >= 0 && r.kernels_after_fusion >= 0) {
      printf("kernels_before_fusion: %d\n", r.kernels_before_fusion);
      printf("kernels_after_fusion: %d\n", r.kernels_after_fusion);
      printf("intermediate_bytes_before_fusion: %lld\n",
             (long long)r.intermediate_bytes_before_fusion);
      printf("intermediate_bytes_after_fusion: %lld\n",
             (long long)r.intermediate_bytes_after_fusion);
    }
    if (o.memory) {
      printf("naive_bytes: %lld\n", (long long)mr.naive_bytes);
      printf("lower_bound_bytes: %lld\n", (long long)mr.lower_bound_bytes);
      printf("arena_bytes: %lld\n", (long long)mr.arena_bytes);
      printf("peak_default_order_bytes: %lld\n", (long long)mr.peak_default_order_bytes);
      printf("peak_scheduled_bytes: %lld\n", (long long)mr.peak_scheduled_bytes);
    }
  }
  kiln_model_free(m);
  return 0;
}

int main(int argc, char **argv) {
  args a = {argc, argv, 1, NULL};
  if (argc < 2) {
    fputs(main_help, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(main_help, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("kiln %s\n", kiln_version());
    return 0;
  }
  a.cmd = cmd;
  if (!strcmp(cmd, "ir")) return cmd_ir(&a);
  if (!strcmp(cmd, "run")) return cmd_run(&a);
  if (!strcmp(cmd, "bench")) return cmd_bench(&a);
  if (!strcmp(cmd, "compile")) return cmd_compile(&a);
  if (!strcmp(cmd, "inspect")) return cmd_inspect(&a);
  if (cmd[0] == '-') return usage_error(NULL, "unknown option '%s'", cmd);
  return usage_error(NULL, "unknown command '%s'", cmd);
}

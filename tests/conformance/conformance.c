/* ONNX conformance runner.
 *
 * Runs every ONNX test directory under DATA/{node,pytorch-converted,
 * pytorch-operator,simple} and the weight-free models under DATA/light
 * (DATA defaults to ../shared/onnx-tests, relative to the working directory,
 * which CTest sets to the repository root) through the ONNX frontend, the
 * -O2 pipeline and the reference interpreter (--compiled: native code from
 * the code generator instead). Each test runs in a forked child
 * under a timeout and a memory limit, so a crash, an abort or a hang is
 * classified instead of taking the runner down; -j children run at once.
 *
 * Classes:
 *   pass         every output within tolerance
 *   fail         the model ran, numbers (or an output's shape) differ
 *   unsupported  KILN_E_UNSUPPORTED from the loader, the passes or a tensor
 *                file: an op, dtype or feature kiln does not handle
 *   error        anything else: a crash, a timeout, an invalid-model or
 *                internal error on a test ONNX considers valid
 *
 * Exit status (the CTest target): 1 when any test is an error or a test of
 * the expected-pass list no longer passes, 77 when the data is missing
 * (CTest's SKIP_RETURN_CODE), else 0. --update-expected rewrites the list
 * with the tests that pass now.
 *
 * Tolerances are ONNX's defaults (rtol 1e-3, atol 1e-7) unless the
 * tolerance table (tests/conformance/tolerances.txt) names the test with a
 * reason. The acceptance figure counts node tests whose ops are all in the
 * committed core op list (tests/conformance/core_ops.txt) and whose inputs
 * and outputs are f32, i32, i64 or bool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frontend/onnx.h"
#include "kiln.h"
#include "kiln_onnx_test.h"

/* ---- limits ----------------------------------------------------------------------- */
#define MAX_JOBS 64
#define MSG_LEN 1024          /* bytes of a reason kept per test */
#define OPS_LEN 1024          /* bytes of a test's op list (space-separated) */
#define STDERR_KEEP 1024      /* bytes of a child's stderr kept for crash reports */
#define MAX_TOL_ENTRIES 1024  /* rows of the tolerance table */
#define MAX_CORE_OPS 512      /* rows of the core op list */
#define LINE_LEN 4096         /* longest line of the list/table files */

static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple",
                                     "light"};
#define N_SUITES 5
#define SUITE_NODE 0
#define SUITE_LIGHT 4

enum { C_PASS, C_FAIL, C_UNSUPPORTED, C_ERROR, C_COUNT };
static const char *const class_names[C_COUNT] = {"pass", "fail", "unsupported", "error"};

/* What a child reports through its pipe: fixed-size records, one after the
 * model was scanned (ops and dtypes, so that a test that then crashes still
 * counts in the acceptance figure) and one with the result. */
typedef struct {
  int cls;
  int status;          /* kiln status of the run */
  int io_ok;           /* node tests: inputs/outputs all f32/i32/i64/bool */
  int scanned;         /* ops[] holds the model's op types */
  double max_abs, max_rel;
  char ops[OPS_LEN];
  char msg[MSG_LEN];
} record;

typedef struct {
  int suite;
  char *name;          /* directory name, or light model name (light_resnet50) */
  char *path;          /* test directory, or the light model's .onnx */
  char *expected_out;  /* light: the reference output file */
  double rtol, atol;
  const char *tol_reason; /* NULL: ONNX defaults */
  record rec;
  double seconds;
  int ran;
  char *op;            /* node tests: the op the test is about (per-op table) */
} test_case;

typedef struct {
  const char *data;
  const char *expected;
  const char *tolerances;
  const char *core_ops;
  const char *doc;
  const char *filter;
  int update_expected;
  int jobs;
  double timeout, light_timeout;
  long mem_limit_mb;
  int verbose;
  int compiled;        /* run compiled code instead of the interpreter */
  const char *suites;  /* comma list of suites to run; NULL: all */
} config;

static config cfg;     /* the run's configuration (children read the mode) */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "kiln_conformance: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

static char *xstrdup(const char *s) {
  char *p = xmalloc(strlen(s) + 1);
  memcpy(p, s, strlen(s) + 1);
  return p;
}

static char *xprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Trims trailing whitespace in place. */
static void rstrip(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = 0;
}

/* Copies s into buf (size n) on one line: newlines and tabs become spaces. */
static void one_line(char *buf, size_t n, const char *s) {
  size_t k = 0;
  for (; *s && k + 1 < n; s++) buf[k++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
  buf[k] = 0;
}

/* ---- committed tables -------------------------------------------------------------- */

typedef struct {
  char *key; /* suite/test */
  double rtol, atol;
  char *reason;
} tol_entry;

static tol_entry tol_table[MAX_TOL_ENTRIES];
static int n_tol;

/* Lines "suite/test RTOL ATOL REASON..."; '#' starts a comment line. A row
 * without a reason is an error: every loosened tolerance must say why. */
static void read_tolerances(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("%s: cannot open: %s", path, strerror(errno));
  char line[LINE_LEN];
  int ln = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    rstrip(line);
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') continue;
    char key[LINE_LEN];
    double rt, at;
    int used = 0;
    if (sscanf(p, "%4095s %lf %lf %n", key, &rt, &at, &used) != 3 || !p[used] || rt < 0 ||
        at < 0)
      die("%s:%d: expected 'suite/test RTOL ATOL REASON'", path, ln);
    if (n_tol >= MAX_TOL_ENTRIES) die("%s: more than %d rows", path, MAX_TOL_ENTRIES);
    tol_table[n_tol].key = xstrdup(key);
    tol_table[n_tol].rtol = rt;
    tol_table[n_tol].atol = at;
    tol_table[n_tol].reason = xstrdup(p + used);
    n_tol++;
  }
  fclose(f);
}

static char *core_ops[MAX_CORE_OPS];
static int n_core;

static void read_core_ops(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("%s: cannot open: %s", path, strerror(errno));
  char line[LINE_LEN];
  while (fgets(line, sizeof line, f)) {
    rstrip(line);
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') continue;
    if (n_core >= MAX_CORE_OPS) die("%s: more than %d ops", path, MAX_CORE_OPS);
    core_ops[n_core++] = xstrdup(p);
  }
  fclose(f);
}

static int is_core_op(const char *op) {
  for (int i = 0; i < n_core; i++)
    if (!strcmp(core_ops[i], op)) return 1;
  return 0;
}

/* The expected-pass list: "suite/test" per line, sorted. */
static char **read_list(const char *path, int *n) {
  *n = 0;
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  int cap = 256;
  char **v = xmalloc(sizeof(char *) * (size_t)cap);
  char line[LINE_LEN];
  while (fgets(line, sizeof line, f)) {
    rstrip(line);
    if (!line[0] || line[0] == '#') continue;
    if (*n == cap) {
      cap *= 2;
      v = realloc(v, sizeof(char *) * (size_t)cap);
      if (!v) die("out of memory");
    }
    v[(*n)++] = xstrdup(line);
  }
  fclose(f);
  return v;
}

/* ---- discovering tests -------------------------------------------------------------- */

static test_case *tests;
static int n_tests, cap_tests;

static test_case *add_test(int suite, const char *name, char *path) {
  if (n_tests == cap_tests) {
    cap_tests = cap_tests ? cap_tests * 2 : 1024;
    tests = realloc(tests, sizeof *tests * (size_t)cap_tests);
    if (!tests) die("out of memory");
  }
  test_case *t = &tests[n_tests++];
  memset(t, 0, sizeof *t);
  t->suite = suite;
  t->name = xstrdup(name);
  t->path = path;
  t->rtol = KILN_CHECK_RTOL;
  t->atol = KILN_CHECK_ATOL;
  return t;
}

/* Sorted names of the entries of dir (without . and ..). */
static char **list_dir(const char *dir, int *n) {
  *n = 0;
  DIR *dp = opendir(dir);
  if (!dp) return NULL;
  int cap = 256;
  char **v = xmalloc(sizeof(char *) * (size_t)cap);
  struct dirent *e;
  while ((e = readdir(dp))) {
    if (e->d_name[0] == '.') continue;
    if (*n == cap) {
      cap *= 2;
      v = realloc(v, sizeof(char *) * (size_t)cap);
      if (!v) die("out of memory");
    }
    v[(*n)++] = xstrdup(e->d_name);
  }
  closedir(dp);
  qsort(v, (size_t)*n, sizeof(char *), cmp_str);
  return v;
}

static void free_list(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* 1 when suite s is in c->suites (a comma list; NULL: every suite). */
static int suite_selected(const config *c, int s) {
  if (!c->suites) return 1;
  size_t n = strlen(suites[s]);
  for (const char *p = c->suites; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && !strncmp(p, suites[s], n)) return 1;
    p += len + (end ? 1 : 0);
  }
  return 0;
}

static void discover(const config *c) {
  for (int s = 0; s < N_SUITES; s++) {
    if (!suite_selected(c, s)) continue;
    char *dir = xprintf("%s/%s", c->data, suites[s]);
    int n;
    char **names = list_dir(dir, &n);
    if (!names) {
      if (errno != ENOENT) die("%s: cannot read: %s", dir, strerror(errno));
      printf("note: %s does not exist; suite %s skipped\n", dir, suites[s]);
      free(dir);
      continue;
    }
    for (int i = 0; i < n; i++) {
      if (s != SUITE_LIGHT) {
        char *p = xprintf("%s/%s", dir, names[i]);
        char *model = xprintf("%s/model.onnx", p);
        if (is_dir(p) && is_file(model))
          add_test(s, names[i], p);
        else
          free(p);
        free(model);
        continue;
      }
      /* light/NAME.onnx with light/NAME_output_0.pb */
      size_t len = strlen(names[i]);
      if (len < 6 || strcmp(names[i] + len - 5, ".onnx")) continue;
      char *base = xstrdup(names[i]);
      base[len - 5] = 0;
      char *out = xprintf("%s/%s_output_0.pb", dir, base);
      if (is_file(out)) {
        test_case *t = add_test(s, base, xprintf("%s/%s", dir, names[i]));
        t->expected_out = out;
      } else {
        free(out);
      }
      free(base);
    }
    free_list(names, n);
    free(dir);
  }
  /* tolerances */
  for (int k = 0; k < n_tol; k++) {
    int found = 0;
    for (int i = 0; i < n_tests; i++) {
      char key[2048];
      snprintf(key, sizeof key, "%s/%s", suites[tests[i].suite], tests[i].name);
      if (strcmp(key, tol_table[k].key)) continue;
      tests[i].rtol = tol_table[k].rtol;
      tests[i].atol = tol_table[k].atol;
      tests[i].tol_reason = tol_table[k].reason;
      found = 1;
    }
    if (!found) fprintf(stderr, "warning: tolerance table names '%s', no such test\n",
                        tol_table[k].key);
  }
}

/* ---- the child: one test ------------------------------------------------------------ */

static void set_msg(record *r, const char *fmt, ...) {
  char buf[MSG_LEN * 2];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  one_line(r->msg, sizeof r->msg, buf);
}

/* The model's op types, space-separated, into r->ops. */
static void scan_ops(const char *model, record *r) {
  onnx_scan_report rep;
  kiln_diag d;
  kiln_diag_init(&d);
  if (onnx_scan(model, &rep, &d)) return;
  size_t k = 0;
  for (int i = 0; i < rep.n_ops; i++) {
    int w = snprintf(r->ops + k, sizeof r->ops - k, "%s%s", i ? " " : "", rep.ops[i].op_type);
    if (w < 0 || (size_t)w >= sizeof r->ops - k) break;
    k += (size_t)w;
  }
  r->scanned = 1;
  onnx_scan_report_free(&rep);
}

/* Node tests: whether every input_K.pb and output_K.pb of the first data set
 * is f32, i32, i64 or bool (the acceptance figure's dtype condition). A file
 * kiln cannot read (f16, strings, sequences) does not qualify. */
static int io_dtypes_ok(const char *dir) {
  static const char *const kinds[2] = {"input", "output"};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < KILN_CHECK_MAX_IO; i++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, kinds[k], i);
      if (!is_file(path)) break;
      kiln_tensor t;
      kiln_diag d;
      kiln_diag_init(&d);
      if (kiln_tensor_read(path, &t, &d)) return 0;
      kiln_dtype dt = t.dtype;
      kiln_tensor_free(&t);
      if (dt != KILN_F32 && dt != KILN_I32 && dt != KILN_I64 && dt != KILN_BOOL) return 0;
    }
  return 1;
}

/* Light models: each input is float32 arange(n)/n in C order (ONNX's runner
 * for these models; a dimension without a value would count as 1, but kiln's
 * loader gives every input a static shape). */
static int run_light(const test_case *t, const kiln_check_options *o, kiln_check_result *res,
                     kiln_diag *d) {
  kiln_model *m = NULL;
  kiln_load_options lo;
  kiln_load_options_init(&lo);
  int rc = kiln_model_load(t->path, &lo, &m, d);
  if (rc) return rc;
  int n_in = kiln_model_num_inputs(m);
  kiln_tensor *ins = calloc((size_t)n_in + 1, sizeof(kiln_tensor));
  kiln_tensor want;
  memset(&want, 0, sizeof want);
  if (!ins) rc = kiln_diag_error(d, KILN_E_NOMEM, "out of memory");
  for (int i = 0; i < n_in && !rc; i++) {
    kiln_value_info vi;
    kiln_model_input(m, i, &vi);
    if (vi.dtype != KILN_F32) {
      rc = kiln_diag_error(d, KILN_E_INVALID, "input '%s' is %s; light models take f32",
                           vi.name, kiln_dtype_name(vi.dtype));
      break;
    }
    ins[i].dtype = KILN_F32;
    ins[i].rank = vi.rank;
    for (int k = 0; k < vi.rank; k++) ins[i].dims[k] = vi.dims[k];
    int64_t n = kiln_tensor_numel(&ins[i]);
    float *p = malloc((size_t)n * sizeof(float) + 1);
    if (!p) {
      rc = kiln_diag_error(d, KILN_E_NOMEM, "out of memory");
      break;
    }
    for (int64_t k = 0; k < n; k++) p[k] = (float)((double)k / (double)n);
    ins[i].data = p;
  }
  if (!rc) rc = kiln_tensor_read(t->expected_out, &want, d);
  if (!rc) rc = kiln_model_check(m, n_in, ins, 1, &want, o, res, d);
  for (int i = 0; ins && i < n_in; i++) kiln_tensor_free(&ins[i]);
  free(ins);
  kiln_tensor_free(&want);
  kiln_model_free(m);
  return rc;
}

static void write_record(int fd, const record *r) {
  const char *p = (const char *)r;
  size_t left = sizeof *r;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(3);
    p += w;
    left -= (size_t)w;
  }
}

/* Fault injection for the runner's own test (tests/conformance/selftest):
 * KILN_CONFORMANCE_INJECT="crash:SUITE/TEST,hang:SUITE/TEST" makes the
 * child for that test abort or hang after the scan, so that the
 * classification of crashes and timeouts can be checked. */
static void maybe_inject(const test_case *t) {
  const char *spec = getenv("KILN_CONFORMANCE_INJECT");
  if (!spec) return;
  char key[2048];
  snprintf(key, sizeof key, "%s/%s", suites[t->suite], t->name);
  for (const char *p = spec; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    if (colon && strlen(key) == len - (size_t)(colon + 1 - p) &&
        !strncmp(colon + 1, key, strlen(key))) {
      if (!strncmp(p, "crash:", 6)) abort();
      if (!strncmp(p, "hang:", 5))
        for (;;) pause();
    }
    p += len + (end ? 1 : 0);
  }
}

/* Runs test t in this (child) process; writes the scan record, then the
 * result record, to fd. */
static void run_child(const test_case *t, int fd) {
  record rec;
  record *r = &rec;
  memset(r, 0, sizeof *r);
  const char *model = t->path;
  char model_buf[4096];
  if (t->suite != SUITE_LIGHT) {
    snprintf(model_buf, sizeof model_buf, "%s/model.onnx", t->path);
    model = model_buf;
  }
  scan_ops(model, r);
  if (t->suite == SUITE_NODE) r->io_ok = io_dtypes_ok(t->path);
  r->cls = C_ERROR;
  write_record(fd, r);
  maybe_inject(t);

  kiln_check_options o;
  kiln_check_options_init(&o);
  o.rtol = t->rtol;
  o.atol = t->atol;
  o.mode = cfg.compiled ? KILN_EXEC_COMPILED : KILN_EXEC_INTERPRET;
  kiln_check_result *res = calloc(1, sizeof *res);
  if (!res) {
    set_msg(r, "out of memory");
    write_record(fd, r);
    return;
  }
  kiln_diag d;
  kiln_diag_init(&d);
  int rc = t->suite == SUITE_LIGHT ? run_light(t, &o, res, &d)
                                   : kiln_onnx_test_run(t->path, &o, res, &d);
  r->status = rc;
  for (int j = 0; j < res->n_outputs; j++) {
    if (res->outputs[j].max_abs > r->max_abs) r->max_abs = res->outputs[j].max_abs;
    if (res->outputs[j].max_rel > r->max_rel) r->max_rel = res->outputs[j].max_rel;
  }
  if (rc == KILN_OK) {
    r->cls = C_PASS;
  } else if (rc == KILN_E_MISMATCH) {
    r->cls = C_FAIL;
    /* the first differing output */
    for (int j = 0; j < res->n_outputs; j++) {
      const kiln_output_check *c = &res->outputs[j];
      if (c->ok) continue;
      if (!c->shape_ok)
        set_msg(r, "output '%s': %s", c->name, c->why);
      else
        set_msg(r, "output '%s': %lld of %lld elements differ, max abs %.3g, max rel %.3g "
                   "(rtol %g, atol %g)",
                c->name, (long long)c->n_bad, (long long)c->numel, c->max_abs, c->max_rel,
                o.rtol, o.atol);
      break;
    }
  } else {
    /* The report names the test already: drop "MODEL: " from the message. */
    const char *msg = d.msg;
    size_t ml = strlen(model);
    if (!strncmp(msg, model, ml) && !strncmp(msg + ml, ": ", 2)) msg += ml + 2;
    r->cls = rc == KILN_E_UNSUPPORTED ? C_UNSUPPORTED : C_ERROR;
    if (rc == KILN_E_UNSUPPORTED)
      set_msg(r, "%s", msg);
    else
      set_msg(r, "%s: %s", kiln_status_name(rc), msg);
  }
  free(res);
  write_record(fd, r);
}

/* ---- the parent: scheduling children ------------------------------------------------- */

typedef struct {
  int busy;
  int test;
  pid_t pid;
  int fd_rec, fd_err;    /* -1 once closed */
  char rec_buf[2 * sizeof(record)]; /* the scan record, then the result */
  size_t rec_len;
  char err_buf[STDERR_KEEP + 1];
  size_t err_len;
  double start, deadline;
} slot;

static void start_child(slot *s, int ti, const config *c) {
  int prec[2], perr[2];
  if (pipe(prec) || pipe(perr)) die("pipe: %s", strerror(errno));
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    close(prec[0]);
    close(perr[0]);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      close(devnull);
    }
    dup2(perr[1], 2);
    close(perr[1]);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* The sanitizers reserve terabytes of address space: no limit there. */
    if (c->mem_limit_mb > 0) {
      struct rlimit rl;
      rl.rlim_cur = rl.rlim_max = (rlim_t)c->mem_limit_mb << 20;
      setrlimit(RLIMIT_AS, &rl);
    }
#endif
    run_child(&tests[ti], prec[1]);
    _exit(0);
  }
  close(prec[1]);
  close(perr[1]);
  memset(s, 0, sizeof *s);
  s->busy = 1;
  s->test = ti;
  s->pid = pid;
  s->fd_rec = prec[0];
  s->fd_err = perr[0];
  s->start = now();
  s->deadline =
      s->start + (tests[ti].suite == SUITE_LIGHT ? c->light_timeout : c->timeout);
}

/* Reads what is available from fd into buf (keeping at most cap bytes;
 * the rest is drained and dropped). Closes fd at EOF. */
static void drain(int *fd, char *buf, size_t *len, size_t cap) {
  char tmp[4096];
  ssize_t n = read(*fd, tmp, sizeof tmp);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    close(*fd);
    *fd = -1;
    return;
  }
  size_t take = (size_t)n;
  if (take > cap - *len) take = cap - *len;
  memcpy(buf + *len, tmp, take);
  *len += take;
}

static void finish(slot *s, int wstatus, int timed_out, const config *c) {
  test_case *t = &tests[s->test];
  t->seconds = now() - s->start;
  t->ran = 1;
  record *r = &t->rec;
  if (s->fd_rec >= 0) close(s->fd_rec);
  if (s->fd_err >= 0) close(s->fd_err);
  s->err_buf[s->err_len] = 0;
  char tail[600];
  one_line(tail, sizeof tail, s->err_len > 500 ? s->err_buf + s->err_len - 500 : s->err_buf);
  if (!timed_out && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 &&
      s->rec_len == 2 * sizeof(record)) {
    memcpy(r, s->rec_buf + sizeof(record), sizeof *r);
  } else {
    /* keep what the scan found; the result is an error */
    memset(r, 0, sizeof *r);
    if (s->rec_len >= sizeof(record)) memcpy(r, s->rec_buf, sizeof *r);
    r->cls = C_ERROR;
    r->max_abs = r->max_rel = 0;
    const char *sep = tail[0] ? ": " : "";
    if (timed_out)
      set_msg(r, "timed out after %.0f s%s%s", s->deadline - s->start, sep, tail);
    else if (WIFSIGNALED(wstatus))
      set_msg(r, "crashed (%s)%s%s", strsignal(WTERMSIG(wstatus)), sep, tail);
    else
      set_msg(r, "the child exited with status %d without a result%s%s",
              WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1, sep, tail);
  }
  if (c->verbose || r->cls == C_ERROR)
    printf("%-12s %s/%s (%.1f s)%s%s\n", class_names[r->cls], suites[t->suite], t->name,
           t->seconds, r->msg[0] ? ": " : "", r->msg);
  s->busy = 0;
}

static int matches_filter(const test_case *t, const config *c) {
  if (!c->filter) return 1;
  char key[2048];
  snprintf(key, sizeof key, "%s/%s", suites[t->suite], t->name);
  return strstr(key, c->filter) != NULL;
}

static void run_all(const config *c) {
  slot slots[MAX_JOBS];
  memset(slots, 0, sizeof slots);
  int next = 0, done = 0, total = 0;
  for (int i = 0; i < n_tests; i++) total += matches_filter(&tests[i], c);
  /* Light models first: they are the longest, so the short ones fill in. */
  int *order = xmalloc(sizeof(int) * (size_t)(n_tests + 1));
  int k = 0;
  for (int i = 0; i < n_tests; i++)
    if (tests[i].suite == SUITE_LIGHT && matches_filter(&tests[i], c)) order[k++] = i;
  for (int i = 0; i < n_tests; i++)
    if (tests[i].suite != SUITE_LIGHT && matches_filter(&tests[i], c)) order[k++] = i;
  for (;;) {
    for (int j = 0; j < c->jobs && next < k; j++)
      if (!slots[j].busy) start_child(&slots[j], order[next++], c);
    int busy = 0;
    struct pollfd pfd[2 * MAX_JOBS];
    int owner[2 * MAX_JOBS], np = 0;
    double t_now = now(), wait_s = 0.05;
    for (int j = 0; j < c->jobs; j++) {
      slot *s = &slots[j];
      if (!s->busy) continue;
      busy++;
      if (s->fd_rec >= 0) {
        pfd[np] = (struct pollfd){.fd = s->fd_rec, .events = POLLIN};
        owner[np++] = j;
      }
      if (s->fd_err >= 0) {
        pfd[np] = (struct pollfd){.fd = s->fd_err, .events = POLLIN};
        owner[np++] = j;
      }
      if (s->deadline - t_now < wait_s) wait_s = s->deadline - t_now;
      /* both pipes closed: the child is exiting; look again soon */
      if (s->fd_rec < 0 && s->fd_err < 0) wait_s = 0.001;
    }
    if (!busy && next >= k) break;
    if (wait_s < 0) wait_s = 0;
    int pr = poll(pfd, (nfds_t)np, (int)(wait_s * 1000) + 1);
    for (int i = 0; pr > 0 && i < np; i++) {
      if (!pfd[i].revents) continue;
      slot *s = &slots[owner[i]];
      if (pfd[i].fd == s->fd_rec)
        drain(&s->fd_rec, s->rec_buf, &s->rec_len, sizeof s->rec_buf);
      else if (pfd[i].fd == s->fd_err)
        drain(&s->fd_err, s->err_buf, &s->err_len, STDERR_KEEP);
    }
    for (int j = 0; j < c->jobs; j++) {
      slot *s = &slots[j];
      if (!s->busy) continue;
      int ws = 0;
      pid_t w = waitpid(s->pid, &ws, WNOHANG);
      if (w == s->pid) {
        /* collect what is still in the pipes (the child has exited) */
        while (s->fd_rec >= 0) drain(&s->fd_rec, s->rec_buf, &s->rec_len, sizeof s->rec_buf);
        while (s->fd_err >= 0) drain(&s->fd_err, s->err_buf, &s->err_len, STDERR_KEEP);
        finish(s, ws, 0, c);
        done++;
      } else if (now() > s->deadline) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &ws, 0);
        finish(s, ws, 1, c);
        done++;
      }
    }
    if (!c->verbose && isatty(2) && total)
      fprintf(stderr, "\r%d/%d", done, total);
  }
  if (!c->verbose && isatty(2)) fprintf(stderr, "\r");
  free(order);
}

/* ---- reporting ---------------------------------------------------------------------- */

/* Lower-case letters and digits of s (test names and op names compare so). */
static void squash(const char *s, char *out, size_t n) {
  size_t k = 0;
  for (; *s && k + 1 < n; s++) {
    char ch = *s;
    if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
    if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) out[k++] = ch;
  }
  out[k] = 0;
}

static test_case *find_test(int suite, const char *name) {
  for (int i = 0; i < n_tests; i++)
    if (tests[i].suite == suite && !strcmp(tests[i].name, name)) return &tests[i];
  return NULL;
}

/* The op a node test is about: the longest of the model's ops whose name
 * begins the test name (test_reduce_log_sum_exp_... -> ReduceLogSumExp), else
 * the model's only op, else its first op other than Constant. An _expanded
 * test (the op replaced by its function body) takes its original's op. */
static const char *test_op(test_case *t) {
  if (t->op) return t->op;
  const char *exp = strstr(t->name, "_expanded");
  if (exp) {
    char base[1024];
    snprintf(base, sizeof base, "%.*s", (int)(exp - t->name), t->name);
    test_case *orig = find_test(t->suite, base);
    if (orig && orig != t && orig->ran && orig->rec.scanned) {
      t->op = xstrdup(test_op(orig));
      return t->op;
    }
  }
  char want[1024];
  squash(strncmp(t->name, "test_", 5) ? t->name : t->name + 5, want, sizeof want);
  char ops[OPS_LEN];
  snprintf(ops, sizeof ops, "%s", t->rec.ops);
  const char *best = NULL, *first = NULL, *only = NULL;
  int n_ops = 0;
  size_t best_len = 0;
  for (char *save = NULL, *tok = strtok_r(ops, " ", &save); tok;
       tok = strtok_r(NULL, " ", &save)) {
    if (!n_ops++) only = tok;
    char sq[256];
    squash(tok, sq, sizeof sq);
    size_t len = strlen(sq);
    if (len && !strncmp(want, sq, len) && len > best_len) {
      best = tok;
      best_len = len;
    }
    if (!first && strcmp(tok, "Constant")) first = tok;
  }
  if (!best && n_ops == 1) best = only;
  if (!best) best = first;
  t->op = xstrdup(best ? best : "(unknown)");
  return t->op;
}

/* Acceptance: a node test whose ops are all core ops and whose test data is
 * f32/i32/i64/bool. */
static int eligible(const test_case *t) {
  if (t->suite != SUITE_NODE || !t->ran || !t->rec.scanned || !t->rec.io_ok) return 0;
  char ops[OPS_LEN];
  snprintf(ops, sizeof ops, "%s", t->rec.ops);
  int n = 0;
  for (char *save = NULL, *tok = strtok_r(ops, " ", &save); tok;
       tok = strtok_r(NULL, " ", &save)) {
    if (!is_core_op(tok)) return 0;
    n++;
  }
  return n > 0;
}

typedef struct {
  const char *op;
  int n[C_COUNT];
} op_row;

static int cmp_row(const void *a, const void *b) {
  return strcmp(((const op_row *)a)->op, ((const op_row *)b)->op);
}

/* Writes '|' escaped for a Markdown table cell. */
static void md_cell(FILE *f, const char *s, size_t max) {
  size_t k = 0;
  for (; *s && k < max; s++, k++) {
    if (*s == '|')
      fputs("\\|", f);
    else
      fputc(*s, f);
  }
  if (*s) fputs("...", f);
}

typedef struct {
  int per_suite[N_SUITES][C_COUNT];
  int total[C_COUNT];
  int n_eligible, n_eligible_pass;
  op_row *rows;
  int n_rows;
  double wall;
  double cpu;  /* user + system seconds of all children (steadier than wall on a busy machine) */
} summary;

static void summarize(summary *sm) {
  memset(sm->per_suite, 0, sizeof sm->per_suite);
  memset(sm->total, 0, sizeof sm->total);
  sm->n_eligible = sm->n_eligible_pass = 0;
  sm->rows = xmalloc(sizeof(op_row) * (size_t)(n_tests + 1));
  sm->n_rows = 0;
  for (int i = 0; i < n_tests; i++) {
    test_case *t = &tests[i];
    if (!t->ran) continue;
    sm->per_suite[t->suite][t->rec.cls]++;
    sm->total[t->rec.cls]++;
    if (eligible(t)) {
      sm->n_eligible++;
      sm->n_eligible_pass += t->rec.cls == C_PASS;
    }
    if (t->suite != SUITE_NODE) continue;
    const char *op = test_op(t);
    int r = 0;
    while (r < sm->n_rows && strcmp(sm->rows[r].op, op)) r++;
    if (r == sm->n_rows) {
      memset(&sm->rows[r], 0, sizeof sm->rows[r]);
      sm->rows[r].op = op;
      sm->n_rows++;
    }
    sm->rows[r].n[t->rec.cls]++;
  }
  qsort(sm->rows, (size_t)sm->n_rows, sizeof(op_row), cmp_row);
}

static void print_summary(const summary *sm, FILE *f) {
  fprintf(f, "\nper op (node tests):\n");
  fprintf(f, "  %-32s %5s %5s %5s %5s %5s\n", "op", "tests", "pass", "fail", "unsup", "error");
  for (int r = 0; r < sm->n_rows; r++) {
    const op_row *row = &sm->rows[r];
    int n = row->n[0] + row->n[1] + row->n[2] + row->n[3];
    fprintf(f, "  %-32s %5d %5d %5d %5d %5d\n", row->op, n, row->n[C_PASS], row->n[C_FAIL],
            row->n[C_UNSUPPORTED], row->n[C_ERROR]);
  }
  fprintf(f, "\nper suite:\n");
  fprintf(f, "  %-20s %5s %5s %5s %5s %5s\n", "suite", "tests", "pass", "fail", "unsup",
          "error");
  for (int s = 0; s < N_SUITES; s++) {
    const int *n = sm->per_suite[s];
    fprintf(f, "  %-20s %5d %5d %5d %5d %5d\n", suites[s], n[0] + n[1] + n[2] + n[3],
            n[C_PASS], n[C_FAIL], n[C_UNSUPPORTED], n[C_ERROR]);
  }
  const int *n = sm->total;
  fprintf(f, "  %-20s %5d %5d %5d %5d %5d\n", "all", n[0] + n[1] + n[2] + n[3], n[C_PASS],
          n[C_FAIL], n[C_UNSUPPORTED], n[C_ERROR]);
  fprintf(f, "\nacceptance: %d of %d node tests with core ops and f32/i32/i64/bool data pass\n",
          sm->n_eligible_pass, sm->n_eligible);
  fprintf(f, "wall time: %.1f s, CPU time of the children: %.1f s\n", sm->wall, sm->cpu);
}

static void write_doc(const summary *sm, const config *c) {
  FILE *f = fopen(c->doc, "w");
  if (!f) die("%s: cannot create: %s", c->doc, strerror(errno));
  fprintf(f, "# ONNX conformance\n\n");
  fprintf(f, "Generated by `kiln_conformance` (tests/conformance/conformance.c); do not edit.\n"
             "Regenerate from the repository root with\n\n"
             "    build/tests/conformance/kiln_conformance --doc docs/conformance.md "
             "--update-expected\n\n");
  fprintf(f, "Every test directory of the ONNX project's test data (`../shared/onnx-tests`, "
             "see its README) runs through the ONNX frontend, the default `-O2` pass "
             "pipeline and %s, in a forked child with a timeout "
             "(%.0f s; light models %.0f s). Outputs are compared with "
             "|got - want| <= atol + rtol * |want| (rtol %g, atol %g, ONNX's defaults; "
             "integers and bools exactly) except where "
             "`tests/conformance/tolerances.txt` gives a per-test reason.\n\n",
          c->compiled ? "compiled native code (`--compiled`)" : "the reference interpreter",
          c->timeout, c->light_timeout, KILN_CHECK_RTOL, KILN_CHECK_ATOL);
  fprintf(f, "- **pass**: every output within tolerance\n"
             "- **fail**: the model ran; numbers or an output's shape differ\n"
             "- **unsupported**: an op, dtype or feature kiln does not handle "
             "(`KILN_E_UNSUPPORTED`)\n"
             "- **error**: a crash, a timeout, or any other failure on a valid test\n\n");
  fprintf(f, "CTest runs this as the `conformance` test (labels `conformance`, `slow`): it "
             "fails when a test ends in error or when a test listed in "
             "`tests/conformance/expected_pass.txt` no longer passes; "
             "`conformance_selftest` checks the runner itself on fixtures with known "
             "outcomes. `kiln run --onnx-test DIR` runs one test directory the same way. "
             "Other flags: `--filter TEXT`, `-j N`, `--compiled` (native code instead of "
             "the interpreter), `-v`; see `kiln_conformance --help`.\n\n");
  fprintf(f, "## Summary\n\n");
  fprintf(f, "| suite | tests | pass | fail | unsupported | error |\n|---|---|---|---|---|---|\n");
  for (int s = 0; s < N_SUITES; s++) {
    const int *n = sm->per_suite[s];
    fprintf(f, "| %s | %d | %d | %d | %d | %d |\n", suites[s], n[0] + n[1] + n[2] + n[3],
            n[C_PASS], n[C_FAIL], n[C_UNSUPPORTED], n[C_ERROR]);
  }
  const int *n = sm->total;
  fprintf(f, "| **all** | %d | %d | %d | %d | %d |\n\n", n[0] + n[1] + n[2] + n[3], n[C_PASS],
          n[C_FAIL], n[C_UNSUPPORTED], n[C_ERROR]);
  fprintf(f, "**Acceptance figure: %d of %d** node tests pass among those whose operators "
             "are all in kiln's core set (`tests/conformance/core_ops.txt`, %d ONNX ops) and "
             "whose inputs and outputs are f32, i32, i64 or bool.\n\n",
          sm->n_eligible_pass, sm->n_eligible, n_core);
  fprintf(f, "Wall time of this run: %.0f s with %d parallel children; their CPU time "
             "(user + system): %.0f s.\n\n",
          sm->wall, c->jobs, sm->cpu);
  if (c->filter) fprintf(f, "(Run with --filter '%s': a subset.)\n\n", c->filter);
  if (c->suites) fprintf(f, "(Run with --suites %s: a subset.)\n\n", c->suites);
  fprintf(f, "## Per op (node tests)\n\n"
             "The op a test is about comes from its name and the model's ops; an "
             "`_expanded` test counts under its original's op.\n\n");
  fprintf(f, "| op | tests | pass | fail | unsupported | error |\n|---|---|---|---|---|---|\n");
  for (int r = 0; r < sm->n_rows; r++) {
    const op_row *row = &sm->rows[r];
    fprintf(f, "| %s | %d | %d | %d | %d | %d |\n", row->op,
            row->n[0] + row->n[1] + row->n[2] + row->n[3], row->n[C_PASS], row->n[C_FAIL],
            row->n[C_UNSUPPORTED], row->n[C_ERROR]);
  }
  if (n_tol) {
    fprintf(f, "\n## Tolerances other than ONNX's defaults\n\n"
               "| test | rtol | atol | reason |\n|---|---|---|---|\n");
    for (int k = 0; k < n_tol; k++) {
      fprintf(f, "| %s | %g | %g | ", tol_table[k].key, tol_table[k].rtol, tol_table[k].atol);
      md_cell(f, tol_table[k].reason, 400);
      fprintf(f, " |\n");
    }
  }
  static const int order[3] = {C_ERROR, C_FAIL, C_UNSUPPORTED};
  for (int oi = 0; oi < 3; oi++) {
    int cls = order[oi];
    if (!sm->total[cls]) continue;
    fprintf(f, "\n## %s (%d)\n\n", cls == C_ERROR ? "Errors"
                                   : cls == C_FAIL ? "Failures"
                                                   : "Unsupported",
            sm->total[cls]);
    fprintf(f, "| test | reason |\n|---|---|\n");
    for (int i = 0; i < n_tests; i++) {
      const test_case *t = &tests[i];
      if (!t->ran || t->rec.cls != cls) continue;
      fprintf(f, "| %s/%s | ", suites[t->suite], t->name);
      md_cell(f, t->rec.msg, 300);
      fprintf(f, " |\n");
    }
  }
  if (fclose(f) != 0) die("%s: write failed", c->doc);
}

static int in_list(char **v, int n, const char *key) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    int cmp = strcmp(v[mid], key);
    if (!cmp) return 1;
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return 0;
}

/* Checks the expected-pass list; returns the number of regressions. */
static int check_expected(const config *c, int *newly) {
  int n;
  char **v = read_list(c->expected, &n);
  *newly = 0;
  if (!v) {
    printf("note: %s not found; no regression check\n", c->expected);
    return 0;
  }
  qsort(v, (size_t)n, sizeof(char *), cmp_str);
  int bad = 0;
  for (int k = 0; k < n; k++) {
    const char *slash = strchr(v[k], '/');
    test_case *t = NULL;
    int suite = -1;
    for (int s = 0; slash && s < N_SUITES; s++)
      if (strlen(suites[s]) == (size_t)(slash - v[k]) &&
          !strncmp(suites[s], v[k], (size_t)(slash - v[k])))
        suite = s;
    if (suite >= 0 && !suite_selected(c, suite)) continue; /* --suites left it out */
    if (suite >= 0) t = find_test(suite, slash + 1);
    if (t && !t->ran) continue; /* filtered out */
    if (!t) {
      if (!c->filter || strstr(v[k], c->filter)) {
        printf("REGRESSION %s: listed as passing, but there is no such test\n", v[k]);
        bad++;
      }
      continue;
    }
    if (t->rec.cls != C_PASS) {
      printf("REGRESSION %s: now %s: %s\n", v[k], class_names[t->rec.cls], t->rec.msg);
      bad++;
    }
  }
  for (int i = 0; i < n_tests; i++) {
    if (!tests[i].ran || tests[i].rec.cls != C_PASS) continue;
    char key[2048];
    snprintf(key, sizeof key, "%s/%s", suites[tests[i].suite], tests[i].name);
    *newly += !in_list(v, n, key);
  }
  free_list(v, n);
  return bad;
}

static void write_expected(const config *c) {
  char *tmp = xprintf("%s.tmp", c->expected);
  FILE *f = fopen(tmp, "w");
  if (!f) die("%s: cannot create: %s", tmp, strerror(errno));
  fprintf(f, "# Tests that pass; CI fails when one of them stops passing.\n"
             "# Regenerate: kiln_conformance --update-expected (see docs/conformance.md).\n");
  char **keys = xmalloc(sizeof(char *) * (size_t)(n_tests + 1));
  int n = 0;
  for (int i = 0; i < n_tests; i++)
    if (tests[i].ran && tests[i].rec.cls == C_PASS)
      keys[n++] = xprintf("%s/%s", suites[tests[i].suite], tests[i].name);
  qsort(keys, (size_t)n, sizeof(char *), cmp_str);
  for (int i = 0; i < n; i++) fprintf(f, "%s\n", keys[i]);
  free_list(keys, n);
  if (fclose(f) != 0 || rename(tmp, c->expected) != 0)
    die("%s: write failed: %s", c->expected, strerror(errno));
  free(tmp);
  printf("wrote %s (%d tests)\n", c->expected, n);
}

/* Releases everything (so that LeakSanitizer builds stay quiet). */
static void free_all(summary *sm) {
  free(sm->rows);
  for (int i = 0; i < n_tests; i++) {
    free(tests[i].name);
    free(tests[i].path);
    free(tests[i].expected_out);
    free(tests[i].op);
  }
  free(tests);
  for (int k = 0; k < n_tol; k++) {
    free(tol_table[k].key);
    free(tol_table[k].reason);
  }
  for (int k = 0; k < n_core; k++) free(core_ops[k]);
}

static const char *usage =
    "usage: kiln_conformance [options]\n"
    "  --data DIR          ONNX test data (default $KILN_ONNX_TESTS or ../shared/onnx-tests)\n"
    "  --expected FILE     expected-pass list (default tests/conformance/expected_pass.txt)\n"
    "  --update-expected   rewrite the list with the tests that pass now\n"
    "  --tolerances FILE   per-test tolerances (default tests/conformance/tolerances.txt)\n"
    "  --core-ops FILE     core op list (default tests/conformance/core_ops.txt)\n"
    "  --doc FILE          write the Markdown report (docs/conformance.md)\n"
    "  --filter TEXT       run only tests whose suite/name contains TEXT\n"
    "  --suites A,B        run only these suites (node, pytorch-converted,\n"
    "                      pytorch-operator, simple, light; default: all)\n"
    "  -j N                children at once (default 2)\n"
    "  --timeout S         seconds per test (default 60)\n"
    "  --light-timeout S   seconds per light model (default 900)\n"
    "  --mem-limit MB      address-space limit per child (default 8192; 0: none)\n"
    "  --compiled          compile each model to native code and run that (default:\n"
    "                      the reference interpreter)\n"
    "  -v                  print every test's result\n";

static double parse_num(const char *flag, const char *v) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno || !(x >= 0)) die("%s: bad number '%s'", flag, v);
  return x;
}

int main(int argc, char **argv) {
  config c = {
      .expected = "tests/conformance/expected_pass.txt",
      .tolerances = "tests/conformance/tolerances.txt",
      .core_ops = "tests/conformance/core_ops.txt",
      .jobs = 2,
      .timeout = 60,
      .light_timeout = 900,
      .mem_limit_mb = 8192,
  };
  c.data = getenv("KILN_ONNX_TESTS");
  if (!c.data || !*c.data) c.data = "../shared/onnx-tests";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                   \
  do {                                            \
    if (!v) die("%s needs a value\n%s", a, usage); \
    i++;                                          \
  } while (0)
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--data")) {
      NEEDV();
      c.data = v;
    } else if (!strcmp(a, "--expected")) {
      NEEDV();
      c.expected = v;
    } else if (!strcmp(a, "--update-expected")) {
      c.update_expected = 1;
    } else if (!strcmp(a, "--tolerances")) {
      NEEDV();
      c.tolerances = v;
    } else if (!strcmp(a, "--core-ops")) {
      NEEDV();
      c.core_ops = v;
    } else if (!strcmp(a, "--doc")) {
      NEEDV();
      c.doc = v;
    } else if (!strcmp(a, "--filter")) {
      NEEDV();
      c.filter = v;
    } else if (!strcmp(a, "--suites")) {
      NEEDV();
      c.suites = v;
      int any = 0;
      for (int s = 0; s < N_SUITES; s++) any |= suite_selected(&c, s);
      if (!any) die("--suites: none of '%s' is a suite\n%s", v, usage);
    } else if (!strcmp(a, "-j")) {
      NEEDV();
      double j = parse_num(a, v);
      if (j < 1 || j > MAX_JOBS) die("-j: between 1 and %d", MAX_JOBS);
      c.jobs = (int)j;
    } else if (!strcmp(a, "--timeout")) {
      NEEDV();
      c.timeout = parse_num(a, v);
    } else if (!strcmp(a, "--light-timeout")) {
      NEEDV();
      c.light_timeout = parse_num(a, v);
    } else if (!strcmp(a, "--mem-limit")) {
      NEEDV();
      c.mem_limit_mb = (long)parse_num(a, v);
    } else if (!strcmp(a, "-v")) {
      c.verbose = 1;
    } else if (!strcmp(a, "--compiled")) {
      c.compiled = 1;
    } else {
      die("unknown argument '%s'\n%s", a, usage);
    }
#undef NEEDV
  }
  if (c.update_expected && (c.filter || c.suites))
    die("--update-expected needs the full run (no --filter or --suites)");
  cfg = c;
  char *node_dir = xprintf("%s/node", c.data);
  if (!is_dir(node_dir)) {
    printf("ONNX test data not found at %s (set KILN_ONNX_TESTS or --data); skipped\n", c.data);
    return 77;
  }
  free(node_dir);
  read_tolerances(c.tolerances);
  read_core_ops(c.core_ops);
  discover(&c);
  printf("kiln conformance: %d tests under %s, %d at a time, %s\n", n_tests, c.data, c.jobs,
         c.compiled ? "compiled" : "reference interpreter");

  double t0 = now();
  run_all(&c);
  summary sm;
  summarize(&sm);
  sm.wall = now() - t0;
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  sm.cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
  print_summary(&sm, stdout);

  /* the slowest tests, to keep an eye on CI time */
  int *idx = xmalloc(sizeof(int) * (size_t)(n_tests + 1));
  int m = 0;
  for (int i = 0; i < n_tests; i++)
    if (tests[i].ran) idx[m++] = i;
  for (int a = 0; a < m && a < 5; a++)
    for (int b = a + 1; b < m; b++)
      if (tests[idx[b]].seconds > tests[idx[a]].seconds) {
        int tmp = idx[a];
        idx[a] = idx[b];
        idx[b] = tmp;
      }
  printf("slowest:");
  for (int a = 0; a < m && a < 5; a++)
    printf(" %s/%s %.1fs", suites[tests[idx[a]].suite], tests[idx[a]].name,
           tests[idx[a]].seconds);
  printf("\n");
  free(idx);

  if (c.doc) {
    write_doc(&sm, &c);
    printf("wrote %s\n", c.doc);
  }
  int newly = 0;
  int regressions = check_expected(&c, &newly);
  if (newly) printf("%d passing tests are not in %s yet (--update-expected adds them)\n", newly,
                    c.expected);
  if (c.update_expected) write_expected(&c);
  int errors = sm.total[C_ERROR];
  if (errors) printf("FAILED: %d tests ended in error\n", errors);
  /* Rewriting the list accepts its regressions; errors still fail. */
  if (c.update_expected) regressions = 0;
  if (regressions) printf("FAILED: %d tests of %s no longer pass\n", regressions, c.expected);
  free_all(&sm);
  return errors || regressions ? 1 : 0;
}

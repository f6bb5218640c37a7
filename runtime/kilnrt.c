/* libkilnrt: loading artifacts, their metadata, weights files, workspaces
 * and runs (include/kilnrt.h is the contract, docs/runtime.md the guide).
 *
 * Shared state. An artifact's default weights (NAME_set_weights) are global
 * to the loaded library, and dlopen hands every load of one file the same
 * library. So each (library, NAME) pair has one registry entry (rt_lib),
 * counted by the models using it, that owns a reference to the weights
 * image installed as the default, and a read-write lock that lets typed
 * runs (readers) share the defaults while installing others (a writer)
 * waits for them. Packed runs never use the defaults: they pass the
 * model's own weights explicitly. Weights images are reference counted
 * under g_lock.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_internal.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

/* Typed entries exist only up to C's guaranteed 127 parameters. */
#define RT_MAX_TYPED_ARGS 127
/* Sanity limit on the metadata's input and output counts. */
#define RT_MAX_IO (1 << 20)

/* ---- errors ---------------------------------------------------------------------- */

static _Thread_local char t_error[2048];

int rt_error(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_error, sizeof t_error, fmt, ap);
  va_end(ap);
  return status;
}

int rt_ok(void) {
  t_error[0] = 0;
  return KILN_OK;
}

const char *kilnrt_last_error(void) { return t_error; }

const char *kilnrt_version(void) { return KILN_VERSION; }

const char *kilnrt_status_name(int status) {
  switch (status) {
  case KILN_OK: return "ok";
  case KILN_E_USAGE: return "usage";
  case KILN_E_PARSE: return "parse";
  case KILN_E_INVALID: return "invalid";
  case KILN_E_UNSUPPORTED: return "unsupported";
  case KILN_E_IO: return "io";
  case KILN_E_NOMEM: return "nomem";
  case KILN_E_RUNTIME: return "runtime";
  case KILN_E_MISMATCH: return "mismatch";
  case KILN_E_INTERNAL: return "internal";
  default: return "unknown";
  }
}

size_t kilnrt_dtype_size(int32_t dtype) {
  switch (dtype) {
  case KILN_ARTIFACT_F32: case KILN_ARTIFACT_I32: return 4;
  case KILN_ARTIFACT_F64: case KILN_ARTIFACT_I64: return 8;
  case KILN_ARTIFACT_F16: case KILN_ARTIFACT_BF16: case KILN_ARTIFACT_I16: return 2;
  case KILN_ARTIFACT_I8: case KILN_ARTIFACT_U8: case KILN_ARTIFACT_BOOL: return 1;
  default: return 0;
  }
}

const char *kilnrt_dtype_name(int32_t dtype) {
  static const char *const names[] = {"f32", "f16", "bf16", "f64", "i64",
                                      "i32", "i16", "i8",   "u8",  "bool"};
  return dtype >= 0 && dtype < (int32_t)(sizeof names / sizeof names[0]) ? names[dtype] : "?";
}

/* ---- weights images and the library registry ----------------------------------- */

typedef struct rt_image {
  int refs;         /* under g_lock */
  void *map;        /* the whole file, mapped read-only (page aligned) */
  size_t len;
  const void *data; /* map + KILN_ARTIFACT_WEIGHTS_HEADER */
} rt_image;

typedef struct rt_lib {
  void *handle;
  char name[RT_MAX_NAME];
  int refs;                /* models using this entry; under g_lock */
  rt_image *defaults;      /* installed with NAME_set_weights; under lock */
  pthread_rwlock_t lock;
  struct rt_lib *next;
} rt_lib;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_lib *g_libs;

static void image_retain(rt_image *im) {
  pthread_mutex_lock(&g_lock);
  im->refs++;
  pthread_mutex_unlock(&g_lock);
}

static void image_release(rt_image *im) {
  if (!im) return;
  pthread_mutex_lock(&g_lock);
  int last = --im->refs == 0;
  pthread_mutex_unlock(&g_lock);
  if (last) {
    munmap(im->map, im->len);
    free(im);
  }
}

/* The registry entry for (handle, name), created on first use. */
static rt_lib *lib_acquire(void *handle, const char *name) {
  pthread_mutex_lock(&g_lock);
  rt_lib *l = g_libs;
  while (l && (l->handle != handle || strcmp(l->name, name))) l = l->next;
  if (!l && (l = calloc(1, sizeof *l))) {
    l->handle = handle;
    snprintf(l->name, sizeof l->name, "%s", name);
    if (pthread_rwlock_init(&l->lock, NULL)) {
      free(l);
      l = NULL;
    } else {
      l->next = g_libs;
      g_libs = l;
    }
  }
  if (l) l->refs++;
  pthread_mutex_unlock(&g_lock);
  return l;
}

static void lib_release(rt_lib *l) {
  if (!l) return;
  pthread_mutex_lock(&g_lock);
  int last = --l->refs == 0;
  if (last) {
    rt_lib **p = &g_libs;
    while (*p != l) p = &(*p)->next;
    *p = l->next;
  }
  pthread_mutex_unlock(&g_lock);
  if (last) {
    image_release(l->defaults);
    pthread_rwlock_destroy(&l->lock);
    free(l);
  }
}

/* ---- models ------------------------------------------------------------------------ */

typedef int (*rt_run_packed_w_fn)(void *const *inputs, void *const *outputs, void *workspace,
                                  const void *weights);
typedef int (*rt_set_weights_fn)(const void *image, uint64_t size);
typedef int (*rt_set_threads_fn)(int n);

struct kilnrt_model {
  char *path;
  char name[RT_MAX_NAME];
  void *handle;
  rt_lib *lib;
  const kiln_artifact_metadata *meta;
  rt_run_packed_w_fn run_packed_w;
  rt_set_weights_fn set_weights; /* NULL for embedded weights */
  rt_set_threads_fn set_threads; /* NAME_set_threads, NULL when absent */
  void *typed;                   /* NAME_run, NULL when absent */
  rt_ffi *ffi;                   /* call interface for typed; NULL when unusable */
  rt_image *weights;             /* kilnrt_load_weights; NULL: embedded or not loaded */
};

static void *sym(void *handle, const char *name, const char *suffix) {
  char s[RT_MAX_NAME + 32];
  snprintf(s, sizeof s, "%s%s", name, suffix);
  return dlsym(handle, s);
}

/* 1 when handle exports NAME's required entries. */
static int has_artifact(void *handle, const char *name) {
  return sym(handle, name, "_metadata") && sym(handle, name, "_run_packed_w") &&
         sym(handle, name, "_run_packed");
}

/* The name `kiln compile -o path` gives when --name is absent: the file
 * name up to its first '.', without a leading "lib", as a C identifier
 * (codegen/compile.c's cg_artifact_name; keyword suffixes are left to the
 * symbol scan). */
static void derive_name(const char *path, char *buf, size_t n) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t len = strcspn(base, ".");
  if (len > 3 && !strncmp(base, "lib", 3)) base += 3, len -= 3;
  size_t k = 0;
  if (len && ((base[0] >= '0' && base[0] <= '9') ||
              (base[0] == '_' && len > 1 && ((base[1] >= 'A' && base[1] <= 'Z') || base[1] == '_'))))
    buf[k++] = 'v';
  for (size_t i = 0; i < len && k + 1 < n; i++) {
    char c = base[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    buf[k++] = ok ? c : '_';
  }
  if (!k) snprintf(buf, n, "model");
  else buf[k] = 0;
}

/* Picks NAME for a loaded library: the derived one, else the only artifact
 * the symbol table names. */
static int find_name(void *handle, const char *path, char *name) {
  derive_name(path, name, RT_MAX_NAME);
  if (has_artifact(handle, name)) return KILN_OK;
  enum { MAX_CAND = 16 };
  char cand[MAX_CAND][RT_MAX_NAME];
  int n = rt_elf_metadata_prefixes(path, cand, MAX_CAND);
  if (n > MAX_CAND) n = MAX_CAND;
  int good = 0;
  char list[512] = "";
  for (int i = 0; i < n; i++) {
    if (!has_artifact(handle, cand[i])) continue;
    size_t lc = strlen(cand[i]), l = strlen(list);
    if (good == 0) memcpy(name, cand[i], lc + 1);
    if (l + lc + 5 < sizeof list) { /* the list in the message may be cut short */
      memcpy(list + l, good ? ", '" : "'", good ? 3 : 1);
      l += good ? 3 : 1;
      memcpy(list + l, cand[i], lc);
      memcpy(list + l + lc, "'", 2);
    }
    good++;
  }
  if (good == 1) return KILN_OK;
  if (good > 1)
    return rt_error(KILN_E_INVALID, "%s holds several kiln artifacts (%s); say which one", path,
                    list);
  return rt_error(KILN_E_INVALID,
                  "%s: not a kiln artifact (no NAME_metadata and NAME_run_packed entry points)",
                  path);
}

static int check_tensor(const char *path, const char *what, int i, const kiln_artifact_tensor *t) {
  if (!t->name)
    return rt_error(KILN_E_INVALID, "%s: metadata: %s %d has no name", path, what, i);
  size_t es = kilnrt_dtype_size(t->dtype);
  if (!es)
    return rt_error(KILN_E_INVALID, "%s: metadata: %s '%s' has unknown dtype %d", path, what,
                    t->name, (int)t->dtype);
  if (t->rank < 0 || t->rank > KILN_ARTIFACT_MAX_RANK)
    return rt_error(KILN_E_INVALID, "%s: metadata: %s '%s' has rank %d", path, what, t->name,
                    (int)t->rank);
  uint64_t n = es;
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d] < 0 || (t->dims[d] && n > UINT64_MAX / (uint64_t)t->dims[d]))
      return rt_error(KILN_E_INVALID, "%s: metadata: %s '%s' has a bad dimension", path, what,
                      t->name);
    n *= (uint64_t)t->dims[d];
  }
  if (n != t->nbytes)
    return rt_error(KILN_E_INVALID, "%s: metadata: %s '%s' claims %llu bytes, its shape %llu",
                    path, what, t->name, (unsigned long long)t->nbytes, (unsigned long long)n);
  return KILN_OK;
}

static int check_metadata(const kilnrt_model *m) {
  const kiln_artifact_metadata *md = m->meta;
  const char *p = m->path;
  if (!md) return rt_error(KILN_E_INVALID, "%s: %s_metadata() returned NULL", p, m->name);
  if (md->abi_version != KILN_ARTIFACT_ABI_VERSION)
    return rt_error(KILN_E_INVALID,
                    "%s: artifact ABI version %u, but this libkilnrt reads version %d "
                    "(recompile the model with kiln %s)",
                    p, (unsigned)md->abi_version, KILN_ARTIFACT_ABI_VERSION, KILN_VERSION);
  if (md->struct_size < sizeof(kiln_artifact_metadata))
    return rt_error(KILN_E_INVALID, "%s: metadata struct of %u bytes, expected at least %zu", p,
                    (unsigned)md->struct_size, sizeof(kiln_artifact_metadata));
  if (!md->name || strcmp(md->name, m->name))
    return rt_error(KILN_E_INVALID, "%s: the metadata of '%s' names '%s'", p, m->name,
                    md->name ? md->name : "(null)");
  if (md->n_inputs < 0 || md->n_outputs < 0 || md->n_inputs > RT_MAX_IO ||
      md->n_outputs > RT_MAX_IO || (md->n_inputs && !md->inputs) ||
      (md->n_outputs && !md->outputs))
    return rt_error(KILN_E_INVALID, "%s: metadata: bad input/output tables", p);
  for (int i = 0; i < md->n_inputs; i++) {
    int rc = check_tensor(p, "input", i, &md->inputs[i]);
    if (rc) return rc;
  }
  for (int i = 0; i < md->n_outputs; i++) {
    int rc = check_tensor(p, "output", i, &md->outputs[i]);
    if (rc) return rc;
  }
  uint64_t al = md->workspace_align;
  if (al && ((al & (al - 1)) || al > 4096))
    return rt_error(KILN_E_INVALID, "%s: metadata: workspace alignment %llu", p,
                    (unsigned long long)al);
  if (md->weights_mode != KILN_ARTIFACT_WEIGHTS_EMBEDDED &&
      md->weights_mode != KILN_ARTIFACT_WEIGHTS_FILE)
    return rt_error(KILN_E_INVALID, "%s: metadata: unknown weights mode %d", p,
                    (int)md->weights_mode);
  return KILN_OK;
}

int kilnrt_load(const char *path, const char *name, kilnrt_model **out) {
  if (out) *out = NULL;
  if (!path || !*path || !out) return rt_error(KILN_E_USAGE, "kilnrt_load: no path or no out");
  if (name && (!*name || strlen(name) >= RT_MAX_NAME))
    return rt_error(KILN_E_USAGE, "kilnrt_load: bad artifact name");
  struct stat st;
  if (stat(path, &st) != 0) return rt_error(KILN_E_IO, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return rt_error(KILN_E_IO, "%s: not a regular file", path);
  kilnrt_model *m = calloc(1, sizeof *m);
  if (!m) return rt_error(KILN_E_NOMEM, "out of memory");
  /* dlopen searches the library path for a name without '/' */
  size_t pl = strlen(path);
  m->path = malloc(pl + 3);
  if (!m->path) {
    free(m);
    return rt_error(KILN_E_NOMEM, "out of memory");
  }
  snprintf(m->path, pl + 3, "%s%s", strchr(path, '/') ? "" : "./", path);
  m->handle = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
  int rc = KILN_OK;
  if (!m->handle) {
    const char *e = dlerror();
    rc = rt_error(KILN_E_INVALID, "%s: cannot load as a shared object: %s", path,
                  e ? e : "dlopen failed");
  } else if (name) {
    snprintf(m->name, sizeof m->name, "%s", name);
    if (!has_artifact(m->handle, name))
      rc = rt_error(KILN_E_INVALID, "%s: no kiln artifact named '%s' (no %s_metadata, "
                    "%s_run_packed and %s_run_packed_w)", path, name, name, name, name);
  } else {
    rc = find_name(m->handle, m->path, m->name);
  }
  if (!rc) {
    const kiln_artifact_metadata *(*meta)(void);
    *(void **)&meta = sym(m->handle, m->name, "_metadata");
    *(void **)&m->run_packed_w = sym(m->handle, m->name, "_run_packed_w");
    *(void **)&m->set_weights = sym(m->handle, m->name, "_set_weights");
    *(void **)&m->set_threads = sym(m->handle, m->name, "_set_threads");
    m->typed = sym(m->handle, m->name, "_run");
    m->meta = meta();
    rc = check_metadata(m);
  }
  if (!rc && !(m->lib = lib_acquire(m->handle, m->name)))
    rc = rt_error(KILN_E_NOMEM, "out of memory");
  if (!rc && m->typed && m->meta->n_inputs + m->meta->n_outputs <= RT_MAX_TYPED_ARGS &&
      rt_ffi_available()) {
    m->ffi = rt_ffi_prepare(m->meta->n_inputs + m->meta->n_outputs);
    if (!m->ffi) rc = KILN_E_UNSUPPORTED; /* error set by rt_ffi_prepare */
  }
  if (rc) {
    kilnrt_unload(m);
    return rc;
  }
  *out = m;
  return rt_ok();
}

void kilnrt_unload(kilnrt_model *m) {
  if (!m) return;
  rt_ffi_free(m->ffi);
  image_release(m->weights);
  lib_release(m->lib);
  if (m->handle) dlclose(m->handle);
  free(m->path);
  free(m);
}

const kiln_artifact_metadata *kilnrt_metadata(const kilnrt_model *m) { return m ? m->meta : NULL; }
const char *kilnrt_name(const kilnrt_model *m) { return m ? m->name : NULL; }
const char *kilnrt_path(const kilnrt_model *m) { return m ? m->path : NULL; }
int kilnrt_num_inputs(const kilnrt_model *m) { return m ? m->meta->n_inputs : 0; }
int kilnrt_num_outputs(const kilnrt_model *m) { return m ? m->meta->n_outputs : 0; }

const kiln_artifact_tensor *kilnrt_input(const kilnrt_model *m, int i) {
  return m && i >= 0 && i < m->meta->n_inputs ? &m->meta->inputs[i] : NULL;
}

const kiln_artifact_tensor *kilnrt_output(const kilnrt_model *m, int i) {
  return m && i >= 0 && i < m->meta->n_outputs ? &m->meta->outputs[i] : NULL;
}

int kilnrt_find_input(const kilnrt_model *m, const char *name) {
  for (int i = 0; m && name && i < m->meta->n_inputs; i++)
    if (!strcmp(m->meta->inputs[i].name, name)) return i;
  return -1;
}

int kilnrt_find_output(const kilnrt_model *m, const char *name) {
  for (int i = 0; m && name && i < m->meta->n_outputs; i++)
    if (!strcmp(m->meta->outputs[i].name, name)) return i;
  return -1;
}

int kilnrt_has_typed_entry(const kilnrt_model *m) { return m && m->ffi; }

/* ---- threads -------------------------------------------------------------------------- */

int kilnrt_set_threads(kilnrt_model *m, int n, int *in_effect) {
  if (in_effect) *in_effect = 0;
  if (!m) return rt_error(KILN_E_USAGE, "kilnrt_set_threads: no model");
  int got = 1; /* an artifact without NAME_set_threads runs on the calling thread */
  if (m->set_threads) {
    /* the count belongs to the library (shared by every model of it): one
     * setter at a time, so each caller reads back the count it set */
    pthread_mutex_lock(&g_lock);
    got = m->set_threads(n < 0 ? 0 : n);
    pthread_mutex_unlock(&g_lock);
    if (got < 1)
      return rt_error(KILN_E_RUNTIME, "%s: %s_set_threads(%d) returned %d", m->name, m->name, n,
                      got);
  }
  if (in_effect) *in_effect = got;
  return rt_ok();
}

/* ---- weights -------------------------------------------------------------------------- */

int kilnrt_weights_in_file(const kilnrt_model *m) {
  return m && m->meta->weights_mode == KILN_ARTIFACT_WEIGHTS_FILE;
}

int kilnrt_weights_ready(const kilnrt_model *m) {
  return m && (!kilnrt_weights_in_file(m) || m->weights);
}

static uint64_t fnv1a64(const void *p, size_t n) {
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Checks a mapped weights file against m's metadata. */
static int check_weights(const kilnrt_model *m, const char *path, const unsigned char *img,
                         uint64_t size) {
  const kiln_artifact_metadata *md = m->meta;
  const uint64_t hs = KILN_ARTIFACT_WEIGHTS_HEADER;
  if (size < hs)
    return rt_error(KILN_E_INVALID, "%s: %llu bytes, too short for a weights file (header %llu)",
                    path, (unsigned long long)size, (unsigned long long)hs);
  if (memcmp(img, "KILNWGT1", 8))
    return rt_error(KILN_E_INVALID, "%s: not a kiln weights file (bad magic)", path);
  if (le32(img + 8) != KILN_ARTIFACT_ABI_VERSION || le32(img + 12) != hs)
    return rt_error(KILN_E_INVALID, "%s: weights file of ABI version %u (header %u bytes); "
                    "this runtime reads version %d", path, le32(img + 8), le32(img + 12),
                    KILN_ARTIFACT_ABI_VERSION);
  uint64_t data = le64(img + 16), sum = le64(img + 24);
  if (data != md->weights_size)
    return rt_error(KILN_E_INVALID, "%s: holds %llu bytes of weights, but '%s' needs %llu: "
                    "the file belongs to another model", path, (unsigned long long)data,
                    m->name, (unsigned long long)md->weights_size);
  if (size != hs + data)
    return rt_error(KILN_E_INVALID, "%s: file size %llu, expected %llu (header + %llu bytes "
                    "of data): truncated or padded", path, (unsigned long long)size,
                    (unsigned long long)(hs + data), (unsigned long long)data);
  if (sum != md->weights_checksum)
    return rt_error(KILN_E_INVALID, "%s: header checksum %016llx, but '%s' was compiled with "
                    "weights %016llx: the file belongs to another model", path,
                    (unsigned long long)sum, m->name, (unsigned long long)md->weights_checksum);
  uint64_t got = fnv1a64(img + hs, (size_t)data);
  if (got != sum)
    return rt_error(KILN_E_INVALID, "%s: data checksum %016llx does not match its header "
                    "(%016llx): the file is corrupt", path, (unsigned long long)got,
                    (unsigned long long)sum);
  return KILN_OK;
}

int kilnrt_load_weights(kilnrt_model *m, const char *path) {
  if (!m || !path) return rt_error(KILN_E_USAGE, "kilnrt_load_weights: NULL argument");
  if (!kilnrt_weights_in_file(m))
    return rt_error(KILN_E_USAGE, "%s: '%s' embeds its weights; it takes no weights file",
                    m->path, m->name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rt_error(KILN_E_IO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return rt_error(KILN_E_IO, "%s: not a regular file", path);
  }
  uint64_t size = (uint64_t)st.st_size;
  if (size < KILN_ARTIFACT_WEIGHTS_HEADER || size > (uint64_t)SIZE_MAX) {
    close(fd);
    return rt_error(KILN_E_INVALID, "%s: %llu bytes, too short for a weights file", path,
                    (unsigned long long)size);
  }
  /* page-aligned, so the data after the 64-byte header is 64-byte aligned */
  void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (map == MAP_FAILED) return rt_error(KILN_E_IO, "%s: cannot map: %s", path, strerror(err));
  int rc = check_weights(m, path, map, size);
  rt_image *im = rc ? NULL : calloc(1, sizeof *im);
  if (!rc && !im) rc = rt_error(KILN_E_NOMEM, "out of memory");
  if (rc) {
    munmap(map, (size_t)size);
    return rc;
  }
  im->refs = 1;
  im->map = map;
  im->len = (size_t)size;
  im->data = (const unsigned char *)map + KILN_ARTIFACT_WEIGHTS_HEADER;
  image_release(m->weights);
  m->weights = im;
  return rt_ok();
}

/* ---- workspaces ------------------------------------------------------------------------- */

struct kilnrt_workspace {
  void *data;
  uint64_t size;
};

int kilnrt_workspace_create(const kilnrt_model *m, kilnrt_workspace **out) {
  if (out) *out = NULL;
  if (!m || !out) return rt_error(KILN_E_USAGE, "kilnrt_workspace_create: NULL argument");
  uint64_t align = m->meta->workspace_align > KILN_ARTIFACT_ALIGN ? m->meta->workspace_align
                                                                  : KILN_ARTIFACT_ALIGN;
  uint64_t want = m->meta->workspace_size;
  if (want > (uint64_t)SIZE_MAX - align)
    return rt_error(KILN_E_NOMEM, "%s: a workspace of %llu bytes is too large", m->name,
                    (unsigned long long)want);
  /* never empty, so the artifact gets a real pointer, not NULL (which would
   * ask it to allocate per call); a multiple of the alignment for aligned_alloc */
  uint64_t size = (want + align - 1) / align * align;
  if (!size) size = align;
  kilnrt_workspace *w = calloc(1, sizeof *w);
  if (w) w->data = aligned_alloc((size_t)align, (size_t)size);
  if (!w || !w->data) {
    free(w);
    return rt_error(KILN_E_NOMEM, "%s: cannot allocate a workspace of %llu bytes", m->name,
                    (unsigned long long)size);
  }
  w->size = size;
  *out = w;
  return rt_ok();
}

void kilnrt_workspace_free(kilnrt_workspace *w) {
  if (!w) return;
  free(w->data);
  free(w);
}

void *kilnrt_workspace_data(const kilnrt_workspace *w) { return w ? w->data : NULL; }
uint64_t kilnrt_workspace_size(const kilnrt_workspace *w) { return w ? w->size : 0; }

/* ---- runs ------------------------------------------------------------------------------------ */

/* Checks the arguments every run shares. */
static int check_run(const kilnrt_model *m, const void *const *inputs, void *const *outputs) {
  if (!m) return rt_error(KILN_E_USAGE, "kilnrt_run: no model");
  const kiln_artifact_metadata *md = m->meta;
  if (md->weights_mode == KILN_ARTIFACT_WEIGHTS_FILE && !m->weights)
    return rt_error(KILN_E_USAGE, "%s: the weights of '%s' are in a side file (%s.weights); "
                    "load it first (kilnrt_load_weights)", m->path, m->name, m->name);
  if ((md->n_inputs && !inputs) || (md->n_outputs && !outputs))
    return rt_error(KILN_E_USAGE, "%s: no input or output array", m->name);
  for (int i = 0; i < md->n_inputs; i++)
    if (!inputs[i] && md->inputs[i].nbytes)
      return rt_error(KILN_E_USAGE, "%s: input %d ('%s') is NULL", m->name, i,
                      md->inputs[i].name);
  for (int i = 0; i < md->n_outputs; i++)
    if (!outputs[i] && md->outputs[i].nbytes)
      return rt_error(KILN_E_USAGE, "%s: output %d ('%s') is NULL", m->name, i,
                      md->outputs[i].name);
  return KILN_OK;
}

/* Turns an artifact's status into a kiln status and message. */
static int artifact_status(const kilnrt_model *m, int s) {
  switch (s) {
  case KILN_ARTIFACT_OK: return rt_ok();
  case KILN_ARTIFACT_E_NOMEM:
    return rt_error(KILN_E_NOMEM, "%s: the artifact could not allocate its %llu-byte workspace",
                    m->name, (unsigned long long)m->meta->workspace_size);
  case KILN_ARTIFACT_E_ALIGN:
    return rt_error(KILN_E_RUNTIME, "%s: workspace or weights not 64-byte aligned (status %d)",
                    m->name, s);
  case KILN_ARTIFACT_E_NO_WEIGHTS:
    return rt_error(KILN_E_RUNTIME, "%s: the artifact's weights are not set (status %d)",
                    m->name, s);
  case KILN_ARTIFACT_E_WEIGHTS:
    return rt_error(KILN_E_INVALID, "%s: the weights do not belong to this model (status %d)",
                    m->name, s);
  case KILN_ARTIFACT_E_INDEX:
    return rt_error(KILN_E_RUNTIME, "%s: an index input is out of range (status %d); the "
                    "outputs are unspecified", m->name, s);
  default:
    return rt_error(KILN_E_RUNTIME, "%s: the artifact failed with unknown status %d", m->name, s);
  }
}

int kilnrt_run(kilnrt_model *m, kilnrt_workspace *ws, const void *const *inputs,
               void *const *outputs) {
  int rc = check_run(m, inputs, outputs);
  if (rc) return rc;
  if (ws && ws->size < m->meta->workspace_size)
    return rt_error(KILN_E_USAGE, "%s: the workspace has %llu bytes, the model needs %llu",
                    m->name, (unsigned long long)ws->size,
                    (unsigned long long)m->meta->workspace_size);
  int s = m->run_packed_w((void *const *)inputs, outputs, ws ? ws->data : NULL,
                          m->weights ? m->weights->data : NULL);
  return artifact_status(m, s);
}

/* Makes m's weights the library's defaults, leaving a read lock held. */
static int hold_defaults(kilnrt_model *m) {
  rt_lib *l = m->lib;
  pthread_rwlock_rdlock(&l->lock);
  while (l->defaults != m->weights) {
    pthread_rwlock_unlock(&l->lock);
    pthread_rwlock_wrlock(&l->lock);
    if (l->defaults != m->weights) {
      if (!m->set_weights) {
        pthread_rwlock_unlock(&l->lock);
        return rt_error(KILN_E_INVALID, "%s: '%s' keeps its weights in a file but has no "
                        "%s_set_weights", m->path, m->name, m->name);
      }
      int s = m->set_weights(m->weights->map, (uint64_t)m->weights->len);
      if (s) {
        pthread_rwlock_unlock(&l->lock);
        return artifact_status(m, s);
      }
      image_retain(m->weights);
      image_release(l->defaults);
      l->defaults = m->weights;
    }
    pthread_rwlock_unlock(&l->lock);
    pthread_rwlock_rdlock(&l->lock);
  }
  return KILN_OK;
}

int kilnrt_run_typed(kilnrt_model *m, const void *const *inputs, void *const *outputs) {
  int rc = check_run(m, inputs, outputs);
  if (rc) return rc;
  if (!m->ffi)
    return rt_error(KILN_E_UNSUPPORTED, "%s: no typed entry %s_run to call%s", m->name, m->name,
                    !rt_ffi_available() ? " (libkilnrt was built without libffi)"
                    : m->typed ? ""
                               : " (models with over 127 inputs and outputs have none)");
  int ni = m->meta->n_inputs, no = m->meta->n_outputs;
  void *args[RT_MAX_TYPED_ARGS + 1];
  for (int i = 0; i < ni; i++) args[i] = (void *)inputs[i];
  for (int j = 0; j < no; j++) args[ni + j] = outputs[j];
  int file = m->meta->weights_mode == KILN_ARTIFACT_WEIGHTS_FILE;
  if (file && (rc = hold_defaults(m))) return rc;
  int s = 0;
  rt_ffi_call(m->ffi, m->typed, args, &s);
  if (file) pthread_rwlock_unlock(&m->lib->lock);
  return artifact_status(m, s);
}

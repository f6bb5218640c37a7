/* ONNX loader: reads a model file (or a lone TensorProto) with protobuf-c,
 * checks the model's structure, turns graph inputs and initializers into IR
 * inputs and constants, orders the nodes, and hands each node to the op
 * lowering (onnx_ops.c).
 *
 * The file is untrusted. protobuf-c rejects malformed wire data (truncation,
 * wrong wire types, lengths past the end); the schema (onnx.proto) has no
 * recursive messages, so parsing cannot recurse deeply. Everything the
 * protobuf layer cannot know is checked here: counts, names, dims, data sizes
 * against shapes, external data paths and ranges, references between nodes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/onnx_impl.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader reads raw_data and external data as little-endian host memory"
#endif

#define MAX_NODE_ATTRS 1024       /* attributes of one ONNX node */
#define MAX_EXT_ENTRIES 16        /* key/value pairs of a tensor's external_data */

/* ---- small helpers --------------------------------------------------------------- */
static const char *S(const char *s) { return s ? s : ""; }

const char *onnx_dtype_name(int32_t dt, char *buf, size_t n) {
  static const char *const names[] = {
      "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
      "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128",
      "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",
      "INT4", "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2"};
  if (dt >= 0 && (size_t)dt < sizeof names / sizeof names[0]) return names[dt];
  snprintf(buf, n, "type %d", (int)dt);
  return buf;
}

int onnx_dtype_to_ir(int32_t dt, ir_dtype *out) {
  switch (dt) {
  case ONNX_FLOAT: *out = IR_F32; return 0;
  case ONNX_DOUBLE: *out = IR_F64; return 0;
  case ONNX_INT64: *out = IR_I64; return 0;
  case ONNX_INT32: *out = IR_I32; return 0;
  case ONNX_INT16: *out = IR_I16; return 0;
  case ONNX_INT8: *out = IR_I8; return 0;
  case ONNX_UINT8: *out = IR_U8; return 0;
  case ONNX_BOOL: *out = IR_BOOL; return 0;
  default: return -1; /* f16 and bf16 wait for the interpreter and codegen */
  }
}

const char *onnx_attr_type_name(int32_t t) {
  static const char *const names[] = {"UNDEFINED", "FLOAT",  "INT",     "STRING",
                                      "TENSOR",    "GRAPH",  "FLOATS",  "INTS",
                                      "STRINGS",   "TENSORS", "GRAPHS", "SPARSE_TENSOR",
                                      "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  if (t >= 0 && (size_t)t < sizeof names / sizeof names[0]) return names[t];
  return "unknown";
}

/* ---- string map --------------------------------------------------------------------- */
static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

void onnx_strmap_free(onnx_strmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

static void strmap_grow(onnx_strmap *m) {
  onnx_strmap n = {0};
  n.cap = m->cap ? m->cap * 2 : 64;
  n.keys = kiln_xcalloc((size_t)n.cap, sizeof *n.keys);
  n.vals = kiln_xcalloc((size_t)n.cap, sizeof *n.vals);
  for (int i = 0; i < m->cap; i++)
    if (m->keys[i]) onnx_strmap_put(&n, m->keys[i], m->vals[i]);
  onnx_strmap_free(m);
  *m = n;
}

void onnx_strmap_put(onnx_strmap *m, const char *key, int val) {
  if (2 * (m->n + 1) > m->cap) strmap_grow(m);
  uint64_t mask = (uint64_t)m->cap - 1, h = hash_str(key) & mask;
  while (m->keys[h]) {
    if (strcmp(m->keys[h], key) == 0) {
      m->vals[h] = val;
      return;
    }
    h = (h + 1) & mask;
  }
  m->keys[h] = key;
  m->vals[h] = val;
  m->n++;
}

int onnx_strmap_get(const onnx_strmap *m, const char *key) {
  if (!m->cap) return -1;
  uint64_t mask = (uint64_t)m->cap - 1, h = hash_str(key) & mask;
  while (m->keys[h]) {
    if (strcmp(m->keys[h], key) == 0) return m->vals[h];
    h = (h + 1) & mask;
  }
  return -1;
}

/* ---- context ------------------------------------------------------------------------- */
static void ctx_init(onnx_ctx *c, const char *path, kiln_diag *d) {
  memset(c, 0, sizeof *c);
  c->path = path;
  c->d = d;
  const char *slash = strrchr(path, '/');
  if (!slash) {
    c->dir = kiln_xstrdup(".");
  } else if (slash == path) {
    c->dir = kiln_xstrdup("/");
  } else {
    size_t n = (size_t)(slash - path);
    c->dir = kiln_xmalloc(n + 1);
    memcpy(c->dir, path, n);
    c->dir[n] = 0;
  }
}

static void ctx_free(onnx_ctx *c) {
  free(c->dir);
  free(c->real_dir);
  onnx_strmap_free(&c->name_map);
  free(c->names);
  free(c->vdtype);
  free(c->vflags);
  for (int i = 0; i < c->n_ext; i++) {
    free(c->ext[i].file);
    free(c->ext[i].what);
  }
  free(c->ext);
}

void onnx_ctx_sync_values(onnx_ctx *c) {
  int n = c->g->n_values;
  if (n <= c->vcap) return;
  int cap = c->vcap ? c->vcap : 256;
  while (cap < n) cap *= 2;
  c->vdtype = kiln_xrealloc(c->vdtype, (size_t)cap);
  c->vflags = kiln_xrealloc(c->vflags, (size_t)cap);
  memset(c->vdtype + c->vcap, -1, (size_t)(cap - c->vcap));
  memset(c->vflags + c->vcap, 0, (size_t)(cap - c->vcap));
  c->vcap = cap;
}

const onnx_name_info *onnx_name_lookup(const onnx_ctx *c, const char *name) {
  int i = onnx_strmap_get(&c->name_map, name);
  return i < 0 ? NULL : &c->names[i];
}

/* ---- files ---------------------------------------------------------------------------- */
/* Reads a whole regular file of at most ONNX_MAX_FILE_BYTES. */
static int read_file(const char *path, uint8_t **buf, size_t *len, kiln_diag *d) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kiln_diag_error(d, KILN_E_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return kiln_diag_error(d, KILN_E_IO, "%s: not a regular file", path);
  }
  if (st.st_size > ONNX_MAX_FILE_BYTES) {
    close(fd);
    return kiln_diag_error(d, KILN_E_NOMEM,
                           "%s: %lld bytes exceed the limit of 2 GiB for a protobuf file (keep "
                           "large weights in external data files)",
                           path, (long long)st.st_size);
  }
  size_t n = (size_t)st.st_size;
  uint8_t *p = malloc(n ? n : 1);
  if (!p) {
    close(fd);
    return kiln_diag_error(d, KILN_E_NOMEM, "%s: out of memory reading %zu bytes", path, n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* the file shrank, or an error: reported below */
    got += (size_t)r;
  }
  int err = errno;
  close(fd);
  if (got != n) {
    free(p);
    return kiln_diag_error(d, KILN_E_IO, "%s: read failed: %s", path,
                           got < n && err ? strerror(err) : "file changed while reading");
  }
  *buf = p;
  *len = n;
  return KILN_OK;
}

/* ---- external data ------------------------------------------------------------------------ */
/* Parses a decimal offset/length of external data. */
static int parse_size(const char *s, int64_t *out) {
  if (!*s) return -1;
  int64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 0;
}

/* Resolves an external data location inside the model's directory: a relative
 * path without `..` components or backslashes, whose real path (symlinks
 * followed) stays inside the directory's real path. *real_out is malloc'd. */
static int resolve_location(onnx_ctx *c, const char *loc, const char *what, char **real_out) {
  kiln_diag *d = c->d;
  *real_out = NULL;
  if (!*loc)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: external data has an empty location",
                           c->path, what);
  if (loc[0] == '/')
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: external data location '%s' is absolute; it must be "
                           "relative to the model's directory",
                           c->path, what, loc);
  if (strchr(loc, '\\'))
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: external data location '%s' contains a backslash", c->path,
                           what, loc);
  for (const char *p = loc; *p;) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return kiln_diag_error(d, KILN_E_INVALID,
                             "%s: %s: external data location '%s' has a '..' component; it "
                             "must stay inside the model's directory",
                             c->path, what, loc);
    p += n;
    while (*p == '/') p++;
  }
  if (!c->real_dir) {
    char *r = realpath(c->dir, NULL);
    if (!r)
      return kiln_diag_error(d, KILN_E_IO, "%s: cannot resolve the directory '%s': %s", c->path,
                             c->dir, strerror(errno));
    c->real_dir = r;
  }
  size_t nd = strlen(c->dir), nl = strlen(loc);
  if (nd + nl + 2 > PATH_MAX)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: external data location is too long",
                           c->path, what);
  char *joined = kiln_xmalloc(nd + nl + 2);
  memcpy(joined, c->dir, nd);
  joined[nd] = '/';
  memcpy(joined + nd + 1, loc, nl + 1);
  char *real = realpath(joined, NULL);
  int err = errno;
  free(joined);
  if (!real)
    return kiln_diag_error(d, KILN_E_IO, "%s: %s: cannot open external data file '%s': %s",
                           c->path, what, loc, strerror(err));
  size_t nr = strlen(c->real_dir);
  int inside = strcmp(c->real_dir, "/") == 0
                   ? real[0] == '/' && real[1] != 0
                   : strncmp(real, c->real_dir, nr) == 0 && real[nr] == '/';
  if (!inside) {
    free(real);
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: external data location '%s' leads outside the model's "
                           "directory (through a symbolic link)",
                           c->path, what, loc);
  }
  *real_out = real;
  return KILN_OK;
}

/* Remembers an external range; rejects one that overlaps an earlier one. */
static int note_ext_range(onnx_ctx *c, const char *real, int64_t off, int64_t len,
                          const char *what) {
  if (len == 0) return KILN_OK;
  for (int i = 0; i < c->n_ext; i++) {
    onnx_ext_range *r = &c->ext[i];
    if (strcmp(r->file, real) == 0 && off < r->offset + r->len && r->offset < off + len)
      return kiln_diag_error(c->d, KILN_E_INVALID,
                             "%s: %s: external data [%lld, %lld) overlaps that of %s in the "
                             "same file",
                             c->path, what, (long long)off, (long long)(off + len), r->what);
  }
  if (c->n_ext == c->cap_ext) {
    c->cap_ext = c->cap_ext ? 2 * c->cap_ext : 16;
    c->ext = kiln_xrealloc(c->ext, sizeof *c->ext * (size_t)c->cap_ext);
  }
  c->ext[c->n_ext++] = (onnx_ext_range){kiln_xstrdup(real), off, len, kiln_xstrdup(what)};
  return KILN_OK;
}

/* Reads [off, off+len) of a file into buf (the range checked already). */
static int pread_all(const char *path, int64_t off, void *buf, int64_t len, kiln_diag *d) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kiln_diag_error(d, KILN_E_IO, "%s: cannot open: %s", path, strerror(errno));
  int64_t got = 0;
  while (got < len) {
    ssize_t r = pread(fd, (char *)buf + got, (size_t)(len - got), (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += r;
  }
  close(fd);
  if (got != len) return kiln_diag_error(d, KILN_E_IO, "%s: short read of external data", path);
  return KILN_OK;
}

/* Loads the external data of tp (nbytes long) into *data. */
static int load_external(onnx_ctx *c, const onnx_tensor_pb *tp, const char *what,
                         const ir_type *t, int64_t nbytes, void **data, const char **file_out,
                         int64_t *off_out) {
  kiln_diag *d = c->d;
  const char *loc = NULL;
  int64_t off = 0, len = -1;
  if (tp->n_external_data > MAX_EXT_ENTRIES)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: too many external_data entries (%zu)",
                           c->path, what, tp->n_external_data);
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const char *k = S(tp->external_data[i]->key), *v = S(tp->external_data[i]->value);
    if (!strcmp(k, "location")) {
      loc = v;
    } else if (!strcmp(k, "offset") || !strcmp(k, "length")) {
      int64_t x;
      if (parse_size(v, &x))
        return kiln_diag_error(d, KILN_E_INVALID,
                               "%s: %s: external data %s '%s' is not a non-negative integer",
                               c->path, what, k, v);
      if (k[0] == 'o')
        off = x;
      else
        len = x;
    } else if (strcmp(k, "checksum") != 0) {
      return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: unknown external data key '%s'",
                             c->path, what, k);
    }
  }
  if (!loc)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: external data without a location",
                           c->path, what);
  if (len >= 0 && len != nbytes) {
    char ts[128];
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: external data length %lld does not match the %lld bytes "
                           "of %s",
                           c->path, what, (long long)len, (long long)nbytes,
                           ir_type_str(t, ts, sizeof ts));
  }
  char *real;
  int rc = resolve_location(c, loc, what, &real);
  if (rc) return rc;
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    free(real);
    return kiln_diag_error(d, KILN_E_IO, "%s: %s: external data '%s' is not a regular file",
                           c->path, what, loc);
  }
  if (off > st.st_size || nbytes > st.st_size - off) {
    free(real);
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: external data range [%lld, %lld) lies outside '%s' (%lld "
                           "bytes)",
                           c->path, what, (long long)off, (long long)off + (long long)nbytes,
                           loc, (long long)st.st_size);
  }
  rc = note_ext_range(c, real, off, nbytes, what);
  if (rc) {
    free(real);
    return rc;
  }
  size_t esz = ir_dtype_size(t->dtype);
  if (c->g && t->dtype != IR_BOOL && off % (int64_t)esz == 0) {
    /* aligned: map read-only (the mapping is owned by the graph) */
    const void *p = ir_graph_map_file(c->g, real, off, nbytes, d);
    if (!p) {
      free(real);
      return d->status;
    }
    *data = (void *)p;
  } else {
    void *p;
    if (c->g) {
      p = ir_graph_alloc_data_checked(c->g, (size_t)nbytes, d);
      if (!p) {
        free(real);
        return d->status;
      }
    } else {
      ir_tensor tmp;
      if (ir_tensor_alloc(&tmp, t, d)) {
        free(real);
        return d->status;
      }
      p = tmp.data;
    }
    rc = pread_all(real, off, p, nbytes, d);
    if (!rc && t->dtype == IR_BOOL) {
      uint8_t *b = p;
      for (int64_t i = 0; i < nbytes; i++) b[i] = b[i] != 0;
    }
    if (rc) {
      if (!c->g) free(p);
      free(real);
      return rc;
    }
    *data = p;
  }
  if (c->g) {
    *file_out = ir_arena_strdup(c->g->arena, real);
    *off_out = off;
  }
  free(real);
  return KILN_OK;
}

/* ---- tensors --------------------------------------------------------------------------------- */
/* The ONNX type of a tensor from its dims and data_type, checked. */
static int tensor_type(onnx_ctx *c, const onnx_tensor_pb *tp, const char *what, ir_type *t) {
  kiln_diag *d = c->d;
  char nb[32];
  if (!tp->has_data_type || tp->data_type == ONNX_UNDEFINED)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: tensor without a data type", c->path,
                           what);
  if (onnx_dtype_to_ir(tp->data_type, &t->dtype))
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: dtype %s is not supported", c->path,
                           what, onnx_dtype_name(tp->data_type, nb, sizeof nb));
  if (tp->n_dims > IR_MAX_RANK)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: rank %zu exceeds the limit of %d",
                           c->path, what, tp->n_dims, IR_MAX_RANK);
  t->rank = (int)tp->n_dims;
  for (int i = 0; i < t->rank; i++) t->dims[i] = tp->dims[i];
  char full[IR_MAX_NAME + 1200];
  snprintf(full, sizeof full, "%s: %s", c->path, what);
  int rc = ir_type_check(t, d, full);
  if (rc) return rc;
  if (ir_type_nbytes(t) > IR_MAX_BYTES)
    return kiln_diag_error(d, KILN_E_NOMEM, "%s: %s: more than 2^40 bytes", c->path, what);
  return KILN_OK;
}

/* Range of the values an int32_data element may hold for a small type. */
static void int32_range(ir_dtype t, int64_t *lo, int64_t *hi) {
  switch (t) {
  case IR_I16: *lo = INT16_MIN, *hi = INT16_MAX; break;
  case IR_I8: *lo = INT8_MIN, *hi = INT8_MAX; break;
  case IR_U8: *lo = 0, *hi = UINT8_MAX; break;
  case IR_BOOL: *lo = 0, *hi = 1; break;
  default: *lo = INT32_MIN, *hi = INT32_MAX; break;
  }
}

static int decode_tensor_impl(onnx_ctx *c, const onnx_tensor_pb *tp, const char *what,
                              ir_type *type, void **data, const char **file,
                              int64_t *file_off) {
  kiln_diag *d = c->d;
  *data = NULL;
  *file = NULL;
  *file_off = 0;
  if (tp->segment)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: segmented tensors are not supported",
                           c->path, what);
  int rc = tensor_type(c, tp, what, type);
  if (rc) return rc;
  int64_t numel = ir_type_numel(type), nbytes = ir_type_nbytes(type);
  ir_dtype dt = type->dtype;
  int external = 0;
  if (tp->has_data_location) {
    if (tp->data_location != 0 && tp->data_location != 1)
      return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: unknown data_location %d", c->path,
                             what, (int)tp->data_location);
    external = tp->data_location == 1;
  }
  if (!external && tp->n_external_data)
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: external_data is given but data_location is not EXTERNAL",
                           c->path, what);
  /* which field holds the data: exactly one (none for an empty tensor) */
  struct {
    const char *name;
    size_t n;
  } fields[] = {{"raw_data", tp->has_raw_data ? tp->raw_data.len : 0},
                {"float_data", tp->n_float_data},
                {"int32_data", tp->n_int32_data},
                {"int64_data", tp->n_int64_data},
                {"double_data", tp->n_double_data},
                {"uint64_data", tp->n_uint64_data},
                {"string_data", tp->n_string_data},
                {"external data", (size_t)external}};
  int which = -1, n_given = 0;
  for (int i = 0; i < (int)(sizeof fields / sizeof fields[0]); i++)
    if (fields[i].n) {
      n_given++;
      which = i;
    }
  if (n_given > 1)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: data is given in more than one field",
                           c->path, what);
  if (which < 0) {
    if (numel != 0)
      return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: tensor of %lld elements has no data",
                             c->path, what, (long long)numel);
  } else if (which == 7) {
    return load_external(c, tp, what, type, nbytes, data, file, file_off);
  }
  /* in memory: check the field against the type, then allocate and fill
   * (the size is checked first, so a tiny file cannot ask for a huge
   * buffer: what is allocated is at most what the file holds) */
  char nb[32], ts[128];
  const char *want = NULL; /* field that fits the dtype */
  switch (dt) {
  case IR_F32: want = "float_data"; break;
  case IR_F64: want = "double_data"; break;
  case IR_I64: want = "int64_data"; break;
  default: want = "int32_data"; break;
  }
  if (which >= 0 && which != 0 && strcmp(fields[which].name, want) != 0)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: a %s tensor cannot hold its data in %s",
                           c->path, what, onnx_dtype_name(tp->data_type, nb, sizeof nb),
                           fields[which].name);
  if (which == 0 && (int64_t)tp->raw_data.len != nbytes)
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: %s: raw_data holds %zu bytes, but %s needs %lld", c->path, what,
                           tp->raw_data.len, ir_type_str(type, ts, sizeof ts), (long long)nbytes);
  if (which > 0 && (int64_t)fields[which].n != numel)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: %s: %s holds %zu values, but %s has %lld",
                           c->path, what, fields[which].name, fields[which].n,
                           ir_type_str(type, ts, sizeof ts), (long long)numel);
  void *p;
  if (c->g) {
    p = ir_graph_alloc_data_checked(c->g, (size_t)nbytes, d);
    if (!p) return d->status;
  } else {
    ir_tensor tmp;
    if (ir_tensor_alloc(&tmp, type, d)) return d->status;
    p = tmp.data;
  }
  if (which == 0 && nbytes) {
    memcpy(p, tp->raw_data.data, (size_t)nbytes);
    if (dt == IR_BOOL)
      for (int64_t i = 0; i < nbytes; i++) ((uint8_t *)p)[i] = ((uint8_t *)p)[i] != 0;
  } else if (which > 0) {
    switch (dt) {
    case IR_F32: memcpy(p, tp->float_data, sizeof(float) * (size_t)numel); break;
    case IR_F64: memcpy(p, tp->double_data, sizeof(double) * (size_t)numel); break;
    case IR_I64: memcpy(p, tp->int64_data, sizeof(int64_t) * (size_t)numel); break;
    default: {
      /* int32_data holds one element per int32 for the types up to 32 bits */
      int64_t lo, hi;
      int32_range(dt, &lo, &hi);
      for (int64_t i = 0; i < numel && !rc; i++) {
        int64_t v = tp->int32_data[i];
        if (v < lo || v > hi)
          rc = kiln_diag_error(d, KILN_E_INVALID,
                               "%s: %s: int32_data value %lld at index %lld does not fit %s",
                               c->path, what, (long long)v, (long long)i,
                               onnx_dtype_name(tp->data_type, nb, sizeof nb));
        else
          ir_store_i(dt, p, i, v);
      }
    }
    }
  }
  if (rc) {
    if (!c->g) free(p);
    return rc;
  }
  *data = p;
  return KILN_OK;
}

int onnx_decode_tensor(onnx_ctx *c, const onnx_tensor_pb *tp, const char *what, ir_type *type,
                       void **data) {
  const char *file;
  int64_t off;
  return decode_tensor_impl(c, tp, what, type, data, &file, &off);
}

int onnx_const_from_tensor(onnx_ctx *c, const onnx_tensor_pb *tp, const char *name,
                           const char *what) {
  ir_type t;
  void *data;
  const char *file;
  int64_t off;
  if (decode_tensor_impl(c, tp, what, &t, &data, &file, &off)) return -1;
  int v = ir_add_const_nocopy(c->g, name, &t, data);
  if (file) {
    ir_value *val = &c->g->values[v];
    val->src = IR_CSRC_FILE;
    val->file = file;
    val->file_offset = off;
  }
  onnx_ctx_sync_values(c);
  c->vdtype[v] = (signed char)t.dtype;
  return v;
}

/* ---- model header ------------------------------------------------------------------------------- */
static int is_default_domain(const char *dom) {
  return !dom || !*dom || !strcmp(dom, "ai.onnx");
}

/* Decoding memory budget. protobuf-c allocates a struct per message, so a
 * file of many tiny messages (say, millions of empty nodes) can need far
 * more memory than its size; decoding stops at DECODE_BASE_BYTES plus
 * DECODE_PER_BYTE times the file size, which real models stay well under
 * (their bulk is tensor data, decoded at about its own size). */
#define DECODE_BASE_BYTES ((size_t)256 << 20)
#define DECODE_PER_BYTE 8

typedef struct {
  size_t used, budget;
  int over;
} decode_budget;

static void *budget_alloc(void *data, size_t size) {
  decode_budget *b = data;
  if (size > b->budget - b->used) {
    b->over = 1;
    return NULL;
  }
  b->used += size;
  return malloc(size ? size : 1);
}

static void budget_free(void *data, void *p) {
  (void)data;
  free(p);
}

static int decode_error(const char *path, const decode_budget *b, const char *what,
                        kiln_diag *d) {
  if (b->over)
    return kiln_diag_error(d, KILN_E_NOMEM,
                           "%s: decoding the %s needs more than %zu bytes of memory (the limit "
                           "for a file of this size)",
                           path, what, b->budget);
  return kiln_diag_error(d, KILN_E_PARSE,
                         "%s: not a valid ONNX %s: the protobuf data is truncated or malformed",
                         path, what);
}

/* Decodes len bytes into a ModelProto (path names them in messages). Free it
 * with kiln_onnx__model_proto__free_unpacked(m, NULL): the budget allocator
 * allocates with malloc, so the default free matches. */
static onnx_model_pb *parse_model_buf(const char *path, const uint8_t *buf, size_t len,
                                      kiln_diag *d) {
  if ((uint64_t)len > (uint64_t)ONNX_MAX_FILE_BYTES) {
    kiln_diag_error(d, KILN_E_NOMEM,
                    "%s: %zu bytes exceed the limit of 2 GiB for a protobuf file", path, len);
    return NULL;
  }
  decode_budget b = {0, DECODE_BASE_BYTES + DECODE_PER_BYTE * len, 0};
  ProtobufCAllocator al = {budget_alloc, budget_free, &b};
  onnx_model_pb *m = kiln_onnx__model_proto__unpack(&al, len, buf);
  if (!m) decode_error(path, &b, "model", d);
  return m;
}

/* Reads and decodes a model file (see parse_model_buf). */
static onnx_model_pb *parse_model(const char *path, kiln_diag *d) {
  uint8_t *buf;
  size_t len;
  if (read_file(path, &buf, &len, d)) return NULL;
  onnx_model_pb *m = parse_model_buf(path, buf, len, d);
  free(buf);
  return m;
}

/* Checks ir_version and finds the default-domain opset. */
static int check_header(const char *path, const onnx_model_pb *m, int64_t *opset, kiln_diag *d) {
  *opset = 0;
  if (!m->has_ir_version || m->ir_version <= 0)
    return kiln_diag_error(d, KILN_E_PARSE, "%s: not an ONNX model: no ir_version", path);
  if (m->ir_version < ONNX_MIN_IR_VERSION)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                           "%s: ONNX IR version %lld is older than kiln supports (%d or later)",
                           path, (long long)m->ir_version, ONNX_MIN_IR_VERSION);
  if (!m->graph) return kiln_diag_error(d, KILN_E_PARSE, "%s: the model has no graph", path);
  int found = 0;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const KilnOnnx__OperatorSetIdProto *o = m->opset_import[i];
    if (!is_default_domain(o->domain)) continue;
    if (found)
      return kiln_diag_error(d, KILN_E_INVALID, "%s: the default ONNX opset is imported twice",
                             path);
    found = 1;
    if (!o->has_version || o->version < 1)
      return kiln_diag_error(d, KILN_E_INVALID, "%s: the default opset import has no version",
                             path);
    *opset = o->version;
  }
  /* without a default-domain import (a model of other domains only), every
   * op is unsupported and reported as such */
  if (*opset > ONNX_MAX_OPSET)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                           "%s: opset %lld is newer than kiln supports (up to %d)", path,
                           (long long)*opset, ONNX_MAX_OPSET);
  return KILN_OK;
}

/* "Op" for the default domain, "domain:Op" otherwise, into buf. */
static const char *op_key(const onnx_node_pb *n, char *buf, size_t len) {
  if (is_default_domain(n->domain))
    snprintf(buf, len, "%s", S(n->op_type));
  else
    snprintf(buf, len, "%s:%s", n->domain, S(n->op_type));
  return buf;
}

/* ---- scan ------------------------------------------------------------------------------------------- */
typedef struct {
  char key[512];
  int count;
  const char *first;
  int needs;
  int supported;
} op_stat;

/* Histogram of op types in first-appearance order (malloc'd array). */
static op_stat *op_histogram(const onnx_graph_pb *gp, int64_t opset, int *n_out) {
  onnx_strmap idx = {0};
  op_stat *st = kiln_xcalloc(gp->n_node + 1, sizeof *st);
  int n = 0;
  for (size_t i = 0; i < gp->n_node; i++) {
    char key[512];
    op_key(gp->node[i], key, sizeof key);
    int k = onnx_strmap_get(&idx, key);
    if (k < 0) {
      k = n++;
      snprintf(st[k].key, sizeof st[k].key, "%s", key);
      st[k].first = S(gp->node[i]->name);
      st[k].supported = onnx_op_supported(gp->node[i]->domain, S(gp->node[i]->op_type), opset,
                                          &st[k].needs);
      onnx_strmap_put(&idx, st[k].key, k);
    }
    st[k].count++;
  }
  onnx_strmap_free(&idx);
  *n_out = n;
  return st;
}

int onnx_scan(const char *path, onnx_scan_report *r, kiln_diag *d) {
  memset(r, 0, sizeof *r);
  onnx_model_pb *m = parse_model(path, d);
  if (!m) return d ? d->status : KILN_E_PARSE;
  int64_t opset = 0;
  int rc = check_header(path, m, &opset, d);
  if (rc) {
    kiln_onnx__model_proto__free_unpacked(m, NULL);
    return rc;
  }
  r->ir_version = m->ir_version;
  r->opset = opset;
  size_t np = strlen(S(m->producer_name)) + strlen(S(m->producer_version)) + 2;
  r->producer = kiln_xmalloc(np);
  snprintf(r->producer, np, "%s%s%s", S(m->producer_name),
           m->producer_version && *m->producer_version ? " " : "", S(m->producer_version));
  const onnx_graph_pb *gp = m->graph;
  r->n_nodes = (int)(gp->n_node > INT_MAX ? INT_MAX : gp->n_node);
  int n;
  op_stat *st = op_histogram(gp, opset, &n);
  r->ops = kiln_xcalloc((size_t)n + 1, sizeof *r->ops);
  r->n_ops = n;
  for (int k = 0; k < n; k++) {
    r->ops[k].op_type = kiln_xstrdup(st[k].key);
    r->ops[k].count = st[k].count;
    r->ops[k].first_node = kiln_xstrdup(st[k].first);
    r->ops[k].supported = st[k].supported;
    r->n_unsupported += !st[k].supported;
  }
  free(st);
  kiln_onnx__model_proto__free_unpacked(m, NULL);
  return KILN_OK;
}

void onnx_scan_report_free(onnx_scan_report *r) {
  for (int k = 0; k < r->n_ops; k++) {
    free(r->ops[k].op_type);
    free(r->ops[k].first_node);
  }
  free(r->ops);
  free(r->producer);
  memset(r, 0, sizeof *r);
}

/* One error listing every unsupported op type of the graph. */
static int check_ops_supported(onnx_ctx *c, const onnx_graph_pb *gp) {
  int n;
  op_stat *st = op_histogram(gp, c->opset, &n);
  int bad = 0;
  for (int k = 0; k < n; k++) bad += !st[k].supported;
  if (!bad) {
    free(st);
    return KILN_OK;
  }
  char msg[KILN_DIAG_MSG];
  char os[48] = " (no default-domain opset)";
  if (c->opset) snprintf(os, sizeof os, " (opset %lld)", (long long)c->opset);
  size_t len = (size_t)snprintf(msg, sizeof msg, "%s: %d unsupported op type%s%s:", c->path,
                                bad, bad == 1 ? "" : "s", os);
  int listed = 0;
  for (int k = 0; k < n; k++) {
    if (st[k].supported) continue;
    char item[1024], why[64] = "";
    if (st[k].needs) snprintf(why, sizeof why, "; needs opset %d", st[k].needs);
    snprintf(item, sizeof item, "%s %s (%d node%s, first '%.300s'%s)", listed ? "," : "",
             st[k].key, st[k].count, st[k].count == 1 ? "" : "s", st[k].first, why);
    size_t il = strlen(item);
    if (len + il + 40 >= sizeof msg) {
      snprintf(msg + len, sizeof msg - len, " and %d more", bad - listed);
      break;
    }
    memcpy(msg + len, item, il + 1);
    len += il;
    listed++;
  }
  free(st);
  return kiln_diag_error(c->d, KILN_E_UNSUPPORTED, "%s", msg);
}

/* ---- names -------------------------------------------------------------------------------------------- */
static int check_name(onnx_ctx *c, const char *name, const char *what) {
  if (!*name)
    return kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s has an empty name", c->path, what);
  if (strlen(name) > IR_MAX_NAME)
    return kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s: name longer than %d bytes", c->path,
                           what, IR_MAX_NAME);
  return KILN_OK;
}

/* Defines an ONNX name; a second definition is an error. */
static int define_name(onnx_ctx *c, const char *name, int producer, const char *what) {
  int rc = check_name(c, name, what);
  if (rc) return rc;
  if (onnx_strmap_get(&c->name_map, name) >= 0)
    return kiln_diag_error(c->d, KILN_E_INVALID, "%s: value '%s' is defined twice (again by %s)",
                           c->path, name, what);
  if (c->n_names == c->cap_names) {
    c->cap_names = c->cap_names ? 2 * c->cap_names : 256;
    c->names = kiln_xrealloc(c->names, sizeof *c->names * (size_t)c->cap_names);
  }
  c->names[c->n_names] = (onnx_name_info){name, producer, 0, 0};
  onnx_strmap_put(&c->name_map, name, c->n_names++);
  return KILN_OK;
}

/* "node 'NAME' (Op)" or "node #I (Op)" for an unnamed node. */
static const char *node_label(const onnx_node_pb *n, int index, char *buf, size_t len) {
  if (n->name && *n->name)
    snprintf(buf, len, "node '%s' (%s)", n->name, S(n->op_type));
  else
    snprintf(buf, len, "node #%d (%s)", index, S(n->op_type));
  return buf;
}

/* Structural checks of every node: counts, names and attribute lists. */
static int check_nodes(onnx_ctx *c, const onnx_graph_pb *gp) {
  char lab[IR_MAX_NAME + 300];
  if (gp->n_node > ONNX_MAX_NODES)
    return kiln_diag_error(c->d, KILN_E_NOMEM, "%s: %zu nodes exceed the limit of %d", c->path,
                           gp->n_node, ONNX_MAX_NODES);
  for (size_t i = 0; i < gp->n_node; i++) {
    const onnx_node_pb *n = gp->node[i];
    node_label(n, (int)i, lab, sizeof lab);
    if (strlen(S(n->name)) > IR_MAX_NAME)
      return kiln_diag_error(c->d, KILN_E_INVALID, "%s: node #%zu: name longer than %d bytes",
                             c->path, i, IR_MAX_NAME);
    if (!n->op_type || !*n->op_type)
      return kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s has no op_type", c->path, lab);
    if (n->n_input > IR_MAX_NODE_INPUTS || n->n_output > IR_MAX_NODE_OUTPUTS)
      return kiln_diag_error(c->d, KILN_E_NOMEM,
                             "%s: %s: %zu inputs and %zu outputs exceed the limit of %d", c->path,
                             lab, n->n_input, n->n_output, IR_MAX_NODE_INPUTS);
    if (n->n_attribute > MAX_NODE_ATTRS)
      return kiln_diag_error(c->d, KILN_E_NOMEM,
                             "%s: %s: %zu attributes exceed the limit of %d", c->path, lab,
                             n->n_attribute, MAX_NODE_ATTRS);
    for (size_t k = 0; k < n->n_input; k++)
      if (strlen(n->input[k]) > IR_MAX_NAME)
        return kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s: input name longer than %d bytes",
                               c->path, lab, IR_MAX_NAME);
    onnx_strmap seen = {0};
    int rc = KILN_OK;
    for (size_t k = 0; k < n->n_attribute && !rc; k++) {
      const onnx_attr_pb *a = n->attribute[k];
      if (!a->name || !*a->name) {
        rc = kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s: attribute without a name", c->path,
                             lab);
      } else if (onnx_strmap_get(&seen, a->name) >= 0) {
        rc = kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s: attribute '%s' is given twice",
                             c->path, lab, a->name);
      } else if (a->ref_attr_name && *a->ref_attr_name) {
        rc = kiln_diag_error(c->d, KILN_E_INVALID,
                             "%s: %s: attribute '%s' refers to a function attribute outside a "
                             "function",
                             c->path, lab, a->name);
      } else if (a->n_floats > ONNX_MAX_ATTR_ELEMS || a->n_ints > ONNX_MAX_ATTR_ELEMS ||
                 a->n_strings > ONNX_MAX_ATTR_ELEMS || a->n_tensors > ONNX_MAX_ATTR_ELEMS) {
        rc = kiln_diag_error(c->d, KILN_E_NOMEM,
                             "%s: %s: attribute '%s' has more than %d elements", c->path, lab,
                             a->name, ONNX_MAX_ATTR_ELEMS);
      }
      if (!rc) onnx_strmap_put(&seen, a->name, 1);
    }
    onnx_strmap_free(&seen);
    if (rc) return rc;
  }
  return KILN_OK;
}

/* ---- graph inputs ----------------------------------------------------------------------------------------- */
/* Writes "1x3x224x224" for a shape (unknown dims as given by `unk`). */
static void dims_str(const int64_t *dims, const int *known, int rank, int unk_as_one, char *buf,
                     size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < rank && k + 24 < n; i++) {
    if (known[i] || unk_as_one)
      k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "x" : "", known[i] ? (long long)dims[i] : 1LL);
    else
      k += (size_t)snprintf(buf + k, n - k, "%s?", i ? "x" : "");
  }
}

static int add_graph_input(onnx_ctx *c, const onnx_value_info_pb *vi,
                           const onnx_load_options *o) {
  kiln_diag *d = c->d;
  const char *name = S(vi->name);
  char nb[32];
  const KilnOnnx__TypeProto *tp = vi->type;
  if (!tp || !tp->tensor_type) {
    return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                           "%s: graph input '%s' is not a tensor (%s); kiln supports tensor "
                           "inputs only",
                           c->path, name,
                           !tp ? "it has no type"
                           : tp->sparse_tensor_type ? "a sparse tensor"
                                                    : "a sequence, map or optional");
  }
  const KilnOnnx__TypeProto__Tensor *tt = tp->tensor_type;
  ir_type t;
  memset(&t, 0, sizeof t);
  if (!tt->has_elem_type || tt->elem_type == ONNX_UNDEFINED)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: graph input '%s' has no element type",
                           c->path, name);
  if (onnx_dtype_to_ir(tt->elem_type, &t.dtype))
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: graph input '%s': dtype %s is not supported",
                           c->path, name, onnx_dtype_name(tt->elem_type, nb, sizeof nb));
  /* declared shape: rank -1 when none is declared */
  int rank = -1;
  int64_t dims[IR_MAX_RANK];
  int known[IR_MAX_RANK];
  const char *dyn_name = NULL;
  int dyn_axis = -1;
  if (tt->shape) {
    if (tt->shape->n_dim > IR_MAX_RANK)
      return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                             "%s: graph input '%s': rank %zu exceeds the limit of %d", c->path,
                             name, tt->shape->n_dim, IR_MAX_RANK);
    rank = (int)tt->shape->n_dim;
    for (int i = 0; i < rank; i++) {
      const KilnOnnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
      known[i] = dm->value_case == KILN_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dims[i] = known[i] ? dm->dim_value : 0;
      if (known[i] && dims[i] < 0)
        return kiln_diag_error(d, KILN_E_INVALID,
                               "%s: graph input '%s': dimension %d is negative (%lld)", c->path,
                               name, i, (long long)dims[i]);
      if (!known[i] && dyn_axis < 0) {
        dyn_axis = i;
        dyn_name = dm->value_case == KILN_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                       ? dm->dim_param
                       : NULL;
      }
    }
  }
  /* a pin fixes the shape */
  int pin = -1;
  for (int k = 0; o && k < o->n_shapes; k++)
    if (o->shape_names[k] && !strcmp(o->shape_names[k], name)) pin = k; /* the last wins */
  if (pin >= 0) {
    int pr = o->shape_ranks[pin];
    if (pr < 0 || pr > IR_MAX_RANK)
      return kiln_diag_error(d, KILN_E_USAGE, "%s: --shape %s: bad rank %d", c->path, name, pr);
    if (rank >= 0 && pr != rank)
      return kiln_diag_error(d, KILN_E_USAGE,
                             "%s: --shape %s gives %d dimensions, but the input has %d", c->path,
                             name, pr, rank);
    for (int i = 0; i < pr; i++) {
      int64_t v = o->shape_dims[pin][i];
      if (v < 0)
        return kiln_diag_error(d, KILN_E_USAGE, "%s: --shape %s: dimension %d is negative",
                               c->path, name, i);
      if (rank >= 0 && known[i] && dims[i] != v)
        return kiln_diag_error(d, KILN_E_USAGE,
                               "%s: --shape %s gives %lld for dimension %d, but the model fixes "
                               "it to %lld",
                               c->path, name, (long long)v, i, (long long)dims[i]);
      dims[i] = v;
      known[i] = 1;
    }
    rank = pr;
  } else if (rank < 0) {
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: graph input '%s' has no declared shape; give it with --shape "
                           "%s=DIMS (e.g. --shape %s=1x3x224x224)",
                           c->path, name, name, name);
  } else if (dyn_axis >= 0) {
    char have[256], eg[256];
    dims_str(dims, known, rank, 0, have, sizeof have);
    dims_str(dims, known, rank, 1, eg, sizeof eg);
    char dn[300] = "";
    if (dyn_name && *dyn_name) snprintf(dn, sizeof dn, " ('%.200s')", dyn_name);
    return kiln_diag_error(d, KILN_E_INVALID,
                           "%s: graph input '%s' has a dynamic dimension %d%s (shape %s); pin it "
                           "with --shape %s=DIMS, e.g. --shape %s=%s",
                           c->path, name, dyn_axis, dn, have, name, name, eg);
  }
  t.rank = rank;
  for (int i = 0; i < rank; i++) t.dims[i] = dims[i];
  char what[IR_MAX_NAME + 300];
  snprintf(what, sizeof what, "%s: graph input '%s'", c->path, name);
  int rc = ir_type_check(&t, d, what);
  if (rc) return rc;
  if (ir_type_nbytes(&t) > IR_MAX_BYTES)
    return kiln_diag_error(d, KILN_E_NOMEM, "%s: more than 2^40 bytes", what);
  int v = ir_add_input(c->g, name, &t);
  onnx_ctx_sync_values(c);
  c->vdtype[v] = (signed char)t.dtype;
  return KILN_OK;
}

/* ---- node order ------------------------------------------------------------------------------------------------ */
/* A topological order of the nodes: depth-first over producers, starting
 * from the nodes in file order, so a sorted file keeps its order. Inputs must
 * be defined; cycles are errors. */
static int order_nodes(onnx_ctx *c, const onnx_graph_pb *gp, int *order) {
  int n = (int)gp->n_node, k = 0;
  char *state = kiln_xcalloc((size_t)n + 1, 1); /* 0 new, 1 on stack, 2 done */
  int *stack = kiln_xmalloc(sizeof(int) * ((size_t)n + 1));
  int *next_in = kiln_xcalloc((size_t)n + 1, sizeof(int));
  char lab[IR_MAX_NAME + 300];
  int rc = KILN_OK;
  for (int root = 0; root < n && !rc; root++) {
    if (state[root]) continue;
    int sp = 0;
    stack[sp++] = root;
    state[root] = 1;
    while (sp > 0 && !rc) {
      int u = stack[sp - 1];
      const onnx_node_pb *nu = gp->node[u];
      if (next_in[u] < (int)nu->n_input) {
        const char *in = nu->input[next_in[u]++];
        if (!*in) continue;
        const onnx_name_info *ni = onnx_name_lookup(c, in);
        if (!ni) {
          rc = kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s: input '%s' is not defined",
                               c->path, node_label(nu, u, lab, sizeof lab), in);
          break;
        }
        int p = ni->producer;
        if (p < 0 || state[p] == 2) continue;
        if (state[p] == 1) {
          rc = kiln_diag_error(c->d, KILN_E_INVALID, "%s: %s: the graph has a cycle through '%s'",
                               c->path, node_label(nu, u, lab, sizeof lab), in);
          break;
        }
        state[p] = 1;
        stack[sp++] = p;
      } else {
        state[u] = 2;
        order[k++] = u;
        sp--;
      }
    }
  }
  free(state);
  free(stack);
  free(next_in);
  return rc;
}

/* ---- parameters ---------------------------------------------------------------------------------------------------- */
/* Ops that only move or view data: a parameter stays a parameter through them. */
static int layout_only(ir_op op) {
  return op == IR_OP_TRANSPOSE || op == IR_OP_RESHAPE || op == IR_OP_FLATTEN ||
         op == IR_OP_SQUEEZE || op == IR_OP_UNSQUEEZE || op == IR_OP_EXPAND ||
         op == IR_OP_IDENTITY || op == IR_OP_CAST;
}

/* The initializer constant v comes from through layout-only ops, or -1. */
static int trace_init(const onnx_ctx *c, int v) {
  const ir_graph *g = c->g;
  for (int steps = 0; v >= 0 && steps < 64; steps++) {
    const ir_value *val = &g->values[v];
    if (val->kind == IR_VAL_CONST)
      return (c->vflags[v] & ONNX_VF_INIT) && ir_dtype_is_float(val->type.dtype) ? v : -1;
    if (val->kind != IR_VAL_NODE || val->producer < 0) return -1;
    const ir_node *n = &g->nodes[val->producer];
    if (!layout_only(n->op) || n->n_in < 1) return -1;
    v = n->in[0];
  }
  return -1;
}

static int from_contraction(const ir_graph *g, int v) {
  if (v < 0 || g->values[v].kind != IR_VAL_NODE || g->values[v].producer < 0) return 0;
  ir_op op = g->nodes[g->values[v].producer].op;
  return op == IR_OP_MATMUL || op == IR_OP_CONV || op == IR_OP_CONV_TRANSPOSE;
}

/* A float initializer is a trainable parameter when it feeds (through
 * layout-only ops) an input slot in its consumer's PARAMS mask, or is the
 * constant operand of an add/mul whose other operand a matmul or conv
 * produces (a bias or scale), or a lowering marked it. */
static void mark_params(onnx_ctx *c) {
  ir_graph *g = c->g;
  onnx_ctx_sync_values(c);
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    unsigned mask = ir_op_get(n->op)->param_mask;
    for (int k = 0; k < n->n_in; k++) {
      int src = trace_init(c, n->in[k]);
      if (src < 0) continue;
      int is = k < 32 && (mask >> k) & 1u;
      if (!is && (n->op == IR_OP_ADD || n->op == IR_OP_MUL) && n->n_in == 2)
        is = from_contraction(g, n->in[1 - k]);
      if (is) g->values[src].is_param = 1;
    }
  }
  for (int v = 0; v < g->n_values; v++)
    if ((c->vflags[v] & ONNX_VF_PARAM_HINT) && (c->vflags[v] & ONNX_VF_INIT) &&
        ir_dtype_is_float(g->values[v].type.dtype))
      g->values[v].is_param = 1;
}

/* ---- load ---------------------------------------------------------------------------------------------------------- */
void onnx_load_options_init(onnx_load_options *o) { memset(o, 0, sizeof *o); }

static int build_graph(onnx_ctx *c, const onnx_model_pb *m, const onnx_load_options *o) {
  kiln_diag *d = c->d;
  const onnx_graph_pb *gp = m->graph;
  char what[IR_MAX_NAME + 300];
  int rc;
  if (gp->n_sparse_initializer)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: sparse initializers are not supported",
                           c->path);
  if ((rc = check_nodes(c, gp))) return rc;
  if ((rc = check_ops_supported(c, gp))) return rc;
  if (o && (o->n_shapes < 0 || o->n_shapes > ONNX_MAX_PINS))
    return kiln_diag_error(d, KILN_E_USAGE, "%s: bad number of shape pins", c->path);

  /* 1. names: initializers, graph inputs (an input may repeat an
   * initializer: old exporters list every initializer as an input), node
   * outputs */
  for (size_t i = 0; i < gp->n_initializer; i++) {
    snprintf(what, sizeof what, "initializer #%zu", i);
    if ((rc = define_name(c, S(gp->initializer[i]->name), -1, what))) return rc;
  }
  size_t n_init_names = (size_t)c->n_names;
  for (size_t i = 0; i < gp->n_input; i++) {
    const char *nm = S(gp->input[i]->name);
    int k = onnx_strmap_get(&c->name_map, nm);
    if (k >= 0 && (size_t)k < n_init_names) continue;
    snprintf(what, sizeof what, "graph input #%zu", i);
    if ((rc = define_name(c, nm, -1, what))) return rc;
  }
  for (size_t i = 0; i < gp->n_node; i++) {
    const onnx_node_pb *n = gp->node[i];
    for (size_t k = 0; k < n->n_output; k++) {
      if (!*n->output[k]) continue;
      char lab[IR_MAX_NAME + 300];
      snprintf(what, sizeof what, "%s", node_label(n, (int)i, lab, sizeof lab));
      if ((rc = define_name(c, n->output[k], (int)i, what))) return rc;
    }
  }
  for (size_t i = 0; i < gp->n_node; i++)
    for (size_t k = 0; k < gp->node[i]->n_input; k++) {
      int j = onnx_strmap_get(&c->name_map, gp->node[i]->input[k]);
      if (j >= 0) c->names[j].used = 1;
    }
  if (gp->n_output == 0)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: the graph has no outputs", c->path);
  for (size_t i = 0; i < gp->n_output; i++) {
    const char *nm = S(gp->output[i]->name);
    int j = onnx_strmap_get(&c->name_map, nm);
    if (j < 0)
      return kiln_diag_error(d, KILN_E_INVALID, "%s: graph output '%s' is not defined", c->path,
                             nm);
    c->names[j].used = 1;
  }
  for (size_t i = 0; i < gp->n_value_info + gp->n_output; i++) {
    const onnx_value_info_pb *vi =
        i < gp->n_value_info ? gp->value_info[i] : gp->output[i - gp->n_value_info];
    int j = onnx_strmap_get(&c->name_map, S(vi->name));
    if (j >= 0 && vi->type && vi->type->tensor_type && vi->type->tensor_type->has_elem_type)
      c->names[j].hint_dtype = vi->type->tensor_type->elem_type;
  }

  /* 2. graph inputs, in ONNX order, then initializers as constants; every
   * pin must name a graph input (checked first: a misspelt pin explains a
   * later complaint about an unpinned input) */
  for (int k = 0; o && k < o->n_shapes; k++) {
    const char *pn = S(o->shape_names[k]);
    int j = onnx_strmap_get(&c->name_map, pn), is_input = 0;
    for (size_t i = 0; j >= (int)n_init_names && i < gp->n_input && !is_input; i++)
      is_input = !strcmp(S(gp->input[i]->name), pn);
    if (!is_input)
      return kiln_diag_error(d, KILN_E_USAGE,
                             "%s: --shape names '%s', which is not a graph input of the model",
                             c->path, pn);
  }
  for (size_t i = 0; i < gp->n_input; i++) {
    const char *nm = S(gp->input[i]->name);
    int k = onnx_strmap_get(&c->name_map, nm);
    if ((size_t)k < n_init_names) continue;
    if ((rc = add_graph_input(c, gp->input[i], o))) return rc;
  }
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const onnx_tensor_pb *tp = gp->initializer[i];
    snprintf(what, sizeof what, "initializer '%s'", S(tp->name));
    int v = onnx_const_from_tensor(c, tp, tp->name, what);
    if (v < 0) return d->status;
    c->vflags[v] |= ONNX_VF_INIT;
  }

  /* 3. nodes, in a topological order */
  int nn = (int)gp->n_node;
  int *order = kiln_xmalloc(sizeof(int) * ((size_t)nn + 1));
  rc = order_nodes(c, gp, order);
  for (int k = 0; k < nn && !rc; k++) {
    int i = order[k];
    const onnx_node_pb *pb = gp->node[i];
    onnx_node n;
    memset(&n, 0, sizeof n);
    n.c = c;
    n.pb = pb;
    n.index = i;
    n.op_type = pb->op_type;
    n.n_in = (int)pb->n_input;
    n.in = kiln_xmalloc(sizeof(int) * (pb->n_input + 1));
    for (int j = 0; j < n.n_in && !rc; j++) {
      const char *nm = pb->input[j];
      n.in[j] = -1;
      if (!*nm) continue;
      n.in[j] = ir_value_find(c->g, nm);
      if (n.in[j] < 0) {
        char lab[IR_MAX_NAME + 300];
        rc = kiln_diag_error(d, KILN_E_UNSUPPORTED,
                             "%s: %s: input '%s' is an output kiln does not compute", c->path,
                             node_label(pb, i, lab, sizeof lab), nm);
      }
    }
    n.n_out = (int)pb->n_output;
    n.out = (const char **)pb->output;
    n.attr_used = kiln_xcalloc(pb->n_attribute + 1, 1);
    if (!rc) rc = onnx_lower_node(&n);
    free(n.in);
    free(n.attr_used);
  }
  free(order);
  if (rc) return rc;

  /* 4. outputs */
  for (size_t i = 0; i < gp->n_output; i++) {
    const char *nm = S(gp->output[i]->name);
    int v = ir_value_find(c->g, nm);
    if (v < 0)
      return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                             "%s: graph output '%s' is an output kiln does not compute", c->path,
                             nm);
    ir_add_output(c->g, v);
  }
  mark_params(c);
  /* the lowering's result must be a well-formed graph: anything the checks
   * above missed is a clear error here rather than a crash in a later pass */
  return ir_verify(c->g, 0, d);
}

/* Lowers a decoded model; `path` names it, `base_dir` (NULL: the directory
 * part of path) resolves external data. Frees m. */
static ir_graph *load_model(const char *path, const char *base_dir, onnx_model_pb *m,
                            const onnx_load_options *o, kiln_diag *d) {
  onnx_ctx c;
  ctx_init(&c, path, d);
  if (base_dir) {
    free(c.dir);
    c.dir = kiln_xstrdup(*base_dir ? base_dir : ".");
  }
  int rc = check_header(path, m, &c.opset, d);
  if (!rc) {
    c.g = ir_graph_new(m->graph->name);
    c.g->source = ir_arena_strdup(c.g->arena, path);
    c.g->base_dir = ir_arena_strdup(c.g->arena, c.dir);
    rc = build_graph(&c, m, o);
  }
  ir_graph *g = c.g;
  if (rc) {
    ir_graph_free(g);
    g = NULL;
  }
  ctx_free(&c);
  kiln_onnx__model_proto__free_unpacked(m, NULL);
  return g;
}

ir_graph *onnx_load(const char *path, const onnx_load_options *o, kiln_diag *d) {
  kiln_diag local;
  if (!d) {
    kiln_diag_init(&local);
    d = &local;
  }
  onnx_model_pb *m = parse_model(path, d);
  if (!m) return NULL;
  return load_model(path, NULL, m, o, d);
}

ir_graph *onnx_load_buffer(const char *name, const void *data, size_t len, const char *base_dir,
                           const onnx_load_options *o, kiln_diag *d) {
  kiln_diag local;
  if (!d) {
    kiln_diag_init(&local);
    d = &local;
  }
  if (!name) name = "<buffer>";
  onnx_model_pb *m = parse_model_buf(name, data, len, d);
  if (!m) return NULL;
  return load_model(name, base_dir ? base_dir : ".", m, o, d);
}

/* ---- lone tensors ------------------------------------------------------------------------------------------------------- */
/* Decodes a TensorProto from len bytes; see onnx_read_tensor. */
static int read_tensor_buf(const char *path, const char *base_dir, const uint8_t *buf,
                           size_t len, ir_tensor *out, char **name_out, kiln_diag *d) {
  if ((uint64_t)len > (uint64_t)ONNX_MAX_FILE_BYTES)
    return kiln_diag_error(d, KILN_E_NOMEM,
                           "%s: %zu bytes exceed the limit of 2 GiB for a protobuf file", path,
                           len);
  decode_budget b = {0, DECODE_BASE_BYTES + DECODE_PER_BYTE * len, 0};
  ProtobufCAllocator al = {budget_alloc, budget_free, &b};
  onnx_tensor_pb *tp = kiln_onnx__tensor_proto__unpack(&al, len, buf);
  if (!tp) return decode_error(path, &b, "tensor", d);
  onnx_ctx c;
  ctx_init(&c, path, d);
  if (base_dir) {
    free(c.dir);
    c.dir = kiln_xstrdup(*base_dir ? base_dir : ".");
  }
  char what[IR_MAX_NAME + 64];
  snprintf(what, sizeof what, "tensor '%s'", S(tp->name));
  void *data = NULL;
  int rc = onnx_decode_tensor(&c, tp, what, &out->type, &data);
  if (!rc) {
    out->data = data;
    if (name_out) *name_out = kiln_xstrdup(S(tp->name));
  }
  ctx_free(&c);
  kiln_onnx__tensor_proto__free_unpacked(tp, NULL);
  return rc;
}

int onnx_read_tensor(const char *path, ir_tensor *out, char **name_out, kiln_diag *d) {
  kiln_diag local;
  if (!d) {
    kiln_diag_init(&local);
    d = &local;
  }
  memset(out, 0, sizeof *out);
  if (name_out) *name_out = NULL;
  uint8_t *buf;
  size_t len;
  int rc = read_file(path, &buf, &len, d);
  if (rc) return rc;
  rc = read_tensor_buf(path, NULL, buf, len, out, name_out, d);
  free(buf);
  return rc;
}

int onnx_read_tensor_buffer(const char *name, const void *data, size_t len, const char *base_dir,
                            ir_tensor *out, char **name_out, kiln_diag *d) {
  kiln_diag local;
  if (!d) {
    kiln_diag_init(&local);
    d = &local;
  }
  memset(out, 0, sizeof *out);
  if (name_out) *name_out = NULL;
  return read_tensor_buf(name ? name : "<buffer>", base_dir ? base_dir : ".", data, len, out,
                         name_out, d);
}

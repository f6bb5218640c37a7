/* NumPy .npy reader and writer. The header is a Python dict literal; only the
 * three keys NumPy writes are read, and every size is checked against the
 * file before use. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln_status.h"
#include "kilnrt_npy.h"

#define NPY_MAX_HEADER (1u << 20)
#define NPY_MAX_BYTES ((int64_t)1 << 40)

static const struct {
  kiln_dtype dt;
  const char *descr; /* without the byte-order character */
  size_t size;
} descrs[] = {
    {KILN_F32, "f4", 4}, {KILN_F64, "f8", 8}, {KILN_F16, "f2", 2}, {KILN_I64, "i8", 8},
    {KILN_I32, "i4", 4}, {KILN_I16, "i2", 2}, {KILN_I8, "i1", 1},  {KILN_U8, "u1", 1},
    {KILN_BOOL, "b1", 1},
};

size_t kiln_dtype_size(kiln_dtype t) {
  switch (t) {
  case KILN_F32: case KILN_I32: return 4;
  case KILN_F64: case KILN_I64: return 8;
  case KILN_F16: case KILN_BF16: case KILN_I16: return 2;
  case KILN_I8: case KILN_U8: case KILN_BOOL: return 1;
  default: return 0;
  }
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* Finds 'key' in the header dict and returns a pointer just past the colon. */
static const char *find_key(const char *h, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "'%s'", key);
  const char *p = strstr(h, pat);
  if (!p) {
    snprintf(pat, sizeof pat, "\"%s\"", key);
    p = strstr(h, pat);
  }
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

int kiln_npy_parse(const char *name, const void *buf, size_t len, kiln_npy *out, char *err,
                   size_t errlen) {
  const unsigned char *b = buf;
  memset(out, 0, sizeof *out);
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
    return fail(err, errlen, KILN_E_PARSE, "%s: not a .npy file (bad magic)", name);
  int major = b[6];
  size_t hlen, hoff;
  if (major == 1) {
    hlen = (size_t)b[8] | ((size_t)b[9] << 8);
    hoff = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) return fail(err, errlen, KILN_E_PARSE, "%s: truncated header", name);
    hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
    hoff = 12;
  } else {
    return fail(err, errlen, KILN_E_UNSUPPORTED, "%s: .npy format version %d is not supported",
                name, major);
  }
  if (hlen > NPY_MAX_HEADER || hoff + hlen > len)
    return fail(err, errlen, KILN_E_PARSE, "%s: truncated or oversized header", name);
  char *h = malloc(hlen + 1);
  if (!h) return fail(err, errlen, KILN_E_NOMEM, "%s: out of memory", name);
  memcpy(h, b + hoff, hlen);
  h[hlen] = 0;
  int rc = KILN_OK;

  const char *p = find_key(h, "descr");
  if (!p || (*p != '\'' && *p != '"')) {
    rc = fail(err, errlen, KILN_E_PARSE, "%s: header has no 'descr'", name);
    goto done;
  }
  {
    char q = *p++;
    const char *e = strchr(p, q);
    if (!e || e - p < 2 || e - p > 8) {
      rc = fail(err, errlen, KILN_E_PARSE, "%s: bad 'descr'", name);
      goto done;
    }
    char d[16];
    memcpy(d, p, (size_t)(e - p));
    d[e - p] = 0;
    char order = d[0];
    const char *code = d + 1;
    if (order == '>' && !(d[2] == '1' && d[3] == 0)) {
      rc = fail(err, errlen, KILN_E_UNSUPPORTED, "%s: big-endian data ('%s') is not supported",
                name, d);
      goto done;
    }
    if (order != '<' && order != '|' && order != '=' && order != '>') {
      rc = fail(err, errlen, KILN_E_UNSUPPORTED, "%s: dtype '%s' is not supported", name, d);
      goto done;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
      if (strcmp(code, descrs[i].descr) == 0) {
        out->dtype = descrs[i].dt;
        found = 1;
      }
    if (!found) {
      rc = fail(err, errlen, KILN_E_UNSUPPORTED, "%s: dtype '%s' is not supported", name, d);
      goto done;
    }
  }
  p = find_key(h, "fortran_order");
  if (!p) {
    rc = fail(err, errlen, KILN_E_PARSE, "%s: header has no 'fortran_order'", name);
    goto done;
  }
  if (strncmp(p, "True", 4) == 0) {
    rc = fail(err, errlen, KILN_E_UNSUPPORTED,
              "%s: Fortran-order arrays are not supported (save with C order)", name);
    goto done;
  }
  p = find_key(h, "shape");
  if (!p || *p != '(') {
    rc = fail(err, errlen, KILN_E_PARSE, "%s: header has no 'shape'", name);
    goto done;
  }
  p++;
  int64_t numel = 1;
  for (;;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    if (*p < '0' || *p > '9') {
      rc = fail(err, errlen, KILN_E_PARSE, "%s: bad 'shape'", name);
      goto done;
    }
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno || v < 0 || v > NPY_MAX_BYTES) {
      rc = fail(err, errlen, KILN_E_PARSE, "%s: bad dimension in 'shape'", name);
      goto done;
    }
    if (out->rank >= KILN_MAX_RANK) {
      rc = fail(err, errlen, KILN_E_UNSUPPORTED, "%s: rank exceeds the limit of %d", name,
                KILN_MAX_RANK);
      goto done;
    }
    out->dims[out->rank++] = v;
    if (v && numel > NPY_MAX_BYTES / v) {
      rc = fail(err, errlen, KILN_E_NOMEM, "%s: array too large", name);
      goto done;
    }
    numel *= v;
    p = end;
    while (*p == 'L') p++; /* Python 2 longs */
  }
  {
    size_t es = kiln_dtype_size(out->dtype);
    if ((uint64_t)numel > (uint64_t)NPY_MAX_BYTES / es) {
      rc = fail(err, errlen, KILN_E_NOMEM, "%s: array too large", name);
      goto done;
    }
    size_t nb = (size_t)numel * es;
    size_t off = hoff + hlen;
    if (len - off < nb) {
      rc = fail(err, errlen, KILN_E_PARSE,
                "%s: truncated data (%zu bytes, the header promises %zu)", name, len - off, nb);
      goto done;
    }
    out->data = malloc(nb ? nb : 1);
    if (!out->data) {
      rc = fail(err, errlen, KILN_E_NOMEM, "%s: out of memory", name);
      goto done;
    }
    memcpy(out->data, b + off, nb);
    out->nbytes = nb;
  }
done:
  free(h);
  return rc;
}

int kiln_npy_read(const char *path, kiln_npy *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return fail(err, errlen, KILN_E_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return fail(err, errlen, KILN_E_IO, "%s: cannot seek", path);
  }
  long sz = ftell(f);
  rewind(f);
  if (sz < 0) {
    fclose(f);
    return fail(err, errlen, KILN_E_IO, "%s: cannot read", path);
  }
  unsigned char *buf = malloc((size_t)sz + 1);
  if (!buf) {
    fclose(f);
    return fail(err, errlen, KILN_E_NOMEM, "%s: out of memory", path);
  }
  size_t got = fread(buf, 1, (size_t)sz, f);
  fclose(f);
  int rc = kiln_npy_parse(path, buf, got, out, err, errlen);
  free(buf);
  return rc;
}

int kiln_npy_write(const char *path, kiln_dtype dtype, int rank, const int64_t *dims,
                   const void *data, char *err, size_t errlen) {
  const char *descr = NULL;
  for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
    if (descrs[i].dt == dtype) descr = descrs[i].descr;
  if (!descr)
    return fail(err, errlen, KILN_E_UNSUPPORTED, "%s: dtype %d cannot be written to .npy",
                path, (int)dtype);
  if (rank < 0 || rank > KILN_MAX_RANK)
    return fail(err, errlen, KILN_E_USAGE, "%s: bad rank %d", path, rank);
  char dict[512];
  int k = snprintf(dict, sizeof dict, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                   kiln_dtype_size(dtype) == 1 ? '|' : '<', descr);
  int64_t numel = 1;
  for (int i = 0; i < rank; i++) {
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld,%s", (long long)dims[i],
                  (rank > 1 && i < rank - 1) ? " " : "");
    numel *= dims[i];
  }
  if (rank > 1) k--; /* NumPy writes (a, b) but (a,) for one dimension */
  if (rank > 1) dict[k] = 0;
  k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
  /* pad with spaces so the data starts on a 64-byte boundary; end with \n */
  size_t total = 10 + (size_t)k + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)k + pad + 1;
  FILE *f = fopen(path, "wb");
  if (!f) return fail(err, errlen, KILN_E_IO, "%s: cannot create: %s", path, strerror(errno));
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                           (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)k, f) == (size_t)k;
  for (size_t i = 0; i < pad && ok; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  size_t nb = (size_t)numel * kiln_dtype_size(dtype);
  ok = ok && (nb == 0 || fwrite(data, 1, nb, f) == nb);
  if (fclose(f) != 0) ok = 0;
  if (!ok) return fail(err, errlen, KILN_E_IO, "%s: write failed", path);
  return KILN_OK;
}

void kiln_npy_release(kiln_npy *a) {
  free(a->data);
  a->data = NULL;
}

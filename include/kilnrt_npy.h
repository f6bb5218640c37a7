/* NumPy .npy files: read (format versions 1-3, little-endian, C order) and
 * write (version 1, or 2 when the header needs it). Part of libkilnrt. */
#ifndef KILNRT_NPY_H
#define KILNRT_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "kiln_dtype.h"

typedef struct {
  kiln_dtype dtype;
  int rank;
  int64_t dims[KILN_MAX_RANK];
  void *data;        /* malloc'd; release with kiln_npy_release */
  size_t nbytes;
} kiln_npy;

/* Reads path into *out. Returns 0, or a non-zero status with a message
 * ("FILE: reason") in err. */
int kiln_npy_read(const char *path, kiln_npy *out, char *err, size_t errlen);
/* Parses an in-memory .npy image (name is used in messages). */
int kiln_npy_parse(const char *name, const void *buf, size_t len, kiln_npy *out, char *err,
                   size_t errlen);
int kiln_npy_write(const char *path, kiln_dtype dtype, int rank, const int64_t *dims,
                   const void *data, char *err, size_t errlen);
void kiln_npy_release(kiln_npy *a);
/* Size in bytes of one element, 0 for an unknown dtype. */
size_t kiln_dtype_size(kiln_dtype t);

#endif

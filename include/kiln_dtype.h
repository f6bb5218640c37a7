/* Element types shared by the kiln compiler, artifacts and runtime. The
 * numbering is part of the artifact ABI: never reorder. */
#ifndef KILN_DTYPE_H
#define KILN_DTYPE_H

typedef enum {
  KILN_F32 = 0,
  KILN_F16 = 1,
  KILN_BF16 = 2,
  KILN_F64 = 3,
  KILN_I64 = 4,
  KILN_I32 = 5,
  KILN_I16 = 6,
  KILN_I8 = 7,
  KILN_U8 = 8,
  KILN_BOOL = 9,
  KILN_DTYPE_COUNT
} kiln_dtype;

#define KILN_MAX_RANK 8

#endif

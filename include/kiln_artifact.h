/* The ABI of a compiled kiln artifact (a .so, .o or .a that `kiln compile`
 * produced). docs/abi.md describes the entries; this header holds the types
 * they share. It depends on nothing but <stdint.h>, and every generated
 * NAME.h carries the block between ABI-BEGIN and ABI-END verbatim (under the
 * same include guard), so a program using an artifact needs no kiln files.
 *
 * Compatibility: KILN_ARTIFACT_ABI_VERSION changes whenever a struct below
 * changes layout or an entry changes meaning. A reader checks
 * metadata->abi_version first; struct_size lets it tell a newer, larger
 * metadata struct from its own.
 */
/* ABI-BEGIN */
#ifndef KILN_ARTIFACT_H
#define KILN_ARTIFACT_H

#include <stdint.h>

#define KILN_ARTIFACT_ABI_VERSION 1
#define KILN_ARTIFACT_MAX_RANK 8
/* Alignment (bytes) of the workspace, the weights data and every tensor in
 * them. Caller-owned input and output buffers need only their element
 * type's natural alignment. */
#define KILN_ARTIFACT_ALIGN 64
/* Bytes of the header in front of the data in a NAME.weights file. */
#define KILN_ARTIFACT_WEIGHTS_HEADER 64

/* Status codes the entries return (0 is success). */
#define KILN_ARTIFACT_OK 0
#define KILN_ARTIFACT_E_NOMEM 1      /* the per-call workspace could not be allocated */
#define KILN_ARTIFACT_E_ALIGN 2      /* workspace or weights not 64-byte aligned */
#define KILN_ARTIFACT_E_NO_WEIGHTS 3 /* file weights not set (NAME_set_weights) */
#define KILN_ARTIFACT_E_WEIGHTS 4    /* a weights image that does not belong to this model */
#define KILN_ARTIFACT_E_INDEX 5      /* an index input (gather) out of range */

/* Where the weights live. */
#define KILN_ARTIFACT_WEIGHTS_EMBEDDED 0 /* in the artifact's read-only data */
#define KILN_ARTIFACT_WEIGHTS_FILE 1     /* in NAME.weights, given at run time */

/* Element types (the numbering of kiln_dtype). bool is one byte, 0 or 1. */
#define KILN_ARTIFACT_F32 0
#define KILN_ARTIFACT_F16 1
#define KILN_ARTIFACT_BF16 2
#define KILN_ARTIFACT_F64 3
#define KILN_ARTIFACT_I64 4
#define KILN_ARTIFACT_I32 5
#define KILN_ARTIFACT_I16 6
#define KILN_ARTIFACT_I8 7
#define KILN_ARTIFACT_U8 8
#define KILN_ARTIFACT_BOOL 9

/* One input or output: dense, C order. */
typedef struct kiln_artifact_tensor {
  const char *name;                     /* the model's name for the value */
  int32_t dtype;                        /* KILN_ARTIFACT_F32, ... */
  int32_t rank;                         /* 0 for a scalar */
  int64_t dims[KILN_ARTIFACT_MAX_RANK]; /* dims[0..rank), the rest 0 */
  uint64_t nbytes;                      /* product of dims * element size */
} kiln_artifact_tensor;

typedef struct kiln_artifact_metadata {
  uint32_t abi_version;     /* KILN_ARTIFACT_ABI_VERSION of the writer */
  uint32_t struct_size;     /* sizeof(kiln_artifact_metadata) of the writer */
  const char *name;         /* the NAME prefix of the entry points */
  const char *model;        /* the model's graph name */
  const char *kiln_version; /* version of the kiln that compiled it */
  const char *target_triple;
  const char *target_cpu;
  const char *target_features;
  int32_t n_inputs;
  int32_t n_outputs;
  const kiln_artifact_tensor *inputs;  /* n_inputs entries, in entry order */
  const kiln_artifact_tensor *outputs; /* n_outputs entries */
  uint64_t workspace_size;  /* bytes of scratch one call needs (0: none) */
  uint64_t workspace_align; /* KILN_ARTIFACT_ALIGN */
  uint64_t weights_size;    /* bytes of weights data (without a file header) */
  uint64_t weights_checksum; /* FNV-1a 64 of the weights data */
  int32_t weights_mode;     /* KILN_ARTIFACT_WEIGHTS_EMBEDDED or _FILE */
  int32_t reserved;         /* 0 */
} kiln_artifact_metadata;

/* The 64-byte header of a NAME.weights file; the data follows it. All
 * fields little-endian. */
typedef struct kiln_artifact_weights_header {
  char magic[8];            /* "KILNWGT1" */
  uint32_t abi_version;     /* KILN_ARTIFACT_ABI_VERSION */
  uint32_t header_size;     /* KILN_ARTIFACT_WEIGHTS_HEADER */
  uint64_t data_size;       /* = metadata weights_size */
  uint64_t checksum;        /* = metadata weights_checksum */
  uint8_t reserved[32];     /* 0 */
} kiln_artifact_weights_header;

#endif /* KILN_ARTIFACT_H */
/* ABI-END */

/* Internal interfaces between the codegen parts (not used outside
 * codegen/): the artifact description the CPU emitter produces, which the
 * header writer, the weights writer and the linker consume. */
#ifndef KILN_CG_INTERNAL_H
#define KILN_CG_INTERNAL_H

#include "codegen/cg.h"
#include "codegen/llvm.h"
#include "kiln_artifact.h"

/* Where a value lives while the artifact runs. */
typedef enum {
  CG_ST_NONE = 0,  /* not needed (dead or unused) */
  CG_ST_INPUT,     /* the caller's input buffer `index` */
  CG_ST_OUTPUT,    /* the caller's output buffer `index` */
  CG_ST_WORKSPACE, /* workspace + offset */
  CG_ST_WEIGHTS,   /* weights + offset */
} cg_storage_kind;

typedef struct {
  cg_storage_kind kind;
  int index;
  int64_t offset;
} cg_storage;

/* A compiled artifact's description. */
typedef struct {
  char name[CG_MAX_NAME]; /* NAME, a C identifier */
  cg_weights_mode weights_mode;
  unsigned char *weights; /* the weights data (malloc), weights_size bytes */
  int64_t weights_size;
  uint64_t checksum;      /* cg_fnv1a64 of the weights */
  int64_t workspace_size; /* a multiple of KILN_ARTIFACT_ALIGN */
  int n_inputs, n_outputs;
  int has_typed;                /* NAME_run exists (at most 127 parameters) */
  char **in_cname, **out_cname; /* parameter names of NAME_run (malloc) */
  cg_storage *st;               /* per value id */
  /* compile-time preparation of kernels (cg_prep in cpu/kernels.h) */
  int64_t *blob_off;       /* per node: its blob's offset in the weights, -1: none */
  int64_t *node_scratch;   /* per node: scratch bytes it asked for (0: none) */
  int64_t scratch_offset;  /* the workspace's scratch region (shared by kernels) */
  int64_t scratch_size;    /* its size: the largest request */
} cg_artifact;

void cg_artifact_free(cg_artifact *a);

/* Builds the whole module for g into L: kernels, entries, metadata,
 * weights. Fills a (the caller frees it with cg_artifact_free). */
int cg_cpu_emit(const ir_graph *g, cgl *L, cg_weights_mode wm, const char *name, cg_artifact *a,
                kiln_diag *d);

/* NAME.h for the artifact (text in a malloc'd string). */
char *cg_header_text(const ir_graph *g, const cg_artifact *a, const char *triple, const char *cpu);
/* The block of include/kiln_artifact.h between ABI-BEGIN and ABI-END, which
 * every NAME.h carries (exposed so a test can compare it with the header). */
const char *cg_abi_block(void);

/* The NAME.weights file image: header + data (malloc'd, *len bytes). */
unsigned char *cg_weights_image(const cg_artifact *a, size_t *len);

/* Links an object into a shared object with the C compiler driver cc
 * (words split on spaces, e.g. "ccache gcc"). */
int cg_link_shared(const char *cc, const void *obj, size_t obj_len, const char *out, kiln_diag *d);
/* Writes an ar archive (GNU format with a symbol index) holding one object
 * member; syms: count NUL-separated names the object defines. */
int cg_write_archive(const char *out, const char *member, const void *obj, size_t obj_len,
                     const char *syms, int n_syms, kiln_diag *d);
/* Writes n bytes to path (replacing it). */
int cg_write_file(const char *path, const void *data, size_t n, kiln_diag *d);

/* A C identifier made from s (other characters become '_', a leading digit
 * gets a '_' prefix, C keywords get a '_' suffix) into buf. */
void cg_c_ident(const char *s, char *buf, size_t n);

#endif

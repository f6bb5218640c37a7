/* Code generation: a typed, verified kiln graph (after the pass pipeline)
 * becomes native code through LLVM, packaged as an artifact that runs
 * without kiln (docs/abi.md is the contract, include/kiln_artifact.h the
 * types).
 *
 *   cg_compile        graph -> NAME.so | .o | .a | .s | .ll (+ NAME.h,
 *                     + NAME.weights with weights in a side file)
 *   cg_run            compile to a temporary .so, dlopen it and run it
 *                     (`kiln run`'s default path until libkilnrt exists)
 *
 * Layers: cpu/emit.c builds the LLVM module (one function per node plus
 * the entries and metadata) over the kernel emitters in cpu/kernels_*.c;
 * llvm.c wraps LLVM; link.c turns an object into a .so (the system C
 * compiler driver) or a .a (written directly); header.c writes NAME.h.
 */
#ifndef KILN_CG_H
#define KILN_CG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir.h"

typedef enum {
  CG_EMIT_SO = 0, /* shared object (linked with the C compiler driver) */
  CG_EMIT_OBJ,    /* relocatable object */
  CG_EMIT_LIB,    /* static library (an ar archive holding the object) */
  CG_EMIT_ASM,    /* assembly text */
  CG_EMIT_LLVM,   /* LLVM IR text, after optimisation */
  CG_EMIT_HEADER, /* only NAME.h */
} cg_emit_kind;

typedef enum { CG_WEIGHTS_EMBED = 0, CG_WEIGHTS_FILE } cg_weights_mode;

/* Longest NAME (a C identifier prefixing every entry point). */
#define CG_MAX_NAME 128

typedef struct {
  cg_emit_kind emit;
  const char *out;  /* the artifact's path */
  const char *name; /* NULL: from out's file name, made a C identifier */
  cg_weights_mode weights;
  const char *triple;   /* NULL: the host */
  const char *cpu;      /* NULL/"native": the host CPU; e.g. znver3, x86-64-v3 */
  const char *features; /* NULL: the CPU's defaults (host features for native) */
  int opt_level;        /* 0..3 */
  const char *cc;       /* C compiler driver for .so; NULL: $KILN_CC, else "cc" */
  int no_header;        /* do not write NAME.h next to a .so/.o/.a */
  int time_passes;      /* print the code-generation phase timings */
  FILE *report;         /* where timings go; NULL: stderr */
  /* called as each phase starts (kiln_compile_options.progress); NULL: none */
  void (*progress)(void *user, int step, int n_steps, const char *phase);
  void *progress_user;
} cg_options;

void cg_options_init(cg_options *o);

/* Compiles g (typed and verified; not modified). Files: o->out, plus
 * NAME.h (for so/obj/lib unless no_header) and NAME.weights (file weights)
 * in out's directory. Errors: KILN_E_UNSUPPORTED for an op, dtype or
 * attribute combination codegen lacks (naming the node), KILN_E_USAGE for
 * bad options, KILN_E_IO for files and the linker. */
int cg_compile(const ir_graph *g, const cg_options *o, kiln_diag *d);

/* The artifact name cg_compile would use (o->name or derived from o->out),
 * into buf; KILN_E_USAGE when o->name is not a valid C identifier. */
int cg_artifact_name(const cg_options *o, char *buf, size_t n, kiln_diag *d);

/* Compiles g into a temporary shared object (options o; out, emit and
 * name are ignored), loads it and runs it once: inputs[i] feeds input i,
 * outputs[j] are allocated here (the interpreter's types; free with
 * ir_tensor_release). The temporary files are removed. */
int cg_run(const ir_graph *g, const cg_options *o, const ir_tensor *inputs, ir_tensor *outputs,
           kiln_diag *d);

/* ---- pieces, for tests and the run path -------------------------------------------------- */

/* Loaded artifact (cg_load / cg_unload). */
typedef struct cg_loaded {
  void *handle;
  const struct kiln_artifact_metadata *meta;
  int (*run_packed)(void *const *inputs, void *const *outputs, void *workspace);
  int (*run_packed_w)(void *const *inputs, void *const *outputs, void *workspace,
                      const void *weights);
  int (*set_weights)(const void *image, uint64_t size); /* NULL for embedded weights */
} cg_loaded;

/* dlopens path and resolves NAME's entries; checks the ABI version. */
int cg_load(const char *path, const char *name, cg_loaded *a, kiln_diag *d);
void cg_unload(cg_loaded *a);

/* FNV-1a 64 of n bytes (the weights checksum). */
uint64_t cg_fnv1a64(const void *p, size_t n);

#endif

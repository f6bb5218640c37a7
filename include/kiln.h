/* kiln — the compiler library's public API.
 *
 * A kiln_model is a loaded graph (from a .kir or .onnx file). It can be
 * optimised with a pass pipeline, printed as .kir, inspected, and run with
 * the reference interpreter. Every function that can fail returns a
 * kiln_status and fills a kiln_diag with a message naming the file, node or
 * line; none of them exits the process.
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln_diag.h"
#include "kiln_dtype.h"
#include "kiln_status.h"

#ifdef __cplusplus
extern "C" {
#endif

const char *kiln_version(void);
const char *kiln_dtype_name(kiln_dtype t);

/* A dense tensor in C order. */
typedef struct {
  kiln_dtype dtype;
  int rank;
  int64_t dims[KILN_MAX_RANK];
  void *data;
} kiln_tensor;

int64_t kiln_tensor_numel(const kiln_tensor *t);
size_t kiln_tensor_nbytes(const kiln_tensor *t);

typedef struct kiln_model kiln_model;

#define KILN_MAX_SHAPE_PINS 64

/* Options for loading. Shape pins fix the dynamic dimensions of an input
 * (`--shape x=1x3x224x224`). */
typedef struct {
  int n_shapes;
  const char *shape_names[KILN_MAX_SHAPE_PINS];
  int shape_ranks[KILN_MAX_SHAPE_PINS];
  int64_t shape_dims[KILN_MAX_SHAPE_PINS][KILN_MAX_RANK];
} kiln_load_options;

void kiln_load_options_init(kiln_load_options *o);

/* Loads a .kir or .onnx file (by extension, else by content). */
int kiln_model_load(const char *path, const kiln_load_options *o, kiln_model **out,
                    kiln_diag *d);
void kiln_model_free(kiln_model *m);

/* The op histogram of a model file without lowering it, so that a model
 * with unsupported ops can still be described (ONNX files; for .kir every op
 * is supported). Fails only when the file cannot be read or parsed. */
#define KILN_SCAN_MAX_OPS 512
typedef struct {
  char op[128];          /* ONNX op type ("domain:Op" for other domains) */
  int count;             /* nodes of this type */
  char first_node[256];  /* name of the first such node */
  int supported;
} kiln_scan_op;
typedef struct {
  long long ir_version, opset;
  int n_nodes;
  int n_ops;             /* distinct op types (at most KILN_SCAN_MAX_OPS kept) */
  int n_unsupported;
  kiln_scan_op ops[KILN_SCAN_MAX_OPS];
} kiln_scan_report;
int kiln_model_scan(const char *path, kiln_scan_report *r, kiln_diag *d);

/* Turns graph input `name` into a constant with the given value (for inputs
 * that decide shapes: a reshape target, slice bounds, ...). The input leaves
 * the model's signature. */
int kiln_model_bind(kiln_model *m, const char *name, const kiln_tensor *value, kiln_diag *d);

/* 1 when input i decides a shape, axes or count (it reaches an operand that
 * must be known at compile time, such as a reshape target), else 0. */
int kiln_model_input_decides_shape(const kiln_model *m, int i);

/* Pipeline options (see docs/passes.md). */
typedef struct {
  int opt_level;          /* 0, 1, 2 or 3; used when passes is NULL */
  const char *passes;     /* "a,b,c" or NULL for the -O level's pipeline */
  int verify_each;
  int time_passes;
  const char *dump_after; /* "all" or "a,b"; NULL: none */
  const char *dump_dir;   /* NULL: dumps go to `report` */
  FILE *report;           /* NULL: stderr */
} kiln_pipeline_options;

void kiln_pipeline_options_init(kiln_pipeline_options *o);
/* The pass names the options select, comma-separated, into buf. */
int kiln_pipeline_describe(const kiln_pipeline_options *o, char *buf, size_t n, kiln_diag *d);
/* Runs the pipeline over the model. */
int kiln_model_optimize(kiln_model *m, const kiln_pipeline_options *o, kiln_diag *d);

/* Prints the model as .kir. side_file: where large in-memory constants go
 * (NULL: they are elided as `...`). */
int kiln_model_print(const kiln_model *m, FILE *f, const char *side_file, kiln_diag *d);

/* Signature. Types are known after loading for inputs, and for outputs once
 * shapes are inferred (any pipeline). Pointers stay valid until the model is
 * changed or freed. */
int kiln_model_num_inputs(const kiln_model *m);
int kiln_model_num_outputs(const kiln_model *m);
typedef struct {
  const char *name;
  kiln_dtype dtype;
  int rank;
  int64_t dims[KILN_MAX_RANK];
  int typed;              /* 0 for an output whose shape is not inferred yet */
} kiln_value_info;
int kiln_model_input(const kiln_model *m, int i, kiln_value_info *out);
int kiln_model_output(const kiln_model *m, int i, kiln_value_info *out);

/* Runs the model with the reference interpreter. inputs[i] feeds input i;
 * outputs[j] are allocated by kiln (free with kiln_tensor_free). Shapes must
 * be inferred (run a pipeline first). */
int kiln_model_interpret(const kiln_model *m, const kiln_tensor *inputs, kiln_tensor *outputs,
                         kiln_diag *d);
void kiln_tensor_free(kiln_tensor *t);

/* Fills t (whose dtype and dims are set) with deterministic pseudo-random
 * data from seed: floats uniform in [-1, 1), integers in [0, 4), bools 0/1.
 * Allocates t->data (free with kiln_tensor_free). */
int kiln_tensor_random(kiln_tensor *t, uint64_t seed, kiln_diag *d);

/* ---- inspection ------------------------------------------------------------ */
#define KILN_INSPECT_MAX_OPS 256
typedef struct {
  int n_nodes;
  int n_ops;                       /* distinct ops */
  const char *op_names[KILN_INSPECT_MAX_OPS];
  int op_counts[KILN_INSPECT_MAX_OPS];
  int64_t parameters;              /* trainable parameters (elements) */
  int64_t parameter_bytes;
  int64_t constant_bytes;          /* all constants, parameters included */
  int64_t activation_bytes;        /* all intermediate values, summed */
  int64_t activation_peak_bytes;   /* most bytes live at once, in node order */
  int64_t input_bytes;
  int64_t output_bytes;
  /* memory estimates, bytes (formulas in docs/cli.md) */
  int64_t mem_inference;
  int64_t mem_train_sgd;
  int64_t mem_train_momentum;
  int64_t mem_train_adam;
  /* fusion (docs/passes.md, "fuse"): kernels, and bytes of intermediate
   * results written per inference, after the -O2 clean-ups without and with
   * the fuse pass; -1 when the pipeline fails on the model */
  int kernels_before_fusion;
  int kernels_after_fusion;
  int64_t intermediate_bytes_before_fusion;
  int64_t intermediate_bytes_after_fusion;
} kiln_inspect_report;

/* Fills the report; infers shapes first when needed (the model keeps them). */
int kiln_model_inspect(kiln_model *m, kiln_inspect_report *r, kiln_diag *d);

/* Memory figures (`kiln inspect --memory`; definitions in docs/passes.md,
 * "schedule" and "plan-memory"). */
typedef struct {
  int64_t naive_bytes;              /* every arena value's 64-byte-aligned size, summed */
  int64_t lower_bound_bytes;        /* most aligned arena bytes live at once (scheduled order) */
  int64_t arena_bytes;              /* the planned arena */
  int64_t peak_default_order_bytes; /* peak live bytes (graph outputs included) in the model's order */
  int64_t peak_scheduled_bytes;     /* the same after `schedule` */
} kiln_memory_report;

/* Runs, on a copy of the model, the pipeline o selects (NULL: -O2) without
 * `schedule` and `plan-memory` (dumps and timing do not apply), measures the
 * peak in that order, then runs `schedule` and `plan-memory` and measures
 * again. The model itself is not changed. */
int kiln_model_memory(const kiln_model *m, const kiln_pipeline_options *o, kiln_memory_report *r,
                      kiln_diag *d);

/* Writes the model as a Graphviz DOT digraph (`kiln inspect --dot`; the
 * drawing is described in docs/cli.md): runs the pipeline o selects (NULL:
 * -O2; dumps and timing apply) on a copy of the model and draws the copy,
 * fused kernels as clusters holding their body nodes, edges labelled with
 * types. Deterministic. The model itself is not changed. */
int kiln_model_write_dot(const kiln_model *m, const kiln_pipeline_options *o, FILE *f,
                         kiln_diag *d);

/* ---- compilation to native code (docs/abi.md, docs/deploy.md) --------------- */
typedef enum {
  KILN_EMIT_SO = 0, /* shared object, linked with the C compiler driver */
  KILN_EMIT_OBJ,    /* relocatable object */
  KILN_EMIT_LIB,    /* static library (.a) */
  KILN_EMIT_ASM,    /* assembly */
  KILN_EMIT_LLVM,   /* LLVM IR text */
  KILN_EMIT_HEADER, /* only the C header */
} kiln_emit_kind;

typedef struct {
  kiln_emit_kind emit;
  const char *name;     /* entry point prefix (a C identifier); NULL: from the file name */
  int weights_file;     /* 0: weights embedded; 1: written to NAME.weights */
  const char *target;   /* LLVM triple, e.g. aarch64-linux-gnu; NULL: this machine */
  const char *cpu;      /* NULL or "native": this machine's CPU; znver3, x86-64-v3, ... */
  const char *features; /* e.g. "+avx2,-avx512f"; NULL: the CPU's */
  int opt_level;        /* 0..3 (LLVM: -O0 default<O0>, -O1 default<O1>, else default<O3>) */
  const char *cc;       /* C compiler driver for .so; NULL: $KILN_CC, else "cc" */
  int no_header;        /* do not write NAME.h next to a .so, .o or .a */
  int time_passes;      /* print the code-generation phase timings to report */
  FILE *report;         /* NULL: stderr */
  /* Called at the start of each code-generation phase: step counts from 0
   * to n_steps - 1 and phase names it ("LLVM optimisation", ...). Called on
   * the compiling thread; NULL: none. kiln's CLI draws a progress line. */
  void (*progress)(void *user, int step, int n_steps, const char *phase);
  void *progress_user;
  int threads; /* kiln_model_run_compiled only: threads the artifact may use
                  (kilnrt_set_threads); <= 0: the artifact's default */
} kiln_compile_options;

void kiln_compile_options_init(kiln_compile_options *o);
/* Compiles the model (shapes inferred: run a pipeline first) to `out`, plus
 * NAME.h and, with weights_file, NAME.weights in out's directory. */
int kiln_model_compile(const kiln_model *m, const char *out, const kiln_compile_options *o,
                       kiln_diag *d);
/* Compiles the model to a temporary shared object, loads it and runs it once
 * (as kiln_model_interpret, whose contract on inputs and outputs it shares).
 * o: NULL for the defaults (host CPU, -O2, the artifact's default thread
 * count); o->threads > 0 sets the thread count before the run. */
int kiln_model_run_compiled(const kiln_model *m, const kiln_compile_options *o,
                            const kiln_tensor *inputs, kiln_tensor *outputs, kiln_diag *d);

#ifdef __cplusplus
}
#endif

#endif

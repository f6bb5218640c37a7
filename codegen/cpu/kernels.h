/* The kernel-emitter interface of the CPU backend.
 *
 * Every node (a fused node too: kernels_fused.c) becomes one LLVM function
 *
 *   i32 kiln_kN_OP(ptr noalias in_0, ..., ptr noalias out_0, ...)
 *
 * with one pointer per present input and one per output, each the start of
 * a dense C-order buffer of the value's type. emit.c creates the function,
 * sets up a cg_kernel and calls the op's emitter, which fills the body with
 * the builder positioned in the entry block; emit.c then appends `ret i32
 * 0`. An emitter may return early from the kernel with a status through
 * cgk_fail_if (gather's index check). Buffers never overlap, except that
 * two inputs may be the same buffer (readonly, so noalias still holds) and
 * that a memory plan may put an elementwise op's output in its input's slot
 * (in_place; those parameters are not noalias, and the kernel must read
 * element i before writing element i, which every elementwise kernel does).
 *
 * Emitters must reproduce the reference interpreter (ir/ops_*.c) exactly:
 * its dtype rules, broadcasting, rounding, integer wrap-around and NaN
 * handling. Accumulation follows one rule everywhere, documented in
 * docs/abi.md: contractions (matmul, conv, conv_transpose) accumulate in
 * the element type; reductions, pools, normalisations, softmax and cumsum
 * of floats accumulate in f64, as the interpreter does.
 *
 * An emitter returns KILN_OK, or a diag error (KILN_E_UNSUPPORTED naming the
 * node) for an attribute combination it does not implement; it never
 * aborts on user input.
 */
#ifndef KILN_CG_KERNELS_H
#define KILN_CG_KERNELS_H

#include "codegen/llvm.h"

typedef struct cg_kernel cg_kernel;

/* An elementwise epilogue that a fused kernel hands to a contraction
 * emitter (matmul, conv): the emitter calls it on every finished output
 * element (after the whole reduction and conv's bias) just before the
 * store, and stores what it returns (same type as v).
 *   v    a scalar of output 0's element type, or a vector <W x T> of W
 *        consecutive elements of output 0 (C order; a vector never crosses
 *        the last axis of a matmul result, nor the spatial plane of one
 *        (image, channel) of a conv result). Edge elements come as scalars.
 *   idx  the flat C-order index (i64) in output 0 of v (of its lane 0).
 * The epilogue may load other buffers (a bias, a residual): it must take
 * their pointers from cgk_arg(k, i) each time it is called, never keep
 * LLVM values between calls, because the emitter may call it inside an
 * outlined task function (cgk_parallel). It must not write output 0. */
typedef LLVMValueRef (*cg_epilogue_fn)(cg_kernel *k, LLVMValueRef v, LLVMValueRef idx, void *user);

struct cg_kernel {
  cgl *L;
  const ir_graph *g;
  const ir_node *n;
  int n_in, n_out;
  LLVMValueRef *in;     /* input i's buffer, NULL when the input is absent */
  const ir_type **in_t; /* input i's type, NULL when absent */
  LLVMValueRef *out;    /* output j's buffer */
  const ir_type **out_t;
  int *in_place; /* output j is the same buffer as an input (a memory
                    plan's in-place reuse; only for elementwise ops) */
  kiln_diag *d;
  /* Compile-time preparation (cg_prep, below). in_const may be NULL. */
  const void **in_const; /* input i's data when it is a constant, else NULL */
  LLVMValueRef blob;     /* the prepared blob in the weights; NULL when none */
  LLVMValueRef scratch;  /* this thread's scratch region; NULL when none */
  /* Fused kernels: the epilogue of a contraction; NULL when none. */
  cg_epilogue_fn epilogue;
  void *epilogue_user;
  /* cgk_arg's view inside an outlined task function (parallel.c); NULL
   * in the kernel function itself. */
  LLVMValueRef *args;
  unsigned n_args;
};

typedef int (*cg_emit_fn)(cg_kernel *k);

/* The emitter of an op; NULL when codegen does not support it. */
cg_emit_fn cg_emitter(ir_op op);

/* An UNSUPPORTED error naming the kernel's node. */
int cgk_unsupported(cg_kernel *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* if (cond) return code; continues in a fresh block. */
void cgk_fail_if(cg_kernel *k, LLVMValueRef cond, int code);

/* ---- element access and conversions ------------------------------------------------------ */
int cgk_unsigned(ir_dtype t); /* u8 and bool: zero-extended, unsigned compares */
LLVMValueRef cgk_load(cg_kernel *k, ir_dtype t, LLVMValueRef base, LLVMValueRef idx);
void cgk_store(cg_kernel *k, ir_dtype t, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
/* A loaded bool (any nonzero byte) as i1. */
LLVMValueRef cgk_truth(cg_kernel *k, LLVMValueRef v);
/* v of dtype t as f64 (ir_load_f). */
LLVMValueRef cgk_to_f64(cg_kernel *k, ir_dtype t, LLVMValueRef v);
/* v of dtype t as i64 (ir_load_i: floats truncate and saturate, NaN 0). */
LLVMValueRef cgk_to_i64(cg_kernel *k, ir_dtype t, LLVMValueRef v);
/* A float value (f32 or f64) into dtype t as ir_store_f does: floats round,
 * integers truncate toward zero and saturate (NaN 0), bool is != 0. */
LLVMValueRef cgk_from_fp(cg_kernel *k, ir_dtype t, LLVMValueRef v);
/* An i64 into dtype t as ir_store_i does (integers wrap, bool != 0, floats
 * convert with one rounding). */
LLVMValueRef cgk_from_i64(cg_kernel *k, ir_dtype t, LLVMValueRef v);
/* Constant of dtype t from a double (ir_store_f's conversion, done now). */
LLVMValueRef cgk_const(cg_kernel *k, ir_dtype t, double v);
/* Inline math (no libm calls, so loops over them vectorise) on an f64 or a
 * vector of f64. exp is within an ulp or two of libm's; erf, erfc and tanh
 * have a relative error of about 1e-11 or better (meant for f32 results,
 * computed in double and rounded once). NaN, infinities and saturation as
 * libm. */
LLVMValueRef cgk_vexp_f64(cg_kernel *k, LLVMValueRef x);
LLVMValueRef cgk_erf_f64(cg_kernel *k, LLVMValueRef x);
LLVMValueRef cgk_erfc_f64(cg_kernel *k, LLVMValueRef x);
LLVMValueRef cgk_tanh_f64(cg_kernel *k, LLVMValueRef x);

/* ---- loop nests -------------------------------------------------------------------------- */
#define CG_NEST_MAX_RANK 16
#define CG_NEST_MAX_OPS  8

typedef struct {
  int rank, n_ops;
  int64_t dims[CG_NEST_MAX_RANK];
  int64_t stride[CG_NEST_MAX_OPS][CG_NEST_MAX_RANK];
  const int64_t *tab[CG_NEST_MAX_OPS][CG_NEST_MAX_RANK]; /* dims[k] entries, or NULL */
  int64_t base[CG_NEST_MAX_OPS];
} cg_nest;

/* A nest over dims[rank] with every operand's strides zero. */
void cg_nest_init(cg_nest *n, int rank, const int64_t *dims, int n_ops);
/* Operand op walks a dense C-order tensor of the nest's shape. */
void cg_nest_contig(cg_nest *n, int op);
/* Operand op is a tensor of type t broadcast (NumPy rules) to the nest's
 * shape (t's rank <= the nest's). */
void cg_nest_bcast(cg_nest *n, int op, const ir_type *t);
/* Drops size-1 axes and merges neighbours that every operand walks as one;
 * the walk and the offsets it produces stay the same. */
void cg_nest_simplify(cg_nest *n);
typedef void (*cg_nest_body)(cg_kernel *k, LLVMValueRef *off, void *user);
/* Emits the loops; body runs once per element with off[op] (i64). Nothing
 * is emitted for an empty box. */
void cg_nest_emit(cg_kernel *k, const cg_nest *n, cg_nest_body body, void *user);

/* The same with runtime offsets added to the operands' bases (base[op] may
 * be NULL for 0): nests inside loops. */
void cg_nest_emit_at(cg_kernel *k, const cg_nest *n, LLVMValueRef *base, cg_nest_body body,
                     void *user);

/* A box of nd nested loops iv[i] in [lo[i], hi[i]) (i64 values, possibly
 * computed at run time); body runs with the induction variables. */
typedef void (*cgk_box_body)(cg_kernel *k, LLVMValueRef *iv, void *user);
void cgk_box(cg_kernel *k, int nd, LLVMValueRef *lo, LLVMValueRef *hi, cgk_box_body body,
             void *user);
/* The same over [0, dims[i]) with constant dims. */
void cgk_box_const(cg_kernel *k, int nd, const int64_t *dims, cgk_box_body body, void *user);

/* Scalar accumulators (allocas promoted to registers by LLVM). */
LLVMValueRef cgk_var(cg_kernel *k, LLVMTypeRef t, LLVMValueRef init);
LLVMValueRef cgk_get(cg_kernel *k, LLVMValueRef var);
void cgk_set(cg_kernel *k, LLVMValueRef var, LLVMValueRef v);

/* i64 arithmetic shorthands (nsw: offsets never overflow, see the limits
 * of ir.h: at most 2^40 elements per tensor). */
LLVMValueRef cgk_add(cg_kernel *k, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cgk_mul(cg_kernel *k, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cgk_muli(cg_kernel *k, LLVMValueRef a, int64_t c);
LLVMValueRef cgk_addi(cg_kernel *k, LLVMValueRef a, int64_t c);

/* ---- compile-time preparation -------------------------------------------------------------
 * Before any code is emitted, emit.c asks the preparer of each node's op
 * (cg_preparer; NULL: nothing to prepare) what its kernel needs besides
 * its inputs and outputs. The preparer sees a cg_kernel with L, g, n,
 * n_in, n_out, in_t, out_t, in_const and d set and no LLVM values; the
 * emitter later sees the same in_const, so both derive the same plan.
 *   blob      data computed now (pre-packed weights), malloc'd; emit.c
 *             stores it with the weights (64-byte aligned) and frees it;
 *             the kernel reads it through k->blob
 *   scratch   bytes of scratch memory per thread (k->scratch, 64-byte
 *             aligned, contents undefined on entry): the calling thread's
 *             region is at the end of the workspace, shared by all
 *             kernels (they run one after another); pool threads have
 *             their own (parallel.c)
 *   consumes  bit i: the kernel reads constant input i only through the
 *             blob. A constant that no other node or output needs is then
 *             not stored, and the kernel's parameter for it is NULL.
 * A kernel with a blob or scratch gets two more parameters after its
 * outputs: the blob's address and the scratch region's. */
typedef struct cg_prep {
  void *blob;
  int64_t blob_size;
  int64_t scratch;
  uint64_t consumes;
} cg_prep;
typedef int (*cg_prep_fn)(cg_kernel *k, cg_prep *p);
/* The preparer of an op; NULL when its kernel needs nothing prepared. */
cg_prep_fn cg_preparer(ir_op op);
/* The preparer of fused contractions (kernels_fused.c): the contraction's. */
int cg_prep_fused(cg_kernel *k, cg_prep *p);

/* ---- threads (parallel.c) -----------------------------------------------------------------
 * cgk_parallel(k, n, body, user) runs body for tasks t = 0 .. n-1 on the
 * artifact's thread pool and the calling thread, and returns when all are
 * done (n == 1: inline, no pool). body is emitted into an outlined task
 * function: inside it k->in, k->out, k->blob and cgk_arg refer to that
 * function's copies of the kernel's parameters, k->scratch is the running
 * thread's scratch region, and t (i64) is the task. No other value of the
 * enclosing function is visible there. Tasks must write disjoint outputs
 * and not depend on each other or on the thread that runs them, so that
 * results are the same for any number of threads. */
typedef void (*cgk_task_body)(cg_kernel *k, LLVMValueRef t, void *user);
void cgk_parallel(cg_kernel *k, int64_t n, cgk_task_body body, void *user);
/* Parameter i of the kernel function, as seen from the function being
 * emitted (the kernel itself or an outlined task function). */
LLVMValueRef cgk_arg(cg_kernel *k, unsigned i);
/* The epilogue applied to v at output index idx (v itself when none). */
LLVMValueRef cgk_epilogue(cg_kernel *k, LLVMValueRef v, LLVMValueRef idx);
/* Upper bound of threads an artifact uses (NAME_set_threads clamps to it). */
#define CG_MAX_THREADS 64
/* Emits `int NAME_set_threads(int n)` and, when a kernel used the pool,
 * records the per-thread scratch size (bytes) the pool's threads allocate.
 * Called once, after every kernel. */
void cg_par_finish(cgl *L, const char *name, int64_t scratch_bytes);

/* ---- per-op-family emitters (kernels_*.c) ------------------------------------------------ */
int cg_emit_unary(cg_kernel *k);
int cg_emit_cast(cg_kernel *k);
int cg_emit_copy(cg_kernel *k); /* identity, dropout, reshape, flatten, squeeze, unsqueeze */
int cg_emit_binary(cg_kernel *k);
int cg_emit_where(cg_kernel *k);

int cg_emit_matmul(cg_kernel *k);
int cg_emit_conv(cg_kernel *k);
int cg_emit_conv_transpose(cg_kernel *k);
int cg_emit_pool(cg_kernel *k);
int cg_emit_global_pool(cg_kernel *k);
int cg_emit_lrn(cg_kernel *k);

int cg_emit_reduce(cg_kernel *k);
int cg_emit_arg_reduce(cg_kernel *k);
int cg_emit_cumsum(cg_kernel *k);
int cg_emit_softmax(cg_kernel *k);
int cg_emit_lp_normalization(cg_kernel *k);
int cg_emit_layer_norm(cg_kernel *k); /* layer_norm, rms_norm */
int cg_emit_batch_norm(cg_kernel *k);
int cg_emit_group_norm(cg_kernel *k); /* instance_norm, group_norm */

int cg_emit_transpose(cg_kernel *k);
int cg_emit_concat(cg_kernel *k);
int cg_emit_split(cg_kernel *k);
int cg_emit_slice(cg_kernel *k);
int cg_emit_gather(cg_kernel *k);
int cg_emit_gather_elements(cg_kernel *k);
int cg_emit_gather_nd(cg_kernel *k);
int cg_emit_expand(cg_kernel *k);
int cg_emit_pad(cg_kernel *k);
int cg_emit_tile(cg_kernel *k);
int cg_emit_depth_to_space(cg_kernel *k);
int cg_emit_space_to_depth(cg_kernel *k);
int cg_emit_trilu(cg_kernel *k);
int cg_emit_one_hot(cg_kernel *k);
int cg_emit_resize(cg_kernel *k);

/* Fused kernels (kernels_fused.c): the emitter and preparer of `fused`
 * nodes (passes/fuse.c), by their kind. */
int cg_emit_fused(cg_kernel *k);

/* Ops whose outputs depend only on attributes and input types (range,
 * shape, size, constant_of_shape): emit.c evaluates them at compile time
 * with the interpreter and stores the result with the weights. */
int cg_op_is_static(ir_op op);

#endif

/* The kernel-emitter interface of the CPU backend.
 *
 * Every node becomes one LLVM function (later: every fused kernel)
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

typedef struct cg_kernel {
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
} cg_kernel;

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

/* Ops whose outputs depend only on attributes and input types (range,
 * shape, size, constant_of_shape): emit.c evaluates them at compile time
 * with the interpreter and stores the result with the weights. */
int cg_op_is_static(ir_op op);

#endif

/* The one place kiln talks to LLVM's C API about lifetimes: contexts,
 * modules, builders, target machines, the optimisation pipeline and object /
 * assembly / bitcode emission. Every LLVM object created here is disposed of
 * here (cgl_dispose), so the rest of codegen never pairs Create with Dispose.
 *
 * It also holds the small IR-building vocabulary shared by every kernel
 * emitter: common types and constants, counted loops, if/else, allocas in
 * the entry block, loads and stores at an element index, intrinsic and libm
 * calls. Kernel emitters include this header and use the builder through
 * these helpers and the plain LLVMBuild* calls of llvm-c/Core.h (which need
 * no disposal).
 *
 * Contract of the builder state: while a function is being emitted,
 * cgl.fn is that function and cgl.b is positioned at the end of the block
 * being filled; helpers that create blocks leave the builder at the block
 * where emission continues.
 */
#ifndef KILN_CG_LLVM_H
#define KILN_CG_LLVM_H

#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "ir.h"

/* What to build for: an LLVM triple, CPU name and feature string. */
typedef struct {
  const char *triple;   /* NULL: the host's */
  const char *cpu;      /* NULL or "native": the host's CPU (host triple only);
                           a cross triple defaults to "generic" */
  const char *features; /* NULL: the host's features for a native CPU, else "" */
  int opt_level;        /* 0..3: LLVM's pipeline and code generation level */
} cgl_target;

typedef struct cgl {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTargetMachineRef tm;
  LLVMTargetDataRef td;
  char *triple;   /* normalised; owned (malloc) */
  char *cpu;      /* owned */
  char *features; /* owned */
  int opt_level;
  /* common types */
  LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f32, t_f64, t_ptr;
  /* the function being emitted */
  LLVMValueRef fn;
  LLVMBasicBlockRef entry;
} cgl;

/* Creates the context, module (named module_name, which also becomes its
 * source file name so the object is reproducible), builder and target
 * machine. Unknown triples are a KILN_E_USAGE error. On failure everything
 * created so far is disposed of. */
int cgl_init(cgl *L, const char *module_name, const cgl_target *t, kiln_diag *d);
void cgl_dispose(cgl *L);

/* The host's normalised triple into a malloc'd string. */
char *cgl_host_triple(void);

/* Runs the LLVM verifier; a failure is a kiln bug (KILN_E_INTERNAL). */
int cgl_verify(cgl *L, kiln_diag *d);
/* Runs LLVM's default<O0|O1|O3> pipeline (-O2 and -O3 both use O3). */
int cgl_optimize(cgl *L, kiln_diag *d);

typedef enum { CGL_OBJECT, CGL_ASSEMBLY, CGL_BITCODE, CGL_IR_TEXT } cgl_output;
/* Emits the module into a malloc'd buffer (*out, *len); the caller frees. */
int cgl_emit(cgl *L, cgl_output kind, char **out, size_t *len, kiln_diag *d);

/* Names of the module's externally visible definitions (for an archive's
 * symbol index), in module order, NUL-separated into a malloc'd buffer;
 * *count receives how many. */
char *cgl_defined_symbols(cgl *L, int *count, size_t *len);

/* ---- types and constants ----------------------------------------------------------------- */
/* The LLVM type of one element of a dtype (bool and u8: i8). */
LLVMTypeRef cgl_dtype(cgl *L, ir_dtype t);
LLVMValueRef cgl_i64(cgl *L, int64_t v);
LLVMValueRef cgl_i32(cgl *L, int32_t v);
LLVMValueRef cgl_int(LLVMTypeRef t, int64_t v); /* truncated to t's width */
LLVMValueRef cgl_real(LLVMTypeRef t, double v);
LLVMValueRef cgl_null(cgl *L);

/* A private constant global holding n bytes (align bytes alignment); returns
 * its address. name may be NULL. */
LLVMValueRef cgl_const_bytes(cgl *L, const char *name, const void *data, size_t n, unsigned align);
/* A private constant NUL-terminated string; returns its address. */
LLVMValueRef cgl_const_cstring(cgl *L, const char *s);
/* A private constant i64 array; returns its address. */
LLVMValueRef cgl_const_i64_array(cgl *L, const int64_t *v, size_t n);
/* A private constant array of doubles. */
LLVMValueRef cgl_const_f64_array(cgl *L, const double *v, size_t n);

/* ---- functions and attributes ------------------------------------------------------------ */
/* Adds a function definition and starts its entry block (builder there). */
LLVMValueRef cgl_func_begin(cgl *L, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                            unsigned n_params, LLVMLinkage linkage);
/* A declaration of an external function (reused when declared before). */
LLVMValueRef cgl_declare(cgl *L, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                         unsigned n_params, int varargs);
/* Enum attribute by name on a function (idx LLVMAttributeFunctionIndex), its
 * return (0) or parameter i (i + 1). */
void cgl_attr(cgl *L, LLVMValueRef fn, unsigned idx, const char *name, uint64_t val);
/* Same, on a call site. */
void cgl_call_attr(cgl *L, LLVMValueRef call, unsigned idx, const char *name, uint64_t val);
/* Marks a function as a pure math routine: nounwind, willreturn, no memory
 * access (as -fno-math-errno: errno is never read by kiln code). */
void cgl_mark_pure(cgl *L, LLVMValueRef fn);
LLVMValueRef cgl_call(cgl *L, LLVMValueRef fn, LLVMValueRef *args, unsigned n);

/* An alloca of type t at the start of the entry block (so SROA/mem2reg turn
 * it into registers), anywhere in the function. */
LLVMValueRef cgl_alloca(cgl *L, LLVMTypeRef t, const char *name);

/* ---- addressing -------------------------------------------------------------------------- */
/* &base[idx] for elements of type t (idx i64). */
LLVMValueRef cgl_gep(cgl *L, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx);
/* base + off bytes. */
LLVMValueRef cgl_byte_gep(cgl *L, LLVMValueRef base, int64_t off);
LLVMValueRef cgl_load(cgl *L, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx);
void cgl_store(cgl *L, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
/* memcpy / memset of n bytes (n an i64 value). */
void cgl_memcpy(cgl *L, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef n);
void cgl_memset(cgl *L, LLVMValueRef dst, uint8_t byte, LLVMValueRef n);

/* ---- control flow ------------------------------------------------------------------------ */
/* A counted loop for (iv = lo; iv < hi; iv++) with i64 bounds. begin leaves
 * the builder in the body and returns iv; end closes the body (from wherever
 * the builder is) and continues after the loop. */
typedef struct {
  LLVMValueRef phi, hi;
  LLVMBasicBlockRef header, exit;
} cgl_loop;
LLVMValueRef cgl_loop_begin(cgl *L, cgl_loop *lp, LLVMValueRef lo, LLVMValueRef hi,
                            const char *name);
void cgl_loop_end(cgl *L, cgl_loop *lp);

/* if (cond) { ... } [else { ... }]: begin enters the then-block; cgl_else
 * switches to the else-block; cgl_if_end continues after both. */
typedef struct {
  LLVMBasicBlockRef else_bb, merge;
  int has_else;
} cgl_if;
void cgl_if_begin(cgl *L, cgl_if *c, LLVMValueRef cond);
void cgl_else(cgl *L, cgl_if *c);
void cgl_if_end(cgl *L, cgl_if *c);

/* A fresh block in the current function. */
LLVMBasicBlockRef cgl_block(cgl *L, const char *name);

/* ---- math -------------------------------------------------------------------------------- */
/* An overloaded intrinsic "llvm.NAME" at type t (e.g. "llvm.exp", f32). */
LLVMValueRef cgl_intrinsic(cgl *L, const char *name, LLVMTypeRef t, LLVMValueRef *args, unsigned n);
/* The same with several overload types (e.g. llvm.fptosi.sat: result, arg). */
LLVMValueRef cgl_intrinsic_n(cgl *L, const char *name, LLVMTypeRef *types, unsigned n_types,
                             LLVMValueRef *args, unsigned n);
/* A call of the C math library's NAME (f32 variants end in 'f'); declared
 * pure. The artifact then needs libm, which the link step allows. */
LLVMValueRef cgl_libm(cgl *L, const char *name, LLVMTypeRef t, LLVMValueRef *args, unsigned n);
/* 1 when t is a float type (half .. double). */
int cgl_is_fp(LLVMTypeRef t);

#endif

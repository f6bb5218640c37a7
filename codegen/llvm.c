/* LLVM C API wrapper: lifetimes, target machines, the pass pipeline,
 * emission, and the IR-building helpers every kernel emitter shares (see
 * llvm.h for the contracts). */
#include "codegen/llvm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Disassembler.h>
#include <llvm-c/Transforms/PassBuilder.h>

/* ---- targets ----------------------------------------------------------------------------- */

static pthread_once_t targets_once = PTHREAD_ONCE_INIT;

/* Every target LLVM was built with, so --target can name any of them. */
static void init_targets(void) {
  LLVMInitializeAllTargetInfos();
  LLVMInitializeAllTargets();
  LLVMInitializeAllTargetMCs();
  LLVMInitializeAllAsmPrinters();
  LLVMInitializeAllDisassemblers();
}

/* Checks a CPU name and feature string against the target. LLVM's C API
 * has no query for this, and a target machine with an unknown CPU can abort
 * in code generation ("64-bit code requested on a subtarget that doesn't
 * support it"), so we build the target's subtarget description through the
 * disassembler API and catch the warning LLVM prints while doing so ("'X'
 * is not a recognized processor/feature"), with stderr redirected to a
 * temporary file for the duration of that one call. (Redirecting a process
 * descriptor is not thread-safe; compiling is done from one thread.) */
static int check_cpu(const char *triple, const char *cpu, const char *features, kiln_diag *d) {
  FILE *tmp = tmpfile();
  if (!tmp) return KILN_OK; /* cannot check; LLVM will warn itself */
  fflush(stderr);
  int saved = dup(2);
  if (saved < 0) {
    fclose(tmp);
    return KILN_OK;
  }
  dup2(fileno(tmp), 2);
  LLVMDisasmContextRef dc = LLVMCreateDisasmCPUFeatures(triple, cpu, features, NULL, 0, NULL, NULL);
  if (dc) LLVMDisasmDispose(dc);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char log[1024] = "";
  rewind(tmp);
  size_t n = fread(log, 1, sizeof log - 1, tmp);
  log[n] = 0;
  fclose(tmp);
  if (strstr(log, "not a recognized processor"))
    return kiln_diag_error(d, KILN_E_USAGE, "unknown CPU '%s' for target %s", cpu, triple);
  if (strstr(log, "not a recognized feature")) {
    char *nl = strchr(log, '\n');
    if (nl) *nl = 0;
    return kiln_diag_error(d, KILN_E_USAGE, "bad CPU features '%s' for target %s: %s", features,
                           triple, log);
  }
  return KILN_OK;
}

/* An LLVM-allocated message copied into malloc'd memory (and disposed). */
static char *take_message(char *m) {
  char *s = kiln_xstrdup(m ? m : "");
  if (m) LLVMDisposeMessage(m);
  return s;
}

char *cgl_host_triple(void) {
  char *def = LLVMGetDefaultTargetTriple();
  char *norm = LLVMNormalizeTargetTriple(def);
  LLVMDisposeMessage(def);
  return take_message(norm);
}

int cgl_init(cgl *L, const char *module_name, const cgl_target *t, kiln_diag *d) {
  memset(L, 0, sizeof *L);
  pthread_once(&targets_once, init_targets);
  char *host = cgl_host_triple();
  L->triple = t->triple ? take_message(LLVMNormalizeTargetTriple(t->triple)) : kiln_xstrdup(host);
  int is_host = strcmp(L->triple, host) == 0;
  free(host);
  int native = !t->cpu || !strcmp(t->cpu, "native");
  if (native && !is_host) {
    if (t->cpu) {
      kiln_diag_error(d, KILN_E_USAGE,
                      "--mcpu=native describes this machine; name a CPU for target %s", L->triple);
      cgl_dispose(L);
      return KILN_E_USAGE;
    }
    native = 0; /* a cross target without --mcpu: generic */
  }
  L->cpu = native ? take_message(LLVMGetHostCPUName()) : kiln_xstrdup(t->cpu ? t->cpu : "generic");
  if (t->features)
    L->features = kiln_xstrdup(t->features);
  else
    L->features = native ? take_message(LLVMGetHostCPUFeatures()) : kiln_xstrdup("");
  L->opt_level = t->opt_level < 0 ? 0 : t->opt_level > 3 ? 3 : t->opt_level;

  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(L->triple, &target, &err)) {
    char *m = take_message(err);
    kiln_diag_error(d, KILN_E_USAGE, "unknown target '%s': %s", L->triple, m);
    free(m);
    cgl_dispose(L);
    return KILN_E_USAGE;
  }
  if (check_cpu(L->triple, L->cpu, L->features, d)) {
    cgl_dispose(L);
    return KILN_E_USAGE;
  }
  static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                               LLVMCodeGenLevelDefault, LLVMCodeGenLevelAggressive};
  /* PIC: the object goes into shared objects and PIE executables alike */
  L->tm = LLVMCreateTargetMachine(target, L->triple, L->cpu, L->features, levels[L->opt_level],
                                  LLVMRelocPIC, LLVMCodeModelDefault);
  if (!L->tm) {
    kiln_diag_error(d, KILN_E_USAGE, "cannot create a target machine for %s (cpu %s)", L->triple,
                    L->cpu);
    cgl_dispose(L);
    return KILN_E_USAGE;
  }
  L->td = LLVMCreateTargetDataLayout(L->tm);
  /* constant data (weights, tables) is laid out in the compiler's byte order */
  if (LLVMByteOrder(L->td) != LLVMLittleEndian) {
    kiln_diag_error(d, KILN_E_UNSUPPORTED, "target %s is big-endian; kiln emits little-endian data",
                    L->triple);
    cgl_dispose(L);
    return KILN_E_UNSUPPORTED;
  }
  L->ctx = LLVMContextCreate();
  L->mod = LLVMModuleCreateWithNameInContext(module_name, L->ctx);
  LLVMSetSourceFileName(L->mod, module_name, strlen(module_name));
  LLVMSetTarget(L->mod, L->triple);
  char *dl = LLVMCopyStringRepOfTargetData(L->td);
  LLVMSetDataLayout(L->mod, dl);
  LLVMDisposeMessage(dl);
  L->b = LLVMCreateBuilderInContext(L->ctx);
  L->t_void = LLVMVoidTypeInContext(L->ctx);
  L->t_i1 = LLVMInt1TypeInContext(L->ctx);
  L->t_i8 = LLVMInt8TypeInContext(L->ctx);
  L->t_i16 = LLVMInt16TypeInContext(L->ctx);
  L->t_i32 = LLVMInt32TypeInContext(L->ctx);
  L->t_i64 = LLVMInt64TypeInContext(L->ctx);
  L->t_f32 = LLVMFloatTypeInContext(L->ctx);
  L->t_f64 = LLVMDoubleTypeInContext(L->ctx);
  L->t_ptr = LLVMPointerTypeInContext(L->ctx, 0);
  return KILN_OK;
}

void cgl_dispose(cgl *L) {
  if (L->b) LLVMDisposeBuilder(L->b);
  if (L->mod) LLVMDisposeModule(L->mod);
  if (L->ctx) LLVMContextDispose(L->ctx);
  if (L->td) LLVMDisposeTargetData(L->td);
  if (L->tm) LLVMDisposeTargetMachine(L->tm);
  free(L->triple);
  free(L->cpu);
  free(L->features);
  memset(L, 0, sizeof *L);
}

int cgl_verify(cgl *L, kiln_diag *d) {
  char *msg = NULL;
  if (LLVMVerifyModule(L->mod, LLVMReturnStatusAction, &msg)) {
    char *m = take_message(msg);
    kiln_diag_error(d, KILN_E_INTERNAL, "codegen produced invalid LLVM IR (a kiln bug): %.3000s",
                    m);
    free(m);
    return KILN_E_INTERNAL;
  }
  if (msg) LLVMDisposeMessage(msg);
  return KILN_OK;
}

int cgl_optimize(cgl *L, kiln_diag *d) {
  static const char *const pipelines[] = {"default<O0>", "default<O1>", "default<O3>",
                                          "default<O3>"};
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  int vec = L->opt_level >= 2;
  LLVMPassBuilderOptionsSetLoopVectorization(po, vec);
  LLVMPassBuilderOptionsSetSLPVectorization(po, vec);
  LLVMPassBuilderOptionsSetLoopInterleaving(po, vec);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, L->opt_level >= 1);
  LLVMErrorRef e = LLVMRunPasses(L->mod, pipelines[L->opt_level], L->tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (e) {
    char *m = LLVMGetErrorMessage(e);
    kiln_diag_error(d, KILN_E_INTERNAL, "LLVM optimisation failed: %s", m);
    LLVMDisposeErrorMessage(m);
    return KILN_E_INTERNAL;
  }
  return KILN_OK;
}

int cgl_emit(cgl *L, cgl_output kind, char **out, size_t *len, kiln_diag *d) {
  *out = NULL;
  *len = 0;
  if (kind == CGL_IR_TEXT) {
    char *s = LLVMPrintModuleToString(L->mod);
    *len = strlen(s);
    *out = take_message(s);
    return KILN_OK;
  }
  LLVMMemoryBufferRef buf = NULL;
  if (kind == CGL_BITCODE) {
    buf = LLVMWriteBitcodeToMemoryBuffer(L->mod);
  } else {
    char *err = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(
            L->tm, L->mod, kind == CGL_OBJECT ? LLVMObjectFile : LLVMAssemblyFile, &err, &buf)) {
      char *m = take_message(err);
      kiln_diag_error(d, KILN_E_INTERNAL, "LLVM code generation for %s failed: %s", L->triple, m);
      free(m);
      return KILN_E_INTERNAL;
    }
  }
  size_t n = LLVMGetBufferSize(buf);
  *out = kiln_xmalloc(n ? n : 1);
  memcpy(*out, LLVMGetBufferStart(buf), n);
  *len = n;
  LLVMDisposeMemoryBuffer(buf);
  return KILN_OK;
}

static int is_exported(LLVMValueRef v) {
  LLVMLinkage l = LLVMGetLinkage(v);
  return !LLVMIsDeclaration(v) &&
         (l == LLVMExternalLinkage || l == LLVMWeakAnyLinkage || l == LLVMWeakODRLinkage);
}

char *cgl_defined_symbols(cgl *L, int *count, size_t *len) {
  size_t cap = 256, n = 0;
  char *buf = kiln_xmalloc(cap);
  *count = 0;
  for (int pass = 0; pass < 2; pass++) {
    LLVMValueRef v = pass == 0 ? LLVMGetFirstFunction(L->mod) : LLVMGetFirstGlobal(L->mod);
    for (; v; v = pass == 0 ? LLVMGetNextFunction(v) : LLVMGetNextGlobal(v)) {
      if (!is_exported(v)) continue;
      size_t k;
      const char *name = LLVMGetValueName2(v, &k);
      while (n + k + 1 > cap) buf = kiln_xrealloc(buf, cap *= 2);
      memcpy(buf + n, name, k);
      buf[n + k] = 0;
      n += k + 1;
      (*count)++;
    }
  }
  *len = n;
  return buf;
}

/* ---- types and constants ----------------------------------------------------------------- */

LLVMTypeRef cgl_dtype(cgl *L, ir_dtype t) {
  switch (t) {
  case IR_F32: return L->t_f32;
  case IR_F64: return L->t_f64;
  case IR_I64: return L->t_i64;
  case IR_I32: return L->t_i32;
  case IR_I16: return L->t_i16;
  case IR_I8:
  case IR_U8:
  case IR_BOOL: return L->t_i8;
  default: KILN_UNREACHABLE(); /* f16/bf16 are rejected before emission */
  }
}

LLVMValueRef cgl_i64(cgl *L, int64_t v) { return LLVMConstInt(L->t_i64, (unsigned long long)v, 1); }
LLVMValueRef cgl_i32(cgl *L, int32_t v) {
  return LLVMConstInt(L->t_i32, (unsigned long long)(int64_t)v, 1);
}
LLVMValueRef cgl_int(LLVMTypeRef t, int64_t v) { return LLVMConstInt(t, (unsigned long long)v, 1); }
LLVMValueRef cgl_real(LLVMTypeRef t, double v) { return LLVMConstReal(t, v); }
LLVMValueRef cgl_null(cgl *L) { return LLVMConstPointerNull(L->t_ptr); }

LLVMValueRef cgl_const_bytes(cgl *L, const char *name, const void *data, size_t n, unsigned align) {
  LLVMValueRef init = LLVMConstStringInContext2(L->ctx, (const char *)data, n, 1);
  LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(init), name ? name : "");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(g, align);
  return g;
}

LLVMValueRef cgl_const_cstring(cgl *L, const char *s) {
  return cgl_const_bytes(L, ".str", s, strlen(s) + 1, 1);
}

/* Tables are stored as little-endian bytes (cgl_init rejects big-endian
 * targets), which keeps large tables cheap to build. */
LLVMValueRef cgl_const_i64_array(cgl *L, const int64_t *v, size_t n) {
  return cgl_const_bytes(L, ".tab", v, n * sizeof *v, 8);
}

LLVMValueRef cgl_const_f64_array(cgl *L, const double *v, size_t n) {
  return cgl_const_bytes(L, ".ftab", v, n * sizeof *v, 8);
}

/* ---- functions and attributes ------------------------------------------------------------ */

LLVMValueRef cgl_func_begin(cgl *L, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                            unsigned n_params, LLVMLinkage linkage) {
  LLVMTypeRef ft = LLVMFunctionType(ret, params, n_params, 0);
  LLVMValueRef fn = LLVMAddFunction(L->mod, name, ft);
  LLVMSetLinkage(fn, linkage);
  cgl_attr(L, fn, LLVMAttributeFunctionIndex, "nounwind", 0);
  L->fn = fn;
  L->entry = LLVMAppendBasicBlockInContext(L->ctx, fn, "entry");
  LLVMPositionBuilderAtEnd(L->b, L->entry);
  return fn;
}

LLVMValueRef cgl_declare(cgl *L, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                         unsigned n_params, int varargs) {
  LLVMValueRef fn = LLVMGetNamedFunction(L->mod, name);
  if (fn) return fn;
  LLVMTypeRef ft = LLVMFunctionType(ret, params, n_params, varargs);
  return LLVMAddFunction(L->mod, name, ft);
}

static LLVMAttributeRef make_attr(cgl *L, const char *name, uint64_t val) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  KILN_ASSERT(kind != 0);
  return LLVMCreateEnumAttribute(L->ctx, kind, val);
}

void cgl_attr(cgl *L, LLVMValueRef fn, unsigned idx, const char *name, uint64_t val) {
  LLVMAddAttributeAtIndex(fn, idx, make_attr(L, name, val));
}

void cgl_call_attr(cgl *L, LLVMValueRef call, unsigned idx, const char *name, uint64_t val) {
  LLVMAddCallSiteAttribute(call, idx, make_attr(L, name, val));
}

void cgl_mark_pure(cgl *L, LLVMValueRef fn) {
  cgl_attr(L, fn, LLVMAttributeFunctionIndex, "nounwind", 0);
  cgl_attr(L, fn, LLVMAttributeFunctionIndex, "willreturn", 0);
  /* the `memory` attribute's value encodes the effects; 0 is memory(none) */
  cgl_attr(L, fn, LLVMAttributeFunctionIndex, "memory", 0);
}

LLVMValueRef cgl_call(cgl *L, LLVMValueRef fn, LLVMValueRef *args, unsigned n) {
  return LLVMBuildCall2(L->b, LLVMGlobalGetValueType(fn), fn, args, n, "");
}

LLVMValueRef cgl_alloca(cgl *L, LLVMTypeRef t, const char *name) {
  LLVMBuilderRef tmp = LLVMCreateBuilderInContext(L->ctx);
  LLVMValueRef first = LLVMGetFirstInstruction(L->entry);
  if (first)
    LLVMPositionBuilderBefore(tmp, first);
  else
    LLVMPositionBuilderAtEnd(tmp, L->entry);
  LLVMValueRef a = LLVMBuildAlloca(tmp, t, name);
  LLVMDisposeBuilder(tmp);
  return a;
}

/* ---- addressing -------------------------------------------------------------------------- */

LLVMValueRef cgl_gep(cgl *L, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(L->b, t, base, &idx, 1, "");
}

LLVMValueRef cgl_byte_gep(cgl *L, LLVMValueRef base, int64_t off) {
  if (off == 0) return base;
  LLVMValueRef i = cgl_i64(L, off);
  return LLVMBuildInBoundsGEP2(L->b, L->t_i8, base, &i, 1, "");
}

LLVMValueRef cgl_load(cgl *L, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildLoad2(L->b, t, cgl_gep(L, t, base, idx), "");
}

void cgl_store(cgl *L, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
  LLVMBuildStore(L->b, v, cgl_gep(L, LLVMTypeOf(v), base, idx));
}

void cgl_memcpy(cgl *L, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef n) {
  LLVMBuildMemCpy(L->b, dst, 1, src, 1, n);
}

void cgl_memset(cgl *L, LLVMValueRef dst, uint8_t byte, LLVMValueRef n) {
  LLVMBuildMemSet(L->b, dst, LLVMConstInt(L->t_i8, byte, 0), n, 1);
}

/* ---- control flow ------------------------------------------------------------------------ */

LLVMBasicBlockRef cgl_block(cgl *L, const char *name) {
  return LLVMAppendBasicBlockInContext(L->ctx, L->fn, name);
}

LLVMValueRef cgl_loop_begin(cgl *L, cgl_loop *lp, LLVMValueRef lo, LLVMValueRef hi,
                            const char *name) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(L->b);
  lp->header = cgl_block(L, name);
  LLVMBasicBlockRef body = cgl_block(L, "body");
  lp->exit = cgl_block(L, "exit");
  lp->hi = hi;
  LLVMBuildBr(L->b, lp->header);
  LLVMPositionBuilderAtEnd(L->b, lp->header);
  lp->phi = LLVMBuildPhi(L->b, L->t_i64, name);
  LLVMAddIncoming(lp->phi, &lo, &pre, 1);
  LLVMValueRef c = LLVMBuildICmp(L->b, LLVMIntSLT, lp->phi, hi, "");
  LLVMBuildCondBr(L->b, c, body, lp->exit);
  LLVMPositionBuilderAtEnd(L->b, body);
  return lp->phi;
}

void cgl_loop_end(cgl *L, cgl_loop *lp) {
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(L->b);
  LLVMValueRef next = LLVMBuildAdd(L->b, lp->phi, cgl_i64(L, 1), "");
  LLVMSetNSW(next, 1);
  LLVMSetNUW(next, 1);
  LLVMBuildBr(L->b, lp->header);
  LLVMAddIncoming(lp->phi, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(L->b, lp->exit);
}

void cgl_if_begin(cgl *L, cgl_if *c, LLVMValueRef cond) {
  LLVMBasicBlockRef then = cgl_block(L, "then");
  c->else_bb = cgl_block(L, "else");
  c->merge = NULL;
  c->has_else = 0;
  LLVMBuildCondBr(L->b, cond, then, c->else_bb);
  LLVMPositionBuilderAtEnd(L->b, then);
}

void cgl_else(cgl *L, cgl_if *c) {
  c->merge = cgl_block(L, "endif");
  c->has_else = 1;
  LLVMBuildBr(L->b, c->merge);
  LLVMPositionBuilderAtEnd(L->b, c->else_bb);
}

void cgl_if_end(cgl *L, cgl_if *c) {
  if (!c->has_else) {
    /* no else: the else-block is the continuation */
    LLVMBuildBr(L->b, c->else_bb);
    LLVMPositionBuilderAtEnd(L->b, c->else_bb);
    return;
  }
  LLVMBuildBr(L->b, c->merge);
  LLVMPositionBuilderAtEnd(L->b, c->merge);
}

/* ---- math -------------------------------------------------------------------------------- */

int cgl_is_fp(LLVMTypeRef t) {
  LLVMTypeKind k = LLVMGetTypeKind(t);
  return k == LLVMFloatTypeKind || k == LLVMDoubleTypeKind || k == LLVMHalfTypeKind ||
         k == LLVMBFloatTypeKind;
}

LLVMValueRef cgl_intrinsic_n(cgl *L, const char *name, LLVMTypeRef *types, unsigned n_types,
                             LLVMValueRef *args, unsigned n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  KILN_ASSERT(id != 0);
  LLVMValueRef decl = LLVMGetIntrinsicDeclaration(L->mod, id, types, n_types);
  LLVMTypeRef ft = LLVMIntrinsicGetType(L->ctx, id, types, n_types);
  return LLVMBuildCall2(L->b, ft, decl, args, n, "");
}

LLVMValueRef cgl_intrinsic(cgl *L, const char *name, LLVMTypeRef t, LLVMValueRef *args,
                           unsigned n) {
  return cgl_intrinsic_n(L, name, &t, 1, args, n);
}

LLVMValueRef cgl_libm(cgl *L, const char *name, LLVMTypeRef t, LLVMValueRef *args, unsigned n) {
  LLVMTypeRef ps[4];
  KILN_ASSERT(n <= 4);
  for (unsigned i = 0; i < n; i++) ps[i] = t;
  LLVMValueRef fn = cgl_declare(L, name, t, ps, n, 0);
  cgl_mark_pure(L, fn);
  return cgl_call(L, fn, args, n);
}

/* Threads in the artifact: a small pool emitted into the module (LLVM IR
 * calling pthread_create, pthread_mutex_* and pthread_cond_*), and
 * cgk_parallel, which outlines a kernel's parallel loop into a task
 * function the pool runs.
 *
 * The pool (one per artifact, created lazily by the first parallel kernel
 * that asks for more than one thread):
 *   kiln_par_run(fn, ctx, n, scratch)  runs fn(ctx, t, scratch_t) for
 *       t = 0 .. n-1 on min(threads, n) threads, the caller included, and
 *       returns when all tasks are done. The np participants (the caller
 *       is participant 0, worker w participant w + 1) each own a
 *       contiguous range of tasks, [s*n/np, (s+1)*n/np), with its own
 *       atomic counter (kiln_par_slots, one cache line each): a
 *       participant runs its own range first, then takes what is left of
 *       the others' (s+1, s+2, ... mod np). Consecutive kernels thus give
 *       a thread the same part of the data (a layer's channels or rows)
 *       while it is in that core's cache, and a late or slow thread's
 *       tasks are still taken by the others. Only one call at a time uses
 *       the pool (an atomic busy flag); a call that finds it busy (another
 *       thread's run on its own workspace) runs its tasks on its own
 *       thread. The caller passes its scratch region (in its workspace);
 *       each pool thread has one of the module's scratch size, allocated
 *       when the thread starts.
 *   threads  NAME_set_threads(n) (n <= 0: the default); the default is
 *       $KILN_NUM_THREADS when set to a positive number, else the number
 *       of online CPUs (sysconf); both capped at CG_MAX_THREADS.
 *   workers  poll the job generation a while without the mutex
 *       (SPIN_POLLS, with the CPU's spin-wait hint; back-to-back kernels
 *       then skip the futex wake-up), then wait on a condition variable
 *       for a new job generation; those with an index below the job's
 *       `want` that wake while the job is open join it (counted in
 *       `active`) and take tasks. The caller, out of tasks, closes the
 *       job and waits until no thread is active, so a job never outlives
 *       its call (the context lives in the caller's frame) and a thread
 *       that wakes late costs the caller nothing (the caller too polls a
 *       while before it sleeps).
 *   shutdown a destructor (llvm.global_dtors, run by dlclose and exit)
 *       stops and joins the threads and frees their scratch.
 * State shared between threads is read and written under the mutex with
 * volatile accesses (so LLVM keeps every access where it is); the task
 * counters and the busy flag are atomics.
 *
 * Only Linux, FreeBSD and Darwin targets get a pool (pthreads and the
 * sysconf name for online CPUs known); elsewhere cgk_parallel emits the
 * tasks as a serial loop and NAME_set_threads only records its argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/kernels.h"

#define B (L->b)
#define SYNC_BYTES 128 /* room for pthread_mutex_t / pthread_cond_t on any libc */
#define SLOT_I64 8      /* a participant's task counter: one 64-byte line each */

/* ---- emitting a second function while one is open ---------------------------------------- */

typedef struct {
  LLVMValueRef fn;
  LLVMBasicBlockRef entry, block;
} fn_state;

static fn_state fn_save(cgl *L) {
  fn_state s = {L->fn, L->entry, LLVMGetInsertBlock(L->b)};
  return s;
}

static void fn_restore(cgl *L, fn_state s) {
  L->fn = s.fn;
  L->entry = s.entry;
  if (s.block) LLVMPositionBuilderAtEnd(L->b, s.block);
}

/* sysconf's name for the number of online CPUs, or -1 for targets without
 * a pool. */
static int target_nprocs_name(const cgl *L) {
  const char *t = L->triple;
  if (strstr(t, "-linux")) return 84;
  if (strstr(t, "-freebsd") || strstr(t, "-darwin") || strstr(t, "-macos")) return 58;
  return -1;
}

/* ---- pool state -------------------------------------------------------------------------- */

static LLVMValueRef global(cgl *L, const char *name, LLVMTypeRef t, unsigned align) {
  LLVMValueRef g = LLVMGetNamedGlobal(L->mod, name);
  if (g) return g;
  g = LLVMAddGlobal(L->mod, t, name);
  LLVMSetInitializer(g, LLVMConstNull(t));
  LLVMSetLinkage(g, LLVMInternalLinkage);
  if (align) LLVMSetAlignment(g, align);
  return g;
}

typedef struct {
  LLVMTypeRef t_word; /* intptr: size_t, long, pthread_t */
  LLVMValueRef threads, def, inited, busy, quit, nworkers;
  LLVMValueRef mutex, cwork, cdone;
  LLVMValueRef job_fn, job_ctx, job_n, gen, want, open, active;
  LLVMValueRef tids, wgen, wscratch, scratch_size;
  LLVMValueRef slots; /* per participant: next task of its range (64 bytes apart) */
} pool;

static void pool_globals(cgl *L, pool *p) {
  p->t_word = LLVMIntPtrTypeInContext(L->ctx, L->td);
  LLVMTypeRef sync = LLVMArrayType2(L->t_i8, SYNC_BYTES);
  p->threads = global(L, "kiln_par_threads", L->t_i32, 4);
  p->def = global(L, "kiln_par_default", L->t_i32, 4);
  p->inited = global(L, "kiln_par_inited", L->t_i32, 4);
  p->busy = global(L, "kiln_par_busy", L->t_i32, 4);
  p->quit = global(L, "kiln_par_quit", L->t_i32, 4);
  p->nworkers = global(L, "kiln_par_nworkers", L->t_i64, 8);
  p->mutex = global(L, "kiln_par_mutex", sync, 64);
  p->cwork = global(L, "kiln_par_cwork", sync, 64);
  p->cdone = global(L, "kiln_par_cdone", sync, 64);
  p->job_fn = global(L, "kiln_par_job_fn", L->t_ptr, 8);
  p->job_ctx = global(L, "kiln_par_job_ctx", L->t_ptr, 8);
  p->job_n = global(L, "kiln_par_job_n", L->t_i64, 8);
  p->gen = global(L, "kiln_par_gen", L->t_i64, 8);
  p->want = global(L, "kiln_par_want", L->t_i64, 8);
  p->open = global(L, "kiln_par_open", L->t_i64, 8);
  p->active = global(L, "kiln_par_active", L->t_i64, 8);
  p->tids = global(L, "kiln_par_tids", LLVMArrayType2(p->t_word, CG_MAX_THREADS), 8);
  p->wgen = global(L, "kiln_par_wgen", LLVMArrayType2(L->t_i64, CG_MAX_THREADS), 8);
  p->wscratch = global(L, "kiln_par_wscratch", LLVMArrayType2(L->t_ptr, CG_MAX_THREADS), 8);
  p->scratch_size = global(L, "kiln_par_scratch_size", L->t_i64, 8);
  p->slots = global(L, "kiln_par_slots", LLVMArrayType2(L->t_i64, CG_MAX_THREADS * SLOT_I64), 64);
}

static LLVMValueRef vload(cgl *L, LLVMTypeRef t, LLVMValueRef p) {
  LLVMValueRef v = LLVMBuildLoad2(B, t, p, "");
  LLVMSetVolatile(v, 1);
  return v;
}

static void vstore(cgl *L, LLVMValueRef v, LLVMValueRef p) {
  LLVMValueRef s = LLVMBuildStore(B, v, p);
  LLVMSetVolatile(s, 1);
}

static LLVMValueRef elem_ptr(cgl *L, LLVMTypeRef et, LLVMValueRef base, LLVMValueRef i) {
  return LLVMBuildGEP2(B, et, base, &i, 1, "");
}

static LLVMValueRef libc(cgl *L, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt, unsigned np,
                         LLVMValueRef *args) {
  LLVMValueRef fn = cgl_declare(L, name, ret, pt, np, 0);
  return cgl_call(L, fn, args, np);
}

static void call1(cgl *L, const char *name, LLVMValueRef a) {
  LLVMTypeRef pt = L->t_ptr;
  libc(L, name, L->t_i32, &pt, 1, &a);
}

static void lock(cgl *L, pool *p) { call1(L, "pthread_mutex_lock", p->mutex); }
static void unlock(cgl *L, pool *p) { call1(L, "pthread_mutex_unlock", p->mutex); }

static void cond_wait(cgl *L, LLVMValueRef c, LLVMValueRef m) {
  LLVMTypeRef pt[2] = {L->t_ptr, L->t_ptr};
  LLVMValueRef a[2] = {c, m};
  libc(L, "pthread_cond_wait", L->t_i32, pt, 2, a);
}

/* Spins before sleeping: a worker waiting for a job and the caller waiting
 * for the workers poll (with the CPU's spin-wait hint) this many times
 * before blocking on the condition variable, so that back-to-back kernels
 * do not pay a futex wake-up each. Bounded: 2048 polls are about 40 us
 * on x86 (pause is ~20 ns on Zen), so idle threads soon sleep. Measured on
 * a 2-core znver5 VM: 512 and 8192 polls were no better. */
#define SPIN_POLLS 2048

static void spin_hint(cgl *L) {
  const char *name = NULL;
  LLVMValueRef arg = NULL;
  if (!strncmp(L->triple, "x86_64", 6) || !strncmp(L->triple, "i686", 4) ||
      !strncmp(L->triple, "i386", 4))
    name = "llvm.x86.sse2.pause";
  else if (!strncmp(L->triple, "aarch64", 7) || !strncmp(L->triple, "arm64", 5)) {
    name = "llvm.aarch64.hint";
    arg = cgl_i32(L, 1); /* yield */
  }
  if (!name) return;
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(L->mod, id, NULL, 0);
  LLVMBuildCall2(B, LLVMGlobalGetValueType(fn), fn, arg ? &arg : NULL, arg ? 1 : 0, "");
}

/* Without the mutex: polls *ptr (i64) up to SPIN_POLLS times while it
 * equals `same` (or, with `positive`, while it is > 0) and *quit is 0. */
static void spin(cgl *L, LLVMValueRef ptr, LLVMValueRef same, int positive, LLVMValueRef quit) {
  LLVMValueRef i = cgl_alloca(L, L->t_i64, "spin");
  LLVMBuildStore(B, cgl_i64(L, 0), i);
  LLVMBasicBlockRef head = cgl_block(L, "spin"), body = cgl_block(L, "spin.poll"),
                    out = cgl_block(L, "spin.out");
  LLVMBuildBr(B, head);
  LLVMPositionBuilderAtEnd(B, head);
  LLVMValueRef n = LLVMBuildLoad2(B, L->t_i64, i, "");
  LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, n, cgl_i64(L, SPIN_POLLS), ""), body, out);
  LLVMPositionBuilderAtEnd(B, body);
  LLVMValueRef v = LLVMBuildLoad2(B, L->t_i64, ptr, "");
  LLVMSetOrdering(v, LLVMAtomicOrderingMonotonic);
  LLVMSetAlignment(v, 8);
  LLVMValueRef wait = positive ? LLVMBuildICmp(B, LLVMIntSGT, v, cgl_i64(L, 0), "")
                               : LLVMBuildICmp(B, LLVMIntEQ, v, same, "");
  if (quit) {
    LLVMValueRef q = LLVMBuildLoad2(B, L->t_i32, quit, "");
    LLVMSetOrdering(q, LLVMAtomicOrderingMonotonic);
    LLVMSetAlignment(q, 4);
    wait = LLVMBuildAnd(B, wait, LLVMBuildICmp(B, LLVMIntEQ, q, cgl_i32(L, 0), ""), "");
  }
  LLVMBasicBlockRef again = cgl_block(L, "spin.again");
  LLVMBuildCondBr(B, wait, again, out);
  LLVMPositionBuilderAtEnd(B, again);
  spin_hint(L);
  LLVMBuildStore(B, LLVMBuildAdd(B, n, cgl_i64(L, 1), ""), i);
  LLVMBuildBr(B, head);
  LLVMPositionBuilderAtEnd(B, out);
}

static LLVMTypeRef task_fn_type(cgl *L) {
  LLVMTypeRef pt[3] = {L->t_ptr, L->t_i64, L->t_ptr};
  return LLVMFunctionType(L->t_void, pt, 3, 0);
}

/* First task of participant s's range: s * n / np. */
static LLVMValueRef range_lo(cgl *L, LLVMValueRef s, LLVMValueRef n, LLVMValueRef np) {
  return LLVMBuildSDiv(B, LLVMBuildMul(B, s, n, ""), np, "");
}

/* Participant `me` of np: runs the tasks of its own range, then those left
 * in the others' ranges (me + 1, me + 2, ... mod np): for each range s,
 * while ((t = slot[s]++) < hi(s)) fn(ctx, t, scratch). */
static void take_tasks(cgl *L, pool *p, LLVMValueRef fn, LLVMValueRef ctx, LLVMValueRef n,
                       LLVMValueRef scratch, LLVMValueRef me, LLVMValueRef np) {
  cgl_loop lj;
  LLVMValueRef j = cgl_loop_begin(L, &lj, cgl_i64(L, 0), np, "steal");
  LLVMValueRef sl = LLVMBuildSRem(B, LLVMBuildAdd(B, me, j, ""), np, "");
  LLVMValueRef hi = range_lo(L, LLVMBuildAdd(B, sl, cgl_i64(L, 1), ""), n, np);
  LLVMValueRef ctr = elem_ptr(L, L->t_i64, p->slots, LLVMBuildMul(B, sl, cgl_i64(L, SLOT_I64), ""));
  LLVMBasicBlockRef loop = cgl_block(L, "take"), run = cgl_block(L, "run"),
                    out = cgl_block(L, "out");
  LLVMBuildBr(B, loop);
  LLVMPositionBuilderAtEnd(B, loop);
  LLVMValueRef t = LLVMBuildAtomicRMW(B, LLVMAtomicRMWBinOpAdd, ctr, cgl_i64(L, 1),
                                      LLVMAtomicOrderingMonotonic, 0);
  LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, t, hi, ""), run, out);
  LLVMPositionBuilderAtEnd(B, run);
  LLVMValueRef args[3] = {ctx, t, scratch};
  LLVMBuildCall2(B, task_fn_type(L), fn, args, 3, "");
  LLVMBuildBr(B, loop);
  LLVMPositionBuilderAtEnd(B, out);
  cgl_loop_end(L, &lj);
}

/* i64 kiln_par_nthreads(void): the thread count now in effect. */
static LLVMValueRef emit_nthreads(cgl *L, pool *p) {
  LLVMValueRef fn = LLVMGetNamedFunction(L->mod, "kiln_par_nthreads");
  if (fn) return fn;
  fn_state s = fn_save(L);
  fn = cgl_func_begin(L, "kiln_par_nthreads", L->t_i64, NULL, 0, LLVMInternalLinkage);
  LLVMValueRef res = cgl_alloca(L, L->t_i64, "n");
  LLVMValueRef t = LLVMBuildSExt(B, vload(L, L->t_i32, p->threads), L->t_i64, "");
  LLVMBuildStore(B, t, res);
  cgl_if c;
  cgl_if_begin(L, &c, LLVMBuildICmp(B, LLVMIntSLE, t, cgl_i64(L, 0), ""));
  {
    LLVMValueRef d = LLVMBuildSExt(B, vload(L, L->t_i32, p->def), L->t_i64, "");
    LLVMBuildStore(B, d, res);
    cgl_if c2;
    cgl_if_begin(L, &c2, LLVMBuildICmp(B, LLVMIntSLE, d, cgl_i64(L, 0), ""));
    {
      /* $KILN_NUM_THREADS, else the online CPUs */
      LLVMValueRef nv = cgl_alloca(L, L->t_i64, "nv");
      LLVMTypeRef pt = L->t_ptr;
      LLVMValueRef name = cgl_const_cstring(L, "KILN_NUM_THREADS");
      LLVMValueRef env = libc(L, "getenv", L->t_ptr, &pt, 1, &name);
      LLVMBuildStore(B, cgl_i64(L, 0), nv);
      cgl_if c3;
      cgl_if_begin(L, &c3, LLVMBuildICmp(B, LLVMIntNE, env, cgl_null(L), ""));
      LLVMTypeRef spt[3] = {L->t_ptr, L->t_ptr, L->t_i32};
      LLVMValueRef sa[3] = {env, cgl_null(L), cgl_i32(L, 10)};
      LLVMValueRef v = libc(L, "strtol", p->t_word, spt, 3, sa);
      LLVMBuildStore(B, LLVMBuildSExtOrBitCast(B, v, L->t_i64, ""), nv);
      cgl_if_end(L, &c3);
      LLVMValueRef got = LLVMBuildLoad2(B, L->t_i64, nv, "");
      cgl_if c4;
      cgl_if_begin(L, &c4, LLVMBuildICmp(B, LLVMIntSLE, got, cgl_i64(L, 0), ""));
      LLVMTypeRef it = L->t_i32;
      LLVMValueRef nm = cgl_i32(L, target_nprocs_name(L));
      LLVMValueRef cpus = libc(L, "sysconf", p->t_word, &it, 1, &nm);
      LLVMBuildStore(B, LLVMBuildSExtOrBitCast(B, cpus, L->t_i64, ""), nv);
      cgl_if_end(L, &c4);
      got = LLVMBuildLoad2(B, L->t_i64, nv, "");
      got = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, got, cgl_i64(L, 1), ""),
                            cgl_i64(L, 1), got, "");
      got = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, got, cgl_i64(L, CG_MAX_THREADS), ""),
                            cgl_i64(L, CG_MAX_THREADS), got, "");
      vstore(L, LLVMBuildTrunc(B, got, L->t_i32, ""), p->def);
      LLVMBuildStore(B, got, res);
    }
    cgl_if_end(L, &c2);
  }
  cgl_if_end(L, &c);
  LLVMValueRef r = LLVMBuildLoad2(B, L->t_i64, res, "");
  r = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, r, cgl_i64(L, CG_MAX_THREADS), ""),
                      cgl_i64(L, CG_MAX_THREADS), r, "");
  LLVMBuildRet(B, r);
  fn_restore(L, s);
  return fn;
}

/* ptr kiln_par_worker(ptr index) */
static LLVMValueRef emit_worker(cgl *L, pool *p) {
  LLVMTypeRef pt = L->t_ptr;
  LLVMValueRef fn = cgl_func_begin(L, "kiln_par_worker", L->t_ptr, &pt, 1, LLVMInternalLinkage);
  LLVMValueRef idx = LLVMBuildPtrToInt(B, LLVMGetParam(fn, 0), L->t_i64, "i");
  LLVMValueRef my = cgl_alloca(L, L->t_i64, "my");
  LLVMBuildStore(B, vload(L, L->t_i64, elem_ptr(L, L->t_i64, p->wgen, idx)), my);
  LLVMValueRef scratch = vload(L, L->t_ptr, elem_ptr(L, L->t_ptr, p->wscratch, idx));
  lock(L, p);
  LLVMBasicBlockRef wait = cgl_block(L, "wait"), sleep = cgl_block(L, "sleep"),
                    woke = cgl_block(L, "woke"), quit = cgl_block(L, "quit"),
                    job = cgl_block(L, "job"), mine = cgl_block(L, "mine");
  LLVMBuildBr(B, wait);
  /* wait: while (gen == my && !quit) cond_wait */
  LLVMPositionBuilderAtEnd(B, wait);
  LLVMValueRef q = LLVMBuildICmp(B, LLVMIntNE, vload(L, L->t_i32, p->quit), cgl_i32(L, 0), "");
  LLVMBuildCondBr(B, q, quit, woke);
  LLVMPositionBuilderAtEnd(B, woke);
  LLVMValueRef g = vload(L, L->t_i64, p->gen);
  LLVMValueRef same = LLVMBuildICmp(B, LLVMIntEQ, g, LLVMBuildLoad2(B, L->t_i64, my, ""), "");
  LLVMBuildCondBr(B, same, sleep, job);
  LLVMPositionBuilderAtEnd(B, sleep);
  {
    /* spin a while without the mutex, then sleep unless the job came */
    LLVMValueRef mine_gen = LLVMBuildLoad2(B, L->t_i64, my, "");
    unlock(L, p);
    spin(L, p->gen, mine_gen, 0, p->quit);
    lock(L, p);
    LLVMValueRef idle = LLVMBuildICmp(B, LLVMIntEQ, vload(L, L->t_i64, p->gen), mine_gen, "");
    idle = LLVMBuildAnd(
        B, idle, LLVMBuildICmp(B, LLVMIntEQ, vload(L, L->t_i32, p->quit), cgl_i32(L, 0), ""), "");
    cgl_if w;
    cgl_if_begin(L, &w, idle);
    cond_wait(L, p->cwork, p->mutex);
    cgl_if_end(L, &w);
  }
  LLVMBuildBr(B, wait);
  /* a new job: take part while it is open, when idx < want */
  LLVMPositionBuilderAtEnd(B, job);
  LLVMBuildStore(B, g, my);
  LLVMValueRef in = LLVMBuildICmp(B, LLVMIntSLT, idx, vload(L, L->t_i64, p->want), "");
  in = LLVMBuildAnd(
      B, in, LLVMBuildICmp(B, LLVMIntNE, vload(L, L->t_i64, p->open), cgl_i64(L, 0), ""), "");
  LLVMBuildCondBr(B, in, mine, wait);
  LLVMPositionBuilderAtEnd(B, mine);
  LLVMValueRef jf = vload(L, L->t_ptr, p->job_fn), jc = vload(L, L->t_ptr, p->job_ctx);
  LLVMValueRef jn = vload(L, L->t_i64, p->job_n);
  LLVMValueRef jnp = LLVMBuildAdd(B, vload(L, L->t_i64, p->want), cgl_i64(L, 1), "");
  vstore(L, LLVMBuildAdd(B, vload(L, L->t_i64, p->active), cgl_i64(L, 1), ""), p->active);
  unlock(L, p);
  take_tasks(L, p, jf, jc, jn, scratch, LLVMBuildAdd(B, idx, cgl_i64(L, 1), ""), jnp);
  lock(L, p);
  LLVMValueRef d = LLVMBuildSub(B, vload(L, L->t_i64, p->active), cgl_i64(L, 1), "");
  vstore(L, d, p->active);
  cgl_if last;
  cgl_if_begin(L, &last, LLVMBuildICmp(B, LLVMIntEQ, d, cgl_i64(L, 0), ""));
  call1(L, "pthread_cond_broadcast", p->cdone);
  cgl_if_end(L, &last);
  LLVMBuildBr(B, wait);
  LLVMPositionBuilderAtEnd(B, quit);
  unlock(L, p);
  LLVMBuildRet(B, cgl_null(L));
  return fn;
}

static void sync_init(cgl *L, pool *p) {
  LLVMTypeRef pt[2] = {L->t_ptr, L->t_ptr};
  LLVMValueRef a[2] = {p->mutex, cgl_null(L)};
  libc(L, "pthread_mutex_init", L->t_i32, pt, 2, a);
  a[0] = p->cwork;
  libc(L, "pthread_cond_init", L->t_i32, pt, 2, a);
  a[0] = p->cdone;
  libc(L, "pthread_cond_init", L->t_i32, pt, 2, a);
}

/* void kiln_par_shutdown(void): the module destructor. */
static void emit_shutdown(cgl *L, pool *p) {
  LLVMValueRef fn = cgl_func_begin(L, "kiln_par_shutdown", L->t_void, NULL, 0, LLVMInternalLinkage);
  cgl_if c;
  cgl_if_begin(L, &c, LLVMBuildICmp(B, LLVMIntNE, vload(L, L->t_i32, p->inited), cgl_i32(L, 0), ""));
  lock(L, p);
  vstore(L, cgl_i32(L, 1), p->quit);
  call1(L, "pthread_cond_broadcast", p->cwork);
  unlock(L, p);
  cgl_loop lp;
  LLVMValueRef i = cgl_loop_begin(L, &lp, cgl_i64(L, 0), vload(L, L->t_i64, p->nworkers), "w");
  LLVMTypeRef jt[2] = {p->t_word, L->t_ptr};
  LLVMValueRef ja[2] = {vload(L, p->t_word, elem_ptr(L, p->t_word, p->tids, i)), cgl_null(L)};
  libc(L, "pthread_join", L->t_i32, jt, 2, ja);
  LLVMTypeRef ft = L->t_ptr;
  LLVMValueRef s = vload(L, L->t_ptr, elem_ptr(L, L->t_ptr, p->wscratch, i));
  libc(L, "free", L->t_void, &ft, 1, &s);
  cgl_loop_end(L, &lp);
  vstore(L, cgl_i64(L, 0), p->nworkers);
  vstore(L, cgl_i32(L, 0), p->quit);
  call1(L, "pthread_mutex_destroy", p->mutex);
  call1(L, "pthread_cond_destroy", p->cwork);
  call1(L, "pthread_cond_destroy", p->cdone);
  vstore(L, cgl_i32(L, 0), p->inited);
  cgl_if_end(L, &c);
  LLVMBuildRetVoid(B);
  /* @llvm.global_dtors = appending [{ i32 65535, ptr @kiln_par_shutdown, ptr null }] */
  LLVMValueRef ev[3] = {cgl_i32(L, 65535), fn, cgl_null(L)};
  LLVMValueRef e = LLVMConstStructInContext(L->ctx, ev, 3, 0);
  LLVMValueRef arr = LLVMConstArray2(LLVMTypeOf(e), &e, 1);
  LLVMValueRef g = LLVMAddGlobal(L->mod, LLVMTypeOf(arr), "llvm.global_dtors");
  LLVMSetInitializer(g, arr);
  LLVMSetLinkage(g, LLVMAppendingLinkage);
}

/* void kiln_par_run(ptr fn, ptr ctx, i64 n, ptr scratch) */
static LLVMValueRef emit_run(cgl *L) {
  LLVMValueRef fn = LLVMGetNamedFunction(L->mod, "kiln_par_run");
  if (fn) return fn;
  pool p;
  pool_globals(L, &p);
  fn_state s = fn_save(L);
  LLVMValueRef nthreads = emit_nthreads(L, &p);
  LLVMValueRef worker = emit_worker(L, &p);
  emit_shutdown(L, &p);

  LLVMTypeRef pt[4] = {L->t_ptr, L->t_ptr, L->t_i64, L->t_ptr};
  fn = cgl_func_begin(L, "kiln_par_run", L->t_void, pt, 4, LLVMInternalLinkage);
  LLVMValueRef tf = LLVMGetParam(fn, 0), ctx = LLVMGetParam(fn, 1), n = LLVMGetParam(fn, 2),
               scratch = LLVMGetParam(fn, 3);
  LLVMBasicBlockRef serial = cgl_block(L, "serial"), try_ = cgl_block(L, "try"),
                    par = cgl_block(L, "par");
  LLVMValueRef nt = cgl_call(L, nthreads, NULL, 0);
  nt = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, n, nt, ""), n, nt, "");
  LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLE, nt, cgl_i64(L, 1), ""), serial, try_);
  LLVMPositionBuilderAtEnd(B, try_);
  LLVMValueRef cx =
      LLVMBuildAtomicCmpXchg(B, p.busy, cgl_i32(L, 0), cgl_i32(L, 1),
                             LLVMAtomicOrderingAcquire, LLVMAtomicOrderingMonotonic, 0);
  LLVMBuildCondBr(B, LLVMBuildExtractValue(B, cx, 1, ""), par, serial);

  LLVMPositionBuilderAtEnd(B, par);
  cgl_if c;
  cgl_if_begin(L, &c, LLVMBuildICmp(B, LLVMIntEQ, vload(L, L->t_i32, p.inited), cgl_i32(L, 0), ""));
  sync_init(L, &p);
  vstore(L, cgl_i32(L, 1), p.inited);
  cgl_if_end(L, &c);
  lock(L, &p);
  LLVMValueRef want = LLVMBuildSub(B, nt, cgl_i64(L, 1), "want");
  /* start threads up to want: for (w = nworkers; w < want; w++) */
  {
    LLVMBasicBlockRef head = cgl_block(L, "spawn"), body = cgl_block(L, "spawn.body"),
                      alloc_ok = cgl_block(L, "spawn.alloc"), started = cgl_block(L, "spawn.ok"),
                      fail = cgl_block(L, "spawn.fail"), done = cgl_block(L, "spawn.done");
    LLVMBuildBr(B, head);
    LLVMPositionBuilderAtEnd(B, head);
    LLVMValueRef w = vload(L, L->t_i64, p.nworkers);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, w, want, ""), body, done);
    LLVMPositionBuilderAtEnd(B, body);
    /* scratch: aligned_alloc(64, size rounded up to 64), none for size 0 */
    LLVMValueRef sz = vload(L, L->t_i64, p.scratch_size);
    LLVMValueRef rounded =
        LLVMBuildAnd(B, LLVMBuildAdd(B, sz, cgl_i64(L, 63), ""), cgl_i64(L, ~(int64_t)63), "");
    LLVMValueRef mem = cgl_alloca(L, L->t_ptr, "mem");
    LLVMBuildStore(B, cgl_null(L), mem);
    cgl_if ca;
    cgl_if_begin(L, &ca, LLVMBuildICmp(B, LLVMIntSGT, sz, cgl_i64(L, 0), ""));
    LLVMTypeRef at[2] = {p.t_word, p.t_word};
    LLVMValueRef aa[2] = {LLVMConstInt(p.t_word, 64, 0),
                          LLVMBuildTruncOrBitCast(B, rounded, p.t_word, "")};
    LLVMBuildStore(B, libc(L, "aligned_alloc", L->t_ptr, at, 2, aa), mem);
    cgl_if_end(L, &ca);
    LLVMValueRef m = LLVMBuildLoad2(B, L->t_ptr, mem, "");
    LLVMValueRef bad = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntSGT, sz, cgl_i64(L, 0), ""),
                                    LLVMBuildICmp(B, LLVMIntEQ, m, cgl_null(L), ""), "");
    LLVMBuildCondBr(B, bad, done, alloc_ok);
    LLVMPositionBuilderAtEnd(B, alloc_ok);
    vstore(L, m, elem_ptr(L, L->t_ptr, p.wscratch, w));
    vstore(L, vload(L, L->t_i64, p.gen), elem_ptr(L, L->t_i64, p.wgen, w));
    LLVMTypeRef ct[4] = {L->t_ptr, L->t_ptr, L->t_ptr, L->t_ptr};
    LLVMValueRef ca4[4] = {elem_ptr(L, p.t_word, p.tids, w), cgl_null(L), worker,
                           LLVMBuildIntToPtr(B, w, L->t_ptr, "")};
    LLVMValueRef rc = libc(L, "pthread_create", L->t_i32, ct, 4, ca4);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, rc, cgl_i32(L, 0), ""), started, fail);
    LLVMPositionBuilderAtEnd(B, started);
    vstore(L, LLVMBuildAdd(B, w, cgl_i64(L, 1), ""), p.nworkers);
    LLVMBuildBr(B, head);
    LLVMPositionBuilderAtEnd(B, fail);
    LLVMTypeRef ft = L->t_ptr;
    libc(L, "free", L->t_void, &ft, 1, &m);
    LLVMBuildBr(B, done);
    LLVMPositionBuilderAtEnd(B, done);
  }
  LLVMValueRef nw = vload(L, L->t_i64, p.nworkers);
  want = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, nw, want, ""), nw, want, "");
  vstore(L, tf, p.job_fn);
  vstore(L, ctx, p.job_ctx);
  vstore(L, n, p.job_n);
  LLVMValueRef npart = LLVMBuildAdd(B, want, cgl_i64(L, 1), "np");
  {
    /* each participant's counter at the start of its range */
    cgl_loop ls;
    LLVMValueRef sl = cgl_loop_begin(L, &ls, cgl_i64(L, 0), npart, "slot");
    LLVMValueRef st = LLVMBuildStore(
        B, range_lo(L, sl, n, npart),
        elem_ptr(L, L->t_i64, p.slots, LLVMBuildMul(B, sl, cgl_i64(L, SLOT_I64), "")));
    LLVMSetOrdering(st, LLVMAtomicOrderingMonotonic);
    LLVMSetAlignment(st, 8);
    cgl_loop_end(L, &ls);
  }
  vstore(L, cgl_i64(L, 0), p.active);
  vstore(L, cgl_i64(L, 1), p.open);
  vstore(L, want, p.want);
  vstore(L, LLVMBuildAdd(B, vload(L, L->t_i64, p.gen), cgl_i64(L, 1), ""), p.gen);
  call1(L, "pthread_cond_broadcast", p.cwork);
  unlock(L, &p);
  take_tasks(L, &p, tf, ctx, n, scratch, cgl_i64(L, 0), npart);
  /* close the job (threads that wake up later stay out) and wait for
   * those that joined */
  lock(L, &p);
  vstore(L, cgl_i64(L, 0), p.open);
  {
    LLVMBasicBlockRef head = cgl_block(L, "join"), sleep = cgl_block(L, "join.wait"),
                      done = cgl_block(L, "join.done");
    LLVMBuildBr(B, head);
    LLVMPositionBuilderAtEnd(B, head);
    LLVMValueRef d = vload(L, L->t_i64, p.active);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSGT, d, cgl_i64(L, 0), ""), sleep, done);
    LLVMPositionBuilderAtEnd(B, sleep);
    unlock(L, &p);
    spin(L, p.active, NULL, 1, NULL);
    lock(L, &p);
    cgl_if w;
    LLVMValueRef busy = vload(L, L->t_i64, p.active);
    cgl_if_begin(L, &w, LLVMBuildICmp(B, LLVMIntSGT, busy, cgl_i64(L, 0), ""));
    cond_wait(L, p.cdone, p.mutex);
    cgl_if_end(L, &w);
    LLVMBuildBr(B, head);
    LLVMPositionBuilderAtEnd(B, done);
  }
  unlock(L, &p);
  LLVMValueRef rel = LLVMBuildStore(B, cgl_i32(L, 0), p.busy);
  LLVMSetOrdering(rel, LLVMAtomicOrderingRelease);
  LLVMSetAlignment(rel, 4);
  LLVMBuildRetVoid(B);

  /* serial: every task on this thread */
  LLVMPositionBuilderAtEnd(B, serial);
  cgl_loop lp;
  LLVMValueRef t = cgl_loop_begin(L, &lp, cgl_i64(L, 0), n, "t");
  LLVMValueRef args[3] = {ctx, t, scratch};
  LLVMBuildCall2(B, task_fn_type(L), tf, args, 3, "");
  cgl_loop_end(L, &lp);
  LLVMBuildRetVoid(B);
  fn_restore(L, s);
  return fn;
}

void cg_par_finish(cgl *L, const char *name, int64_t scratch_bytes) {
  pool p;
  int has_pool = LLVMGetNamedFunction(L->mod, "kiln_par_run") != NULL;
  LLVMValueRef threads = global(L, "kiln_par_threads", L->t_i32, 4);
  if (has_pool) {
    pool_globals(L, &p);
    LLVMSetInitializer(p.scratch_size, cgl_i64(L, scratch_bytes));
  }
  /* int NAME_set_threads(int n) */
  char fname[300];
  snprintf(fname, sizeof fname, "%s_set_threads", name);
  LLVMTypeRef it = L->t_i32;
  LLVMValueRef fn = cgl_func_begin(L, fname, L->t_i32, &it, 1, LLVMExternalLinkage);
  LLVMValueRef n = LLVMGetParam(fn, 0);
  n = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, n, cgl_i32(L, 0), ""), cgl_i32(L, 0), n, "");
  n = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSGT, n, cgl_i32(L, CG_MAX_THREADS), ""),
                      cgl_i32(L, CG_MAX_THREADS), n, "");
  LLVMValueRef st = LLVMBuildStore(B, n, threads);
  LLVMSetVolatile(st, 1);
  if (has_pool) {
    LLVMValueRef r = cgl_call(L, LLVMGetNamedFunction(L->mod, "kiln_par_nthreads"), NULL, 0);
    LLVMBuildRet(B, LLVMBuildTrunc(B, r, L->t_i32, ""));
  } else {
    /* no parallel kernel: one thread whatever is asked */
    LLVMBuildRet(B, cgl_i32(L, 1));
  }
}

/* ---- outlining --------------------------------------------------------------------------- */

LLVMValueRef cgk_arg(cg_kernel *k, unsigned i) {
  if (k->args) {
    KILN_ASSERT(i < k->n_args);
    return k->args[i];
  }
  return LLVMGetParam(k->L->fn, i);
}

LLVMValueRef cgk_epilogue(cg_kernel *k, LLVMValueRef v, LLVMValueRef idx) {
  return k->epilogue ? k->epilogue(k, v, idx, k->epilogue_user) : v;
}

static LLVMValueRef remap(LLVMValueRef v, LLVMValueRef *from, LLVMValueRef *to, unsigned n) {
  if (!v) return NULL;
  for (unsigned i = 0; i < n; i++)
    if (from[i] == v) return to[i];
  KILN_ASSERT(!"cgk_parallel: a kernel buffer that is not a parameter");
  return NULL;
}

static void copy_param_attrs(LLVMValueRef from, unsigned from_idx, LLVMValueRef to,
                             unsigned to_idx) {
  unsigned n = LLVMGetAttributeCountAtIndex(from, from_idx);
  if (!n) return;
  LLVMAttributeRef *a = kiln_xcalloc(n, sizeof *a);
  LLVMGetAttributesAtIndex(from, from_idx, a);
  for (unsigned i = 0; i < n; i++) LLVMAddAttributeAtIndex(to, to_idx, a[i]);
  free(a);
}

void cgk_parallel(cg_kernel *k, int64_t n, cgk_task_body body, void *user) {
  cgl *L = k->L;
  if (n <= 0) return;
  if (n == 1) {
    body(k, cgl_i64(L, 0), user);
    return;
  }
  KILN_ASSERT(!k->args); /* no nesting */
  if (target_nprocs_name(L) < 0) {
    /* no pool on this target: a serial loop */
    cgl_loop lp;
    LLVMValueRef t = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, n), "task");
    body(k, t, user);
    cgl_loop_end(L, &lp);
    return;
  }
  LLVMValueRef run = emit_run(L);
  LLVMValueRef kfn = L->fn;
  unsigned np = LLVMCountParams(kfn);
  LLVMValueRef *params = kiln_xcalloc(np + 1, sizeof *params);
  LLVMTypeRef *pt = kiln_xcalloc(np + 3, sizeof *pt);
  LLVMGetParams(kfn, params);
  for (unsigned i = 0; i < np; i++) pt[i] = LLVMTypeOf(params[i]);
  /* the context: the kernel's parameters, in the kernel's frame */
  LLVMTypeRef ctx_t = LLVMStructTypeInContext(L->ctx, pt, np, 0);
  LLVMValueRef ctx = cgl_alloca(L, ctx_t, "par.ctx");
  for (unsigned i = 0; i < np; i++)
    LLVMBuildStore(B, params[i], LLVMBuildStructGEP2(B, ctx_t, ctx, i, ""));

  fn_state saved = fn_save(L);
  char name[256];
  size_t nl;
  const char *kname = LLVMGetValueName2(kfn, &nl);
  /* a fresh suffix in this module (names stay reproducible) */
  int id = 0;
  for (;; id++) {
    snprintf(name, sizeof name, "%.*s.task%d", (int)(nl > 200 ? 200 : nl), kname, id);
    if (!LLVMGetNamedFunction(L->mod, name)) break;
  }
  /* body(params..., i64 t, ptr scratch): the kernel's parameter attributes
   * (noalias, readonly) carry over */
  snprintf(name, sizeof name, "%.*s.task%d", (int)(nl > 200 ? 200 : nl), kname, id);
  pt[np] = L->t_i64;
  pt[np + 1] = L->t_ptr;
  LLVMValueRef bfn = cgl_func_begin(L, name, L->t_void, pt, np + 2, LLVMInternalLinkage);
  for (unsigned i = 0; i < np; i++) copy_param_attrs(kfn, i + 1, bfn, i + 1);
  LLVMValueRef *bargs = kiln_xcalloc(np + 3, sizeof *bargs);
  LLVMGetParams(bfn, bargs);
  cg_kernel saved_k = *k;
  LLVMValueRef *in = kiln_xcalloc((size_t)k->n_in + 1, sizeof *in);
  LLVMValueRef *out = kiln_xcalloc((size_t)k->n_out + 1, sizeof *out);
  for (int i = 0; i < k->n_in; i++) in[i] = remap(k->in[i], params, bargs, np);
  for (int j = 0; j < k->n_out; j++) out[j] = remap(k->out[j], params, bargs, np);
  k->in = in;
  k->out = out;
  k->blob = remap(k->blob, params, bargs, np);
  k->scratch = k->scratch ? LLVMGetParam(bfn, np + 1) : NULL;
  k->args = bargs;
  k->n_args = np;
  body(k, LLVMGetParam(bfn, np), user);
  LLVMBuildRetVoid(B);
  free(in);
  free(out);
  *k = saved_k;

  /* thunk(ptr ctx, i64 t, ptr scratch): unpacks the context */
  snprintf(name, sizeof name, "%.*s.thunk%d", (int)(nl > 200 ? 200 : nl), kname, id);
  LLVMTypeRef tt[3] = {L->t_ptr, L->t_i64, L->t_ptr};
  LLVMValueRef thunk = cgl_func_begin(L, name, L->t_void, tt, 3, LLVMInternalLinkage);
  LLVMValueRef *cargs = kiln_xcalloc(np + 3, sizeof *cargs);
  for (unsigned i = 0; i < np; i++)
    cargs[i] = LLVMBuildLoad2(B, pt[i],
                              LLVMBuildStructGEP2(B, ctx_t, LLVMGetParam(thunk, 0), i, ""), "");
  cargs[np] = LLVMGetParam(thunk, 1);
  cargs[np + 1] = LLVMGetParam(thunk, 2);
  cgl_call(L, bfn, cargs, np + 2);
  LLVMBuildRetVoid(B);
  fn_restore(L, saved);

  LLVMValueRef a[4] = {thunk, ctx, cgl_i64(L, n), k->scratch ? k->scratch : cgl_null(L)};
  cgl_call(L, run, a, 4);
  free(params);
  free(pt);
  free(bargs);
  free(cargs);
}

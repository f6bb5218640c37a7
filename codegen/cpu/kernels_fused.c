/* Fused kernels: one LLVM function per `fused` node (passes/fuse.c), by the
 * node's kind:
 *
 *   elementwise  one loop nest over the results' shape; every input is
 *                read through its own broadcast strides and every body op
 *                is computed per element in registers; only the node's
 *                results are stored.
 *   contraction  the body's matmul / conv / conv_transpose is emitted by
 *                its own emitter (the GEMM, or the simple loops) with an
 *                epilogue (kernels.h, cg_epilogue_fn): the elementwise ops
 *                after it run on each finished element before the store.
 *                An emitter that does not call the epilogue gets it applied
 *                in a loop over its result afterwards (correct, slower).
 *   reduction    loops over the kept axes and, inside, the reduced ones:
 *                the prologue (the ops computing the reduction's input) is
 *                evaluated per element in each pass over the input, the
 *                reduction accumulates in f64 in the interpreter's order
 *                (as kernels_reduce.c), and the epilogue runs on each
 *                result before the store.
 *
 * Values inside a kernel never touch memory. One body op on one element is
 * emitted by the op's own emitter on rank-0 operands held in allocas, which
 * SROA turns into registers: the fused kernel computes exactly what the
 * unfused kernels compute, and any elementwise op codegen supports can be
 * fused.
 *
 * Body values that are the node's results are stored at their element;
 * values of one-element body constants are immediates.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/kernels.h"

#define BLD (k->L->b)

/* ---- the body ---------------------------------------------------------------------------- */

typedef struct {
  const ir_graph *b;
  int n_in, n_out; /* the fused node's */
  int *pin;        /* body value -> fused input index, -1 */
  int anchor;      /* body node: the contraction or reduction, -1 */
  char *pro;       /* body node: in the prologue (computes the anchor's input 0) */
} fbody;

static void fbody_free(fbody *f) {
  free(f->pin);
  free(f->pro);
}

static int fused_unsupported(cg_kernel *k, const char *msg) {
  return cgk_unsupported(k, "%s", msg);
}

static int same_dims(const ir_type *a, const ir_type *b) {
  return a->rank == b->rank && !memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank);
}

/* Fused inputs read by the body nodes sel[] marks (sel NULL: by every node
 * but the anchor; with_anchor: also by the anchor's input 0, or, for
 * `params`, by its other inputs), into used[n_in]. */
static void inputs_read(const fbody *f, const char *sel, int want, char *used) {
  const ir_graph *b = f->b;
  for (int i = 0; i < b->n_nodes; i++) {
    const ir_node *n = &b->nodes[i];
    if (n->dead || i == f->anchor || (sel && sel[i] != want)) continue;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0 && f->pin[n->in[k]] >= 0) used[f->pin[n->in[k]]] = 1;
  }
  for (int j = 0; j < b->n_outputs; j++)
    if (f->pin[b->outputs[j]] >= 0) used[f->pin[b->outputs[j]]] = 1;
}

static int fbody_init(cg_kernel *k, fbody *f) {
  memset(f, 0, sizeof *f);
  const ir_graph *b = k->n->body;
  f->b = b;
  f->n_in = k->n_in;
  f->n_out = k->n_out;
  f->anchor = -1;
  f->pin = kiln_xmalloc(sizeof(int) * ((size_t)b->n_values + 1));
  f->pro = kiln_xcalloc((size_t)b->n_nodes + 1, 1);
  for (int v = 0; v < b->n_values; v++) f->pin[v] = -1;
  for (int i = 0; i < b->n_inputs; i++) f->pin[b->inputs[i]] = i;
  for (int i = 0; i < b->n_nodes; i++) {
    const ir_node *n = &b->nodes[i];
    if (n->dead) continue;
    ir_op_class c = ir_op_get(n->op)->cls;
    int ew = (c == IR_CLASS_ELEMWISE || c == IR_CLASS_BROADCAST) && n->n_out == 1 && !n->body;
    if (ew && cg_emitter(n->op)) continue;
    if (f->anchor >= 0 || n->body)
      return fused_unsupported(k, "a fused body with more than one "
                                  "kernel that is not elementwise");
    f->anchor = i;
  }
  for (int v = 0; v < b->n_values; v++) {
    const ir_value *val = &b->values[v];
    if (val->dead || val->kind != IR_VAL_CONST) continue;
    if (ir_type_numel(&val->type) != 1 || !val->data)
      return fused_unsupported(k, "a body constant with other than one element");
  }
  return KILN_OK;
}

/* Marks the prologue: body nodes the anchor's input 0 depends on. */
static void mark_prologue(fbody *f) {
  const ir_graph *b = f->b;
  const ir_node *a = &b->nodes[f->anchor];
  char *need = kiln_xcalloc((size_t)b->n_values + 1, 1);
  need[a->in[0]] = 1;
  for (int i = f->anchor - 1; i >= 0; i--) {
    const ir_node *n = &b->nodes[i];
    if (n->dead || !need[n->out[0]]) continue;
    f->pro[i] = 1;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) need[n->in[k]] = 1;
  }
  free(need);
}

/* ---- per-element evaluation ---------------------------------------------------------------- */

typedef struct {
  cg_kernel *k; /* the function being emitted: buffers through cgk_arg */
  const fbody *f;
  LLVMValueRef *val; /* body value -> its value at this element */
  LLVMValueRef *off; /* fused input -> its element offset here (NULL: not read here) */
  int rc;
} felem;

static void felem_reset(felem *c) {
  memset(c->val, 0, sizeof(LLVMValueRef) * (size_t)c->f->b->n_values);
}

static LLVMValueRef scalar_const(cg_kernel *k, const ir_value *val) {
  ir_dtype t = val->type.dtype;
  LLVMTypeRef lt = cgl_dtype(k->L, t);
  if (ir_dtype_is_float(t)) return cgl_real(lt, ir_load_f(t, val->data, 0));
  return cgl_int(lt, ir_load_i(t, val->data, 0));
}

/* One body op on one element: the op's emitter over rank-0 operands in
 * allocas (promoted to registers by SROA). */
static LLVMValueRef elem_op(felem *c, const ir_node *n, LLVMValueRef *args) {
  cg_kernel *k = c->k;
  cgl *L = k->L;
  const ir_graph *b = c->f->b;
  int ni = n->n_in;
  LLVMValueRef *in = kiln_xcalloc((size_t)ni + 1, sizeof(LLVMValueRef));
  ir_type *it = kiln_xcalloc((size_t)ni + 1, sizeof(ir_type));
  const ir_type **itp = kiln_xcalloc((size_t)ni + 1, sizeof(ir_type *));
  for (int i = 0; i < ni; i++) {
    if (n->in[i] < 0) continue;
    it[i].dtype = b->values[n->in[i]].type.dtype;
    it[i].rank = 0;
    itp[i] = &it[i];
    in[i] = cgl_alloca(L, cgl_dtype(L, it[i].dtype), "e");
    LLVMBuildStore(L->b, args[i], in[i]);
  }
  ir_type ot = {.dtype = b->values[n->out[0]].type.dtype, .rank = 0};
  const ir_type *otp = &ot;
  LLVMValueRef out = cgl_alloca(L, cgl_dtype(L, ot.dtype), "r");
  int in_place = 0;
  cg_kernel sk;
  memset(&sk, 0, sizeof sk);
  sk.L = L;
  sk.g = b;
  sk.n = n;
  sk.n_in = ni;
  sk.n_out = 1;
  sk.in = in;
  sk.in_t = itp;
  sk.out = &out;
  sk.out_t = &otp;
  sk.in_place = &in_place;
  sk.d = k->d;
  int rc = cg_emitter(n->op)(&sk);
  if (rc && !c->rc) c->rc = rc;
  free(in);
  free(it);
  free(itp);
  return LLVMBuildLoad2(L->b, cgl_dtype(L, ot.dtype), out, "");
}

static LLVMValueRef eval_value(felem *c, int v) {
  if (c->val[v]) return c->val[v];
  cg_kernel *k = c->k;
  const ir_graph *b = c->f->b;
  const ir_value *val = &b->values[v];
  LLVMValueRef r;
  if (c->f->pin[v] >= 0) {
    int j = c->f->pin[v];
    KILN_ASSERT(c->off[j] != NULL);
    r = cgk_load(k, val->type.dtype, cgk_arg(k, (unsigned)j), c->off[j]);
  } else if (val->kind == IR_VAL_CONST) {
    r = scalar_const(k, val);
  } else {
    const ir_node *n = &b->nodes[val->producer];
    LLVMValueRef *args = kiln_xcalloc((size_t)n->n_in + 1, sizeof(LLVMValueRef));
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] >= 0) args[i] = eval_value(c, n->in[i]);
    r = elem_op(c, n, args);
    free(args);
  }
  c->val[v] = r;
  return r;
}

/* Stores every fused result whose body value is known at this element
 * (value order), at offset `at` of its buffer; skips result `skip`. */
static void store_results(felem *c, LLVMValueRef *at, int skip) {
  cg_kernel *k = c->k;
  const ir_graph *b = c->f->b;
  for (int j = 0; j < b->n_outputs; j++) {
    if (j == skip) continue;
    int v = b->outputs[j];
    LLVMValueRef x = eval_value(c, v);
    cgk_store(k, b->values[v].type.dtype, x, cgk_arg(k, (unsigned)(c->f->n_in + j)), at[j]);
  }
}

/* ---- loop nests with any number of operands ------------------------------------------------- */

#define FL_MAX_OPS 4096

typedef struct {
  int rank, n_ops;
  int64_t dims[IR_MAX_RANK];
  int64_t (*st)[IR_MAX_RANK]; /* n_ops rows */
} fnest;

static void fnest_init(fnest *n, int rank, const int64_t *dims, int n_ops) {
  memset(n, 0, sizeof *n);
  n->rank = rank;
  n->n_ops = n_ops;
  for (int d = 0; d < rank; d++) n->dims[d] = dims[d];
  n->st = kiln_xcalloc((size_t)n_ops + 1, sizeof *n->st);
}

static void fnest_free(fnest *n) { free(n->st); }

/* Strides of t broadcast (NumPy) to dims[rank]; 0 when t does not broadcast. */
static int bcast_strides(const ir_type *t, int rank, const int64_t *dims, int64_t *st) {
  if (t->rank > rank) return 0;
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    int td = d - (rank - t->rank);
    if (td < 0) {
      st[d] = 0;
      continue;
    }
    if (t->dims[td] != dims[d] && t->dims[td] != 1) return 0;
    st[d] = t->dims[td] == 1 ? 0 : s;
    s *= t->dims[td];
  }
  return 1;
}

static void contig_strides(int rank, const int64_t *dims, int64_t *st) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    st[d] = s;
    s *= dims[d];
  }
}

static void fnest_drop(fnest *n, int d) {
  for (int j = d; j + 1 < n->rank; j++) {
    n->dims[j] = n->dims[j + 1];
    for (int o = 0; o < n->n_ops; o++) n->st[o][j] = n->st[o][j + 1];
  }
  n->rank--;
}

/* Drops size-1 axes and merges neighbours every operand walks as one. */
static void fnest_simplify(fnest *n) {
  for (int d = 0; d < n->rank; d++)
    if (n->dims[d] == 0) return;
  for (int d = n->rank - 1; d >= 0; d--)
    if (n->dims[d] == 1) fnest_drop(n, d);
  for (int d = n->rank - 2; d >= 0; d--) {
    int ok = 1;
    for (int o = 0; o < n->n_ops && ok; o++) ok = n->st[o][d] == n->st[o][d + 1] * n->dims[d + 1];
    if (!ok) continue;
    for (int o = 0; o < n->n_ops; o++) n->st[o][d] = n->st[o][d + 1];
    n->dims[d] *= n->dims[d + 1];
    fnest_drop(n, d + 1);
  }
}

typedef void (*fnest_body)(cg_kernel *k, LLVMValueRef *off, void *user);

static void fnest_level(cg_kernel *k, const fnest *n, int level, LLVMValueRef *off, fnest_body body,
                        void *user) {
  if (level == n->rank) {
    body(k, off, user);
    return;
  }
  cgl *L = k->L;
  cgl_loop lp;
  LLVMValueRef iv = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, n->dims[level]), "f");
  LLVMValueRef *inner = kiln_xcalloc((size_t)n->n_ops + 1, sizeof(LLVMValueRef));
  for (int o = 0; o < n->n_ops; o++) {
    int64_t s = n->st[o][level];
    inner[o] = s == 0 ? off[o] : cgk_add(k, off[o], cgk_muli(k, iv, s));
  }
  fnest_level(k, n, level + 1, inner, body, user);
  free(inner);
  cgl_loop_end(L, &lp);
}

/* The loops; body runs once per element with every operand's offset
 * (base[o] added; base may be NULL). Nothing for an empty box. */
static void fnest_emit(cg_kernel *k, const fnest *n, LLVMValueRef *base, fnest_body body,
                       void *user) {
  for (int d = 0; d < n->rank; d++)
    if (n->dims[d] == 0) return;
  LLVMValueRef *off = kiln_xcalloc((size_t)n->n_ops + 1, sizeof(LLVMValueRef));
  for (int o = 0; o < n->n_ops; o++) off[o] = base && base[o] ? base[o] : cgl_i64(k->L, 0);
  fnest_level(k, n, 0, off, body, user);
  free(off);
}

/* ---- elementwise ------------------------------------------------------------------------- */

typedef struct {
  felem e;
} ew_ctx;

static void ew_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  ew_ctx *c = user;
  felem_reset(&c->e);
  c->e.off = off;
  store_results(&c->e, off + c->e.f->n_in, -1);
}

static int emit_elementwise(cg_kernel *k, const fbody *f) {
  const ir_type *y = k->out_t[0];
  for (int j = 1; j < k->n_out; j++)
    if (k->out_t[j]->rank != y->rank ||
        memcmp(k->out_t[j]->dims, y->dims, sizeof(int64_t) * (size_t)y->rank))
      return cgk_unsupported(k, "elementwise results of different shapes");
  if (f->anchor >= 0)
    return cgk_unsupported(k, "an elementwise kernel with a %s",
                           ir_op_name(f->b->nodes[f->anchor].op));
  int nops = k->n_in + k->n_out;
  fnest n;
  fnest_init(&n, y->rank, y->dims, nops);
  for (int i = 0; i < k->n_in; i++)
    if (!bcast_strides(k->in_t[i], y->rank, y->dims, n.st[i])) {
      fnest_free(&n);
      return cgk_unsupported(k, "input %d does not broadcast to the result", i);
    }
  for (int j = 0; j < k->n_out; j++) contig_strides(y->rank, y->dims, n.st[k->n_in + j]);
  fnest_simplify(&n);
  ew_ctx c;
  memset(&c, 0, sizeof c);
  c.e.k = k;
  c.e.f = f;
  c.e.val = kiln_xcalloc((size_t)f->b->n_values + 1, sizeof(LLVMValueRef));
  fnest_emit(k, &n, NULL, ew_body, &c);
  free(c.e.val);
  fnest_free(&n);
  return c.e.rc;
}

/* ---- contraction + epilogue --------------------------------------------------------------- */

typedef struct {
  const fbody *f;
  int target; /* the fused result the contraction's emitter stores */
  int rank;   /* of the contraction's result (simplified) */
  int64_t dims[IR_MAX_RANK];
  int64_t (*st)[IR_MAX_RANK]; /* fused input -> strides over dims */
  int lanes_on_axis;          /* an emitter's vector never leaves dims' last axis */
  int calls;
  int rc;
} epi_ctx;

/* Offsets of the fused inputs and results at flat output index idx. */
static void epi_offsets(cg_kernel *k, const epi_ctx *c, LLVMValueRef idx, LLVMValueRef *off) {
  cgl *L = k->L;
  const fbody *f = c->f;
  LLVMValueRef coord[IR_MAX_RANK];
  LLVMValueRef rest = idx;
  for (int d = c->rank - 1; d >= 0; d--) {
    if (d == 0) {
      coord[d] = rest;
    } else {
      coord[d] = LLVMBuildURem(BLD, rest, cgl_i64(L, c->dims[d]), "");
      rest = LLVMBuildUDiv(BLD, rest, cgl_i64(L, c->dims[d]), "");
    }
  }
  for (int i = 0; i < f->n_in; i++) {
    LLVMValueRef o = cgl_i64(L, 0);
    for (int d = 0; d < c->rank; d++)
      if (c->st[i][d]) o = cgk_add(k, o, cgk_muli(k, coord[d], c->st[i][d]));
    off[i] = o;
  }
  for (int j = 0; j < f->n_out; j++) off[f->n_in + j] = idx;
}

/* The epilogue at one element: v is the contraction's value there, off[]
 * the element's offsets (fused inputs, then results). Stores the other
 * results; returns the target's value. */
static LLVMValueRef epi_eval(cg_kernel *k, epi_ctx *c, LLVMValueRef v, LLVMValueRef *off) {
  const fbody *f = c->f;
  felem e;
  memset(&e, 0, sizeof e);
  e.k = k;
  e.f = f;
  e.val = kiln_xcalloc((size_t)f->b->n_values + 1, sizeof(LLVMValueRef));
  e.off = off;
  e.val[f->b->nodes[f->anchor].out[0]] = v;
  store_results(&e, off + f->n_in, c->target);
  LLVMValueRef r = eval_value(&e, f->b->outputs[c->target]);
  if (e.rc && !c->rc) c->rc = e.rc;
  free(e.val);
  return r;
}

static LLVMValueRef epi_scalar(cg_kernel *k, epi_ctx *c, LLVMValueRef v, LLVMValueRef idx) {
  const fbody *f = c->f;
  LLVMValueRef *off = kiln_xcalloc((size_t)(f->n_in + f->n_out) + 1, sizeof(LLVMValueRef));
  epi_offsets(k, c, idx, off);
  LLVMValueRef r = epi_eval(k, c, v, off);
  free(off);
  return r;
}

/* A vector of W consecutive elements: a loop over its lanes (LLVM unrolls
 * and re-vectorises a small epilogue; a large one stays one copy). Lanes
 * that stay on the nest's last axis step every offset by that axis's
 * stride; otherwise each lane finds its offsets itself. */
static LLVMValueRef epi_vector(cg_kernel *k, epi_ctx *c, LLVMValueRef v, LLVMValueRef idx) {
  cgl *L = k->L;
  const fbody *f = c->f;
  int nops = f->n_in + f->n_out;
  LLVMTypeRef t = LLVMTypeOf(v);
  unsigned w = LLVMGetVectorSize(t);
  LLVMValueRef *off0 = kiln_xcalloc((size_t)nops + 1, sizeof(LLVMValueRef));
  LLVMValueRef *off = kiln_xcalloc((size_t)nops + 1, sizeof(LLVMValueRef));
  if (c->lanes_on_axis) epi_offsets(k, c, idx, off0);
  /* the lanes go through a small array, so the loop over them is a plain
   * loop over memory that the loop vectoriser takes (a large epilogue, e.g.
   * an inline erf, then runs on vectors) */
  LLVMTypeRef et = LLVMGetElementType(t);
  LLVMValueRef acc = cgl_alloca(L, LLVMArrayType(et, w), "epi.v");
  LLVMSetAlignment(acc, 64);
  LLVMBuildStore(BLD, v, acc);
  cgl_loop lp;
  LLVMValueRef l = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, (int64_t)w), "lane");
  LLVMValueRef x = cgl_load(L, et, acc, l);
  LLVMValueRef at = cgk_add(k, idx, l);
  if (c->lanes_on_axis) {
    for (int i = 0; i < f->n_in; i++) {
      int64_t s = c->rank > 0 ? c->st[i][c->rank - 1] : 0;
      off[i] = s ? cgk_add(k, off0[i], cgk_muli(k, l, s)) : off0[i];
    }
    for (int j = 0; j < f->n_out; j++) off[f->n_in + j] = at;
  } else {
    epi_offsets(k, c, at, off);
  }
  LLVMValueRef y = epi_eval(k, c, x, off);
  cgl_store(L, y, acc, l);
  cgl_loop_end(L, &lp);
  free(off0);
  free(off);
  return LLVMBuildLoad2(BLD, t, acc, "");
}

static LLVMValueRef epilogue_cb(cg_kernel *k, LLVMValueRef v, LLVMValueRef idx, void *user) {
  epi_ctx *c = user;
  c->calls++;
  if (LLVMGetTypeKind(LLVMTypeOf(v)) != LLVMVectorTypeKind) return epi_scalar(k, c, v, idx);
  return epi_vector(k, c, v, idx);
}

typedef struct {
  epi_ctx *c;
  int out_param;
  ir_dtype t;
} epi_after_ctx;

/* The fallback: the epilogue over the stored result, element by element. */
static void epi_after_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  epi_after_ctx *a = user;
  LLVMValueRef buf = cgk_arg(k, (unsigned)a->out_param);
  LLVMValueRef v = cgk_load(k, a->t, buf, iv[0]);
  cgk_store(k, a->t, epi_scalar(k, a->c, v, iv[0]), buf, iv[0]);
}

/* The contraction node as a kernel of its own over the fused kernel's
 * parameters (so cgk_parallel can remap them). */
static void sub_kernel(cg_kernel *k, const fbody *f, cg_kernel *sk, LLVMValueRef *in,
                       const ir_type **in_t, const void **in_const) {
  const ir_node *a = &f->b->nodes[f->anchor];
  memset(sk, 0, sizeof *sk);
  sk->L = k->L;
  sk->g = f->b;
  sk->n = a;
  sk->d = k->d;
  sk->n_in = a->n_in;
  sk->n_out = 1;
  for (int i = 0; i < a->n_in; i++) {
    if (a->in[i] < 0) continue;
    int j = f->pin[a->in[i]];
    in[i] = k->in ? k->in[j] : NULL;
    in_t[i] = &f->b->values[a->in[i]].type;
    in_const[i] = k->in_const ? k->in_const[j] : NULL;
  }
  sk->in = in;
  sk->in_t = in_t;
  sk->in_const = in_const;
  sk->blob = k->blob;
  sk->scratch = k->scratch;
}

/* The result the contraction stores: the last one made in the body. */
static int pick_target(const fbody *f) {
  const ir_graph *b = f->b;
  int best = 0, best_p = -1;
  for (int j = 0; j < b->n_outputs; j++) {
    int p = b->values[b->outputs[j]].producer;
    if (p > best_p) {
      best_p = p;
      best = j;
    }
  }
  return best;
}

static int check_contraction(cg_kernel *k, const fbody *f) {
  if (f->anchor < 0) return cgk_unsupported(k, "a contraction kernel without a contraction");
  const ir_graph *b = f->b;
  const ir_node *a = &b->nodes[f->anchor];
  if (a->n_out != 1 || ir_op_get(a->op)->cls != IR_CLASS_CONTRACTION)
    return cgk_unsupported(k, "the body's %s is not a contraction", ir_op_name(a->op));
  for (int i = 0; i < a->n_in; i++)
    if (a->in[i] >= 0 && f->pin[a->in[i]] < 0)
      return cgk_unsupported(k, "the contraction's operands must be the kernel's inputs");
  const ir_type *yt = &b->values[a->out[0]].type;
  for (int j = 0; j < b->n_outputs; j++)
    if (!ir_type_equal(&b->values[b->outputs[j]].type, yt))
      return cgk_unsupported(k, "a result of another type than the contraction's");
  return KILN_OK;
}

static int emit_contraction(cg_kernel *k, const fbody *f) {
  int rc = check_contraction(k, f);
  if (rc) return rc;
  const ir_graph *b = f->b;
  const ir_node *a = &b->nodes[f->anchor];
  const ir_type *yt = &b->values[a->out[0]].type;
  epi_ctx c;
  memset(&c, 0, sizeof c);
  c.f = f;
  c.target = pick_target(f);
  /* every fused input broadcast to the result; simplified with the result */
  fnest n;
  fnest_init(&n, yt->rank, yt->dims, k->n_in + 1);
  char *used = kiln_xcalloc((size_t)k->n_in + 1, 1);
  inputs_read(f, NULL, 0, used);
  for (int i = 0; i < k->n_in && !rc; i++)
    if (!bcast_strides(k->in_t[i], yt->rank, yt->dims, n.st[i])) {
      /* an operand of the contraction only: the epilogue never reads it */
      memset(n.st[i], 0, sizeof n.st[i]);
      if (used[i]) rc = cgk_unsupported(k, "input %d does not broadcast to the result", i);
    }
  free(used);
  if (rc) {
    fnest_free(&n);
    return rc;
  }
  contig_strides(yt->rank, yt->dims, n.st[k->n_in]);
  fnest_simplify(&n);
  c.rank = n.rank;
  memcpy(c.dims, n.dims, sizeof c.dims);
  c.st = n.st;
  /* an emitter's vector stays within the last axis of a matmul result and
   * within one spatial plane of a conv result (kernels.h): when the nest's
   * last axis covers that span, lanes step along it */
  int first = a->op == IR_OP_MATMUL ? yt->rank - 1 : 2;
  int64_t span = 1;
  for (int d = first < 0 ? 0 : first; d < yt->rank; d++) span *= yt->dims[d];
  c.lanes_on_axis = c.rank > 0 && span > 0 && c.dims[c.rank - 1] % span == 0;
  LLVMValueRef *in = kiln_xcalloc((size_t)a->n_in + 1, sizeof(LLVMValueRef));
  const ir_type **in_t = kiln_xcalloc((size_t)a->n_in + 1, sizeof(ir_type *));
  const void **in_const = kiln_xcalloc((size_t)a->n_in + 1, sizeof(void *));
  cg_kernel sk;
  sub_kernel(k, f, &sk, in, in_t, in_const);
  LLVMValueRef out = k->out[c.target];
  const ir_type *ot = k->out_t[c.target];
  int in_place = 0;
  sk.out = &out;
  sk.out_t = &ot;
  sk.in_place = &in_place;
  sk.epilogue = epilogue_cb;
  sk.epilogue_user = &c;
  rc = cg_emitter(a->op)(&sk);
  if (!rc && c.calls == 0 && ir_type_numel(yt) > 0) {
    /* the emitter stored the plain result: apply the epilogue now */
    epi_after_ctx ac = {&c, k->n_in + c.target, yt->dtype};
    int64_t total = ir_type_numel(yt);
    cgk_box_const(k, 1, &total, epi_after_body, &ac);
  }
  if (!rc) rc = c.rc;
  free(in);
  free(in_t);
  free(in_const);
  fnest_free(&n);
  return rc;
}

/* ---- reduction: prologue, reduce / softmax / norm, epilogue ------------------------------ */

enum { OPR_PRO, OPR_EPI }; /* operand roles of the fused inputs */

typedef struct {
  const fbody *f;
  const ir_node *a;
  ir_op op;
  ir_dtype xt, yt;
  int rank; /* of x */
  int64_t dims[IR_MAX_RANK];
  unsigned char red[IR_MAX_RANK];
  int64_t cnt; /* reduced elements per result */
  double eps;
  int n_in, n_out;
  /* operands: [n_in prologue inputs][n_in epilogue inputs][n_out results] */
  int n_ops;
  fnest outer, inner; /* kept axes / reduced axes, every operand */
  felem e;
  LLVMValueRef *base;           /* the outer offsets */
  LLVMValueRef acc, m, mu, inv; /* f64 state */
  int pass;
} red_ctx;

/* x (f64) at this inner element: the prologue evaluated. */
static LLVMValueRef red_x(cg_kernel *k, red_ctx *c, LLVMValueRef *off) {
  felem_reset(&c->e);
  c->e.off = off; /* the prologue role's offsets come first */
  LLVMValueRef x = eval_value(&c->e, c->a->in[0]);
  return cgk_to_f64(k, c->xt, x);
}

static LLVMValueRef f64c(cg_kernel *k, double v) { return cgl_real(k->L->t_f64, v); }
static LLVMValueRef fcall(cg_kernel *k, const char *intr, LLVMValueRef v) {
  return cgl_intrinsic(k->L, intr, LLVMTypeOf(v), &v, 1);
}
static LLVMValueRef sel(cg_kernel *k, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(BLD, c, a, b, "");
}

/* (isnan(v) || v > m) ? v : m (is_max), as kernels_reduce.c */
static LLVMValueRef fold_extreme(cg_kernel *k, LLVMValueRef m, LLVMValueRef v, int is_max) {
  LLVMValueRef better = LLVMBuildFCmp(BLD, is_max ? LLVMRealOGT : LLVMRealOLT, v, m, "");
  LLVMValueRef nan = LLVMBuildFCmp(BLD, LLVMRealUNO, v, v, "");
  return sel(k, LLVMBuildOr(BLD, better, nan, ""), v, m);
}

/* The epilogue and the stores at one result element: r is the anchor's
 * result there; off the element's operand offsets. */
static void red_finish(cg_kernel *k, red_ctx *c, LLVMValueRef r, LLVMValueRef *off) {
  felem_reset(&c->e);
  c->e.off = off + c->n_in; /* the epilogue role's offsets */
  c->e.val[c->a->out[0]] = r;
  store_results(&c->e, off + 2 * c->n_in, -1);
}

static void red_inner(cg_kernel *k, LLVMValueRef *off, void *user) {
  red_ctx *c = user;
  LLVMValueRef x = red_x(k, c, off);
  LLVMValueRef a = c->acc ? cgk_get(k, c->acc) : NULL, r = NULL;
  switch (c->op) {
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_LOG_SUM: r = LLVMBuildFAdd(BLD, a, x, ""); break;
  case IR_OP_REDUCE_MAX: r = fold_extreme(k, a, x, 1); break;
  case IR_OP_REDUCE_MIN: r = fold_extreme(k, a, x, 0); break;
  case IR_OP_REDUCE_PROD: r = LLVMBuildFMul(BLD, a, x, ""); break;
  case IR_OP_REDUCE_L1: r = LLVMBuildFAdd(BLD, a, fcall(k, "llvm.fabs", x), ""); break;
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE: r = LLVMBuildFAdd(BLD, a, LLVMBuildFMul(BLD, x, x, ""), ""); break;
  case IR_OP_REDUCE_LOG_SUM_EXP:
    if (c->pass == 0) {
      cgk_set(k, c->m, fold_extreme(k, cgk_get(k, c->m), x, 1));
      return;
    }
    r = LLVMBuildFAdd(BLD, a, fcall(k, "llvm.exp", LLVMBuildFSub(BLD, x, cgk_get(k, c->m), "")),
                      "");
    break;
  case IR_OP_SOFTMAX:
  case IR_OP_LOG_SOFTMAX:
    if (c->pass == 0) {
      /* the maximum, NaN skipped (kernels_reduce.c) */
      LLVMValueRef m = cgk_get(k, c->m);
      cgk_set(k, c->m, sel(k, LLVMBuildFCmp(BLD, LLVMRealOGT, x, m, ""), x, m));
      return;
    }
    if (c->pass == 1) {
      r = LLVMBuildFAdd(BLD, a, fcall(k, "llvm.exp", LLVMBuildFSub(BLD, x, c->mu, "")), "");
      break;
    }
    {
      LLVMValueRef z = LLVMBuildFSub(BLD, x, c->mu, "");
      LLVMValueRef y = c->op == IR_OP_SOFTMAX
                           ? LLVMBuildFDiv(BLD, fcall(k, "llvm.exp", z), c->inv, "")
                           : LLVMBuildFSub(BLD, z, fcall(k, "llvm.log", c->inv), "");
      red_finish(k, c, cgk_from_fp(k, c->yt, y), off);
      return;
    }
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM:
    if (c->pass == 0) {
      r = LLVMBuildFAdd(BLD, a, c->op == IR_OP_RMS_NORM ? LLVMBuildFMul(BLD, x, x, "") : x, "");
      break;
    }
    if (c->pass == 1) {
      LLVMValueRef e = LLVMBuildFSub(BLD, x, c->mu, "");
      r = LLVMBuildFAdd(BLD, a, LLVMBuildFMul(BLD, e, e, ""), "");
      break;
    }
    {
      /* (x - mu) * inv * scale (+ bias), in double as the interpreter */
      cgl *L = k->L;
      LLVMValueRef v = LLVMBuildFMul(BLD, LLVMBuildFSub(BLD, x, c->mu, ""), c->inv, "");
      const ir_graph *b = c->f->b;
      for (int p = 1; p < c->a->n_in && p < 3; p++) {
        int pv = c->a->in[p];
        if (pv < 0) continue;
        int j = c->f->pin[pv];
        LLVMValueRef s = cgk_to_f64(
            k, c->xt,
            cgk_load(k, b->values[pv].type.dtype, cgk_arg(k, (unsigned)j), off[c->n_in + j]));
        v = p == 1 ? LLVMBuildFMul(BLD, v, s, "") : LLVMBuildFAdd(BLD, v, s, "");
      }
      (void)L;
      red_finish(k, c, cgk_from_fp(k, c->yt, v), off);
      return;
    }
  default: KILN_UNREACHABLE();
  }
  cgk_set(k, c->acc, r);
}

static void red_outer(cg_kernel *k, LLVMValueRef *off, void *user) {
  red_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef mcnt = f64c(k, (double)c->cnt);
  switch (c->op) {
  case IR_OP_SOFTMAX:
  case IR_OP_LOG_SOFTMAX:
    cgk_set(k, c->m, f64c(k, -INFINITY));
    c->pass = 0;
    fnest_emit(k, &c->inner, off, red_inner, c);
    c->mu = cgk_get(k, c->m);
    cgk_set(k, c->acc, f64c(k, 0.0));
    c->pass = 1;
    fnest_emit(k, &c->inner, off, red_inner, c);
    c->inv = cgk_get(k, c->acc); /* the sum */
    c->pass = 2;
    fnest_emit(k, &c->inner, off, red_inner, c);
    return;
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM: {
    cgk_set(k, c->acc, f64c(k, 0.0));
    c->pass = 0;
    fnest_emit(k, &c->inner, off, red_inner, c);
    LLVMValueRef var;
    if (c->op == IR_OP_LAYER_NORM) {
      c->mu = LLVMBuildFDiv(BLD, cgk_get(k, c->acc), mcnt, "");
      cgk_set(k, c->acc, f64c(k, 0.0));
      c->pass = 1;
      fnest_emit(k, &c->inner, off, red_inner, c);
      var = LLVMBuildFDiv(BLD, cgk_get(k, c->acc), mcnt, "");
    } else {
      c->mu = f64c(k, 0.0);
      var = LLVMBuildFDiv(BLD, cgk_get(k, c->acc), mcnt, "");
    }
    c->inv = LLVMBuildFDiv(BLD, f64c(k, 1.0),
                           fcall(k, "llvm.sqrt", LLVMBuildFAdd(BLD, var, f64c(k, c->eps), "")), "");
    c->pass = 2;
    fnest_emit(k, &c->inner, off, red_inner, c);
    return;
  }
  default: break;
  }
  /* reduce_* */
  double init = c->op == IR_OP_REDUCE_PROD  ? 1.0
                : c->op == IR_OP_REDUCE_MAX ? -INFINITY
                : c->op == IR_OP_REDUCE_MIN ? INFINITY
                                            : 0.0;
  if (c->op == IR_OP_REDUCE_LOG_SUM_EXP) {
    cgk_set(k, c->m, f64c(k, -INFINITY));
    c->pass = 0;
    fnest_emit(k, &c->inner, off, red_inner, c);
  }
  cgk_set(k, c->acc, f64c(k, init));
  c->pass = 1;
  fnest_emit(k, &c->inner, off, red_inner, c);
  LLVMValueRef a = cgk_get(k, c->acc);
  switch (c->op) {
  case IR_OP_REDUCE_MEAN: a = LLVMBuildFDiv(BLD, a, mcnt, ""); break;
  case IR_OP_REDUCE_LOG_SUM: a = fcall(k, "llvm.log", a); break;
  case IR_OP_REDUCE_L2: a = fcall(k, "llvm.sqrt", a); break;
  case IR_OP_REDUCE_LOG_SUM_EXP: {
    LLVMValueRef m = cgk_get(k, c->m);
    LLVMValueRef inf =
        LLVMBuildFCmp(BLD, LLVMRealOEQ, fcall(k, "llvm.fabs", m), f64c(k, INFINITY), "");
    a = sel(k, inf, m, LLVMBuildFAdd(BLD, m, fcall(k, "llvm.log", a), ""));
    break;
  }
  default: break;
  }
  (void)L;
  red_finish(k, c, cgk_from_fp(k, c->yt, a), off);
}

static int norm_axis(int64_t a, int rank) { return (int)(a < 0 ? a + rank : a); }

static int emit_reduction(cg_kernel *k, fbody *f) {
  if (f->anchor < 0) return cgk_unsupported(k, "a reduction kernel without a reduction");
  const ir_graph *b = f->b;
  const ir_node *a = &b->nodes[f->anchor];
  red_ctx c;
  memset(&c, 0, sizeof c);
  c.f = f;
  c.a = a;
  c.op = a->op;
  if (a->n_out != 1 || a->n_in < 1 || a->in[0] < 0)
    return cgk_unsupported(k, "a reduction with %d results", a->n_out);
  const ir_type *x = &b->values[a->in[0]].type, *y = &b->values[a->out[0]].type;
  c.xt = x->dtype;
  c.yt = y->dtype;
  if (!ir_dtype_is_float(c.xt) || !ir_dtype_is_float(c.yt))
    return cgk_unsupported(k, "a fused reduction of %s", ir_dtype_name(c.xt));
  c.rank = x->rank;
  memcpy(c.dims, x->dims, sizeof c.dims);
  int keep = 1;
  /* softmax and the norms: the result has the input's shape, written at
   * every element; reduce_*: one result per kept position */
  int full = c.op == IR_OP_SOFTMAX || c.op == IR_OP_LOG_SOFTMAX || c.op == IR_OP_LAYER_NORM ||
             c.op == IR_OP_RMS_NORM;
  switch (c.op) {
  case IR_OP_SOFTMAX:
  case IR_OP_LOG_SOFTMAX: c.red[norm_axis(ir_attr_int(a, "axis"), x->rank)] = 1; break;
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM:
    for (int d = norm_axis(ir_attr_int(a, "axis"), x->rank); d < x->rank; d++) c.red[d] = 1;
    c.eps = ir_attr_float(a, "epsilon");
    for (int p = 1; p < a->n_in; p++)
      if (a->in[p] >= 0 && f->pin[a->in[p]] < 0)
        return cgk_unsupported(k, "a normalisation parameter made inside the kernel");
    break;
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX:
  case IR_OP_REDUCE_MIN:
  case IR_OP_REDUCE_PROD:
  case IR_OP_REDUCE_L1:
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE:
  case IR_OP_REDUCE_LOG_SUM:
  case IR_OP_REDUCE_LOG_SUM_EXP: {
    const int64_t *axes;
    int nax = ir_attr_ints(a, "axes", &axes);
    if (ir_node_has_input(a, 1)) return cgk_unsupported(k, "axes given as an input");
    if (nax <= 0) {
      if (ir_attr_int(a, "noop_with_empty_axes"))
        return cgk_unsupported(k, "an identity reduction");
      for (int d = 0; d < x->rank; d++) c.red[d] = 1;
    }
    for (int i = 0; i < nax; i++) c.red[norm_axis(axes[i], x->rank)] = 1;
    keep = ir_attr_int(a, "keepdims") != 0;
    break;
  }
  default: return cgk_unsupported(k, "%s in a fused reduction", ir_op_name(c.op));
  }
  mark_prologue(f);
  /* the epilogue of a reduce_* runs once per result: it cannot read the
   * prologue's per-element values */
  for (int i = 0; i < b->n_nodes && !full; i++) {
    const ir_node *n = &b->nodes[i];
    if (n->dead || f->pro[i] || i == f->anchor) continue;
    for (int q = 0; q < n->n_in; q++) {
      int p = n->in[q] >= 0 ? b->values[n->in[q]].producer : -1;
      if (p >= 0 && f->pro[p])
        return cgk_unsupported(k, "an epilogue that reads the reduction's prologue");
    }
  }
  /* results: the anchor's or the epilogue's, of y's shape */
  for (int j = 0; j < b->n_outputs; j++) {
    int v = b->outputs[j], p = b->values[v].producer;
    if (f->pin[v] >= 0 || p < 0 || f->pro[p] || !same_dims(&b->values[v].type, y))
      return cgk_unsupported(k, "a result that is not the reduction's or after it");
  }
  c.cnt = 1;
  for (int d = 0; d < x->rank; d++)
    if (c.red[d]) c.cnt *= x->dims[d];
  c.n_in = k->n_in;
  c.n_out = k->n_out;
  c.n_ops = 2 * k->n_in + k->n_out;
  /* strides over x's axes: prologue inputs broadcast to x; epilogue inputs
   * and results over y, mapped onto x's axes (reduced axes: 0) */
  int64_t(*st)[IR_MAX_RANK] = kiln_xcalloc((size_t)c.n_ops + 1, sizeof *st);
  int64_t ys[IR_MAX_RANK];
  int rc = KILN_OK;
  /* which inputs the prologue (and the anchor) and the epilogue read */
  char *pro_in = kiln_xcalloc((size_t)k->n_in + 1, 1),
       *epi_in = kiln_xcalloc((size_t)k->n_in + 1, 1);
  inputs_read(f, f->pro, 1, pro_in);
  inputs_read(f, f->pro, 0, epi_in);
  for (int p = 0; p < a->n_in; p++)
    if (a->in[p] >= 0 && f->pin[a->in[p]] >= 0) pro_in[f->pin[a->in[p]]] = 1;
  for (int i = 0; i < k->n_in && !rc; i++) {
    int64_t s[IR_MAX_RANK];
    if (bcast_strides(k->in_t[i], x->rank, x->dims, s))
      memcpy(st[i], s, sizeof s);
    else if (pro_in[i])
      rc = cgk_unsupported(k, "input %d does not broadcast to the reduction's input", i);
    if (bcast_strides(k->in_t[i], y->rank, y->dims, s)) {
      for (int d = 0, yd = 0; d < x->rank; d++) {
        if (c.red[d] && !keep) continue;
        st[k->n_in + i][d] = c.red[d] && !full ? 0 : s[yd];
        yd++;
      }
    } else if (epi_in[i]) {
      rc = cgk_unsupported(k, "input %d does not broadcast to the reduction's result", i);
    }
  }
  free(pro_in);
  free(epi_in);
  if (rc) {
    free(st);
    return rc;
  }
  contig_strides(y->rank, y->dims, ys);
  for (int j = 0; j < k->n_out; j++)
    for (int d = 0, yd = 0; d < x->rank; d++) {
      if (c.red[d] && !keep) continue;
      st[2 * k->n_in + j][d] = c.red[d] && !full ? 0 : ys[yd];
      yd++;
    }
  /* outer: the kept axes; inner: the reduced ones (x's order both) */
  int64_t kd[IR_MAX_RANK], rd[IR_MAX_RANK];
  int nk = 0, nr = 0;
  for (int d = 0; d < x->rank; d++) {
    if (c.red[d])
      rd[nr++] = x->dims[d];
    else
      kd[nk++] = x->dims[d];
  }
  fnest_init(&c.outer, nk, kd, c.n_ops);
  fnest_init(&c.inner, nr, rd, c.n_ops);
  for (int o = 0; o < c.n_ops; o++)
    for (int d = 0, ik = 0, ir = 0; d < x->rank; d++) {
      if (c.red[d])
        c.inner.st[o][ir++] = st[o][d];
      else
        c.outer.st[o][ik++] = st[o][d];
    }
  free(st);
  fnest_simplify(&c.outer);
  fnest_simplify(&c.inner);
  c.e.k = k;
  c.e.f = f;
  c.e.val = kiln_xcalloc((size_t)b->n_values + 1, sizeof(LLVMValueRef));
  c.acc = cgk_var(k, k->L->t_f64, NULL);
  c.m = cgk_var(k, k->L->t_f64, NULL);
  if (ir_type_numel(y) > 0) fnest_emit(k, &c.outer, NULL, red_outer, &c);
  rc = c.e.rc;
  free(c.e.val);
  fnest_free(&c.outer);
  fnest_free(&c.inner);
  return rc;
}

/* ---- entry points ---------------------------------------------------------------------------- */

int cg_emit_fused(cg_kernel *k) {
  if (!k->n->body) return cgk_unsupported(k, "a fused node without a body");
  fbody f;
  int rc = fbody_init(k, &f);
  if (!rc) {
    const char *kind = ir_attr_str(k->n, "kind");
    if (!strcmp(kind, "elementwise"))
      rc = emit_elementwise(k, &f);
    else if (!strcmp(kind, "contraction"))
      rc = emit_contraction(k, &f);
    else if (!strcmp(kind, "reduction"))
      rc = emit_reduction(k, &f);
    else
      rc = cgk_unsupported(k, "fused kernels of kind '%s'", kind);
  }
  fbody_free(&f);
  return rc;
}

/* Compile-time preparation of a fused contraction: the contraction's own
 * preparer (pre-packed weights, scratch) on the body's contraction, its
 * constant inputs mapped from the fused node's. */
int cg_prep_fused(cg_kernel *k, cg_prep *p) {
  if (!k->n->body || strcmp(ir_attr_str(k->n, "kind"), "contraction")) return KILN_OK;
  fbody f;
  int rc = fbody_init(k, &f);
  if (!rc) rc = check_contraction(k, &f);
  cg_prep_fn prep = rc ? NULL : cg_preparer(f.b->nodes[f.anchor].op);
  if (prep) {
    const ir_node *a = &f.b->nodes[f.anchor];
    LLVMValueRef *in = kiln_xcalloc((size_t)a->n_in + 1, sizeof(LLVMValueRef));
    const ir_type **in_t = kiln_xcalloc((size_t)a->n_in + 1, sizeof(ir_type *));
    const void **in_const = kiln_xcalloc((size_t)a->n_in + 1, sizeof(void *));
    cg_kernel sk;
    sub_kernel(k, &f, &sk, in, in_t, in_const);
    const ir_type *yt = &f.b->values[a->out[0]].type;
    sk.out_t = &yt;
    cg_prep sp;
    memset(&sp, 0, sizeof sp);
    rc = prep(&sk, &sp);
    p->blob = sp.blob;
    p->blob_size = sp.blob_size;
    p->scratch = sp.scratch;
    /* a constant the blob replaces is not needed in memory when the
     * contraction is its only reader */
    int *uses = kiln_xcalloc((size_t)f.b->n_values + 1, sizeof(int));
    ir_count_uses(f.b, uses);
    for (int i = 0; i < a->n_in && i < 64; i++) {
      if (!(sp.consumes >> i & 1) || a->in[i] < 0) continue;
      int j = f.pin[a->in[i]], mine = 0;
      for (int q = 0; q < a->n_in; q++) mine += a->in[q] == a->in[i];
      if (j >= 0 && j < 64 && uses[a->in[i]] == mine) p->consumes |= UINT64_C(1) << j;
    }
    free(uses);
    free(in);
    free(in_t);
    free(in_const);
  }
  fbody_free(&f);
  return rc;
}

/* Module-level emission for the CPU: where every value lives, one kernel
 * function per node, the entry points and the metadata of docs/abi.md.
 *
 * Storage (cg_storage):
 *   graph inputs      the caller's input buffers
 *   graph outputs     the caller's output buffers, written by their
 *                     producing kernel directly; an output that is also an
 *                     input, a constant, or listed twice is copied at the end
 *   constants         the weights data (embedded or from NAME.weights), each
 *                     at a 64-byte aligned offset
 *   intermediates     the workspace at ir_value.offset when a memory plan
 *                     set one, else at their own 64-byte aligned offset
 *                     (a plain bump allocation: no reuse yet)
 *   views             (ir_op_is_view) the storage of their input when their
 *                     offset agrees with it (view_alias): no kernel; a
 *                     value whose view is a graph output is written into
 *                     that output's buffer
 *   static nodes      (range, shape, size, constant_of_shape) are
 *                     evaluated now and stored with the weights
 *   prepared kernels  (cg_prep in kernels.h: matmul, conv) their blob
 *                     (pre-packed weights) is stored with the weights, in
 *                     place of a constant only they read; the scratch they
 *                     ask for is one region at the end of the workspace,
 *                     shared by all kernels (the calling thread's; pool
 *                     threads allocate their own, parallel.c)
 *
 * Limits: see the checks below (CG_MAX_IO entries of the typed entry).
 */
#include <stdlib.h>
#include <string.h>

#include "codegen/cg_internal.h"
#include "codegen/cpu/kernels.h"

#define ALIGN KILN_ARTIFACT_ALIGN
/* Inputs plus outputs of NAME_run: C guarantees 127 parameters per call;
 * a model with more gets no typed entry (the packed ones always exist). */
#define CG_MAX_TYPED_PARAMS 127

static int64_t align_up(int64_t v) { return (v + ALIGN - 1) / ALIGN * ALIGN; }

/* ---- the emitter table ------------------------------------------------------------------- */

cg_emit_fn cg_emitter(ir_op op) {
  switch (op) {
  case IR_OP_NEG:
  case IR_OP_ABS:
  case IR_OP_EXP:
  case IR_OP_LOG:
  case IR_OP_SQRT:
  case IR_OP_RECIPROCAL:
  case IR_OP_SIN:
  case IR_OP_COS:
  case IR_OP_TAN:
  case IR_OP_ASIN:
  case IR_OP_ACOS:
  case IR_OP_ATAN:
  case IR_OP_SINH:
  case IR_OP_COSH:
  case IR_OP_ASINH:
  case IR_OP_ACOSH:
  case IR_OP_ATANH:
  case IR_OP_TANH:
  case IR_OP_SIGMOID:
  case IR_OP_RELU:
  case IR_OP_LEAKY_RELU:
  case IR_OP_ELU:
  case IR_OP_SELU:
  case IR_OP_CELU:
  case IR_OP_GELU:
  case IR_OP_SILU:
  case IR_OP_SOFTPLUS:
  case IR_OP_SOFTSIGN:
  case IR_OP_HARD_SIGMOID:
  case IR_OP_HARD_SWISH:
  case IR_OP_MISH:
  case IR_OP_THRESHOLDED_RELU:
  case IR_OP_SHRINK:
  case IR_OP_ERF:
  case IR_OP_FLOOR:
  case IR_OP_CEIL:
  case IR_OP_ROUND:
  case IR_OP_SIGN:
  case IR_OP_CLIP:
  case IR_OP_NOT:
  case IR_OP_ISNAN:
  case IR_OP_ISINF: return cg_emit_unary;
  case IR_OP_CAST: return cg_emit_cast;
  case IR_OP_IDENTITY:
  case IR_OP_DROPOUT:
  case IR_OP_RESHAPE:
  case IR_OP_FLATTEN:
  case IR_OP_SQUEEZE:
  case IR_OP_UNSQUEEZE: return cg_emit_copy;
  case IR_OP_ADD:
  case IR_OP_SUB:
  case IR_OP_MUL:
  case IR_OP_DIV:
  case IR_OP_POW:
  case IR_OP_MAX:
  case IR_OP_MIN:
  case IR_OP_MOD:
  case IR_OP_PRELU:
  case IR_OP_EQUAL:
  case IR_OP_LESS:
  case IR_OP_LESS_EQUAL:
  case IR_OP_GREATER:
  case IR_OP_GREATER_EQUAL:
  case IR_OP_AND:
  case IR_OP_OR:
  case IR_OP_XOR: return cg_emit_binary;
  case IR_OP_WHERE: return cg_emit_where;
  case IR_OP_MATMUL: return cg_emit_matmul;
  case IR_OP_CONV: return cg_emit_conv;
  case IR_OP_CONV_TRANSPOSE: return cg_emit_conv_transpose;
  case IR_OP_MAX_POOL:
  case IR_OP_AVG_POOL:
  case IR_OP_LP_POOL: return cg_emit_pool;
  case IR_OP_GLOBAL_AVG_POOL:
  case IR_OP_GLOBAL_MAX_POOL:
  case IR_OP_GLOBAL_LP_POOL: return cg_emit_global_pool;
  case IR_OP_REDUCE_SUM:
  case IR_OP_REDUCE_MEAN:
  case IR_OP_REDUCE_MAX:
  case IR_OP_REDUCE_MIN:
  case IR_OP_REDUCE_PROD:
  case IR_OP_REDUCE_L1:
  case IR_OP_REDUCE_L2:
  case IR_OP_REDUCE_SUM_SQUARE:
  case IR_OP_REDUCE_LOG_SUM:
  case IR_OP_REDUCE_LOG_SUM_EXP: return cg_emit_reduce;
  case IR_OP_ARGMAX:
  case IR_OP_ARGMIN: return cg_emit_arg_reduce;
  case IR_OP_CUMSUM: return cg_emit_cumsum;
  case IR_OP_SOFTMAX:
  case IR_OP_LOG_SOFTMAX:
  case IR_OP_HARDMAX: return cg_emit_softmax;
  case IR_OP_LAYER_NORM:
  case IR_OP_RMS_NORM: return cg_emit_layer_norm;
  case IR_OP_BATCH_NORM: return cg_emit_batch_norm;
  case IR_OP_INSTANCE_NORM:
  case IR_OP_GROUP_NORM: return cg_emit_group_norm;
  case IR_OP_LP_NORMALIZATION: return cg_emit_lp_normalization;
  case IR_OP_LRN: return cg_emit_lrn;
  case IR_OP_TRANSPOSE: return cg_emit_transpose;
  case IR_OP_CONCAT: return cg_emit_concat;
  case IR_OP_SPLIT: return cg_emit_split;
  case IR_OP_SLICE: return cg_emit_slice;
  case IR_OP_GATHER: return cg_emit_gather;
  case IR_OP_GATHER_ELEMENTS: return cg_emit_gather_elements;
  case IR_OP_GATHER_ND: return cg_emit_gather_nd;
  case IR_OP_EXPAND: return cg_emit_expand;
  case IR_OP_PAD: return cg_emit_pad;
  case IR_OP_TILE: return cg_emit_tile;
  case IR_OP_DEPTH_TO_SPACE: return cg_emit_depth_to_space;
  case IR_OP_SPACE_TO_DEPTH: return cg_emit_space_to_depth;
  case IR_OP_TRILU: return cg_emit_trilu;
  case IR_OP_ONE_HOT: return cg_emit_one_hot;
  case IR_OP_RESIZE: return cg_emit_resize;
  case IR_OP_FUSED: return cg_emit_fused;
  default: return NULL;
  }
}

int cg_op_is_static(ir_op op) {
  return op == IR_OP_RANGE || op == IR_OP_SHAPE || op == IR_OP_SIZE ||
         op == IR_OP_CONSTANT_OF_SHAPE;
}

/* ---- layout ------------------------------------------------------------------------------ */

typedef struct {
  const ir_graph *g;
  cg_artifact *a;
  int64_t wcap;
  kiln_diag *d;
  cgl *L;
} layout;

/* Appends n bytes (64-byte aligned) to the weights; returns the offset. */
static int64_t weights_append(layout *lay, const void *data, int64_t n) {
  cg_artifact *a = lay->a;
  int64_t off = align_up(a->weights_size);
  int64_t need = align_up(off + n);
  if (need > lay->wcap) {
    int64_t cap = lay->wcap ? lay->wcap : 4096;
    while (cap < need) cap *= 2;
    a->weights = kiln_xrealloc(a->weights, (size_t)cap);
    memset(a->weights + lay->wcap, 0, (size_t)(cap - lay->wcap));
    lay->wcap = cap;
  }
  if (n > 0) memcpy(a->weights + off, data, (size_t)n);
  a->weights_size = need;
  return off;
}

static int is_live_node_output(const ir_graph *g, int v) {
  const ir_value *val = &g->values[v];
  return val->kind == IR_VAL_NODE && val->producer >= 0 && !g->nodes[val->producer].dead;
}

/* Evaluates a static node (its outputs depend on attributes and input types
 * only) and stores its outputs with the weights. */
static int eval_static(layout *lay, const ir_node *n) {
  const ir_graph *g = lay->g;
  int rc = KILN_OK;
  ir_tensor *ins = kiln_xcalloc((size_t)n->n_in + 1, sizeof(ir_tensor));
  const ir_tensor **inp = kiln_xcalloc((size_t)n->n_in + 1, sizeof(ir_tensor *));
  ir_tensor *outs = kiln_xcalloc((size_t)n->n_out + 1, sizeof(ir_tensor));
  ir_tensor **outp = kiln_xcalloc((size_t)n->n_out + 1, sizeof(ir_tensor *));
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) continue;
    const ir_value *v = &g->values[n->in[i]];
    ins[i].type = v->type;
    ins[i].data = v->kind == IR_VAL_CONST ? v->data : NULL; /* only types are read */
    inp[i] = &ins[i];
  }
  int made = 0;
  for (int j = 0; j < n->n_out && !rc; j++, made++) {
    rc = ir_tensor_alloc(&outs[j], &g->values[n->out[j]].type, lay->d);
    outp[j] = &outs[j];
  }
  if (!rc) rc = ir_eval_node(g, n, inp, outp, lay->d);
  for (int j = 0; j < n->n_out && !rc; j++) {
    cg_storage *s = &lay->a->st[n->out[j]];
    s->kind = CG_ST_WEIGHTS;
    s->offset = weights_append(lay, outs[j].data, ir_type_nbytes(&outs[j].type));
  }
  for (int j = 0; j < made; j++) ir_tensor_release(&outs[j]);
  free(ins);
  free(inp);
  free(outs);
  free(outp);
  return rc;
}

/* The inputs' constant data (NULL for the others) of node n. */
static const void **const_inputs(const ir_graph *g, const ir_node *n) {
  const void **c = kiln_xcalloc((size_t)n->n_in + 1, sizeof(void *));
  for (int i = 0; i < n->n_in; i++)
    if (n->in[i] >= 0 && g->values[n->in[i]].kind == IR_VAL_CONST) c[i] = g->values[n->in[i]].data;
  return c;
}

/* Runs the preparers (cg_prep): blobs, scratch, and constants read only
 * through blobs, whose uses are dropped from uses[] so that they are not
 * stored when nothing else needs them. */
static int prepare_nodes(layout *lay, cg_prep *preps, int *uses) {
  const ir_graph *g = lay->g;
  cg_artifact *a = lay->a;
  a->blob_off = kiln_xcalloc((size_t)g->n_nodes + 1, sizeof(int64_t));
  a->node_scratch = kiln_xcalloc((size_t)g->n_nodes + 1, sizeof(int64_t));
  for (int i = 0; i < g->n_nodes; i++) a->blob_off[i] = -1;
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    cg_prep_fn prep = n->dead ? NULL : n->op == IR_OP_FUSED ? cg_prep_fused : cg_preparer(n->op);
    if (!prep) continue;
    cg_kernel k;
    memset(&k, 0, sizeof k);
    k.L = lay->L;
    k.g = g;
    k.n = n;
    k.d = lay->d;
    k.n_in = n->n_in;
    k.n_out = n->n_out;
    k.in_t = kiln_xcalloc((size_t)n->n_in + 1, sizeof(ir_type *));
    k.out_t = kiln_xcalloc((size_t)n->n_out + 1, sizeof(ir_type *));
    for (int j = 0; j < n->n_in; j++)
      if (n->in[j] >= 0) k.in_t[j] = &g->values[n->in[j]].type;
    for (int j = 0; j < n->n_out; j++) k.out_t[j] = &g->values[n->out[j]].type;
    k.in_const = const_inputs(g, n);
    int rc = prep(&k, &preps[i]);
    free(k.in_t);
    free(k.out_t);
    free((void *)k.in_const);
    if (rc) return rc;
    a->node_scratch[i] = align_up(preps[i].scratch);
    if (a->node_scratch[i] > a->scratch_size) a->scratch_size = a->node_scratch[i];
    for (int j = 0; j < n->n_in && j < 64; j++)
      if ((preps[i].consumes >> j & 1) && n->in[j] >= 0 &&
          g->values[n->in[j]].kind == IR_VAL_CONST && uses[n->in[j]] > 0)
        uses[n->in[j]]--;
  }
  return KILN_OK;
}

/* A view node (ir_op_is_view) whose result aliases its input: no kernel,
 * the input's storage. The memory plan must agree: the result has the
 * input's offset (plan-memory gives views their input's; unplanned values
 * have -1), else it is copied like any other result. */
static int view_alias(const ir_graph *g, const ir_node *n) {
  if (n->dead || n->body || !ir_op_is_view(n->op) || n->n_out != 1 || n->n_in < 1 || n->in[0] < 0)
    return 0;
  const ir_value *x = &g->values[n->in[0]], *y = &g->values[n->out[0]];
  return x->typed && y->typed && ir_type_nbytes(&x->type) == ir_type_nbytes(&y->type) &&
         x->offset == y->offset;
}

/* v is the result of an aliasing view. */
static int is_view_value(const ir_graph *g, int v) {
  const ir_value *val = &g->values[v];
  return val->kind == IR_VAL_NODE && val->producer >= 0 && view_alias(g, &g->nodes[val->producer]);
}

/* The value a chain of aliasing views starts from. */
static int view_root(const ir_graph *g, int v) {
  while (is_view_value(g, v)) v = g->nodes[g->values[v].producer].in[0];
  return v;
}

static int plan_storage(layout *lay) {
  const ir_graph *g = lay->g;
  cg_artifact *a = lay->a;
  int *uses = kiln_xcalloc((size_t)g->n_values + 1, sizeof(int));
  ir_count_uses(g, uses);
  a->st = kiln_xcalloc((size_t)g->n_values + 1, sizeof(cg_storage));
  int rc = KILN_OK;
  for (int i = 0; i < g->n_inputs; i++) {
    a->st[g->inputs[i]].kind = CG_ST_INPUT;
    a->st[g->inputs[i]].index = i;
  }
  for (int i = 0; i < g->n_nodes && !rc; i++)
    if (!g->nodes[i].dead && cg_op_is_static(g->nodes[i].op)) rc = eval_static(lay, &g->nodes[i]);
  cg_prep *preps = kiln_xcalloc((size_t)g->n_nodes + 1, sizeof(cg_prep));
  if (!rc) rc = prepare_nodes(lay, preps, uses);
  for (int v = 0; v < g->n_values && !rc; v++) {
    const ir_value *val = &g->values[v];
    if (val->dead || val->kind != IR_VAL_CONST || uses[v] == 0) continue;
    if (!val->data && ir_type_nbytes(&val->type) > 0) {
      rc = kiln_diag_error(lay->d, KILN_E_INVALID, "%s: constant '%s' has no data (elided)",
                           g->source, val->name);
      break;
    }
    a->st[v].kind = CG_ST_WEIGHTS;
    a->st[v].offset = weights_append(lay, val->data, ir_type_nbytes(&val->type));
  }
  /* prepared blobs (pre-packed weights) */
  for (int i = 0; i < g->n_nodes && !rc; i++) {
    if (!preps[i].blob) continue;
    a->blob_off[i] = weights_append(lay, preps[i].blob, preps[i].blob_size);
  }
  for (int i = 0; i < g->n_nodes; i++) free(preps[i].blob);
  free(preps);
  /* graph outputs produced by kernels go straight to the caller's buffer;
   * so does the value a view that is an output aliases, when it is made by
   * a kernel and is no output itself */
  for (int j = 0; j < g->n_outputs; j++) {
    int v = g->outputs[j];
    if (a->st[v].kind == CG_ST_NONE && is_live_node_output(g, v) && !is_view_value(g, v)) {
      a->st[v].kind = CG_ST_OUTPUT;
      a->st[v].index = j;
    }
  }
  for (int j = 0; j < g->n_outputs; j++) {
    int v = g->outputs[j];
    if (!is_view_value(g, v)) continue;
    int r = view_root(g, v);
    if (a->st[r].kind == CG_ST_NONE && is_live_node_output(g, r)) {
      a->st[r].kind = CG_ST_OUTPUT;
      a->st[r].index = j;
    }
  }
  /* intermediates: planned offsets first, the rest bump-allocated after them */
  int64_t end = g->arena_bytes > 0 ? g->arena_bytes : 0;
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (a->st[v].kind == CG_ST_NONE && is_live_node_output(g, v) && val->offset >= 0 &&
        !is_view_value(g, v)) {
      int64_t e = val->offset + ir_type_nbytes(&val->type);
      if (e > end) end = e;
    }
  }
  end = align_up(end);
  for (int v = 0; v < g->n_values && !rc; v++) {
    const ir_value *val = &g->values[v];
    if (a->st[v].kind != CG_ST_NONE || !is_live_node_output(g, v) || is_view_value(g, v))
      continue;
    a->st[v].kind = CG_ST_WORKSPACE;
    if (val->offset >= 0) {
      if (val->offset % ALIGN) {
        rc = kiln_diag_error(lay->d, KILN_E_INVALID,
                             "%s: value '%s' has arena offset %lld, not a multiple of %d",
                             g->source, val->name, (long long)val->offset, ALIGN);
        break;
      }
      a->st[v].offset = val->offset;
    } else {
      a->st[v].offset = end;
      end = align_up(end + ir_type_nbytes(&val->type));
    }
  }
  /* views: their input's storage (node order: inputs first) */
  for (int i = 0; i < g->n_nodes; i++)
    if (view_alias(g, &g->nodes[i])) a->st[g->nodes[i].out[0]] = a->st[g->nodes[i].in[0]];
  /* the kernels' scratch region, after the values */
  a->scratch_offset = align_up(end);
  a->workspace_size = align_up(a->scratch_offset + a->scratch_size);
  free(uses);
  return rc;
}

/* ---- kernels ----------------------------------------------------------------------------- */

static int same_storage(const cg_storage *x, const cg_storage *y) {
  return x->kind == y->kind && x->kind == CG_ST_WORKSPACE && x->offset == y->offset;
}

/* Emits node n's kernel function; returns it in *fn (NULL for static nodes). */
static int has_prep(const cg_artifact *a, int idx) {
  return a->blob_off && (a->blob_off[idx] >= 0 || a->node_scratch[idx] > 0);
}

static int emit_kernel(cgl *L, const ir_graph *g, const cg_artifact *a, int idx, LLVMValueRef *fn,
                       kiln_diag *d) {
  const ir_node *n = &g->nodes[idx];
  *fn = NULL;
  if (cg_op_is_static(n->op) || view_alias(g, n)) return KILN_OK;
  cg_emit_fn emit = cg_emitter(n->op);
  char desc[IR_MAX_NAME + 128];
  if (!emit)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: code generation does not support %s yet",
                           g->source, ir_node_desc(g, n, desc, sizeof desc), ir_op_name(n->op));
  int np = 0;
  for (int i = 0; i < n->n_in; i++) np += n->in[i] >= 0;
  np += n->n_out;
  /* prepared kernels (cg_prep): + the blob's address and the scratch region */
  int prepared = has_prep(a, idx);
  np += 2 * prepared;
  LLVMTypeRef *pt = kiln_xmalloc(sizeof(LLVMTypeRef) * (size_t)np);
  for (int i = 0; i < np; i++) pt[i] = L->t_ptr;
  char name[64];
  snprintf(name, sizeof name, "kiln_k%d_%s", idx, ir_op_name(n->op));
  *fn = cgl_func_begin(L, name, L->t_i32, pt, (unsigned)np, LLVMInternalLinkage);
  free(pt);
  /* one function per node keeps profiles and assembly readable */
  cgl_attr(L, *fn, LLVMAttributeFunctionIndex, "noinline", 0);
  cg_kernel k;
  memset(&k, 0, sizeof k);
  k.L = L;
  k.g = g;
  k.n = n;
  k.d = d;
  k.n_in = n->n_in;
  k.n_out = n->n_out;
  k.in = kiln_xcalloc((size_t)n->n_in + 1, sizeof(LLVMValueRef));
  k.in_t = kiln_xcalloc((size_t)n->n_in + 1, sizeof(ir_type *));
  k.out = kiln_xcalloc((size_t)n->n_out + 1, sizeof(LLVMValueRef));
  k.out_t = kiln_xcalloc((size_t)n->n_out + 1, sizeof(ir_type *));
  /* A memory plan may write an elementwise result over its input (the
   * same workspace slot): those parameters lose noalias, and k.in_place
   * tells the emitter (the kernels of such ops read and write each element
   * at the same index, so they stay correct). */
  k.in_place = kiln_xcalloc((size_t)n->n_out + 1, sizeof(int));
  char *shared = kiln_xcalloc((size_t)n->n_in + 1, 1);
  for (int j = 0; j < n->n_out; j++)
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] >= 0 && same_storage(&a->st[n->in[i]], &a->st[n->out[j]])) {
        k.in_place[j] = 1;
        shared[i] = 1;
      }
  unsigned p = 0;
  for (int i = 0; i < n->n_in; i++) {
    if (n->in[i] < 0) continue;
    k.in[i] = LLVMGetParam(*fn, p);
    k.in_t[i] = &g->values[n->in[i]].type;
    if (!shared[i]) cgl_attr(L, *fn, p + 1, "noalias", 0);
    cgl_attr(L, *fn, p + 1, "nocapture", 0);
    if (!shared[i]) cgl_attr(L, *fn, p + 1, "readonly", 0);
    p++;
  }
  for (int j = 0; j < n->n_out; j++) {
    k.out[j] = LLVMGetParam(*fn, p);
    k.out_t[j] = &g->values[n->out[j]].type;
    if (!k.in_place[j]) cgl_attr(L, *fn, p + 1, "noalias", 0);
    cgl_attr(L, *fn, p + 1, "nocapture", 0);
    p++;
  }
  free(shared);
  if (prepared) {
    if (a->blob_off[idx] >= 0) k.blob = LLVMGetParam(*fn, p);
    cgl_attr(L, *fn, p + 1, "noalias", 0);
    cgl_attr(L, *fn, p + 1, "readonly", 0);
    p++;
    if (a->node_scratch[idx] > 0) k.scratch = LLVMGetParam(*fn, p);
    cgl_attr(L, *fn, p + 1, "noalias", 0);
    p++;
  }
  k.in_const = const_inputs(g, n);
  int rc = emit(&k);
  if (!rc) LLVMBuildRet(L->b, cgl_i32(L, 0));
  free((void *)k.in_const);
  free(k.in);
  free(k.in_t);
  free(k.out);
  free(k.out_t);
  free(k.in_place);
  return rc;
}

/* ---- entries ----------------------------------------------------------------------------- */

typedef struct {
  cgl *L;
  const ir_graph *g;
  const cg_artifact *a;
  LLVMValueRef *in_ptr, *out_ptr;
  LLVMValueRef ws, w;
} entry_ctx;

static LLVMValueRef value_ptr(entry_ctx *e, int v) {
  const cg_storage *s = &e->a->st[v];
  switch (s->kind) {
  case CG_ST_INPUT: return e->in_ptr[s->index];
  case CG_ST_OUTPUT: return e->out_ptr[s->index];
  case CG_ST_WORKSPACE: return cgl_byte_gep(e->L, e->ws, s->offset);
  case CG_ST_WEIGHTS: return cgl_byte_gep(e->L, e->w, s->offset);
  case CG_ST_NONE: return cgl_null(e->L); /* a constant read only through a blob */
  default: KILN_UNREACHABLE();
  }
}

static LLVMValueRef is_misaligned(cgl *L, LLVMValueRef p) {
  LLVMValueRef i = LLVMBuildPtrToInt(L->b, p, L->t_i64, "");
  LLVMValueRef m = LLVMBuildAnd(L->b, i, cgl_i64(L, ALIGN - 1), "");
  return LLVMBuildICmp(L->b, LLVMIntNE, m, cgl_i64(L, 0), "");
}

/* if (cond) { status = code; goto done; } */
static void fail_to(cgl *L, LLVMValueRef cond, LLVMValueRef code, LLVMValueRef status,
                    LLVMBasicBlockRef done) {
  LLVMBasicBlockRef bad = cgl_block(L, "fail"), ok = cgl_block(L, "ok");
  LLVMBuildCondBr(L->b, cond, bad, ok);
  LLVMPositionBuilderAtEnd(L->b, bad);
  LLVMBuildStore(L->b, code, status);
  LLVMBuildBr(L->b, done);
  LLVMPositionBuilderAtEnd(L->b, ok);
}

/* int NAME_run_packed_w(void *const *inputs, void *const *outputs,
 *                       void *workspace, const void *weights) */
static LLVMValueRef emit_run_packed_w(cgl *L, const ir_graph *g, const cg_artifact *a,
                                      LLVMValueRef *kernels, LLVMValueRef default_w) {
  char name[CG_MAX_NAME + 32];
  snprintf(name, sizeof name, "%s_run_packed_w", a->name);
  LLVMTypeRef pt[4] = {L->t_ptr, L->t_ptr, L->t_ptr, L->t_ptr};
  LLVMValueRef fn = cgl_func_begin(L, name, L->t_i32, pt, 4, LLVMExternalLinkage);
  LLVMValueRef inputs = LLVMGetParam(fn, 0), outputs = LLVMGetParam(fn, 1);
  LLVMValueRef ws_arg = LLVMGetParam(fn, 2), w_arg = LLVMGetParam(fn, 3);
  LLVMValueRef status = cgl_alloca(L, L->t_i32, "status");
  LLVMValueRef owned = cgl_alloca(L, L->t_ptr, "owned");
  LLVMBuildStore(L->b, cgl_i32(L, KILN_ARTIFACT_OK), status);
  LLVMBuildStore(L->b, cgl_null(L), owned);
  LLVMBasicBlockRef done = cgl_block(L, "done");

  /* weights: the caller's, else the default (embedded or set_weights) */
  LLVMValueRef w_is_null = LLVMBuildICmp(L->b, LLVMIntEQ, w_arg, cgl_null(L), "");
  LLVMValueRef dw = default_w;
  if (a->weights_mode == CG_WEIGHTS_FILE && default_w)
    dw = LLVMBuildLoad2(L->b, L->t_ptr, default_w, "loaded");
  LLVMValueRef w = LLVMBuildSelect(L->b, w_is_null, dw ? dw : cgl_null(L), w_arg, "w");
  if (a->weights_size > 0) {
    fail_to(L, LLVMBuildICmp(L->b, LLVMIntEQ, w, cgl_null(L), ""),
            cgl_i32(L, KILN_ARTIFACT_E_NO_WEIGHTS), status, done);
    fail_to(L, is_misaligned(L, w), cgl_i32(L, KILN_ARTIFACT_E_ALIGN), status, done);
  }
  /* workspace: the caller's, else malloc'd for this call */
  LLVMValueRef ws = ws_arg;
  if (a->workspace_size > 0) {
    LLVMValueRef ws_p = cgl_alloca(L, L->t_ptr, "ws");
    LLVMBuildStore(L->b, ws_arg, ws_p);
    cgl_if c;
    cgl_if_begin(L, &c, LLVMBuildICmp(L->b, LLVMIntEQ, ws_arg, cgl_null(L), ""));
    LLVMTypeRef at[2] = {L->t_i64, L->t_i64};
    LLVMValueRef alloc = cgl_declare(L, "aligned_alloc", L->t_ptr, at, 2, 0);
    LLVMValueRef args[2] = {cgl_i64(L, ALIGN), cgl_i64(L, a->workspace_size)};
    LLVMValueRef m = cgl_call(L, alloc, args, 2);
    fail_to(L, LLVMBuildICmp(L->b, LLVMIntEQ, m, cgl_null(L), ""),
            cgl_i32(L, KILN_ARTIFACT_E_NOMEM), status, done);
    LLVMBuildStore(L->b, m, owned);
    LLVMBuildStore(L->b, m, ws_p);
    cgl_else(L, &c);
    fail_to(L, is_misaligned(L, ws_arg), cgl_i32(L, KILN_ARTIFACT_E_ALIGN), status, done);
    cgl_if_end(L, &c);
    ws = LLVMBuildLoad2(L->b, L->t_ptr, ws_p, "ws");
  }
  entry_ctx e = {.L = L, .g = g, .a = a, .ws = ws, .w = w};
  e.in_ptr = kiln_xcalloc((size_t)g->n_inputs + 1, sizeof(LLVMValueRef));
  e.out_ptr = kiln_xcalloc((size_t)g->n_outputs + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < g->n_inputs; i++) e.in_ptr[i] = cgl_load(L, L->t_ptr, inputs, cgl_i64(L, i));
  for (int j = 0; j < g->n_outputs; j++)
    e.out_ptr[j] = cgl_load(L, L->t_ptr, outputs, cgl_i64(L, j));

  /* the kernels, in node order */
  for (int i = 0; i < g->n_nodes; i++) {
    if (!kernels[i]) continue;
    const ir_node *n = &g->nodes[i];
    LLVMValueRef *args = kiln_xcalloc((size_t)(n->n_in + n->n_out) + 3, sizeof(LLVMValueRef));
    unsigned na = 0;
    for (int k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) args[na++] = value_ptr(&e, n->in[k]);
    for (int j = 0; j < n->n_out; j++) args[na++] = value_ptr(&e, n->out[j]);
    if (has_prep(a, i)) {
      args[na++] = a->blob_off[i] >= 0 ? cgl_byte_gep(L, e.w, a->blob_off[i]) : cgl_null(L);
      args[na++] = a->node_scratch[i] > 0 ? cgl_byte_gep(L, e.ws, a->scratch_offset) : cgl_null(L);
    }
    LLVMValueRef rc = cgl_call(L, kernels[i], args, na);
    free(args);
    LLVMValueRef bad = LLVMBuildICmp(L->b, LLVMIntNE, rc, cgl_i32(L, 0), "");
    fail_to(L, bad, rc, status, done);
  }
  /* outputs that no kernel wrote: inputs, constants, repeats */
  for (int j = 0; j < g->n_outputs; j++) {
    int v = g->outputs[j];
    const cg_storage *s = &a->st[v];
    if (s->kind == CG_ST_OUTPUT && s->index == j) continue;
    int64_t nb = ir_type_nbytes(&g->values[v].type);
    if (nb > 0) cgl_memcpy(L, e.out_ptr[j], value_ptr(&e, v), cgl_i64(L, nb));
  }
  LLVMBuildBr(L->b, done);
  LLVMPositionBuilderAtEnd(L->b, done);
  if (a->workspace_size > 0) {
    LLVMTypeRef ft = L->t_ptr;
    LLVMValueRef fr = cgl_declare(L, "free", L->t_void, &ft, 1, 0);
    LLVMValueRef p = LLVMBuildLoad2(L->b, L->t_ptr, owned, "");
    cgl_call(L, fr, &p, 1);
  }
  LLVMBuildRet(L->b, LLVMBuildLoad2(L->b, L->t_i32, status, ""));
  free(e.in_ptr);
  free(e.out_ptr);
  return fn;
}

/* int NAME_run_packed(inputs, outputs, workspace): the default weights. */
static LLVMValueRef emit_run_packed(cgl *L, const cg_artifact *a, LLVMValueRef run_w) {
  char name[CG_MAX_NAME + 32];
  snprintf(name, sizeof name, "%s_run_packed", a->name);
  LLVMTypeRef pt[3] = {L->t_ptr, L->t_ptr, L->t_ptr};
  LLVMValueRef fn = cgl_func_begin(L, name, L->t_i32, pt, 3, LLVMExternalLinkage);
  LLVMValueRef args[4] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2),
                          cgl_null(L)};
  LLVMBuildRet(L->b, cgl_call(L, run_w, args, 4));
  return fn;
}

/* int NAME_run(const T *in..., T *out...): packs the pointers and calls
 * NAME_run_packed with a per-call workspace. */
static void emit_run_typed(cgl *L, const ir_graph *g, const cg_artifact *a, LLVMValueRef run) {
  char name[CG_MAX_NAME + 32];
  snprintf(name, sizeof name, "%s_run", a->name);
  int np = g->n_inputs + g->n_outputs;
  LLVMTypeRef *pt = kiln_xcalloc((size_t)np + 1, sizeof(LLVMTypeRef));
  for (int i = 0; i < np; i++) pt[i] = L->t_ptr;
  LLVMValueRef fn = cgl_func_begin(L, name, L->t_i32, pt, (unsigned)np, LLVMExternalLinkage);
  free(pt);
  LLVMValueRef arr[2] = {cgl_null(L), cgl_null(L)};
  int counts[2] = {g->n_inputs, g->n_outputs};
  for (int s = 0, p = 0; s < 2; s++) {
    if (!counts[s]) continue;
    LLVMTypeRef at = LLVMArrayType2(L->t_ptr, (uint64_t)counts[s]);
    arr[s] = cgl_alloca(L, at, s ? "outs" : "ins");
    for (int i = 0; i < counts[s]; i++, p++)
      cgl_store(L, LLVMGetParam(fn, (unsigned)p), arr[s], cgl_i64(L, i));
  }
  LLVMValueRef args[3] = {arr[0], arr[1], cgl_null(L)};
  LLVMBuildRet(L->b, cgl_call(L, run, args, 3));
}

/* int NAME_set_weights(const void *image, uint64_t size): checks a
 * NAME.weights image (header, size, checksum, alignment) and makes its data
 * the default weights. */
static void emit_set_weights(cgl *L, const cg_artifact *a, LLVMValueRef loaded) {
  char name[CG_MAX_NAME + 32];
  snprintf(name, sizeof name, "%s_set_weights", a->name);
  LLVMTypeRef pt[2] = {L->t_ptr, L->t_i64};
  LLVMValueRef fn = cgl_func_begin(L, name, L->t_i32, pt, 2, LLVMExternalLinkage);
  LLVMValueRef img = LLVMGetParam(fn, 0), size = LLVMGetParam(fn, 1);
  LLVMValueRef bad_w = cgl_i32(L, KILN_ARTIFACT_E_WEIGHTS);
  LLVMValueRef status = cgl_alloca(L, L->t_i32, "status");
  LLVMBasicBlockRef done = cgl_block(L, "done");
  LLVMBuildStore(L->b, cgl_i32(L, KILN_ARTIFACT_OK), status);
  int64_t hs = KILN_ARTIFACT_WEIGHTS_HEADER;
  fail_to(L, LLVMBuildICmp(L->b, LLVMIntEQ, img, cgl_null(L), ""), bad_w, status, done);
  fail_to(L, LLVMBuildICmp(L->b, LLVMIntULT, size, cgl_i64(L, hs + a->weights_size), ""), bad_w,
          status, done);
  /* header fields (unaligned loads: the image is only checked below) */
  struct {
    int64_t off;
    LLVMTypeRef t;
    uint64_t want;
  } fields[] = {
      {0, L->t_i64, 0x3154475700000000ull | 0x4e4c494bull}, /* "KILNWGT1" little-endian */
      {8, L->t_i32, KILN_ARTIFACT_ABI_VERSION},
      {12, L->t_i32, (uint64_t)hs},
      {16, L->t_i64, (uint64_t)a->weights_size},
      {24, L->t_i64, a->checksum},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    LLVMValueRef ld = LLVMBuildLoad2(L->b, fields[i].t, cgl_byte_gep(L, img, fields[i].off), "");
    LLVMSetAlignment(ld, 1);
    LLVMValueRef want = LLVMConstInt(fields[i].t, fields[i].want, 0);
    fail_to(L, LLVMBuildICmp(L->b, LLVMIntNE, ld, want, ""), bad_w, status, done);
  }
  LLVMValueRef data = cgl_byte_gep(L, img, hs);
  fail_to(L, is_misaligned(L, data), cgl_i32(L, KILN_ARTIFACT_E_ALIGN), status, done);
  /* FNV-1a 64 over the data */
  LLVMValueRef h_p = cgl_alloca(L, L->t_i64, "h");
  LLVMBuildStore(L->b, LLVMConstInt(L->t_i64, 0xcbf29ce484222325ull, 0), h_p);
  cgl_loop lp;
  LLVMValueRef i = cgl_loop_begin(L, &lp, cgl_i64(L, 0), cgl_i64(L, a->weights_size), "byte");
  LLVMValueRef byte = LLVMBuildZExt(L->b, cgl_load(L, L->t_i8, data, i), L->t_i64, "");
  LLVMValueRef h = LLVMBuildXor(L->b, LLVMBuildLoad2(L->b, L->t_i64, h_p, ""), byte, "");
  LLVMBuildStore(L->b, LLVMBuildMul(L->b, h, LLVMConstInt(L->t_i64, 0x100000001b3ull, 0), ""), h_p);
  cgl_loop_end(L, &lp);
  LLVMValueRef sum = LLVMBuildLoad2(L->b, L->t_i64, h_p, "");
  fail_to(L, LLVMBuildICmp(L->b, LLVMIntNE, sum, LLVMConstInt(L->t_i64, a->checksum, 0), ""), bad_w,
          status, done);
  LLVMBuildStore(L->b, data, loaded);
  LLVMBuildBr(L->b, done);
  LLVMPositionBuilderAtEnd(L->b, done);
  LLVMBuildRet(L->b, LLVMBuildLoad2(L->b, L->t_i32, status, ""));
}

/* ---- metadata ---------------------------------------------------------------------------- */

static LLVMTypeRef tensor_struct(cgl *L) {
  LLVMTypeRef f[5] = {L->t_ptr, L->t_i32, L->t_i32,
                      LLVMArrayType2(L->t_i64, KILN_ARTIFACT_MAX_RANK), L->t_i64};
  return LLVMStructTypeInContext(L->ctx, f, 5, 0);
}

static LLVMValueRef tensor_array(cgl *L, const ir_graph *g, const int *ids, int n) {
  if (n == 0) return cgl_null(L);
  LLVMTypeRef tt = tensor_struct(L);
  LLVMValueRef *elems = kiln_xcalloc((size_t)n, sizeof(LLVMValueRef));
  for (int i = 0; i < n; i++) {
    const ir_value *v = &g->values[ids[i]];
    LLVMValueRef dims[KILN_ARTIFACT_MAX_RANK];
    for (int r = 0; r < KILN_ARTIFACT_MAX_RANK; r++)
      dims[r] = cgl_i64(L, r < v->type.rank ? v->type.dims[r] : 0);
    LLVMValueRef f[5] = {cgl_const_cstring(L, v->name), cgl_i32(L, (int32_t)v->type.dtype),
                         cgl_i32(L, v->type.rank),
                         LLVMConstArray2(L->t_i64, dims, KILN_ARTIFACT_MAX_RANK),
                         cgl_i64(L, ir_type_nbytes(&v->type))};
    elems[i] = LLVMConstStructInContext(L->ctx, f, 5, 0);
  }
  LLVMValueRef init = LLVMConstArray2(tt, elems, (uint64_t)n);
  free(elems);
  LLVMValueRef gv = LLVMAddGlobal(L->mod, LLVMTypeOf(init), ".tensors");
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  return gv;
}

/* const kiln_artifact_metadata *NAME_metadata(void) */
static void emit_metadata(cgl *L, const ir_graph *g, const cg_artifact *a) {
  LLVMTypeRef f[18] = {L->t_i32, L->t_i32, L->t_ptr, L->t_ptr, L->t_ptr, L->t_ptr,
                       L->t_ptr, L->t_ptr, L->t_i32, L->t_i32, L->t_ptr, L->t_ptr,
                       L->t_i64, L->t_i64, L->t_i64, L->t_i64, L->t_i32, L->t_i32};
  LLVMTypeRef mt = LLVMStructTypeInContext(L->ctx, f, 18, 0);
  LLVMValueRef v[18] = {
      cgl_i32(L, KILN_ARTIFACT_ABI_VERSION),
      cgl_i32(L, (int32_t)LLVMABISizeOfType(L->td, mt)),
      cgl_const_cstring(L, a->name),
      cgl_const_cstring(L, g->name ? g->name : ""),
      cgl_const_cstring(L, KILN_VERSION),
      cgl_const_cstring(L, L->triple),
      cgl_const_cstring(L, L->cpu),
      cgl_const_cstring(L, L->features),
      cgl_i32(L, g->n_inputs),
      cgl_i32(L, g->n_outputs),
      tensor_array(L, g, g->inputs, g->n_inputs),
      tensor_array(L, g, g->outputs, g->n_outputs),
      cgl_i64(L, a->workspace_size),
      cgl_i64(L, ALIGN),
      cgl_i64(L, a->weights_size),
      LLVMConstInt(L->t_i64, a->checksum, 0),
      cgl_i32(L, a->weights_mode == CG_WEIGHTS_FILE ? KILN_ARTIFACT_WEIGHTS_FILE
                                                    : KILN_ARTIFACT_WEIGHTS_EMBEDDED),
      cgl_i32(L, 0),
  };
  LLVMValueRef init = LLVMConstStructInContext(L->ctx, v, 18, 0);
  LLVMValueRef gv = LLVMAddGlobal(L->mod, LLVMTypeOf(init), "kiln_metadata");
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMInternalLinkage);
  char name[CG_MAX_NAME + 32];
  snprintf(name, sizeof name, "%s_metadata", a->name);
  cgl_func_begin(L, name, L->t_ptr, NULL, 0, LLVMExternalLinkage);
  LLVMBuildRet(L->b, gv);
}

/* ---- C names of the typed entry's parameters --------------------------------------------- */

static void make_cnames(const ir_graph *g, cg_artifact *a) {
  int np = g->n_inputs + g->n_outputs;
  char **names = kiln_xcalloc((size_t)np + 1, sizeof(char *));
  for (int p = 0; p < np; p++) {
    int v = p < g->n_inputs ? g->inputs[p] : g->outputs[p - g->n_inputs];
    char base[IR_MAX_NAME + 8], buf[IR_MAX_NAME + 32];
    cg_c_ident(g->values[v].name, base, sizeof base);
    snprintf(buf, sizeof buf, "%s", base);
    /* unique among the parameters (a value may be input and output) */
    for (int s = 2;; s++) {
      int clash = 0;
      for (int q = 0; q < p && !clash; q++) clash = !strcmp(names[q], buf);
      if (!clash) break;
      snprintf(buf, sizeof buf, "%s_%d", base, s);
    }
    names[p] = kiln_xstrdup(buf);
  }
  a->in_cname = names;
  a->out_cname = names + g->n_inputs;
}

void cg_artifact_free(cg_artifact *a) {
  if (a->in_cname) {
    for (int p = 0; p < a->n_inputs + a->n_outputs; p++) free(a->in_cname[p]);
    free(a->in_cname);
  }
  free(a->weights);
  free(a->st);
  free(a->blob_off);
  free(a->node_scratch);
  memset(a, 0, sizeof *a);
}

/* ---- the module -------------------------------------------------------------------------- */

static int check_graph(const ir_graph *g, kiln_diag *d) {
  int rc = ir_verify(g, 1, d);
  if (rc) return rc;
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (val->dead || !val->typed) continue;
    if (!ir_dtype_supported(val->type.dtype))
      return kiln_diag_error(d, KILN_E_UNSUPPORTED,
                             "%s: value '%s' has dtype %s, which code generation does not support",
                             g->source, val->name, ir_dtype_name(val->type.dtype));
  }
  for (int i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead && g->nodes[i].body && g->nodes[i].op != IR_OP_FUSED) {
      char desc[IR_MAX_NAME + 128];
      return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: only fused nodes may have a body",
                             g->source, ir_node_desc(g, &g->nodes[i], desc, sizeof desc));
    }
  return KILN_OK;
}

int cg_cpu_emit(const ir_graph *g, cgl *L, cg_weights_mode wm, const char *name, cg_artifact *a,
                kiln_diag *d) {
  memset(a, 0, sizeof *a);
  int rc = check_graph(g, d);
  if (rc) return rc;
  snprintf(a->name, sizeof a->name, "%s", name);
  a->weights_mode = wm;
  a->n_inputs = g->n_inputs;
  a->n_outputs = g->n_outputs;
  a->has_typed = g->n_inputs + g->n_outputs <= CG_MAX_TYPED_PARAMS;
  layout lay = {.g = g, .a = a, .d = d, .L = L};
  if ((rc = plan_storage(&lay))) return rc;
  a->checksum = cg_fnv1a64(a->weights, (size_t)a->weights_size);
  make_cnames(g, a);

  LLVMValueRef *kernels = kiln_xcalloc((size_t)g->n_nodes + 1, sizeof(LLVMValueRef));
  for (int i = 0; i < g->n_nodes && !rc; i++)
    if (!g->nodes[i].dead) rc = emit_kernel(L, g, a, i, &kernels[i], d);
  if (rc) {
    free(kernels);
    return rc;
  }
  /* the default weights: the embedded data, or a pointer set_weights fills */
  LLVMValueRef default_w = NULL;
  if (wm == CG_WEIGHTS_EMBED && a->weights_size > 0) {
    default_w = cgl_const_bytes(L, "kiln_weights", a->weights, (size_t)a->weights_size, ALIGN);
    LLVMSetLinkage(default_w, LLVMInternalLinkage);
  } else if (wm == CG_WEIGHTS_FILE) {
    default_w = LLVMAddGlobal(L->mod, L->t_ptr, "kiln_loaded_weights");
    LLVMSetInitializer(default_w, cgl_null(L));
    LLVMSetLinkage(default_w, LLVMInternalLinkage);
  }
  LLVMValueRef run_w = emit_run_packed_w(L, g, a, kernels, default_w);
  LLVMValueRef run = emit_run_packed(L, a, run_w);
  if (a->has_typed) emit_run_typed(L, g, a, run);
  if (wm == CG_WEIGHTS_FILE) emit_set_weights(L, a, default_w);
  cg_par_finish(L, a->name, a->scratch_size);
  emit_metadata(L, g, a);
  free(kernels);
  return KILN_OK;
}

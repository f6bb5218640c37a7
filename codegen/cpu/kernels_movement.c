/* Data-movement kernels: transpose, concat, split, slice, expand, tile,
 * pad, depth_to_space, space_to_depth, gather, gather_elements, gather_nd,
 * trilu, one_hot and resize.
 *
 * Most of them are one strided copy: a loop nest over the output (or a view
 * of it) whose input offset is affine in the indices, or reads a per-axis
 * table (pad's reflect/edge/wrap, resize's nearest). Elements move as
 * integers of the element's width, so every dtype (and every NaN payload)
 * is copied bit-exactly, as the interpreter's memcpy does.
 *
 * The plans (which element goes where) mirror ir/ops_shape.c; where an op's
 * plan is recomputed here the comment says so. Nodes arrive inferred, so
 * their attributes are valid and canonical (inference checked them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cpu/kernels.h"
#include "kiln_artifact.h"

#define BLD (k->L->b)

/* The integer type as wide as one element of t. */
static LLVMTypeRef elem_bits(cg_kernel *k, ir_dtype t) {
  return LLVMIntTypeInContext(k->L->ctx, (unsigned)(ir_dtype_size(t) * 8));
}

static int64_t prod(const int64_t *d, int lo, int hi) {
  int64_t p = 1;
  for (int i = lo; i < hi; i++) p *= d[i];
  return p;
}

static void contig_strides(const ir_type *t, int64_t *s) {
  int64_t p = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    s[i] = p;
    p *= t->dims[i];
  }
}

/* ---- strided copies ---------------------------------------------------------------------- */

typedef struct {
  LLVMTypeRef t;
  LLVMValueRef src, dst;
} copy_ctx;

/* dst[off[1]] = src[off[0]] */
static void copy_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  const copy_ctx *c = user;
  cgl_store(k->L, cgl_load(k->L, c->t, c->src, off[0]), c->dst, off[1]);
}

/* Emits nest n (operand 0 reads src, operand 1 writes dst). */
static void copy_nest(cg_kernel *k, cg_nest *n, ir_dtype t, LLVMValueRef src, LLVMValueRef dst) {
  copy_ctx c = {elem_bits(k, t), src, dst};
  cg_nest_simplify(n);
  cg_nest_emit(k, n, copy_body, &c);
}

/* ---- transpose --------------------------------------------------------------------------- */

int cg_emit_transpose(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  const int64_t *p;
  int np = ir_attr_ints(k->n, "perm", &p);
  int64_t xs[IR_MAX_RANK];
  contig_strides(x, xs);
  /* y[i_0..] = x[i_k at axis perm[k]]: y: out dims, x read with permuted strides */
  cg_nest n;
  cg_nest_init(&n, y->rank, y->dims, 2);
  for (int i = 0; i < y->rank; i++) {
    int a = np < 0 ? x->rank - 1 - i : (int)p[i];
    KILN_ASSERT(a >= 0 && a < x->rank && x->dims[a] == y->dims[i]);
    n.stride[0][i] = xs[a];
  }
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  return KILN_OK;
}

/* ---- concat, split ----------------------------------------------------------------------- */

int cg_emit_concat(cg_kernel *k) {
  const ir_type *y = k->out_t[0];
  int axis = (int)ir_attr_int(k->n, "axis");
  if (axis < 0) axis += y->rank;
  KILN_ASSERT(axis >= 0 && axis < y->rank);
  int64_t ys[IR_MAX_RANK], at = 0;
  contig_strides(y, ys);
  /* input j (dims d_j) lands in y at [.., at_j + i_axis, ..] */
  for (int j = 0; j < k->n_in; j++) {
    const ir_type *x = k->in_t[j];
    KILN_ASSERT(x && x->rank == y->rank);
    cg_nest n;
    cg_nest_init(&n, x->rank, x->dims, 2);
    cg_nest_contig(&n, 0);
    for (int i = 0; i < y->rank; i++) n.stride[1][i] = ys[i];
    n.base[1] = at * ys[axis];
    copy_nest(k, &n, x->dtype, k->in[j], k->out[0]);
    at += x->dims[axis];
  }
  KILN_ASSERT(at == y->dims[axis]);
  return KILN_OK;
}

int cg_emit_split(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  int axis = (int)ir_attr_int(k->n, "axis");
  if (axis < 0) axis += x->rank;
  KILN_ASSERT(axis >= 0 && axis < x->rank);
  int64_t xs[IR_MAX_RANK], at = 0;
  contig_strides(x, xs);
  /* output j is the slab [at_j, at_j + d_j) of the axis (sizes: the output types) */
  for (int j = 0; j < k->n_out; j++) {
    const ir_type *y = k->out_t[j];
    cg_nest n;
    cg_nest_init(&n, y->rank, y->dims, 2);
    for (int i = 0; i < x->rank; i++) n.stride[0][i] = xs[i];
    n.base[0] = at * xs[axis];
    cg_nest_contig(&n, 1);
    copy_nest(k, &n, x->dtype, k->in[0], k->out[j]);
    at += y->dims[axis];
  }
  KILN_ASSERT(at == x->dims[axis]);
  return KILN_OK;
}

/* ---- slice ------------------------------------------------------------------------------- */

/* First index and step per axis: slice_make_plan's clamping rules
 * (ops_shape.c), recomputed; the counts are the output's dims. */
static void slice_plan(const ir_node *n, const ir_type *x, int64_t *start, int64_t *step) {
  const int64_t *starts, *ends, *axes, *steps;
  int ns = ir_attr_ints(n, "starts", &starts);
  ir_attr_ints(n, "ends", &ends);
  int na = ir_attr_ints(n, "axes", &axes), nst = ir_attr_ints(n, "steps", &steps);
  for (int i = 0; i < x->rank; i++) {
    start[i] = 0;
    step[i] = 1;
  }
  for (int i = 0; i < ns; i++) {
    int a = na >= 0 ? (int)(axes[i] < 0 ? axes[i] + x->rank : axes[i]) : i;
    int64_t dim = x->dims[a], st = nst >= 0 ? steps[i] : 1, s = starts[i];
    if (s < 0) s += dim;
    if (st > 0)
      s = s < 0 ? 0 : s > dim ? dim : s;
    else
      s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
    start[a] = s;
    step[a] = st;
  }
}

int cg_emit_slice(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], xs[IR_MAX_RANK];
  slice_plan(k->n, x, start, step);
  contig_strides(x, xs);
  if (ir_type_numel(y) == 0) return KILN_OK;
  /* y[i] = x[start + i * step] per axis */
  cg_nest n;
  cg_nest_init(&n, y->rank, y->dims, 2);
  for (int i = 0; i < y->rank; i++) {
    n.base[0] += start[i] * xs[i];
    n.stride[0][i] = (y->dims[i] > 1 ? step[i] : 1) * xs[i];
  }
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  return KILN_OK;
}

/* ---- expand, tile ------------------------------------------------------------------------ */

int cg_emit_expand(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  /* y[i] = x[i with broadcast dims pinned to 0] */
  cg_nest n;
  cg_nest_init(&n, y->rank, y->dims, 2);
  cg_nest_bcast(&n, 0, x);
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  return KILN_OK;
}

int cg_emit_tile(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  int64_t xs[IR_MAX_RANK], dims[2 * IR_MAX_RANK];
  contig_strides(x, xs);
  if (ir_type_numel(y) == 0) return KILN_OK;
  /* y [r_0*d_0, ...] viewed as [r_0, d_0, r_1, d_1, ...]: y = x[i_0, i_1, ...],
   * the repeat indices read nothing */
  KILN_ASSERT(2 * y->rank <= CG_NEST_MAX_RANK);
  for (int i = 0; i < y->rank; i++) {
    dims[2 * i] = y->dims[i] / x->dims[i];
    dims[2 * i + 1] = x->dims[i];
  }
  cg_nest n;
  cg_nest_init(&n, 2 * y->rank, dims, 2);
  for (int i = 0; i < y->rank; i++) n.stride[0][2 * i + 1] = xs[i];
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  return KILN_OK;
}

/* ---- depth_to_space, space_to_depth ------------------------------------------------------ */

int cg_emit_depth_to_space(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  int64_t b = ir_attr_int(k->n, "blocksize");
  int crd = !strcmp(ir_attr_str(k->n, "mode"), "CRD");
  int64_t C = y->dims[1], H = x->dims[2], W = x->dims[3], HW = H * W;
  /* y [N, C, H*b, W*b] viewed as [N, C, H, b(i), W, b(j)]:
   *   DCR: y[n, c, h*b+i, w*b+j] = x[n, (i*b + j)*C + c, h, w]
   *   CRD: y[n, c, h*b+i, w*b+j] = x[n, c*b*b + i*b + j, h, w] */
  int64_t dims[6] = {x->dims[0], C, H, b, W, b};
  int64_t s[6] = {x->dims[1] * HW,  crd ? b * b * HW : HW, W, crd ? b * HW : b * C * HW, 1,
                  crd ? HW : C * HW};
  cg_nest n;
  cg_nest_init(&n, 6, dims, 2);
  for (int i = 0; i < 6; i++) n.stride[0][i] = s[i];
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  return KILN_OK;
}

int cg_emit_space_to_depth(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  int64_t b = ir_attr_int(k->n, "blocksize");
  int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3];
  /* y [N, b*b*C, H/b, W/b] viewed as [N, b(i), b(j), C, H/b, W/b]:
   *   y[n, (i*b + j)*C + c, h, w] = x[n, c, h*b + i, w*b + j] */
  int64_t dims[6] = {x->dims[0], b, b, C, y->dims[2], y->dims[3]};
  int64_t s[6] = {C * H * W, W, 1, H * W, b * W, b};
  cg_nest n;
  cg_nest_init(&n, 6, dims, 2);
  for (int i = 0; i < 6; i++) n.stride[0][i] = s[i];
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  return KILN_OK;
}

/* ---- pad --------------------------------------------------------------------------------- */

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

/* The source index along an axis of size dim for padded coordinate c;
 * -1: the constant (ops_shape.c's pad_source). */
static int64_t pad_source(pad_mode mode, int64_t c, int64_t dim) {
  if (c >= 0 && c < dim) return c;
  switch (mode) {
  case PAD_CONSTANT: return -1;
  case PAD_EDGE: return c < 0 ? 0 : dim - 1;
  case PAD_WRAP: return ((c % dim) + dim) % dim;
  case PAD_REFLECT: {
    if (dim == 1) return 0;
    int64_t period = 2 * (dim - 1), m = ((c % period) + period) % period;
    return m < dim ? m : period - m;
  }
  }
  KILN_UNREACHABLE();
}

typedef struct {
  LLVMValueRef v;
} fill_ctx;

static void fill_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  cgl_store(k->L, ((fill_ctx *)user)->v, k->out[0], off[0]);
}

int cg_emit_pad(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  const char *ms = ir_attr_str(k->n, "mode");
  pad_mode mode = !strcmp(ms, "reflect") ? PAD_REFLECT
                  : !strcmp(ms, "edge")  ? PAD_EDGE
                  : !strcmp(ms, "wrap")  ? PAD_WRAP
                                         : PAD_CONSTANT;
  /* begin pads per axis, from pads (over axes, default all) */
  const int64_t *pads, *axes;
  int np = ir_attr_ints(k->n, "pads", &pads), na = ir_attr_ints(k->n, "axes", &axes);
  int64_t begin[IR_MAX_RANK] = {0};
  int cnt = na >= 0 ? na : x->rank;
  KILN_ASSERT(np == 2 * cnt);
  for (int i = 0; i < cnt; i++) {
    int a = na >= 0 ? (int)(axes[i] < 0 ? axes[i] + x->rank : axes[i]) : i;
    begin[a] = pads[i];
  }
  if (ir_type_numel(y) == 0) return KILN_OK;
  int64_t xs[IR_MAX_RANK], ys[IR_MAX_RANK];
  contig_strides(x, xs);
  contig_strides(y, ys);
  if (mode == PAD_CONSTANT) {
    /* y := value (cast to the dtype as ir_store_f does), then the part of x
     * that survives the (possibly negative) pads: input coordinates
     * c in [max(0, -b), min(d, D - b)) land at c + b */
    fill_ctx f = {cgk_const(k, y->dtype, ir_attr_float(k->n, "value"))};
    f.v = LLVMBuildBitCast(BLD, f.v, elem_bits(k, y->dtype), "");
    /* fill as integers of the element width: the constant's exact bits */
    cg_nest fn;
    cg_nest_init(&fn, y->rank, y->dims, 1);
    cg_nest_contig(&fn, 0);
    cg_nest_simplify(&fn);
    cg_nest_emit(k, &fn, fill_body, &f);
    int64_t dims[IR_MAX_RANK];
    cg_nest n;
    cg_nest_init(&n, 0, NULL, 2);
    n.rank = x->rank;
    for (int a = 0; a < x->rank; a++) {
      int64_t lo = begin[a] < 0 ? -begin[a] : 0;
      int64_t hi = x->dims[a] < y->dims[a] - begin[a] ? x->dims[a] : y->dims[a] - begin[a];
      dims[a] = hi > lo ? hi - lo : 0;
      n.dims[a] = dims[a];
      n.stride[0][a] = xs[a];
      n.stride[1][a] = ys[a];
      n.base[0] += lo * xs[a];
      n.base[1] += (lo + begin[a]) * ys[a];
    }
    copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
    return KILN_OK;
  }
  /* reflect, edge, wrap: per padded axis a table of source offsets */
  int64_t *tabs[IR_MAX_RANK] = {0};
  cg_nest n;
  cg_nest_init(&n, y->rank, y->dims, 2);
  for (int a = 0; a < y->rank; a++) {
    if (begin[a] == 0 && y->dims[a] == x->dims[a]) {
      n.stride[0][a] = xs[a];
      continue;
    }
    tabs[a] = kiln_xmalloc(sizeof(int64_t) * (size_t)y->dims[a]);
    for (int64_t o = 0; o < y->dims[a]; o++)
      tabs[a][o] = pad_source(mode, o - begin[a], x->dims[a]) * xs[a];
    n.tab[0][a] = tabs[a];
  }
  cg_nest_contig(&n, 1);
  copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
  for (int a = 0; a < y->rank; a++) free(tabs[a]);
  return KILN_OK;
}

/* ---- gather family ----------------------------------------------------------------------- */

/* An index value v (any integer dtype, as i64) checked against [-dim, dim)
 * and made non-negative; out of range returns KILN_ARTIFACT_E_INDEX (the
 * interpreter's error) from the kernel. */
static LLVMValueRef fix_index(cg_kernel *k, LLVMValueRef v, int64_t dim) {
  cgl *L = k->L;
  LLVMValueRef r = LLVMBuildSelect(BLD, LLVMBuildICmp(BLD, LLVMIntSLT, v, cgl_i64(L, 0), ""),
                                   LLVMBuildAdd(BLD, v, cgl_i64(L, dim), ""), v, "");
  /* unsigned r >= dim catches both r < 0 and r >= dim */
  cgk_fail_if(k, LLVMBuildICmp(BLD, LLVMIntUGE, r, cgl_i64(L, dim), ""), KILN_ARTIFACT_E_INDEX);
  return r;
}

typedef struct {
  int64_t dim, inner, m, es;
  ir_dtype it;
} gather_ctx;

/* x [outer, dim, inner], indices m: y[o, j, :] = x[o, idx[j], :] */
static void gather_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const gather_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef idx =
      fix_index(k, cgk_to_i64(k, c->it, cgk_load(k, c->it, k->in[1], iv[1])), c->dim);
  LLVMValueRef src = cgk_muli(k, cgk_add(k, cgk_muli(k, iv[0], c->dim), idx), c->inner * c->es);
  LLVMValueRef dst = cgk_muli(k, cgk_add(k, cgk_muli(k, iv[0], c->m), iv[1]), c->inner * c->es);
  cgl_memcpy(L, cgl_gep(L, L->t_i8, k->out[0], dst), cgl_gep(L, L->t_i8, k->in[0], src),
             cgl_i64(L, c->inner * c->es));
}

int cg_emit_gather(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *ind = k->in_t[1];
  int axis = (int)ir_attr_int(k->n, "axis");
  if (axis < 0) axis += x->rank;
  gather_ctx c = {.dim = x->dims[axis],
                  .inner = prod(x->dims, axis + 1, x->rank),
                  .m = ir_type_numel(ind),
                  .es = (int64_t)ir_dtype_size(x->dtype),
                  .it = ind->dtype};
  int64_t box[2] = {prod(x->dims, 0, axis), c.m};
  if (box[0] * box[1] == 0) return KILN_OK;
  cgk_box_const(k, 2, box, gather_body, &c);
  return KILN_OK;
}

typedef struct {
  int64_t dim, xs_axis;
  ir_dtype it;
  LLVMTypeRef et;
} gather_el_ctx;

/* off: indices / y position, the data offset without the axis term */
static void gather_el_body(cg_kernel *k, LLVMValueRef *off, void *user) {
  const gather_el_ctx *c = user;
  LLVMValueRef v = cgk_to_i64(k, c->it, cgk_load(k, c->it, k->in[1], off[0]));
  LLVMValueRef idx = fix_index(k, v, c->dim);
  LLVMValueRef src = cgk_add(k, off[1], cgk_muli(k, idx, c->xs_axis));
  cgl_store(k->L, cgl_load(k->L, c->et, k->in[0], src), k->out[0], off[0]);
}

int cg_emit_gather_elements(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *ind = k->in_t[1];
  int axis = (int)ir_attr_int(k->n, "axis");
  if (axis < 0) axis += x->rank;
  int64_t xs[IR_MAX_RANK];
  contig_strides(x, xs);
  /* y[i] = x[i with i_axis = indices[i]]: walk indices' shape; operand 0
   * is indices and y (same shape), operand 1 the data offset off the axis */
  cg_nest n;
  cg_nest_init(&n, ind->rank, ind->dims, 2);
  cg_nest_contig(&n, 0);
  for (int i = 0; i < x->rank; i++) n.stride[1][i] = i == axis ? 0 : xs[i];
  cg_nest_simplify(&n);
  gather_el_ctx c = {x->dims[axis], xs[axis], ind->dtype, elem_bits(k, x->dtype)};
  cg_nest_emit(k, &n, gather_el_body, &c);
  return KILN_OK;
}

typedef struct {
  int b, last;
  int64_t m, inner, batch_size, es;
  int64_t xs[IR_MAX_RANK], dims[IR_MAX_RANK];
  ir_dtype it;
} gather_nd_ctx;

/* indices [batches, m, last]; x [batches, batch_size]; y [batches, m, inner] */
static void gather_nd_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const gather_nd_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef off = cgk_muli(k, iv[0], c->batch_size);
  LLVMValueRef t = cgk_muli(k, cgk_add(k, cgk_muli(k, iv[0], c->m), iv[1]), c->last);
  for (int j = 0; j < c->last; j++) {
    LLVMValueRef v = cgk_to_i64(k, c->it, cgk_load(k, c->it, k->in[1], cgk_addi(k, t, j)));
    off = cgk_add(k, off, cgk_muli(k, fix_index(k, v, c->dims[c->b + j]), c->xs[c->b + j]));
  }
  LLVMValueRef dst = cgk_muli(k, cgk_add(k, cgk_muli(k, iv[0], c->m), iv[1]), c->inner * c->es);
  cgl_memcpy(L, cgl_gep(L, L->t_i8, k->out[0], dst),
             cgl_gep(L, L->t_i8, k->in[0], cgk_muli(k, off, c->es)), cgl_i64(L, c->inner * c->es));
}

int cg_emit_gather_nd(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *ind = k->in_t[1];
  gather_nd_ctx c;
  memset(&c, 0, sizeof c);
  c.b = (int)ir_attr_int(k->n, "batch_dims");
  c.last = (int)ind->dims[ind->rank - 1];
  c.m = prod(ind->dims, c.b, ind->rank - 1);
  c.inner = prod(x->dims, c.b + c.last, x->rank);
  c.batch_size = prod(x->dims, c.b, x->rank);
  c.es = (int64_t)ir_dtype_size(x->dtype);
  c.it = ind->dtype;
  contig_strides(x, c.xs);
  memcpy(c.dims, x->dims, sizeof c.dims);
  int64_t box[2] = {prod(x->dims, 0, c.b), c.m};
  if (box[0] * box[1] == 0) return KILN_OK;
  cgk_box_const(k, 2, box, gather_nd_body, &c);
  return KILN_OK;
}

/* ---- trilu ------------------------------------------------------------------------------- */

typedef struct {
  int64_t R, C, kk;
  int upper;
  LLVMTypeRef et;
} trilu_ctx;

/* x, y [mats, R, C]: y(i, j) = x(i, j) where j - i >= k (upper) or <= k
 * (lower), else 0 */
static void trilu_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const trilu_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef at =
      cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, iv[0], c->R), iv[1]), c->C), iv[2]);
  LLVMValueRef diag = LLVMBuildSub(BLD, iv[2], iv[1], "");
  LLVMValueRef keep =
      LLVMBuildICmp(BLD, c->upper ? LLVMIntSGE : LLVMIntSLE, diag, cgl_i64(L, c->kk), "");
  LLVMValueRef v = cgl_load(L, c->et, k->in[0], at);
  cgl_store(L, LLVMBuildSelect(BLD, keep, v, LLVMConstNull(c->et), ""), k->out[0], at);
}

int cg_emit_trilu(cg_kernel *k) {
  const ir_type *x = k->in_t[0];
  if (x->rank < 2) return cgk_unsupported(k, "trilu needs rank >= 2");
  trilu_ctx c = {x->dims[x->rank - 2], x->dims[x->rank - 1], ir_attr_int(k->n, "k"),
                 ir_attr_int(k->n, "upper") != 0, elem_bits(k, x->dtype)};
  /* |j - i| < 2^40: a k beyond that keeps all or nothing, as compared */
  if (c.kk > IR_MAX_ELEMENTS) c.kk = IR_MAX_ELEMENTS;
  if (c.kk < -IR_MAX_ELEMENTS) c.kk = -IR_MAX_ELEMENTS;
  int64_t box[3] = {prod(x->dims, 0, x->rank - 2), c.R, c.C};
  if (box[0] * box[1] * box[2] == 0) return KILN_OK;
  cgk_box_const(k, 3, box, trilu_body, &c);
  return KILN_OK;
}

/* ---- one_hot ----------------------------------------------------------------------------- */

typedef struct {
  int64_t depth, post;
  ir_dtype it;
  LLVMTypeRef et;
  LLVMValueRef on;
} one_hot_ctx;

static void one_hot_fill(cg_kernel *k, LLVMValueRef *off, void *user) {
  const one_hot_ctx *c = user;
  cgl_store(k->L, cgl_load(k->L, c->et, k->in[2], cgl_i64(k->L, 0)), k->out[0], off[0]);
}

/* indices [pre, post]; y [pre, depth, post]: y[p, v, q] = on for v = idx[p, q]
 * (negative + depth); other indices leave the row off */
static void one_hot_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  const one_hot_ctx *c = user;
  cgl *L = k->L;
  LLVMValueRef i = cgk_add(k, cgk_muli(k, iv[0], c->post), iv[1]);
  LLVMValueRef v = cgk_to_i64(k, c->it, cgk_load(k, c->it, k->in[0], i));
  v = LLVMBuildSelect(BLD, LLVMBuildICmp(BLD, LLVMIntSLT, v, cgl_i64(L, 0), ""),
                      LLVMBuildAdd(BLD, v, cgl_i64(L, c->depth), ""), v, "");
  cgl_if ok;
  cgl_if_begin(L, &ok, LLVMBuildICmp(BLD, LLVMIntULT, v, cgl_i64(L, c->depth), ""));
  LLVMValueRef at =
      cgk_add(k, cgk_muli(k, cgk_add(k, cgk_muli(k, iv[0], c->depth), v), c->post), iv[1]);
  cgl_store(L, c->on, k->out[0], at);
  cgl_if_end(L, &ok);
}

int cg_emit_one_hot(cg_kernel *k) {
  const ir_type *ind = k->in_t[0], *y = k->out_t[0];
  if (!k->in[2]) return cgk_unsupported(k, "one_hot needs its values input");
  int axis = (int)ir_attr_int(k->n, "axis");
  if (axis < 0) axis += y->rank;
  one_hot_ctx c = {.depth = y->dims[axis],
                   .post = prod(ind->dims, axis, ind->rank),
                   .it = ind->dtype,
                   .et = elem_bits(k, y->dtype)};
  if (ir_type_numel(y) == 0) return KILN_OK;
  cg_nest fn;
  cg_nest_init(&fn, y->rank, y->dims, 1);
  cg_nest_contig(&fn, 0);
  cg_nest_simplify(&fn);
  cg_nest_emit(k, &fn, one_hot_fill, &c);
  c.on = cgl_load(k->L, c.et, k->in[2], cgl_i64(k->L, 1));
  int64_t box[2] = {prod(ind->dims, 0, axis), c.post};
  if (box[0] * box[1] > 0) cgk_box_const(k, 2, box, one_hot_body, &c);
  return KILN_OK;
}

/* ---- resize ------------------------------------------------------------------------------ */

/* The plan of ops_shape.c's resize_plan, rz_source, rz_cubic and
 * rz_axis_taps, recomputed here to build per-axis tap tables at compile
 * time: for every output index along an axis, up to four input indices
 * and their weights. */
typedef enum { RZ_NEAREST, RZ_LINEAR, RZ_CUBIC } rz_mode;
typedef enum {
  RZ_HALF_PIXEL,
  RZ_HALF_PIXEL_SYMMETRIC,
  RZ_PYTORCH_HALF_PIXEL,
  RZ_ALIGN_CORNERS,
  RZ_ASYMMETRIC,
  RZ_TF_HALF_PIXEL_FOR_NEAREST
} rz_coord;
typedef enum { RZ_ROUND_PREFER_FLOOR, RZ_ROUND_PREFER_CEIL, RZ_FLOOR, RZ_CEIL } rz_round;

#define RZ_TAPS 4

typedef struct {
  rz_mode mode;
  rz_coord coord;
  rz_round round;
  double cubic_a;
  int exclude_outside;
  double scale[IR_MAX_RANK], length[IR_MAX_RANK];
} rz_plan;

static int rz_lookup(const char *s, const char *const *names, int count) {
  for (int i = 0; i < count; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

static int rz_make_plan(cg_kernel *k, const ir_type *x, rz_plan *p) {
  static const char *const modes[] = {"nearest", "linear", "cubic"};
  static const char *const coords[] = {"half_pixel",         "half_pixel_symmetric",
                                       "pytorch_half_pixel", "align_corners",
                                       "asymmetric",         "tf_half_pixel_for_nearest"};
  static const char *const rounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  memset(p, 0, sizeof *p);
  int m = rz_lookup(ir_attr_str(k->n, "mode"), modes, 3);
  int c = rz_lookup(ir_attr_str(k->n, "coordinate_transformation_mode"), coords, 6);
  int r = rz_lookup(ir_attr_str(k->n, "nearest_mode"), rounds, 4);
  if (m < 0 || c < 0 || r < 0) return cgk_unsupported(k, "resize mode combination");
  p->mode = (rz_mode)m;
  p->coord = (rz_coord)c;
  p->round = (rz_round)r;
  p->cubic_a = ir_attr_float(k->n, "cubic_coeff_a");
  p->exclude_outside = ir_attr_int(k->n, "exclude_outside") != 0;
  const double *scales;
  const int64_t *sizes;
  int nsc = ir_attr_floats(k->n, "scales", &scales), nsz = ir_attr_ints(k->n, "sizes", &sizes);
  for (int i = 0; i < x->rank; i++) {
    int64_t in = x->dims[i];
    if (nsc > 0) {
      p->scale[i] = scales[i];
      p->length[i] = (double)in * scales[i];
    } else {
      KILN_ASSERT(nsz == x->rank);
      p->scale[i] = in > 0 ? (double)sizes[i] / (double)in : 1.0;
      p->length[i] = (double)sizes[i];
    }
  }
  return KILN_OK;
}

static double rz_source(const rz_plan *p, int a, int64_t o, int64_t lin, int64_t lout) {
  double x = (double)o, s = p->scale[a], len = p->length[a];
  switch (p->coord) {
  case RZ_HALF_PIXEL: return (x + 0.5) / s - 0.5;
  case RZ_HALF_PIXEL_SYMMETRIC: {
    double adj = (double)lout / len, center = (double)lin / 2;
    return center * (1 - adj) + (x + 0.5) / s - 0.5;
  }
  case RZ_PYTORCH_HALF_PIXEL: return len > 1 ? (x + 0.5) / s - 0.5 : 0.0;
  case RZ_ALIGN_CORNERS: return len > 1 ? x * (double)(lin - 1) / (len - 1) : 0.0;
  case RZ_ASYMMETRIC: return x / s;
  case RZ_TF_HALF_PIXEL_FOR_NEAREST: return (x + 0.5) / s;
  }
  KILN_UNREACHABLE();
}

static double rz_cubic(double A, double t) {
  t = fabs(t);
  if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
  if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
  return 0;
}

static int64_t clamp_i(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Taps of output index o: n, idx[], w[]. -1 when exclude_outside leaves
 * no weight. */
static int rz_taps(const rz_plan *p, int a, int64_t o, int64_t lin, int64_t lout, int *n,
                   int64_t *idx, double *w) {
  double x = rz_source(p, a, o, lin, lout);
  *n = 0;
  if (p->mode == RZ_NEAREST) {
    double f = floor(x), r;
    switch (p->round) {
    case RZ_ROUND_PREFER_FLOOR: r = x - f == 0.5 ? f : floor(x + 0.5); break;
    case RZ_ROUND_PREFER_CEIL: r = x - f == 0.5 ? f + 1 : floor(x + 0.5); break;
    case RZ_FLOOR: r = f; break;
    default: r = ceil(x); break;
    }
    r = r < 0 ? 0 : r > (double)(lin - 1) ? (double)(lin - 1) : r;
    *n = 1;
    idx[0] = (int64_t)r;
    w[0] = 1;
    return 0;
  }
  if (isnan(x)) x = 0;
  x = x < -4 ? -4 : x > (double)lin + 4 ? (double)lin + 4 : x;
  double f = floor(x), frac = x - f;
  int64_t i0 = (int64_t)f;
  if (frac == 0) {
    *n = 1;
    idx[0] = clamp_i(i0, 0, lin - 1);
    w[0] = 1;
    return 0;
  }
  if (p->mode == RZ_LINEAR) {
    *n = 2;
    idx[0] = clamp_i(i0, 0, lin - 1);
    idx[1] = clamp_i(i0 + 1, 0, lin - 1);
    w[0] = 1 - frac;
    w[1] = frac;
    return 0;
  }
  double sum = 0;
  for (int t = 0; t < 4; t++) {
    int64_t i = i0 - 1 + t;
    double wt = rz_cubic(p->cubic_a, x - (double)i);
    if (p->exclude_outside && (i < 0 || i >= lin)) continue;
    idx[*n] = clamp_i(i, 0, lin - 1);
    w[(*n)++] = wt;
    sum += wt;
  }
  if (p->exclude_outside) {
    if (sum == 0) return -1;
    for (int t = 0; t < *n; t++) w[t] /= sum;
  }
  return 0;
}

/* Per-axis tables for the linear/cubic walk. */
typedef struct {
  int rank;
  const ir_type *x, *y;
  ir_dtype dt;
  int single[IR_MAX_RANK];   /* every output index: one tap of weight 1 */
  int64_t *cnt[IR_MAX_RANK]; /* taps per output index */
  int64_t *off[IR_MAX_RANK]; /* [o * RZ_TAPS + t]: input offset contribution */
  double *w[IR_MAX_RANK];    /* [o * RZ_TAPS + t] */
  LLVMValueRef g_cnt[IR_MAX_RANK], g_off[IR_MAX_RANK], g_w[IR_MAX_RANK];
  LLVMValueRef acc;
  LLVMValueRef *o; /* output indices of the current element */
} rz_walk;

/* Nested tap loops from axis a on: acc += (w_0 * ... * w_{r-1}) * x[off],
 * the interpreter's order of products and sums. */
static void rz_taps_level(cg_kernel *k, rz_walk *r, int a, LLVMValueRef w, LLVMValueRef off) {
  cgl *L = k->L;
  if (a == r->rank) {
    LLVMValueRef xv = cgk_to_f64(k, r->dt, cgk_load(k, r->dt, k->in[0], off));
    cgk_set(k, r->acc, LLVMBuildFAdd(BLD, cgk_get(k, r->acc), LLVMBuildFMul(BLD, w, xv, ""), ""));
    return;
  }
  if (r->single[a]) {
    LLVMValueRef c = cgl_load(L, L->t_i64, r->g_off[a], cgk_muli(k, r->o[a], RZ_TAPS));
    rz_taps_level(k, r, a + 1, w, cgk_add(k, off, c));
    return;
  }
  cgl_loop lp;
  LLVMValueRef n = cgl_load(L, L->t_i64, r->g_cnt[a], r->o[a]);
  LLVMValueRef t = cgl_loop_begin(L, &lp, cgl_i64(L, 0), n, "tap");
  LLVMValueRef at = cgk_add(k, cgk_muli(k, r->o[a], RZ_TAPS), t);
  LLVMValueRef wa = cgl_load(L, L->t_f64, r->g_w[a], at);
  LLVMValueRef c = cgl_load(L, L->t_i64, r->g_off[a], at);
  rz_taps_level(k, r, a + 1, LLVMBuildFMul(BLD, w, wa, ""), cgk_add(k, off, c));
  cgl_loop_end(L, &lp);
}

static void rz_body(cg_kernel *k, LLVMValueRef *iv, void *user) {
  rz_walk *r = user;
  cgl *L = k->L;
  r->o = iv;
  cgk_set(k, r->acc, cgl_real(L->t_f64, 0.0));
  rz_taps_level(k, r, 0, cgl_real(L->t_f64, 1.0), cgl_i64(L, 0));
  /* y's flat index from the output indices */
  LLVMValueRef at = cgl_i64(L, 0);
  for (int a = 0; a < r->rank; a++) at = cgk_add(k, cgk_muli(k, at, r->y->dims[a]), iv[a]);
  cgk_store(k, r->dt, cgk_from_fp(k, r->dt, cgk_get(k, r->acc)), k->out[0], at);
}

int cg_emit_resize(cg_kernel *k) {
  const ir_type *x = k->in_t[0], *y = k->out_t[0];
  rz_plan p;
  int rc = rz_make_plan(k, x, &p);
  if (rc) return rc;
  if (ir_type_numel(y) == 0) return KILN_OK;
  int64_t xs[IR_MAX_RANK];
  contig_strides(x, xs);
  rz_walk r;
  memset(&r, 0, sizeof r);
  r.rank = y->rank;
  r.x = x;
  r.y = y;
  r.dt = x->dtype;
  for (int a = 0; a < y->rank && !rc; a++) {
    int64_t lout = y->dims[a];
    r.cnt[a] = kiln_xcalloc((size_t)lout, sizeof(int64_t));
    r.off[a] = kiln_xcalloc((size_t)lout * RZ_TAPS, sizeof(int64_t));
    r.w[a] = kiln_xcalloc((size_t)lout * RZ_TAPS, sizeof(double));
    r.single[a] = 1;
    for (int64_t o = 0; o < lout && !rc; o++) {
      int n;
      int64_t idx[RZ_TAPS];
      double w[RZ_TAPS];
      if (rz_taps(&p, a, o, x->dims[a], lout, &n, idx, w)) {
        char desc[IR_MAX_NAME + 128];
        rc = kiln_diag_error(k->d, KILN_E_INVALID,
                             "%s: %s: output index %lld of axis %d has no input sample near it "
                             "(exclude_outside)",
                             k->g->source, ir_node_desc(k->g, k->n, desc, sizeof desc),
                             (long long)o, a);
        break;
      }
      r.cnt[a][o] = n;
      for (int t = 0; t < n; t++) {
        r.off[a][o * RZ_TAPS + t] = idx[t] * xs[a];
        r.w[a][o * RZ_TAPS + t] = w[t];
      }
      if (n != 1 || w[0] != 1.0) r.single[a] = 0;
    }
  }
  if (!rc && p.mode == RZ_NEAREST) {
    /* one tap per axis: a strided copy through offset tables */
    int64_t *tabs[IR_MAX_RANK];
    cg_nest n;
    cg_nest_init(&n, y->rank, y->dims, 2);
    for (int a = 0; a < y->rank; a++) {
      tabs[a] = kiln_xmalloc(sizeof(int64_t) * (size_t)y->dims[a]);
      for (int64_t o = 0; o < y->dims[a]; o++) tabs[a][o] = r.off[a][o * RZ_TAPS];
      n.tab[0][a] = tabs[a];
    }
    cg_nest_contig(&n, 1);
    copy_nest(k, &n, x->dtype, k->in[0], k->out[0]);
    for (int a = 0; a < y->rank; a++) free(tabs[a]);
  } else if (!rc) {
    for (int a = 0; a < y->rank; a++) {
      r.g_cnt[a] = cgl_const_i64_array(k->L, r.cnt[a], (size_t)y->dims[a]);
      r.g_off[a] = cgl_const_i64_array(k->L, r.off[a], (size_t)y->dims[a] * RZ_TAPS);
      r.g_w[a] = cgl_const_f64_array(k->L, r.w[a], (size_t)y->dims[a] * RZ_TAPS);
    }
    r.acc = cgk_var(k, k->L->t_f64, NULL);
    cgk_box_const(k, y->rank, y->dims, rz_body, &r);
  }
  for (int a = 0; a < y->rank; a++) {
    free(r.cnt[a]);
    free(r.off[a]);
    free(r.w[a]);
  }
  return rc;
}

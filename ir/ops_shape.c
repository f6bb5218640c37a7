/* Data-movement and shape ops: shape/dtype inference and reference
 * evaluation (ONNX semantics of the newest opset; the op rows in ops.def name
 * the attributes).
 *
 * Contracts shared by every function here:
 *  - Operand-given attributes (`@N` in the schema) were resolved into
 *    attributes by infer.c before infer runs, so infer and eval read
 *    attributes only; in[N] of such a slot is NULL.
 *  - Model files are untrusted: every attribute and shape is checked in
 *    infer and reported with ir_node_error (naming the node); data-dependent
 *    errors (an index out of range) are reported by eval the same way.
 *  - Eval runs only on inferred nodes (the interpreter needs types). Where
 *    an op has a plan (slice, pad, split, resize, ...), eval recomputes it
 *    with the same checked helper as infer instead of trusting it; a plan
 *    that disagrees with the output type the interpreter allocated, or an
 *    attribute infer already validated that is now invalid, is an internal
 *    bug (KILN_ASSERT).
 *  - Eval gets zeroed outputs of the inferred types. Data movement is done by
 *    copying whole elements (memcpy of the dtype size), so every dtype moves
 *    bit-exactly; only resize's linear/cubic modes and range do arithmetic.
 *  - The interpreter is the correctness oracle: simple loops over output
 *    multi-indices, no cleverness. Speed lives in codegen.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"

/* ---- limits ------------------------------------------------------------------ */
/* Elements range may produce (its count comes from untrusted doubles). */
#define RANGE_MAX_COUNT IR_MAX_ELEMENTS
/* Taps per axis of a resize kernel: nearest 1, linear 2, cubic 4. */
#define RESIZE_MAX_TAPS 4
/* Rank of the strided views used by depth_to_space / space_to_depth. */
#define VIEW_RANK 6
_Static_assert(VIEW_RANK <= IR_MAX_RANK, "views must fit the rank limit");

/* ---- helpers ------------------------------------------------------------------- */

/* An error for a feature kiln does not implement (status UNSUPPORTED, unlike
 * ir_node_error's INVALID), naming the node. */
static int node_unsupported(kiln_diag *d, const ir_graph *g, const ir_node *n, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
static int node_unsupported(kiln_diag *d, const ir_graph *g, const ir_node *n, const char *fmt,
                            ...) {
  char desc[IR_MAX_NAME + 128], msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: %s: %s", g->source,
                         ir_node_desc(g, n, desc, sizeof desc), msg);
}

/* "[1,2,3]" into buf (cut with "..." when it does not fit); returns buf. */
static const char *ints_str(char *buf, size_t len, const int64_t *v, int count) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < count && k < len; i++) {
    if (k + 24 >= len) {
      snprintf(buf + k, len - k, "...");
      return buf;
    }
    k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", (long long)v[i]);
  }
  if (k < len) snprintf(buf + k, len - k, "]");
  return buf;
}

/* *out = a * b for element counts a, b >= 0; -1 when the product exceeds
 * IR_MAX_ELEMENTS (checked before multiplying, so it never overflows). */
static int mul_elems(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > IR_MAX_ELEMENTS / a) return -1;
  *out = a * b;
  return *out > IR_MAX_ELEMENTS ? -1 : 0;
}

/* Product of dims[lo, hi). Shapes here passed ir_type_check, so it fits. */
static int64_t dims_prod(const int64_t *dims, int lo, int hi) {
  int64_t p = 1;
  for (int i = lo; i < hi; i++) p *= dims[i];
  return p;
}

/* The type of input i, or an error when the slot is absent. */
static int need_input(const ir_graph *g, const ir_node *n, int i, const char *what,
                      const ir_type **t, kiln_diag *d) {
  if (!ir_node_has_input(n, i)) return ir_node_error(d, g, n, "input %d (%s) is missing", i, what);
  *t = ir_in_type(g, n, i);
  return KILN_OK;
}

/* Normalises `count` axes against rank into out[] (each in [0, rank)),
 * rejecting out-of-range and repeated axes. count <= rank is checked first,
 * so out needs rank entries. */
static int norm_axes(const ir_graph *g, const ir_node *n, const char *attr, const int64_t *axes,
                     int count, int rank, int *out, kiln_diag *d) {
  if (count > rank)
    return ir_node_error(d, g, n, "'%s' lists %d axes but the rank is %d", attr, count, rank);
  char seen[IR_MAX_RANK] = {0};
  for (int i = 0; i < count; i++) {
    int a = ir_norm_axis(axes[i], rank);
    if (a < 0)
      return ir_node_error(d, g, n, "'%s' has axis %lld, out of range for rank %d", attr,
                           (long long)axes[i], rank);
    if (seen[a]) return ir_node_error(d, g, n, "'%s' repeats axis %lld", attr, (long long)axes[i]);
    seen[a] = 1;
    out[i] = a;
  }
  return KILN_OK;
}

/* out (C order, shape dims[rank]) receives, for each multi-index idx, the
 * element in[base + sum_k idx[k] * strides[k]]. The caller guarantees that
 * every such offset lies inside `in`. es: element size in bytes. */
static void strided_copy(void *out, const void *in, size_t es, int rank, const int64_t *dims,
                         const int64_t *strides, int64_t base) {
  int64_t total = dims_prod(dims, 0, rank);
  if (total == 0) return;
  int64_t idx[IR_MAX_RANK] = {0};
  int64_t off = base;
  char *o = out;
  const char *s = in;
  for (int64_t i = 0; i < total; i++) {
    memcpy(o + (size_t)i * es, s + (size_t)off * es, es);
    for (int k = rank - 1; k >= 0; k--) {
      if (++idx[k] < dims[k]) {
        off += strides[k];
        break;
      }
      off -= strides[k] * (dims[k] - 1);
      idx[k] = 0;
    }
  }
}

/* ---- reshape, flatten, squeeze, unsqueeze (eval: eval_identity) ----------------- */

int infer_reshape(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  const int64_t *shape;
  int ns = ir_attr_ints(n, "shape", &shape);
  char buf[256];
  if (ns < 0) return ir_node_error(d, g, n, "attribute 'shape' is required");
  if (ns > IR_MAX_RANK)
    return ir_node_error(d, g, n, "'shape' has %d dims, more than the rank limit %d", ns,
                         IR_MAX_RANK);
  int allowzero = ir_attr_int(n, "allowzero") != 0;
  ir_type o = {.dtype = x->dtype, .rank = ns};
  int infer_at = -1;
  int64_t known = 1; /* product of the dims other than the -1 */
  for (int i = 0; i < ns; i++) {
    int64_t s = shape[i];
    if (s == -1) {
      if (infer_at >= 0)
        return ir_node_error(d, g, n, "'shape' %s has more than one -1",
                             ints_str(buf, sizeof buf, shape, ns));
      infer_at = i;
      continue;
    }
    if (s < -1)
      return ir_node_error(d, g, n, "'shape' %s has the invalid dim %lld",
                           ints_str(buf, sizeof buf, shape, ns), (long long)s);
    if (s == 0 && !allowzero) {
      if (i >= x->rank)
        return ir_node_error(d, g, n,
                             "'shape'[%d] is 0 (copy the input dim) but the input has rank %d",
                             i, x->rank);
      s = x->dims[i];
    }
    o.dims[i] = s;
    if (mul_elems(known, s, &known))
      return ir_node_error(d, g, n, "'shape' %s has more than 2^40 elements",
                           ints_str(buf, sizeof buf, shape, ns));
  }
  int64_t numel = ir_type_numel(x);
  if (infer_at >= 0) {
    /* NumPy refuses this too: with a zero dim any size fits the -1. */
    if (known == 0)
      return ir_node_error(d, g, n,
                           "'shape' %s: the -1 dim cannot be inferred when another dim is 0",
                           ints_str(buf, sizeof buf, shape, ns));
    if (numel % known)
      return ir_node_error(d, g, n, "cannot reshape %lld elements into 'shape' %s",
                           (long long)numel, ints_str(buf, sizeof buf, shape, ns));
    o.dims[infer_at] = numel / known;
  } else if (known != numel) {
    return ir_node_error(d, g, n, "cannot reshape %lld elements into 'shape' %s (%lld elements)",
                         (long long)numel, ints_str(buf, sizeof buf, shape, ns),
                         (long long)known);
  }
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

/* x[d0..dr-1] -> [d0*..*d(axis-1), d(axis)*..*d(r-1)]; axis in [-r, r]. */
int infer_flatten(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  int64_t axis = ir_attr_int(n, "axis");
  if (axis < -x->rank || axis > x->rank)
    return ir_node_error(d, g, n, "'axis' %lld is out of range for rank %d", (long long)axis,
                         x->rank);
  int a = (int)(axis < 0 ? axis + x->rank : axis);
  ir_type o = {.dtype = x->dtype, .rank = 2};
  o.dims[0] = dims_prod(x->dims, 0, a);
  o.dims[1] = dims_prod(x->dims, a, x->rank);
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

/* axes absent: drop every dim of size 1. Listed: each must be size 1. An
 * empty list is "provided" and drops nothing (the ONNX reference's reading;
 * the frontend maps an absent ONNX input to an absent attribute). */
int infer_squeeze(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  const int64_t *axes;
  int na = ir_attr_ints(n, "axes", &axes);
  char drop[IR_MAX_RANK] = {0};
  if (na < 0) {
    for (int i = 0; i < x->rank; i++) drop[i] = x->dims[i] == 1;
  } else {
    int ax[IR_MAX_RANK];
    int rc = norm_axes(g, n, "axes", axes, na, x->rank, ax, d);
    if (rc) return rc;
    for (int i = 0; i < na; i++) {
      if (x->dims[ax[i]] != 1)
        return ir_node_error(d, g, n, "cannot squeeze axis %lld of size %lld (must be 1)",
                             (long long)axes[i], (long long)x->dims[ax[i]]);
      drop[ax[i]] = 1;
    }
  }
  ir_type o = {.dtype = x->dtype, .rank = 0};
  for (int i = 0; i < x->rank; i++)
    if (!drop[i]) o.dims[o.rank++] = x->dims[i];
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

/* axes index the output (rank r + len(axes)); negative count from its end. */
int infer_unsqueeze(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  const int64_t *axes;
  int na = ir_attr_ints(n, "axes", &axes);
  if (na < 0) return ir_node_error(d, g, n, "attribute 'axes' is required");
  if (na == 0) return ir_node_error(d, g, n, "'axes' is empty");
  if (na > IR_MAX_RANK - x->rank)
    return ir_node_error(d, g, n, "unsqueezing rank %d by %d axes exceeds the rank limit %d",
                         x->rank, na, IR_MAX_RANK);
  int orank = x->rank + na, ax[IR_MAX_RANK];
  int rc = norm_axes(g, n, "axes", axes, na, orank, ax, d);
  if (rc) return rc;
  char ins[IR_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) ins[ax[i]] = 1;
  ir_type o = {.dtype = x->dtype, .rank = orank};
  for (int i = 0, k = 0; i < orank; i++) o.dims[i] = ins[i] ? 1 : x->dims[k++];
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

/* ---- transpose ----------------------------------------------------------------- */

/* perm[i]: the input axis that output axis i reads; absent: reversed. */
static int transpose_perm(const ir_graph *g, const ir_node *n, const ir_type *x, int *perm,
                          kiln_diag *d) {
  const int64_t *p;
  int np = ir_attr_ints(n, "perm", &p);
  if (np < 0) {
    for (int i = 0; i < x->rank; i++) perm[i] = x->rank - 1 - i;
    return KILN_OK;
  }
  char buf[256];
  if (np != x->rank)
    return ir_node_error(d, g, n, "'perm' %s has %d entries but the input has rank %d",
                         ints_str(buf, sizeof buf, p, np), np, x->rank);
  char seen[IR_MAX_RANK] = {0};
  for (int i = 0; i < np; i++) {
    if (p[i] < 0 || p[i] >= x->rank || seen[p[i]])
      return ir_node_error(d, g, n, "'perm' %s is not a permutation of 0..%d",
                           ints_str(buf, sizeof buf, p, np), x->rank - 1);
    seen[p[i]] = 1;
    perm[i] = (int)p[i];
  }
  return KILN_OK;
}

int infer_transpose(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  int perm[IR_MAX_RANK];
  int rc = transpose_perm(g, n, x, perm, d);
  if (rc) return rc;
  ir_type o = {.dtype = x->dtype, .rank = x->rank};
  for (int i = 0; i < x->rank; i++) o.dims[i] = x->dims[perm[i]];
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_transpose(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                   ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  int perm[IR_MAX_RANK];
  int rc = transpose_perm(g, n, x, perm, d);
  if (rc) return rc;
  int64_t xs[IR_MAX_RANK], s[IR_MAX_RANK];
  ir_contig_strides(x, xs);
  for (int i = 0; i < x->rank; i++) {
    KILN_ASSERT(out[0]->type.dims[i] == x->dims[perm[i]]);
    s[i] = xs[perm[i]];
  }
  /* out[i0..] = x[... i_k at axis perm[k] ...] */
  strided_copy(out[0]->data, in[0]->data, ir_dtype_size(x->dtype), x->rank, out[0]->type.dims,
               s, 0);
  return KILN_OK;
}

/* ---- concat -------------------------------------------------------------------- */

int infer_concat(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *first = NULL;
  int rc = need_input(g, n, 0, "first tensor", &first, d);
  if (rc) return rc;
  if (first->rank == 0) return ir_node_error(d, g, n, "cannot concatenate scalars");
  int64_t axis_attr = ir_attr_int(n, "axis");
  int axis = ir_norm_axis(axis_attr, first->rank);
  if (axis < 0)
    return ir_node_error(d, g, n, "'axis' %lld is out of range for rank %d",
                         (long long)axis_attr, first->rank);
  ir_type o = *first;
  o.dims[axis] = 0;
  char a[256], b[256];
  for (int k = 0; k < n->n_in; k++) {
    const ir_type *t = NULL;
    rc = need_input(g, n, k, "tensor", &t, d);
    if (rc) return rc;
    if (t->dtype != first->dtype || t->rank != first->rank)
      return ir_node_error(d, g, n, "input %d is %s but input 0 is %s", k,
                           ir_type_str(t, a, sizeof a), ir_type_str(first, b, sizeof b));
    for (int i = 0; i < t->rank; i++)
      if (i != axis && t->dims[i] != first->dims[i])
        return ir_node_error(d, g, n,
                             "input %d is %s but input 0 is %s: dims other than axis %d "
                             "must match",
                             k, ir_type_str(t, a, sizeof a), ir_type_str(first, b, sizeof b),
                             axis);
    if (t->dims[axis] > IR_MAX_ELEMENTS - o.dims[axis])
      return ir_node_error(d, g, n, "the concatenated axis exceeds 2^40");
    o.dims[axis] += t->dims[axis];
  }
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_concat(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  const ir_type *o = &out[0]->type;
  int axis = ir_norm_axis(ir_attr_int(n, "axis"), o->rank);
  KILN_ASSERT(axis >= 0);
  size_t es = ir_dtype_size(o->dtype);
  /* out viewed as [outer, sum of dims[axis], inner]: each input contributes a
   * contiguous chunk of dims_k[axis] * inner elements per outer index. */
  int64_t outer = dims_prod(o->dims, 0, axis), inner = dims_prod(o->dims, axis + 1, o->rank);
  char *dst = out[0]->data;
  for (int64_t i = 0; i < outer; i++)
    for (int k = 0; k < n->n_in; k++) {
      KILN_ASSERT(in[k] && in[k]->type.rank == o->rank);
      int64_t chunk = in[k]->type.dims[axis] * inner;
      memcpy(dst, (const char *)in[k]->data + (size_t)(i * chunk) * es, (size_t)chunk * es);
      dst += (size_t)chunk * es;
    }
  KILN_ASSERT(dst == (char *)out[0]->data + (size_t)ir_type_nbytes(o));
  return KILN_OK;
}

/* ---- split ----------------------------------------------------------------------- */

/* Sizes of the n->n_out parts along *axis into sizes[] (n_out entries):
 *  - `split` given (non-empty): those sizes; they must sum to the dim;
 *  - else `num_outputs` (must equal the output count) or the output count:
 *    ceil(dim / parts) each, the last one smaller (ONNX opset 18). Without
 *    num_outputs the dim must divide evenly (older opsets' equal parts). */
static int split_plan(const ir_graph *g, const ir_node *n, const ir_type *x, int *axis,
                      int64_t *sizes, kiln_diag *d) {
  if (x->rank == 0) return ir_node_error(d, g, n, "cannot split a scalar");
  int64_t axis_attr = ir_attr_int(n, "axis");
  *axis = ir_norm_axis(axis_attr, x->rank);
  if (*axis < 0)
    return ir_node_error(d, g, n, "'axis' %lld is out of range for rank %d",
                         (long long)axis_attr, x->rank);
  int64_t dim = x->dims[*axis];
  int parts = n->n_out;
  const int64_t *split;
  int ns = ir_attr_ints(n, "split", &split);
  if (ns > 0) {
    if (ns != parts)
      return ir_node_error(d, g, n, "'split' has %d sizes but the node has %d outputs", ns,
                           parts);
    int64_t sum = 0;
    for (int i = 0; i < ns; i++) {
      if (split[i] < 0 || split[i] > dim - sum)
        return ir_node_error(d, g, n, "'split' sizes must be >= 0 and sum to %lld (axis %d)",
                             (long long)dim, *axis);
      sizes[i] = split[i];
      sum += split[i];
    }
    if (sum != dim)
      return ir_node_error(d, g, n, "'split' sizes sum to %lld, not %lld (axis %d)",
                           (long long)sum, (long long)dim, *axis);
    return KILN_OK;
  }
  int has_num = ir_attr_has(n, "num_outputs");
  if (has_num) {
    int64_t num = ir_attr_int(n, "num_outputs");
    if (num != parts)
      return ir_node_error(d, g, n, "'num_outputs' is %lld but the node has %d outputs",
                           (long long)num, parts);
  } else if (dim % parts) {
    return ir_node_error(d, g, n, "axis %d of size %lld does not split into %d equal parts",
                         *axis, (long long)dim, parts);
  }
  int64_t chunk = dim / parts + (dim % parts != 0);
  int64_t last = dim - chunk * (parts - 1);
  if (last < 0)
    return ir_node_error(d, g, n, "axis %d of size %lld cannot be split into %d parts of %lld",
                         *axis, (long long)dim, parts, (long long)chunk);
  for (int i = 0; i < parts; i++) sizes[i] = i == parts - 1 ? last : chunk;
  return KILN_OK;
}

int infer_split(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  int64_t *sizes = kiln_xmalloc(sizeof(int64_t) * (size_t)n->n_out);
  int axis;
  int rc = split_plan(g, n, x, &axis, sizes, d);
  for (int j = 0; j < n->n_out && !rc; j++) {
    ir_type *o = ir_out_type(g, n, j);
    *o = *x;
    o->dims[axis] = sizes[j];
  }
  free(sizes);
  return rc;
}

int eval_split(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  int64_t *sizes = kiln_xmalloc(sizeof(int64_t) * (size_t)n->n_out);
  int axis;
  int rc = split_plan(g, n, x, &axis, sizes, d);
  if (!rc) {
    /* x viewed as [outer, dims[axis], inner]; part j is the slab
     * [off_j, off_j + sizes[j]) of the middle axis. */
    size_t es = ir_dtype_size(x->dtype);
    int64_t outer = dims_prod(x->dims, 0, axis), inner = dims_prod(x->dims, axis + 1, x->rank);
    int64_t dim = x->dims[axis], off = 0;
    for (int j = 0; j < n->n_out; j++) {
      KILN_ASSERT(out[j]->type.dims[axis] == sizes[j]);
      int64_t chunk = sizes[j] * inner;
      for (int64_t i = 0; i < outer; i++)
        memcpy((char *)out[j]->data + (size_t)(i * chunk) * es,
               (const char *)in[0]->data + (size_t)((i * dim + off) * inner) * es,
               (size_t)chunk * es);
      off += sizes[j];
    }
  }
  free(sizes);
  return rc;
}

/* ---- slice ------------------------------------------------------------------------- */

/* For every axis of x: the first index read, the step, and the count. Axes
 * not listed read everything with step 1. ONNX rules: negative starts/ends
 * add the dim; then for step > 0 both clamp to [0, dim], for step < 0 start
 * clamps to [0, dim-1] and end to [-1, dim-1]. Huge values (INT64_MAX,
 * INT64_MIN) are thus plain clamps, with no overflow: a negative value plus
 * a dim >= 0 cannot overflow. */
typedef struct {
  int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK];
} slice_plan;

static int slice_make_plan(const ir_graph *g, const ir_node *n, const ir_type *x, slice_plan *p,
                           kiln_diag *d) {
  const int64_t *starts, *ends, *axes_attr, *steps;
  int ns = ir_attr_ints(n, "starts", &starts), ne = ir_attr_ints(n, "ends", &ends);
  int na = ir_attr_ints(n, "axes", &axes_attr), nst = ir_attr_ints(n, "steps", &steps);
  if (ns < 0 || ne < 0) return ir_node_error(d, g, n, "'starts' and 'ends' are required");
  if (ne != ns)
    return ir_node_error(d, g, n, "'starts' has %d values but 'ends' has %d", ns, ne);
  if (na >= 0 && na != ns)
    return ir_node_error(d, g, n, "'starts' has %d values but 'axes' has %d", ns, na);
  if (nst >= 0 && nst != ns)
    return ir_node_error(d, g, n, "'starts' has %d values but 'steps' has %d", ns, nst);
  int axes[IR_MAX_RANK];
  if (na >= 0) {
    int rc = norm_axes(g, n, "axes", axes_attr, na, x->rank, axes, d);
    if (rc) return rc;
  } else {
    if (ns > x->rank)
      return ir_node_error(d, g, n, "'starts' has %d values but the input has rank %d", ns,
                           x->rank);
    for (int i = 0; i < ns; i++) axes[i] = i;
  }
  for (int i = 0; i < x->rank; i++) {
    p->start[i] = 0;
    p->step[i] = 1;
    p->count[i] = x->dims[i];
  }
  for (int i = 0; i < ns; i++) {
    int a = axes[i];
    int64_t dim = x->dims[a], step = nst >= 0 ? steps[i] : 1;
    if (step == 0) return ir_node_error(d, g, n, "'steps' has 0 for axis %d", a);
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t count;
    if (step > 0) {
      s = s < 0 ? 0 : s > dim ? dim : s;
      e = e < 0 ? 0 : e > dim ? dim : e;
      /* ceil((e - s) / step) without overflow: e - s is in [-dim, dim] */
      count = e > s ? (int64_t)(((uint64_t)(e - s) - 1) / (uint64_t)step + 1) : 0;
    } else {
      s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
      e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
      /* |step| as unsigned: -INT64_MIN is not an int64 */
      uint64_t mag = (uint64_t)0 - (uint64_t)step;
      count = s > e ? (int64_t)(((uint64_t)(s - e) - 1) / mag + 1) : 0;
    }
    p->start[a] = count > 0 ? s : 0;
    p->step[a] = count > 1 ? step : 1; /* with one element the step is never applied */
    p->count[a] = count;
  }
  return KILN_OK;
}

int infer_slice(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0);
  slice_plan p;
  int rc = slice_make_plan(g, n, x, &p, d);
  if (rc) return rc;
  ir_type o = {.dtype = x->dtype, .rank = x->rank};
  for (int i = 0; i < x->rank; i++) o.dims[i] = p.count[i];
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_slice(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  slice_plan p;
  int rc = slice_make_plan(g, n, x, &p, d);
  if (rc) return rc;
  int64_t xs[IR_MAX_RANK], s[IR_MAX_RANK], base = 0;
  ir_contig_strides(x, xs);
  for (int i = 0; i < x->rank; i++) {
    KILN_ASSERT(out[0]->type.dims[i] == p.count[i]);
    base += p.start[i] * xs[i];
    s[i] = p.step[i] * xs[i]; /* |step| < dim here, so this fits */
  }
  /* out[idx] = x[start + idx * step] per axis */
  strided_copy(out[0]->data, in[0]->data, ir_dtype_size(x->dtype), x->rank, out[0]->type.dims,
               s, base);
  return KILN_OK;
}

/* ---- gather ----------------------------------------------------------------------- */

static int check_index_dtype(const ir_graph *g, const ir_node *n, const ir_type *t,
                             kiln_diag *d) {
  if (!ir_dtype_is_int(t->dtype))
    return ir_node_error(d, g, n, "indices must be integers, not %s", ir_dtype_name(t->dtype));
  return KILN_OK;
}

/* Index value v for an axis of size dim (negative counts from the end), or
 * an error naming the position of the offending index. */
static int fix_index(const ir_graph *g, const ir_node *n, int64_t v, int64_t dim, int64_t pos,
                     int axis, int64_t *out, kiln_diag *d) {
  int64_t r = v < 0 ? v + dim : v;
  if (r < 0 || r >= dim)
    return ir_node_error(d, g, n,
                         "index %lld (element %lld of the indices) is out of range for axis %d "
                         "of size %lld",
                         (long long)v, (long long)pos, axis, (long long)dim);
  *out = r;
  return KILN_OK;
}

/* data[r], indices[q] -> data.shape[:axis] + indices.shape + data.shape[axis+1:] */
int infer_gather(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0), *ind = ir_in_type(g, n, 1);
  int rc = check_index_dtype(g, n, ind, d);
  if (rc) return rc;
  if (x->rank == 0) return ir_node_error(d, g, n, "cannot gather from a scalar");
  int64_t axis_attr = ir_attr_int(n, "axis");
  int axis = ir_norm_axis(axis_attr, x->rank);
  if (axis < 0)
    return ir_node_error(d, g, n, "'axis' %lld is out of range for rank %d",
                         (long long)axis_attr, x->rank);
  if (x->rank - 1 + ind->rank > IR_MAX_RANK)
    return ir_node_error(d, g, n, "the result would have rank %d, more than the limit %d",
                         x->rank - 1 + ind->rank, IR_MAX_RANK);
  ir_type o = {.dtype = x->dtype, .rank = 0};
  for (int i = 0; i < axis; i++) o.dims[o.rank++] = x->dims[i];
  for (int i = 0; i < ind->rank; i++) o.dims[o.rank++] = ind->dims[i];
  for (int i = axis + 1; i < x->rank; i++) o.dims[o.rank++] = x->dims[i];
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_gather(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  int axis = ir_norm_axis(ir_attr_int(n, "axis"), x->rank);
  KILN_ASSERT(axis >= 0);
  size_t es = ir_dtype_size(x->dtype);
  /* x viewed as [outer, dim, inner]; out as [outer, m, inner] with m the
   * number of indices: out[o, j, :] = x[o, indices[j], :] */
  int64_t outer = dims_prod(x->dims, 0, axis), dim = x->dims[axis];
  int64_t inner = dims_prod(x->dims, axis + 1, x->rank);
  int64_t m = ir_type_numel(&in[1]->type);
  KILN_ASSERT(ir_type_numel(&out[0]->type) == outer * m * inner);
  char *dst = out[0]->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < m; j++) {
      int64_t k = 0;
      int rc = fix_index(g, n, ir_tensor_get_i(in[1], j), dim, j, axis, &k, d);
      if (rc) return rc;
      memcpy(dst, (const char *)in[0]->data + (size_t)((o * dim + k) * inner) * es,
             (size_t)inner * es);
      dst += (size_t)inner * es;
    }
  return KILN_OK;
}

/* out[idx] = data[idx with idx[axis] = indices[idx]]; indices has data's
 * rank and, off the axis, dims no larger than data's. */
int infer_gather_elements(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0), *ind = ir_in_type(g, n, 1);
  int rc = check_index_dtype(g, n, ind, d);
  if (rc) return rc;
  char a[256], b[256];
  if (x->rank == 0) return ir_node_error(d, g, n, "cannot gather from a scalar");
  if (ind->rank != x->rank)
    return ir_node_error(d, g, n, "indices %s must have the rank of data %s",
                         ir_type_str(ind, a, sizeof a), ir_type_str(x, b, sizeof b));
  int64_t axis_attr = ir_attr_int(n, "axis");
  int axis = ir_norm_axis(axis_attr, x->rank);
  if (axis < 0)
    return ir_node_error(d, g, n, "'axis' %lld is out of range for rank %d",
                         (long long)axis_attr, x->rank);
  for (int i = 0; i < x->rank; i++)
    if (i != axis && ind->dims[i] > x->dims[i])
      return ir_node_error(d, g, n, "indices %s exceed data %s on axis %d",
                           ir_type_str(ind, a, sizeof a), ir_type_str(x, b, sizeof b), i);
  ir_type o = *ind;
  o.dtype = x->dtype;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_gather_elements(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                         ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type, *ind = &in[1]->type;
  int axis = ir_norm_axis(ir_attr_int(n, "axis"), x->rank);
  KILN_ASSERT(axis >= 0 && ind->rank == x->rank);
  size_t es = ir_dtype_size(x->dtype);
  int64_t xs[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
  ir_contig_strides(x, xs);
  int64_t total = ir_type_numel(ind);
  for (int64_t i = 0; i < total; i++) {
    int64_t k = 0, off = 0;
    int rc = fix_index(g, n, ir_tensor_get_i(in[1], i), x->dims[axis], i, axis, &k, d);
    if (rc) return rc;
    for (int a = 0; a < x->rank; a++) off += (a == axis ? k : idx[a]) * xs[a];
    memcpy((char *)out[0]->data + (size_t)i * es, (const char *)in[0]->data + (size_t)off * es,
           es);
    ir_index_next(idx, ind->dims, ind->rank);
  }
  return KILN_OK;
}

/* data[r], indices[q] with last = indices.shape[-1] and b = batch_dims:
 * out = indices.shape[:-1] + data.shape[b + last:]; each index tuple picks a
 * slice of data within its batch. */
static int gather_nd_check(const ir_graph *g, const ir_node *n, const ir_type *x,
                           const ir_type *ind, int *b_out, int *last_out, kiln_diag *d) {
  int rc = check_index_dtype(g, n, ind, d);
  if (rc) return rc;
  char a[256], c[256];
  int64_t b = ir_attr_int(n, "batch_dims");
  if (x->rank < 1 || ind->rank < 1)
    return ir_node_error(d, g, n, "data and indices must have rank >= 1");
  if (b < 0 || b >= x->rank || b >= ind->rank)
    return ir_node_error(d, g, n, "'batch_dims' %lld must be in [0, min(%d, %d))",
                         (long long)b, x->rank, ind->rank);
  int64_t last = ind->dims[ind->rank - 1];
  if (last < 1 || last > x->rank - b)
    return ir_node_error(d, g, n, "the last dim of indices %s must be in [1, %d]",
                         ir_type_str(ind, a, sizeof a), x->rank - (int)b);
  for (int i = 0; i < b; i++)
    if (ind->dims[i] != x->dims[i])
      return ir_node_error(d, g, n, "batch dim %d differs between data %s and indices %s", i,
                           ir_type_str(x, a, sizeof a), ir_type_str(ind, c, sizeof c));
  int orank = ind->rank - 1 + x->rank - (int)b - (int)last;
  if (orank > IR_MAX_RANK)
    return ir_node_error(d, g, n, "the result would have rank %d, more than the limit %d",
                         orank, IR_MAX_RANK);
  *b_out = (int)b;
  *last_out = (int)last;
  return KILN_OK;
}

int infer_gather_nd(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *x = ir_in_type(g, n, 0), *ind = ir_in_type(g, n, 1);
  int b, last;
  int rc = gather_nd_check(g, n, x, ind, &b, &last, d);
  if (rc) return rc;
  ir_type o = {.dtype = x->dtype, .rank = 0};
  for (int i = 0; i < ind->rank - 1; i++) o.dims[o.rank++] = ind->dims[i];
  for (int i = b + last; i < x->rank; i++) o.dims[o.rank++] = x->dims[i];
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_gather_nd(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                   ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type, *ind = &in[1]->type;
  int b, last;
  int rc = gather_nd_check(g, n, x, ind, &b, &last, d);
  if (rc) return rc;
  size_t es = ir_dtype_size(x->dtype);
  int64_t xs[IR_MAX_RANK];
  ir_contig_strides(x, xs);
  /* indices viewed as [batches, m, last]; data as [batches, batch_size]
   * where batch_size = prod(data.shape[b:]); out as [batches, m, inner]
   * with inner = prod(data.shape[b + last:]). */
  int64_t batches = dims_prod(x->dims, 0, b);
  int64_t m = dims_prod(ind->dims, b, ind->rank - 1);
  int64_t batch_size = dims_prod(x->dims, b, x->rank);
  int64_t inner = dims_prod(x->dims, b + last, x->rank);
  KILN_ASSERT(ir_type_numel(&out[0]->type) == batches * m * inner);
  char *dst = out[0]->data;
  for (int64_t bi = 0; bi < batches; bi++)
    for (int64_t j = 0; j < m; j++) {
      int64_t off = bi * batch_size, t = (bi * m + j) * last;
      for (int k = 0; k < last; k++) {
        int64_t v = 0;
        rc = fix_index(g, n, ir_tensor_get_i(in[1], t + k), x->dims[b + k], t + k, b + k, &v, d);
        if (rc) return rc;
        off += v * xs[b + k];
      }
      memcpy(dst, (const char *)in[0]->data + (size_t)off * es, (size_t)inner * es);
      dst += (size_t)inner * es;
    }
  return KILN_OK;
}

/* ---- expand -------------------------------------------------------------------------- */

/* NumPy broadcast of x's shape with `shape` (either side may be the 1). */
static int expand_type(const ir_graph *g, const ir_node *n, const ir_type *x, ir_type *o,
                       kiln_diag *d) {
  const int64_t *shape;
  int ns = ir_attr_ints(n, "shape", &shape);
  char buf[256], a[256];
  if (ns < 0) return ir_node_error(d, g, n, "attribute 'shape' is required");
  if (ns > IR_MAX_RANK)
    return ir_node_error(d, g, n, "'shape' has %d dims, more than the rank limit %d", ns,
                         IR_MAX_RANK);
  ir_type s = {.dtype = x->dtype, .rank = ns};
  for (int i = 0; i < ns; i++) {
    if (shape[i] < 0)
      return ir_node_error(d, g, n, "'shape' %s has a negative dim",
                           ints_str(buf, sizeof buf, shape, ns));
    s.dims[i] = shape[i];
  }
  o->dtype = x->dtype;
  if (ir_broadcast_shapes(x, &s, o))
    return ir_node_error(d, g, n, "cannot broadcast %s to 'shape' %s",
                         ir_type_str(x, a, sizeof a), ints_str(buf, sizeof buf, shape, ns));
  return KILN_OK;
}

int infer_expand(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_type o;
  int rc = expand_type(g, n, ir_in_type(g, n, 0), &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_expand(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  ir_type o;
  int rc = expand_type(g, n, &in[0]->type, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  int64_t s[IR_MAX_RANK];
  ir_broadcast_strides(&in[0]->type, &o, s);
  /* out[idx] = x[idx with broadcast dims pinned to 0] */
  strided_copy(out[0]->data, in[0]->data, ir_dtype_size(o.dtype), o.rank, o.dims, s, 0);
  return KILN_OK;
}

/* ---- pad ------------------------------------------------------------------------------ */

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

typedef struct {
  pad_mode mode;
  int64_t begin[IR_MAX_RANK]; /* elements added before (negative: removed) */
  int64_t end[IR_MAX_RANK];
} pad_plan;

static int pad_make_plan(const ir_graph *g, const ir_node *n, const ir_type *x, pad_plan *p,
                         ir_type *o, kiln_diag *d) {
  const char *mode = ir_attr_str(n, "mode");
  if (!strcmp(mode, "constant")) p->mode = PAD_CONSTANT;
  else if (!strcmp(mode, "reflect")) p->mode = PAD_REFLECT;
  else if (!strcmp(mode, "edge")) p->mode = PAD_EDGE;
  else if (!strcmp(mode, "wrap")) p->mode = PAD_WRAP;
  else
    return ir_node_error(d, g, n, "'mode' must be constant, reflect, edge or wrap, not '%s'",
                         mode);
  const int64_t *pads, *axes_attr;
  int np = ir_attr_ints(n, "pads", &pads), na = ir_attr_ints(n, "axes", &axes_attr);
  if (np < 0) return ir_node_error(d, g, n, "attribute 'pads' is required");
  int axes[IR_MAX_RANK];
  if (na >= 0) {
    int rc = norm_axes(g, n, "axes", axes_attr, na, x->rank, axes, d);
    if (rc) return rc;
  } else {
    na = x->rank;
    for (int i = 0; i < na; i++) axes[i] = i;
  }
  if (np != 2 * na)
    return ir_node_error(d, g, n, "'pads' has %d values, expected %d (begin and end for %d axes)",
                         np, 2 * na, na);
  for (int i = 0; i < x->rank; i++) p->begin[i] = p->end[i] = 0;
  *o = *x;
  for (int i = 0; i < na; i++) {
    int a = axes[i];
    int64_t dim = x->dims[a], b = pads[i], e = pads[na + i];
    /* |pads| beyond 2^40 can never give a valid dim; rejecting them first
     * keeps the sum below from overflowing. */
    if (b > IR_MAX_ELEMENTS || b < -IR_MAX_ELEMENTS || e > IR_MAX_ELEMENTS ||
        e < -IR_MAX_ELEMENTS || dim + b + e < 0 || dim + b + e > IR_MAX_ELEMENTS)
      return ir_node_error(d, g, n, "pads %lld, %lld on axis %d of size %lld give an invalid size",
                           (long long)b, (long long)e, a, (long long)dim);
    if (p->mode != PAD_CONSTANT && dim == 0 && dim + b + e > 0)
      return ir_node_error(d, g, n, "cannot pad the empty axis %d in %s mode", a, mode);
    p->begin[a] = b;
    p->end[a] = e;
    o->dims[a] = dim + b + e;
  }
  return KILN_OK;
}

int infer_pad(ir_graph *g, ir_node *n, kiln_diag *d) {
  pad_plan p;
  ir_type o;
  int rc = pad_make_plan(g, n, ir_in_type(g, n, 0), &p, &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

/* The source index along an axis of size dim (> 0 unless mode is constant)
 * for the padded coordinate c = output index - begin; -1: use the constant.
 * Padding is applied to the whole input and cropping after it (the ONNX
 * reference's order), so coordinates are always relative to x. */
static int64_t pad_source(pad_mode mode, int64_t c, int64_t dim) {
  if (c >= 0 && c < dim) return c;
  switch (mode) {
  case PAD_CONSTANT: return -1;
  case PAD_EDGE: return c < 0 ? 0 : dim - 1;
  case PAD_WRAP: return ((c % dim) + dim) % dim;
  case PAD_REFLECT: {
    /* mirror about the edge elements without repeating them: period 2(dim-1) */
    if (dim == 1) return 0;
    int64_t period = 2 * (dim - 1), m = ((c % period) + period) % period;
    return m < dim ? m : period - m;
  }
  }
  KILN_UNREACHABLE();
}

int eval_pad(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
             ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  pad_plan p;
  ir_type o;
  int rc = pad_make_plan(g, n, x, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  size_t es = ir_dtype_size(x->dtype);
  unsigned char fill[16];
  KILN_ASSERT(es <= sizeof fill);
  ir_store_f(x->dtype, fill, 0, ir_attr_float(n, "value")); /* saturating for integers */
  int64_t xs[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
  ir_contig_strides(x, xs);
  int64_t total = ir_type_numel(&o);
  /* out[idx] = x[source(idx - begin)] per axis, or the fill value */
  for (int64_t i = 0; i < total; i++) {
    int64_t off = 0;
    for (int a = 0; a < o.rank && off >= 0; a++) {
      int64_t s = pad_source(p.mode, idx[a] - p.begin[a], x->dims[a]);
      off = s < 0 ? -1 : off + s * xs[a];
    }
    memcpy((char *)out[0]->data + (size_t)i * es,
           off < 0 ? (const void *)fill : (const char *)in[0]->data + (size_t)off * es, es);
    ir_index_next(idx, o.dims, o.rank);
  }
  return KILN_OK;
}

/* ---- tile ----------------------------------------------------------------------------- */

static int tile_type(const ir_graph *g, const ir_node *n, const ir_type *x, ir_type *o,
                     kiln_diag *d) {
  const int64_t *rep;
  int nr = ir_attr_ints(n, "repeats", &rep);
  char buf[256];
  if (nr < 0) return ir_node_error(d, g, n, "attribute 'repeats' is required");
  if (nr != x->rank)
    return ir_node_error(d, g, n, "'repeats' %s has %d values but the input has rank %d",
                         ints_str(buf, sizeof buf, rep, nr), nr, x->rank);
  *o = *x;
  for (int i = 0; i < nr; i++)
    if (rep[i] < 0 || mul_elems(x->dims[i], rep[i], &o->dims[i]))
      return ir_node_error(d, g, n, "'repeats' %s: %lld is negative or too large",
                           ints_str(buf, sizeof buf, rep, nr), (long long)rep[i]);
  return KILN_OK;
}

int infer_tile(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_type o;
  int rc = tile_type(g, n, ir_in_type(g, n, 0), &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_tile(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
              ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  ir_type o;
  int rc = tile_type(g, n, x, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  size_t es = ir_dtype_size(x->dtype);
  int64_t xs[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
  ir_contig_strides(x, xs);
  int64_t total = ir_type_numel(&o);
  /* out[idx] = x[idx mod x.dims] (x.dims > 0 whenever out is not empty) */
  for (int64_t i = 0; i < total; i++) {
    int64_t off = 0;
    for (int a = 0; a < o.rank; a++) off += (idx[a] % x->dims[a]) * xs[a];
    memcpy((char *)out[0]->data + (size_t)i * es, (const char *)in[0]->data + (size_t)off * es,
           es);
    ir_index_next(idx, o.dims, o.rank);
  }
  return KILN_OK;
}

/* ---- depth_to_space, space_to_depth ----------------------------------------------------- */

static int block_check(const ir_graph *g, const ir_node *n, const ir_type *x, int64_t *bs,
                       kiln_diag *d) {
  char a[256];
  if (x->rank != 4)
    return ir_node_error(d, g, n, "input %s must have rank 4 (N, C, H, W)",
                         ir_type_str(x, a, sizeof a));
  *bs = ir_attr_int(n, "blocksize");
  /* the block area b*b must not overflow: b <= 2^20 is far past any dim */
  if (*bs < 1 || *bs > (INT64_C(1) << 20))
    return ir_node_error(d, g, n, "'blocksize' %lld must be in [1, 2^20]", (long long)*bs);
  return KILN_OK;
}

/* x [N, C, H, W] -> [N, C/(b*b), H*b, W*b] */
static int d2s_type(const ir_graph *g, const ir_node *n, const ir_type *x, ir_type *o, int *crd,
                    int64_t *bs, kiln_diag *d) {
  int rc = block_check(g, n, x, bs, d);
  if (rc) return rc;
  const char *mode = ir_attr_str(n, "mode");
  if (!strcmp(mode, "DCR")) *crd = 0;
  else if (!strcmp(mode, "CRD")) *crd = 1;
  else return ir_node_error(d, g, n, "'mode' must be DCR or CRD, not '%s'", mode);
  int64_t b = *bs;
  if (x->dims[1] % (b * b))
    return ir_node_error(d, g, n, "channels %lld are not a multiple of blocksize^2 = %lld",
                         (long long)x->dims[1], (long long)(b * b));
  *o = *x;
  o->dims[1] = x->dims[1] / (b * b);
  if (mul_elems(x->dims[2], b, &o->dims[2]) || mul_elems(x->dims[3], b, &o->dims[3]))
    return ir_node_error(d, g, n, "the result is too large");
  return KILN_OK;
}

int infer_depth_to_space(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_type o;
  int crd;
  int64_t b;
  int rc = d2s_type(g, n, ir_in_type(g, n, 0), &o, &crd, &b, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_depth_to_space(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                        ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  ir_type o;
  int crd;
  int64_t b;
  int rc = d2s_type(g, n, x, &o, &crd, &b, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  int64_t C = o.dims[1], H = x->dims[2], W = x->dims[3], HW = H * W;
  /* out [N, C, H*b, W*b] viewed as [N, C, H, b(i), W, b(j)]:
   *   DCR: out[n, c, h*b+i, w*b+j] = x[n, (i*b + j)*C + c, h, w]
   *   CRD: out[n, c, h*b+i, w*b+j] = x[n, c*b*b + i*b + j, h, w] */
  int64_t dims[VIEW_RANK] = {x->dims[0], C, H, b, W, b};
  int64_t s[VIEW_RANK] = {x->dims[1] * HW, crd ? b * b * HW : HW, W, crd ? b * HW : b * C * HW,
                          1, crd ? HW : C * HW};
  strided_copy(out[0]->data, in[0]->data, ir_dtype_size(x->dtype), VIEW_RANK, dims, s, 0);
  return KILN_OK;
}

/* x [N, C, H, W] -> [N, C*b*b, H/b, W/b] */
static int s2d_type(const ir_graph *g, const ir_node *n, const ir_type *x, ir_type *o,
                    int64_t *bs, kiln_diag *d) {
  int rc = block_check(g, n, x, bs, d);
  if (rc) return rc;
  int64_t b = *bs;
  if (x->dims[2] % b || x->dims[3] % b)
    return ir_node_error(d, g, n, "height %lld and width %lld must be multiples of blocksize %lld",
                         (long long)x->dims[2], (long long)x->dims[3], (long long)b);
  *o = *x;
  if (mul_elems(x->dims[1], b * b, &o->dims[1]))
    return ir_node_error(d, g, n, "the result is too large");
  o->dims[2] = x->dims[2] / b;
  o->dims[3] = x->dims[3] / b;
  return KILN_OK;
}

int infer_space_to_depth(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_type o;
  int64_t b;
  int rc = s2d_type(g, n, ir_in_type(g, n, 0), &o, &b, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_space_to_depth(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                        ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  ir_type o;
  int64_t b;
  int rc = s2d_type(g, n, x, &o, &b, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3];
  /* out [N, b*b*C, H/b, W/b] viewed as [N, b(i), b(j), C, H/b, W/b]:
   *   out[n, (i*b + j)*C + c, h, w] = x[n, c, h*b + i, w*b + j] */
  int64_t dims[VIEW_RANK] = {x->dims[0], b, b, C, o.dims[2], o.dims[3]};
  int64_t s[VIEW_RANK] = {C * H * W, W, 1, H * W, b * W, b};
  strided_copy(out[0]->data, in[0]->data, ir_dtype_size(x->dtype), VIEW_RANK, dims, s, 0);
  return KILN_OK;
}

/* ---- trilu (infer: infer_identity) ---------------------------------------------------- */

/* x [..., R, C]: keeps element (i, j) of each matrix when j - i >= k (upper)
 * or j - i <= k (lower); the rest stay zero (outputs arrive zeroed, and zero
 * bytes are 0 / false in every dtype). */
int eval_trilu(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  char a[256];
  if (x->rank < 2)
    return ir_node_error(d, g, n, "input %s must have rank >= 2", ir_type_str(x, a, sizeof a));
  KILN_ASSERT(ir_type_equal(x, &out[0]->type));
  int64_t k = ir_attr_int(n, "k"), upper = ir_attr_int(n, "upper") != 0;
  int64_t R = x->dims[x->rank - 2], C = x->dims[x->rank - 1];
  int64_t mats = dims_prod(x->dims, 0, x->rank - 2);
  size_t es = ir_dtype_size(x->dtype);
  for (int64_t m = 0; m < mats; m++)
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < C; j++) {
        int64_t diag = j - i; /* |j - i| < 2^40: no overflow, k compared as is */
        if (upper ? diag >= k : diag <= k) {
          size_t off = (size_t)((m * R + i) * C + j) * es;
          memcpy((char *)out[0]->data + off, (const char *)in[0]->data + off, es);
        }
      }
  return KILN_OK;
}

/* ---- one_hot ---------------------------------------------------------------------------- */

/* indices [pre..., post...] -> [pre..., depth, post...] with the depth axis
 * inserted at `axis` (in [-(r+1), r]); dtype of values ([off, on]). */
static int one_hot_type(const ir_graph *g, const ir_node *n, const ir_type *ind,
                        const ir_type *vals, ir_type *o, int *axis_out, kiln_diag *d) {
  char a[256];
  if (ind->dtype == IR_BOOL)
    return ir_node_error(d, g, n, "indices must be numeric, not bool");
  if (vals->rank > 1 || ir_type_numel(vals) != 2)
    return ir_node_error(d, g, n, "values %s must hold two elements [off, on]",
                         ir_type_str(vals, a, sizeof a));
  if (!ir_attr_find(n, "depth")) return ir_node_error(d, g, n, "'depth' is required");
  int64_t depth = ir_attr_int(n, "depth");
  if (depth < 1 || depth > IR_MAX_ELEMENTS)
    return ir_node_error(d, g, n, "'depth' %lld must be in [1, 2^40]", (long long)depth);
  if (ind->rank + 1 > IR_MAX_RANK)
    return ir_node_error(d, g, n, "the result would exceed the rank limit %d", IR_MAX_RANK);
  int64_t axis = ir_attr_int(n, "axis");
  int orank = ind->rank + 1;
  if (axis < -orank || axis >= orank)
    return ir_node_error(d, g, n, "'axis' %lld is out of range for the result's rank %d",
                         (long long)axis, orank);
  int ax = (int)(axis < 0 ? axis + orank : axis);
  o->dtype = vals->dtype;
  o->rank = orank;
  for (int i = 0, k = 0; i < orank; i++) o->dims[i] = i == ax ? depth : ind->dims[k++];
  *axis_out = ax;
  return KILN_OK;
}

int infer_one_hot(ir_graph *g, ir_node *n, kiln_diag *d) {
  const ir_type *vals = NULL;
  int rc = need_input(g, n, 2, "values", &vals, d);
  if (rc) return rc;
  if (ir_node_has_input(n, 1))
    return ir_node_error(d, g, n, "input 1 (depth) must have been resolved into 'depth'");
  ir_type o;
  int axis;
  rc = one_hot_type(g, n, ir_in_type(g, n, 0), vals, &o, &axis, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_one_hot(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                 ir_tensor *const *out, kiln_diag *d) {
  if (!in[2]) return ir_node_error(d, g, n, "input 2 (values) is missing");
  const ir_type *ind = &in[0]->type;
  ir_type o;
  int axis;
  int rc = one_hot_type(g, n, ind, &in[2]->type, &o, &axis, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  size_t es = ir_dtype_size(o.dtype);
  const char *off_v = in[2]->data, *on_v = off_v + es;
  int64_t depth = o.dims[axis], total = ir_type_numel(&o);
  for (int64_t i = 0; i < total; i++)
    memcpy((char *)out[0]->data + (size_t)i * es, off_v, es);
  /* indices viewed as [pre, post] (split at axis), out as [pre, depth, post]:
   * out[p, v, q] = on where v = indices[p, q] (negative + depth); an index
   * outside [0, depth) leaves its row all off. Float indices truncate. */
  int64_t post = dims_prod(ind->dims, axis, ind->rank), m = ir_type_numel(ind);
  for (int64_t i = 0; i < m; i++) {
    int64_t v = ir_tensor_get_i(in[0], i);
    if (v < 0) v += depth;
    if (v < 0 || v >= depth) continue;
    int64_t p = i / post, q = i % post;
    memcpy((char *)out[0]->data + (size_t)((p * depth + v) * post + q) * es, on_v, es);
  }
  return KILN_OK;
}

/* ---- range ------------------------------------------------------------------------------ */

/* count = max(ceil((limit - start) / delta), 0), at most RANGE_MAX_COUNT. */
static int range_count(const ir_graph *g, const ir_node *n, int64_t *count, kiln_diag *d) {
  static const char *const bounds[] = {"start", "limit", "delta"};
  for (int i = 0; i < 3; i++)
    if (!ir_attr_find(n, bounds[i])) return ir_node_error(d, g, n, "'%s' is required", bounds[i]);
  ir_dtype t = (ir_dtype)ir_attr_int(n, "dtype");
  if (t == IR_BOOL || !ir_dtype_supported(t))
    return ir_node_error(d, g, n, "range cannot produce %s", ir_dtype_name(t));
  double start = ir_attr_float(n, "start"), limit = ir_attr_float(n, "limit");
  double delta = ir_attr_float(n, "delta");
  if (!isfinite(start) || !isfinite(limit) || !isfinite(delta))
    return ir_node_error(d, g, n, "start %g, limit %g and delta %g must be finite", start, limit,
                         delta);
  if (delta == 0) return ir_node_error(d, g, n, "'delta' is 0");
  double c = ceil((limit - start) / delta);
  if (!(c <= (double)RANGE_MAX_COUNT))
    return ir_node_error(d, g, n, "range(%g, %g, %g) has more than 2^40 elements", start, limit,
                         delta);
  *count = c > 0 ? (int64_t)c : 0;
  return KILN_OK;
}

int infer_range(ir_graph *g, ir_node *n, kiln_diag *d) {
  int64_t count;
  int rc = range_count(g, n, &count, d);
  if (rc) return rc;
  ir_type o = {.dtype = (ir_dtype)ir_attr_int(n, "dtype"), .rank = 1, .dims = {count}};
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_range(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  int64_t count;
  int rc = range_count(g, n, &count, d);
  if (rc) return rc;
  KILN_ASSERT(out[0]->type.rank == 1 && out[0]->type.dims[0] == count);
  double start = ir_attr_float(n, "start"), delta = ir_attr_float(n, "delta");
  /* start + i*delta in double, rounded once into the dtype (exact for
   * integers below 2^53; no accumulated error for floats) */
  for (int64_t i = 0; i < count; i++) ir_tensor_set_f(out[0], i, start + (double)i * delta);
  return KILN_OK;
}

/* ---- resize ------------------------------------------------------------------------------ */

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

typedef struct {
  rz_mode mode;
  rz_coord coord;
  rz_round round;
  double cubic_a;
  int exclude_outside;
  /* Per axis, the spec's `scale` and `length_resized`: with `scales` given,
   * scale as given and length in * scale (not floored: align_corners and
   * half_pixel_symmetric use the fractional length, as the ONNX reference
   * does); with `sizes` given, size / in and the size. */
  double scale[IR_MAX_RANK], length[IR_MAX_RANK];
} rz_plan;

static int rz_lookup(const char *s, const char *const *names, int count) {
  for (int i = 0; i < count; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* Checks the attributes and computes the output type: exactly one of
 * `scales` (out = floor(in * scale)) and `sizes`; an empty list is absent.
 * A roi input (slot 1) is ignored: only tf_crop_and_resize reads it. */
static int resize_plan(const ir_graph *g, const ir_node *n, const ir_type *x, rz_plan *p,
                       ir_type *o, kiln_diag *d) {
  static const char *const modes[] = {"nearest", "linear", "cubic"};
  static const char *const coords[] = {"half_pixel",   "half_pixel_symmetric",
                                       "pytorch_half_pixel", "align_corners",
                                       "asymmetric",   "tf_half_pixel_for_nearest"};
  static const char *const rounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                       "ceil"};
  const char *mode = ir_attr_str(n, "mode");
  const char *coord = ir_attr_str(n, "coordinate_transformation_mode");
  const char *round = ir_attr_str(n, "nearest_mode");
  int m = rz_lookup(mode, modes, 3), c = rz_lookup(coord, coords, 6);
  int r = rz_lookup(round, rounds, 4);
  if (m < 0)
    return ir_node_error(d, g, n, "'mode' must be nearest, linear or cubic, not '%s'", mode);
  if (!strcmp(coord, "tf_crop_and_resize"))
    return node_unsupported(d, g, n, "coordinate_transformation_mode tf_crop_and_resize is not "
                                     "supported");
  if (c < 0) return ir_node_error(d, g, n, "unknown coordinate_transformation_mode '%s'", coord);
  if (r < 0) return ir_node_error(d, g, n, "unknown nearest_mode '%s'", round);
  p->mode = (rz_mode)m;
  p->coord = (rz_coord)c;
  p->round = (rz_round)r;
  p->cubic_a = ir_attr_float(n, "cubic_coeff_a");
  p->exclude_outside = ir_attr_int(n, "exclude_outside") != 0;
  if (p->mode != RZ_NEAREST && x->dtype == IR_BOOL)
    return ir_node_error(d, g, n, "%s resize needs a numeric dtype, not bool", mode);
  const double *scales;
  const int64_t *sizes;
  int nsc = ir_attr_floats(n, "scales", &scales), nsz = ir_attr_ints(n, "sizes", &sizes);
  if (nsc < 0) nsc = 0;
  if (nsz < 0) nsz = 0;
  if ((nsc > 0) == (nsz > 0))
    return ir_node_error(d, g, n, "exactly one of 'scales' and 'sizes' must be given");
  int cnt = nsc > 0 ? nsc : nsz;
  if (cnt != x->rank)
    return ir_node_error(d, g, n, "'%s' has %d values but the input has rank %d",
                         nsc > 0 ? "scales" : "sizes", cnt, x->rank);
  *o = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t in = x->dims[i];
    if (nsc > 0) {
      double s = scales[i];
      if (!(s > 0) || !isfinite(s))
        return ir_node_error(d, g, n, "'scales'[%d] = %g must be positive and finite", i, s);
      double out = floor((double)in * s);
      if (out > (double)IR_MAX_ELEMENTS)
        return ir_node_error(d, g, n, "'scales'[%d] = %g makes axis %d too large", i, s, i);
      o->dims[i] = (int64_t)out;
      p->scale[i] = s;
      p->length[i] = (double)in * s;
    } else {
      if (sizes[i] < 0 || sizes[i] > IR_MAX_ELEMENTS)
        return ir_node_error(d, g, n, "'sizes'[%d] = %lld is invalid", i, (long long)sizes[i]);
      o->dims[i] = sizes[i];
      p->scale[i] = in > 0 ? (double)sizes[i] / (double)in : 1.0;
      p->length[i] = (double)sizes[i];
    }
    if (in == 0 && o->dims[i] > 0)
      return ir_node_error(d, g, n, "cannot resize the empty axis %d to %lld", i,
                           (long long)o->dims[i]);
  }
  return KILN_OK;
}

/* Output index o along axis a (input length lin, output length lout) in
 * input coordinates, by coordinate_transformation_mode (formulas of the ONNX
 * Resize spec; len is its fractional length_resized). */
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

/* The cubic convolution kernel with parameter A (Keys), at distance t. */
static double rz_cubic(double A, double t) {
  t = fabs(t);
  if (t <= 1) return ((A + 2) * t - (A + 3)) * t * t + 1;
  if (t < 2) return ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
  return 0;
}

/* Input taps of one output index along one axis. */
typedef struct {
  int n;
  int64_t idx[RESIZE_MAX_TAPS];
  double w[RESIZE_MAX_TAPS];
} rz_taps;

static int64_t clamp_i(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Taps of output index o along an axis of input length lin (> 0). Returns -1
 * when exclude_outside leaves no weight (no input sample near o). */
static int rz_axis_taps(const rz_plan *p, int a, int64_t o, int64_t lin, int64_t lout,
                        rz_taps *t) {
  double x = rz_source(p, a, o, lin, lout);
  t->n = 0;
  if (p->mode == RZ_NEAREST) {
    double f = floor(x), r;
    switch (p->round) {
    case RZ_ROUND_PREFER_FLOOR: r = x - f == 0.5 ? f : floor(x + 0.5); break;
    case RZ_ROUND_PREFER_CEIL: r = x - f == 0.5 ? f + 1 : floor(x + 0.5); break;
    case RZ_FLOOR: r = f; break;
    default: r = ceil(x); break;
    }
    /* clamp in double first: x may be far outside any int64 */
    r = r < 0 ? 0 : r > (double)(lin - 1) ? (double)(lin - 1) : r;
    t->n = 1;
    t->idx[0] = (int64_t)r;
    t->w[0] = 1;
    return 0;
  }
  /* keep x within a few samples of the axis so floor() fits an int64; the
   * taps are clamped (or excluded) at the edges anyway */
  if (isnan(x)) x = 0;
  x = x < -4 ? -4 : x > (double)lin + 4 ? (double)lin + 4 : x;
  double f = floor(x), frac = x - f;
  int64_t i0 = (int64_t)f;
  if (frac == 0) { /* on a sample: every kernel weighs it 1 and its neighbours 0 */
    t->n = 1;
    t->idx[0] = clamp_i(i0, 0, lin - 1);
    t->w[0] = 1;
    return 0;
  }
  if (p->mode == RZ_LINEAR) {
    t->n = 2;
    t->idx[0] = clamp_i(i0, 0, lin - 1);
    t->idx[1] = clamp_i(i0 + 1, 0, lin - 1);
    t->w[0] = 1 - frac;
    t->w[1] = frac;
    return 0;
  }
  /* cubic: samples i0-1 .. i0+2, at distances frac+1, frac, 1-frac, 2-frac */
  double sum = 0;
  for (int k = 0; k < 4; k++) {
    int64_t i = i0 - 1 + k;
    double w = rz_cubic(p->cubic_a, x - (double)i);
    if (p->exclude_outside && (i < 0 || i >= lin)) continue;
    t->idx[t->n] = clamp_i(i, 0, lin - 1);
    t->w[t->n++] = w;
    sum += w;
  }
  if (p->exclude_outside) {
    if (sum == 0) return -1;
    for (int k = 0; k < t->n; k++) t->w[k] /= sum;
  }
  return 0;
}

int infer_resize(ir_graph *g, ir_node *n, kiln_diag *d) {
  rz_plan p;
  ir_type o;
  int rc = resize_plan(g, n, ir_in_type(g, n, 0), &p, &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

/* Separable resampling: each output element is the sum over the tap
 * combinations of its axes of prod(weights) * x[taps] (nearest: one tap of
 * weight 1, copied bit-exactly). */
int eval_resize(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  const ir_type *x = &in[0]->type;
  rz_plan p;
  ir_type o;
  int rc = resize_plan(g, n, x, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  int64_t total = ir_type_numel(&o);
  if (total == 0) return KILN_OK;
  /* taps[a][j]: the taps of output index j along axis a (o.dims[a] entries;
   * their sum is at most the output's element count) */
  rz_taps *taps[IR_MAX_RANK] = {0};
  for (int a = 0; a < o.rank && !rc; a++) {
    taps[a] = malloc(sizeof(rz_taps) * (size_t)o.dims[a]);
    if (!taps[a]) {
      rc = kiln_diag_error(d, KILN_E_NOMEM, "out of memory for resize taps");
      break;
    }
    for (int64_t j = 0; j < o.dims[a] && !rc; j++)
      if (rz_axis_taps(&p, a, j, x->dims[a], o.dims[a], &taps[a][j]))
        rc = ir_node_error(d, g, n, "output index %lld of axis %d has no input sample near it "
                                    "(exclude_outside)", (long long)j, a);
  }
  if (!rc) {
    size_t es = ir_dtype_size(x->dtype);
    int64_t xs[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
    ir_contig_strides(x, xs);
    for (int64_t i = 0; i < total; i++) {
      const rz_taps *t[IR_MAX_RANK];
      for (int a = 0; a < o.rank; a++) t[a] = &taps[a][idx[a]];
      if (p.mode == RZ_NEAREST) {
        int64_t off = 0;
        for (int a = 0; a < o.rank; a++) off += t[a]->idx[0] * xs[a];
        memcpy((char *)out[0]->data + (size_t)i * es, (const char *)in[0]->data + (size_t)off * es,
               es);
      } else {
        /* walk every combination k[] of one tap per axis */
        int k[IR_MAX_RANK] = {0};
        double acc = 0;
        for (;;) {
          double w = 1;
          int64_t off = 0;
          for (int a = 0; a < o.rank; a++) {
            w *= t[a]->w[k[a]];
            off += t[a]->idx[k[a]] * xs[a];
          }
          acc += w * ir_tensor_get_f(in[0], off);
          int a = o.rank - 1;
          while (a >= 0 && ++k[a] == t[a]->n) k[a--] = 0;
          if (a < 0) break;
        }
        ir_tensor_set_f(out[0], i, acc);
      }
      ir_index_next(idx, o.dims, o.rank);
    }
  }
  for (int a = 0; a < o.rank; a++) free(taps[a]);
  return rc;
}

/* ---- shape, size, constant_of_shape ------------------------------------------------------- */

/* Dims [start, end) of the input: negatives add the rank, then both clamp to
 * [0, rank]; start >= end gives an empty vector. Eval reads only in[0]'s
 * type (constant evaluation passes a tensor without data). */
static void shape_range(const ir_node *n, int rank, int *lo, int *hi) {
  int64_t s = ir_attr_int(n, "start"), e = ir_attr_has(n, "end") ? ir_attr_int(n, "end") : rank;
  if (s < 0) s += rank;
  if (e < 0) e += rank;
  s = s < 0 ? 0 : s > rank ? rank : s;
  e = e < 0 ? 0 : e > rank ? rank : e;
  *lo = (int)s;
  *hi = (int)(e > s ? e : s);
}

int infer_shape(ir_graph *g, ir_node *n, kiln_diag *d) {
  int lo, hi;
  shape_range(n, ir_in_type(g, n, 0)->rank, &lo, &hi);
  ir_type o = {.dtype = IR_I64, .rank = 1, .dims = {hi - lo}};
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_shape(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
               ir_tensor *const *out, kiln_diag *d) {
  int lo, hi;
  shape_range(n, in[0]->type.rank, &lo, &hi);
  KILN_ASSERT(out[0]->type.dtype == IR_I64 && out[0]->type.dims[0] == hi - lo);
  for (int i = lo; i < hi; i++) ((int64_t *)out[0]->data)[i - lo] = in[0]->type.dims[i];
  return KILN_OK;
}

int infer_size(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_type o = {.dtype = IR_I64, .rank = 0};
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_size(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
              ir_tensor *const *out, kiln_diag *d) {
  KILN_ASSERT(out[0]->type.dtype == IR_I64 && out[0]->type.rank == 0);
  *(int64_t *)out[0]->data = ir_type_numel(&in[0]->type);
  return KILN_OK;
}

/* `shape` (each >= 0; empty: a scalar) filled with `value`, a one-element
 * tensor whose dtype is the output's (absent: f32 0). */
static int cos_type(const ir_graph *g, const ir_node *n, ir_type *o, const ir_attr **value,
                    kiln_diag *d) {
  const int64_t *shape;
  int ns = ir_attr_ints(n, "shape", &shape);
  char buf[256], a[256];
  if (ns < 0) return ir_node_error(d, g, n, "attribute 'shape' is required");
  if (ns > IR_MAX_RANK)
    return ir_node_error(d, g, n, "'shape' has %d dims, more than the rank limit %d", ns,
                         IR_MAX_RANK);
  *value = ir_attr_find(n, "value");
  o->dtype = IR_F32;
  if (*value) {
    const ir_type *vt = &(*value)->t.type;
    if (ir_type_numel(vt) != 1)
      return ir_node_error(d, g, n, "'value' %s must hold exactly one element",
                           ir_type_str(vt, a, sizeof a));
    if (!ir_dtype_supported(vt->dtype))
      return node_unsupported(d, g, n, "'value' of dtype %s is not supported yet",
                              ir_dtype_name(vt->dtype));
    o->dtype = vt->dtype;
  }
  o->rank = ns;
  for (int i = 0; i < ns; i++) {
    if (shape[i] < 0)
      return ir_node_error(d, g, n, "'shape' %s has a negative dim",
                           ints_str(buf, sizeof buf, shape, ns));
    o->dims[i] = shape[i];
  }
  return KILN_OK; /* element limits: ir_type_check after inference */
}

int infer_constant_of_shape(ir_graph *g, ir_node *n, kiln_diag *d) {
  ir_type o;
  const ir_attr *value;
  int rc = cos_type(g, n, &o, &value, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  return KILN_OK;
}

int eval_constant_of_shape(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                           ir_tensor *const *out, kiln_diag *d) {
  ir_type o;
  const ir_attr *value;
  int rc = cos_type(g, n, &o, &value, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &out[0]->type));
  if (!value) return KILN_OK; /* f32 zeros: the output arrives zeroed */
  size_t es = ir_dtype_size(o.dtype);
  int64_t total = ir_type_numel(&o);
  for (int64_t i = 0; i < total; i++)
    memcpy((char *)out[0]->data + (size_t)i * es, value->t.data, es);
  return KILN_OK;
}

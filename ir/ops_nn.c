/* Contractions, pooling and local response normalisation: shape/dtype
 * inference and reference evaluation (ONNX semantics of the newest opset).
 *
 *   matmul                NumPy matmul: batched, batch dims broadcast, 1-D
 *                         operands promoted and the added dim removed
 *   conv, conv_transpose  any spatial rank, groups, strides, dilations,
 *                         pads, auto_pad; conv_transpose also
 *                         output_padding and output_shape
 *   max_pool, avg_pool, lp_pool      windowed pooling with ceil_mode
 *   global_{avg,max,lp}_pool         pooling over all spatial dims
 *   lrn                   local response normalisation across channels
 *
 * Layouts (ONNX): activations are [N, C, D1..Dk] in C order, "spatial" being
 * D1..Dk; conv weights are [M, C/group, K1..Kk], conv_transpose weights
 * [C, M/group, K1..Kk]. kernel_shape, strides and dilations have k entries,
 * pads 2k: [begin_1..begin_k, end_1..end_k].
 *
 * Every op validates its attributes and input types in one "plan" function
 * that inference and evaluation both call, so the interpreter never runs a
 * node that did not pass the same checks; evaluation asserts that the output
 * it was given has the planned type (a mismatch is a kiln bug).
 *
 * Canonical form: inference resolves auto_pad (and conv_transpose's
 * output_shape) into explicit pads (and output_padding) and removes them, so
 * passes and code generators only ever see explicit padding. Re-inferring a
 * canonical node gives the same shapes.
 *
 * The evaluators are the correctness oracle for the backends, so they follow
 * the definitions directly: every window is walked tap by tap, sums are
 * accumulated in double (integer matmul in wrapping 64-bit arithmetic, then
 * narrowed as NumPy's astype does) and float inputs are widened to double
 * once up front. Only taps that fall inside the input are visited (the
 * ranges are computed, not searched), which keeps a huge kernel or pad from
 * turning into a long loop over padding. Lp norms are scaled by the largest
 * |x| of the window so that |x|^p cannot overflow on the way.
 *
 * Dtypes: matmul f32 f64 i32 i64; max_pool floats and integers (compared
 * exactly as int64); everything else floats.
 *
 * Definitions where ONNX leaves a result open (documented here once):
 *   - max pooling propagates NaN: a window holding a NaN gives NaN, and its
 *     index is the first NaN's; otherwise the index is the first maximum in
 *     window (row-major tap) order;
 *   - a max_pool or avg_pool (count_include_pad = 0) window that covers only
 *     padding has no defined value and is rejected at inference;
 *   - with auto_pad other than NOTSET, ceil_mode is ignored: the output size
 *     is the one the auto_pad formula gives;
 *   - SAME padding that would be negative (stride larger than the window) is
 *     clamped to 0;
 *   - conv_transpose with output_shape (or SAME) larger than the full
 *     result: the excess is added at the end, where only the bias reaches.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"

/* ---- limits ----------------------------------------------------------------- */

/* Spatial dims of an [N, C, D1..Dk] activation. */
#define NN_MAX_SPATIAL (IR_MAX_RANK - 2)
/* Largest kernel size, stride, dilation, pad, output padding or group count
 * accepted. No tensor dim can exceed IR_MAX_ELEMENTS, so a larger value
 * cannot describe a real window, and the bound keeps sums of these values in
 * int64; the products that could still overflow are checked where formed. */
#define NN_MAX_WINDOW IR_MAX_ELEMENTS

/* ---- dtype sets --------------------------------------------------------------- */
#define DT(t) (1u << (unsigned)(t))
enum {
  /* f16/bf16 are listed for when the interpreter supports them (inference
   * rejects them before these functions run today); evaluation reads and
   * writes through ir_load_f / ir_store_f, which handle them. */
  DS_FLOAT = DT(IR_F32) | DT(IR_F64) | DT(IR_F16) | DT(IR_BF16),
  DS_MATMUL = DS_FLOAT | DT(IR_I32) | DT(IR_I64),
  DS_MAX_POOL = DS_FLOAT | DT(IR_I64) | DT(IR_I32) | DT(IR_I16) | DT(IR_I8) | DT(IR_U8),
};

static int check_dtype(const ir_graph *g, const ir_node *n, const ir_type *t, unsigned set,
                       const char *what, kiln_diag *d) {
  if (set & DT(t->dtype)) return KILN_OK;
  char buf[128];
  return ir_node_error(d, g, n, "%s has dtype %s; %s takes %s", what, ir_dtype_name(t->dtype),
                       ir_op_name(n->op), ir_dtype_set_str(set, buf, sizeof buf));
}

static int check_same_dtype(const ir_graph *g, const ir_node *n, const ir_type *x,
                            const ir_type *t, const char *what, kiln_diag *d) {
  if (t->dtype == x->dtype) return KILN_OK;
  return ir_node_error(d, g, n, "%s must have the input's dtype %s, not %s", what,
                       ir_dtype_name(x->dtype), ir_dtype_name(t->dtype));
}

/* ---- attribute helpers -------------------------------------------------------- */

/* Reads a 0/1 flag (ceil_mode, count_include_pad, storage_order). Other
 * values are rejected rather than guessed at. */
static int get_flag(const ir_graph *g, const ir_node *n, const char *name, int *out,
                    kiln_diag *d) {
  const ir_attr *a = ir_attr_find(n, name);
  if (a && a->kind != IR_ATTR_INT)
    return ir_node_error(d, g, n, "attribute '%s' must be an integer", name);
  int64_t v = ir_attr_int(n, name);
  if (v != 0 && v != 1)
    return ir_node_error(d, g, n, "attribute '%s' must be 0 or 1, not %lld", name,
                         (long long)v);
  *out = (int)v;
  return KILN_OK;
}

/* Reads an integer attribute (group, p, size) that must lie in [lo, hi]. */
static int get_int_in(const ir_graph *g, const ir_node *n, const char *name, int64_t lo,
                      int64_t hi, int64_t *out, kiln_diag *d) {
  const ir_attr *a = ir_attr_find(n, name);
  const ir_attr_schema *s = ir_op_attr_schema(n->op, name);
  KILN_ASSERT(s);
  if (a && a->kind != IR_ATTR_INT)
    return ir_node_error(d, g, n, "attribute '%s' must be an integer", name);
  if (!a && !s->has_default) return ir_node_error(d, g, n, "attribute '%s' is required", name);
  int64_t v = ir_attr_int(n, name);
  if (v < lo || v > hi)
    return ir_node_error(d, g, n, "attribute '%s' is %lld; it must be in [%lld, %lld]", name,
                         (long long)v, (long long)lo, (long long)hi);
  *out = v;
  return KILN_OK;
}

/* Reads a list attribute that must have `len` entries, each in
 * [lo, NN_MAX_WINDOW]. Absent: every entry is `def`, and *given is 0. */
static int get_ints(const ir_graph *g, const ir_node *n, const char *name, int len, int64_t def,
                    int64_t lo, int64_t *out, int *given, kiln_diag *d) {
  const ir_attr *a = ir_attr_find(n, name);
  if (given) *given = a != NULL;
  if (!a) {
    for (int i = 0; i < len; i++) out[i] = def;
    return KILN_OK;
  }
  if (a->kind != IR_ATTR_INTS)
    return ir_node_error(d, g, n, "attribute '%s' must be a list of integers", name);
  if (a->n != len)
    return ir_node_error(d, g, n, "attribute '%s' has %d values; %d expected", name, a->n, len);
  for (int i = 0; i < len; i++) {
    int64_t v = a->ints[i];
    if (v < lo)
      return ir_node_error(d, g, n, "attribute '%s' has %lld at index %d; it must be >= %lld",
                           name, (long long)v, i, (long long)lo);
    if (v > NN_MAX_WINDOW)
      return ir_node_error(d, g, n, "attribute '%s' has %lld at index %d, above the limit %lld",
                           name, (long long)v, i, (long long)NN_MAX_WINDOW);
    out[i] = v;
  }
  return KILN_OK;
}

typedef enum { AP_NOTSET, AP_VALID, AP_SAME_UPPER, AP_SAME_LOWER } auto_pad_mode;

static int get_auto_pad(const ir_graph *g, const ir_node *n, auto_pad_mode *m, kiln_diag *d) {
  const ir_attr *a = ir_attr_find(n, "auto_pad");
  *m = AP_NOTSET;
  if (!a) return KILN_OK;
  if (a->kind != IR_ATTR_STRING || !a->s)
    return ir_node_error(d, g, n, "attribute 'auto_pad' must be a string");
  if (!strcmp(a->s, "NOTSET")) *m = AP_NOTSET;
  else if (!strcmp(a->s, "VALID")) *m = AP_VALID;
  else if (!strcmp(a->s, "SAME_UPPER")) *m = AP_SAME_UPPER;
  else if (!strcmp(a->s, "SAME_LOWER")) *m = AP_SAME_LOWER;
  else
    return ir_node_error(d, g, n,
                         "auto_pad '%.64s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER",
                         a->s);
  return KILN_OK;
}

/* ---- window geometry ---------------------------------------------------------- */

/* The geometry of a windowed op over the spatial dims. For conv and pools,
 * output position o reads input positions o*stride - pad_begin + k*dil for
 * kernel index k; conv_transpose scatters input position i to output
 * positions i*stride - pad_begin + k*dil. */
typedef struct {
  int nsp;                            /* spatial rank k, 1..NN_MAX_SPATIAL */
  int64_t in[NN_MAX_SPATIAL];         /* input spatial dims */
  int64_t out[NN_MAX_SPATIAL];        /* output spatial dims */
  int64_t kernel[NN_MAX_SPATIAL];
  int64_t stride[NN_MAX_SPATIAL];
  int64_t dil[NN_MAX_SPATIAL];
  int64_t pad[2 * NN_MAX_SPATIAL];    /* begin_1..begin_k, end_1..end_k */
  int64_t out_pad[NN_MAX_SPATIAL];    /* conv_transpose: output_padding */
  int resolved;                       /* pads came from auto_pad/output_shape */
} geom;

/* Checks x = [N, C, D1..Dk] with k >= 1 and every Di >= 1; fills nsp, in,
 * strides and dilations. */
static int geom_input(const ir_graph *g, const ir_node *n, const ir_type *x, geom *w,
                      kiln_diag *d) {
  char buf[256];
  memset(w, 0, sizeof *w);
  if (x->rank < 3)
    return ir_node_error(d, g, n,
                         "input must be [N, C, D1, ...] with at least one spatial dim, not %s",
                         ir_type_str(x, buf, sizeof buf));
  w->nsp = x->rank - 2;
  for (int i = 0; i < w->nsp; i++) {
    w->in[i] = x->dims[2 + i];
    if (w->in[i] < 1)
      return ir_node_error(d, g, n, "input %s has an empty spatial dim %d",
                           ir_type_str(x, buf, sizeof buf), 2 + i);
  }
  int rc = get_ints(g, n, "strides", w->nsp, 1, 1, w->stride, NULL, d);
  if (!rc) rc = get_ints(g, n, "dilations", w->nsp, 1, 1, w->dil, NULL, d);
  return rc;
}

/* Reads kernel_shape; with a weight type wt (conv), the kernel is wt's
 * trailing dims and kernel_shape, when given, must agree. */
static int geom_kernel(const ir_graph *g, const ir_node *n, const ir_type *wt, geom *w,
                       kiln_diag *d) {
  int given;
  int64_t ks[NN_MAX_SPATIAL];
  int rc = get_ints(g, n, "kernel_shape", w->nsp, 0, 1, ks, &given, d);
  if (rc) return rc;
  if (!wt) {
    if (!given) return ir_node_error(d, g, n, "attribute 'kernel_shape' is required");
    memcpy(w->kernel, ks, sizeof ks);
    return KILN_OK;
  }
  char buf[256];
  for (int i = 0; i < w->nsp; i++) {
    w->kernel[i] = wt->dims[2 + i];
    if (w->kernel[i] < 1)
      return ir_node_error(d, g, n, "weight %s has an empty kernel dim %d",
                           ir_type_str(wt, buf, sizeof buf), 2 + i);
    if (given && ks[i] != w->kernel[i])
      return ir_node_error(d, g, n, "kernel_shape[%d] is %lld but the weight %s has %lld", i,
                           (long long)ks[i], ir_type_str(wt, buf, sizeof buf),
                           (long long)w->kernel[i]);
  }
  return KILN_OK;
}

/* The extent of dim i's dilated kernel, (kernel - 1) * dil + 1. */
static int geom_span(const ir_graph *g, const ir_node *n, const geom *w, int i, int64_t *span,
                     kiln_diag *d) {
  int64_t s;
  if (__builtin_mul_overflow(w->kernel[i] - 1, w->dil[i], &s) || s >= NN_MAX_WINDOW)
    return ir_node_error(d, g, n,
                         "kernel %lld with dilation %lld along spatial dim %d spans more than "
                         "%lld elements",
                         (long long)w->kernel[i], (long long)w->dil[i], i,
                         (long long)NN_MAX_WINDOW);
  *span = s + 1;
  return KILN_OK;
}

/* Explicit pads, or an error when auto_pad is set and pads are non-zero
 * (ONNX: the two cannot be used together). */
static int geom_pads(const ir_graph *g, const ir_node *n, geom *w, auto_pad_mode m,
                     kiln_diag *d) {
  int given;
  int rc = get_ints(g, n, "pads", 2 * w->nsp, 0, 0, w->pad, &given, d);
  if (rc || m == AP_NOTSET) return rc;
  for (int i = 0; i < 2 * w->nsp; i++)
    if (w->pad[i] != 0)
      return ir_node_error(d, g, n, "non-zero 'pads' cannot be combined with auto_pad %s",
                           ir_attr_str(n, "auto_pad"));
  return KILN_OK;
}

/* Output dims and pads of a forward window (conv, pools), ONNX rules:
 *   NOTSET  out = floor((in + pads - span) / stride) + 1, or with ceil_mode
 *           ceil(...) + 1, dropping a last window that would start in the
 *           right padding;
 *   VALID   pads 0, out = floor((in - span) / stride) + 1;
 *   SAME_*  out = ceil(in / stride), total pad (out-1)*stride + span - in
 *           (clamped to 0), the odd unit at the end (UPPER) or begin (LOWER).
 * Needs in, kernel, strides and dilations filled. */
static int geom_forward(const ir_graph *g, const ir_node *n, geom *w, int ceil_mode,
                        kiln_diag *d) {
  auto_pad_mode m;
  int rc = get_auto_pad(g, n, &m, d);
  if (!rc) rc = geom_pads(g, n, w, m, d);
  if (rc) return rc;
  w->resolved = m != AP_NOTSET;
  for (int i = 0; i < w->nsp; i++) {
    int64_t span = 0, in = w->in[i], s = w->stride[i];
    int64_t *pb = &w->pad[i], *pe = &w->pad[w->nsp + i];
    if ((rc = geom_span(g, n, w, i, &span, d))) return rc;
    if (m == AP_SAME_UPPER || m == AP_SAME_LOWER) {
      w->out[i] = (in + s - 1) / s;
      int64_t total = (w->out[i] - 1) * s + span - in;
      if (total < 0) total = 0;
      *pb = m == AP_SAME_UPPER ? total / 2 : total - total / 2;
      *pe = total - *pb;
      continue;
    }
    /* NOTSET or VALID (whose pads are 0); all terms are below 4 * 2^40 */
    int64_t padded = in + *pb + *pe;
    if (padded < span)
      return ir_node_error(d, g, n,
                           "the window spans %lld elements along spatial dim %d but the padded "
                           "input has only %lld",
                           (long long)span, i, (long long)padded);
    w->out[i] = (padded - span) / s + 1;
    if (m == AP_NOTSET && ceil_mode && (padded - span) % s != 0) {
      w->out[i]++;
      if ((w->out[i] - 1) * s >= in + *pb) w->out[i]--;
    }
  }
  return KILN_OK;
}

/* Kernel indices k in [0, K) with 0 <= start + k*dil < len, as [*lo, *hi)
 * (empty when *lo >= *hi). */
static void tap_range(int64_t start, int64_t K, int64_t dil, int64_t len, int64_t *lo,
                      int64_t *hi) {
  int64_t l = 0, h = K;
  if (start < 0) l = (-start + dil - 1) / dil;
  if (start >= len) h = 0;
  else if ((len - 1 - start) / dil + 1 < h) h = (len - 1 - start) / dil + 1;
  *lo = l;
  *hi = h;
}

/* Rejects a forward window that covers only padding (max_pool, and avg_pool
 * without count_include_pad, have no value to give it). The dims are
 * independent, so checking each dim's windows suffices. */
static int geom_check_no_empty_window(const ir_graph *g, const ir_node *n, const geom *w,
                                      kiln_diag *d) {
  for (int i = 0; i < w->nsp; i++)
    for (int64_t o = 0; o < w->out[i]; o++) {
      int64_t lo, hi;
      tap_range(o * w->stride[i] - w->pad[i], w->kernel[i], w->dil[i], w->in[i], &lo, &hi);
      if (lo >= hi)
        return ir_node_error(d, g, n,
                             "output position %lld along spatial dim %d has a window that "
                             "covers only padding",
                             (long long)o, i);
    }
  return KILN_OK;
}

/* Writes the resolved pads back and drops auto_pad (and, for pools,
 * ceil_mode, which the auto_pad output size ignores). */
static void canonicalise_forward(ir_graph *g, ir_node *n, const geom *w, int is_pool) {
  if (!w->resolved) return;
  int id = (int)(n - g->nodes);
  ir_set_ints(g, id, "pads", w->pad, 2 * w->nsp);
  ir_attr_remove(g, id, "auto_pad");
  if (is_pool) ir_attr_remove(g, id, "ceil_mode");
}

/* ---- tap iteration -------------------------------------------------------------- */

/* Walks the taps of one window: the box of kernel indices [lo_i, hi_i) in
 * C order, keeping a running data offset (`off`, moving by step_i per
 * kernel index along dim i) and a running weight offset (`woff`, moving by
 * wstep_i). */
typedef struct {
  int nd;
  int64_t lo[NN_MAX_SPATIAL], hi[NN_MAX_SPATIAL], idx[NN_MAX_SPATIAL];
  int64_t step[NN_MAX_SPATIAL], wstep[NN_MAX_SPATIAL];
  int64_t off, woff;
} tap_iter;

/* Positions the iterator on the first tap; off0/woff0 are the offsets of
 * kernel index 0 in every dim (off0 may lie outside the data: only taps
 * inside [lo, hi) are ever visited). Returns 0 when the box is empty. */
static int tap_first(tap_iter *t, int64_t off0, int64_t woff0) {
  t->off = off0;
  t->woff = woff0;
  for (int i = 0; i < t->nd; i++) {
    if (t->lo[i] >= t->hi[i]) return 0;
    t->idx[i] = t->lo[i];
    t->off += t->lo[i] * t->step[i];
    t->woff += t->lo[i] * t->wstep[i];
  }
  return 1;
}

/* Advances to the next tap; 0 after the last. */
static int tap_next(tap_iter *t) {
  for (int i = t->nd - 1; i >= 0; i--) {
    t->idx[i]++;
    t->off += t->step[i];
    t->woff += t->wstep[i];
    if (t->idx[i] < t->hi[i]) return 1;
    int64_t len = t->hi[i] - t->lo[i];
    t->idx[i] = t->lo[i];
    t->off -= len * t->step[i];
    t->woff -= len * t->wstep[i];
  }
  return 0;
}

/* An iterator over the windows of geometry w: a kernel index along dim i
 * moves the data offset by dil_i * st[i] and the weight offset by wst[i]
 * (st, wst: strides in elements). */
static void tap_init(tap_iter *t, const geom *w, const int64_t *st, const int64_t *wst) {
  memset(t, 0, sizeof *t);
  t->nd = w->nsp;
  for (int i = 0; i < w->nsp; i++) {
    t->step[i] = w->dil[i] * st[i];
    t->wstep[i] = wst[i];
  }
}

/* Sets t's box to the window at spatial position pos (an output position
 * for conv, an input position for conv_transpose, which scatters): along
 * dim i the taps pos_i * stride_i - pad_i + k * dil_i that lie in
 * [0, len[i]) (tap_range). Returns the data offset, with strides st, of
 * kernel index 0 in every dim (for tap_first). */
static int64_t tap_window(tap_iter *t, const geom *w, const int64_t *pos, const int64_t *len,
                          const int64_t *st) {
  int64_t off = 0;
  for (int i = 0; i < w->nsp; i++) {
    int64_t start = pos[i] * w->stride[i] - w->pad[i];
    tap_range(start, w->kernel[i], w->dil[i], len[i], &t->lo[i], &t->hi[i]);
    off += start * st[i];
  }
  return off;
}

/* C-order strides of dims[0..k) (elements). */
static void strides_of(const int64_t *dims, int k, int64_t *st) {
  int64_t s = 1;
  for (int i = k - 1; i >= 0; i--) {
    st[i] = s;
    s *= dims[i];
  }
}

static int64_t prod(const int64_t *dims, int k) {
  int64_t p = 1;
  for (int i = 0; i < k; i++) p *= dims[i];
  return p;
}

/* ---- data helpers ----------------------------------------------------------------- */

/* A float tensor widened to a malloc'd double array (caller frees). NULL
 * with a diag error when memory runs out. */
static double *widen(const ir_graph *g, const ir_tensor *t, kiln_diag *d) {
  int64_t cnt = ir_type_numel(&t->type);
  double *p = malloc(sizeof(double) * (size_t)(cnt > 0 ? cnt : 1));
  if (!p) {
    kiln_diag_error(d, KILN_E_NOMEM, "%s: out of memory widening a tensor of %lld elements",
                    g->source, (long long)cnt);
    return NULL;
  }
  for (int64_t i = 0; i < cnt; i++) p[i] = ir_tensor_get_f(t, i);
  return p;
}

static double *zeros_f64(const ir_graph *g, int64_t cnt, kiln_diag *d) {
  double *p = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof(double));
  if (!p)
    kiln_diag_error(d, KILN_E_NOMEM, "%s: out of memory for %lld accumulators", g->source,
                    (long long)cnt);
  return p;
}

/* ======================================================================== */
/* matmul                                                                   */
/* ======================================================================== */

/* a [..., M, K] x b [..., K, N] -> [batch..., M, N]; a 1-D a is [1, K] and
 * a 1-D b is [K, 1], the added dim removed from the result. */
typedef struct {
  int64_t M, K, N;
  ir_type batch;             /* broadcast batch dims (dtype unused) */
  ir_type a_batch, b_batch;  /* each operand's own batch dims */
} mm_plan;

static int plan_matmul(const ir_graph *g, const ir_node *n, const ir_type *a, const ir_type *b,
                       mm_plan *p, ir_type *out, kiln_diag *d) {
  char sa[256], sb[256];
  int rc = check_dtype(g, n, a, DS_MATMUL, "input 0", d);
  if (!rc) rc = check_same_dtype(g, n, a, b, "input 1", d);
  if (rc) return rc;
  if (a->rank < 1 || b->rank < 1)
    return ir_node_error(d, g, n, "operands must have rank 1 or more, got %s and %s",
                         ir_type_str(a, sa, sizeof sa), ir_type_str(b, sb, sizeof sb));
  memset(p, 0, sizeof *p);
  p->M = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
  p->K = a->dims[a->rank - 1];
  int64_t kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
  p->N = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
  if (kb != p->K)
    return ir_node_error(d, g, n, "cannot multiply %s by %s: inner dims %lld and %lld differ",
                         ir_type_str(a, sa, sizeof sa), ir_type_str(b, sb, sizeof sb),
                         (long long)p->K, (long long)kb);
  p->a_batch.rank = a->rank > 2 ? a->rank - 2 : 0;
  p->b_batch.rank = b->rank > 2 ? b->rank - 2 : 0;
  memcpy(p->a_batch.dims, a->dims, sizeof(int64_t) * (size_t)p->a_batch.rank);
  memcpy(p->b_batch.dims, b->dims, sizeof(int64_t) * (size_t)p->b_batch.rank);
  if (ir_broadcast_shapes(&p->a_batch, &p->b_batch, &p->batch))
    return ir_node_error(d, g, n, "batch dims of %s and %s do not broadcast",
                         ir_type_str(a, sa, sizeof sa), ir_type_str(b, sb, sizeof sb));
  ir_type o = p->batch;
  o.dtype = a->dtype;
  KILN_ASSERT(o.rank <= IR_MAX_RANK - 2); /* each operand's batch rank is */
  if (a->rank >= 2) o.dims[o.rank++] = p->M;
  if (b->rank >= 2) o.dims[o.rank++] = p->N;
  *out = o;
  return KILN_OK;
}

int infer_matmul(ir_graph *g, ir_node *n, kiln_diag *d) {
  mm_plan p;
  ir_type o;
  int rc = plan_matmul(g, n, ir_in_type(g, n, 0), ir_in_type(g, n, 1), &p, &o, d);
  if (!rc) *ir_out_type(g, n, 0) = o;
  return rc;
}

int eval_matmul(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *a = in[0], *b = in[1];
  ir_tensor *y = out[0];
  mm_plan p;
  ir_type o;
  int rc = plan_matmul(g, n, &a->type, &b->type, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &y->type));
  const int64_t M = p.M, K = p.K, N = p.N;
  int nb = p.batch.rank;
  int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
  ir_broadcast_strides(&p.a_batch, &p.batch, sa); /* in matrices, 0 where broadcast */
  ir_broadcast_strides(&p.b_batch, &p.batch, sb);
  int64_t nbatch = prod(p.batch.dims, nb);
  int is_float = ir_dtype_is_float(a->type.dtype);
  double *af = NULL, *bf = NULL;
  if (is_float) {
    if (!(af = widen(g, a, d)) || !(bf = widen(g, b, d))) {
      free(af);
      return d->status;
    }
  }
  /* a: [batch_a..., M, K], b: [batch_b..., K, N], y: [batch..., M, N] */
  for (int64_t bi = 0; bi < nbatch; bi++) {
    int64_t ao = 0, bo = 0;
    for (int i = 0; i < nb; i++) {
      ao += idx[i] * sa[i];
      bo += idx[i] * sb[i];
    }
    ao *= M * K;
    bo *= K * N;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        int64_t yo = (bi * M + i) * N + j;
        if (is_float) {
          double acc = 0.0;
          for (int64_t k = 0; k < K; k++) acc += af[ao + i * K + k] * bf[bo + k * N + j];
          ir_tensor_set_f(y, yo, acc);
        } else {
          /* two's complement wrap-around, as NumPy's integer matmul */
          uint64_t acc = 0;
          for (int64_t k = 0; k < K; k++)
            acc += (uint64_t)ir_tensor_get_i(a, ao + i * K + k) *
                   (uint64_t)ir_tensor_get_i(b, bo + k * N + j);
          ir_tensor_set_i(y, yo, (int64_t)acc);
        }
      }
    ir_index_next(idx, p.batch.dims, nb);
  }
  free(af);
  free(bf);
  return KILN_OK;
}

/* ======================================================================== */
/* conv                                                                     */
/* ======================================================================== */

typedef struct {
  geom w;
  int64_t N, C, M, group, Cg, Mg; /* Cg input, Mg output channels per group */
  int has_bias;
} conv_plan;

/* What conv and conv_transpose check first: x is a float activation
 * [N, C, D1..Dk] (geom_input), the weight has x's dtype and rank (`layout`
 * names its dims in the message), group is in [1, NN_MAX_WINDOW] and divides
 * C. Clears *p and fills p->w's input part, N, C and group. */
static int plan_conv_input(const ir_graph *g, const ir_node *n, const ir_type *x,
                           const ir_type *wt, const char *layout, conv_plan *p, kiln_diag *d) {
  char sx[256], sw[256];
  memset(p, 0, sizeof *p);
  int rc = check_dtype(g, n, x, DS_FLOAT, "input 0", d);
  if (!rc) rc = check_same_dtype(g, n, x, wt, "weight (input 1)", d);
  if (!rc) rc = geom_input(g, n, x, &p->w, d);
  if (!rc) rc = get_int_in(g, n, "group", 1, NN_MAX_WINDOW, &p->group, d);
  if (rc) return rc;
  if (wt->rank != x->rank)
    return ir_node_error(d, g, n, "weight %s must have the input %s's rank %d (%s)",
                         ir_type_str(wt, sw, sizeof sw), ir_type_str(x, sx, sizeof sx), x->rank,
                         layout);
  p->N = x->dims[0];
  p->C = x->dims[1];
  if (p->C % p->group != 0)
    return ir_node_error(d, g, n, "input channels %lld are not divisible by group %lld",
                         (long long)p->C, (long long)p->group);
  return KILN_OK;
}

/* The result type of a planned conv or conv_transpose: x's with M channels
 * and the planned spatial output dims. */
static void conv_out_type(const ir_type *x, const conv_plan *p, ir_type *out) {
  ir_type o = *x;
  o.dims[1] = p->M;
  for (int i = 0; i < p->w.nsp; i++) o.dims[2 + i] = p->w.out[i];
  *out = o;
}

/* Checks the bias (rank 1, [M], x's dtype) when present. */
static int check_bias(const ir_graph *g, const ir_node *n, const ir_type *x, const ir_type *b,
                      int64_t M, kiln_diag *d) {
  char buf[256];
  int rc = check_same_dtype(g, n, x, b, "bias (input 2)", d);
  if (rc) return rc;
  if (b->rank != 1 || b->dims[0] != M)
    return ir_node_error(d, g, n, "bias must be [%lld] (one value per output channel), not %s",
                         (long long)M, ir_type_str(b, buf, sizeof buf));
  return KILN_OK;
}

static int plan_conv(const ir_graph *g, const ir_node *n, const ir_type *x, const ir_type *wt,
                     const ir_type *b, conv_plan *p, ir_type *out, kiln_diag *d) {
  char sx[256], sw[256];
  int rc = plan_conv_input(g, n, x, wt, "[M, C/group, k...]", p, d);
  if (rc) return rc;
  p->M = wt->dims[0];
  p->Cg = wt->dims[1];
  if (p->M % p->group != 0)
    return ir_node_error(d, g, n, "output channels %lld (weight dim 0) are not divisible by "
                         "group %lld", (long long)p->M, (long long)p->group);
  if (p->Cg != p->C / p->group)
    return ir_node_error(d, g, n,
                         "weight %s has %lld input channels per group; input %s with group %lld "
                         "needs %lld",
                         ir_type_str(wt, sw, sizeof sw), (long long)p->Cg,
                         ir_type_str(x, sx, sizeof sx), (long long)p->group,
                         (long long)(p->C / p->group));
  p->Mg = p->M / p->group;
  p->has_bias = b != NULL;
  if (b && (rc = check_bias(g, n, x, b, p->M, d))) return rc;
  if ((rc = geom_kernel(g, n, wt, &p->w, d)) || (rc = geom_forward(g, n, &p->w, 0, d)))
    return rc;
  conv_out_type(x, p, out);
  return KILN_OK;
}

int infer_conv(ir_graph *g, ir_node *n, kiln_diag *d) {
  conv_plan p;
  ir_type o;
  const ir_type *b = ir_node_has_input(n, 2) ? ir_in_type(g, n, 2) : NULL;
  int rc = plan_conv(g, n, ir_in_type(g, n, 0), ir_in_type(g, n, 1), b, &p, &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  canonicalise_forward(g, n, &p.w, 0);
  return KILN_OK;
}

int eval_conv(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
              ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0], *wt = in[1], *b = n->n_in > 2 ? in[2] : NULL;
  ir_tensor *y = out[0];
  conv_plan p;
  ir_type o;
  int rc = plan_conv(g, n, &x->type, &wt->type, b ? &b->type : NULL, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &y->type));
  const geom *w = &p.w;
  const int k = w->nsp;
  int64_t xs[NN_MAX_SPATIAL], ks[NN_MAX_SPATIAL], oidx[NN_MAX_SPATIAL] = {0};
  strides_of(w->in, k, xs);
  strides_of(w->kernel, k, ks);
  const int64_t in_sz = prod(w->in, k), k_sz = prod(w->kernel, k), out_sz = prod(w->out, k);
  double *xf = widen(g, x, d), *wf = xf ? widen(g, wt, d) : NULL;
  if (!wf) {
    free(xf);
    return d->status;
  }
  tap_iter t;
  tap_init(&t, w, xs, ks);
  /* x: [N, C, in...], w: [M, Cg, kernel...], y: [N, M, out...];
   * y[n, m, o] = bias[m] + sum_{cg, k} x[n, g*Cg + cg, o*s - pb + k*dil] * w[m, cg, k]
   * with g = m / Mg, over the taps inside the input. */
  for (int64_t op = 0; op < out_sz; op++) {
    int64_t start_off = tap_window(&t, w, oidx, w->in, xs);
    for (int64_t nn = 0; nn < p.N; nn++)
      for (int64_t m = 0; m < p.M; m++) {
        int64_t grp = m / p.Mg;
        double acc = p.has_bias ? ir_tensor_get_f(b, m) : 0.0;
        for (int64_t cg = 0; cg < p.Cg; cg++) {
          int64_t xb = (nn * p.C + grp * p.Cg + cg) * in_sz, wb = (m * p.Cg + cg) * k_sz;
          if (!tap_first(&t, xb + start_off, wb)) break;
          do acc += xf[t.off] * wf[t.woff];
          while (tap_next(&t));
        }
        ir_tensor_set_f(y, (nn * p.M + m) * out_sz + op, acc);
      }
    ir_index_next(oidx, w->out, k);
  }
  free(xf);
  free(wf);
  return KILN_OK;
}

/* ======================================================================== */
/* conv_transpose                                                           */
/* ======================================================================== */

/* Output dims and pads of a transposed conv, ONNX rules. With
 *   full = stride*(in-1) + output_padding + span
 * (the extent every input tap reaches, plus output_padding at the end):
 *   output_shape given  out = output_shape, total pad = full - out, split
 *                       with the odd unit at the end for SAME_UPPER and at
 *                       the begin otherwise (explicit pads are ignored)
 *   SAME_*              out = in * stride, total and split as above
 *   VALID               pads 0, out = full
 *   NOTSET              out = full - pads
 * A negative total (output larger than full) becomes zero pads and the
 * excess is added to output_padding, which is how the result is written
 * back in canonical form. */
static int geom_transpose(const ir_graph *g, const ir_node *n, geom *w, int64_t N, int64_t M,
                          kiln_diag *d) {
  auto_pad_mode m;
  int given, rc = get_auto_pad(g, n, &m, d);
  if (!rc) rc = get_ints(g, n, "output_padding", w->nsp, 0, 0, w->out_pad, NULL, d);
  if (rc) return rc;
  int64_t target[NN_MAX_SPATIAL];
  const ir_attr *os = ir_attr_find(n, "output_shape");
  if (os) {
    /* ONNX allows the full [N, C_out, D1..Dk] as well as [D1..Dk] */
    int off = os->kind == IR_ATTR_INTS && os->n == w->nsp + 2 ? 2 : 0;
    if (off && (os->ints[0] != N || os->ints[1] != M))
      return ir_node_error(d, g, n,
                           "output_shape starts [%lld, %lld] but the output is [%lld, %lld, ...]",
                           (long long)os->ints[0], (long long)os->ints[1], (long long)N,
                           (long long)M);
    if (os->kind == IR_ATTR_INTS && off) {
      for (int i = 0; i < w->nsp; i++) target[i] = os->ints[2 + i];
      for (int i = 0; i < w->nsp; i++)
        if (target[i] < 1 || target[i] > NN_MAX_WINDOW)
          return ir_node_error(d, g, n, "output_shape has %lld for spatial dim %d",
                               (long long)target[i], i);
    } else if ((rc = get_ints(g, n, "output_shape", w->nsp, 0, 1, target, &given, d))) {
      return rc;
    }
    memset(w->pad, 0, sizeof w->pad); /* ONNX: pads are ignored */
  } else if ((rc = geom_pads(g, n, w, m, d))) {
    return rc;
  }
  w->resolved = os || m != AP_NOTSET;
  for (int i = 0; i < w->nsp; i++) {
    int64_t span = 0, full, s = w->stride[i];
    int64_t *pb = &w->pad[i], *pe = &w->pad[w->nsp + i];
    if ((rc = geom_span(g, n, w, i, &span, d))) return rc;
    if (__builtin_mul_overflow(s, w->in[i] - 1, &full) || full > NN_MAX_WINDOW)
      return ir_node_error(d, g, n, "stride %lld over %lld inputs along spatial dim %d gives an "
                           "output above the limit %lld", (long long)s, (long long)w->in[i], i,
                           (long long)NN_MAX_WINDOW);
    full += w->out_pad[i] + span; /* each term <= 2^40 */
    if (!os && m == AP_VALID) {
      w->out[i] = full;
      continue;
    }
    if (os || m == AP_SAME_UPPER || m == AP_SAME_LOWER) {
      int64_t want = os ? target[i] : w->in[i] * s;
      if (want > NN_MAX_WINDOW)
        return ir_node_error(d, g, n, "output dim %lld along spatial dim %d is above the limit",
                             (long long)want, i);
      int64_t total = full - want;
      if (total < 0) {
        w->out_pad[i] += -total;
        total = 0;
      }
      *pe = m == AP_SAME_UPPER ? total - total / 2 : total / 2;
      *pb = total - *pe;
      w->out[i] = want;
      continue;
    }
    w->out[i] = full - *pb - *pe;
    if (w->out[i] < 1)
      return ir_node_error(d, g, n,
                           "pads %lld + %lld along spatial dim %d remove the whole output of %lld",
                           (long long)*pb, (long long)*pe, i, (long long)full);
  }
  return KILN_OK;
}

static int plan_conv_transpose(const ir_graph *g, const ir_node *n, const ir_type *x,
                               const ir_type *wt, const ir_type *b, conv_plan *p, ir_type *out,
                               kiln_diag *d) {
  char sw[256];
  int rc = plan_conv_input(g, n, x, wt, "[C, M/group, k...]", p, d);
  if (rc) return rc;
  p->Mg = wt->dims[1];
  if (wt->dims[0] != p->C)
    return ir_node_error(d, g, n, "weight %s must have the input's %lld channels in dim 0",
                         ir_type_str(wt, sw, sizeof sw), (long long)p->C);
  p->Cg = p->C / p->group;
  if (__builtin_mul_overflow(p->Mg, p->group, &p->M) || p->M > NN_MAX_WINDOW)
    return ir_node_error(d, g, n, "%lld output channels per group times group %lld is too many",
                         (long long)p->Mg, (long long)p->group);
  p->has_bias = b != NULL;
  if (b && (rc = check_bias(g, n, x, b, p->M, d))) return rc;
  if ((rc = geom_kernel(g, n, wt, &p->w, d)) ||
      (rc = geom_transpose(g, n, &p->w, p->N, p->M, d)))
    return rc;
  conv_out_type(x, p, out);
  return KILN_OK;
}

int infer_conv_transpose(ir_graph *g, ir_node *n, kiln_diag *d) {
  conv_plan p;
  ir_type o;
  const ir_type *b = ir_node_has_input(n, 2) ? ir_in_type(g, n, 2) : NULL;
  int rc = plan_conv_transpose(g, n, ir_in_type(g, n, 0), ir_in_type(g, n, 1), b, &p, &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  if (p.w.resolved) {
    int id = (int)(n - g->nodes);
    ir_set_ints(g, id, "pads", p.w.pad, 2 * p.w.nsp);
    ir_set_ints(g, id, "output_padding", p.w.out_pad, p.w.nsp);
    ir_attr_remove(g, id, "auto_pad");
    ir_attr_remove(g, id, "output_shape");
  }
  return KILN_OK;
}

int eval_conv_transpose(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                        ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0], *wt = in[1], *b = n->n_in > 2 ? in[2] : NULL;
  ir_tensor *y = out[0];
  conv_plan p;
  ir_type o;
  int rc = plan_conv_transpose(g, n, &x->type, &wt->type, b ? &b->type : NULL, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &y->type));
  const geom *w = &p.w;
  const int k = w->nsp;
  int64_t ys[NN_MAX_SPATIAL], ks[NN_MAX_SPATIAL], iidx[NN_MAX_SPATIAL] = {0};
  strides_of(w->out, k, ys);
  strides_of(w->kernel, k, ks);
  const int64_t in_sz = prod(w->in, k), k_sz = prod(w->kernel, k), out_sz = prod(w->out, k);
  double *xf = widen(g, x, d), *wf = xf ? widen(g, wt, d) : NULL;
  double *acc = wf ? zeros_f64(g, ir_type_numel(&y->type), d) : NULL;
  if (!acc) {
    free(xf);
    free(wf);
    return d->status;
  }
  tap_iter t;
  tap_init(&t, w, ys, ks);
  /* x: [N, C, in...], w: [C, Mg, kernel...], y: [N, M, out...]; each input
   * element scatters into the outputs its taps reach:
   *   y[n, g*Mg + mg, i*s - pb + k*dil] += x[n, c, i] * w[c, mg, k]
   * with g = c / Cg, over the taps that land inside the output. */
  for (int64_t ip = 0; ip < in_sz; ip++) {
    int64_t start_off = tap_window(&t, w, iidx, w->out, ys);
    for (int64_t nn = 0; nn < p.N; nn++)
      for (int64_t c = 0; c < p.C; c++) {
        double xv = xf[(nn * p.C + c) * in_sz + ip];
        int64_t grp = c / p.Cg;
        for (int64_t mg = 0; mg < p.Mg; mg++) {
          int64_t yb = (nn * p.M + grp * p.Mg + mg) * out_sz, wb = (c * p.Mg + mg) * k_sz;
          if (!tap_first(&t, yb + start_off, wb)) break;
          do acc[t.off] += xv * wf[t.woff];
          while (tap_next(&t));
        }
      }
    ir_index_next(iidx, w->in, k);
  }
  int64_t total = ir_type_numel(&y->type);
  for (int64_t i = 0; i < total; i++) {
    int64_t m = (i / out_sz) % p.M;
    ir_tensor_set_f(y, i, acc[i] + (p.has_bias ? ir_tensor_get_f(b, m) : 0.0));
  }
  free(xf);
  free(wf);
  free(acc);
  return KILN_OK;
}

/* ======================================================================== */
/* max_pool, avg_pool, lp_pool                                              */
/* ======================================================================== */

typedef struct {
  geom w;
  int storage_order;     /* max_pool: indices column-major over spatial dims */
  int count_include_pad; /* avg_pool */
  int64_t p;             /* lp_pool */
} pool_plan;

static int plan_pool(const ir_graph *g, const ir_node *n, const ir_type *x, pool_plan *p,
                     ir_type *out, kiln_diag *d) {
  memset(p, 0, sizeof *p);
  int ceil_mode = 0;
  int rc = check_dtype(g, n, x, n->op == IR_OP_MAX_POOL ? DS_MAX_POOL : DS_FLOAT, "input 0", d);
  if (!rc) rc = geom_input(g, n, x, &p->w, d);
  if (!rc) rc = geom_kernel(g, n, NULL, &p->w, d);
  if (!rc) rc = get_flag(g, n, "ceil_mode", &ceil_mode, d);
  if (!rc) rc = geom_forward(g, n, &p->w, ceil_mode, d);
  if (rc) return rc;
  switch (n->op) {
  case IR_OP_MAX_POOL:
    rc = get_flag(g, n, "storage_order", &p->storage_order, d);
    if (!rc) rc = geom_check_no_empty_window(g, n, &p->w, d);
    break;
  case IR_OP_AVG_POOL:
    rc = get_flag(g, n, "count_include_pad", &p->count_include_pad, d);
    if (!rc && !p->count_include_pad) rc = geom_check_no_empty_window(g, n, &p->w, d);
    break;
  case IR_OP_LP_POOL: rc = get_int_in(g, n, "p", 1, INT32_MAX, &p->p, d); break;
  default: KILN_UNREACHABLE();
  }
  if (rc) return rc;
  ir_type o = *x;
  for (int i = 0; i < p->w.nsp; i++) o.dims[2 + i] = p->w.out[i];
  *out = o;
  return KILN_OK;
}

int infer_pool(ir_graph *g, ir_node *n, kiln_diag *d) {
  pool_plan p;
  ir_type o;
  int rc = plan_pool(g, n, ir_in_type(g, n, 0), &p, &o, d);
  if (rc) return rc;
  *ir_out_type(g, n, 0) = o;
  if (n->n_out > 1) { /* max_pool's indices */
    o.dtype = IR_I64;
    *ir_out_type(g, n, 1) = o;
  }
  canonicalise_forward(g, n, &p.w, 1);
  return KILN_OK;
}

/* (sum |v_i|^p)^(1/p) over v[0..cnt), scaled by the largest |v_i| so that
 * large or tiny values neither overflow nor underflow on the way. */
static double lp_norm(const double *v, int64_t cnt, double p) {
  double m = 0.0;
  for (int64_t i = 0; i < cnt; i++) {
    double a = fabs(v[i]);
    if (isnan(a)) return a;
    if (a > m) m = a;
  }
  if (m == 0.0 || isinf(m)) return m;
  double s = 0.0;
  for (int64_t i = 0; i < cnt; i++) s += pow(fabs(v[i]) / m, p);
  return m * pow(s, 1.0 / p);
}

/* Folds value v at spatial tap `pos` into a running max; NaN wins (first
 * one kept), otherwise the first maximum stays. */
static void max_fold(double v, int64_t pos, int *have, double *best, int64_t *arg) {
  if (!*have || (!isnan(*best) && (v > *best || isnan(v)))) {
    *best = v;
    *arg = pos;
    *have = 1;
  }
}

/* Integer max_pool works on int64 to stay exact for i64. */
static void max_fold_i(int64_t v, int64_t pos, int *have, int64_t *best, int64_t *arg) {
  if (!*have || v > *best) {
    *best = v;
    *arg = pos;
    *have = 1;
  }
}

static int eval_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                     ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  pool_plan p;
  ir_type o;
  int rc = plan_pool(g, n, &x->type, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &y->type));
  /* max_pool indices: the second output when the graph typed it */
  ir_tensor *ind = n->op == IR_OP_MAX_POOL && n->n_out > 1 && out[1]->type.dtype == IR_I64 &&
                           ir_type_numel(&out[1]->type) == ir_type_numel(&o)
                       ? out[1]
                       : NULL;
  const geom *w = &p.w;
  const int k = w->nsp;
  int64_t xs[NN_MAX_SPATIAL], cs[NN_MAX_SPATIAL], oidx[NN_MAX_SPATIAL] = {0};
  strides_of(w->in, k, xs);
  for (int i = 0; i < k; i++) cs[i] = i == 0 ? 1 : cs[i - 1] * w->in[i - 1]; /* column-major */
  const int64_t planes = x->type.dims[0] * x->type.dims[1];
  const int64_t in_sz = prod(w->in, k), out_sz = prod(w->out, k);
  const int is_float = ir_dtype_is_float(x->type.dtype);
  double *xf = NULL, *vals = NULL;
  if (is_float && !(xf = widen(g, x, d))) return d->status;
  int64_t k_sz = 1; /* taps of one window that lie inside the input */
  for (int i = 0; i < k; i++) k_sz *= w->kernel[i] < w->in[i] ? w->kernel[i] : w->in[i];
  if (n->op == IR_OP_LP_POOL && !(vals = zeros_f64(g, k_sz, d))) {
    free(xf);
    return d->status;
  }
  tap_iter t = {.nd = k};
  for (int i = 0; i < k; i++) t.step[i] = w->dil[i] * xs[i];
  /* x: [N, C, in...] viewed as planes = N*C planes of in_sz elements,
   * y (and indices): [N, C, out...]; window of output o along dim i:
   * taps o*s - pb + k*dil for k in [0, kernel), those inside the input read. */
  for (int64_t op = 0; op < out_sz; op++) {
    /* padded_cnt in double: a product of up to NN_MAX_SPATIAL huge kernel
     * sizes may exceed int64 (the average is then ~0 anyway) */
    int64_t start[NN_MAX_SPATIAL], start_off = 0, valid_cnt = 1;
    double padded_cnt = 1.0;
    for (int i = 0; i < k; i++) {
      int64_t lo, hi;
      start[i] = oidx[i] * w->stride[i] - w->pad[i];
      tap_range(start[i], w->kernel[i], w->dil[i], w->in[i], &t.lo[i], &t.hi[i]);
      start_off += start[i] * xs[i];
      valid_cnt *= t.hi[i] > t.lo[i] ? t.hi[i] - t.lo[i] : 0;
      /* taps inside [-pad_begin, in + pad_end): the count_include_pad divisor */
      tap_range(start[i] + w->pad[i], w->kernel[i], w->dil[i],
                w->in[i] + w->pad[i] + w->pad[k + i], &lo, &hi);
      padded_cnt *= (double)(hi > lo ? hi - lo : 0);
    }
    for (int64_t pl = 0; pl < planes; pl++) {
      int64_t xb = pl * in_sz, yo = pl * out_sz + op;
      int nonempty = tap_first(&t, xb + start_off, 0);
      switch (n->op) {
      case IR_OP_MAX_POOL: {
        int have = 0;
        int64_t arg = 0, besti = 0;
        double best = 0.0;
        KILN_ASSERT(nonempty); /* plan_pool rejects windows of padding only */
        do {
          if (is_float) max_fold(xf[t.off], t.off - xb, &have, &best, &arg);
          else max_fold_i(ir_tensor_get_i(x, t.off), t.off - xb, &have, &besti, &arg);
        } while (tap_next(&t));
        if (is_float) ir_tensor_set_f(y, yo, best);
        else ir_tensor_set_i(y, yo, besti);
        if (ind) {
          /* arg is the row-major spatial offset; ONNX flattens over [N, C, ...] */
          int64_t sp = arg;
          if (p.storage_order) {
            sp = 0;
            for (int i = 0; i < k; i++) sp += (arg / xs[i] % w->in[i]) * cs[i];
          }
          ir_tensor_set_i(ind, yo, xb + sp);
        }
        break;
      }
      case IR_OP_AVG_POOL: {
        double s = 0.0;
        if (nonempty) do s += xf[t.off];
          while (tap_next(&t));
        double cnt = p.count_include_pad ? padded_cnt : (double)valid_cnt;
        KILN_ASSERT(cnt > 0); /* plan_pool and the ceil_mode rule guarantee a tap */
        ir_tensor_set_f(y, yo, s / cnt);
        break;
      }
      case IR_OP_LP_POOL: {
        int64_t c = 0;
        if (nonempty) do vals[c++] = xf[t.off];
          while (tap_next(&t));
        ir_tensor_set_f(y, yo, lp_norm(vals, c, (double)p.p));
        break;
      }
      default: KILN_UNREACHABLE();
      }
    }
    ir_index_next(oidx, w->out, k);
  }
  free(xf);
  free(vals);
  return KILN_OK;
}

int eval_max_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                  ir_tensor *const *out, kiln_diag *d) {
  return eval_pool(g, n, in, out, d);
}

int eval_avg_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                  ir_tensor *const *out, kiln_diag *d) {
  return eval_pool(g, n, in, out, d);
}

int eval_lp_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                 ir_tensor *const *out, kiln_diag *d) {
  return eval_pool(g, n, in, out, d);
}

/* ======================================================================== */
/* global pools                                                             */
/* ======================================================================== */

/* x [N, C, D1..Dk] (k >= 0) -> [N, C, 1..1]; pools every (n, c) plane. */
static int plan_global_pool(const ir_graph *g, const ir_node *n, const ir_type *x, int64_t *p,
                            ir_type *out, kiln_diag *d) {
  char buf[256];
  *p = 0;
  int rc = check_dtype(g, n, x, DS_FLOAT, "input 0", d);
  if (rc) return rc;
  if (x->rank < 2)
    return ir_node_error(d, g, n, "input must be [N, C, ...], not %s",
                         ir_type_str(x, buf, sizeof buf));
  for (int i = 2; i < x->rank; i++)
    if (x->dims[i] == 0)
      return ir_node_error(d, g, n, "input %s has an empty spatial dim %d: nothing to pool",
                           ir_type_str(x, buf, sizeof buf), i);
  if (n->op == IR_OP_GLOBAL_LP_POOL && (rc = get_int_in(g, n, "p", 1, INT32_MAX, p, d)))
    return rc;
  ir_type o = *x;
  for (int i = 2; i < x->rank; i++) o.dims[i] = 1;
  *out = o;
  return KILN_OK;
}

int infer_global_pool(ir_graph *g, ir_node *n, kiln_diag *d) {
  int64_t p;
  ir_type o;
  int rc = plan_global_pool(g, n, ir_in_type(g, n, 0), &p, &o, d);
  if (!rc) *ir_out_type(g, n, 0) = o;
  return rc;
}

int eval_global_pool(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                     ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  int64_t p;
  ir_type o;
  int rc = plan_global_pool(g, n, &x->type, &p, &o, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&o, &y->type));
  double *xf = widen(g, x, d);
  if (!xf) return d->status;
  /* x: [planes = N*C, sz], y: [planes] */
  const int64_t planes = x->type.dims[0] * x->type.dims[1];
  const int64_t sz = prod(x->type.dims + 2, x->type.rank - 2);
  for (int64_t pl = 0; pl < planes; pl++) {
    const double *v = xf + pl * sz;
    double r = 0.0;
    if (n->op == IR_OP_GLOBAL_AVG_POOL) {
      for (int64_t i = 0; i < sz; i++) r += v[i];
      r /= (double)sz;
    } else if (n->op == IR_OP_GLOBAL_MAX_POOL) {
      int have = 0;
      int64_t arg;
      for (int64_t i = 0; i < sz; i++) max_fold(v[i], i, &have, &r, &arg);
    } else {
      r = lp_norm(v, sz, (double)p);
    }
    ir_tensor_set_f(y, pl, r);
  }
  free(xf);
  return KILN_OK;
}

/* ======================================================================== */
/* lrn                                                                      */
/* ======================================================================== */

typedef struct {
  int64_t size;
  double alpha, beta, bias;
} lrn_plan;

static int plan_lrn(const ir_graph *g, const ir_node *n, const ir_type *x, lrn_plan *p,
                    kiln_diag *d) {
  char buf[256];
  memset(p, 0, sizeof *p);
  int rc = check_dtype(g, n, x, DS_FLOAT, "input 0", d);
  if (!rc) rc = get_int_in(g, n, "size", 1, INT64_MAX, &p->size, d);
  if (rc) return rc;
  if (x->rank < 2)
    return ir_node_error(d, g, n, "input must be [N, C, ...], not %s",
                         ir_type_str(x, buf, sizeof buf));
  p->alpha = ir_attr_float(n, "alpha");
  p->beta = ir_attr_float(n, "beta");
  p->bias = ir_attr_float(n, "bias");
  if (!isfinite(p->alpha) || !isfinite(p->beta) || !isfinite(p->bias))
    return ir_node_error(d, g, n, "alpha, beta and bias must be finite (got %g, %g, %g)",
                         p->alpha, p->beta, p->bias);
  return KILN_OK;
}

int infer_lrn(ir_graph *g, ir_node *n, kiln_diag *d) {
  lrn_plan p;
  int rc = plan_lrn(g, n, ir_in_type(g, n, 0), &p, d);
  if (!rc) *ir_out_type(g, n, 0) = *ir_in_type(g, n, 0);
  return rc;
}

int eval_lrn(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
             ir_tensor *const *out, kiln_diag *d) {
  const ir_tensor *x = in[0];
  ir_tensor *y = out[0];
  lrn_plan p;
  int rc = plan_lrn(g, n, &x->type, &p, d);
  if (rc) return rc;
  KILN_ASSERT(ir_type_equal(&x->type, &y->type));
  double *xf = widen(g, x, d);
  if (!xf) return d->status;
  /* x, y: [N, C, sz]; channel c sums the squares of channels
   * [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C) */
  const int64_t N = x->type.dims[0], C = x->type.dims[1];
  const int64_t sz = prod(x->type.dims + 2, x->type.rank - 2);
  const int64_t before = (p.size - 1) / 2, after = p.size - 1 - before;
  const double scale = p.alpha / (double)p.size;
  for (int64_t nn = 0; nn < N; nn++)
    for (int64_t c = 0; c < C; c++) {
      int64_t c0 = c - before < 0 ? 0 : c - before;
      int64_t c1 = after >= C - c ? C - 1 : c + after;
      for (int64_t s = 0; s < sz; s++) {
        double sq = 0.0;
        for (int64_t j = c0; j <= c1; j++) {
          double v = xf[(nn * C + j) * sz + s];
          sq += v * v;
        }
        int64_t i = (nn * C + c) * sz + s;
        ir_tensor_set_f(y, i, xf[i] / pow(p.bias + scale * sq, p.beta));
      }
    }
  free(xf);
  return KILN_OK;
}

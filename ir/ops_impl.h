/* Internal: prototypes of every op's inference and evaluation functions
 * (named in ops.def) and helpers shared by their implementations. */
#ifndef KILN_OPS_IMPL_H
#define KILN_OPS_IMPL_H

#include "ir.h"

#define OP(id, name, min_in, max_in, min_out, max_out, cls, attrs, params, infer, eval) \
  int infer(ir_graph *g, ir_node *n, kiln_diag *d);                                      \
  int eval(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,              \
           ir_tensor *const *out, kiln_diag *d);
#include "ops.def"
#undef OP

/* Normalises a possibly negative axis against rank; -1 when out of range. */
static inline int ir_norm_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return -1;
  return (int)(axis < 0 ? axis + rank : axis);
}

/* NumPy broadcast of two types' shapes into out (dtype untouched).
 * 0 on success, -1 when incompatible. */
int ir_broadcast_shapes(const ir_type *a, const ir_type *b, ir_type *out);
/* Strides (in elements) of `in` broadcast to `out`'s rank and shape: dims of
 * size 1 that broadcast get stride 0. in->rank <= out->rank. */
void ir_broadcast_strides(const ir_type *in, const ir_type *out, int64_t *strides);
/* Contiguous C-order strides in elements. */
void ir_contig_strides(const ir_type *t, int64_t *strides);
/* Advances a multi-index over dims; returns 0 when it wraps to all zeros. */
int ir_index_next(int64_t *idx, const int64_t *dims, int rank);
/* "f32, f64, i64": the dtypes of `set` (a mask of bits 1u << dtype) that
 * the interpreter supports, comma-separated into buf[0..n) (cut short when
 * it does not fit), for messages naming the dtypes an op takes; returns buf. */
const char *ir_dtype_set_str(unsigned set, char *buf, size_t n);

#endif

/* ONNX frontend: reads ONNX models (protobuf, via protobuf-c) into the kiln
 * IR, lowering each ONNX op onto kiln's core ops (docs/onnx.md lists the
 * supported ops, opsets and limits).
 *
 * Model files are untrusted. Every size, offset, index and path in them is
 * checked; a problem gives a kiln_diag error naming the file, and the node or
 * value, and the reason. Status codes: KILN_E_IO (cannot read), KILN_E_PARSE
 * (malformed protobuf or ONNX structure), KILN_E_INVALID (well-formed but
 * inconsistent: sizes, references, shapes), KILN_E_UNSUPPORTED (ops, dtypes
 * or features kiln does not handle), KILN_E_NOMEM (size limits), KILN_E_USAGE
 * (bad shape pins).
 */
#ifndef KILN_FRONTEND_ONNX_H
#define KILN_FRONTEND_ONNX_H

#include <stdint.h>

#include "ir.h"

/* ---- limits (docs/onnx.md) --------------------------------------------------- */
#define ONNX_MAX_FILE_BYTES (INT64_C(2) << 30) /* a model or tensor file: protobuf's 2 GiB */
#define ONNX_MIN_IR_VERSION 3                  /* ModelProto.ir_version */
#define ONNX_MAX_OPSET 28                      /* newest default-domain opset */
#define ONNX_MAX_NODES 1000000                 /* nodes of a graph */
#define ONNX_MAX_ATTR_ELEMS 65536              /* elements of an ints/floats attribute */
#define ONNX_MAX_PINS 64                       /* shape pins */

/* Options of onnx_load. Shape pins give the full shape of a graph input whose
 * declared shape has dynamic dimensions (`--shape x=1x3x224x224`); a pin must
 * agree with the declared rank and with every declared fixed dimension. */
typedef struct {
  int n_shapes;
  const char *shape_names[ONNX_MAX_PINS];
  int shape_ranks[ONNX_MAX_PINS];
  int64_t shape_dims[ONNX_MAX_PINS][IR_MAX_RANK];
} onnx_load_options;

void onnx_load_options_init(onnx_load_options *o);

/* Reads an ONNX model into a new graph (names kept: graph inputs, outputs,
 * initializers and node outputs keep their ONNX names, nodes their ONNX node
 * names). Graph inputs come first in ONNX order (inputs that repeat an
 * initializer become constants); constant data of external files is mapped
 * read-only. Shapes and dtypes of intermediate values are not inferred yet:
 * run ir_infer_shapes (or the infer-shapes pass).
 *
 * A model with ops kiln does not support fails with KILN_E_UNSUPPORTED and
 * one message listing every unsupported op type, its node count and its
 * first node. o may be NULL. Returns NULL on error. */
ir_graph *onnx_load(const char *path, const onnx_load_options *o, kiln_diag *d);

/* onnx_load from memory: len bytes holding a model file's contents (not
 * copied, not kept). `name` names the model in messages and becomes
 * g->source (NULL: "<buffer>"); external data is resolved relative to
 * base_dir (NULL: the working directory) with the same checks. */
ir_graph *onnx_load_buffer(const char *name, const void *data, size_t len, const char *base_dir,
                           const onnx_load_options *o, kiln_diag *d);

/* Reads a serialized TensorProto (an ONNX test's input_0.pb) into a heap
 * tensor (release with ir_tensor_release). *name_out, when name_out is not
 * NULL, receives the tensor's name (malloc'd, "" when it has none; the caller
 * frees it). External data is resolved relative to the file's directory with
 * the same checks as for models. Returns 0 or a diag error. */
int onnx_read_tensor(const char *path, ir_tensor *out, char **name_out, kiln_diag *d);
/* onnx_read_tensor from memory (name and base_dir as for onnx_load_buffer). */
int onnx_read_tensor_buffer(const char *name, const void *data, size_t len, const char *base_dir,
                            ir_tensor *out, char **name_out, kiln_diag *d);

/* One op type of a model, for onnx_scan. */
typedef struct {
  char *op_type;    /* "Conv"; other domains as "domain:Op" */
  int count;        /* nodes of this type */
  char *first_node; /* name of the first such node ("" when unnamed) */
  int supported;    /* kiln can lower it at the model's opset */
} onnx_op_count;

typedef struct {
  int64_t ir_version;
  int64_t opset;       /* default-domain opset (0 when not imported) */
  char *producer;      /* "producer_name producer_version" */
  int n_nodes;
  int n_ops;           /* distinct op types, in order of first appearance */
  onnx_op_count *ops;
  int n_unsupported;   /* entries of ops with supported == 0 */
} onnx_scan_report;

/* Reads the model's header and op histogram without lowering it, so that
 * unsupported ops are reported rather than fatal (for `kiln inspect`).
 * Fails only when the file cannot be read or parsed. Free the report with
 * onnx_scan_report_free. */
int onnx_scan(const char *path, onnx_scan_report *r, kiln_diag *d);
void onnx_scan_report_free(onnx_scan_report *r);

#endif

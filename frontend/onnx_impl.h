/* Internal interface between the ONNX loader (onnx_loader.c: files, graph
 * structure, tensors) and the op lowering (onnx_ops.c: one entry per ONNX op
 * type and opset range). Not a public header: it includes the protobuf-c code
 * generated from frontend/onnx.proto into the build directory. */
#ifndef KILN_FRONTEND_ONNX_IMPL_H
#define KILN_FRONTEND_ONNX_IMPL_H

#include "frontend/onnx.h"
#include "ir.h"
#include "onnx.pb-c.h"

typedef KilnOnnx__ModelProto onnx_model_pb;
typedef KilnOnnx__GraphProto onnx_graph_pb;
typedef KilnOnnx__NodeProto onnx_node_pb;
typedef KilnOnnx__AttributeProto onnx_attr_pb;
typedef KilnOnnx__TensorProto onnx_tensor_pb;
typedef KilnOnnx__ValueInfoProto onnx_value_info_pb;

/* ONNX TensorProto.DataType values kiln names or reads. */
enum {
  ONNX_UNDEFINED = 0, ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_UINT16 = 4,
  ONNX_INT16 = 5, ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_STRING = 8, ONNX_BOOL = 9,
  ONNX_FLOAT16 = 10, ONNX_DOUBLE = 11, ONNX_UINT32 = 12, ONNX_UINT64 = 13,
  ONNX_COMPLEX64 = 14, ONNX_COMPLEX128 = 15, ONNX_BFLOAT16 = 16
};

/* ONNX AttributeProto.AttributeType values. */
enum {
  ONNX_ATTR_UNDEFINED = 0, ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3,
  ONNX_ATTR_TENSOR = 4, ONNX_ATTR_GRAPH = 5, ONNX_ATTR_FLOATS = 6, ONNX_ATTR_INTS = 7,
  ONNX_ATTR_STRINGS = 8, ONNX_ATTR_TENSORS = 9, ONNX_ATTR_GRAPHS = 10,
  ONNX_ATTR_SPARSE_TENSOR = 11, ONNX_ATTR_SPARSE_TENSORS = 12, ONNX_ATTR_TYPE_PROTO = 13,
  ONNX_ATTR_TYPE_PROTOS = 14
};

/* "FLOAT16", "STRING", ...; "type N" for values kiln does not know. */
const char *onnx_dtype_name(int32_t dt, char *buf, size_t n);
/* Maps an ONNX element type onto a dtype kiln supports: 0 and *out set, or -1
 * (unknown, or known but unsupported: strings, complex, f16, bf16, ...). */
int onnx_dtype_to_ir(int32_t dt, ir_dtype *out);
const char *onnx_attr_type_name(int32_t t);

/* A string -> int map (open addressing) over names owned by someone else. */
typedef struct {
  const char **keys;
  int *vals;
  int cap, n;
} onnx_strmap;
void onnx_strmap_free(onnx_strmap *m);
/* Sets key to val (replacing). */
void onnx_strmap_put(onnx_strmap *m, const char *key, int val);
/* The value, or -1 when absent. */
int onnx_strmap_get(const onnx_strmap *m, const char *key);

/* One name the ONNX graph defines (graph input, initializer, node output). */
typedef struct {
  const char *name;
  int producer;     /* node index in the file, -1 for inputs and initializers */
  int used;         /* consumed by a node or a graph output */
  int hint_dtype;   /* ONNX elem_type from value_info, 0 when none */
} onnx_name_info;

/* External data ranges read so far (overlaps are rejected). */
typedef struct {
  char *file;       /* real path */
  int64_t offset, len;
  char *what;
} onnx_ext_range;

/* Per IR value flags kept by the loader. */
enum {
  ONNX_VF_INIT = 1,       /* constant from an ONNX initializer */
  ONNX_VF_PARAM_HINT = 2, /* a lowering says it holds trainable parameters */
};

/* Loader state for one file. */
typedef struct onnx_ctx {
  const char *path;       /* the file, for messages */
  char *dir;              /* its directory (malloc'd) */
  char *real_dir;         /* realpath of dir, computed on first use */
  ir_graph *g;            /* NULL while reading a lone tensor */
  kiln_diag *d;
  int64_t opset;          /* default-domain opset */
  /* ONNX names */
  onnx_strmap name_map;   /* name -> index into names */
  onnx_name_info *names;
  int n_names, cap_names;
  /* per IR value, indexed by value id (grown with the graph) */
  signed char *vdtype;    /* dtype as far as the frontend knows it, -1 unknown */
  unsigned char *vflags;  /* ONNX_VF_* */
  int vcap;
  /* external data */
  onnx_ext_range *ext;
  int n_ext, cap_ext;
  int dtype_nodes;        /* nodes whose output dtypes vdtype holds */
} onnx_ctx;

/* One ONNX node being lowered. */
typedef struct {
  onnx_ctx *c;
  const onnx_node_pb *pb;
  int index;              /* node index in the file */
  const char *op_type;
  int n_in;               /* ONNX inputs, trailing absent ones included */
  int *in;                /* IR value ids, -1 for an absent ("") input */
  int n_out;
  const char **out;       /* ONNX output names, "" for an absent output */
  unsigned char *attr_used; /* per attribute of pb: read by the lowering */
} onnx_node;

/* Grows the per-value arrays to the graph's value count; new entries are
 * unknown (-1) and unflagged. */
void onnx_ctx_sync_values(onnx_ctx *c);
/* The name info of an ONNX name, or NULL. */
const onnx_name_info *onnx_name_lookup(const onnx_ctx *c, const char *name);

/* Decodes a TensorProto. With c->g set, data lives in graph memory (mapped
 * for external data when aligned); without, in a heap buffer the caller
 * frees (as ir_tensor data). `what` names the tensor in messages. */
int onnx_decode_tensor(onnx_ctx *c, const onnx_tensor_pb *tp, const char *what, ir_type *type,
                       void **data);
/* Decodes a TensorProto into a new constant named `name`. Returns the value
 * id, or -1 with a diag error. */
int onnx_const_from_tensor(onnx_ctx *c, const onnx_tensor_pb *tp, const char *name,
                           const char *what);

/* ---- op table (onnx_ops.c) ---------------------------------------------------- */
/* Whether kiln lowers (domain, op_type) at the given default-domain opset:
 * 1 or 0. When the op exists only from a later opset, *needs_opset (when not
 * NULL) receives that opset, else 0. */
int onnx_op_supported(const char *domain, const char *op_type, int64_t opset, int *needs_opset);
/* Lowers one node (its inputs resolved in n->in). Every attribute must be
 * understood, and every output a later node or the graph uses must be
 * defined, else it is an error naming the node. */
int onnx_lower_node(onnx_node *n);
/* Formats "PATH: node 'NAME' (OP): " context into a diag error. */
int onnx_node_error(const onnx_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

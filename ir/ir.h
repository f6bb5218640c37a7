/* kiln IR: graphs of values (tensors) and nodes (operations), referenced by
 * integer ids. A graph owns all of its memory: an arena for small objects
 * (names, attribute lists, node operand lists), growable arrays for values and
 * nodes, and a list of large buffers and file mappings for constant data.
 * ir_graph_free() releases everything in one call.
 *
 * Ids are stable: removing a node only marks it dead; ir_graph_compact()
 * drops dead nodes and unreferenced values and renumbers (invalidating ids).
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "kiln_dtype.h"

/* ---- limits (documented in docs/ir.md) ---------------------------------- */
#define IR_MAX_RANK KILN_MAX_RANK /* dimensions of any tensor (8) */
#define IR_MAX_NODE_INPUTS 4096   /* operands of one node (concat, sum) */
#define IR_MAX_NODE_OUTPUTS 4096  /* results of one node (split) */
#define IR_MAX_ATTRS 64           /* attributes of one node */
#define IR_MAX_ELEMENTS (INT64_C(1) << 40) /* elements of one tensor */
#define IR_MAX_BYTES (INT64_C(1) << 40)    /* bytes of one tensor */
#define IR_MAX_NAME 1024          /* bytes of a value, node or graph name */

/* ---- dtypes ------------------------------------------------------------- */
/* Same numbering as the public kiln_dtype. */
typedef enum {
  IR_F32 = KILN_F32,
  IR_F16 = KILN_F16,
  IR_BF16 = KILN_BF16,
  IR_F64 = KILN_F64,
  IR_I64 = KILN_I64,
  IR_I32 = KILN_I32,
  IR_I16 = KILN_I16,
  IR_I8 = KILN_I8,
  IR_U8 = KILN_U8,
  IR_BOOL = KILN_BOOL,
  IR_DTYPE_COUNT = KILN_DTYPE_COUNT
} ir_dtype;

const char *ir_dtype_name(ir_dtype t);       /* "f32", "i64", ... */
int ir_dtype_from_name(const char *s, ir_dtype *out); /* 0 on success */
size_t ir_dtype_size(ir_dtype t);
int ir_dtype_is_float(ir_dtype t);           /* f32 f16 bf16 f64 */
int ir_dtype_is_int(ir_dtype t);             /* signed/unsigned ints, not bool */
/* Types the interpreter fully supports (f32, f64 and the integer/bool types);
 * f16 and bf16 are declared for later. */
int ir_dtype_supported(ir_dtype t);

/* ---- types -------------------------------------------------------------- */
typedef struct {
  ir_dtype dtype;
  int rank;                       /* 0 = scalar */
  int64_t dims[IR_MAX_RANK];
} ir_type;

int64_t ir_type_numel(const ir_type *t);      /* product of dims (1 for rank 0) */
int64_t ir_type_nbytes(const ir_type *t);
int ir_type_equal(const ir_type *a, const ir_type *b);
/* Checks rank, non-negative dims and element/byte limits. 0 when valid. */
int ir_type_check(const ir_type *t, kiln_diag *d, const char *what);
/* "f32[1,3,224,224]" into buf; returns buf. */
char *ir_type_str(const ir_type *t, char *buf, size_t n);
/* Length of the well-formed UTF-8 sequence at s (n >= 1 bytes left), 0 when
 * the bytes there are not one (overlong forms, surrogates and code points
 * above U+10FFFF are not); the printer and the Graphviz writer escape such
 * bytes. */
int ir_utf8_len(const unsigned char *s, size_t n);

/* ---- tensors (interpreter and constant data) ---------------------------- */
typedef struct {
  ir_type type;
  void *data;                     /* numel * dtype size bytes, C order */
} ir_tensor;

/* Element access through the widest type of the family. Bool reads as 0/1. */
double ir_tensor_get_f(const ir_tensor *t, int64_t i);
int64_t ir_tensor_get_i(const ir_tensor *t, int64_t i);
void ir_tensor_set_f(ir_tensor *t, int64_t i, double v); /* rounds/casts */
void ir_tensor_set_i(ir_tensor *t, int64_t i, int64_t v);
/* Read element i of a raw buffer of the given dtype. */
double ir_load_f(ir_dtype t, const void *data, int64_t i);
int64_t ir_load_i(ir_dtype t, const void *data, int64_t i);
void ir_store_f(ir_dtype t, void *data, int64_t i, double v);
void ir_store_i(ir_dtype t, void *data, int64_t i, int64_t v);

/* Heap tensors, used by the interpreter and tools (not arena memory). */
int ir_tensor_alloc(ir_tensor *t, const ir_type *type, kiln_diag *d); /* zeroed */
void ir_tensor_release(ir_tensor *t);

/* ---- arena -------------------------------------------------------------- */
typedef struct ir_arena ir_arena;
ir_arena *ir_arena_new(void);
void ir_arena_free(ir_arena *a);
void *ir_arena_alloc(ir_arena *a, size_t n); /* zeroed, 16-byte aligned */
char *ir_arena_strdup(ir_arena *a, const char *s);
void *ir_arena_memdup(ir_arena *a, const void *p, size_t n);

/* ---- attributes --------------------------------------------------------- */
typedef enum {
  IR_ATTR_INT = 0,
  IR_ATTR_FLOAT,   /* stored as double, always a float32 value */
  IR_ATTR_STRING,
  IR_ATTR_INTS,
  IR_ATTR_FLOATS,
  IR_ATTR_TENSOR,
  IR_ATTR_KIND_COUNT
} ir_attr_kind;

typedef struct {
  const char *name;
  ir_attr_kind kind;
  int64_t i;
  double f;
  const char *s;
  int n;                          /* length of ints / floats */
  int64_t *ints;
  double *floats;
  ir_tensor t;                    /* IR_ATTR_TENSOR; data in the arena */
} ir_attr;

const char *ir_attr_kind_name(ir_attr_kind k);

/* ---- op table ----------------------------------------------------------- */
typedef enum {
#define OP(id, name, min_in, max_in, min_out, max_out, cls, attrs, params, infer, eval) IR_OP_##id,
#include "ops.def"
#undef OP
  IR_OP_COUNT
} ir_op;

/* Fusion classes, also used by the printer and inspect. */
typedef enum {
  IR_CLASS_ELEMWISE,    /* one input element -> one output element, same shape */
  IR_CLASS_BROADCAST,   /* elementwise with NumPy broadcasting */
  IR_CLASS_INJECTIVE,   /* each output element reads one input element */
  IR_CLASS_REDUCTION,   /* reduces along axes (incl. softmax, norms) */
  IR_CLASS_CONTRACTION, /* matmul, conv: fusable elementwise epilogue */
  IR_CLASS_OPAQUE,
  IR_CLASS_COUNT
} ir_op_class;

/* One attribute of an op's schema, parsed from the schema string in ops.def.
 * Schema syntax (space-separated entries):
 *   name:KIND            required
 *   name:KIND?           optional, no default
 *   name:KIND=DEFAULT    optional with default (ints/floats: comma list)
 *   ...@N                may instead be given as input N (a value that must
 *                        be known at compile time; infer-shapes turns it
 *                        into the attribute)
 * KIND: i (int), f (float), s (string), is (ints), fs (floats), t (tensor),
 *       dt (int holding an ir_dtype, printed by name).
 */
typedef struct {
  const char *name;
  ir_attr_kind kind;
  int is_dtype;         /* "dt": an int attribute printed as a dtype name */
  int required;
  int has_default;
  int operand;          /* input index that may carry it, or -1 */
  ir_attr def;          /* default value when has_default */
} ir_attr_schema;

struct ir_graph;
struct ir_node;

/* Shape and dtype inference: reads the input values' types and the node's
 * attributes, writes the output values' types. May canonicalise the node's
 * attributes (e.g. resolve auto_pad into pads). Returns 0 or a diag error. */
typedef int (*ir_infer_fn)(struct ir_graph *g, struct ir_node *n, kiln_diag *d);
/* Reference evaluation: in[i] are the node's inputs (NULL for an absent
 * optional input), out[j] are allocated and zeroed with the inferred types. */
typedef int (*ir_eval_fn)(const struct ir_graph *g, const struct ir_node *n,
                          const ir_tensor *const *in, ir_tensor *const *out,
                          kiln_diag *d);

typedef struct {
  const char *name;
  int min_in, max_in;   /* max -1: variadic (up to IR_MAX_NODE_INPUTS) */
  int min_out, max_out; /* max -1: variadic */
  ir_op_class cls;
  const char *schema_src;
  unsigned param_mask;  /* inputs that hold trainable parameters when constant */
  ir_infer_fn infer;
  ir_eval_fn eval;
  /* filled by ir_ops_init() */
  int n_attrs;
  ir_attr_schema *attrs;
} ir_op_info;

const ir_op_info *ir_op_get(ir_op op);
int ir_op_from_name(const char *name, ir_op *out); /* 0 on success */
const char *ir_op_name(ir_op op);
const char *ir_op_class_name(ir_op_class c);
/* Schema lookup; NULL when the op has no attribute of that name. */
const ir_attr_schema *ir_op_attr_schema(ir_op op, const char *attr);
/* Ops whose result is their first input's data unchanged, reinterpreted
 * (reshape, flatten, squeeze, unsqueeze, identity, dropout): views. Memory
 * planning and code generation let the result alias the input's buffer
 * (docs/passes.md, "fuse"). */
int ir_op_is_view(ir_op op);

/* ---- values and nodes --------------------------------------------------- */
typedef enum {
  IR_VAL_NODE = 0,   /* produced by a node */
  IR_VAL_INPUT,      /* graph input (fed at run time) */
  IR_VAL_CONST,      /* constant with data */
} ir_value_kind;

/* Where constant data came from; decides how the printer writes it. */
typedef enum {
  IR_CSRC_INLINE = 0, /* in memory; printed inline when small */
  IR_CSRC_FILE,       /* raw little-endian bytes at offset in a file */
  IR_CSRC_INIT,       /* an initialiser: zeros, ones, normal(...), ... */
  IR_CSRC_ELIDED,     /* printed as `...`: data not available */
} ir_const_src;

typedef struct {
  const char *name;       /* zeros, ones, constant, normal, uniform,
                             xavier_uniform, kaiming_uniform */
  int n_args;
  const char *arg_names[4];
  double arg_vals[4];
} ir_init_spec;

typedef struct ir_value {
  const char *name;       /* unique in the graph */
  ir_value_kind kind;
  int typed;              /* type known (always for inputs and constants) */
  ir_type type;
  int producer;           /* node id, -1 for inputs/constants */
  int producer_slot;
  /* constants */
  void *data;             /* ir_type_nbytes(&type) bytes, read-only */
  ir_const_src src;
  const char *file;       /* IR_CSRC_FILE: the path (the .kir parser stores it
                             resolved against base_dir and absolute) */
  int64_t file_offset;
  ir_init_spec init;      /* IR_CSRC_INIT */
  int is_param;           /* trainable parameter (printed `param`) */
  /* memory plan */
  int64_t offset;         /* arena offset, -1 when not planned */
  int dead;
} ir_value;

typedef struct ir_node {
  ir_op op;
  const char *name;       /* may be "" */
  int n_in, n_out;
  int *in;                /* value ids; -1 for an absent optional input */
  int *out;
  int n_attrs;
  ir_attr *attrs;
  struct ir_graph *body;  /* fused nodes: the fused subgraph */
  int dead;
} ir_node;

typedef struct ir_graph {
  ir_arena *arena;
  const char *name;
  const char *source;     /* file the graph was read from, for messages */
  const char *base_dir;   /* directory for relative side-file paths */
  ir_value *values;
  int n_values, cap_values;
  ir_node *nodes;
  int n_nodes, cap_nodes;
  int *inputs;
  int n_inputs, cap_inputs;
  int *outputs;
  int n_outputs, cap_outputs;
  /* name -> value id hash table (open addressing) */
  int *name_tab;
  int name_tab_cap;
  /* large buffers and file mappings released by ir_graph_free */
  struct ir_mem *mem;
  int64_t arena_bytes;    /* memory plan size, -1 when not planned */
} ir_graph;

ir_graph *ir_graph_new(const char *name);
void ir_graph_free(ir_graph *g);

/* Creates a value. The name is made unique by appending ".N" when taken;
 * NULL or "" gives "tN". Returns the id. */
int ir_value_new(ir_graph *g, const char *name, ir_value_kind kind);
int ir_value_find(const ir_graph *g, const char *name); /* -1 when absent */
/* Renames a value (made unique as ir_value_new does). */
void ir_value_rename(ir_graph *g, int v, const char *name);

/* Adds a graph input with the given type. */
int ir_add_input(ir_graph *g, const char *name, const ir_type *t);
/* Adds a constant. `data` is copied into graph-owned memory. */
int ir_add_const(ir_graph *g, const char *name, const ir_type *t, const void *data);
/* Adds a constant whose data is graph-owned memory already (from
 * ir_graph_alloc_data or ir_graph_map_file); no copy. */
int ir_add_const_nocopy(ir_graph *g, const char *name, const ir_type *t, void *data);
void ir_add_output(ir_graph *g, int v);

/* Graph-owned memory for large data (64-byte aligned, zeroed). Aborts when
 * memory runs out: for sizes that come from a model file use the checked
 * form, which reports KILN_E_NOMEM and returns NULL. */
void *ir_graph_alloc_data(ir_graph *g, size_t n);
void *ir_graph_alloc_data_checked(ir_graph *g, size_t n, kiln_diag *d);
/* Opens path read-only as a regular file: O_NONBLOCK, so that opening a FIFO
 * does not wait for a writer (it is then refused as not a regular file).
 * Returns the descriptor with the file's size in *size, or -1 with a
 * KILN_E_IO diag error ("PATH: cannot open: ..." or "PATH: not a regular
 * file"). */
int ir_open_regular_file(const char *path, int64_t *size, kiln_diag *d);
/* Maps [offset, offset+len) of a file read-only, owned by the graph. Checks
 * the range against the file size. NULL with a diag error on failure. */
const void *ir_graph_map_file(ir_graph *g, const char *path, int64_t offset,
                              int64_t len, kiln_diag *d);

/* Appends a node with n_out fresh output values named from out_names (may be
 * NULL). Returns the node id. Operand arrays are copied. */
int ir_node_new(ir_graph *g, ir_op op, const char *name, const int *in, int n_in,
                int n_out, const char *const *out_names);
/* Appends a node whose outputs are existing values (parser). */
int ir_node_new_with_outputs(ir_graph *g, ir_op op, const char *name,
                             const int *in, int n_in, const int *out, int n_out);
void ir_node_set_inputs(ir_graph *g, int node, const int *in, int n_in);
/* Marks a node dead (its outputs become unproduced). */
void ir_node_remove(ir_graph *g, int node);

/* Attributes (copied into the arena; setting replaces an existing one). */
void ir_set_int(ir_graph *g, int node, const char *name, int64_t v);
void ir_set_float(ir_graph *g, int node, const char *name, double v);
void ir_set_string(ir_graph *g, int node, const char *name, const char *s);
void ir_set_ints(ir_graph *g, int node, const char *name, const int64_t *v, int n);
void ir_set_floats(ir_graph *g, int node, const char *name, const double *v, int n);
void ir_set_tensor(ir_graph *g, int node, const char *name, const ir_tensor *t);
void ir_set_attr(ir_graph *g, int node, const ir_attr *a); /* deep copy */
void ir_attr_remove(ir_graph *g, int node, const char *name);
/* Lookup: the node's attribute, else NULL (no defaults applied). */
const ir_attr *ir_attr_find(const ir_node *n, const char *name);
/* Lookup with the schema default applied; asserts the name is in the schema. */
int64_t ir_attr_int(const ir_node *n, const char *name);
double ir_attr_float(const ir_node *n, const char *name);
const char *ir_attr_str(const ir_node *n, const char *name);
/* ints/floats: *out points at the list (attribute or default), returns count;
 * -1 when absent with no default. */
int ir_attr_ints(const ir_node *n, const char *name, const int64_t **out);
int ir_attr_floats(const ir_node *n, const char *name, const double **out);
int ir_attr_has(const ir_node *n, const char *name); /* present, not default */

/* Convenience accessors. */
static inline ir_value *ir_val(const ir_graph *g, int v) { return &g->values[v]; }
static inline ir_node *ir_nd(const ir_graph *g, int n) { return &g->nodes[n]; }
/* Type of input i of node n (asserts it is present and typed). */
const ir_type *ir_in_type(const ir_graph *g, const ir_node *n, int i);
ir_type *ir_out_type(ir_graph *g, const ir_node *n, int j); /* marks typed */
int ir_node_has_input(const ir_node *n, int i); /* i < n_in and in[i] >= 0 */

/* Number of uses of each value (node operands + graph outputs) into a
 * caller-sized array of g->n_values ints. */
void ir_count_uses(const ir_graph *g, int *uses);
/* Drops dead nodes and values no node or output refers to, renumbering. */
void ir_graph_compact(ir_graph *g);
/* Drops the dead nodes and orders the live ones topologically (Kahn's
 * algorithm): of the nodes whose live producers are all placed, the one with
 * the least key[id] comes next, ties by id (key NULL: by id alone, which
 * keeps the current order where it already is one). Values keep their ids
 * (ir_graph_compact renumbers them). Returns 0, or -1 with g unchanged when
 * the live nodes have a cycle. */
int ir_graph_order_nodes(ir_graph *g, const int *key);
/* ir_graph_order_nodes(g, NULL), with an error when there is a cycle. */
int ir_graph_toposort(ir_graph *g, kiln_diag *d);
/* Deep copy (constant data shared by copying, file mappings re-referenced). */
ir_graph *ir_graph_clone(const ir_graph *g);

/* "node 'name' (op)" for messages. */
const char *ir_node_desc(const ir_graph *g, const ir_node *n, char *buf, size_t len);
/* Reports an error about a node: "SOURCE: node 'NAME' (OP): message". */
int ir_node_error(kiln_diag *d, const ir_graph *g, const ir_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- verifier ----------------------------------------------------------- */
/* Checks arity and attribute schemas, single definition of every value,
 * use-after-definition in node order (hence acyclicity), types where known
 * (require_types: every value must be typed), and that outputs are produced. */
int ir_verify(const ir_graph *g, int require_types, kiln_diag *d);

/* ---- shape inference ---------------------------------------------------- */
/* Infers every node's output types in node order; resolves operand-given
 * attributes (schema `@N`) from compile-time-known inputs. */
int ir_infer_shapes(ir_graph *g, kiln_diag *d);
/* Infers one node (inputs must be typed). */
int ir_infer_node(ir_graph *g, int node, kiln_diag *d);
/* Evaluates value v if it can be computed at compile time (constants, and
 * shape-of-typed-value), into a freshly allocated tensor. 1 = evaluated,
 * 0 = not a compile-time value, -1 = error. */
int ir_try_const_eval(ir_graph *g, int v, ir_tensor *out, kiln_diag *d);

/* ---- interpreter -------------------------------------------------------- */
/* Runs a typed, verified graph. inputs[i] corresponds to g->inputs[i] and
 * must match its type. outputs[j] are allocated by the interpreter; release
 * them with ir_tensor_release. */
int ir_interp_run(const ir_graph *g, const ir_tensor *inputs, ir_tensor *outputs,
                  kiln_diag *d);
/* Evaluates one node on given tensors (used by constant folding). */
int ir_eval_node(const ir_graph *g, const ir_node *n, const ir_tensor *const *in,
                 ir_tensor *const *out, kiln_diag *d);

/* ---- printer ------------------------------------------------------------ */
typedef struct {
  int64_t inline_limit;   /* constants with more elements go to a side file */
  const char *side_file;  /* path for large new constants; NULL: elide them */
  const char *side_ref;   /* how the .kir refers to side_file (relative) */
  int show_offsets;       /* print memory-plan offsets */
} ir_print_opts;

void ir_print_opts_default(ir_print_opts *o);
int ir_print(const ir_graph *g, FILE *f, const ir_print_opts *o, kiln_diag *d);
/* Prints into a malloc'd string (caller frees). */
char *ir_print_str(const ir_graph *g, const ir_print_opts *o, kiln_diag *d);

/* ---- initialisers (deterministic on every machine) ----------------------- */
/* Fills t (f32/f64) from an initialiser spec; fan-in/fan-out from the shape
 * as PyTorch defines them. 0 or a diag error. data NULL: only checks the spec
 * against the type (the parser does so before allocating). */
int ir_init_fill(const ir_init_spec *s, const ir_type *t, void *data, kiln_diag *d);

#endif

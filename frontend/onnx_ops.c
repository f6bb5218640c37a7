/* ONNX op lowering: one table row per ONNX op type and opset range, mapping
 * the node onto kiln core ops (ops.def).
 *
 * Most ops map one to one: the generic lowering passes inputs through in
 * order (schema `@N` attributes such as Reshape's shape may stay inputs;
 * infer-shapes resolves them) and copies every ONNX attribute whose name the
 * kiln op's schema has, checking its kind. Any ONNX attribute that no
 * lowering reads is an error, so a feature kiln does not implement is never
 * silently dropped. The other ops are compositions of core ops (Gemm, Mean,
 * Softmax before opset 13, MeanVarianceNormalization, ...).
 *
 * Names: the IR values that carry an ONNX node's outputs get the ONNX names;
 * values a composition adds are named "OUTPUT/role", never an ONNX name.
 * The node producing the ONNX outputs carries the ONNX node name, helper
 * nodes "NAME/role".
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/onnx_impl.h"

#define TRY(x)                                                                 \
  do {                                                                         \
    int rc_ = (x);                                                             \
    if (rc_) return rc_;                                                       \
  } while (0)

typedef struct onnx_op_entry onnx_op_entry;
typedef int (*lower_fn)(onnx_node *n, const onnx_op_entry *e);

struct onnx_op_entry {
  const char *op_type;
  int since;      /* first opset of this row; a later row of the op overrides */
  ir_op op;       /* the kiln op (for the generic lowering or as a parameter) */
  lower_fn fn;    /* NULL: generic one-to-one lowering */
};

static const char *S(const char *s) { return s ? s : ""; }

/* ---- messages -------------------------------------------------------------------- */
int onnx_node_error(const onnx_node *n, int code, const char *fmt, ...) {
  char msg[KILN_DIAG_MSG], lab[IR_MAX_NAME * 2 + 200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n->pb->name && *n->pb->name)
    snprintf(lab, sizeof lab, "node '%s' (%s)", n->pb->name, n->op_type);
  else if (n->n_out > 0 && *n->out[0])
    snprintf(lab, sizeof lab, "node #%d (%s, output '%s')", n->index, n->op_type, n->out[0]);
  else
    snprintf(lab, sizeof lab, "node #%d (%s)", n->index, n->op_type);
  return kiln_diag_error(n->c->d, code, "%s: %s: %s", n->c->path, lab, msg);
}

/* ---- attributes ---------------------------------------------------------------------- */
/* The attribute `name`, marked as read; NULL when absent. */
static const onnx_attr_pb *attr_get(onnx_node *n, const char *name) {
  for (size_t i = 0; i < n->pb->n_attribute; i++)
    if (!strcmp(n->pb->attribute[i]->name, name)) {
      n->attr_used[i] = 1;
      return n->pb->attribute[i];
    }
  return NULL;
}

static int attr_kind_error(onnx_node *n, const onnx_attr_pb *a, int want) {
  return onnx_node_error(n, KILN_E_INVALID, "attribute '%s' is %s, expected %s", a->name,
                         onnx_attr_type_name(a->has_type ? a->type : 0),
                         onnx_attr_type_name(want));
}

static int attr_check(onnx_node *n, const onnx_attr_pb *a, int want) {
  if (!a->has_type || a->type != want) return attr_kind_error(n, a, want);
  return KILN_OK;
}

static int attr_int(onnx_node *n, const char *name, int64_t def, int64_t *out) {
  const onnx_attr_pb *a = attr_get(n, name);
  *out = def;
  if (!a) return KILN_OK;
  TRY(attr_check(n, a, ONNX_ATTR_INT));
  *out = a->i;
  return KILN_OK;
}

static int attr_float(onnx_node *n, const char *name, double def, double *out) {
  const onnx_attr_pb *a = attr_get(n, name);
  *out = def;
  if (!a) return KILN_OK;
  TRY(attr_check(n, a, ONNX_ATTR_FLOAT));
  *out = a->f;
  return KILN_OK;
}

/* A STRING attribute as a NUL-terminated copy in the graph arena. */
static int attr_str_value(onnx_node *n, const onnx_attr_pb *a, const char **out) {
  TRY(attr_check(n, a, ONNX_ATTR_STRING));
  size_t len = a->s.len;
  if (len > 4096 || (len && memchr(a->s.data, 0, len)))
    return onnx_node_error(n, KILN_E_INVALID, "attribute '%s' is not a valid string", a->name);
  char *s = ir_arena_alloc(n->c->g->arena, len + 1);
  if (len) memcpy(s, a->s.data, len);
  s[len] = 0;
  *out = s;
  return KILN_OK;
}

static int attr_string(onnx_node *n, const char *name, const char *def, const char **out) {
  const onnx_attr_pb *a = attr_get(n, name);
  *out = def;
  if (!a) return KILN_OK;
  return attr_str_value(n, a, out);
}

/* INTS: *cnt = -1 when absent. */
static int attr_ints(onnx_node *n, const char *name, const int64_t **v, int *cnt) {
  const onnx_attr_pb *a = attr_get(n, name);
  *v = NULL;
  *cnt = -1;
  if (!a) return KILN_OK;
  TRY(attr_check(n, a, ONNX_ATTR_INTS));
  *v = a->ints;
  *cnt = (int)a->n_ints; /* bounded by ONNX_MAX_ATTR_ELEMS (checked by the loader) */
  return KILN_OK;
}

/* ---- values and dtypes ------------------------------------------------------------------- */
static ir_graph *G(onnx_node *n) { return n->c->g; }

static int dtype_rule(onnx_ctx *c, const ir_node *nd, int j);

/* Computes the frontend's dtype of the outputs of every node added so far. */
static void sync_dtypes(onnx_ctx *c) {
  onnx_ctx_sync_values(c);
  ir_graph *g = c->g;
  for (; c->dtype_nodes < g->n_nodes; c->dtype_nodes++) {
    const ir_node *nd = &g->nodes[c->dtype_nodes];
    for (int j = 0; j < nd->n_out; j++) {
      int v = nd->out[j];
      if (c->vdtype[v] >= 0) continue;
      int dt = dtype_rule(c, nd, j);
      if (dt < 0) {
        const onnx_name_info *ni = onnx_name_lookup(c, g->values[v].name);
        ir_dtype h;
        if (ni && ni->hint_dtype && !onnx_dtype_to_ir(ni->hint_dtype, &h)) dt = (int)h;
      }
      c->vdtype[v] = (signed char)dt;
    }
  }
}

/* The dtype of value v as far as the frontend knows it, or -1. Graph inputs
 * and constants are typed; node outputs follow the op's dtype rule (a guess
 * that shape inference later checks: a wrong guess gives an error there,
 * never a wrong result). */
static int dtype_of(onnx_node *n, int v) {
  if (v < 0) return -1;
  onnx_ctx *c = n->c;
  onnx_ctx_sync_values(c);
  if (c->vdtype[v] < 0 && c->g->values[v].typed) c->vdtype[v] = (signed char)c->g->values[v].type.dtype;
  if (c->vdtype[v] < 0) sync_dtypes(c);
  return c->vdtype[v];
}

static int in_dtype(onnx_ctx *c, const ir_node *nd, int k) {
  if (k >= nd->n_in || nd->in[k] < 0) return -1;
  int v = nd->in[k];
  if (c->vdtype[v] < 0 && c->g->values[v].typed) return c->g->values[v].type.dtype;
  return c->vdtype[v];
}

static int dtype_rule(onnx_ctx *c, const ir_node *nd, int j) {
  switch (nd->op) {
  case IR_OP_CAST: return (int)ir_attr_int(nd, "to");
  case IR_OP_EQUAL: case IR_OP_LESS: case IR_OP_LESS_EQUAL: case IR_OP_GREATER:
  case IR_OP_GREATER_EQUAL: case IR_OP_AND: case IR_OP_OR: case IR_OP_XOR: case IR_OP_NOT:
  case IR_OP_ISNAN: case IR_OP_ISINF:
    return IR_BOOL;
  case IR_OP_SHAPE: case IR_OP_SIZE: case IR_OP_ARGMAX: case IR_OP_ARGMIN: return IR_I64;
  case IR_OP_MAX_POOL: return j == 1 ? IR_I64 : in_dtype(c, nd, 0);
  case IR_OP_LAYER_NORM: return j > 0 ? IR_F32 : in_dtype(c, nd, 0);
  case IR_OP_WHERE: return in_dtype(c, nd, 1);
  case IR_OP_ONE_HOT: return in_dtype(c, nd, 2);
  case IR_OP_RANGE: {
    const ir_attr *a = ir_attr_find(nd, "dtype");
    if (a) return (int)a->i;
    return in_dtype(c, nd, 0);
  }
  case IR_OP_CONSTANT_OF_SHAPE: {
    const ir_attr *a = ir_attr_find(nd, "value");
    return a ? (int)a->t.type.dtype : IR_F32;
  }
  default:
    for (int k = 0; k < nd->n_in; k++)
      if (nd->in[k] >= 0) return in_dtype(c, nd, k);
    return -1;
  }
}

/* A name for a value a composition adds: "BASE/role", never an ONNX name or
 * a name the graph has. Returned in the graph arena. */
static const char *tmp_name(onnx_node *n, const char *role) {
  onnx_ctx *c = n->c;
  const char *base = n->n_out > 0 && *n->out[0] ? n->out[0]
                     : n->pb->name && *n->pb->name ? n->pb->name
                                                   : n->op_type;
  char buf[IR_MAX_NAME + 64];
  int bl = (int)strlen(base);
  if (bl > IR_MAX_NAME - 48) bl = IR_MAX_NAME - 48;
  snprintf(buf, sizeof buf, "%.*s/%.24s", bl, base, role);
  for (unsigned k = 1;; k++) {
    if (onnx_strmap_get(&c->name_map, buf) < 0 && ir_value_find(c->g, buf) < 0) break;
    snprintf(buf, sizeof buf, "%.*s/%.24s.%u", bl, base, role, k);
  }
  return ir_arena_strdup(c->g->arena, buf);
}

/* Adds a kiln node. role NULL: it computes the ONNX node's outputs, which
 * keep their ONNX names (absent ones, and slots past them, get internal
 * names); otherwise every output is a new internal value "OUT/role".
 * Returns the node id. */
static int emit(onnx_node *n, const char *role, ir_op op, const int *in, int n_in, int n_out) {
  ir_graph *g = G(n);
  const char *names_buf[8];
  const char **names = n_out > 8 ? kiln_xmalloc(sizeof(char *) * (size_t)n_out) : names_buf;
  for (int j = 0; j < n_out; j++) {
    if (!role && j < n->n_out && *n->out[j]) {
      KILN_ASSERT(ir_value_find(g, n->out[j]) < 0); /* ONNX names are defined once */
      names[j] = n->out[j];
    } else {
      names[j] = tmp_name(n, role ? role : "out");
    }
  }
  char nodename[IR_MAX_NAME + 64];
  const char *onm = S(n->pb->name);
  if (role && *onm)
    snprintf(nodename, sizeof nodename, "%.*s/%.24s", IR_MAX_NAME - 32, onm, role);
  else
    snprintf(nodename, sizeof nodename, "%s", onm);
  int id = ir_node_new(g, op, nodename, in, n_in, n_out, names);
  if (names != names_buf) free(names);
  onnx_ctx_sync_values(n->c);
  return id;
}

static int out0(onnx_node *n, int node) { return G(n)->nodes[node].out[0]; }

/* One-output node with up to two inputs (b < 0: one input); returns the
 * node id. */
static int node1(onnx_node *n, const char *role, ir_op op, int a) {
  return emit(n, role, op, &a, 1, 1);
}
static int node2(onnx_node *n, const char *role, ir_op op, int a, int b) {
  int in[2] = {a, b};
  return emit(n, role, op, in, 2, 1);
}

/* Whether the real v (such as Gemm's alpha) is exactly representable in
 * dtype dt: always for floats; for integer types it must be an integer in
 * range (a fractional alpha on an integer Gemm would be truncated into a
 * wrong answer, and converting one out of range is undefined). 0, or an
 * error naming `what`. */
static int scalar_fits(onnx_node *n, const char *what, int dt, double v) {
  if (ir_dtype_is_float((ir_dtype)dt)) return KILN_OK;
  uint8_t buf[16] = {0};
  int ok = v >= -0x1p62 && v <= 0x1p62 && v == floor(v); /* also false for NaN */
  if (ok) {
    ir_store_i((ir_dtype)dt, buf, 0, (int64_t)v);
    ok = ir_load_i((ir_dtype)dt, buf, 0) == (int64_t)v;
  }
  if (ok) return KILN_OK;
  return onnx_node_error(n, KILN_E_UNSUPPORTED, "%s (%g) is not a value of the %s inputs",
                         what, v, ir_dtype_name((ir_dtype)dt));
}

/* A scalar constant of dtype dt; for integer types v must pass scalar_fits. */
static int const_scalar(onnx_node *n, const char *role, int dt, double v) {
  ir_type t = {.dtype = (ir_dtype)dt, .rank = 0};
  uint8_t buf[16] = {0};
  if (ir_dtype_is_float((ir_dtype)dt))
    ir_store_f((ir_dtype)dt, buf, 0, v);
  else
    ir_store_i((ir_dtype)dt, buf, 0, (int64_t)v);
  int id = ir_add_const(G(n), tmp_name(n, role), &t, buf);
  onnx_ctx_sync_values(n->c);
  n->c->vdtype[id] = (signed char)dt;
  return id;
}

/* An i64 vector constant. */
static int const_i64s(onnx_node *n, const char *role, const int64_t *v, int cnt) {
  ir_type t = {.dtype = IR_I64, .rank = 1, .dims = {cnt}};
  int id = ir_add_const(G(n), tmp_name(n, role), &t, v);
  onnx_ctx_sync_values(n->c);
  n->c->vdtype[id] = IR_I64;
  return id;
}

/* Rank of v when its type is known at import (inputs, constants), else -1. */
static int known_rank(onnx_node *n, int v) {
  const ir_value *val = &G(n)->values[v];
  return val->typed ? val->type.rank : -1;
}

/* A trainable-parameter hint for ONNX input k (used when it is a float
 * initializer). */
static void mark_param(onnx_node *n, int k) {
  if (k < n->n_in && n->in[k] >= 0) {
    onnx_ctx_sync_values(n->c);
    n->c->vflags[n->in[k]] |= ONNX_VF_PARAM_HINT;
  }
}

/* The dtype of input k, or an error naming it. */
static int need_dtype(onnx_node *n, int v, int *dt) {
  *dt = dtype_of(n, v);
  if (*dt < 0)
    return onnx_node_error(n, KILN_E_UNSUPPORTED,
                           "the element type of '%s' is not known at import", G(n)->values[v].name);
  return KILN_OK;
}

static int n_present_outputs(const onnx_node *n) {
  int k = n->n_out;
  while (k > 0 && !*n->out[k - 1]) k--;
  return k;
}

static int require_inputs(onnx_node *n, int lo, int hi) {
  if (n->n_in > hi)
    return onnx_node_error(n, KILN_E_INVALID, "takes at most %d inputs, not %d", hi, n->n_in);
  for (int k = 0; k < lo; k++)
    if (k >= n->n_in || n->in[k] < 0)
      return onnx_node_error(n, KILN_E_INVALID, "input %d is required", k);
  return KILN_OK;
}

/* ---- the generic lowering ------------------------------------------------------------------ */
/* Copies ONNX attribute a onto kiln node `node` under schema s. */
static int copy_attr(onnx_node *n, int node, const onnx_attr_pb *a, const ir_attr_schema *s) {
  ir_graph *g = G(n);
  switch (s->kind) {
  case IR_ATTR_INT:
    if (s->is_dtype) break;
    TRY(attr_check(n, a, ONNX_ATTR_INT));
    ir_set_int(g, node, s->name, a->i);
    return KILN_OK;
  case IR_ATTR_FLOAT:
    TRY(attr_check(n, a, ONNX_ATTR_FLOAT));
    ir_set_float(g, node, s->name, a->f);
    return KILN_OK;
  case IR_ATTR_STRING: {
    const char *str;
    TRY(attr_str_value(n, a, &str));
    ir_set_string(g, node, s->name, str);
    return KILN_OK;
  }
  case IR_ATTR_INTS:
    TRY(attr_check(n, a, ONNX_ATTR_INTS));
    ir_set_ints(g, node, s->name, a->ints, (int)a->n_ints);
    return KILN_OK;
  case IR_ATTR_FLOATS: {
    TRY(attr_check(n, a, ONNX_ATTR_FLOATS));
    double *v = ir_arena_alloc(g->arena, sizeof(double) * (a->n_floats + 1));
    for (size_t i = 0; i < a->n_floats; i++) v[i] = a->floats[i];
    ir_set_floats(g, node, s->name, v, (int)a->n_floats);
    return KILN_OK;
  }
  case IR_ATTR_TENSOR: {
    TRY(attr_check(n, a, ONNX_ATTR_TENSOR));
    if (!a->t) return onnx_node_error(n, KILN_E_INVALID, "attribute '%s' has no tensor", a->name);
    char what[IR_MAX_NAME + 64];
    snprintf(what, sizeof what, "attribute '%s' of node #%d", a->name, n->index);
    ir_tensor t;
    void *data;
    TRY(onnx_decode_tensor(n->c, a->t, what, &t.type, &data));
    t.data = data;
    ir_set_tensor(g, node, s->name, &t);
    return KILN_OK;
  }
  default: break;
  }
  return onnx_node_error(n, KILN_E_UNSUPPORTED, "attribute '%s' is not supported", a->name);
}

/* Lowers the node onto kiln op `op` with inputs in[0..n_in): trailing absent
 * inputs are dropped, required ones checked; every attribute not read yet is
 * copied when the kiln schema has it (else it is left for the caller's final
 * check, which reports it). The ONNX outputs map onto the op's outputs in
 * order. Returns the node id through *node_out when not NULL. */
static int lower_onto(onnx_node *n, ir_op op, const int *in, int n_in, int *node_out) {
  const ir_op_info *info = ir_op_get(op);
  int max_in = info->max_in < 0 ? IR_MAX_NODE_INPUTS : info->max_in;
  while (n_in > info->min_in && in[n_in - 1] < 0) n_in--;
  if (n_in > max_in)
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "kiln's %s takes at most %d inputs, not %d",
                           info->name, max_in, n_in);
  for (int k = 0; k < info->min_in; k++)
    if (k >= n_in || in[k] < 0) return onnx_node_error(n, KILN_E_INVALID, "input %d is required", k);
  int n_out = n_present_outputs(n);
  int max_out = info->max_out < 0 ? IR_MAX_NODE_OUTPUTS : info->max_out;
  if (n_out > max_out)
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "output %d is not supported", max_out);
  if (n_out < info->min_out) n_out = info->min_out;
  int node = emit(n, NULL, op, in, n_in, n_out);
  for (size_t i = 0; i < n->pb->n_attribute; i++) {
    if (n->attr_used[i]) continue;
    const onnx_attr_pb *a = n->pb->attribute[i];
    const ir_attr_schema *s = ir_op_attr_schema(op, a->name);
    if (!s) continue;
    n->attr_used[i] = 1;
    TRY(copy_attr(n, node, a, s));
  }
  if (node_out) *node_out = node;
  return KILN_OK;
}

static int lower_generic(onnx_node *n, const onnx_op_entry *e) {
  return lower_onto(n, e->op, n->in, n->n_in, NULL);
}

/* ---- elementwise --------------------------------------------------------------------------- */
/* Binary ops. Before opset 7, `broadcast`=1 with `axis` aligned B's dims to
 * A's starting at axis; B is padded with trailing 1-dims so that NumPy
 * broadcasting does the same (the ranks must be known at import). */
static int lower_binary(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 2, 2));
  int a = n->in[0], b = n->in[1];
  if (n->c->opset < 7) {
    int64_t bc, axis;
    TRY(attr_int(n, "broadcast", 0, &bc));
    const onnx_attr_pb *ax = attr_get(n, "axis");
    if (bc && ax) {
      TRY(attr_int(n, "axis", 0, &axis));
      int ra = known_rank(n, a), rb = known_rank(n, b);
      if (ra < 0 || rb < 0)
        return onnx_node_error(n, KILN_E_UNSUPPORTED,
                               "legacy broadcasting with 'axis' needs the input ranks at import");
      if (axis < 0) axis += ra;
      int64_t trailing = (int64_t)ra - axis - rb;
      if (axis < 0 || axis > ra || trailing < 0)
        return onnx_node_error(n, KILN_E_INVALID, "broadcast axis %lld does not fit the ranks",
                               (long long)axis);
      if (trailing > 0) {
        int64_t axes[IR_MAX_RANK];
        for (int64_t k = 0; k < trailing; k++) axes[k] = rb + k;
        int u = node1(n, "bcast", IR_OP_UNSQUEEZE, b);
        ir_set_ints(G(n), u, "axes", axes, (int)trailing);
        b = out0(n, u);
      }
    }
  }
  int in[2] = {a, b};
  return lower_onto(n, e->op, in, 2, NULL);
}

/* PRelu before opset 7 applied a vector slope per channel (axis 1); from 7
 * the slope broadcasts the NumPy way. The legacy form is rewritten as a
 * slope of shape [C, 1, ..., 1]. */
static int lower_prelu(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 2, 2));
  int x = n->in[0], slope = n->in[1];
  if (n->c->opset < 7) {
    const ir_value *sv = &G(n)->values[slope];
    int rs = known_rank(n, slope), rx = known_rank(n, x);
    int vector = rs == 1 && sv->type.dims[0] != 1;
    if (rs < 0 || (vector && rx < 0))
      return onnx_node_error(n, KILN_E_UNSUPPORTED,
                             "legacy PRelu needs the ranks of its inputs at import");
    if (vector && rx > 2) {
      int64_t axes[IR_MAX_RANK];
      for (int k = 0; k < rx - 2; k++) axes[k] = k + 1;
      int u = node1(n, "slope_c", IR_OP_UNSQUEEZE, slope);
      ir_set_ints(G(n), u, "axes", axes, rx - 2);
      slope = out0(n, u);
    }
  }
  int in[2] = {x, slope};
  return lower_onto(n, e->op, in, 2, NULL);
}

/* Sum, Max, Min, Mean with any number of inputs: a chain of binary ops
 * (Mean divides the sum by the count). */
static int lower_variadic(onnx_node *n, const onnx_op_entry *e) {
  int cnt = n->n_in;
  if (cnt < 1) return onnx_node_error(n, KILN_E_INVALID, "needs at least one input");
  for (int k = 0; k < cnt; k++)
    if (n->in[k] < 0) return onnx_node_error(n, KILN_E_INVALID, "input %d is required", k);
  int mean = !strcmp(n->op_type, "Mean");
  if (cnt == 1) {
    node1(n, NULL, IR_OP_IDENTITY, n->in[0]);
    return KILN_OK;
  }
  int acc = n->in[0];
  for (int k = 1; k < cnt; k++) {
    int last = k == cnt - 1 && !mean;
    acc = out0(n, node2(n, last ? NULL : "acc", e->op, acc, n->in[k]));
  }
  if (mean) {
    int dt;
    TRY(need_dtype(n, n->in[0], &dt));
    TRY(scalar_fits(n, "the input count", dt, (double)cnt));
    node2(n, NULL, IR_OP_DIV, acc, const_scalar(n, "count", dt, (double)cnt));
  }
  return KILN_OK;
}

static int lower_cast(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 1, 1));
  int64_t to, sat;
  const onnx_attr_pb *a = attr_get(n, "to");
  if (!a) return onnx_node_error(n, KILN_E_INVALID, "attribute 'to' is required");
  TRY(attr_int(n, "to", 0, &to));
  TRY(attr_int(n, "saturate", 1, &sat)); /* matters for float8 targets only */
  ir_dtype dt;
  char nb[32];
  if (to < INT32_MIN || to > INT32_MAX || onnx_dtype_to_ir((int32_t)to, &dt))
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "cast to %s is not supported",
                           onnx_dtype_name((int32_t)(to < INT32_MIN || to > INT32_MAX ? -1 : to),
                                           nb, sizeof nb));
  int node;
  TRY(lower_onto(n, IR_OP_CAST, n->in, 1, &node));
  ir_set_int(G(n), node, "to", dt);
  (void)e;
  return KILN_OK;
}

/* CastLike: a cast to the dtype of input 1, which must be known at import
 * (a graph input, a constant, or a value whose dtype follows from them). */
static int lower_cast_like(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 2, 2));
  int64_t sat;
  TRY(attr_int(n, "saturate", 1, &sat));
  int dt;
  TRY(need_dtype(n, n->in[1], &dt));
  int node = node1(n, NULL, IR_OP_CAST, n->in[0]);
  ir_set_int(G(n), node, "to", dt);
  (void)e;
  return KILN_OK;
}

/* Swish (opset 24): x * sigmoid(alpha * x); silu when alpha is 1. */
static int lower_swish(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 1, 1));
  double alpha;
  TRY(attr_float(n, "alpha", 1.0, &alpha));
  int x = n->in[0];
  if (alpha == 1.0) return lower_onto(n, IR_OP_SILU, n->in, 1, NULL);
  int dt;
  TRY(need_dtype(n, x, &dt));
  TRY(scalar_fits(n, "attribute 'alpha'", dt, alpha));
  int ax = out0(n, node2(n, "ax", IR_OP_MUL, x, const_scalar(n, "alpha", dt, alpha)));
  int s = out0(n, node1(n, "sigmoid", IR_OP_SIGMOID, ax));
  node2(n, NULL, IR_OP_MUL, x, s);
  (void)e;
  return KILN_OK;
}


/* ---- contractions ----------------------------------------------------------------------------- */
static const int64_t perm_2d[2] = {1, 0};

/* Gemm: Y = alpha * A' B' + beta * C, with A' = transpose(A) when transA
 * (likewise B'); C broadcasts. */
static int lower_gemm(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 2, 3));
  int64_t ta, tb, bc;
  double alpha, beta;
  TRY(attr_int(n, "transA", 0, &ta));
  TRY(attr_int(n, "transB", 0, &tb));
  TRY(attr_float(n, "alpha", 1.0, &alpha));
  TRY(attr_float(n, "beta", 1.0, &beta));
  TRY(attr_int(n, "broadcast", 0, &bc)); /* before opset 7; NumPy broadcasting covers it */
  int a = n->in[0], b = n->in[1], c = n->n_in > 2 ? n->in[2] : -1;
  int has_c = c >= 0 && beta != 0.0;
  int dt = -1;
  if (alpha != 1.0 || (has_c && beta != 1.0)) TRY(need_dtype(n, a, &dt));
  if (alpha != 1.0) TRY(scalar_fits(n, "attribute 'alpha'", dt, alpha));
  if (has_c && beta != 1.0) TRY(scalar_fits(n, "attribute 'beta'", dt, beta));
  if (ta) {
    int t = node1(n, "transA", IR_OP_TRANSPOSE, a);
    ir_set_ints(G(n), t, "perm", perm_2d, 2);
    a = out0(n, t);
  }
  if (tb) {
    int t = node1(n, "transB", IR_OP_TRANSPOSE, b);
    ir_set_ints(G(n), t, "perm", perm_2d, 2);
    b = out0(n, t);
  }
  int steps = (alpha != 1.0) + has_c;
  int y = out0(n, node2(n, steps ? "matmul" : NULL, IR_OP_MATMUL, a, b));
  if (alpha != 1.0) {
    steps--;
    y = out0(n, node2(n, steps ? "alpha" : NULL, IR_OP_MUL, y, const_scalar(n, "alpha", dt, alpha)));
  }
  if (has_c) {
    if (beta != 1.0) c = out0(n, node2(n, "beta", IR_OP_MUL, c, const_scalar(n, "beta", dt, beta)));
    node2(n, NULL, IR_OP_ADD, y, c);
  }
  mark_param(n, 1);
  mark_param(n, 2);
  (void)e;
  return KILN_OK;
}

/* ---- normalisations --------------------------------------------------------------------------- */
/* Softmax, LogSoftmax, Hardmax before opset 13 work on the input coerced to
 * 2-D at `axis` (default 1): flatten there, apply over the last axis, and
 * reshape back. When the rank is known and axis is the last one, that is the
 * opset-13 form directly. */
static int lower_softmax_old(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 1, 1));
  int64_t axis;
  TRY(attr_int(n, "axis", 1, &axis));
  int x = n->in[0], r = known_rank(n, x);
  if (r >= 0 && (axis == r - 1 || axis == -1)) {
    int node = node1(n, NULL, e->op, x);
    ir_set_int(G(n), node, "axis", -1);
    return KILN_OK;
  }
  int f = node1(n, "flat", IR_OP_FLATTEN, x);
  ir_set_int(G(n), f, "axis", axis);
  int s = node1(n, "2d", e->op, out0(n, f));
  ir_set_int(G(n), s, "axis", -1);
  int sh = node1(n, "shape", IR_OP_SHAPE, x);
  node2(n, NULL, IR_OP_RESHAPE, out0(n, s), out0(n, sh));
  return KILN_OK;
}

/* Extra outputs of BatchNormalization (running or saved statistics) exist
 * only in training mode. */
static int lower_batch_norm(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 5, 5));
  int64_t opset = n->c->opset, v;
  double momentum;
  TRY(attr_float(n, "momentum", 0.9, &momentum)); /* updates running statistics: training */
  if (opset < 9) {
    TRY(attr_int(n, "spatial", 1, &v));
    if (!v)
      return onnx_node_error(n, KILN_E_UNSUPPORTED,
                             "spatial=0 (per-activation statistics) is not supported");
  }
  if (opset < 7) {
    TRY(attr_int(n, "is_test", 0, &v));
    if (!v)
      return onnx_node_error(n, KILN_E_UNSUPPORTED,
                             "is_test=0 (training mode) is not supported; kiln compiles inference");
  }
  if (opset >= 14) {
    TRY(attr_int(n, "training_mode", 0, &v));
    if (v)
      return onnx_node_error(n, KILN_E_UNSUPPORTED,
                             "training_mode=1 is not supported; kiln compiles inference");
  }
  for (int j = 1; j < n->n_out; j++) {
    if (!*n->out[j]) continue;
    const onnx_name_info *ni = onnx_name_lookup(n->c, n->out[j]);
    if ((opset >= 7 && opset < 14) || (ni && ni->used))
      return onnx_node_error(n, KILN_E_UNSUPPORTED,
                             "output %d ('%s') is computed in training mode only", j, n->out[j]);
  }
  n->n_out = 1;
  return lower_onto(n, e->op, n->in, 5, NULL);
}

/* LayerNormalization, RMSNormalization: stash_type (the precision of the
 * statistics) must be float32, which is how kiln computes them. */
static int lower_stash(onnx_node *n, const onnx_op_entry *e) {
  int64_t st;
  TRY(attr_int(n, "stash_type", ONNX_FLOAT, &st));
  if (st != ONNX_FLOAT)
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "stash_type %lld is not supported (only 1, float)",
                           (long long)st);
  return lower_onto(n, e->op, n->in, n->n_in, NULL);
}

/* GroupNormalization. Opsets 18-20 give scale and bias per group; kiln's
 * group_norm takes them per channel, so each is repeated C/G times:
 * reshape(expand(unsqueeze(p, [1]), [G, C/G]), [-1]) with C from shape(x).
 * Opset 21 gives them per channel. */
static int lower_group_norm(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 3, 3));
  int64_t groups, st;
  double eps;
  if (!attr_get(n, "num_groups"))
    return onnx_node_error(n, KILN_E_INVALID, "attribute 'num_groups' is required");
  TRY(attr_int(n, "num_groups", 0, &groups));
  TRY(attr_float(n, "epsilon", 1e-5, &eps));
  TRY(attr_int(n, "stash_type", ONNX_FLOAT, &st));
  if (st != ONNX_FLOAT)
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "stash_type %lld is not supported (only 1, float)",
                           (long long)st);
  if (groups < 1) return onnx_node_error(n, KILN_E_INVALID, "num_groups must be positive");
  int x = n->in[0], scale = n->in[1], bias = n->in[2];
  if (n->c->opset < 21) {
    int sh = node1(n, "channels", IR_OP_SHAPE, x);
    ir_set_int(G(n), sh, "start", 1);
    ir_set_int(G(n), sh, "end", 2);
    int gc = const_i64s(n, "groups", &groups, 1);
    int per = out0(n, node2(n, "per_group", IR_OP_DIV, out0(n, sh), gc));
    int two[2] = {gc, per};
    int tshape = emit(n, "group_shape", IR_OP_CONCAT, two, 2, 1);
    ir_set_int(G(n), tshape, "axis", 0);
    static const int64_t one = 1, minus1 = -1;
    int flat = const_i64s(n, "flat", &minus1, 1);
    int *ps[2] = {&scale, &bias};
    for (int k = 0; k < 2; k++) {
      int u = node1(n, k ? "bias_g" : "scale_g", IR_OP_UNSQUEEZE, *ps[k]);
      ir_set_ints(G(n), u, "axes", &one, 1);
      int ex = node2(n, k ? "bias_gc" : "scale_gc", IR_OP_EXPAND, out0(n, u), out0(n, tshape));
      *ps[k] = out0(n, node2(n, k ? "bias_c" : "scale_c", IR_OP_RESHAPE, out0(n, ex), flat));
    }
  }
  int in[3] = {x, scale, bias};
  int node;
  TRY(lower_onto(n, e->op, in, 3, &node));
  ir_set_int(G(n), node, "num_groups", groups);
  ir_set_float(G(n), node, "epsilon", eps);
  mark_param(n, 1);
  mark_param(n, 2);
  return KILN_OK;
}

/* MeanVarianceNormalization: (x - mean) / (sqrt(var) + 1e-9) over `axes`
 * (default [0, 2, 3]), as ONNX's function body defines it (there the
 * variance is E[x^2] - E[x]^2; E[(x - mean)^2] is the same, rounded better). */
static int lower_mvn(onnx_node *n, const onnx_op_entry *e) {
  TRY(require_inputs(n, 1, 1));
  static const int64_t def_axes[3] = {0, 2, 3};
  const int64_t *axes;
  int na;
  TRY(attr_ints(n, "axes", &axes, &na));
  if (na < 0) {
    axes = def_axes;
    na = 3;
  }
  int x = n->in[0], dt;
  TRY(need_dtype(n, x, &dt));
  int m = node1(n, "mean", IR_OP_REDUCE_MEAN, x);
  ir_set_ints(G(n), m, "axes", axes, na);
  int dev = out0(n, node2(n, "dev", IR_OP_SUB, x, out0(n, m)));
  int sq = out0(n, node2(n, "sq", IR_OP_MUL, dev, dev));
  int var = node1(n, "var", IR_OP_REDUCE_MEAN, sq);
  ir_set_ints(G(n), var, "axes", axes, na);
  int sd = out0(n, node1(n, "std", IR_OP_SQRT, out0(n, var)));
  int den = out0(n, node2(n, "den", IR_OP_ADD, sd, const_scalar(n, "eps", dt, 1e-9)));
  node2(n, NULL, IR_OP_DIV, dev, den);
  (void)e;
  return KILN_OK;
}

/* ---- data movement ------------------------------------------------------------------------------ */
/* Concat: `axis` is required from opset 4; before, it defaulted to 1. */
static int lower_concat(onnx_node *n, const onnx_op_entry *e) {
  if (n->n_in < 1) return onnx_node_error(n, KILN_E_INVALID, "needs at least one input");
  for (int k = 0; k < n->n_in; k++)
    if (n->in[k] < 0) return onnx_node_error(n, KILN_E_INVALID, "input %d is required", k);
  int64_t axis;
  if (!attr_get(n, "axis") && n->c->opset >= 4)
    return onnx_node_error(n, KILN_E_INVALID, "attribute 'axis' is required");
  TRY(attr_int(n, "axis", 1, &axis));
  int node;
  TRY(lower_onto(n, e->op, n->in, n->n_in, &node));
  ir_set_int(G(n), node, "axis", axis);
  return KILN_OK;
}

/* A value known at import to hold no elements (an empty scales or sizes
 * operand of Resize stands for "not given"). */
static int known_empty(onnx_node *n, int v) {
  if (v < 0) return 0;
  const ir_value *val = &G(n)->values[v];
  return val->typed && ir_type_numel(&val->type) == 0;
}

static int set_legacy_resize(onnx_node *n, int node, const char *mode) {
  if (!strcmp(mode, "bilinear")) mode = "linear"; /* Upsample-7 spelling */
  if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "mode '%s' is not supported", mode);
  /* Upsample and Resize-10 map output to input coordinates as x / scale
   * and pick the nearest input element by flooring */
  ir_set_string(G(n), node, "mode", mode);
  ir_set_string(G(n), node, "coordinate_transformation_mode", "asymmetric");
  ir_set_string(G(n), node, "nearest_mode", "floor");
  return KILN_OK;
}

/* Upsample (deprecated in opset 10; kept for old models): scales as an
 * attribute before opset 9, as input 1 from 9. */
static int lower_upsample(onnx_node *n, const onnx_op_entry *e) {
  const char *mode;
  TRY(attr_string(n, "mode", "nearest", &mode));
  int node;
  if (n->c->opset < 9) {
    TRY(require_inputs(n, 1, 1));
    const onnx_attr_pb *a = attr_get(n, "scales");
    if (!a) return onnx_node_error(n, KILN_E_INVALID, "attribute 'scales' is required");
    TRY(attr_check(n, a, ONNX_ATTR_FLOATS));
    node = node1(n, NULL, e->op, n->in[0]);
    TRY(copy_attr(n, node, a, ir_op_attr_schema(e->op, "scales")));
  } else {
    TRY(require_inputs(n, 2, 2));
    int in[3] = {n->in[0], -1, n->in[1]};
    node = emit(n, NULL, e->op, in, 3, 1);
  }
  return set_legacy_resize(n, node, mode);
}

/* Resize's `axes` (opset 18) gives scales or sizes for some axes only; kiln
 * takes them for every axis. The full vectors are gathered at compile time
 * from the given values and the defaults: scale 1, or the input's own size
 * (shape(x)), for each axis not listed:
 *   full_scales = gather(concat(scales, [1]), idx), idx[d] = pos of d or na
 *   full_sizes  = gather(concat(sizes, shape(x)), idx), idx[d] = pos or na + d
 * The input's rank must be known at import. */
static int resize_axes(onnx_node *n, const int64_t *axes, int na, int *scales, int *sizes) {
  int x = n->in[0], r = known_rank(n, x);
  if (r < 0)
    return onnx_node_error(n, KILN_E_UNSUPPORTED,
                           "'axes' needs the rank of the input at import");
  if (na > r) return onnx_node_error(n, KILN_E_INVALID, "'axes' lists more axes than the rank");
  int64_t pos[IR_MAX_RANK];
  for (int d = 0; d < r; d++) pos[d] = -1;
  for (int k = 0; k < na; k++) {
    int64_t a = axes[k] < 0 ? axes[k] + r : axes[k];
    if (a < 0 || a >= r || pos[a] >= 0)
      return onnx_node_error(n, KILN_E_INVALID, "'axes' has a bad or repeated axis %lld",
                             (long long)axes[k]);
    pos[a] = k;
  }
  int64_t idx[IR_MAX_RANK];
  if (*scales >= 0) {
    for (int d = 0; d < r; d++) idx[d] = pos[d] >= 0 ? pos[d] : na;
    int one = const_scalar(n, "one", IR_F32, 1.0);
    static const int64_t ax0 = 0;
    int u = node1(n, "one_v", IR_OP_UNSQUEEZE, one);
    ir_set_ints(G(n), u, "axes", &ax0, 1);
    int cat_in[2] = {*scales, out0(n, u)};
    int cat = emit(n, "scales_ext", IR_OP_CONCAT, cat_in, 2, 1);
    ir_set_int(G(n), cat, "axis", 0);
    *scales = out0(n, node2(n, "scales_full", IR_OP_GATHER, out0(n, cat),
                            const_i64s(n, "scales_idx", idx, r)));
  }
  if (*sizes >= 0) {
    for (int d = 0; d < r; d++) idx[d] = pos[d] >= 0 ? pos[d] : na + d;
    int sh = node1(n, "in_shape", IR_OP_SHAPE, x);
    int cat_in[2] = {*sizes, out0(n, sh)};
    int cat = emit(n, "sizes_ext", IR_OP_CONCAT, cat_in, 2, 1);
    ir_set_int(G(n), cat, "axis", 0);
    *sizes = out0(n, node2(n, "sizes_full", IR_OP_GATHER, out0(n, cat),
                           const_i64s(n, "sizes_idx", idx, r)));
  }
  return KILN_OK;
}

/* Resize: opset 10 takes (X, scales); 11 and later (X, roi, scales, sizes).
 * roi matters only for tf_crop_and_resize, which kiln does not support. */
static int lower_resize(onnx_node *n, const onnx_op_entry *e) {
  if (n->c->opset < 11) {
    TRY(require_inputs(n, 2, 2));
    const char *mode;
    TRY(attr_string(n, "mode", "nearest", &mode));
    int in[3] = {n->in[0], -1, n->in[1]};
    int node = emit(n, NULL, e->op, in, 3, 1);
    return set_legacy_resize(n, node, mode);
  }
  TRY(require_inputs(n, 1, 4));
  const char *ctm, *policy;
  int64_t antialias;
  TRY(attr_string(n, "coordinate_transformation_mode", "half_pixel", &ctm));
  if (!strcmp(ctm, "tf_crop_and_resize"))
    return onnx_node_error(n, KILN_E_UNSUPPORTED,
                           "coordinate_transformation_mode 'tf_crop_and_resize' (roi) is not "
                           "supported");
  TRY(attr_int(n, "antialias", 0, &antialias));
  if (antialias) return onnx_node_error(n, KILN_E_UNSUPPORTED, "antialias=1 is not supported");
  TRY(attr_string(n, "keep_aspect_ratio_policy", "stretch", &policy));
  if (strcmp(policy, "stretch"))
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported",
                           policy);
  const int64_t *axes;
  int na;
  TRY(attr_ints(n, "axes", &axes, &na));
  int scales = n->n_in > 2 ? n->in[2] : -1, sizes = n->n_in > 3 ? n->in[3] : -1;
  if (known_empty(n, scales)) scales = -1;
  if (known_empty(n, sizes)) sizes = -1;
  if (na >= 0) TRY(resize_axes(n, axes, na, &scales, &sizes));
  int in[4] = {n->in[0], -1, scales, sizes};
  int node;
  TRY(lower_onto(n, e->op, in, 4, &node));
  ir_set_string(G(n), node, "coordinate_transformation_mode", ctm);
  return KILN_OK;
}

/* ---- dropout and constants -------------------------------------------------------------------------- */
/* Adds a single-output node whose output carries ONNX output j. */
static int emit_as_output(onnx_node *n, ir_op op, const int *in, int n_in, int j) {
  onnx_node sub = *n;
  sub.out = n->out + j;
  sub.n_out = n->n_out - j;
  return emit(&sub, NULL, op, in, n_in, 1);
}

/* Dropout in inference is the identity (kiln's dropout op, which the
 * inference passes drop). The optional mask output is all true (all 1 before
 * opset 10, where it had the input's type). A training_mode input must be a
 * constant false. */
static int lower_dropout(onnx_node *n, const onnx_op_entry *e) {
  int64_t opset = n->c->opset, v;
  TRY(require_inputs(n, 1, opset >= 12 ? 3 : 1));
  double ratio = 0.5;
  int have_ratio = 1;
  if (opset < 12) TRY(attr_float(n, "ratio", 0.5, &ratio));
  if (opset < 7) {
    TRY(attr_int(n, "is_test", 0, &v));
    if (!v)
      return onnx_node_error(n, KILN_E_UNSUPPORTED,
                             "is_test=0 (training mode) is not supported; kiln compiles inference");
  }
  if (opset >= 12) {
    TRY(attr_int(n, "seed", 0, &v));
    have_ratio = 0;
    if (n->n_in > 1 && n->in[1] >= 0) {
      const ir_value *rv = &G(n)->values[n->in[1]];
      if (rv->kind == IR_VAL_CONST && rv->data && ir_type_numel(&rv->type) == 1 &&
          ir_dtype_is_float(rv->type.dtype)) {
        ratio = ir_load_f(rv->type.dtype, rv->data, 0);
        have_ratio = 1;
      }
    }
    if (n->n_in > 2 && n->in[2] >= 0) {
      const ir_value *tv = &G(n)->values[n->in[2]];
      if (tv->kind != IR_VAL_CONST || !tv->data || ir_type_numel(&tv->type) != 1)
        return onnx_node_error(n, KILN_E_UNSUPPORTED,
                               "training_mode must be a constant false; kiln compiles inference");
      if (ir_load_i(tv->type.dtype, tv->data, 0) != 0)
        return onnx_node_error(n, KILN_E_UNSUPPORTED,
                               "training_mode is true; kiln compiles inference");
    }
  }
  int x = n->in[0];
  int node = node1(n, NULL, e->op, x);
  if (have_ratio) ir_set_float(G(n), node, "ratio", ratio);
  if (n->n_out > 1 && *n->out[1]) {
    ir_type t = {.dtype = IR_BOOL, .rank = 1, .dims = {1}};
    if (opset < 10) {
      int dt;
      TRY(need_dtype(n, x, &dt));
      t.dtype = (ir_dtype)dt;
    }
    uint8_t one[16] = {0};
    ir_store_f(t.dtype, one, 0, 1.0);
    ir_tensor val = {t, one};
    int sh = out0(n, node1(n, "mask_shape", IR_OP_SHAPE, x));
    int m = emit_as_output(n, IR_OP_CONSTANT_OF_SHAPE, &sh, 1, 1);
    ir_set_tensor(G(n), m, "value", &val);
  }
  return KILN_OK;
}

/* Constant: a graph constant named after the output (no node). */
static int lower_constant(onnx_node *n, const onnx_op_entry *e) {
  if (n->n_in) return onnx_node_error(n, KILN_E_INVALID, "takes no inputs");
  if (n->n_out != 1 || !*n->out[0])
    return onnx_node_error(n, KILN_E_INVALID, "needs exactly one named output");
  if (n->pb->n_attribute != 1)
    return onnx_node_error(n, KILN_E_INVALID, "needs exactly one value attribute, not %zu",
                           n->pb->n_attribute);
  const onnx_attr_pb *a = n->pb->attribute[0];
  n->attr_used[0] = 1;
  const char *nm = a->name, *out = n->out[0];
  onnx_ctx *c = n->c;
  ir_graph *g = G(n);
  int v = -1;
  if (!strcmp(nm, "value")) {
    TRY(attr_check(n, a, ONNX_ATTR_TENSOR));
    if (!a->t) return onnx_node_error(n, KILN_E_INVALID, "attribute 'value' has no tensor");
    char what[IR_MAX_NAME + 64];
    snprintf(what, sizeof what, "Constant '%s'", out);
    v = onnx_const_from_tensor(c, a->t, out, what);
    if (v < 0) return c->d->status;
  } else if (!strcmp(nm, "value_float") || !strcmp(nm, "value_floats")) {
    int list = nm[11] == 's';
    TRY(attr_check(n, a, list ? ONNX_ATTR_FLOATS : ONNX_ATTR_FLOAT));
    ir_type t = {.dtype = IR_F32, .rank = list, .dims = {list ? (int64_t)a->n_floats : 0}};
    v = ir_add_const(g, out, &t, list ? (const void *)a->floats : (const void *)&a->f);
  } else if (!strcmp(nm, "value_int") || !strcmp(nm, "value_ints")) {
    int list = nm[9] == 's';
    TRY(attr_check(n, a, list ? ONNX_ATTR_INTS : ONNX_ATTR_INT));
    ir_type t = {.dtype = IR_I64, .rank = list, .dims = {list ? (int64_t)a->n_ints : 0}};
    v = ir_add_const(g, out, &t, list ? (const void *)a->ints : (const void *)&a->i);
  } else if (!strcmp(nm, "sparse_value") || !strcmp(nm, "value_string") ||
             !strcmp(nm, "value_strings")) {
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "'%s' constants are not supported", nm);
  } else {
    return onnx_node_error(n, KILN_E_INVALID, "unknown attribute '%s'", nm);
  }
  onnx_ctx_sync_values(c);
  c->vdtype[v] = (signed char)g->values[v].type.dtype;
  (void)e;
  return KILN_OK;
}

/* ---- the table ---------------------------------------------------------------------------------------- */
#define R(name, since, op) {name, since, IR_OP_##op, NULL}
#define C(name, since, op, fn) {name, since, IR_OP_##op, fn}

/* Rows of one op type are listed in increasing `since`; the row with the
 * largest since <= the model's opset applies. An op older than its first
 * row's since is unsupported at that opset. */
static const onnx_op_entry op_table[] = {
    /* unary elementwise */
    R("Abs", 1, ABS), R("Acos", 7, ACOS), R("Acosh", 9, ACOSH), R("Asin", 7, ASIN),
    R("Asinh", 9, ASINH), R("Atan", 7, ATAN), R("Atanh", 9, ATANH), R("Ceil", 1, CEIL),
    R("Cos", 7, COS), R("Cosh", 9, COSH), R("Erf", 9, ERF), R("Exp", 1, EXP),
    R("Floor", 1, FLOOR), R("Log", 1, LOG), R("Neg", 1, NEG), R("Reciprocal", 1, RECIPROCAL),
    R("Relu", 1, RELU), R("Round", 11, ROUND), R("Sigmoid", 1, SIGMOID), R("Sign", 9, SIGN),
    R("Sin", 7, SIN), R("Sinh", 9, SINH), R("Sqrt", 1, SQRT), R("Tan", 7, TAN),
    R("Tanh", 1, TANH), R("Not", 1, NOT), R("IsNaN", 9, ISNAN), R("IsInf", 10, ISINF),
    R("Identity", 1, IDENTITY), R("Elu", 1, ELU), R("Selu", 1, SELU), R("Celu", 12, CELU),
    R("LeakyRelu", 1, LEAKY_RELU), R("ThresholdedRelu", 10, THRESHOLDED_RELU),
    R("HardSigmoid", 1, HARD_SIGMOID), R("HardSwish", 14, HARD_SWISH),
    R("Softplus", 1, SOFTPLUS), R("Softsign", 1, SOFTSIGN), R("Mish", 18, MISH),
    R("Shrink", 9, SHRINK), R("Gelu", 20, GELU), C("Swish", 24, SILU, lower_swish),
    R("Clip", 1, CLIP), C("Cast", 6, CAST, lower_cast), C("CastLike", 15, CAST, lower_cast_like),
    /* binary and variadic elementwise */
    C("Add", 1, ADD, lower_binary), C("Sub", 1, SUB, lower_binary),
    C("Mul", 1, MUL, lower_binary), C("Div", 1, DIV, lower_binary),
    C("Pow", 1, POW, lower_binary), R("Mod", 10, MOD), C("PRelu", 1, PRELU, lower_prelu),
    C("Equal", 1, EQUAL, lower_binary), C("Less", 1, LESS, lower_binary),
    C("Greater", 1, GREATER, lower_binary), R("LessOrEqual", 12, LESS_EQUAL),
    R("GreaterOrEqual", 12, GREATER_EQUAL), C("And", 1, AND, lower_binary),
    C("Or", 1, OR, lower_binary), C("Xor", 1, XOR, lower_binary), R("Where", 9, WHERE),
    C("Max", 1, MAX, lower_variadic), C("Min", 1, MIN, lower_variadic),
    C("Sum", 1, ADD, lower_variadic), C("Mean", 1, ADD, lower_variadic),
    /* contractions and pooling */
    R("MatMul", 1, MATMUL), C("Gemm", 1, MATMUL, lower_gemm), R("Conv", 1, CONV),
    R("ConvTranspose", 1, CONV_TRANSPOSE), R("MaxPool", 1, MAX_POOL),
    R("AveragePool", 1, AVG_POOL), R("LpPool", 2, LP_POOL),
    R("GlobalAveragePool", 1, GLOBAL_AVG_POOL), R("GlobalMaxPool", 1, GLOBAL_MAX_POOL),
    R("GlobalLpPool", 2, GLOBAL_LP_POOL),
    /* reductions */
    R("ReduceSum", 1, REDUCE_SUM), R("ReduceMean", 1, REDUCE_MEAN), R("ReduceMax", 1, REDUCE_MAX),
    R("ReduceMin", 1, REDUCE_MIN), R("ReduceProd", 1, REDUCE_PROD), R("ReduceL1", 1, REDUCE_L1),
    R("ReduceL2", 1, REDUCE_L2), R("ReduceSumSquare", 1, REDUCE_SUM_SQUARE),
    R("ReduceLogSum", 1, REDUCE_LOG_SUM), R("ReduceLogSumExp", 1, REDUCE_LOG_SUM_EXP),
    R("ArgMax", 1, ARGMAX), R("ArgMin", 1, ARGMIN), R("CumSum", 11, CUMSUM),
    /* normalisations */
    C("Softmax", 1, SOFTMAX, lower_softmax_old), R("Softmax", 13, SOFTMAX),
    C("LogSoftmax", 1, LOG_SOFTMAX, lower_softmax_old), R("LogSoftmax", 13, LOG_SOFTMAX),
    C("Hardmax", 1, HARDMAX, lower_softmax_old), R("Hardmax", 13, HARDMAX),
    C("BatchNormalization", 1, BATCH_NORM, lower_batch_norm),
    R("InstanceNormalization", 1, INSTANCE_NORM),
    C("LayerNormalization", 17, LAYER_NORM, lower_stash),
    C("GroupNormalization", 18, GROUP_NORM, lower_group_norm),
    C("RMSNormalization", 23, RMS_NORM, lower_stash),
    R("LpNormalization", 1, LP_NORMALIZATION), R("LRN", 1, LRN),
    C("MeanVarianceNormalization", 9, REDUCE_MEAN, lower_mvn),
    /* data movement */
    R("Reshape", 1, RESHAPE), R("Flatten", 1, FLATTEN), R("Squeeze", 1, SQUEEZE),
    R("Unsqueeze", 1, UNSQUEEZE), R("Transpose", 1, TRANSPOSE),
    C("Concat", 1, CONCAT, lower_concat), R("Split", 2, SPLIT), R("Slice", 1, SLICE),
    R("Gather", 1, GATHER), R("GatherElements", 11, GATHER_ELEMENTS),
    R("GatherND", 11, GATHER_ND), R("Expand", 8, EXPAND), R("Pad", 2, PAD), R("Tile", 6, TILE),
    R("DepthToSpace", 1, DEPTH_TO_SPACE), R("SpaceToDepth", 1, SPACE_TO_DEPTH),
    R("Trilu", 14, TRILU), R("OneHot", 9, ONE_HOT), R("Range", 11, RANGE),
    C("Resize", 10, RESIZE, lower_resize), C("Upsample", 7, RESIZE, lower_upsample),
    R("Shape", 1, SHAPE), R("Size", 1, SIZE), R("ConstantOfShape", 9, CONSTANT_OF_SHAPE),
    /* inference forms and constants */
    C("Dropout", 1, DROPOUT, lower_dropout), C("Constant", 1, IDENTITY, lower_constant),
};
#undef R
#undef C

static int default_domain(const char *dom) { return !dom || !*dom || !strcmp(dom, "ai.onnx"); }

/* The row for op_type at opset, or NULL; *first_since receives the first
 * opset any row covers (0 when the op is unknown). */
static const onnx_op_entry *find_entry(const char *op_type, int64_t opset, int *first_since) {
  const onnx_op_entry *best = NULL;
  *first_since = 0;
  for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++) {
    const onnx_op_entry *e = &op_table[i];
    if (strcmp(e->op_type, op_type)) continue;
    if (!*first_since || e->since < *first_since) *first_since = e->since;
    if (e->since <= opset && (!best || e->since > best->since)) best = e;
  }
  return best;
}

int onnx_op_supported(const char *domain, const char *op_type, int64_t opset, int *needs_opset) {
  if (needs_opset) *needs_opset = 0;
  if (!default_domain(domain)) return 0;
  int first;
  const onnx_op_entry *e = find_entry(op_type, opset, &first);
  if (!e && first && needs_opset) *needs_opset = first;
  return e != NULL;
}

int onnx_lower_node(onnx_node *n) {
  onnx_ctx *c = n->c;
  int first;
  const onnx_op_entry *e =
      default_domain(n->pb->domain) ? find_entry(n->op_type, c->opset, &first) : NULL;
  if (!e) /* the loader lists unsupported ops before lowering */
    return onnx_node_error(n, KILN_E_UNSUPPORTED, "unsupported op");
  for (size_t i = 0; i < n->pb->n_attribute; i++) {
    const onnx_attr_pb *a = n->pb->attribute[i];
    if (a->has_type && (a->type == ONNX_ATTR_GRAPH || a->type == ONNX_ATTR_GRAPHS))
      return onnx_node_error(n, KILN_E_UNSUPPORTED, "subgraph attribute '%s' is not supported",
                             a->name);
  }
  attr_get(n, "consumed_inputs"); /* a memory hint of opsets before 6 */
  int first_node = c->g->n_nodes;
  int rc = e->fn ? e->fn(n, e) : lower_generic(n, e);
  if (rc) return rc;
  /* every required kiln attribute of the nodes made is given: as an
   * attribute or, for `@N` attributes, as input N (an ONNX Expand without
   * its shape input, an Unsqueeze-13 without axes, ...) */
  for (int k = first_node; k < c->g->n_nodes; k++) {
    const ir_node *nd = &c->g->nodes[k];
    const ir_op_info *info = ir_op_get(nd->op);
    for (int i = 0; i < info->n_attrs; i++) {
      const ir_attr_schema *s = &info->attrs[i];
      if (!s->required || ir_attr_find(nd, s->name)) continue;
      if (s->operand >= 0 && ir_node_has_input(nd, s->operand)) continue;
      if (s->operand >= 0)
        return onnx_node_error(n, KILN_E_INVALID, "the input that gives '%s' is required",
                               s->name);
      return onnx_node_error(n, KILN_E_INVALID, "attribute '%s' is required", s->name);
    }
  }
  for (size_t i = 0; i < n->pb->n_attribute; i++)
    if (!n->attr_used[i])
      return onnx_node_error(n, KILN_E_UNSUPPORTED, "attribute '%s' is not supported",
                             n->pb->attribute[i]->name);
  for (size_t j = 0; j < n->pb->n_output; j++) {
    const char *nm = n->pb->output[j];
    if (!*nm || ir_value_find(c->g, nm) >= 0) continue;
    const onnx_name_info *ni = onnx_name_lookup(c, nm);
    if (ni && ni->used)
      return onnx_node_error(n, KILN_E_UNSUPPORTED, "output %zu ('%s') is not supported", j, nm);
  }
  sync_dtypes(c);
  return KILN_OK;
}

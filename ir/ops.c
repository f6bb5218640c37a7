/* The op table (from ops.def) and attribute schemas. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"

static ir_op_info op_table[IR_OP_COUNT] = {
#define OP(id, nm, min_in, max_in, min_out, max_out, cls, attrs, params, infer, eval) \
  [IR_OP_##id] = {nm, min_in, max_in, min_out, max_out, IR_CLASS_##cls, attrs, params, infer, eval, 0, NULL},
#include "ops.def"
#undef OP
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Parses one schema entry; aborts on a malformed table (an internal bug). */
static void parse_entry(const char *op, const char *e, size_t len, ir_attr_schema *s) {
  char buf[512];
  KILN_ASSERT(len < sizeof buf);
  memcpy(buf, e, len);
  buf[len] = 0;
  s->operand = -1;
  char *at = strchr(buf, '@');
  if (at) {
    *at = 0;
    s->operand = atoi(at + 1);
  }
  char *colon = strchr(buf, ':');
  if (!colon) {
    fprintf(stderr, "kiln: bad schema entry '%s' for op %s\n", buf, op);
    KILN_UNREACHABLE();
  }
  *colon = 0;
  s->name = kiln_xstrdup(buf);
  char *kind = colon + 1;
  char *def = strchr(kind, '=');
  int optional = 0;
  if (def) *def++ = 0;
  size_t kl = strlen(kind);
  if (kl && kind[kl - 1] == '?') {
    optional = 1;
    kind[kl - 1] = 0;
  }
  s->def.name = s->name;
  if (!strcmp(kind, "i")) s->kind = IR_ATTR_INT;
  else if (!strcmp(kind, "dt")) { s->kind = IR_ATTR_INT; s->is_dtype = 1; }
  else if (!strcmp(kind, "f")) s->kind = IR_ATTR_FLOAT;
  else if (!strcmp(kind, "s")) s->kind = IR_ATTR_STRING;
  else if (!strcmp(kind, "is")) s->kind = IR_ATTR_INTS;
  else if (!strcmp(kind, "fs")) s->kind = IR_ATTR_FLOATS;
  else if (!strcmp(kind, "t")) s->kind = IR_ATTR_TENSOR;
  else {
    fprintf(stderr, "kiln: bad attribute kind '%s' for %s.%s\n", kind, op, s->name);
    KILN_UNREACHABLE();
  }
  s->def.kind = s->kind;
  s->required = !optional && !def;
  if (def) {
    s->has_default = 1;
    switch (s->kind) {
    case IR_ATTR_INT:
      if (s->is_dtype) {
        ir_dtype t;
        KILN_ASSERT(ir_dtype_from_name(def, &t) == 0);
        s->def.i = t;
      } else {
        s->def.i = strtoll(def, NULL, 10);
      }
      break;
    case IR_ATTR_FLOAT: s->def.f = strtod(def, NULL); break;
    case IR_ATTR_STRING: s->def.s = kiln_xstrdup(def); break;
    case IR_ATTR_INTS:
    case IR_ATTR_FLOATS: {
      int n = 1;
      for (char *p = def; *p; p++) n += *p == ',';
      if (!*def) n = 0;
      s->def.n = n;
      if (s->kind == IR_ATTR_INTS) s->def.ints = kiln_xcalloc((size_t)n + 1, sizeof(int64_t));
      else s->def.floats = kiln_xcalloc((size_t)n + 1, sizeof(double));
      char *p = def;
      for (int k = 0; k < n; k++) {
        if (s->kind == IR_ATTR_INTS) s->def.ints[k] = strtoll(p, &p, 10);
        else s->def.floats[k] = strtod(p, &p);
        if (*p == ',') p++;
      }
      break;
    }
    default: KILN_UNREACHABLE();
    }
  }
}

static void init_table(void) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    ir_op_info *info = &op_table[op];
    const char *src = info->schema_src;
    int n = 0;
    for (const char *p = src; *p;) {
      while (*p == ' ') p++;
      if (!*p) break;
      n++;
      while (*p && *p != ' ') p++;
    }
    info->attrs = kiln_xcalloc((size_t)n + 1, sizeof(ir_attr_schema));
    info->n_attrs = n;
    int k = 0;
    for (const char *p = src; *p;) {
      while (*p == ' ') p++;
      if (!*p) break;
      const char *e = p;
      while (*p && *p != ' ') p++;
      parse_entry(info->name, e, (size_t)(p - e), &info->attrs[k++]);
    }
  }
}

const ir_op_info *ir_op_get(ir_op op) {
  KILN_ASSERT((unsigned)op < IR_OP_COUNT);
  pthread_once(&once, init_table);
  return &op_table[op];
}

const char *ir_op_name(ir_op op) {
  KILN_ASSERT((unsigned)op < IR_OP_COUNT);
  return op_table[op].name;
}

int ir_op_from_name(const char *name, ir_op *out) {
  for (int op = 0; op < IR_OP_COUNT; op++)
    if (strcmp(op_table[op].name, name) == 0) {
      *out = (ir_op)op;
      return 0;
    }
  return -1;
}

const char *ir_op_class_name(ir_op_class c) {
  static const char *names[] = {"elementwise", "broadcast", "injective",
                                "reduction",   "contraction", "opaque"};
  KILN_ASSERT((unsigned)c < IR_CLASS_COUNT);
  return names[c];
}

int ir_op_is_view(ir_op op) {
  return op == IR_OP_RESHAPE || op == IR_OP_FLATTEN || op == IR_OP_SQUEEZE ||
         op == IR_OP_UNSQUEEZE || op == IR_OP_IDENTITY || op == IR_OP_DROPOUT;
}

const ir_attr_schema *ir_op_attr_schema(ir_op op, const char *attr) {
  const ir_op_info *info = ir_op_get(op);
  for (int i = 0; i < info->n_attrs; i++)
    if (strcmp(info->attrs[i].name, attr) == 0) return &info->attrs[i];
  return NULL;
}

/* ---- shared helpers for op implementations ---------------------------------- */
int ir_broadcast_shapes(const ir_type *a, const ir_type *b, ir_type *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  ir_type o = *out;
  o.rank = r;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da == db || db == 1) o.dims[i] = da;
    else if (da == 1) o.dims[i] = db;
    else return -1;
  }
  *out = o;
  return 0;
}

void ir_broadcast_strides(const ir_type *in, const ir_type *out, int64_t *strides) {
  KILN_ASSERT(in->rank <= out->rank);
  int64_t s = 1;
  for (int i = out->rank - 1; i >= 0; i--) {
    int ii = i - (out->rank - in->rank);
    if (ii < 0) {
      strides[i] = 0;
      continue;
    }
    strides[i] = (in->dims[ii] == 1 && out->dims[i] != 1) ? 0 : s;
    s *= in->dims[ii];
  }
}

void ir_contig_strides(const ir_type *t, int64_t *strides) {
  int64_t s = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= t->dims[i];
  }
}

int ir_index_next(int64_t *idx, const int64_t *dims, int rank) {
  for (int i = rank - 1; i >= 0; i--) {
    if (++idx[i] < dims[i]) return 1;
    idx[i] = 0;
  }
  return 0;
}

const char *ir_dtype_set_str(unsigned set, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int t = 0; t < IR_DTYPE_COUNT && k < n; t++)
    if ((set & (1u << (unsigned)t)) && ir_dtype_supported((ir_dtype)t))
      k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? ", " : "", ir_dtype_name((ir_dtype)t));
  return buf;
}

/* NAME.h: the C header of an artifact. It is self-contained (it carries the
 * ABI types of include/kiln_artifact.h under the same include guard), so a
 * program on a machine without kiln needs only the header and the
 * artifact. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cg_internal.h"

/* include/kiln_artifact.h from ABI-BEGIN to ABI-END, verbatim (a unit test
 * compares the two). */
static const char abi_block[] =
    "/* ABI-BEGIN */\n"
    "#ifndef KILN_ARTIFACT_H\n"
    "#define KILN_ARTIFACT_H\n"
    "\n"
    "#include <stdint.h>\n"
    "\n"
    "#define KILN_ARTIFACT_ABI_VERSION 1\n"
    "#define KILN_ARTIFACT_MAX_RANK 8\n"
    "/* Alignment (bytes) of the workspace, the weights data and every tensor in\n"
    " * them. Caller-owned input and output buffers need only their element\n"
    " * type's natural alignment. */\n"
    "#define KILN_ARTIFACT_ALIGN 64\n"
    "/* Bytes of the header in front of the data in a NAME.weights file. */\n"
    "#define KILN_ARTIFACT_WEIGHTS_HEADER 64\n"
    "\n"
    "/* Status codes the entries return (0 is success). */\n"
    "#define KILN_ARTIFACT_OK 0\n"
    "#define KILN_ARTIFACT_E_NOMEM 1      /* the per-call workspace could not be allocated */\n"
    "#define KILN_ARTIFACT_E_ALIGN 2      /* workspace or weights not 64-byte aligned */\n"
    "#define KILN_ARTIFACT_E_NO_WEIGHTS 3 /* file weights not set (NAME_set_weights) */\n"
    "#define KILN_ARTIFACT_E_WEIGHTS 4    /* a weights image that does not belong to this model "
    "*/\n"
    "#define KILN_ARTIFACT_E_INDEX 5      /* an index input (gather) out of range */\n"
    "\n"
    "/* Where the weights live. */\n"
    "#define KILN_ARTIFACT_WEIGHTS_EMBEDDED 0 /* in the artifact's read-only data */\n"
    "#define KILN_ARTIFACT_WEIGHTS_FILE 1     /* in NAME.weights, given at run time */\n"
    "\n"
    "/* Element types (the numbering of kiln_dtype). bool is one byte, 0 or 1. */\n"
    "#define KILN_ARTIFACT_F32 0\n"
    "#define KILN_ARTIFACT_F16 1\n"
    "#define KILN_ARTIFACT_BF16 2\n"
    "#define KILN_ARTIFACT_F64 3\n"
    "#define KILN_ARTIFACT_I64 4\n"
    "#define KILN_ARTIFACT_I32 5\n"
    "#define KILN_ARTIFACT_I16 6\n"
    "#define KILN_ARTIFACT_I8 7\n"
    "#define KILN_ARTIFACT_U8 8\n"
    "#define KILN_ARTIFACT_BOOL 9\n"
    "\n"
    "/* One input or output: dense, C order. */\n"
    "typedef struct kiln_artifact_tensor {\n"
    "  const char *name;                     /* the model's name for the value */\n"
    "  int32_t dtype;                        /* KILN_ARTIFACT_F32, ... */\n"
    "  int32_t rank;                         /* 0 for a scalar */\n"
    "  int64_t dims[KILN_ARTIFACT_MAX_RANK]; /* dims[0..rank), the rest 0 */\n"
    "  uint64_t nbytes;                      /* product of dims * element size */\n"
    "} kiln_artifact_tensor;\n"
    "\n"
    "typedef struct kiln_artifact_metadata {\n"
    "  uint32_t abi_version;     /* KILN_ARTIFACT_ABI_VERSION of the writer */\n"
    "  uint32_t struct_size;     /* sizeof(kiln_artifact_metadata) of the writer */\n"
    "  const char *name;         /* the NAME prefix of the entry points */\n"
    "  const char *model;        /* the model's graph name */\n"
    "  const char *kiln_version; /* version of the kiln that compiled it */\n"
    "  const char *target_triple;\n"
    "  const char *target_cpu;\n"
    "  const char *target_features;\n"
    "  int32_t n_inputs;\n"
    "  int32_t n_outputs;\n"
    "  const kiln_artifact_tensor *inputs;  /* n_inputs entries, in entry order */\n"
    "  const kiln_artifact_tensor *outputs; /* n_outputs entries */\n"
    "  uint64_t workspace_size;  /* bytes of scratch one call needs (0: none) */\n"
    "  uint64_t workspace_align; /* KILN_ARTIFACT_ALIGN */\n"
    "  uint64_t weights_size;    /* bytes of weights data (without a file header) */\n"
    "  uint64_t weights_checksum; /* FNV-1a 64 of the weights data */\n"
    "  int32_t weights_mode;     /* KILN_ARTIFACT_WEIGHTS_EMBEDDED or _FILE */\n"
    "  int32_t reserved;         /* 0 */\n"
    "} kiln_artifact_metadata;\n"
    "\n"
    "/* The 64-byte header of a NAME.weights file; the data follows it. All\n"
    " * fields little-endian. */\n"
    "typedef struct kiln_artifact_weights_header {\n"
    "  char magic[8];            /* \"KILNWGT1\" */\n"
    "  uint32_t abi_version;     /* KILN_ARTIFACT_ABI_VERSION */\n"
    "  uint32_t header_size;     /* KILN_ARTIFACT_WEIGHTS_HEADER */\n"
    "  uint64_t data_size;       /* = metadata weights_size */\n"
    "  uint64_t checksum;        /* = metadata weights_checksum */\n"
    "  uint8_t reserved[32];     /* 0 */\n"
    "} kiln_artifact_weights_header;\n"
    "\n"
    "#endif /* KILN_ARTIFACT_H */\n"
    "/* ABI-END */\n";

const char *cg_abi_block(void) { return abi_block; }

/* C and C++ keywords, which a parameter must not be named. */
static const char *const keywords[] = {
    "auto",     "break",     "case",     "char",     "const",         "continue",     "default",
    "do",       "double",    "else",     "enum",     "extern",        "float",        "for",
    "goto",     "if",        "inline",   "int",      "long",          "register",     "restrict",
    "return",   "short",     "signed",   "sizeof",   "static",        "struct",       "switch",
    "typedef",  "union",     "unsigned", "void",     "volatile",      "while",        "bool",
    "true",     "false",     "class",    "new",      "delete",        "this",         "template",
    "typename", "namespace", "operator", "private",  "public",        "protected",    "virtual",
    "friend",   "try",       "catch",    "throw",    "using",         "nullptr",      "and",
    "or",       "not",       "xor",      "asm",      "explicit",      "mutable",      "export",
    "alignas",  "alignof",   "decltype", "noexcept", "static_assert", "thread_local", "constexpr",
    "char16_t", "char32_t",  "wchar_t",
};

void cg_c_ident(const char *s, char *buf, size_t n) {
  KILN_ASSERT(n >= 4);
  size_t k = 0;
  /* a leading digit, or a reserved "_X" / "__" start, gets a 'v' in front */
  if (isdigit((unsigned char)s[0]) ||
      (s[0] == '_' && (isupper((unsigned char)s[1]) || s[1] == '_')))
    buf[k++] = 'v';
  for (const char *p = s; *p && k + 2 < n; p++) {
    unsigned char c = (unsigned char)*p;
    buf[k++] = (char)(isalnum(c) && c < 128 ? c : '_');
  }
  if (k == 0) buf[k++] = 'v';
  buf[k] = 0;
  for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
    if (!strcmp(buf, keywords[i])) {
      buf[k++] = '_';
      buf[k] = 0;
      break;
    }
}

static const char *c_elem_type(ir_dtype t) {
  switch (t) {
  case IR_F32: return "float";
  case IR_F64: return "double";
  case IR_I64: return "int64_t";
  case IR_I32: return "int32_t";
  case IR_I16: return "int16_t";
  case IR_I8: return "int8_t";
  case IR_U8:
  case IR_BOOL: return "uint8_t";
  default: KILN_UNREACHABLE();
  }
}

/* A growable text buffer. */
typedef struct {
  char *s;
  size_t n, cap;
} text;

static void tprintf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    KILN_ASSERT(w >= 0);
    if ((size_t)w < t->cap - t->n) {
      t->n += (size_t)w;
      return;
    }
    t->cap = t->cap * 2 + (size_t)w + 1;
    t->s = kiln_xrealloc(t->s, t->cap);
  }
}

/* A value name inside a C comment: no "*" followed by "/" can end it early. */
static void comment_safe(const char *s, char *buf, size_t n) {
  size_t k = 0;
  for (const char *p = s; *p && k + 1 < n; p++)
    buf[k++] = (*p == '*' && p[1] == '/') ? '_' : (*p == '\n' ? ' ' : *p);
  buf[k] = 0;
}

char *cg_header_text(const ir_graph *g, const cg_artifact *a, const char *triple, const char *cpu) {
  text t = {kiln_xmalloc(4096), 0, 4096};
  t.s[0] = 0;
  char guard[CG_MAX_NAME + 16], tbuf[256], cbuf[IR_MAX_NAME + 1];
  snprintf(guard, sizeof guard, "KILN_MODEL_%s_H", a->name);
  for (char *p = guard; *p; p++) *p = (char)toupper((unsigned char)*p);
  comment_safe(g->name ? g->name : "", cbuf, sizeof cbuf);
  tprintf(&t, "/* %s.h: generated by kiln %s from model '%s'. Do not edit.\n", a->name,
          KILN_VERSION, cbuf);
  tprintf(&t, " * Target: %s (cpu %s). The entry points are described in kiln's\n", triple, cpu);
  tprintf(&t, " * docs/abi.md; every call returns 0 or a KILN_ARTIFACT_E_* status. */\n");
  tprintf(&t, "#ifndef %s\n#define %s\n\n", guard, guard);
  tprintf(&t, "%s\n", abi_block);
  tprintf(&t, "#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  tprintf(&t, "/* Inputs and outputs, dense and in C order (bool: one byte, 0 or 1):\n");
  for (int p = 0; p < g->n_inputs + g->n_outputs; p++) {
    int in = p < g->n_inputs;
    int v = in ? g->inputs[p] : g->outputs[p - g->n_inputs];
    comment_safe(g->values[v].name, cbuf, sizeof cbuf);
    tprintf(&t, " *   %-6s %-16s %s  (\"%s\")\n", in ? "input" : "output",
            in ? a->in_cname[p] : a->out_cname[p - g->n_inputs],
            ir_type_str(&g->values[v].type, tbuf, sizeof tbuf), cbuf);
  }
  tprintf(&t, " */\n");
  tprintf(&t, "#define %s_NUM_INPUTS %d\n", a->name, g->n_inputs);
  tprintf(&t, "#define %s_NUM_OUTPUTS %d\n", a->name, g->n_outputs);
  tprintf(&t, "#define %s_WORKSPACE_SIZE %lldu /* bytes, KILN_ARTIFACT_ALIGN-aligned */\n", a->name,
          (long long)a->workspace_size);
  tprintf(&t, "#define %s_WEIGHTS_SIZE %lldu /* bytes */\n", a->name, (long long)a->weights_size);
  tprintf(&t, "#define %s_WEIGHTS_IN_FILE %d\n\n", a->name, a->weights_mode == CG_WEIGHTS_FILE);
  if (a->has_typed) {
    tprintf(&t, "/* Runs the model with a workspace allocated for the call. */\n");
    tprintf(&t, "int %s_run(", a->name);
    for (int p = 0; p < g->n_inputs + g->n_outputs; p++) {
      int in = p < g->n_inputs;
      int v = in ? g->inputs[p] : g->outputs[p - g->n_inputs];
      tprintf(&t, "%s%s%s *%s", p ? ", " : "", in ? "const " : "",
              c_elem_type(g->values[v].type.dtype),
              in ? a->in_cname[p] : a->out_cname[p - g->n_inputs]);
    }
    if (g->n_inputs + g->n_outputs == 0) tprintf(&t, "void");
    tprintf(&t, ");\n\n");
  } else {
    tprintf(&t, "/* More than 127 inputs and outputs: no typed entry; use %s_run_packed. */\n\n",
            a->name);
  }
  tprintf(&t,
          "/* inputs[i] and outputs[j] in metadata order. workspace: NULL (allocated per\n"
          " * call), or %s_WORKSPACE_SIZE bytes aligned to KILN_ARTIFACT_ALIGN that no\n"
          " * concurrent call uses. */\n",
          a->name);
  tprintf(&t, "int %s_run_packed(void *const *inputs, void *const *outputs, void *workspace);\n",
          a->name);
  tprintf(&t, "/* The same with explicit weights data (NULL: the default weights). */\n");
  tprintf(&t,
          "int %s_run_packed_w(void *const *inputs, void *const *outputs, void *workspace,\n"
          "    const void *weights);\n",
          a->name);
  tprintf(&t, "const kiln_artifact_metadata *%s_metadata(void);\n", a->name);
  tprintf(&t,
          "/* Threads the artifact's kernels may use from now on (n <= 0: the default,\n"
          " * $KILN_NUM_THREADS or the online CPUs; at most 64); returns the count in\n"
          " * effect. Results do not depend on it. */\n"
          "int %s_set_threads(int n);\n",
          a->name);
  if (a->weights_mode == CG_WEIGHTS_FILE)
    tprintf(&t,
            "/* Makes the data of a %s.weights image (the whole file, in memory at a\n"
            " * KILN_ARTIFACT_ALIGN-aligned address, kept alive by the caller) the default\n"
            " * weights. Call it before running, not during a run. */\n"
            "int %s_set_weights(const void *image, uint64_t size);\n",
            a->name, a->name);
  tprintf(&t, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);
  return t.s;
}

/* The .kir printer: ir_graph -> text (docs/kir.md is the spec; the parser is
 * frontend/kir_parser.c).
 *
 * Contract: the output is canonical, and for every graph g that verifies,
 * print(parse(print(g))) == print(g) byte for byte (with the same options).
 * Everything below serves that:
 *   - a fixed order: inputs (input order), constants (value order), live
 *     nodes (node order), one `output` line; attributes are kept sorted by
 *     ir_set_attr;
 *   - numbers in one spelling each: integers in decimal, reals as the
 *     shortest decimal that reads back to the same value (see fmt_real),
 *     always with a `.` or an exponent so they read back as reals;
 *   - names bare when they are plain, else quoted with escapes such that
 *     the output is valid UTF-8 whatever bytes a name holds;
 *   - constant data as it came (initialiser, file reference, `...`), inline
 *     when small, and otherwise in the side file or elided.
 * Numbers are formatted in the "C" locale whatever the process's locale is.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir.h"

/* Side-file data starts at multiples of this (enough for any vector load). */
#define SIDE_ALIGN 64
/* Reals are written positionally when their decimal exponent is in this
 * range (0.00001 .. 9999999999999999), else as d.ddde±X. */
#define POS_EXP_MIN (-5)
#define POS_EXP_MAX 15

void ir_print_opts_default(ir_print_opts *o) {
  memset(o, 0, sizeof *o);
  o->inline_limit = 16;
  o->side_file = NULL;
  o->side_ref = NULL;
  o->show_offsets = 0;
}

typedef struct {
  FILE *f;
  const ir_print_opts *o;
  kiln_diag *d;
  FILE *side; /* opened on first use */
  int rc;
} pctx;

/* ---- numbers ------------------------------------------------------------------ */
/* The shortest decimal that reads back as x: as a double (f32 = 0) or, when
 * f32, through strtof (x must then be a float value). Writes at most 40 bytes. */
static void fmt_real(char *out, double x, int f32) {
  if (isnan(x)) {
    strcpy(out, "nan");
    return;
  }
  if (isinf(x)) {
    strcpy(out, x < 0 ? "-inf" : "inf");
    return;
  }
  char tmp[64];
  for (int p = 1; p <= 17; p++) {
    snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
    if (f32 ? strtof(tmp, NULL) == (float)x : strtod(tmp, NULL) == x) break;
  }
  /* tmp is [-]D[.DDD]e(+|-)XX: take the digits and the exponent */
  char digits[32];
  int nd = 0, neg = tmp[0] == '-';
  const char *q = tmp + neg;
  for (; *q && *q != 'e'; q++)
    if (*q != '.') digits[nd++] = *q;
  KILN_ASSERT(*q == 'e' && nd > 0 && nd < 20);
  int e = atoi(q + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  char *w = out;
  if (neg) *w++ = '-';
  if (e >= POS_EXP_MIN && e <= POS_EXP_MAX) {
    if (e >= 0) {
      for (int i = 0; i <= e; i++) *w++ = i < nd ? digits[i] : '0';
      *w++ = '.';
      if (nd > e + 1)
        for (int i = e + 1; i < nd; i++) *w++ = digits[i];
      else
        *w++ = '0';
    } else {
      *w++ = '0';
      *w++ = '.';
      for (int i = 0; i < -e - 1; i++) *w++ = '0';
      for (int i = 0; i < nd; i++) *w++ = digits[i];
    }
    *w = 0;
  } else {
    *w++ = digits[0];
    if (nd > 1) {
      *w++ = '.';
      for (int i = 1; i < nd; i++) *w++ = digits[i];
    }
    sprintf(w, "e%d", e);
  }
}

/* Initialiser arguments are doubles; whole numbers (seeds, fans) print as
 * integers, which the parser reads back exactly. */
static void fmt_arg(char *out, double x) {
  if (isfinite(x) && x == floor(x) && fabs(x) <= 0x1.0p53 && !(x == 0 && signbit(x)))
    sprintf(out, "%lld", (long long)x);
  else
    fmt_real(out, x, 0);
}

/* ---- names and strings ---------------------------------------------------------- */
int ir_utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  int len;
  unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;      /* no overlong forms */
    if (c == 0xed) hi = 0x9f;      /* no surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;      /* nothing above U+10FFFF */
  } else
    return 0;
  if ((size_t)len > n) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (int i = 2; i < len; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return len;
}

/* A quoted string: `\\` `\"` `\n` `\t`, other control bytes and bytes that
 * are not part of well-formed UTF-8 as \xHH; everything else as is. */
static void put_quoted(FILE *f, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t n = strlen(str);
  fputc('"', f);
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c == '\\' || c == '"') {
      fputc('\\', f);
      fputc((int)c, f);
      i++;
    } else if (c == '\n') {
      fputs("\\n", f);
      i++;
    } else if (c == '\t') {
      fputs("\\t", f);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      fprintf(f, "\\x%02x", c);
      i++;
    } else {
      int len = ir_utf8_len(s + i, n - i);
      if (len == 0) {
        fprintf(f, "\\x%02x", c);
        i++;
      } else {
        fwrite(s + i, 1, (size_t)len, f);
        i += (size_t)len;
      }
    }
  }
  fputc('"', f);
}

static int is_name_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.';
}

/* Value and node names (after % and @): bare when [A-Za-z0-9_.]+. */
static void put_name(FILE *f, const char *s) {
  int plain = *s != 0;
  for (const char *p = s; *p && plain; p++) plain = is_name_char((unsigned char)*p);
  if (plain) fputs(s, f);
  else put_quoted(f, s);
}

/* Graph names: bare when an identifier, [A-Za-z_][A-Za-z0-9_.]*. */
static void put_ident_or_string(FILE *f, const char *s) {
  int plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_';
  for (const char *p = s; *p && plain; p++) plain = is_name_char((unsigned char)*p);
  if (plain) fputs(s, f);
  else put_quoted(f, s);
}

static void put_value(FILE *f, const ir_graph *g, int v) {
  fputc('%', f);
  put_name(f, g->values[v].name);
}

static void put_type(FILE *f, const ir_type *t) {
  fprintf(f, "%s[", (unsigned)t->dtype < IR_DTYPE_COUNT ? ir_dtype_name(t->dtype) : "?");
  for (int i = 0; i < t->rank && i < IR_MAX_RANK; i++)
    fprintf(f, "%s%lld", i ? "," : "", (long long)t->dims[i]);
  fputc(']', f);
}

/* `: TYPE` when typed, then ` at OFFSET` when offsets are shown. */
static void put_value_decl(pctx *pc, const ir_graph *g, int v) {
  const ir_value *val = &g->values[v];
  put_value(pc->f, g, v);
  if (val->typed) {
    fputs(": ", pc->f);
    put_type(pc->f, &val->type);
  }
  if (pc->o->show_offsets && val->offset >= 0) fprintf(pc->f, " at %lld", (long long)val->offset);
}

/* ---- tensor literals ------------------------------------------------------------- */
static void put_elem(FILE *f, ir_dtype dt, const void *data, int64_t i) {
  char buf[64];
  switch (dt) {
  case IR_BOOL: fputs(ir_load_i(dt, data, i) ? "true" : "false", f); break;
  case IR_F64: fmt_real(buf, ir_load_f(dt, data, i), 0); fputs(buf, f); break;
  case IR_F32:
  case IR_F16:
  case IR_BF16: /* every f16/bf16 value is a float value */
    fmt_real(buf, ir_load_f(dt, data, i), 1);
    fputs(buf, f);
    break;
  default: fprintf(f, "%lld", (long long)ir_load_i(dt, data, i)); break;
  }
}

/* Scalars bare, everything else as a flat [a, b, ...] in C order. */
static void put_literal(FILE *f, const ir_type *t, const void *data) {
  if ((unsigned)t->dtype >= IR_DTYPE_COUNT || t->rank < 0 || t->rank > IR_MAX_RANK) {
    fputs("...", f); /* not a valid type: nothing sensible to print */
    return;
  }
  int64_t n = ir_type_numel(t);
  if (t->rank == 0) {
    put_elem(f, t->dtype, data, 0);
    return;
  }
  fputc('[', f);
  for (int64_t i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    put_elem(f, t->dtype, data, i);
  }
  fputc(']', f);
}

/* ---- constant data ----------------------------------------------------------------- */
/* Appends the data to the side file at the next SIDE_ALIGN boundary; the
 * offset in *off. */
static int side_write(pctx *pc, const void *data, int64_t nbytes, int64_t *off) {
  const char *path = pc->o->side_file;
  if (!pc->side) {
    pc->side = fopen(path, "ab");
    if (!pc->side)
      return kiln_diag_error(pc->d, KILN_E_IO, "%s: cannot open: %s", path, strerror(errno));
  }
  if (fseeko(pc->side, 0, SEEK_END) != 0)
    return kiln_diag_error(pc->d, KILN_E_IO, "%s: cannot seek: %s", path, strerror(errno));
  off_t end = ftello(pc->side);
  if (end < 0)
    return kiln_diag_error(pc->d, KILN_E_IO, "%s: cannot tell: %s", path, strerror(errno));
  static const unsigned char zeros[SIDE_ALIGN];
  size_t pad = (size_t)((SIDE_ALIGN - end % SIDE_ALIGN) % SIDE_ALIGN);
  if ((pad && fwrite(zeros, 1, pad, pc->side) != pad) ||
      (nbytes && fwrite(data, 1, (size_t)nbytes, pc->side) != (size_t)nbytes))
    return kiln_diag_error(pc->d, KILN_E_IO, "%s: cannot write: %s", path, strerror(errno));
  *off = (int64_t)end + (int64_t)pad;
  return KILN_OK;
}

/* Drops empty and "." components of an absolute path, in place, exactly as
 * the parser does when it resolves file() paths (".." stays: resolving it
 * needs the file system), so that a printed path reads back unchanged. */
static void norm_path(char *p) {
  char *w = p + 1, *r = p + 1;
  while (*r) {
    while (*r == '/') r++;
    char *e = r;
    while (*e && *e != '/') e++;
    size_t len = (size_t)(e - r);
    if (len && !(len == 1 && r[0] == '.')) {
      if (w > p + 1) *w++ = '/';
      memmove(w, r, len);
      w += len;
    }
    r = e;
  }
  *w = 0;
}

/* IR_CSRC_FILE paths print absolute and normalised: a relative one is taken
 * from the graph's base directory (and that, if relative, from the working
 * directory). */
static void put_file_ref(FILE *f, const ir_graph *g, const char *file, int64_t off) {
  char buf[8192];
  if (file[0] == '/') {
    snprintf(buf, sizeof buf, "%s", file);
  } else {
    const char *base = g->base_dir && *g->base_dir ? g->base_dir : ".";
    char cwd[4096];
    if (base[0] != '/' && getcwd(cwd, sizeof cwd))
      snprintf(buf, sizeof buf, "%s/%s/%s", cwd, base, file);
    else
      snprintf(buf, sizeof buf, "%s/%s", base, file);
  }
  if (buf[0] == '/') norm_path(buf);
  fputs("file(", f);
  put_quoted(f, buf);
  fprintf(f, ", offset=%lld)", (long long)off);
}

static void put_init(FILE *f, const ir_init_spec *s) {
  fputs(s->name ? s->name : "?", f);
  if (s->n_args <= 0) return;
  fputc('(', f);
  for (int k = 0; k < s->n_args && k < 4; k++) {
    char buf[64];
    fmt_arg(buf, s->arg_vals[k]);
    fprintf(f, "%s%s=%s", k ? ", " : "", s->arg_names[k] ? s->arg_names[k] : "?", buf);
  }
  fputc(')', f);
}

static int put_cdata(pctx *pc, const ir_graph *g, const ir_value *v) {
  FILE *f = pc->f;
  switch (v->src) {
  case IR_CSRC_ELIDED: fputs("...", f); return KILN_OK;
  case IR_CSRC_INIT:
    if (v->init.name) {
      put_init(f, &v->init);
      return KILN_OK;
    }
    break;
  case IR_CSRC_FILE:
    if (v->file) {
      put_file_ref(f, g, v->file, v->file_offset);
      return KILN_OK;
    }
    break;
  case IR_CSRC_INLINE: break;
  }
  if (!v->data) {
    fputs("...", f);
    return KILN_OK;
  }
  int64_t n = ir_type_numel(&v->type);
  if (n <= pc->o->inline_limit) {
    put_literal(f, &v->type, v->data);
  } else if (pc->o->side_file) {
    int64_t off = 0;
    int rc = side_write(pc, v->data, ir_type_nbytes(&v->type), &off);
    if (rc) return rc;
    fputs("file(", f);
    put_quoted(f, pc->o->side_ref ? pc->o->side_ref : pc->o->side_file);
    fprintf(f, ", offset=%lld)", (long long)off);
  } else {
    fputs("...", f);
  }
  return KILN_OK;
}

/* ---- attributes ----------------------------------------------------------------------- */
static void put_attr(FILE *f, const ir_node *n, const ir_attr *a) {
  char buf[64];
  fprintf(f, "%s = ", a->name);
  switch (a->kind) {
  case IR_ATTR_INT: {
    const ir_attr_schema *s = ir_op_attr_schema(n->op, a->name);
    if (s && s->is_dtype && a->i >= 0 && a->i < IR_DTYPE_COUNT)
      fputs(ir_dtype_name((ir_dtype)a->i), f);
    else
      fprintf(f, "%lld", (long long)a->i);
    break;
  }
  case IR_ATTR_FLOAT:
    /* float attributes hold float32 values (ir.h) */
    fmt_real(buf, (double)(float)a->f, 1);
    fputs(buf, f);
    break;
  case IR_ATTR_STRING: put_quoted(f, a->s ? a->s : ""); break;
  case IR_ATTR_INTS:
    fputc('[', f);
    for (int i = 0; i < a->n; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
    fputc(']', f);
    break;
  case IR_ATTR_FLOATS:
    fputc('[', f);
    for (int i = 0; i < a->n; i++) {
      fmt_real(buf, (double)(float)a->floats[i], 1);
      fprintf(f, "%s%s", i ? ", " : "", buf);
    }
    fputc(']', f);
    break;
  case IR_ATTR_TENSOR:
    put_type(f, &a->t.type);
    fputc(' ', f);
    if (a->t.data) put_literal(f, &a->t.type, a->t.data);
    else fputs("...", f);
    break;
  default: fputs("?", f); break;
  }
}

/* ---- graphs ------------------------------------------------------------------------------ */
static void indent(FILE *f, int n) {
  for (int i = 0; i < n; i++) fputc(' ', f);
}

static int print_graph(pctx *pc, const ir_graph *g, int ind);

static int print_node(pctx *pc, const ir_graph *g, const ir_node *n, int ind) {
  FILE *f = pc->f;
  indent(f, ind);
  for (int j = 0; j < n->n_out; j++) {
    if (j) fputs(", ", f);
    put_value_decl(pc, g, n->out[j]);
  }
  fprintf(f, " = %s(", ir_op_name(n->op));
  for (int k = 0; k < n->n_in; k++) {
    if (k) fputs(", ", f);
    if (n->in[k] < 0) fputc('_', f);
    else put_value(f, g, n->in[k]);
  }
  fputc(')', f);
  if (n->n_attrs > 0) {
    fputs(" {", f);
    for (int k = 0; k < n->n_attrs; k++) {
      if (k) fputs(", ", f);
      put_attr(f, n, &n->attrs[k]);
    }
    fputc('}', f);
  }
  if (n->name && *n->name) {
    fputs(" @", f);
    put_name(f, n->name);
  }
  if (n->body) {
    fputc(' ', f);
    int rc = print_graph(pc, n->body, ind);
    if (rc) return rc;
  } else {
    fputc('\n', f);
  }
  return KILN_OK;
}

/* Prints `graph NAME { ... }` with statements indented by ind + 2; the
 * header itself is not indented (the caller places it). */
static int print_graph(pctx *pc, const ir_graph *g, int ind) {
  FILE *f = pc->f;
  fputs("graph ", f);
  put_ident_or_string(f, g->name && *g->name ? g->name : "main");
  if (pc->o->show_offsets && g->arena_bytes >= 0)
    fprintf(f, " arena %lld", (long long)g->arena_bytes);
  fputs(" {\n", f);
  for (int i = 0; i < g->n_inputs; i++) {
    indent(f, ind + 2);
    fputs("input ", f);
    put_value_decl(pc, g, g->inputs[i]);
    fputc('\n', f);
  }
  for (int v = 0; v < g->n_values; v++) {
    const ir_value *val = &g->values[v];
    if (val->dead || val->kind != IR_VAL_CONST) continue;
    indent(f, ind + 2);
    fputs(val->is_param ? "param " : "const ", f);
    put_value_decl(pc, g, v);
    fputs(" = ", f);
    int rc = put_cdata(pc, g, val);
    if (rc) return rc;
    fputc('\n', f);
  }
  for (int i = 0; i < g->n_nodes; i++) {
    if (g->nodes[i].dead) continue;
    int rc = print_node(pc, g, &g->nodes[i], ind + 2);
    if (rc) return rc;
  }
  if (g->n_outputs > 0) {
    indent(f, ind + 2);
    fputs("output ", f);
    for (int i = 0; i < g->n_outputs; i++) {
      if (i) fputs(", ", f);
      put_value(f, g, g->outputs[i]);
    }
    fputc('\n', f);
  }
  indent(f, ind);
  fputs("}\n", f);
  return KILN_OK;
}

int ir_print(const ir_graph *g, FILE *f, const ir_print_opts *o, kiln_diag *d) {
  KILN_ASSERT(g && f);
  ir_print_opts def;
  if (!o) {
    ir_print_opts_default(&def);
    o = &def;
  }
  /* numbers in the "C" locale, whatever the process has set */
  locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  locale_t old = cloc ? uselocale(cloc) : (locale_t)0;
  pctx pc = {f, o, d, NULL, KILN_OK};
  int rc = print_graph(&pc, g, 0);
  if (pc.side && fclose(pc.side) != 0 && !rc)
    rc = kiln_diag_error(d, KILN_E_IO, "%s: cannot write: %s", o->side_file, strerror(errno));
  if (!rc && ferror(f)) rc = kiln_diag_error(d, KILN_E_IO, "cannot write the IR: %s", strerror(errno));
  if (cloc) {
    uselocale(old);
    freelocale(cloc);
  }
  return rc;
}

char *ir_print_str(const ir_graph *g, const ir_print_opts *o, kiln_diag *d) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) {
    kiln_diag_error(d, KILN_E_NOMEM, "cannot open a memory stream: %s", strerror(errno));
    return NULL;
  }
  int rc = ir_print(g, f, o, d);
  if (fclose(f) != 0 && !rc) rc = kiln_diag_error(d, KILN_E_NOMEM, "cannot print to memory");
  if (rc) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* The .kir parser: text -> ir_graph (spec: docs/kir.md; contract: kir.h).
 *
 * A hand-written lexer with one token of lookahead feeds a recursive-descent
 * parser whose only recursion is on fused-node bodies (bounded by
 * KIR_MAX_DEPTH); lists are flat and read in loops. The text is a byte
 * buffer with a length: NUL bytes are errors, bytes >= 0x80 are allowed only
 * in strings and comments. Sizes from the text are checked before use: a
 * type's rank and element count before anything is allocated for it,
 * literal data is grown only as elements actually appear, initialiser data
 * counts against KIR_MAX_INIT_BYTES and comes from
 * ir_graph_alloc_data_checked, and file() data is mapped range-checked by
 * ir_graph_map_file.
 *
 * The parser checks what needs the text's positions: names (defined once,
 * before use), op names, attribute names and kinds against the op's schema,
 * operand and result counts, literal counts and ranges. Shapes are left to
 * infer-shapes; ir_verify runs on the result for everything structural.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/kir.h"

#define KIR_MAX_PATH 4096 /* bytes of a resolved file() path or base directory */

typedef enum {
  T_EOF,
  T_IDENT,
  T_INT,
  T_FLOAT,
  T_STRING,
  T_VNAME, /* %name: text is the name */
  T_NNAME, /* @name */
  T_LBRACE,
  T_RBRACE,
  T_LPAREN,
  T_RPAREN,
  T_LBRACK,
  T_RBRACK,
  T_COMMA,
  T_COLON,
  T_EQ,
  T_ELLIPSIS,
} tkind;

typedef struct {
  const char *file; /* name in messages */
  const unsigned char *s;
  size_t len, i;
  int line, col; /* of s[i], 1-based; columns count bytes */
  kiln_diag *d;
  /* the current token */
  tkind tk;
  int tline, tcol;
  char *tb; /* its text, NUL-terminated: decoded for strings and quoted names */
  size_t tn, tcap;
  char base_dir[KIR_MAX_PATH];
  int64_t init_bytes; /* initialiser data allocated so far */
  unsigned char *lit; /* scratch for literal data and attribute lists */
  size_t lit_cap;
} parser;

#define TRY(x)                 \
  do {                         \
    int rc_ = (x);             \
    if (rc_) return rc_;       \
  } while (0)

/* ---- messages -------------------------------------------------------------------- */
/* A name or token text fit for a message: at most 64 bytes, control and
 * non-ASCII bytes as '?'. */
static const char *shown(const char *s, char *buf, size_t cap) {
  size_t k = 0, i = 0;
  for (; s[i] && k + 4 < cap && i < 64; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[k++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
  }
  if (s[i]) {
    buf[k++] = '.';
    buf[k++] = '.';
    buf[k++] = '.';
  }
  buf[k] = 0;
  return buf;
}

static int err_at(parser *p, int line, int col, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int err_at(parser *p, int line, int col, int code, const char *fmt, ...) {
  char msg[3072];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return kiln_diag_error(p->d, code, "%s:%d:%d: %s", p->file, line, col, msg);
}

#define err_tok(p, code, ...) err_at((p), (p)->tline, (p)->tcol, (code), __VA_ARGS__)

static const char *tok_desc(const parser *p, char *buf, size_t cap) {
  char s[80];
  switch (p->tk) {
  case T_EOF: return "the end of the input";
  case T_IDENT: snprintf(buf, cap, "'%s'", shown(p->tb, s, sizeof s)); return buf;
  case T_INT:
  case T_FLOAT: snprintf(buf, cap, "the number %s", shown(p->tb, s, sizeof s)); return buf;
  case T_STRING: return "a string";
  case T_VNAME: snprintf(buf, cap, "'%%%s'", shown(p->tb, s, sizeof s)); return buf;
  case T_NNAME: snprintf(buf, cap, "'@%s'", shown(p->tb, s, sizeof s)); return buf;
  case T_LBRACE: return "'{'";
  case T_RBRACE: return "'}'";
  case T_LPAREN: return "'('";
  case T_RPAREN: return "')'";
  case T_LBRACK: return "'['";
  case T_RBRACK: return "']'";
  case T_COMMA: return "','";
  case T_COLON: return "':'";
  case T_EQ: return "'='";
  case T_ELLIPSIS: return "'...'";
  }
  return "?";
}

static int err_expected(parser *p, const char *what) {
  char b[128];
  return err_tok(p, KILN_E_PARSE, "expected %s, found %s", what, tok_desc(p, b, sizeof b));
}

/* ---- lexer ------------------------------------------------------------------------- */
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_name_char(int c) { return is_alpha(c) || is_digit(c) || c == '.'; }

static int peek(const parser *p, size_t k) { return p->i + k < p->len ? p->s[p->i + k] : -1; }

static void adv(parser *p) {
  if (p->s[p->i] == '\n') {
    p->line++;
    p->col = 1;
  } else {
    p->col++;
  }
  p->i++;
}

/* Token text grows only to the lexer's limits (names, numbers, strings). */
static void tb_put(parser *p, char c) {
  if (p->tn + 2 > p->tcap) {
    p->tcap = p->tcap ? p->tcap * 2 : 256;
    p->tb = kiln_xrealloc(p->tb, p->tcap);
  }
  p->tb[p->tn++] = c;
  p->tb[p->tn] = 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A string at p->s[p->i] == '"', decoded into the token text. Errors about
 * the whole string point at the token's start. */
static int lex_string(parser *p) {
  adv(p);
  for (;;) {
    if (p->i >= p->len || p->s[p->i] == '\n')
      return err_tok(p, KILN_E_PARSE, "unterminated string");
    unsigned c = p->s[p->i];
    if (c == '"') {
      adv(p);
      return KILN_OK;
    }
    if (c == 0) return err_at(p, p->line, p->col, KILN_E_PARSE, "NUL byte in the input");
    if (c < 0x20 || c == 0x7f)
      return err_at(p, p->line, p->col, KILN_E_PARSE,
                    "control byte 0x%02x in a string (write it as an escape)", c);
    if (c == '\\') {
      int el = p->line, ec = p->col;
      adv(p);
      int e = peek(p, 0);
      switch (e) {
      case '\\': tb_put(p, '\\'); adv(p); break;
      case '"': tb_put(p, '"'); adv(p); break;
      case 'n': tb_put(p, '\n'); adv(p); break;
      case 't': tb_put(p, '\t'); adv(p); break;
      case 'x': {
        int h1 = hexval(peek(p, 1)), h2 = hexval(peek(p, 2));
        if (h1 < 0 || h2 < 0)
          return err_at(p, el, ec, KILN_E_PARSE, "\\x needs two hexadecimal digits");
        if (h1 == 0 && h2 == 0)
          return err_at(p, el, ec, KILN_E_PARSE, "a string cannot hold a NUL byte (\\x00)");
        tb_put(p, (char)(h1 * 16 + h2));
        adv(p);
        adv(p);
        adv(p);
        break;
      }
      case -1:
      case '\n': return err_tok(p, KILN_E_PARSE, "unterminated string");
      default:
        if (e > 0x20 && e < 0x7f)
          return err_at(p, el, ec, KILN_E_PARSE, "unknown escape '\\%c'", e);
        return err_at(p, el, ec, KILN_E_PARSE, "unknown escape (backslash before byte 0x%02x)", e);
      }
    } else {
      tb_put(p, (char)c);
      adv(p);
    }
    if (p->tn > KIR_MAX_STRING)
      return err_tok(p, KILN_E_PARSE, "string longer than %d bytes", KIR_MAX_STRING);
  }
}

/* The name after % or @: [A-Za-z0-9_.]+ or a non-empty string. */
static int lex_name(parser *p, char sigil) {
  adv(p);
  if (peek(p, 0) == '"') {
    TRY(lex_string(p));
    if (p->tn == 0) return err_tok(p, KILN_E_PARSE, "empty name after '%c'", sigil);
  } else if (is_name_char(peek(p, 0))) {
    while (is_name_char(peek(p, 0))) {
      if (p->tn == IR_MAX_NAME) break;
      tb_put(p, (char)p->s[p->i]);
      adv(p);
    }
    if (is_name_char(peek(p, 0)))
      return err_tok(p, KILN_E_PARSE, "name longer than %d bytes", IR_MAX_NAME);
  } else {
    return err_tok(p, KILN_E_PARSE, "expected a name or a string after '%c'", sigil);
  }
  if (p->tn > IR_MAX_NAME)
    return err_tok(p, KILN_E_PARSE, "name longer than %d bytes", IR_MAX_NAME);
  return KILN_OK;
}

/* -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?, or -inf. */
static int lex_number(parser *p) {
  size_t st = p->i;
  if (peek(p, 0) == '-') {
    if (!is_digit(peek(p, 1))) {
      if (peek(p, 1) == 'i' && peek(p, 2) == 'n' && peek(p, 3) == 'f' &&
          !is_name_char(peek(p, 4))) {
        for (int k = 0; k < 4; k++) adv(p);
        for (const char *c = "-inf"; *c; c++) tb_put(p, *c);
        p->tk = T_FLOAT;
        return KILN_OK;
      }
      return err_tok(p, KILN_E_PARSE, "expected a number after '-'");
    }
    adv(p);
  }
  p->tk = T_INT;
  while (is_digit(peek(p, 0))) adv(p);
  if (peek(p, 0) == '.' && is_digit(peek(p, 1))) {
    adv(p);
    while (is_digit(peek(p, 0))) adv(p);
    p->tk = T_FLOAT;
  }
  if (peek(p, 0) == 'e' || peek(p, 0) == 'E') {
    size_t k = (peek(p, 1) == '+' || peek(p, 1) == '-') ? 2 : 1;
    if (is_digit(peek(p, k))) {
      while (k--) adv(p);
      while (is_digit(peek(p, 0))) adv(p);
      p->tk = T_FLOAT;
    }
  }
  if (is_name_char(peek(p, 0))) return err_tok(p, KILN_E_PARSE, "malformed number");
  if (p->i - st > KIR_MAX_NUMBER)
    return err_tok(p, KILN_E_PARSE, "number longer than %d characters", KIR_MAX_NUMBER);
  for (size_t k = st; k < p->i; k++) tb_put(p, (char)p->s[k]);
  return KILN_OK;
}

/* Reads the next token into p->tk / p->tb. */
static int next(parser *p) {
  for (;;) {
    if (p->i >= p->len) break;
    unsigned c = p->s[p->i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      adv(p);
    } else if (c == '#') {
      while (p->i < p->len && p->s[p->i] != '\n') {
        if (p->s[p->i] == 0)
          return err_at(p, p->line, p->col, KILN_E_PARSE, "NUL byte in the input");
        adv(p);
      }
    } else {
      break;
    }
  }
  p->tline = p->line;
  p->tcol = p->col;
  p->tn = 0;
  p->tb[0] = 0;
  if (p->i >= p->len) {
    p->tk = T_EOF;
    return KILN_OK;
  }
  unsigned c = p->s[p->i];
  switch (c) {
  case '{': p->tk = T_LBRACE; adv(p); return KILN_OK;
  case '}': p->tk = T_RBRACE; adv(p); return KILN_OK;
  case '(': p->tk = T_LPAREN; adv(p); return KILN_OK;
  case ')': p->tk = T_RPAREN; adv(p); return KILN_OK;
  case '[': p->tk = T_LBRACK; adv(p); return KILN_OK;
  case ']': p->tk = T_RBRACK; adv(p); return KILN_OK;
  case ',': p->tk = T_COMMA; adv(p); return KILN_OK;
  case ':': p->tk = T_COLON; adv(p); return KILN_OK;
  case '=': p->tk = T_EQ; adv(p); return KILN_OK;
  case '.':
    if (peek(p, 1) == '.' && peek(p, 2) == '.') {
      p->tk = T_ELLIPSIS;
      adv(p);
      adv(p);
      adv(p);
      return KILN_OK;
    }
    return err_tok(p, KILN_E_PARSE, "unexpected '.'");
  case '"': p->tk = T_STRING; return lex_string(p);
  case '%': p->tk = T_VNAME; return lex_name(p, '%');
  case '@': p->tk = T_NNAME; return lex_name(p, '@');
  default: break;
  }
  if (c == '-' || is_digit((int)c)) return lex_number(p);
  if (is_alpha((int)c)) {
    p->tk = T_IDENT;
    while (is_name_char(peek(p, 0))) {
      if (p->tn == IR_MAX_NAME)
        return err_tok(p, KILN_E_PARSE, "identifier longer than %d bytes", IR_MAX_NAME);
      tb_put(p, (char)p->s[p->i]);
      adv(p);
    }
    return KILN_OK;
  }
  if (c == 0) return err_tok(p, KILN_E_PARSE, "NUL byte in the input");
  if (c >= 0x80)
    return err_tok(p, KILN_E_PARSE,
                   "unexpected byte 0x%02x (non-ASCII text belongs in strings and comments)", c);
  if (c > 0x20 && c < 0x7f) return err_tok(p, KILN_E_PARSE, "unexpected character '%c'", c);
  return err_tok(p, KILN_E_PARSE, "unexpected byte 0x%02x", c);
}

static int is_kw(const parser *p, const char *kw) {
  return p->tk == T_IDENT && strcmp(p->tb, kw) == 0;
}

static int expect(parser *p, tkind k, const char *what) {
  if (p->tk != k) return err_expected(p, what);
  return next(p);
}

/* ---- numbers ------------------------------------------------------------------------ */
static int is_num(const parser *p) {
  return p->tk == T_INT || p->tk == T_FLOAT || is_kw(p, "inf") || is_kw(p, "nan");
}

static int tok_int(parser *p, int64_t *out) {
  KILN_ASSERT(p->tk == T_INT);
  errno = 0;
  long long v = strtoll(p->tb, NULL, 10);
  if (errno == ERANGE)
    return err_tok(p, KILN_E_PARSE, "integer %s is out of the 64-bit range", p->tb);
  *out = v;
  return KILN_OK;
}

/* Reals: integers too; inf and nan only as written. */
static int tok_f64(parser *p, double *out) {
  KILN_ASSERT(is_num(p));
  double v = strtod(p->tb, NULL);
  if (isinf(v) && !strstr(p->tb, "inf"))
    return err_tok(p, KILN_E_INVALID, "%s is out of range for f64", p->tb);
  *out = v;
  return KILN_OK;
}

static int tok_f32(parser *p, float *out) {
  KILN_ASSERT(is_num(p));
  float v = strtof(p->tb, NULL);
  if (isinf(v) && !strstr(p->tb, "inf"))
    return err_tok(p, KILN_E_INVALID, "%s is out of range for f32", p->tb);
  *out = v;
  return KILN_OK;
}

/* ---- types ---------------------------------------------------------------------------- */
/* DTYPE '[' dims ']'. Each dim and the product of the non-zero dims are at
 * most 2^40 (so strides and byte counts never overflow), rank at most 8. */
static int parse_type(parser *p, ir_type *t) {
  int line = p->tline, col = p->tcol;
  char s[80];
  if (p->tk != T_IDENT) return err_expected(p, "a type such as f32[1,3]");
  ir_dtype dt;
  if (ir_dtype_from_name(p->tb, &dt))
    return err_tok(p, KILN_E_PARSE,
                   "unknown dtype '%s' (f32, f16, bf16, f64, i64, i32, i16, i8, u8, bool)",
                   shown(p->tb, s, sizeof s));
  memset(t, 0, sizeof *t);
  t->dtype = dt;
  TRY(next(p));
  TRY(expect(p, T_LBRACK, "'[' after the dtype"));
  int64_t prod = 1;
  if (p->tk != T_RBRACK) {
    for (;;) {
      if (p->tk != T_INT) return err_expected(p, "a dimension");
      if (t->rank == IR_MAX_RANK)
        return err_tok(p, KILN_E_UNSUPPORTED, "more than %d dimensions", IR_MAX_RANK);
      int64_t v = 0;
      TRY(tok_int(p, &v));
      if (v < 0) return err_tok(p, KILN_E_INVALID, "negative dimension %lld", (long long)v);
      if (v > 1 && prod > IR_MAX_ELEMENTS / v)
        return err_at(p, line, col, KILN_E_NOMEM,
                      "the type has more than 2^40 elements (the limit per tensor)");
      if (v > 1) prod *= v;
      t->dims[t->rank++] = v;
      TRY(next(p));
      if (p->tk != T_COMMA) break;
      TRY(next(p));
    }
  }
  return expect(p, T_RBRACK, "',' or ']'");
}

static int parse_opt_at(parser *p, int64_t *off) {
  *off = -1;
  if (!is_kw(p, "at")) return KILN_OK;
  TRY(next(p));
  if (p->tk != T_INT) return err_expected(p, "an offset after 'at'");
  TRY(tok_int(p, off));
  if (*off < 0) return err_tok(p, KILN_E_INVALID, "negative offset");
  return next(p);
}

/* ---- literals --------------------------------------------------------------------------- */
/* Room for `need` elements of esz bytes in p->lit; grows geometrically but
 * never past `max` elements, so the scratch stays within twice what the
 * text has actually written. */
static int lit_reserve(parser *p, int64_t need, int64_t max, size_t esz) {
  size_t want = (size_t)need * esz;
  if (want <= p->lit_cap) return KILN_OK;
  size_t cap = p->lit_cap ? p->lit_cap * 2 : 256;
  if (cap > (size_t)max * esz) cap = (size_t)max * esz;
  if (cap < want) cap = want;
  unsigned char *n = realloc(p->lit, cap);
  if (!n) return err_tok(p, KILN_E_NOMEM, "out of memory reading a literal");
  p->lit = n;
  p->lit_cap = cap;
  return KILN_OK;
}

/* One element of dtype dt at dst; the value must be exact for integer types
 * and in range for every type. */
static int parse_elem(parser *p, ir_dtype dt, void *dst) {
  switch (dt) {
  case IR_BOOL:
    if (is_kw(p, "true") || (p->tk == T_INT && strcmp(p->tb, "1") == 0))
      *(uint8_t *)dst = 1;
    else if (is_kw(p, "false") || (p->tk == T_INT && strcmp(p->tb, "0") == 0))
      *(uint8_t *)dst = 0;
    else
      return err_expected(p, "true or false");
    break;
  case IR_F32:
  case IR_F16:
  case IR_BF16: {
    if (!is_num(p)) return err_expected(p, "a number");
    float f = 0;
    TRY(tok_f32(p, &f));
    if (dt == IR_F32) {
      memcpy(dst, &f, sizeof f);
    } else {
      ir_store_f(dt, dst, 0, f);
      if (isinf(ir_load_f(dt, dst, 0)) && !isinf(f))
        return err_tok(p, KILN_E_INVALID, "%s is out of range for %s", p->tb, ir_dtype_name(dt));
    }
    break;
  }
  case IR_F64: {
    if (!is_num(p)) return err_expected(p, "a number");
    double v = 0;
    TRY(tok_f64(p, &v));
    memcpy(dst, &v, sizeof v);
    break;
  }
  default: {
    if (p->tk != T_INT) {
      if (is_num(p))
        return err_tok(p, KILN_E_INVALID, "%s is not an integer (the dtype is %s)", p->tb,
                       ir_dtype_name(dt));
      return err_expected(p, "an integer");
    }
    int64_t v = 0;
    TRY(tok_int(p, &v));
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (dt) {
    case IR_I32: lo = INT32_MIN; hi = INT32_MAX; break;
    case IR_I16: lo = INT16_MIN; hi = INT16_MAX; break;
    case IR_I8: lo = INT8_MIN; hi = INT8_MAX; break;
    case IR_U8: lo = 0; hi = UINT8_MAX; break;
    default: break;
    }
    if (v < lo || v > hi)
      return err_tok(p, KILN_E_INVALID, "%lld is out of range for %s", (long long)v,
                     ir_dtype_name(dt));
    ir_store_i(dt, dst, 0, v);
    break;
  }
  }
  return next(p);
}

/* A literal for type t (a scalar, or a flat [a, b, ...] in C order) into
 * p->lit: exactly numel(t) elements. */
static int parse_literal(parser *p, const ir_type *t) {
  int line = p->tline, col = p->tcol;
  int64_t numel = ir_type_numel(t);
  size_t esz = ir_dtype_size(t->dtype);
  char ts[160];
  ir_type_str(t, ts, sizeof ts);
  if (p->tk != T_LBRACK) {
    if (numel != 1)
      return err_tok(p, KILN_E_INVALID, "%s has %lld elements: write them as a list [...]", ts,
                     (long long)numel);
    TRY(lit_reserve(p, 1, 1, esz));
    return parse_elem(p, t->dtype, p->lit);
  }
  TRY(next(p));
  int64_t count = 0;
  if (p->tk != T_RBRACK) {
    for (;;) {
      if (count == numel)
        return err_tok(p, KILN_E_INVALID, "too many elements: %s has %lld", ts, (long long)numel);
      TRY(lit_reserve(p, count + 1, numel, esz));
      TRY(parse_elem(p, t->dtype, p->lit + (size_t)count * esz));
      count++;
      if (p->tk != T_COMMA) break;
      TRY(next(p));
    }
  }
  if (p->tk != T_RBRACK) return err_expected(p, "',' or ']'");
  if (count != numel)
    return err_at(p, line, col, KILN_E_INVALID, "the literal has %lld elements; %s has %lld",
                  (long long)count, ts, (long long)numel);
  return next(p);
}

/* ---- paths --------------------------------------------------------------------------------- */
/* dir joined with path (path alone when absolute), without empty and "."
 * components; ".." stays (resolving it needs the file system: symlinks).
 * -1 when the result does not fit in cap bytes. */
static int path_join(const char *dir, const char *path, char *out, size_t cap) {
  char tmp[2 * KIR_MAX_PATH + 2];
  int n;
  if (path[0] == '/' || !dir || !*dir) n = snprintf(tmp, sizeof tmp, "%s", path);
  else n = snprintf(tmp, sizeof tmp, "%s/%s", dir, path);
  if (n < 0 || (size_t)n >= sizeof tmp) return -1;
  size_t k = 0;
  int abs = tmp[0] == '/';
  if (abs) {
    if (cap < 2) return -1;
    out[k++] = '/';
  }
  for (char *c = tmp; *c;) {
    while (*c == '/') c++;
    char *e = c;
    while (*e && *e != '/') e++;
    size_t len = (size_t)(e - c);
    if (len && !(len == 1 && c[0] == '.')) {
      int sep = k > 0 && out[k - 1] != '/';
      if (k + (size_t)sep + len + 1 > cap) return -1;
      if (sep) out[k++] = '/';
      memcpy(out + k, c, len);
      k += len;
    }
    c = e;
  }
  if (k == 0) {
    if (cap < 2) return -1;
    out[k++] = '.';
  }
  out[k] = 0;
  return 0;
}

/* ---- graphs ----------------------------------------------------------------------------------- */
typedef struct {
  int line, col;
} dpos;

/* Parse state of one graph (the top level or a fused body). */
typedef struct {
  ir_graph *g;
  dpos *def; /* where each value id was defined */
  int def_cap;
} gstate;

static void def_record(gstate *gs, int v, int line, int col) {
  if (v >= gs->def_cap) {
    int cap = gs->def_cap ? gs->def_cap : 64;
    while (cap <= v) cap *= 2;
    gs->def = kiln_xrealloc(gs->def, sizeof(dpos) * (size_t)cap);
    gs->def_cap = cap;
  }
  gs->def[v].line = line;
  gs->def[v].col = col;
}

static int check_new_name(parser *p, gstate *gs, const char *name, int line, int col) {
  int v = ir_value_find(gs->g, name);
  if (v < 0) return KILN_OK;
  char s[80];
  dpos at = v < gs->def_cap ? gs->def[v] : (dpos){0, 0};
  return err_at(p, line, col, KILN_E_INVALID, "'%%%s' is already defined (at %d:%d)",
                shown(name, s, sizeof s), at.line, at.col);
}

/* The value the current T_VNAME names; consumes it. */
static int use_value(parser *p, gstate *gs, int *out) {
  char s[80];
  int v = ir_value_find(gs->g, p->tb);
  if (v < 0) return err_tok(p, KILN_E_INVALID, "'%%%s' is not defined", shown(p->tb, s, sizeof s));
  *out = v;
  return next(p);
}

/* A copy of the current token text (at most IR_MAX_NAME bytes for names). */
static void take_name(parser *p, char *buf) {
  KILN_ASSERT(p->tn <= IR_MAX_NAME);
  memcpy(buf, p->tb, p->tn + 1);
}

static int parse_graph(parser *p, int depth, ir_graph **out);

/* input %x: TYPE [at N] */
static int parse_input(parser *p, gstate *gs) {
  char name[IR_MAX_NAME + 1];
  TRY(next(p));
  if (p->tk != T_VNAME) return err_expected(p, "a value name such as %x");
  int line = p->tline, col = p->tcol;
  take_name(p, name);
  TRY(check_new_name(p, gs, name, line, col));
  TRY(next(p));
  TRY(expect(p, T_COLON, "':' and the input's type"));
  ir_type t;
  int64_t off = -1;
  TRY(parse_type(p, &t));
  TRY(parse_opt_at(p, &off));
  int v = ir_add_input(gs->g, name, &t);
  gs->g->values[v].offset = off;
  def_record(gs, v, line, col);
  return KILN_OK;
}

typedef struct {
  void *data;
  ir_const_src src;
  const char *file;
  int64_t offset;
  ir_init_spec init;
} cdata;

/* file("PATH" [, offset=N]): mapped, range-checked. */
static int parse_file_data(parser *p, gstate *gs, const ir_type *t, cdata *c) {
  int line = p->tline, col = p->tcol;
  TRY(next(p));
  TRY(expect(p, T_LPAREN, "'(' after 'file'"));
  if (p->tk != T_STRING) return err_expected(p, "a file name (a string)");
  if (p->tn == 0) return err_tok(p, KILN_E_INVALID, "empty file name");
  char full[KIR_MAX_PATH];
  if (p->tn >= KIR_MAX_PATH || path_join(p->base_dir, p->tb, full, sizeof full))
    return err_tok(p, KILN_E_INVALID, "file name longer than %d bytes", KIR_MAX_PATH);
  TRY(next(p));
  int64_t off = 0;
  if (p->tk == T_COMMA) {
    TRY(next(p));
    if (!is_kw(p, "offset")) return err_expected(p, "'offset='");
    TRY(next(p));
    TRY(expect(p, T_EQ, "'=' after 'offset'"));
    if (p->tk != T_INT) return err_expected(p, "a byte offset");
    TRY(tok_int(p, &off));
    if (off < 0) return err_tok(p, KILN_E_INVALID, "negative file offset");
    TRY(next(p));
  }
  TRY(expect(p, T_RPAREN, "')'"));
  /* only regular files: opening a FIFO or a device could block or never end */
  struct stat st;
  if (stat(full, &st) == 0 && !S_ISREG(st.st_mode))
    return err_at(p, line, col, KILN_E_IO, "%s: not a regular file", full);
  kiln_diag ld;
  kiln_diag_init(&ld);
  const void *m = ir_graph_map_file(gs->g, full, off, ir_type_nbytes(t), &ld);
  if (!m) return err_at(p, line, col, ld.status, "%s", ld.msg);
  c->data = (void *)m; /* read-only mapping: constant data is never written */
  c->src = IR_CSRC_FILE;
  c->file = ir_arena_strdup(gs->g->arena, full);
  c->offset = off;
  return KILN_OK;
}

/* NAME [(arg=number, ...)]: checked, then allocated and filled. */
static int parse_init_data(parser *p, gstate *gs, const ir_type *t, cdata *c) {
  ir_graph *g = gs->g;
  int line = p->tline, col = p->tcol;
  ir_init_spec *s = &c->init;
  memset(s, 0, sizeof *s);
  s->name = ir_arena_strdup(g->arena, p->tb);
  TRY(next(p));
  if (p->tk == T_LPAREN) {
    TRY(next(p));
    for (;;) {
      if (p->tk != T_IDENT) return err_expected(p, "an argument name");
      if (s->n_args == 4) return err_tok(p, KILN_E_INVALID, "too many arguments");
      s->arg_names[s->n_args] = ir_arena_strdup(g->arena, p->tb);
      TRY(next(p));
      TRY(expect(p, T_EQ, "'='"));
      if (!is_num(p)) return err_expected(p, "a number");
      TRY(tok_f64(p, &s->arg_vals[s->n_args]));
      s->n_args++;
      TRY(next(p));
      if (p->tk != T_COMMA) break;
      TRY(next(p));
    }
    TRY(expect(p, T_RPAREN, "',' or ')'"));
  }
  kiln_diag ld;
  kiln_diag_init(&ld);
  if (ir_init_fill(s, t, NULL, &ld)) return err_at(p, line, col, ld.status, "%s", ld.msg);
  int64_t nb = ir_type_nbytes(t);
  if (nb > KIR_MAX_INIT_BYTES - p->init_bytes)
    return err_at(p, line, col, KILN_E_NOMEM,
                  "initialised data exceeds the limit of %lld bytes per file",
                  (long long)KIR_MAX_INIT_BYTES);
  p->init_bytes += nb;
  c->data = ir_graph_alloc_data_checked(g, (size_t)nb, &ld);
  if (!c->data) return err_at(p, line, col, ld.status, "%s", ld.msg);
  if (ir_init_fill(s, t, c->data, &ld)) return err_at(p, line, col, ld.status, "%s", ld.msg);
  c->src = IR_CSRC_INIT;
  return KILN_OK;
}

static int parse_cdata(parser *p, gstate *gs, const ir_type *t, cdata *c) {
  memset(c, 0, sizeof *c);
  if (p->tk == T_ELLIPSIS) {
    c->src = IR_CSRC_ELIDED;
    return next(p);
  }
  if (is_kw(p, "file")) return parse_file_data(p, gs, t, c);
  if (p->tk == T_LBRACK || is_num(p) || is_kw(p, "true") || is_kw(p, "false")) {
    int line = p->tline, col = p->tcol;
    TRY(parse_literal(p, t));
    kiln_diag ld;
    kiln_diag_init(&ld);
    int64_t nb = ir_type_nbytes(t);
    c->data = ir_graph_alloc_data_checked(gs->g, (size_t)nb, &ld);
    if (!c->data) return err_at(p, line, col, ld.status, "%s", ld.msg);
    if (nb) memcpy(c->data, p->lit, (size_t)nb);
    c->src = IR_CSRC_INLINE;
    return KILN_OK;
  }
  if (p->tk == T_IDENT) return parse_init_data(p, gs, t, c);
  return err_expected(p, "constant data (a literal, file(...), an initialiser or ...)");
}

/* (param | const) %x: TYPE [at N] = DATA */
static int parse_const(parser *p, gstate *gs, int is_param) {
  char name[IR_MAX_NAME + 1];
  TRY(next(p));
  if (p->tk != T_VNAME) return err_expected(p, "a value name such as %w");
  int line = p->tline, col = p->tcol;
  take_name(p, name);
  TRY(check_new_name(p, gs, name, line, col));
  TRY(next(p));
  TRY(expect(p, T_COLON, "':' and the constant's type"));
  ir_type t;
  int64_t off = -1;
  TRY(parse_type(p, &t));
  TRY(parse_opt_at(p, &off));
  TRY(expect(p, T_EQ, "'=' and the constant's data"));
  cdata c;
  TRY(parse_cdata(p, gs, &t, &c));
  int v = ir_add_const_nocopy(gs->g, name, &t, c.data);
  ir_value *val = &gs->g->values[v];
  val->src = c.src;
  val->file = c.file;
  val->file_offset = c.offset;
  val->init = c.init;
  val->is_param = is_param;
  val->offset = off;
  def_record(gs, v, line, col);
  return KILN_OK;
}

/* output %a, %b, ... */
static int parse_output(parser *p, gstate *gs) {
  TRY(next(p));
  for (;;) {
    if (p->tk != T_VNAME) return err_expected(p, "a value name");
    int v = -1;
    TRY(use_value(p, gs, &v));
    ir_add_output(gs->g, v);
    if (p->tk != T_COMMA) return KILN_OK;
    TRY(next(p));
  }
}

/* ---- attributes ---------------------------------------------------------------------------------- */
static const char *kind_noun(const ir_attr_schema *s) {
  if (s->is_dtype) return "a dtype name";
  switch (s->kind) {
  case IR_ATTR_INT: return "an int";
  case IR_ATTR_FLOAT: return "a float";
  case IR_ATTR_STRING: return "a string";
  case IR_ATTR_INTS: return "a list of ints";
  case IR_ATTR_FLOATS: return "a list of floats";
  case IR_ATTR_TENSOR: return "a tensor (a type and a literal)";
  default: return "?";
  }
}

static int wrong_kind(parser *p, ir_op op, const ir_attr_schema *s) {
  char b[128];
  const char *found;
  int code = KILN_E_INVALID;
  ir_dtype dt;
  if (p->tk == T_INT) found = "an int";
  else if (p->tk == T_FLOAT || is_num(p)) found = "a float";
  else if (p->tk == T_STRING) found = "a string";
  else if (p->tk == T_LBRACK) found = "a list";
  else if (p->tk == T_IDENT && ir_dtype_from_name(p->tb, &dt) == 0) found = "a dtype or type";
  else {
    found = tok_desc(p, b, sizeof b);
    if (p->tk != T_IDENT) code = KILN_E_PARSE; /* not a value of any kind */
  }
  return err_tok(p, code, "attribute '%s' of '%s' takes %s, not %s", s->name, ir_op_name(op),
                 kind_noun(s), found);
}

/* [a, b, ...] of ints (into int64s) or reals (float32 values, as doubles)
 * in p->lit; the count in *n. */
static int parse_list(parser *p, ir_op op, const ir_attr_schema *s, int *n) {
  if (p->tk != T_LBRACK) return wrong_kind(p, op, s);
  TRY(next(p));
  int count = 0;
  if (p->tk != T_RBRACK) {
    for (;;) {
      if (count == KIR_MAX_LIST)
        return err_tok(p, KILN_E_INVALID, "more than %d elements in a list", KIR_MAX_LIST);
      TRY(lit_reserve(p, count + 1, KIR_MAX_LIST, 8));
      if (s->kind == IR_ATTR_INTS) {
        if (p->tk != T_INT) {
          if (is_num(p))
            return err_tok(p, KILN_E_INVALID, "attribute '%s' of '%s' takes a list of ints, not %s",
                           s->name, ir_op_name(op), p->tb);
          return err_expected(p, "an integer");
        }
        int64_t v = 0;
        TRY(tok_int(p, &v));
        memcpy(p->lit + (size_t)count * 8, &v, 8);
      } else {
        if (!is_num(p)) return err_expected(p, "a number");
        float f = 0;
        TRY(tok_f32(p, &f));
        double v = f;
        memcpy(p->lit + (size_t)count * 8, &v, 8);
      }
      count++;
      TRY(next(p));
      if (p->tk != T_COMMA) break;
      TRY(next(p));
    }
  }
  TRY(expect(p, T_RBRACK, "',' or ']'"));
  *n = count;
  return KILN_OK;
}

/* The value of attribute s of node `node`, of the schema's kind. */
static int parse_attr_value(parser *p, ir_graph *g, int node, const ir_attr_schema *s) {
  ir_op op = g->nodes[node].op;
  switch (s->kind) {
  case IR_ATTR_INT:
    if (s->is_dtype) {
      ir_dtype dt;
      if (p->tk != T_IDENT || ir_dtype_from_name(p->tb, &dt)) return wrong_kind(p, op, s);
      ir_set_int(g, node, s->name, dt);
    } else {
      if (p->tk != T_INT) return wrong_kind(p, op, s);
      int64_t v = 0;
      TRY(tok_int(p, &v));
      ir_set_int(g, node, s->name, v);
    }
    return next(p);
  case IR_ATTR_FLOAT: {
    /* float attributes are float32 values (ir.h): read as float */
    if (!is_num(p)) return wrong_kind(p, op, s);
    float f = 0;
    TRY(tok_f32(p, &f));
    ir_set_float(g, node, s->name, f);
    return next(p);
  }
  case IR_ATTR_STRING:
    if (p->tk != T_STRING) return wrong_kind(p, op, s);
    ir_set_string(g, node, s->name, p->tb);
    return next(p);
  case IR_ATTR_INTS:
  case IR_ATTR_FLOATS: {
    int n = 0;
    TRY(parse_list(p, op, s, &n));
    if (s->kind == IR_ATTR_INTS) ir_set_ints(g, node, s->name, (const int64_t *)p->lit, n);
    else ir_set_floats(g, node, s->name, (const double *)p->lit, n);
    return KILN_OK;
  }
  case IR_ATTR_TENSOR: {
    ir_dtype dt;
    if (p->tk != T_IDENT || ir_dtype_from_name(p->tb, &dt)) return wrong_kind(p, op, s);
    ir_tensor t;
    int line = p->tline, col = p->tcol;
    TRY(parse_type(p, &t.type));
    if (ir_type_numel(&t.type) > KIR_MAX_LIST)
      return err_at(p, line, col, KILN_E_INVALID,
                    "a tensor attribute holds at most %d elements (use a constant)", KIR_MAX_LIST);
    TRY(parse_literal(p, &t.type));
    static const double empty = 0;
    t.data = ir_type_numel(&t.type) ? (void *)p->lit : (void *)&empty; /* copied by ir_set_attr */
    ir_set_tensor(g, node, s->name, &t);
    return KILN_OK;
  }
  default: KILN_UNREACHABLE();
  }
}

/* '{' name = value, ... '}' */
static int parse_attrs(parser *p, ir_graph *g, int node) {
  char name[IR_MAX_NAME + 1], s[80];
  TRY(next(p));
  if (p->tk == T_RBRACE) return next(p);
  for (;;) {
    if (p->tk != T_IDENT) return err_expected(p, "an attribute name");
    ir_op op = g->nodes[node].op;
    take_name(p, name);
    const ir_attr_schema *sch = ir_op_attr_schema(op, name);
    if (!sch)
      return err_tok(p, KILN_E_INVALID, "unknown attribute '%s' for op '%s'",
                     shown(name, s, sizeof s), ir_op_name(op));
    if (ir_attr_find(&g->nodes[node], name))
      return err_tok(p, KILN_E_INVALID, "attribute '%s' is given twice", name);
    TRY(next(p));
    TRY(expect(p, T_EQ, "'=' after the attribute name"));
    TRY(parse_attr_value(p, g, node, sch));
    if (p->tk != T_COMMA) break;
    TRY(next(p));
  }
  return expect(p, T_RBRACE, "',' or '}'");
}

/* ---- nodes ------------------------------------------------------------------------------------------ */
static const char *count_str(char *buf, size_t cap, int lo, int hi) {
  if (hi < 0) snprintf(buf, cap, "at least %d", lo);
  else if (lo == hi) snprintf(buf, cap, "%d", lo);
  else snprintf(buf, cap, "%d to %d", lo, hi);
  return buf;
}

/* Is input slot k of a node allowed to be absent? (as the verifier decides:
 * slots below min_in unless an attribute that slot could carry is given) */
static int slot_may_be_absent(const ir_node *n, const ir_op_info *info, int k) {
  if (k >= info->min_in) return 1;
  for (int i = 0; i < info->n_attrs; i++)
    if (info->attrs[i].operand == k && ir_attr_find(n, info->attrs[i].name)) return 1;
  return 0;
}

/* The results of a node being read (before its values are created). */
typedef struct {
  int n, cap;
  char **names;
  ir_type *types;
  int *typed;
  int64_t *offs;
  dpos *pos;
  int *in; /* operands */
  int n_in, cap_in;
} node_parts;

static void parts_free(node_parts *np) {
  for (int i = 0; i < np->n; i++) free(np->names[i]);
  free(np->names);
  free(np->types);
  free(np->typed);
  free(np->offs);
  free(np->pos);
  free(np->in);
}

static void parts_grow(node_parts *np) {
  if (np->n < np->cap) return;
  np->cap = np->cap ? np->cap * 2 : 4;
  np->names = kiln_xrealloc(np->names, sizeof(char *) * (size_t)np->cap);
  np->types = kiln_xrealloc(np->types, sizeof(ir_type) * (size_t)np->cap);
  np->typed = kiln_xrealloc(np->typed, sizeof(int) * (size_t)np->cap);
  np->offs = kiln_xrealloc(np->offs, sizeof(int64_t) * (size_t)np->cap);
  np->pos = kiln_xrealloc(np->pos, sizeof(dpos) * (size_t)np->cap);
}

static int parse_node_inner(parser *p, gstate *gs, int depth, node_parts *np) {
  ir_graph *g = gs->g;
  char s[80], b1[48], b2[48];
  /* results */
  for (;;) {
    if (p->tk != T_VNAME) return err_expected(p, "a result name such as %y");
    if (np->n == IR_MAX_NODE_OUTPUTS)
      return err_tok(p, KILN_E_INVALID, "more than %d results", IR_MAX_NODE_OUTPUTS);
    TRY(check_new_name(p, gs, p->tb, p->tline, p->tcol));
    for (int j = 0; j < np->n; j++)
      if (strcmp(np->names[j], p->tb) == 0)
        return err_tok(p, KILN_E_INVALID, "'%%%s' is already defined (at %d:%d)",
                       shown(p->tb, s, sizeof s), np->pos[j].line, np->pos[j].col);
    parts_grow(np);
    int j = np->n++;
    np->names[j] = kiln_xstrdup(p->tb);
    np->pos[j].line = p->tline;
    np->pos[j].col = p->tcol;
    np->typed[j] = 0;
    TRY(next(p));
    if (p->tk == T_COLON) {
      TRY(next(p));
      TRY(parse_type(p, &np->types[j]));
      np->typed[j] = 1;
    }
    TRY(parse_opt_at(p, &np->offs[j]));
    if (p->tk != T_COMMA) break;
    TRY(next(p));
  }
  TRY(expect(p, T_EQ, "',' or '=' after the results"));
  /* op */
  if (p->tk != T_IDENT) return err_expected(p, "an op name");
  int op_line = p->tline, op_col = p->tcol;
  ir_op op;
  if (ir_op_from_name(p->tb, &op))
    return err_tok(p, KILN_E_INVALID, "unknown op '%s'", shown(p->tb, s, sizeof s));
  const ir_op_info *info = ir_op_get(op);
  int max_in = info->max_in < 0 ? IR_MAX_NODE_INPUTS : info->max_in;
  int max_out = info->max_out < 0 ? IR_MAX_NODE_OUTPUTS : info->max_out;
  if (np->n < info->min_out || np->n > max_out)
    return err_tok(p, KILN_E_INVALID, "'%s' produces %s results, not %d", info->name,
                   count_str(b1, sizeof b1, info->min_out, info->max_out), np->n);
  TRY(next(p));
  TRY(expect(p, T_LPAREN, "'(' after the op name"));
  /* operands */
  if (p->tk != T_RPAREN) {
    for (;;) {
      if (np->n_in == max_in)
        return err_tok(p, KILN_E_INVALID, "'%s' takes %s inputs, not more", info->name,
                       count_str(b2, sizeof b2, info->min_in, info->max_in));
      if (np->n_in == np->cap_in) {
        np->cap_in = np->cap_in ? np->cap_in * 2 : 8;
        np->in = kiln_xrealloc(np->in, sizeof(int) * (size_t)np->cap_in);
      }
      int v = -1;
      if (p->tk == T_VNAME) {
        TRY(use_value(p, gs, &v));
      } else if (is_kw(p, "_")) {
        v = -1;
        TRY(next(p));
      } else {
        return err_expected(p, "an operand (%name or _)");
      }
      np->in[np->n_in++] = v;
      if (p->tk != T_COMMA) break;
      TRY(next(p));
    }
  }
  TRY(expect(p, T_RPAREN, "',' or ')'"));

  /* the node and its result values */
  int *out = kiln_xmalloc(sizeof(int) * (size_t)np->n);
  for (int j = 0; j < np->n; j++) {
    int v = ir_value_new(g, np->names[j], IR_VAL_NODE);
    KILN_ASSERT(strcmp(g->values[v].name, np->names[j]) == 0); /* checked unused */
    g->values[v].typed = np->typed[j];
    if (np->typed[j]) g->values[v].type = np->types[j];
    g->values[v].offset = np->offs[j];
    def_record(gs, v, np->pos[j].line, np->pos[j].col);
    out[j] = v;
  }
  int node = ir_node_new_with_outputs(g, op, "", np->in, np->n_in, out, np->n);
  free(out);

  if (p->tk == T_LBRACE) TRY(parse_attrs(p, g, node));
  if (p->tk == T_NNAME) {
    g->nodes[node].name = ir_arena_strdup(g->arena, p->tb);
    TRY(next(p));
  }
  if (is_kw(p, "graph")) {
    if (depth + 1 > KIR_MAX_DEPTH)
      return err_tok(p, KILN_E_INVALID, "fused bodies nested more than %d deep", KIR_MAX_DEPTH);
    ir_graph *body;
    TRY(parse_graph(p, depth + 1, &body));
    g->nodes[node].body = body;
  }

  /* what the schema requires, reported at the op */
  const ir_node *n = &g->nodes[node];
  for (int k = 0; k < info->min_in; k++)
    if ((k >= n->n_in || n->in[k] < 0) && !slot_may_be_absent(n, info, k))
      return err_at(p, op_line, op_col, KILN_E_INVALID, "'%s' needs input %d (it takes %s)",
                    info->name, k, count_str(b2, sizeof b2, info->min_in, info->max_in));
  for (int k = 0; k < info->n_attrs; k++) {
    const ir_attr_schema *sc = &info->attrs[k];
    if (sc->required && !ir_attr_find(n, sc->name) &&
        !(sc->operand >= 0 && ir_node_has_input(n, sc->operand)))
      return err_at(p, op_line, op_col, KILN_E_INVALID, "'%s' needs attribute '%s'", info->name,
                    sc->name);
  }
  return KILN_OK;
}

/* results = OP(operands) [{attrs}] [@name] [graph body] */
static int parse_node(parser *p, gstate *gs, int depth) {
  node_parts np;
  memset(&np, 0, sizeof np);
  int rc = parse_node_inner(p, gs, depth, &np);
  parts_free(&np);
  return rc;
}

static int parse_stmt(parser *p, gstate *gs, int depth) {
  if (p->tk == T_VNAME) return parse_node(p, gs, depth);
  if (is_kw(p, "input")) return parse_input(p, gs);
  if (is_kw(p, "param")) return parse_const(p, gs, 1);
  if (is_kw(p, "const")) return parse_const(p, gs, 0);
  if (is_kw(p, "output")) return parse_output(p, gs);
  if (p->tk == T_EOF) return err_expected(p, "'}'");
  return err_expected(p, "a statement (input, param, const, output, %name = op(...)) or '}'");
}

static int parse_graph_inner(parser *p, int depth, gstate *gs) {
  if (!is_kw(p, "graph")) return err_expected(p, "'graph'");
  TRY(next(p));
  if (p->tk != T_IDENT && p->tk != T_STRING) return err_expected(p, "a graph name");
  if (p->tn == 0) return err_tok(p, KILN_E_PARSE, "empty graph name");
  if (p->tn > IR_MAX_NAME)
    return err_tok(p, KILN_E_PARSE, "graph name longer than %d bytes", IR_MAX_NAME);
  ir_graph *g = ir_graph_new(p->tb);
  gs->g = g;
  g->source = ir_arena_strdup(g->arena, p->file);
  g->base_dir = ir_arena_strdup(g->arena, p->base_dir);
  TRY(next(p));
  if (is_kw(p, "arena")) {
    TRY(next(p));
    if (p->tk != T_INT) return err_expected(p, "the arena size in bytes");
    TRY(tok_int(p, &g->arena_bytes));
    if (g->arena_bytes < 0) return err_tok(p, KILN_E_INVALID, "negative arena size");
    TRY(next(p));
  }
  TRY(expect(p, T_LBRACE, "'{'"));
  while (p->tk != T_RBRACE) TRY(parse_stmt(p, gs, depth));
  return next(p);
}

/* graph NAME [arena N] { stmt* } */
static int parse_graph(parser *p, int depth, ir_graph **out) {
  gstate gs;
  memset(&gs, 0, sizeof gs);
  int rc = parse_graph_inner(p, depth, &gs);
  free(gs.def);
  if (rc) {
    ir_graph_free(gs.g);
    *out = NULL;
  } else {
    *out = gs.g;
  }
  return rc;
}

/* ---- entry points --------------------------------------------------------------------------------------- */
ir_graph *kir_parse_string(const char *name, const char *text, size_t len, const char *base_dir,
                           kiln_diag *d) {
  KILN_ASSERT(text || len == 0);
  parser p;
  memset(&p, 0, sizeof p);
  p.file = name ? name : "<string>";
  p.s = (const unsigned char *)(text ? text : "");
  p.len = len;
  p.line = p.col = 1;
  p.d = d;
  if ((uint64_t)len > (uint64_t)KIR_MAX_TEXT) {
    kiln_diag_error(d, KILN_E_NOMEM, "%s: more than %lld bytes of text", p.file,
                    (long long)KIR_MAX_TEXT);
    return NULL;
  }
  /* base directory, absolute so that file() paths do not depend on a later
   * working directory */
  char cwd[KIR_MAX_PATH];
  const char *dir = base_dir && *base_dir ? base_dir : ".";
  int bad = dir[0] == '/' || !getcwd(cwd, sizeof cwd)
                ? path_join(NULL, dir, p.base_dir, sizeof p.base_dir)
                : path_join(cwd, dir, p.base_dir, sizeof p.base_dir);
  if (bad) {
    kiln_diag_error(d, KILN_E_IO, "%s: base directory path too long", p.file);
    return NULL;
  }
  /* numbers in the "C" locale, whatever the process has set */
  locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  locale_t old = cloc ? uselocale(cloc) : (locale_t)0;
  p.tcap = 256;
  p.tb = kiln_xmalloc(p.tcap);
  p.tb[0] = 0;

  ir_graph *g = NULL;
  int rc = next(&p);
  if (!rc) rc = parse_graph(&p, 0, &g);
  if (!rc && p.tk != T_EOF) {
    char b[128];
    rc = err_tok(&p, KILN_E_PARSE, "expected the end of the input after the graph, found %s",
                 tok_desc(&p, b, sizeof b));
  }
  if (!rc) rc = ir_verify(g, 0, d);
  if (rc) {
    ir_graph_free(g);
    g = NULL;
  }
  free(p.tb);
  free(p.lit);
  if (cloc) {
    uselocale(old);
    freelocale(cloc);
  }
  return g;
}

ir_graph *kir_parse_file(const char *path, kiln_diag *d) {
  int64_t size;
  int fd = ir_open_regular_file(path, &size, d); /* a FIFO is refused, not waited on */
  if (fd < 0) return NULL;
  if (size > KIR_MAX_TEXT) {
    close(fd);
    kiln_diag_error(d, KILN_E_NOMEM, "%s: larger than the limit of %lld bytes", path,
                    (long long)KIR_MAX_TEXT);
    return NULL;
  }
  size_t cap = (size_t)size, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    kiln_diag_error(d, KILN_E_NOMEM, "%s: out of memory", path);
    return NULL;
  }
  while (n < cap) { /* the file may shrink meanwhile: stop at its end */
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      free(buf);
      kiln_diag_error(d, KILN_E_IO, "%s: cannot read: %s", path, strerror(e));
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  /* the directory part of path */
  char dir[KIR_MAX_PATH];
  const char *slash = strrchr(path, '/');
  if (slash && (size_t)(slash - path) >= sizeof dir) {
    free(buf);
    kiln_diag_error(d, KILN_E_IO, "%s: path too long", path);
    return NULL;
  }
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  ir_graph *g = kir_parse_string(path, buf, n, dir, d);
  free(buf);
  return g;
}

/* Dtypes, types and element access. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static const struct {
  const char *name;
  size_t size;
} dtypes[IR_DTYPE_COUNT] = {
    [IR_F32] = {"f32", 4}, [IR_F16] = {"f16", 2}, [IR_BF16] = {"bf16", 2},
    [IR_F64] = {"f64", 8}, [IR_I64] = {"i64", 8}, [IR_I32] = {"i32", 4},
    [IR_I16] = {"i16", 2}, [IR_I8] = {"i8", 1},   [IR_U8] = {"u8", 1},
    [IR_BOOL] = {"bool", 1},
};

const char *ir_dtype_name(ir_dtype t) {
  KILN_ASSERT((unsigned)t < IR_DTYPE_COUNT);
  return dtypes[t].name;
}

int ir_dtype_from_name(const char *s, ir_dtype *out) {
  for (int i = 0; i < IR_DTYPE_COUNT; i++)
    if (strcmp(s, dtypes[i].name) == 0) {
      *out = (ir_dtype)i;
      return 0;
    }
  return -1;
}

size_t ir_dtype_size(ir_dtype t) {
  KILN_ASSERT((unsigned)t < IR_DTYPE_COUNT);
  return dtypes[t].size;
}

int ir_dtype_is_float(ir_dtype t) {
  return t == IR_F32 || t == IR_F16 || t == IR_BF16 || t == IR_F64;
}
int ir_dtype_is_int(ir_dtype t) {
  return t == IR_I64 || t == IR_I32 || t == IR_I16 || t == IR_I8 || t == IR_U8;
}
int ir_dtype_supported(ir_dtype t) { return t != IR_F16 && t != IR_BF16; }

int64_t ir_type_numel(const ir_type *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

int64_t ir_type_nbytes(const ir_type *t) {
  return ir_type_numel(t) * (int64_t)ir_dtype_size(t->dtype);
}

int ir_type_equal(const ir_type *a, const ir_type *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

int ir_type_check(const ir_type *t, kiln_diag *d, const char *what) {
  if ((unsigned)t->dtype >= IR_DTYPE_COUNT)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: bad dtype %d", what, (int)t->dtype);
  if (t->rank < 0 || t->rank > IR_MAX_RANK)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: rank %d exceeds the limit of %d",
                           what, t->rank, IR_MAX_RANK);
  /* the product of the non-zero dims, not the element count: an empty
   * tensor's other dims are bounded too, so that strides and offsets
   * computed from them never overflow (the .kir parser's rule, docs/kir.md) */
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i] < 0)
      return kiln_diag_error(d, KILN_E_INVALID, "%s: negative dimension %lld", what,
                             (long long)t->dims[i]);
    if (t->dims[i] > 1 && n > IR_MAX_ELEMENTS / t->dims[i])
      return kiln_diag_error(d, KILN_E_NOMEM,
                             "%s: more than 2^40 elements (the limit per tensor)", what);
    if (t->dims[i] > 0) n *= t->dims[i];
  }
  return KILN_OK;
}

char *ir_type_str(const ir_type *t, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "%s[", ir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->dims[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

/* ---- f16 / bf16 conversions (round to nearest even) ---------------------- */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal */
      float f = ldexpf((float)man, -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  if (isnan(f)) return sign | 0x7e00;
  float a = fabsf(f);
  if (a >= 65520.0f) return sign | 0x7c00;
  if (a < 6.103515625e-05f) { /* subnormal half */
    float m = a * 16777216.0f; /* a / 2^-24 */
    return sign | (uint16_t)lrintf(m);
  }
  uint32_t ax = x & 0x7fffffffu;
  uint32_t e = (ax >> 23) - 112, man = ax & 0x7fffff;
  uint32_t h = (e << 10) | (man >> 13);
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | (uint16_t)h;
}

static float bf16_to_float(uint16_t b) {
  uint32_t x = (uint32_t)b << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

static uint16_t float_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if (isnan(f)) return (uint16_t)((x >> 16) | 0x40);
  uint32_t r = x + 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(r >> 16);
}

double ir_load_f(ir_dtype t, const void *p, int64_t i) {
  switch (t) {
  case IR_F32: return ((const float *)p)[i];
  case IR_F64: return ((const double *)p)[i];
  case IR_F16: return half_to_float(((const uint16_t *)p)[i]);
  case IR_BF16: return bf16_to_float(((const uint16_t *)p)[i]);
  case IR_I64: return (double)((const int64_t *)p)[i];
  case IR_I32: return ((const int32_t *)p)[i];
  case IR_I16: return ((const int16_t *)p)[i];
  case IR_I8: return ((const int8_t *)p)[i];
  case IR_U8: return ((const uint8_t *)p)[i];
  case IR_BOOL: return ((const uint8_t *)p)[i] ? 1.0 : 0.0;
  default: KILN_UNREACHABLE();
  }
}

/* Float to integer the way C casts do, but defined for NaN and overflow
 * (saturating; NaN gives 0). */
static int64_t f2i(double v, int64_t lo, int64_t hi) {
  if (isnan(v)) return 0;
  if (v <= (double)lo) return lo;
  if (v >= (double)hi) return hi;
  return (int64_t)v;
}

int64_t ir_load_i(ir_dtype t, const void *p, int64_t i) {
  switch (t) {
  case IR_I64: return ((const int64_t *)p)[i];
  case IR_I32: return ((const int32_t *)p)[i];
  case IR_I16: return ((const int16_t *)p)[i];
  case IR_I8: return ((const int8_t *)p)[i];
  case IR_U8: return ((const uint8_t *)p)[i];
  case IR_BOOL: return ((const uint8_t *)p)[i] ? 1 : 0;
  default: return f2i(ir_load_f(t, p, i), INT64_MIN, INT64_MAX);
  }
}

void ir_store_f(ir_dtype t, void *p, int64_t i, double v) {
  switch (t) {
  case IR_F32: ((float *)p)[i] = (float)v; break;
  case IR_F64: ((double *)p)[i] = v; break;
  case IR_F16: ((uint16_t *)p)[i] = float_to_half((float)v); break;
  case IR_BF16: ((uint16_t *)p)[i] = float_to_bf16((float)v); break;
  case IR_I64: ((int64_t *)p)[i] = f2i(v, INT64_MIN, INT64_MAX); break;
  case IR_I32: ((int32_t *)p)[i] = (int32_t)f2i(v, INT32_MIN, INT32_MAX); break;
  case IR_I16: ((int16_t *)p)[i] = (int16_t)f2i(v, INT16_MIN, INT16_MAX); break;
  case IR_I8: ((int8_t *)p)[i] = (int8_t)f2i(v, INT8_MIN, INT8_MAX); break;
  case IR_U8: ((uint8_t *)p)[i] = (uint8_t)f2i(v, 0, UINT8_MAX); break;
  case IR_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
  default: KILN_UNREACHABLE();
  }
}

/* Integer stores wrap like two's-complement narrowing (ONNX Cast semantics). */
void ir_store_i(ir_dtype t, void *p, int64_t i, int64_t v) {
  switch (t) {
  case IR_I64: ((int64_t *)p)[i] = v; break;
  case IR_I32: ((int32_t *)p)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
  case IR_I16: ((int16_t *)p)[i] = (int16_t)(uint16_t)(uint64_t)v; break;
  case IR_I8: ((int8_t *)p)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
  case IR_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)v; break;
  case IR_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  default: ir_store_f(t, p, i, (double)v); break;
  }
}

double ir_tensor_get_f(const ir_tensor *t, int64_t i) { return ir_load_f(t->type.dtype, t->data, i); }
int64_t ir_tensor_get_i(const ir_tensor *t, int64_t i) { return ir_load_i(t->type.dtype, t->data, i); }
void ir_tensor_set_f(ir_tensor *t, int64_t i, double v) { ir_store_f(t->type.dtype, t->data, i, v); }
void ir_tensor_set_i(ir_tensor *t, int64_t i, int64_t v) { ir_store_i(t->type.dtype, t->data, i, v); }

int ir_tensor_alloc(ir_tensor *t, const ir_type *type, kiln_diag *d) {
  t->type = *type;
  t->data = NULL;
  if (ir_type_check(type, d, "tensor")) return d ? d->status : KILN_E_INVALID;
  int64_t nb = ir_type_nbytes(type);
  if (nb > IR_MAX_BYTES)
    return kiln_diag_error(d, KILN_E_NOMEM, "tensor of %lld bytes exceeds the limit",
                           (long long)nb);
  t->data = calloc(1, nb ? (size_t)nb : 1);
  if (!t->data)
    return kiln_diag_error(d, KILN_E_NOMEM, "out of memory allocating %lld bytes",
                           (long long)nb);
  return KILN_OK;
}

void ir_tensor_release(ir_tensor *t) {
  free(t->data);
  t->data = NULL;
}

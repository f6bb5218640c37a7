/* Deterministic parameter initialisers (docs/kir.md, "Initialiser").
 *
 * The same spec and type give the same bytes on every machine and compiler:
 *   - the generator is xoshiro256** (64-bit integer arithmetic only), its four
 *     state words the first four outputs of splitmix64 started at the seed;
 *   - a uniform double in [0, 1) is the generator's top 53 bits times 2^-53;
 *   - normal samples come from Marsaglia's polar method, which needs only
 *     + - * /, sqrt (correctly rounded by IEEE 754) and a logarithm; libm's
 *     log is not correctly rounded and differs between libraries, so we use
 *     our own (kir_log below) built from + - * / and frexp, all exact or
 *     correctly rounded;
 *   - results are computed in double and rounded once to the element type.
 * This relies on IEEE double arithmetic without excess precision and without
 * fused multiply-add contraction: the build passes -ffp-contract=off, and
 * FLT_EVAL_METHOD must be 0 (checked below).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ir.h"

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "ir/init.c needs FLT_EVAL_METHOD == 0 (no excess precision) to be deterministic"
#endif

/* ---- generator ------------------------------------------------------------- */
typedef struct {
  uint64_t s[4];
} rng;

static uint64_t splitmix64_next(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void rng_seed(rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64_next(&x);
  /* splitmix64 is a bijection of its counter, so four consecutive outputs are
   * never all zero (the one state xoshiro cannot leave). */
  KILN_ASSERT(r->s[0] | r->s[1] | r->s[2] | r->s[3]);
}

static uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl64(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return out;
}

/* Uniform in [0, 1): the top 53 bits, exactly representable. */
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- logarithm from + - * / and frexp ---------------------------------------- */
/* Natural log of a positive finite x. x = m * 2^e with m in [sqrt(1/2), sqrt(2));
 * log(m) = 2 atanh(t), t = (m-1)/(m+1), |t| <= 0.1716, summed as the odd series
 * 2 (t + t^3/3 + ... + t^21/21): the first omitted term is below 2^-56 of the
 * result. ln 2 is split in two (the high part has trailing zero bits so that
 * e * LN2_HI is exact for any exponent). Accurate to about one ulp; what
 * matters here is that every step is an IEEE operation, so the result is the
 * same everywhere. */
static double kir_log(double x) {
  static const double LN2_HI = 6.93147180369123816490e-01; /* 0x3fe62e42fee00000 */
  static const double LN2_LO = 1.90821492927058770002e-10; /* ln 2 - LN2_HI */
  static const double SQRT_HALF = 0.70710678118654752440;
  KILN_ASSERT(x > 0 && isfinite(x));
  int e;
  double m = frexp(x, &e); /* m in [0.5, 1) */
  if (m < SQRT_HALF) {
    m = ldexp(m, 1);
    e--;
  }
  double t = (m - 1.0) / (m + 1.0), t2 = t * t;
  double sum = 0.0;
  for (int k = 10; k >= 0; k--) sum = 1.0 / (double)(2 * k + 1) + t2 * sum;
  double lm = 2.0 * t * sum;
  return (double)e * LN2_HI + ((double)e * LN2_LO + lm);
}

/* Standard normal samples from the polar method; produces pairs and returns
 * the second of each pair on the following call. */
typedef struct {
  rng r;
  int have_spare;
  double spare;
} normal_gen;

/* The rejection loop accepts with probability pi/4; this bound is never
 * reached by a working generator (the chance is below 10^-600) and only
 * turns a broken one into an internal error instead of a hang. */
#define POLAR_MAX_TRIES 1000

static double normal_next(normal_gen *n) {
  if (n->have_spare) {
    n->have_spare = 0;
    return n->spare;
  }
  for (int tries = 0; tries < POLAR_MAX_TRIES; tries++) {
    double u = 2.0 * rng_uniform(&n->r) - 1.0;
    double v = 2.0 * rng_uniform(&n->r) - 1.0;
    double s = u * u + v * v;
    if (s >= 1.0 || s == 0.0) continue;
    double m = sqrt(-2.0 * kir_log(s) / s);
    n->spare = v * m;
    n->have_spare = 1;
    return u * m;
  }
  KILN_UNREACHABLE();
}

/* ---- specs -------------------------------------------------------------------- */
typedef enum { I_ZEROS, I_ONES, I_CONSTANT, I_UNIFORM, I_NORMAL, I_XAVIER, I_KAIMING } init_kind;

/* Each initialiser's arguments and their defaults. Argument names with
 * NAN defaults are optional without a default (fan_in, fan_out: from the
 * shape) or, for `value`, required. */
static const struct {
  const char *name;
  init_kind kind;
  int n_args;
  const char *args[4];
  double defs[4];
} inits[] = {
    {"zeros", I_ZEROS, 0, {0}, {0}},
    {"ones", I_ONES, 0, {0}, {0}},
    {"constant", I_CONSTANT, 1, {"value"}, {NAN}},
    {"uniform", I_UNIFORM, 3, {"low", "high", "seed"}, {0, 1, 0}},
    {"normal", I_NORMAL, 3, {"mean", "std", "seed"}, {0, 1, 0}},
    {"xavier_uniform", I_XAVIER, 4, {"gain", "seed", "fan_in", "fan_out"}, {1, 0, NAN, NAN}},
    {"kaiming_uniform", I_KAIMING, 4, {"a", "seed", "fan_in", "fan_out"}, {0, 0, NAN, NAN}},
};
#define N_INITS ((int)(sizeof inits / sizeof inits[0]))

/* Largest seed and fan: integers a double holds exactly. */
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

static int is_whole(double v, double lo, double hi) {
  return isfinite(v) && v == floor(v) && v >= lo && v <= hi;
}

/* PyTorch's fans, for the layouts kiln uses: [n]; [in, out] (matmul(x, w));
 * [out, in/groups, k...] (conv). A scalar counts as one unit. */
static void fans_of(const ir_type *t, double *fan_in, double *fan_out) {
  if (t->rank == 0) {
    *fan_in = *fan_out = 1;
  } else if (t->rank == 1) {
    *fan_in = *fan_out = (double)t->dims[0];
  } else if (t->rank == 2) {
    *fan_in = (double)t->dims[0];
    *fan_out = (double)t->dims[1];
  } else {
    /* in double: with a zero dim the other dims are not bounded by the
     * element limit, and an int64 product could overflow */
    double k = 1;
    for (int i = 2; i < t->rank; i++) k *= (double)t->dims[i];
    *fan_in = (double)t->dims[1] * k;
    *fan_out = (double)t->dims[0] * k;
  }
}

int ir_init_fill(const ir_init_spec *s, const ir_type *t, void *data, kiln_diag *d) {
  if (ir_type_check(t, d, "initialiser")) return d ? d->status : KILN_E_INVALID;
  if (!s->name) return kiln_diag_error(d, KILN_E_INVALID, "initialiser without a name");
  int w = -1;
  for (int i = 0; i < N_INITS; i++)
    if (strcmp(s->name, inits[i].name) == 0) w = i;
  if (w < 0)
    return kiln_diag_error(d, KILN_E_INVALID,
                           "unknown initialiser '%.64s' (zeros, ones, constant, uniform, "
                           "normal, xavier_uniform, kaiming_uniform)",
                           s->name);
  if (s->n_args < 0 || s->n_args > 4)
    return kiln_diag_error(d, KILN_E_INVALID, "%s: too many arguments", s->name);

  /* collect the arguments over the defaults */
  double val[4];
  int given[4] = {0, 0, 0, 0};
  for (int k = 0; k < 4; k++) val[k] = inits[w].defs[k];
  for (int a = 0; a < s->n_args; a++) {
    int k = -1;
    for (int j = 0; j < inits[w].n_args; j++)
      if (s->arg_names[a] && strcmp(s->arg_names[a], inits[w].args[j]) == 0) k = j;
    if (k < 0)
      return kiln_diag_error(d, KILN_E_INVALID, "%s has no argument '%.64s'", s->name,
                             s->arg_names[a] ? s->arg_names[a] : "");
    if (given[k])
      return kiln_diag_error(d, KILN_E_INVALID, "%s: argument '%s' is given twice", s->name,
                             inits[w].args[k]);
    given[k] = 1;
    val[k] = s->arg_vals[a];
  }

  init_kind kind = inits[w].kind;
  ir_dtype dt = t->dtype;
  double lo = 0, hi = 0, mean = 0, std = 0, cval = 0;
  uint64_t seed = 0;
  switch (kind) {
  case I_ZEROS: cval = 0; break;
  case I_ONES: cval = 1; break;
  case I_CONSTANT:
    if (!given[0]) return kiln_diag_error(d, KILN_E_INVALID, "constant needs 'value'");
    cval = val[0];
    if (dt == IR_BOOL && !(cval == 0 || cval == 1))
      return kiln_diag_error(d, KILN_E_INVALID, "constant: value for bool must be 0 or 1");
    if (ir_dtype_is_int(dt)) {
      int64_t imin = 0, imax = 0;
      switch (dt) {
      case IR_I64: imin = INT64_MIN; imax = INT64_MAX; break;
      case IR_I32: imin = INT32_MIN; imax = INT32_MAX; break;
      case IR_I16: imin = INT16_MIN; imax = INT16_MAX; break;
      case IR_I8: imin = INT8_MIN; imax = INT8_MAX; break;
      case IR_U8: imin = 0; imax = UINT8_MAX; break;
      default: KILN_UNREACHABLE();
      }
      /* (double)INT64_MAX rounds up to 2^63, hence the strict upper bound */
      if (!(isfinite(cval) && cval == floor(cval) && cval >= (double)imin &&
            (dt == IR_I64 ? cval < 0x1.0p63 : cval <= (double)imax)))
        return kiln_diag_error(d, KILN_E_INVALID, "constant: value is not a %s",
                               ir_dtype_name(dt));
    }
    break;
  default: {
    if (!ir_dtype_is_float(dt))
      return kiln_diag_error(d, KILN_E_INVALID, "%s fills float tensors, not %s", s->name,
                             ir_dtype_name(dt));
    int seed_k = kind == I_UNIFORM || kind == I_NORMAL ? 2 : 1;
    if (!is_whole(val[seed_k], 0, MAX_EXACT_INT))
      return kiln_diag_error(d, KILN_E_INVALID, "%s: seed must be an integer in [0, 2^53]",
                             s->name);
    seed = (uint64_t)val[seed_k];
    for (int k = 0; k < inits[w].n_args; k++)
      if (k != seed_k && given[k] && !isfinite(val[k]))
        return kiln_diag_error(d, KILN_E_INVALID, "%s: '%s' must be finite", s->name,
                               inits[w].args[k]);
    if (kind == I_UNIFORM) {
      lo = val[0];
      hi = val[1];
      if (lo > hi) return kiln_diag_error(d, KILN_E_INVALID, "uniform: low > high");
    } else if (kind == I_NORMAL) {
      mean = val[0];
      std = val[1];
      if (std < 0) return kiln_diag_error(d, KILN_E_INVALID, "normal: std < 0");
    } else {
      double fi, fo;
      fans_of(t, &fi, &fo);
      for (int k = 2; k < 4; k++)
        if (given[k] && !is_whole(val[k], 1, MAX_EXACT_INT))
          return kiln_diag_error(d, KILN_E_INVALID,
                                 "%s: '%s' must be a positive integer (at most 2^53)", s->name,
                                 inits[w].args[k]);
      if (given[2]) fi = val[2];
      if (given[3]) fo = val[3];
      double b;
      if (kind == I_XAVIER) {
        if (val[0] < 0) return kiln_diag_error(d, KILN_E_INVALID, "xavier_uniform: gain < 0");
        b = fi + fo > 0 ? val[0] * sqrt(6.0 / (fi + fo)) : 0.0;
      } else {
        double a = val[0];
        b = fi > 0 ? sqrt(2.0 / (1.0 + a * a)) * sqrt(3.0 / fi) : 0.0;
      }
      /* a tensor with a zero dim has no elements; its bound does not matter */
      lo = -b;
      hi = b;
    }
  }
  }
  if (!data) return KILN_OK; /* checking only */

  int64_t n = ir_type_numel(t);
  switch (kind) {
  case I_ZEROS:
  case I_ONES:
  case I_CONSTANT:
    for (int64_t i = 0; i < n; i++) {
      if (ir_dtype_is_int(dt) || dt == IR_BOOL) {
        /* checked above: integral and in range (2^63 excluded) */
        ir_store_i(dt, data, i, (int64_t)cval);
      } else {
        ir_store_f(dt, data, i, cval);
      }
    }
    break;
  case I_NORMAL: {
    normal_gen ng;
    memset(&ng, 0, sizeof ng);
    rng_seed(&ng.r, seed);
    for (int64_t i = 0; i < n; i++) ir_store_f(dt, data, i, mean + std * normal_next(&ng));
    break;
  }
  default: {
    rng r;
    rng_seed(&r, seed);
    double span = hi - lo;
    for (int64_t i = 0; i < n; i++) ir_store_f(dt, data, i, lo + span * rng_uniform(&r));
    break;
  }
  }
  return KILN_OK;
}

/* .npy reader and writer (runtime/npy.c) against files written by NumPy
 * (tests/data/npy/gen.py). */
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "harness.h"
#include "kilnrt_npy.h"

#define D "tests/data/npy/"

static void *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  rewind(f);
  void *p = malloc((size_t)sz + 1);
  *n = fread(p, 1, (size_t)sz, f);
  fclose(f);
  return p;
}

START_TEST(test_read_numpy_files) {
  kiln_npy a;
  char err[512];
  ck_assert_msg(kiln_npy_read(D "f32_2x3.npy", &a, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(a.dtype, KILN_F32);
  ck_assert_int_eq(a.rank, 2);
  ck_assert_int_eq(a.dims[0], 2);
  ck_assert_int_eq(a.dims[1], 3);
  for (int i = 0; i < 6; i++) ck_assert(((float *)a.data)[i] == (float)i / 4);
  kiln_npy_release(&a);

  ck_assert_msg(kiln_npy_read(D "i64_4.npy", &a, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(a.dtype, KILN_I64);
  ck_assert(((int64_t *)a.data)[3] == (INT64_C(1) << 40));
  ck_assert(((int64_t *)a.data)[1] == -2);
  kiln_npy_release(&a);

  ck_assert_msg(kiln_npy_read(D "bool_scalar.npy", &a, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(a.dtype, KILN_BOOL);
  ck_assert_int_eq(a.rank, 0);
  ck_assert_int_eq(((uint8_t *)a.data)[0], 1);
  kiln_npy_release(&a);

  ck_assert_msg(kiln_npy_read(D "u8_empty.npy", &a, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(a.rank, 2);
  ck_assert_int_eq(a.dims[0], 0);
  ck_assert_int_eq(a.nbytes, 0);
  kiln_npy_release(&a);

  ck_assert_msg(kiln_npy_read(D "f64_1x1x2.npy", &a, err, sizeof err) == 0, "%s", err);
  ck_assert(((double *)a.data)[1] == -1.25);
  kiln_npy_release(&a);

  /* format versions 1, 2 and 3 */
  const char *v[] = {D "v1_f32.npy", D "v2_f32.npy", D "v3_f32.npy"};
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(kiln_npy_read(v[k], &a, err, sizeof err) == 0, "%s", err);
    ck_assert(((float *)a.data)[5] == 1.25f);
    kiln_npy_release(&a);
  }
}
END_TEST

START_TEST(test_refuse) {
  kiln_npy a;
  char err[512];
  ck_assert_int_eq(kiln_npy_read(D "big_endian.npy", &a, err, sizeof err), KILN_E_UNSUPPORTED);
  ck_assert(strstr(err, "big-endian"));
  ck_assert_int_eq(kiln_npy_read(D "fortran.npy", &a, err, sizeof err), KILN_E_UNSUPPORTED);
  ck_assert(strstr(err, "Fortran"));
  ck_assert_int_ne(kiln_npy_read(D "missing.npy", &a, err, sizeof err), 0);
  /* every truncation of a valid file is refused cleanly */
  size_t n;
  unsigned char *buf = slurp(D "f32_2x3.npy", &n);
  for (size_t k = 0; k < n; k++) {
    int rc = kiln_npy_parse("prefix", buf, k, &a, err, sizeof err);
    ck_assert_msg(rc != 0, "prefix of %zu bytes accepted", k);
  }
  /* a header promising more data than there is */
  unsigned char *bad = malloc(n);
  memcpy(bad, buf, n);
  char *shape = strstr((char *)bad + 10, "(2, 3)");
  ck_assert(shape != NULL);
  memcpy(shape, "(9, 3)", 6);
  ck_assert_int_eq(kiln_npy_parse("bad", bad, n, &a, err, sizeof err), KILN_E_PARSE);
  ck_assert(strstr(err, "truncated"));
  free(bad);
  free(buf);
}
END_TEST

/* The writer produces exactly NumPy's bytes. */
START_TEST(test_write_matches_numpy) {
  char err[512], path[] = "/tmp/kiln_npy_XXXXXX";
  int fd = mkstemp(path);
  ck_assert(fd >= 0);
  close(fd);
  float a[6];
  for (int i = 0; i < 6; i++) a[i] = (float)i / 4;
  int64_t dims[2] = {2, 3};
  ck_assert_msg(kiln_npy_write(path, KILN_F32, 2, dims, a, err, sizeof err) == 0, "%s", err);
  size_t n1, n2;
  void *mine = slurp(path, &n1), *theirs = slurp(D "f32_2x3.npy", &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert(memcmp(mine, theirs, n1) == 0);
  free(mine);
  free(theirs);

  int64_t d1[1] = {4}, v[4] = {1, -2, 3, INT64_C(1) << 40};
  ck_assert(kiln_npy_write(path, KILN_I64, 1, d1, v, err, sizeof err) == 0);
  mine = slurp(path, &n1);
  theirs = slurp(D "i64_4.npy", &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert(memcmp(mine, theirs, n1) == 0);
  free(mine);
  free(theirs);

  uint8_t t = 1;
  ck_assert(kiln_npy_write(path, KILN_BOOL, 0, NULL, &t, err, sizeof err) == 0);
  mine = slurp(path, &n1);
  theirs = slurp(D "bool_scalar.npy", &n2);
  ck_assert_int_eq(n1, n2);
  ck_assert(memcmp(mine, theirs, n1) == 0);
  free(mine);
  free(theirs);
  remove(path);
}
END_TEST

static Suite *npy_suite(void) {
  Suite *s = suite_create("npy");
  TCase *tc = tcase_create("npy");
  tcase_add_test(tc, test_read_numpy_files);
  tcase_add_test(tc, test_refuse);
  tcase_add_test(tc, test_write_matches_numpy);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(npy_suite)

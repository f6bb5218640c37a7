/* A program built against an installed libkilnrt (tests/runtime/install_test.cmake):
 * loads the artifact argv[1], runs it on zeros through the packed and the
 * typed entry, checks that both agree, and writes output 0 to argv[2] as .npy.
 * Prints "consumer ok" and exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kilnrt.h"
#include "kilnrt_npy.h"

static int fail(const char *what) {
  fprintf(stderr, "consumer: %s: %s\n", what, kilnrt_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: consumer ARTIFACT OUT.npy\n"), 2;
  kilnrt_model *m;
  if (kilnrt_load(argv[1], NULL, &m)) return fail("load");
  int ni = kilnrt_num_inputs(m), no = kilnrt_num_outputs(m);
  void **in = calloc((size_t)ni + 1, sizeof *in), **a = calloc((size_t)no + 1, sizeof *a),
       **b = calloc((size_t)no + 1, sizeof *b);
  for (int i = 0; i < ni; i++) in[i] = calloc(1, kilnrt_input(m, i)->nbytes + 1);
  for (int j = 0; j < no; j++) {
    a[j] = calloc(1, kilnrt_output(m, j)->nbytes + 1);
    b[j] = calloc(1, kilnrt_output(m, j)->nbytes + 1);
  }
  kilnrt_workspace *ws;
  if (kilnrt_workspace_create(m, &ws)) return fail("workspace");
  if (kilnrt_run(m, ws, (const void *const *)in, a)) return fail("run");
  if (kilnrt_has_typed_entry(m) && kilnrt_run_typed(m, (const void *const *)in, b))
    return fail("run_typed");
  for (int j = 0; kilnrt_has_typed_entry(m) && j < no; j++)
    if (memcmp(a[j], b[j], kilnrt_output(m, j)->nbytes))
      return fprintf(stderr, "consumer: typed and packed outputs differ\n"), 1;
  const kiln_artifact_tensor *o = kilnrt_output(m, 0);
  char err[512];
  if (kiln_npy_write(argv[2], (kiln_dtype)o->dtype, o->rank, o->dims, a[0], err, sizeof err))
    return fprintf(stderr, "consumer: %s\n", err), 1;
  printf("%s: %d input(s), %d output(s), kilnrt %s\nconsumer ok\n", kilnrt_name(m), ni, no,
         kilnrt_version());
  for (int i = 0; i < ni; i++) free(in[i]);
  for (int j = 0; j < no; j++) free(a[j]), free(b[j]);
  free(in), free(a), free(b);
  kilnrt_workspace_free(ws);
  kilnrt_unload(m);
  return 0;
}

/* Replays fuzz inputs without libFuzzer: each argument is a file, or a
 * directory whose regular files (not recursively) are run in name order,
 * once each, through the target's LLVMFuzzerTestOneInput. Linked with each
 * target in the normal and sanitizer builds, so that the seed corpus and
 * every regression input from tests/fuzz/corpus run in CTest (a property
 * violation aborts; the sanitizers report the rest).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return 1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += r;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  int bad = !buf || ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "replay: %s: cannot read\n", path);
    free(buf);
    return 1;
  }
  /* an exactly sized copy, so that reads past the input's end are caught */
  uint8_t *in = malloc(n ? n : 1);
  memcpy(in, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(in, n);
  free(in);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
  int failed = 0, ran = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed += run_file(argv[i]);
      ran++;
      continue;
    }
    struct dirent **ents;
    int n = scandir(argv[i], &ents, NULL, by_name);
    if (n < 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      failed++;
      continue;
    }
    for (int k = 0; k < n; k++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], ents[k]->d_name);
      if (ents[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        failed += run_file(path);
        ran++;
      }
      free(ents[k]);
    }
    free(ents);
  }
  printf("replay: %d inputs, %d unreadable\n", ran, failed);
  return failed ? 1 : 0;
}

/* Packaging an object: a shared object through the system C compiler
 * driver, a static library written as an ar archive directly (so it needs
 * no binutils for the target and is reproducible: all dates, owners and
 * modes are fixed). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/cg_internal.h"

extern char **environ;

/* Words of the driver command (KILN_CC="ccache gcc"): at most this many. */
#define CG_MAX_CC_WORDS 16

int cg_write_file(const char *path, const void *data, size_t n, kiln_diag *d) {
  FILE *f = fopen(path, "wb");
  if (!f) return kiln_diag_error(d, KILN_E_IO, "%s: cannot create: %s", path, strerror(errno));
  size_t w = n ? fwrite(data, 1, n, f) : 0;
  int bad = w != n;
  if (fclose(f) != 0) bad = 1;
  if (bad) return kiln_diag_error(d, KILN_E_IO, "%s: write failed: %s", path, strerror(errno));
  return KILN_OK;
}

/* A fresh private directory for temporary files ($TMPDIR or /tmp). */
static int make_temp_dir(char *buf, size_t n, kiln_diag *d) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  if ((size_t)snprintf(buf, n, "%s/kiln-XXXXXX", tmp) >= n)
    return kiln_diag_error(d, KILN_E_IO, "TMPDIR '%s' is too long", tmp);
  if (!mkdtemp(buf))
    return kiln_diag_error(d, KILN_E_IO, "%s: cannot create a temporary directory: %s", buf,
                           strerror(errno));
  return KILN_OK;
}

int cg_link_shared(const char *cc, const void *obj, size_t obj_len, const char *out, kiln_diag *d) {
  char dir[4096], obj_path[4200], log_path[4200];
  int rc = make_temp_dir(dir, sizeof dir, d);
  if (rc) return rc;
  snprintf(obj_path, sizeof obj_path, "%s/model.o", dir);
  snprintf(log_path, sizeof log_path, "%s/link.log", dir);
  rc = cg_write_file(obj_path, obj, obj_len, d);

  char *words = kiln_xstrdup(cc);
  char *argv[CG_MAX_CC_WORDS + 12];
  int argc = 0;
  for (char *s = strtok(words, " \t"); s && argc < CG_MAX_CC_WORDS; s = strtok(NULL, " \t"))
    argv[argc++] = s;
  if (!rc && argc == 0) rc = kiln_diag_error(d, KILN_E_USAGE, "the C compiler command is empty");
  /* libm only when a kernel calls it, libpthread (where it is not part of
   * libc) for the thread pool; --no-undefined catches anything outside
   * libc, libm and libpthread at link time instead of at load time */
  const char *base = strrchr(out, '/');
  char soname[512];
  snprintf(soname, sizeof soname, "-Wl,-soname,%s", base ? base + 1 : out);
  const char *tail[] = {
      "-shared", "-o", out, soname, obj_path, "-Wl,--as-needed", "-lm", "-lpthread",
      "-Wl,--no-undefined", NULL};
  for (int i = 0; tail[i]; i++) argv[argc++] = (char *)tail[i];
  argv[argc] = NULL;

  if (!rc) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
      rc = kiln_diag_error(d, KILN_E_IO,
                           "cannot run the C compiler '%s' to link %s: %s (set --cc or KILN_CC)",
                           argv[0], out, strerror(e));
    } else {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char log[2048] = "";
        FILE *f = fopen(log_path, "r");
        if (f) {
          size_t k = fread(log, 1, sizeof log - 1, f);
          log[k] = 0;
          fclose(f);
        }
        rc = kiln_diag_error(d, KILN_E_IO, "linking %s with '%s' failed (status %d):\n%s", out,
                             argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1, log);
      }
    }
  }
  free(words);
  unlink(obj_path);
  unlink(log_path);
  rmdir(dir);
  return rc;
}

/* ---- ar archives ------------------------------------------------------------------------- */

/* One 60-byte member header: name, date, uid, gid, mode (octal), size. */
static void ar_header(FILE *f, const char *name, const char *mode, size_t size) {
  char h[96];
  int w = snprintf(h, sizeof h, "%-16s%-12s%-6s%-6s%-8s%-10zu`\n", name, "0", "0", "0", mode, size);
  KILN_ASSERT(w == 60); /* names are at most 16 bytes, sizes at most 10 digits */
  fwrite(h, 1, 60, f);
}

static void be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

int cg_write_archive(const char *out, const char *member, const void *obj, size_t obj_len,
                     const char *syms, int n_syms, kiln_diag *d) {
  /* the GNU ar symbol index ("/"): count, member offsets, names */
  size_t names_len = 0;
  for (int i = 0, off = 0; i < n_syms; i++) {
    size_t k = strlen(syms + off) + 1;
    names_len += k;
    off += (int)k;
  }
  size_t idx_len = 4 + 4 * (size_t)n_syms + names_len;
  size_t idx_padded = idx_len + (idx_len & 1);
  size_t member_off = 8 + 60 + idx_padded;
  if (member_off > UINT32_MAX || obj_len > (size_t)9999999999ull)
    return kiln_diag_error(d, KILN_E_UNSUPPORTED, "%s: the object is too large for an archive",
                           out);
  unsigned char *idx = kiln_xcalloc(idx_padded, 1);
  be32(idx, (uint32_t)n_syms);
  for (int i = 0; i < n_syms; i++) be32(idx + 4 + 4 * i, (uint32_t)member_off);
  memcpy(idx + 4 + 4 * (size_t)n_syms, syms, names_len);
  if (idx_padded > idx_len) idx[idx_len] = '\n';

  FILE *f = fopen(out, "wb");
  if (!f) {
    free(idx);
    return kiln_diag_error(d, KILN_E_IO, "%s: cannot create: %s", out, strerror(errno));
  }
  char mname[20];
  snprintf(mname, sizeof mname, "%s/", member); /* GNU style: '/' ends the name */
  fwrite("!<arch>\n", 1, 8, f);
  ar_header(f, "/", "0", idx_len);
  fwrite(idx, 1, idx_padded, f);
  ar_header(f, mname, "644", obj_len);
  fwrite(obj, 1, obj_len, f);
  if (obj_len & 1) fputc('\n', f);
  free(idx);
  if (ferror(f) | (fclose(f) != 0))
    return kiln_diag_error(d, KILN_E_IO, "%s: write failed: %s", out, strerror(errno));
  return KILN_OK;
}

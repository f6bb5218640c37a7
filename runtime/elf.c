/* Finding an artifact's NAME without being told: the prefixes of the
 * `NAME_metadata` symbols in a shared object's dynamic symbol table, read
 * from the file (section headers, .dynsym and its string table). Every
 * offset and size is checked against the file before use; anything
 * unexpected makes the scan give up (-1), never crash. */
#include <elf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_internal.h"

#define RT_ELF_MAX_TABLE ((uint64_t)256 << 20) /* larger symbol tables are refused */

static int read_at(int fd, void *buf, uint64_t size, uint64_t off) {
  uint64_t done = 0;
  while (done < size) {
    ssize_t r = pread(fd, (char *)buf + done, (size_t)(size - done), (off_t)(off + done));
    if (r <= 0) return -1;
    done += (uint64_t)r;
  }
  return 0;
}

/* Reads [off, off+size) of a file of file_size bytes into a new buffer. */
static void *read_range(int fd, uint64_t file_size, uint64_t off, uint64_t size) {
  if (size > RT_ELF_MAX_TABLE || off > file_size || size > file_size - off) return NULL;
  void *p = malloc(size ? (size_t)size : 1);
  if (p && read_at(fd, p, size, off)) {
    free(p);
    p = NULL;
  }
  return p;
}

static int scan(int fd, uint64_t file_size, char (*names)[RT_MAX_NAME], int max) {
  Elf64_Ehdr eh;
  if (file_size < sizeof eh || read_at(fd, &eh, sizeof eh, 0)) return -1;
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr) ||
      eh.e_shnum == 0)
    return -1;
  Elf64_Shdr *sh = read_range(fd, file_size, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof *sh);
  if (!sh) return -1;
  int found = -1;
  for (unsigned s = 0; s < eh.e_shnum && found < 0; s++) {
    if (sh[s].sh_type != SHT_DYNSYM) continue;
    if (sh[s].sh_entsize != sizeof(Elf64_Sym) || sh[s].sh_link >= eh.e_shnum) break;
    const Elf64_Shdr *strsh = &sh[sh[s].sh_link];
    Elf64_Sym *syms = read_range(fd, file_size, sh[s].sh_offset, sh[s].sh_size);
    char *str = read_range(fd, file_size, strsh->sh_offset, strsh->sh_size);
    if (syms && str && strsh->sh_size > 0) {
      str[strsh->sh_size - 1] = 0; /* every name below ends inside the table */
      uint64_t n = sh[s].sh_size / sizeof(Elf64_Sym);
      static const char suffix[] = "_metadata";
      const size_t ls = sizeof suffix - 1;
      found = 0;
      for (uint64_t i = 0; i < n; i++) {
        const Elf64_Sym *y = &syms[i];
        if (y->st_shndx == SHN_UNDEF || y->st_name >= strsh->sh_size) continue;
        int bind = ELF64_ST_BIND(y->st_info), type = ELF64_ST_TYPE(y->st_info);
        if ((bind != STB_GLOBAL && bind != STB_WEAK) || type != STT_FUNC) continue;
        const char *nm = str + y->st_name;
        size_t len = strlen(nm);
        if (len <= ls || len - ls >= RT_MAX_NAME || strcmp(nm + len - ls, suffix)) continue;
        if (found < max) {
          memcpy(names[found], nm, len - ls);
          names[found][len - ls] = 0;
        }
        found++;
      }
    }
    free(syms);
    free(str);
  }
  free(sh);
  return found;
}

int rt_elf_metadata_prefixes(const char *path, char (*names)[RT_MAX_NAME], int max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  int r = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? scan(fd, (uint64_t)st.st_size, names, max)
                                                     : -1;
  close(fd);
  return r;
}

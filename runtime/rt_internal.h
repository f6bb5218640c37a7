/* libkilnrt internals shared by the runtime sources. Not installed. */
#ifndef KILNRT_INTERNAL_H
#define KILNRT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kilnrt.h"

/* Longest NAME prefix accepted (codegen's CG_MAX_NAME). */
#define RT_MAX_NAME 128

/* Sets the calling thread's error message and returns status. */
int rt_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the message and returns KILN_OK. */
int rt_ok(void);

/* ---- elf.c --------------------------------------------------------------------- */

/* Collects into names (up to max entries of RT_MAX_NAME bytes) the
 * prefixes P of the defined global symbols `P_metadata` in the ELF64
 * dynamic symbol table of the file at path. Returns the number found (it
 * may exceed max; only max are stored), or -1 when the file cannot be read
 * as a little-endian ELF64 shared object (nothing is reported). */
int rt_elf_metadata_prefixes(const char *path, char (*names)[RT_MAX_NAME], int max);

/* ---- ffi.c ------------------------------------------------------------------------ */

typedef struct rt_ffi rt_ffi;

/* 1 when this build can call typed entries. */
int rt_ffi_available(void);
/* Prepares a call interface for int f(void *, ... n_args pointers).
 * Returns NULL (with the error set) when libffi refuses or is absent. */
rt_ffi *rt_ffi_prepare(int n_args);
/* Calls fn with the n_args pointers in args; the int it returns goes to
 * *result. Safe to call concurrently on one rt_ffi. */
void rt_ffi_call(const rt_ffi *f, void *fn, void *const *args, int *result);
void rt_ffi_free(rt_ffi *f);

#endif

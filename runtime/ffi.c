/* The generic call path: a libffi call interface for an artifact's typed
 * entry, int NAME_run(const T *in0, ..., T *out0, ...), built from the
 * metadata's input and output counts alone (every parameter is a data
 * pointer, whatever its element type). Without libffi (KILNRT_HAVE_FFI
 * undefined) typed calls report KILN_E_UNSUPPORTED. */
#include <stdlib.h>

#include "rt_internal.h"

#ifdef KILNRT_HAVE_FFI
#include <ffi.h>

struct rt_ffi {
  ffi_cif cif;
  int n_args;
  ffi_type *types[]; /* n_args entries, all &ffi_type_pointer */
};

int rt_ffi_available(void) { return 1; }

rt_ffi *rt_ffi_prepare(int n_args) {
  if (n_args < 0 || n_args > 4096) {
    rt_error(KILN_E_INVALID, "a typed entry with %d parameters", n_args);
    return NULL;
  }
  rt_ffi *f = calloc(1, sizeof *f + (size_t)(n_args ? n_args : 1) * sizeof(ffi_type *));
  if (!f) {
    rt_error(KILN_E_NOMEM, "out of memory for a call interface");
    return NULL;
  }
  f->n_args = n_args;
  for (int i = 0; i < n_args; i++) f->types[i] = &ffi_type_pointer;
  ffi_status s = ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, (unsigned)n_args, &ffi_type_sint,
                              n_args ? f->types : NULL);
  if (s != FFI_OK) {
    free(f);
    rt_error(KILN_E_UNSUPPORTED, "libffi cannot prepare a call with %d pointer parameters "
             "(ffi_prep_cif status %d)", n_args, (int)s);
    return NULL;
  }
  return f;
}

void rt_ffi_call(const rt_ffi *f, void *fn, void *const *args, int *result) {
  /* libffi takes a pointer to each argument's value; the values are the
   * buffer pointers themselves. The cif is only read, so concurrent calls
   * may share it. */
  void *small[32];
  void **values = f->n_args <= 32 ? small : malloc((size_t)f->n_args * sizeof(void *));
  if (!values) {
    *result = KILN_ARTIFACT_E_NOMEM;
    return;
  }
  for (int i = 0; i < f->n_args; i++) values[i] = (void *)&args[i];
  ffi_arg rc = 0; /* an int return is widened to ffi_arg */
  void (*entry)(void);
  *(void **)&entry = fn;
  ffi_call((ffi_cif *)&f->cif, entry, &rc, values);
  *result = (int)(ffi_sarg)rc;
  if (values != small) free(values);
}

void rt_ffi_free(rt_ffi *f) { free(f); }

#else /* !KILNRT_HAVE_FFI */

struct rt_ffi {
  int unused;
};

int rt_ffi_available(void) { return 0; }

rt_ffi *rt_ffi_prepare(int n_args) {
  (void)n_args;
  rt_error(KILN_E_UNSUPPORTED, "this libkilnrt was built without libffi; typed entries "
           "cannot be called");
  return NULL;
}

void rt_ffi_call(const rt_ffi *f, void *fn, void *const *args, int *result) {
  (void)f, (void)fn, (void)args;
  *result = -1;
}

void rt_ffi_free(rt_ffi *f) { (void)f; }

#endif

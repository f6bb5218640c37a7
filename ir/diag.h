/* Error reporting. Three channels:
 *  - user mistakes (bad model, bad flag): kiln_diag_error() records a message
 *    with its location and a status code that the caller returns upwards;
 *  - internal bugs: KILN_ASSERT prints file:line and aborts;
 *  - library APIs return status codes and never exit.
 */
#ifndef KILN_DIAG_H
#define KILN_DIAG_H

#include <stdarg.h>
#include <stdio.h>

#include "kiln_diag.h"

/* Records an error (the first one wins) and returns its code. d may be NULL. */
int kiln_diag_error(kiln_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int kiln_diag_verror(kiln_diag *d, int code, const char *fmt, va_list ap);
/* Prepends "prefix" to the recorded message (adds context on the way up). */
void kiln_diag_prefix(kiln_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kiln_diag_warn(kiln_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Internal invariant: prints file:line and the condition, then aborts. */
#define KILN_ASSERT(c)                                                        \
  do {                                                                        \
    if (!(c)) kiln_assert_fail(__FILE__, __LINE__, #c);                       \
  } while (0)
#define KILN_UNREACHABLE() kiln_assert_fail(__FILE__, __LINE__, "unreachable")
_Noreturn void kiln_assert_fail(const char *file, int line, const char *cond);

/* Checked allocation for internal structures: aborts with a message on OOM
 * (tensor data uses checked sizes and reports KILN_E_NOMEM instead). */
void *kiln_xmalloc(size_t n);
void *kiln_xcalloc(size_t n, size_t sz);
void *kiln_xrealloc(void *p, size_t n);
char *kiln_xstrdup(const char *s);

#endif

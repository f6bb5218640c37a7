/* Error reports of the kiln compiler library: a status code and the first
 * error's message, which names the file, node or line it is about. */
#ifndef KILN_DIAG_PUBLIC_H
#define KILN_DIAG_PUBLIC_H

#include <stdio.h>

#include "kiln_status.h"

#define KILN_DIAG_MSG 4096

typedef struct kiln_diag {
  int status;                /* KILN_OK or the first error's code */
  char msg[KILN_DIAG_MSG];   /* the first error's message */
  FILE *warn;                /* where warnings go; NULL: stderr */
  int n_warnings;
} kiln_diag;

void kiln_diag_init(kiln_diag *d);
void kiln_diag_clear(kiln_diag *d);

#endif

/* Status codes shared by the kiln compiler library and runtime. */
#ifndef KILN_STATUS_H
#define KILN_STATUS_H

typedef enum {
  KILN_OK = 0,
  KILN_E_USAGE = 2,        /* bad command-line use or API argument */
  KILN_E_PARSE = 3,        /* malformed model file (.kir or .onnx) */
  KILN_E_INVALID = 4,      /* well-formed but invalid graph (types, shapes) */
  KILN_E_UNSUPPORTED = 5,  /* an op, dtype or feature kiln does not support */
  KILN_E_IO = 6,           /* file system errors */
  KILN_E_NOMEM = 7,        /* allocation failed or a size limit was exceeded */
  KILN_E_RUNTIME = 8,      /* failure while running a model */
  KILN_E_MISMATCH = 9,     /* results differ from a reference */
  KILN_E_INTERNAL = 10,    /* a bug in kiln */
} kiln_status;

const char *kiln_status_name(int status);

#endif

/* The .kir text format: the parser. The printer is ir_print (ir/printer.c);
 * docs/kir.md is the spec of both.
 *
 * Input is untrusted: every size is checked against the limits below and
 * the IR's own (ir.h) before anything is allocated from it, nothing recurses
 * on the input's nesting except fused-node bodies (at most KIR_MAX_DEPTH),
 * and every failure is a diag error `FILE:LINE:COL: message` with status
 *   KILN_E_PARSE    syntax (unexpected token, bad number or string, ...)
 *   KILN_E_INVALID  semantics (unknown op or attribute, wrong attribute
 *                   kind, redefinition, undefined value, wrong literal count,
 *                   data range outside a file, ...)
 *   KILN_E_UNSUPPORTED / KILN_E_NOMEM  rank or size limits (as ir_type_check)
 *   KILN_E_IO       the .kir file or a data file cannot be read
 * Structural errors the verifier finds (ir_verify, run after parsing) carry
 * its message instead.
 */
#ifndef KILN_KIR_H
#define KILN_KIR_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* ---- limits (docs/kir.md, "Limits") ------------------------------------- */
#define KIR_MAX_TEXT (INT64_C(1) << 30) /* bytes of one .kir text */
#define KIR_MAX_DEPTH 8                 /* nesting of fused-node bodies */
#define KIR_MAX_LIST 65536              /* elements of an ints/floats attribute */
#define KIR_MAX_STRING 65536            /* bytes of one string literal */
#define KIR_MAX_NUMBER 128              /* characters of one number */
/* Initialiser data one parse may allocate, all constants together (data from
 * literals is bounded by the text, file data is mapped, not read). A fuzzing
 * build may define a smaller value. */
#ifndef KIR_MAX_INIT_BYTES
#define KIR_MAX_INIT_BYTES (INT64_C(1) << 32)
#endif

/* Parses a .kir file. g->source is `path` as given, g->base_dir its
 * directory made absolute (relative file() paths are resolved from it).
 * NULL with a diag error on failure. */
ir_graph *kir_parse_file(const char *path, kiln_diag *d);

/* Parses len bytes of text (NUL bytes in it are errors, not terminators).
 * `name` names the text in messages and becomes g->source (NULL: "<string>");
 * base_dir resolves relative file() paths (NULL: the working directory). */
ir_graph *kir_parse_string(const char *name, const char *text, size_t len,
                           const char *base_dir, kiln_diag *d);

#endif

/* Graphviz DOT output of a graph (`kiln inspect --dot`; docs/cli.md).
 *
 * The drawing: graph inputs and outputs are ovals, constants small grey
 * boxes (name and type), nodes rounded boxes labelled with their op and,
 * when it has one, their name. A node with a body (a `fused` node) is a
 * `subgraph cluster_*` holding its body's nodes and constants; edges go
 * straight from the producer outside to the body nodes that read a fused
 * input, and from the body node computing a fused result to its readers.
 * Every edge is labelled with its value's type (`f32[1,64,56,56]`; no label
 * for an untyped value). Ids are made from node and value indices, never
 * from names; every string taken from the model is escaped (ir_dot_put_string).
 * The output depends only on the graph.
 */
#ifndef KILN_IR_DOT_H
#define KILN_IR_DOT_H

#include <stdio.h>

#include "ir.h"

/* Bodies nested deeper than this are drawn as a plain node. */
#define IR_DOT_MAX_DEPTH 16

/* Writes g as a DOT digraph. KILN_E_IO when writing to f fails. */
int ir_write_dot(const ir_graph *g, FILE *f, kiln_diag *d);

/* Writes s as a DOT double-quoted string whose label text renders as s:
 * `"` and `\` are escaped (so Graphviz's `\N`, `\n`, `\l`, ... escapes never
 * come from a name), `&` becomes `&amp;` (Graphviz decodes HTML entities in
 * labels), control bytes and bytes that are not valid UTF-8 are shown as
 * `\n`, `\t`, `\r` or `\xHH` (written `\\n`, ...), valid UTF-8 passes as
 * it is. */
void ir_dot_put_string(FILE *f, const char *s);

#endif

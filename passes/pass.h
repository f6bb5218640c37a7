/* The pass manager. Every pass has a name, a one-line description and one
 * entry function over the graph; passes are listed in passes.def, and
 * docs/passes.md describes what each one requires and guarantees.
 *
 * A pass receives a graph that satisfies ir_verify() (typed once
 * infer-shapes has run) and must leave one that does too; --verify-each
 * checks this after every pass. */
#ifndef KILN_PASS_H
#define KILN_PASS_H

#include <stdio.h>

#include "ir.h"

typedef struct pass_ctx pass_ctx;

/* A pass rewrites g in place. Returns 0 or a diag error. */
typedef int (*pass_fn)(ir_graph *g, pass_ctx *ctx, kiln_diag *d);

typedef struct {
  const char *name;
  const char *desc;
  pass_fn run;
} pass_info;

/* Longest pipeline; also keeps the dump numbers (NN-pass.kir) two digits. */
#define PASS_MAX_PIPELINE 64

typedef struct {
  int opt_level;            /* 0, 1, 2 (-O3 is treated as 2 by the graph passes) */
  int verify_each;          /* run ir_verify after every pass */
  int time_passes;          /* print a timing table to `report` at the end */
  const char *dump_after;   /* comma list of pass names, or "all"; NULL: none */
  const char *dump_dir;     /* one NN-pass.kir per dump; NULL: dumps go to `report` */
  FILE *report;             /* timing table and terminal dumps; NULL: stderr */
} pass_options;

/* opt_level 2, everything else off, report = stderr. */
void pass_options_default(pass_options *o);

/* What a pass sees besides the graph. */
struct pass_ctx {
  const pass_options *opts; /* never NULL while a pass runs */
  int index;                /* 0-based position in the pipeline */
  int changes;              /* rewrites made by the pass (set by the pass) */
};

/* All registered passes (for --help and --print-pipeline). */
const pass_info *pass_list(int *n);
const pass_info *pass_find(const char *name);

/* A pipeline: a list of passes. Built from an -O level or a --passes list
 * ("a,b,c"; "" is the empty pipeline). Unknown names are an error that lists
 * the known ones. */
typedef struct {
  int n;
  const pass_info *passes[PASS_MAX_PIPELINE];
} pass_pipeline;

/* Levels 0..3 (3 behaves as 2); any other level is KILN_E_USAGE. */
int pass_pipeline_for_level(int level, pass_pipeline *p);
int pass_pipeline_parse(const char *list, pass_pipeline *p, kiln_diag *d);
/* "infer-shapes,fold-constants,..." into buf (truncated to fit n). */
void pass_pipeline_str(const pass_pipeline *p, char *buf, size_t n);

/* Runs the pipeline over g with the given options (NULL: defaults). Stops
 * at the first failing pass; the timing table, when asked for, covers the
 * passes that ran. */
int pass_run(ir_graph *g, const pass_pipeline *p, const pass_options *o, kiln_diag *d);

/* ---- pass entry points (one file each; see passes.def) --------------------- */
#define PASS(name, desc, fn) int fn(ir_graph *g, pass_ctx *ctx, kiln_diag *d);
#include "passes.def"
#undef PASS

/* ---- helpers shared by the passes (manager.c) ------------------------------ */

/* Live (not dead) nodes of g. */
int pass_count_nodes(const ir_graph *g);
/* 1 when v is one of g's outputs. */
int pass_is_graph_output(const ir_graph *g, int v);

/* Value replacement map used by the rewriting passes. Passes visit nodes in
 * order (producers before consumers), record "old is now new" in the map and
 * rewrite each node's inputs through it when they reach the node, so a
 * rewrite costs O(1) instead of a scan over every use. */
typedef struct {
  int n;
  int *to; /* to[v] == v: not replaced */
} pass_repl;

void pass_repl_init(pass_repl *r, const ir_graph *g);
void pass_repl_free(pass_repl *r);
/* The value v finally stands for (follows chains). */
int pass_repl_find(pass_repl *r, int v);
/* Rewrites node's inputs through the map; returns how many changed. */
int pass_repl_apply(pass_repl *r, ir_graph *g, int node);
/* Makes `old` (an output of a node the caller is about to remove) stand for
 * `repl`. When old is a graph output, the graph's output names must not
 * change: repl takes old's name if it is produced by a node and is not a
 * graph input or output; then 1 is returned. Otherwise old has to stay (0 is
 * returned, nothing changes) and the caller keeps the node. */
int pass_replace_value(pass_repl *r, ir_graph *g, int old, int repl);

/* Compile-time constant data of v (a constant with data), else NULL. */
const void *pass_const_data(const ir_graph *g, int v);

#endif

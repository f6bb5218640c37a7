/* The pass manager. Every pass has a name, a one-line description and one
 * entry function over the graph; passes are listed in passes.def. */
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

#define PASS_MAX_PIPELINE 64

typedef struct {
  int opt_level;            /* 0, 1, 2 (-O3 is treated as 2 by the graph passes) */
  int verify_each;          /* run ir_verify after every pass */
  int time_passes;          /* print a timing table to `report` at the end */
  const char *dump_after;   /* comma list of pass names, or "all"; NULL: none */
  const char *dump_dir;     /* one NN-pass.kir per dump; NULL: dumps go to `report` */
  FILE *report;             /* timing table and terminal dumps; NULL: stderr */
} pass_options;

void pass_options_default(pass_options *o);

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

int pass_pipeline_for_level(int level, pass_pipeline *p);
int pass_pipeline_parse(const char *list, pass_pipeline *p, kiln_diag *d);
/* "infer-shapes,fold-constants,..." into buf. */
void pass_pipeline_str(const pass_pipeline *p, char *buf, size_t n);

/* Runs the pipeline over g with the given options. */
int pass_run(ir_graph *g, const pass_pipeline *p, const pass_options *o, kiln_diag *d);

#endif

/* The memory passes' building blocks, for the passes themselves
 * (schedule.c, plan_memory.c), the API's memory report and the tests.
 *
 * The liveness model (docs/passes.md, "schedule" and "plan-memory"): nodes
 * run one at a time in node order; node k is step k. An intermediate value
 * (the typed result of a live node) is live from the step of its producer to
 * the step of its last consumer, both included; a result nothing reads is
 * live during its producer's step only. Graph inputs and constants never
 * count. Graph outputs count for the schedule (they live to the end) but are
 * written to the caller's buffers, so they take no arena space.
 */
#ifndef KILN_MEMPLAN_H
#define KILN_MEMPLAN_H

#include "passes/pass.h"

/* ---- schedule ------------------------------------------------------------------- */

/* Exact search limits: graphs with more live nodes, or searches that would
 * keep more states or do more work, fall back to the heuristics. */
#define SCHED_EXACT_MAX_NODES 256
#define SCHED_EXACT_MAX_STATES (1 << 17)
#define SCHED_EXACT_MAX_WORK (INT64_C(1) << 24) /* node visits over all states */

/* Peak live bytes (raw, unaligned) when g's live nodes run in the order
 * given: order[k] is a node id, every live node once, producers first.
 * order NULL: node order. */
int64_t sched_peak_bytes(const ir_graph *g, const int *order);

/* Greedy list schedules: at each step pick a ready node (all producers done)
 * by the variant's rule; ties go to the earlier node in node order. */
typedef enum {
  SCHED_GREEDY_NET,      /* least (bytes allocated - bytes freed) */
  SCHED_GREEDY_FREE,     /* most bytes freed, then least allocated */
  SCHED_GREEDY_STEP,     /* least live bytes during the step, then least net */
  SCHED_GREEDY_NET_LIFO, /* least net, ties to the most recently readied */
  SCHED_GREEDY_COUNT
} sched_greedy_variant;

/* Fills order (live-node count entries) with the variant's schedule;
 * returns its peak. */
int64_t sched_greedy(const ir_graph *g, sched_greedy_variant v, int *order);

typedef enum {
  SCHED_EXACT_BETTER = 1, /* found an order with peak < bound (written) */
  SCHED_EXACT_NONE = 0,   /* searched everything: no order beats bound */
  SCHED_EXACT_LIMIT = -1, /* a limit stopped it (SCHED_EXACT_MAX_*) */
} sched_exact_result;

/* Dynamic programming over the sets of executed nodes (every downward
 * closed set is a state; its live bytes depend on the set only; a state's
 * value is the least peak of any order reaching it). States whose value
 * reaches `bound` are pruned. On SCHED_EXACT_BETTER, order holds an optimal
 * order and *peak its peak. max_states <= 0 means SCHED_EXACT_MAX_STATES. */
sched_exact_result sched_exact(const ir_graph *g, int64_t bound, int max_states, int *order,
                               int64_t *peak);

/* ---- plan-memory ------------------------------------------------------------------ */

#define PLAN_ALIGN 64 /* bytes: every offset, and every slot's size, is a multiple */

typedef enum {
  PLAN_SIZE_BEST_FIT,  /* largest first, into the smallest gap that fits */
  PLAN_SIZE_FIRST_FIT, /* largest first, at the lowest offset that fits */
  PLAN_LIFETIME,       /* in order of definition, at the lowest offset that fits */
  PLAN_STRATEGY_COUNT,
  PLAN_BEST = -1 /* run every strategy, keep the smallest arena (first on ties) */
} plan_strategy;

typedef struct {
  int64_t naive_bytes;       /* every arena value's aligned size, summed */
  int64_t lower_bound_bytes; /* most aligned bytes of buffers live at one step */
  int64_t arena_bytes;       /* the plan's arena */
  int values;                /* values given an arena slot */
  int in_place;              /* of which written over an input */
  plan_strategy strategy;    /* the strategy kept */
} plan_stats;

/* Packs n buffers of the given sizes, live over the inclusive step ranges
 * [start, end], with strategy s (not PLAN_BEST): off[k] receives offsets.
 * Returns the arena size (the largest offset + size). */
int64_t plan_pack(int n, const int64_t *size, const int *start, const int *end,
                  plan_strategy s, int64_t *off);
/* The most bytes live at one step: no packing can use less. */
int64_t plan_lower_bound(int n, const int64_t *size, const int *start, const int *end);

/* Plans g's memory in node order with one strategy (or PLAN_BEST), with or
 * without in-place reuse: sets every value's offset (-1 for values outside
 * the arena) and g->arena_bytes. Requires a typed graph in topological
 * order. 0 or a diag error (a model too large to plan). */
int plan_memory_run(ir_graph *g, plan_strategy s, int in_place, plan_stats *st, kiln_diag *d);

/* The figures of g's current plan (g->arena_bytes) and node order; naive and
 * lower bound are recomputed with in-place reuse as plan-memory applies it. */
void plan_memory_stats(const ir_graph *g, plan_stats *st);

/* Checks g's plan against its node order: every arena value has a
 * PLAN_ALIGN-aligned offset with offset + size <= arena_bytes, values outside
 * the arena have none, and any two values live at the same step occupy
 * disjoint bytes -- except a result written in place over an input whose
 * last use is its producer (elementwise, same type, same offset). 0 or a
 * diag error naming both values. */
int plan_memory_check(const ir_graph *g, kiln_diag *d);

#endif

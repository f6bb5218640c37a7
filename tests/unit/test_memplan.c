/* Unit tests for schedule and plan-memory (passes/memplan.h).
 *
 * Plans are checked three ways: plan_memory_check (no two values live at
 * the same step share a byte, except legal in-place pairs), the figures
 * (lower bound <= arena <= naive), and by running the graph through the
 * arena: every node reads its inputs from and writes its results into one
 * buffer at the planned offsets (poisoned first), and the outputs must equal
 * the reference interpreter's bit for bit -- any overlap of live values that
 * the checker missed would corrupt them. Schedules are checked against the
 * original order on random DAGs and against brute force over every
 * topological order on tiny ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kiln.h"
#include "passes/memplan.h"

/* ---- building graphs ------------------------------------------------------------ */

#define TY(rank, ...) th_type(IR_F32, rank, (const int64_t[]){0, __VA_ARGS__} + 1)

static uint64_t rng;
static int rnext(int n) { /* [0, n) */
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (int)((rng >> 33) % (uint64_t)n);
}
static double rnd(void) { return (double)rnext(1 << 20) / (double)(1 << 19) - 1.0; }

static int add_in(ir_graph *g, const char *name, ir_type t) { return ir_add_input(g, name, &t); }

static int rconst(ir_graph *g, ir_type t) {
  int64_t n = ir_type_numel(&t);
  float *v = malloc(sizeof(float) * (size_t)(n + 1));
  for (int64_t i = 0; i < n; i++) v[i] = (float)rnd();
  int c = ir_add_const(g, NULL, &t, v);
  free(v);
  return c;
}

/* Shape inference alone (the graph being built is partly typed). */
static void infer(ir_graph *g) {
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(ir_infer_shapes(g, &d) == 0, "%s", d.msg);
}

/* A random typed DAG of about `steps` nodes over f32 [1, C, 8] tensors (C in
 * 1..24: 32 to 768 bytes, so slots need alignment): elementwise chains (the
 * in-place candidates), binary and broadcast ops, concat and split (sizes
 * grow and shrink; split has two results), reductions, matmuls, unused
 * results and values that are both graph outputs and read later. */
static ir_graph *random_dag(uint64_t seed, int steps) {
  rng = seed * 0x9e3779b97f4a7c15ull + 7;
  ir_graph *g = ir_graph_new("dag");
  int pool[256], np = 0;
  pool[np++] = ir_add_input(g, "x", &(ir_type){IR_F32, 3, {1, 1 + rnext(6), 8}});
  if (rnext(2)) pool[np++] = ir_add_input(g, "x2", &(ir_type){IR_F32, 3, {1, 1 + rnext(6), 8}});
  for (int s = 0; s < steps && np < 250; s++) {
    /* prefer recent values, sometimes reach far back */
    int a = pool[rnext(3) ? np - 1 - rnext(np < 4 ? np : 4) : rnext(np)];
    int64_t ca = g->values[a].type.dims[1];
    int v = -1, kind = rnext(9);
    if (kind <= 1) {
      static const ir_op un[] = {IR_OP_RELU, IR_OP_NEG, IR_OP_TANH, IR_OP_SIGMOID, IR_OP_ABS};
      v = th_op(g, un[rnext(5)], NULL, 1, a);
    } else if (kind == 2) { /* binary with a same-shaped operand, or itself */
      int b = a;
      for (int t = 0; t < 6; t++) {
        int c = pool[rnext(np)];
        if (ir_type_equal(&g->values[c].type, &g->values[a].type)) b = c;
      }
      static const ir_op bin[] = {IR_OP_ADD, IR_OP_MUL, IR_OP_SUB};
      v = rnext(2) ? th_op(g, bin[rnext(3)], NULL, 2, a, b)
                   : th_op(g, bin[rnext(3)], NULL, 2, b, a);
    } else if (kind == 3) { /* broadcast with a constant or a [1, 1, 8] value */
      int b = rconst(g, TY(3, 1, 1, 8));
      for (int t = 0; t < 4; t++) {
        int c = pool[rnext(np)];
        if (g->values[c].type.dims[1] == 1) b = c;
      }
      v = rnext(2) ? th_op(g, IR_OP_ADD, NULL, 2, a, b) : th_op(g, IR_OP_MUL, NULL, 2, b, a);
    } else if (kind == 4) { /* concat */
      int b = pool[rnext(np)];
      if (ca + g->values[b].type.dims[1] > 24) b = a;
      if (ca * 2 > 24) continue;
      v = th_op(g, IR_OP_CONCAT, NULL, 2, a, b);
      ir_set_int(g, g->values[v].producer, "axis", 1);
    } else if (kind == 5) { /* reduce over channels */
      v = th_op(g, IR_OP_REDUCE_SUM, NULL, 1, a);
      ir_set_ints(g, g->values[v].producer, "axes", (const int64_t[]){1}, 1);
    } else if (kind == 6 && ca >= 2) { /* split: two results, sometimes one unused */
      int64_t first = 1 + rnext((int)ca - 1);
      int n = ir_node_new(g, IR_OP_SPLIT, NULL, &a, 1, 2, NULL);
      ir_set_int(g, n, "axis", 1);
      ir_set_ints(g, n, "split", (const int64_t[]){first, ca - first}, 2);
      pool[np++] = g->nodes[n].out[0];
      v = g->nodes[n].out[1];
    } else if (kind == 7) { /* matmul with a constant */
      v = th_op(g, IR_OP_MATMUL, NULL, 2, a, rconst(g, TY(2, 8, 8)));
    } else { /* slice channels */
      v = th_op(g, IR_OP_SLICE, NULL, 1, a);
      int n = g->values[v].producer;
      ir_set_ints(g, n, "starts", (const int64_t[]){0}, 1);
      ir_set_ints(g, n, "ends", (const int64_t[]){1 + rnext((int)ca)}, 1);
      ir_set_ints(g, n, "axes", (const int64_t[]){1}, 1);
    }
    if (v >= 0) {
      pool[np++] = v;
      infer(g); /* shapes for the next choices */
    }
  }
  /* outputs: the last value and one or two others (no duplicates) */
  ir_add_output(g, pool[np - 1]);
  for (int k = rnext(3); k > 0; k--) {
    int v = pool[rnext(np)];
    int dup = g->values[v].kind != IR_VAL_NODE;
    for (int j = 0; j < g->n_outputs; j++) dup |= g->outputs[j] == v;
    if (!dup) ir_add_output(g, v);
  }
  th_run_passes(g, "infer-shapes");
  return g;
}

/* ---- running through the arena ------------------------------------------------------- */

static void random_feeds(const ir_graph *g, ir_tensor *feeds) {
  kiln_diag d;
  kiln_diag_init(&d);
  for (int i = 0; i < g->n_inputs; i++) {
    const ir_type *t = &g->values[g->inputs[i]].type;
    ck_assert(ir_tensor_alloc(&feeds[i], t, &d) == 0);
    for (int64_t e = 0; e < ir_type_numel(t); e++) ir_tensor_set_f(&feeds[i], e, rnd());
  }
}

/* Runs g node by node in node order with every planned value in one
 * poisoned arena at its offset; graph outputs (and other unplanned results)
 * in their own buffers. Results are evaluated into fresh tensors and then
 * copied into the arena, so a result written over its input behaves as an
 * elementwise kernel in place. outs[k] are heap tensors. */
static void arena_run(const ir_graph *g, const ir_tensor *feeds, ir_tensor *outs) {
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_int_ge(g->arena_bytes, 0);
  unsigned char *arena = malloc((size_t)g->arena_bytes + 1);
  memset(arena, 0xA5, (size_t)g->arena_bytes + 1);
  ir_tensor *own = calloc((size_t)g->n_values + 1, sizeof(ir_tensor));
  char *owned = calloc((size_t)g->n_values + 1, 1);
  for (int i = 0; i < g->n_inputs; i++) own[g->inputs[i]] = feeds[i];
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].kind == IR_VAL_CONST) own[v] = (ir_tensor){g->values[v].type, g->values[v].data};
  for (int i = 0; i < g->n_nodes; i++) {
    const ir_node *n = &g->nodes[i];
    if (n->dead) continue;
    const ir_tensor *in[8];
    ir_tensor in_t[8], out_t[8];
    ir_tensor *out[8];
    ck_assert(n->n_in <= 8 && n->n_out <= 8);
    for (int k = 0; k < n->n_in; k++) {
      const ir_value *v = &g->values[n->in[k]];
      if (v->offset >= 0) {
        in_t[k] = (ir_tensor){v->type, arena + v->offset};
      } else {
        in_t[k] = own[n->in[k]];
        ck_assert_msg(in_t[k].data || ir_type_numel(&v->type) == 0, "'%s' has no data", v->name);
      }
      in[k] = &in_t[k];
    }
    for (int j = 0; j < n->n_out; j++) {
      ck_assert(ir_tensor_alloc(&out_t[j], &g->values[n->out[j]].type, &d) == 0);
      out[j] = &out_t[j];
    }
    ck_assert_msg(ir_eval_node(g, n, in, out, &d) == 0, "%s", d.msg);
    for (int j = 0; j < n->n_out; j++) {
      const ir_value *v = &g->values[n->out[j]];
      if (v->offset >= 0) {
        memcpy(arena + v->offset, out_t[j].data, (size_t)ir_type_nbytes(&v->type));
        ir_tensor_release(&out_t[j]);
      } else {
        own[n->out[j]] = out_t[j];
        owned[n->out[j]] = 1;
      }
    }
  }
  for (int k = 0; k < g->n_outputs; k++) {
    int v = g->outputs[k];
    ck_assert_msg(owned[v], "output '%s' is not in its own buffer", g->values[v].name);
    ir_tensor t;
    ck_assert(ir_tensor_alloc(&t, &g->values[v].type, &d) == 0);
    memcpy(t.data, own[v].data, (size_t)ir_type_nbytes(&t.type));
    outs[k] = t;
  }
  for (int v = 0; v < g->n_values; v++)
    if (owned[v]) ir_tensor_release(&own[v]);
  free(own);
  free(owned);
  free(arena);
}

/* The planned graph computes what the interpreter computes. */
static void check_arena_run(const ir_graph *g) {
  ir_tensor feeds[4], want[8], got[8];
  ck_assert(g->n_inputs <= 4 && g->n_outputs <= 8);
  kiln_diag d;
  kiln_diag_init(&d);
  random_feeds(g, feeds);
  ck_assert_msg(ir_interp_run(g, feeds, want, &d) == 0, "%s", d.msg);
  arena_run(g, feeds, got);
  for (int k = 0; k < g->n_outputs; k++) {
    th_assert_close(&got[k], &want[k], 0.0, 0.0);
    ir_tensor_release(&got[k]);
    ir_tensor_release(&want[k]);
  }
  for (int i = 0; i < g->n_inputs; i++) ir_tensor_release(&feeds[i]);
}

static void check_plan(const ir_graph *g, const plan_stats *st, uint64_t seed) {
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(plan_memory_check(g, &d) == 0, "seed %d: %s", (int)seed, d.msg);
  ck_assert_int_eq(g->arena_bytes, st->arena_bytes);
  ck_assert_int_eq(st->arena_bytes % PLAN_ALIGN, 0);
  ck_assert_int_le(st->lower_bound_bytes, st->arena_bytes);
  ck_assert_int_le(st->arena_bytes, st->naive_bytes);
  /* the figures recomputed from the plan agree */
  plan_stats again;
  plan_memory_stats(g, &again);
  ck_assert_int_eq(again.naive_bytes, st->naive_bytes);
  ck_assert_int_eq(again.lower_bound_bytes, st->lower_bound_bytes);
  ck_assert_int_eq(again.in_place, st->in_place);
}

/* ---- plan-memory ------------------------------------------------------------------ */

START_TEST(test_plan_random_dags) {
  kiln_diag d;
  kiln_diag_init(&d);
  int in_place_seen = 0;
  for (uint64_t seed = 0; seed < 300; seed++) {
    ir_graph *g = random_dag(seed, 4 + (int)(seed % 30));
    for (int s = 0; s < PLAN_STRATEGY_COUNT; s++)
      for (int ip = 0; ip <= 1; ip++) {
        plan_stats st;
        ck_assert_msg(plan_memory_run(g, (plan_strategy)s, ip, &st, &d) == 0, "%s", d.msg);
        check_plan(g, &st, seed);
        if (!ip) ck_assert_int_eq(st.in_place, 0);
        in_place_seen += st.in_place;
        if (seed % 3 == 0) check_arena_run(g);
      }
    /* the pass keeps the smallest of the three */
    plan_stats best;
    ck_assert(plan_memory_run(g, PLAN_BEST, 1, &best, &d) == 0);
    for (int s = 0; s < PLAN_STRATEGY_COUNT; s++) {
      plan_stats st;
      ck_assert(plan_memory_run(g, (plan_strategy)s, 1, &st, &d) == 0);
      ck_assert_int_le(best.arena_bytes, st.arena_bytes);
    }
    /* after scheduling, through the pass */
    th_run_passes(g, "schedule,plan-memory");
    plan_stats st;
    plan_memory_stats(g, &st);
    check_plan(g, &st, seed);
    check_arena_run(g);
    ir_graph_free(g);
  }
  ck_assert_int_gt(in_place_seen, 100); /* the generator exercises in-place reuse */
}
END_TEST

/* The checker and the arena run both catch a broken plan. */
START_TEST(test_plan_check_catches_overlap) {
  kiln_diag d;
  kiln_diag_init(&d);
  ir_graph *g = ir_graph_new("bad");
  int x = add_in(g, "x", TY(2, 4, 16));
  int a = th_op(g, IR_OP_EXP, "a", 1, x);
  int b = th_op(g, IR_OP_NEG, "b", 1, x);
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, a, b));
  th_run_passes(g, "infer-shapes,plan-memory");
  ck_assert_int_eq(plan_memory_check(g, &d), 0);
  ck_assert_int_ne(g->values[a].offset, g->values[b].offset);
  check_arena_run(g);
  g->values[b].offset = g->values[a].offset; /* a and b are live together */
  ck_assert_int_ne(plan_memory_check(g, &d), 0);
  ck_assert_msg(strstr(d.msg, "'a'") && strstr(d.msg, "'b'") && strstr(d.msg, "overlap"), "%s",
                d.msg);
  /* misaligned, outside the arena, an output in the arena */
  g->values[b].offset = 32;
  kiln_diag_init(&d);
  ck_assert_int_ne(plan_memory_check(g, &d), 0);
  g->values[b].offset = g->arena_bytes;
  kiln_diag_init(&d);
  ck_assert_int_ne(plan_memory_check(g, &d), 0);
  th_run_passes(g, "plan-memory");
  g->values[g->outputs[0]].offset = 0;
  kiln_diag_init(&d);
  ck_assert_int_ne(plan_memory_check(g, &d), 0);
  ir_graph_free(g);
}
END_TEST

START_TEST(test_plan_in_place) {
  kiln_diag d;
  kiln_diag_init(&d);
  plan_stats st;
  /* x -> relu -> neg -> tanh -> y: each result may overwrite the one before,
   * but not the graph input; y is the caller's */
  ir_graph *g = ir_graph_new("chain");
  int x = add_in(g, "x", TY(2, 4, 16)); /* 256 bytes */
  int r = th_op(g, IR_OP_RELU, "r", 1, x);
  int n = th_op(g, IR_OP_NEG, "n", 1, r);
  int t = th_op(g, IR_OP_TANH, "t", 1, n);
  ir_add_output(g, th_op(g, IR_OP_SIGMOID, "y", 1, t));
  th_run_passes(g, "infer-shapes");
  ck_assert(plan_memory_run(g, PLAN_BEST, 1, &st, &d) == 0);
  ck_assert_int_eq(st.in_place, 2);
  ck_assert_int_eq(st.arena_bytes, 256);
  ck_assert_int_eq(st.lower_bound_bytes, 256);
  ck_assert_int_eq(st.naive_bytes, 768);
  ck_assert_int_eq(g->values[r].offset, 0);
  ck_assert_int_eq(g->values[n].offset, 0);
  ck_assert_int_eq(g->values[t].offset, 0);
  ck_assert_int_eq(g->values[g->outputs[0]].offset, -1);
  ck_assert_int_eq(g->values[x].offset, -1);
  check_arena_run(g);
  ck_assert(plan_memory_run(g, PLAN_BEST, 0, &st, &d) == 0);
  ck_assert_int_eq(st.arena_bytes, 512); /* two slots alternate */
  ck_assert_int_eq(st.lower_bound_bytes, 512);
  check_arena_run(g);
  ir_graph_free(g);

  /* a value read again later is not overwritten; a broadcast operand is not
   * either (its type differs); matmul never writes in place */
  g = ir_graph_new("later");
  x = add_in(g, "x", TY(2, 4, 16));
  int a = th_op(g, IR_OP_EXP, "a", 1, x);
  int b = th_op(g, IR_OP_NEG, "b", 1, a);      /* a is read again by c */
  int c = th_op(g, IR_OP_ADD, "c", 2, a, b);   /* may overwrite a (first) */
  int s = th_op(g, IR_OP_REDUCE_SUM, "s", 1, c); /* [1, 16] */
  ir_set_ints(g, g->values[s].producer, "axes", (const int64_t[]){0}, 1);
  int e = th_op(g, IR_OP_MUL, "e", 2, c, s);   /* c: same type, last use: overwritten */
  int m = th_op(g, IR_OP_MATMUL, "m", 2, e, rconst(g, TY(2, 16, 16)));
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, s, m)); /* s broadcast: output's own */
  th_run_passes(g, "infer-shapes");
  ck_assert(plan_memory_run(g, PLAN_BEST, 1, &st, &d) == 0);
  check_plan(g, &st, 0);
  ck_assert_int_ne(g->values[b].offset, g->values[a].offset);
  ck_assert_int_eq(g->values[c].offset, g->values[a].offset);
  ck_assert_int_eq(g->values[e].offset, g->values[c].offset);
  ck_assert_int_ne(g->values[m].offset, g->values[e].offset);
  ck_assert_int_eq(st.in_place, 2);
  check_arena_run(g);
  ir_graph_free(g);
}
END_TEST

/* The worked example of docs/passes.md: three tensors, sizes and lifetimes
 *   a: 1 KiB, steps 0-2;  b: 1 KiB, steps 2-5;  c: 2 KiB, step 4.
 * At step 4, b and c are live: 3 KiB is the lower bound. In order of
 * definition, a goes to 0, b to 1 KiB (a is live at step 2), and c finds
 * only the 1 KiB gap below b: it goes on top, 4 KiB. Largest first, c goes
 * to 0, a to 0 as well (their lifetimes are disjoint), and b above both at
 * 2 KiB: 3 KiB, the lower bound. */
START_TEST(test_plan_worked_example) {
  const int64_t size[] = {1024, 1024, 2048};
  const int start[] = {0, 2, 4}, end[] = {2, 5, 4};
  int64_t off[3];
  ck_assert_int_eq(plan_lower_bound(3, size, start, end), 3072);
  ck_assert_int_eq(plan_pack(3, size, start, end, PLAN_LIFETIME, off), 4096);
  ck_assert_int_eq(off[0], 0);
  ck_assert_int_eq(off[1], 1024);
  ck_assert_int_eq(off[2], 2048);
  for (int s = PLAN_SIZE_BEST_FIT; s <= PLAN_SIZE_FIRST_FIT; s++) {
    ck_assert_int_eq(plan_pack(3, size, start, end, (plan_strategy)s, off), 3072);
    ck_assert_int_eq(off[0], 0);
    ck_assert_int_eq(off[1], 2048);
    ck_assert_int_eq(off[2], 0);
  }
}
END_TEST

START_TEST(test_plan_empty_and_outputs_only) {
  kiln_diag d;
  kiln_diag_init(&d);
  plan_stats st;
  ir_graph *g = ir_graph_new("io");
  int x = add_in(g, "x", TY(1, 8));
  ir_add_output(g, th_op(g, IR_OP_RELU, "y", 1, x));
  int z = th_op(g, IR_OP_NEG, "z", 1, x); /* unused: its own slot for its step */
  (void)z;
  int e = th_op(g, IR_OP_SLICE, "e", 1, x); /* an empty tensor */
  ir_set_ints(g, g->values[e].producer, "starts", (const int64_t[]){0}, 1);
  ir_set_ints(g, g->values[e].producer, "ends", (const int64_t[]){0}, 1);
  th_run_passes(g, "infer-shapes");
  ck_assert(plan_memory_run(g, PLAN_BEST, 1, &st, &d) == 0);
  ck_assert_int_eq(st.values, 2);
  ck_assert_int_eq(st.arena_bytes, 64);
  ck_assert_int_eq(g->values[e].offset, 0);
  ck_assert_int_eq(g->values[g->outputs[0]].offset, -1);
  check_plan(g, &st, 0);
  check_arena_run(g);
  ir_graph_free(g);
}
END_TEST

/* ---- schedule ---------------------------------------------------------------------- */

START_TEST(test_schedule_never_worse) {
  int improved = 0;
  for (uint64_t seed = 0; seed < 300; seed++) {
    ir_graph *g = random_dag(seed + 1000, 4 + (int)(seed % 40));
    ir_graph *ref = ir_graph_clone(g);
    int64_t before = sched_peak_bytes(g, NULL);
    th_run_passes(g, "schedule");
    int64_t after = sched_peak_bytes(g, NULL);
    ck_assert_int_le(after, before);
    improved += after < before;
    ck_assert_int_eq(g->n_nodes, ref->n_nodes);
    /* same results, bit for bit */
    ir_tensor feeds[4], a[8], b[8];
    kiln_diag d;
    kiln_diag_init(&d);
    random_feeds(g, feeds);
    ck_assert(ir_interp_run(ref, feeds, a, &d) == 0);
    ck_assert(ir_interp_run(g, feeds, b, &d) == 0);
    for (int k = 0; k < g->n_outputs; k++) {
      th_assert_close(&b[k], &a[k], 0.0, 0.0);
      ir_tensor_release(&a[k]);
      ir_tensor_release(&b[k]);
    }
    for (int i = 0; i < g->n_inputs; i++) ir_tensor_release(&feeds[i]);
    /* deterministic and idempotent: a second run keeps the order */
    ir_graph *again = ir_graph_clone(g);
    th_run_passes(again, "schedule");
    for (int i = 0; i < g->n_nodes; i++)
      ck_assert_str_eq(again->values[again->nodes[i].out[0]].name,
                       g->values[g->nodes[i].out[0]].name);
    ir_graph_free(again);
    /* every greedy variant is a valid order no better than the pass's */
    int *order = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
    for (int v = 0; v < SCHED_GREEDY_COUNT; v++) {
      int64_t p = sched_greedy(g, (sched_greedy_variant)v, order);
      ck_assert_int_eq(p, sched_peak_bytes(g, order));
      ck_assert_int_ge(p, after);
    }
    free(order);
    ir_graph_free(ref);
    ir_graph_free(g);
  }
  ck_assert_int_gt(improved, 10); /* the generator's orders leave room */
}
END_TEST

/* Every topological order of g's nodes, by backtracking: the least peak. */
static void all_orders(const ir_graph *g, int *order, int k, char *done, int64_t *best,
                       long *count) {
  int n = g->n_nodes;
  if (k == n) {
    int64_t p = sched_peak_bytes(g, order);
    if (p < *best) *best = p;
    (*count)++;
    return;
  }
  for (int i = 0; i < n; i++) {
    if (done[i]) continue;
    const ir_node *nd = &g->nodes[i];
    int ready = 1;
    for (int a = 0; a < nd->n_in && ready; a++) {
      int p = nd->in[a] >= 0 ? g->values[nd->in[a]].producer : -1;
      if (p >= 0 && !done[p]) ready = 0;
    }
    if (!ready) continue;
    done[i] = 1;
    order[k] = i;
    all_orders(g, order, k + 1, done, best, count);
    done[i] = 0;
  }
}

START_TEST(test_schedule_exact_vs_brute_force) {
  int beat_greedy = 0, tested = 0;
  for (uint64_t seed = 0; seed < 400 && tested < 150; seed++) {
    ir_graph *g = random_dag(seed + 5000, 3 + (int)(seed % 7));
    if (g->n_nodes > 9) {
      ir_graph_free(g);
      continue;
    }
    tested++;
    int n = g->n_nodes;
    int *order = malloc(sizeof(int) * ((size_t)n + 1));
    char *done = calloc((size_t)n + 1, 1);
    int64_t brute = INT64_MAX, peak = -1;
    long count = 0;
    all_orders(g, order, 0, done, &brute, &count);
    ck_assert_int_gt(count, 0);
    ck_assert_int_eq(sched_exact(g, INT64_MAX, 0, order, &peak), SCHED_EXACT_BETTER);
    ck_assert_int_eq(peak, brute);
    ck_assert_int_eq(sched_peak_bytes(g, order), brute);
    /* with the optimum as the bound nothing is better */
    ck_assert_int_eq(sched_exact(g, brute, 0, order, &peak), SCHED_EXACT_NONE);
    int64_t greedy_best = INT64_MAX;
    for (int v = 0; v < SCHED_GREEDY_COUNT; v++) {
      int64_t p = sched_greedy(g, (sched_greedy_variant)v, order);
      if (p < greedy_best) greedy_best = p;
    }
    beat_greedy += brute < greedy_best;
    /* the pass reaches the optimum */
    th_run_passes(g, "schedule");
    ck_assert_int_eq(sched_peak_bytes(g, NULL), brute);
    free(order);
    free(done);
    ir_graph_free(g);
  }
  ck_assert_int_ge(tested, 100);
  /* the exact search matters: it beats every greedy order on some graphs
   * (29 of the 150 with these seeds) */
  ck_assert_int_gt(beat_greedy, 10);
}
END_TEST

/* Two branches written breadth first: the file computes both big tensors
 * before reducing either; finishing one branch first halves the peak. */
START_TEST(test_schedule_branches) {
  ir_graph *g = ir_graph_new("branches");
  int x = add_in(g, "x", TY(2, 1, 16)); /* 64 bytes */
  int e1 = th_op(g, IR_OP_EXPAND, "e1", 1, x);     /* [64, 16]: 4 KiB */
  ir_set_ints(g, g->values[e1].producer, "shape", (const int64_t[]){64, 16}, 2);
  int e2 = th_op(g, IR_OP_EXPAND, "e2", 1, x);
  ir_set_ints(g, g->values[e2].producer, "shape", (const int64_t[]){64, 16}, 2);
  int t1 = th_op(g, IR_OP_TANH, "t1", 1, e1);
  int t2 = th_op(g, IR_OP_TANH, "t2", 1, e2);
  int r1 = th_op(g, IR_OP_REDUCE_SUM, "r1", 1, t1); /* [1, 16] */
  int r2 = th_op(g, IR_OP_REDUCE_SUM, "r2", 1, t2);
  ir_set_ints(g, g->values[r1].producer, "axes", (const int64_t[]){0}, 1);
  ir_set_ints(g, g->values[r2].producer, "axes", (const int64_t[]){0}, 1);
  ir_add_output(g, th_op(g, IR_OP_ADD, "y", 2, r1, r2));
  th_run_passes(g, "infer-shapes");
  ck_assert_int_eq(sched_peak_bytes(g, NULL), 3 * 4096);
  th_run_passes(g, "schedule");
  ck_assert_int_eq(sched_peak_bytes(g, NULL), 2 * 4096 + 64);
  ck_assert_str_eq(g->values[g->nodes[1].out[0]].name, "t1"); /* e1 t1 r1 e2 t2 r2 y */
  ck_assert_str_eq(g->values[g->nodes[2].out[0]].name, "r1");
  th_run_passes(g, "plan-memory");
  plan_stats st;
  plan_memory_stats(g, &st);
  /* tanh in place; at r2's step t2, r1 and r2 are live */
  ck_assert_int_eq(st.lower_bound_bytes, 4096 + 2 * 64);
  ck_assert_int_eq(st.arena_bytes, 4096 + 2 * 64);
  check_arena_run(g);
  ir_graph_free(g);
}
END_TEST

/* Many independent chains: the exact search runs out of states and the
 * heuristics stand; the result is still no worse than the original. */
START_TEST(test_schedule_exact_limit) {
  ir_graph *g = ir_graph_new("wide");
  int x = add_in(g, "x", TY(1, 16));
  int sum = -1;
  for (int c = 0; c < 24; c++) {
    int a = th_op(g, IR_OP_EXP, NULL, 1, x);
    int b = th_op(g, IR_OP_CONCAT, NULL, 2, a, a);
    ir_set_int(g, g->values[b].producer, "axis", 0);
    int r = th_op(g, IR_OP_REDUCE_SUM, NULL, 1, b);
    ir_set_ints(g, g->values[r].producer, "axes", (const int64_t[]){0}, 1);
    sum = sum < 0 ? r : th_op(g, IR_OP_ADD, NULL, 2, sum, r);
  }
  ir_add_output(g, sum);
  th_run_passes(g, "infer-shapes");
  int *order = malloc(sizeof(int) * ((size_t)g->n_nodes + 1));
  int64_t peak;
  ck_assert_int_eq(sched_exact(g, INT64_MAX, 1000, order, &peak), SCHED_EXACT_LIMIT);
  int64_t before = sched_peak_bytes(g, NULL);
  th_run_passes(g, "schedule");
  ck_assert_int_le(sched_peak_bytes(g, NULL), before);
  free(order);
  ir_graph_free(g);
}
END_TEST

/* ---- the API's figures ------------------------------------------------------------- */

START_TEST(test_memory_report) {
  /* x -> big (4 KiB) -> relu in place -> reduce; a second branch written
   * first in the file keeps its 4 KiB alive across the first */
  const char *text =
      "graph m {\n"
      "  input %x: f32[1,16]\n"
      "  input %x2: f32[1,16]\n"
      "  %a = expand(%x) {shape = [64, 16]}\n"
      "  %b = expand(%x2) {shape = [64, 16]}\n"
      "  %ra = relu(%a)\n"
      "  %sa = reduce_sum(%ra) {axes = [0]}\n"
      "  %rb = relu(%b)\n"
      "  %sb = reduce_sum(%rb) {axes = [0]}\n"
      "  %y = add(%sa, %sb)\n"
      "  output %y\n"
      "}\n";
  char path[] = "/tmp/kiln-memplan-XXXXXX.kir";
  int fd = mkstemps(path, 4);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  kiln_model *m;
  kiln_diag d;
  kiln_diag_init(&d);
  ck_assert_msg(kiln_model_load(path, NULL, &m, &d) == 0, "%s", d.msg);
  unlink(path);
  kiln_memory_report r;
  /* -O2 without fuse (which would fold each relu into its reduce_sum) */
  kiln_pipeline_options nofuse;
  kiln_pipeline_options_init(&nofuse);
  nofuse.passes = "infer-shapes,simplify,fold-constants,fold-batchnorm,fold-scale,dce,cse,dce,"
                  "schedule,plan-memory";
  ck_assert_msg(kiln_model_memory(m, &nofuse, &r, &d) == 0, "%s", d.msg);
  /* file order: a, b live together (8 KiB) + ra at its step */
  ck_assert_int_eq(r.peak_default_order_bytes, 3 * 4096);
  ck_assert_int_eq(r.peak_scheduled_bytes, 2 * 4096 + 64);
  ck_assert_int_eq(r.naive_bytes, 4 * 4096 + 2 * 64);
  /* at sb's step: sa, rb (in place over b) and sb */
  ck_assert_int_eq(r.lower_bound_bytes, 4096 + 2 * 64);
  ck_assert_int_eq(r.arena_bytes, 4096 + 2 * 64);
  /* -O0 plus the two passes gives the same on this model; the model itself
   * is not changed */
  kiln_pipeline_options o;
  kiln_pipeline_options_init(&o);
  o.opt_level = 0;
  kiln_memory_report r0;
  ck_assert_msg(kiln_model_memory(m, &o, &r0, &d) == 0, "%s", d.msg);
  ck_assert_int_eq(r0.arena_bytes, r.arena_bytes);
  ck_assert_int_eq(kiln_model_num_outputs(m), 1);
  kiln_model_free(m);
}
END_TEST

static Suite *memplan_suite(void) {
  Suite *s = suite_create("memplan");
  TCase *tc = tcase_create("plan-memory");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_plan_random_dags);
  tcase_add_test(tc, test_plan_check_catches_overlap);
  tcase_add_test(tc, test_plan_in_place);
  tcase_add_test(tc, test_plan_worked_example);
  tcase_add_test(tc, test_plan_empty_and_outputs_only);
  suite_add_tcase(s, tc);
  tc = tcase_create("schedule");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_schedule_never_worse);
  tcase_add_test(tc, test_schedule_exact_vs_brute_force);
  tcase_add_test(tc, test_schedule_branches);
  tcase_add_test(tc, test_schedule_exact_limit);
  suite_add_tcase(s, tc);
  tc = tcase_create("api");
  tcase_add_test(tc, test_memory_report);
  suite_add_tcase(s, tc);
  return s;
}

TH_MAIN(memplan_suite)

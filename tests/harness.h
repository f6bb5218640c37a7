/* Helpers shared by the Check unit suites: tensors from literals, one-node
 * graphs run through shape inference, the verifier and the interpreter, and
 * comparisons with tolerances. */
#ifndef KILN_TEST_HARNESS_H
#define KILN_TEST_HARNESS_H

#include <check.h>

#include "ir.h"

#define TH_DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define TH_VALS(...) ((const double[]){__VA_ARGS__})

/* A heap tensor of dtype dt filled from vals (numel values; NULL: zeros). */
ir_tensor th_tensor(ir_dtype dt, int rank, const int64_t *dims, const double *vals);
/* Loads a .npy file into a heap tensor (fails the test on error). */
ir_tensor th_load_npy(const char *path);

typedef struct {
  ir_graph *g;
  int node;
  int n_feeds;
  const ir_tensor *feeds[64]; /* the tensors given for the graph inputs */
} th_case;

/* A graph with one node of op `op`. Input i is a graph input, or a constant
 * when bit i of const_mask is set; a NULL entry is an absent input. */
th_case th_node(const char *op, int n_in, const ir_tensor *const *ins, unsigned const_mask,
                int n_out);
/* Runs infer-shapes, the verifier and the interpreter. outs[j] receive the
 * outputs (release them). Returns the status; the message is in d. */
int th_run(th_case *c, ir_tensor *outs, kiln_diag *d);
void th_free(th_case *c);

void th_assert_close_impl(const ir_tensor *got, const ir_tensor *want, double rtol, double atol,
                          const char *file, int line);
/* Same dtype and shape, and |got - want| <= atol + rtol * |want| everywhere
 * (NaN matches NaN, infinities must match exactly). */
#define th_assert_close(got, want, rtol, atol) \
  th_assert_close_impl(got, want, rtol, atol, __FILE__, __LINE__)

/* Builds, runs and checks a one-output node in one call; frees everything
 * including the input tensors. */
void th_check_impl(const char *op, int n_in, ir_tensor *ins, unsigned const_mask,
                   void (*set_attrs)(ir_graph *g, int node), const ir_tensor *want, double rtol,
                   double atol, const char *file, int line);
#define th_check(op, n_in, ins, const_mask, set_attrs, want, rtol, atol) \
  th_check_impl(op, n_in, ins, const_mask, set_attrs, want, rtol, atol, __FILE__, __LINE__)

/* Runs a node that must fail during inference or evaluation; returns the
 * status and leaves the message in d. */
int th_expect_error(th_case *c, kiln_diag *d);
int th_expect_node_error_impl(th_case *c, const char *want, const char *file, int line);
/* th_expect_error, asserting that the message contains `want` and names the
 * node ("node 'n'", th_node's name for it); returns the status. The caller
 * still frees the case. */
#define th_expect_node_error(c, want) th_expect_node_error_impl(c, want, __FILE__, __LINE__)

/* ---- graphs built with the C API (the pass and memory-plan suites) ---- */

/* The type dt[dims[0], ..., dims[rank - 1]] (dims may be NULL for rank 0). */
ir_type th_type(ir_dtype dt, int rank, const int64_t *dims);
/* Appends a node of op o over n_in (at most 8) input value ids with one
 * result named `out` (NULL: unnamed); returns the result's value id. */
int th_op(ir_graph *g, ir_op o, const char *out, int n_in, ...);
/* The number of live nodes of op o. */
int th_count_op(const ir_graph *g, ir_op o);
/* Runs the comma-separated pass list on g with --verify-each; fails the
 * test when the list does not parse or a pass fails. */
void th_run_passes(ir_graph *g, const char *list);

void th_assert_same_run_impl(const ir_graph *ref, const ir_graph *g, const ir_tensor *feeds,
                             double rtol, double atol, const char *file, int line);
/* ref and g (a rewrite of ref) have outputs of the same names and, run by
 * the interpreter on the same feeds (one per graph input), outputs equal
 * within rtol/atol (th_assert_close). */
#define th_assert_same_run(ref, g, feeds, rtol, atol) \
  th_assert_same_run_impl(ref, g, feeds, rtol, atol, __FILE__, __LINE__)

/* main() running the suites returned by the given functions. */
int th_main(Suite *(*const *suites)(void), int n);
#define TH_MAIN(...)                                                   \
  int main(void) {                                                     \
    Suite *(*const s[])(void) = {__VA_ARGS__};                         \
    return th_main(s, (int)(sizeof s / sizeof s[0]));                  \
  }

#endif

/* Loading and running artifacts: a small dlopen loader for `kiln run` and
 * the tests, until libkilnrt (with libffi) takes this over. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/cg_internal.h"

static const char *status_text(int s) {
  switch (s) {
  case KILN_ARTIFACT_E_NOMEM: return "out of memory for the workspace";
  case KILN_ARTIFACT_E_ALIGN: return "workspace or weights not 64-byte aligned";
  case KILN_ARTIFACT_E_NO_WEIGHTS: return "weights not set";
  case KILN_ARTIFACT_E_WEIGHTS: return "weights do not belong to this model";
  case KILN_ARTIFACT_E_INDEX: return "an index is out of range";
  default: return "unknown status";
  }
}

int cg_load(const char *path, const char *name, cg_loaded *a, kiln_diag *d) {
  memset(a, 0, sizeof *a);
  a->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!a->handle) return kiln_diag_error(d, KILN_E_RUNTIME, "cannot load %s: %s", path, dlerror());
  char sym[CG_MAX_NAME + 32];
  const kiln_artifact_metadata *(*meta)(void);
  snprintf(sym, sizeof sym, "%s_metadata", name);
  *(void **)&meta = dlsym(a->handle, sym);
  snprintf(sym, sizeof sym, "%s_run_packed", name);
  *(void **)&a->run_packed = dlsym(a->handle, sym);
  snprintf(sym, sizeof sym, "%s_run_packed_w", name);
  *(void **)&a->run_packed_w = dlsym(a->handle, sym);
  snprintf(sym, sizeof sym, "%s_set_weights", name);
  *(void **)&a->set_weights = dlsym(a->handle, sym);
  if (!meta || !a->run_packed || !a->run_packed_w) {
    cg_unload(a);
    return kiln_diag_error(d, KILN_E_RUNTIME, "%s: not a kiln artifact named '%s'", path, name);
  }
  a->meta = meta();
  if (a->meta->abi_version != KILN_ARTIFACT_ABI_VERSION ||
      a->meta->struct_size < sizeof(kiln_artifact_metadata)) {
    int v = (int)a->meta->abi_version;
    cg_unload(a);
    return kiln_diag_error(d, KILN_E_RUNTIME, "%s: artifact ABI version %d, this kiln reads %d",
                           path, v, KILN_ARTIFACT_ABI_VERSION);
  }
  return KILN_OK;
}

void cg_unload(cg_loaded *a) {
  if (a->handle) dlclose(a->handle);
  memset(a, 0, sizeof *a);
}

int cg_run(const ir_graph *g, const cg_options *o, const ir_tensor *inputs, ir_tensor *outputs,
           kiln_diag *d) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096], so[4200];
  snprintf(dir, sizeof dir, "%s/kiln-run-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    return kiln_diag_error(d, KILN_E_IO, "%s: cannot create a temporary directory: %s", dir,
                           strerror(errno));
  snprintf(so, sizeof so, "%s/model.so", dir);
  cg_options co = *o;
  co.emit = CG_EMIT_SO;
  co.out = so;
  co.name = "kiln_model";
  co.weights = CG_WEIGHTS_EMBED;
  co.no_header = 1;
  int rc = cg_compile(g, &co, d);
  cg_loaded a;
  memset(&a, 0, sizeof a);
  if (!rc) rc = cg_load(so, co.name, &a, d);
  unlink(so);
  rmdir(dir);
  if (rc) return rc;
  for (int i = 0; i < g->n_inputs && !rc; i++) {
    const ir_value *v = &g->values[g->inputs[i]];
    if (!ir_type_equal(&inputs[i].type, &v->type)) {
      char x[256], y[256];
      rc = kiln_diag_error(d, KILN_E_USAGE, "%s: input '%s' must be %s, got %s", g->source, v->name,
                           ir_type_str(&v->type, x, sizeof x),
                           ir_type_str(&inputs[i].type, y, sizeof y));
    }
  }
  void **ins = kiln_xcalloc((size_t)g->n_inputs + 1, sizeof(void *));
  void **outs = kiln_xcalloc((size_t)g->n_outputs + 1, sizeof(void *));
  int made = 0;
  for (int i = 0; i < g->n_inputs; i++) ins[i] = inputs[i].data;
  for (int j = 0; j < g->n_outputs && !rc; j++, made++) {
    rc = ir_tensor_alloc(&outputs[j], &g->values[g->outputs[j]].type, d);
    outs[j] = outputs[j].data;
  }
  if (!rc) {
    int s = a.run_packed(ins, outs, NULL);
    if (s)
      rc = kiln_diag_error(d, KILN_E_RUNTIME, "%s: the compiled model failed: %s (status %d)",
                           g->source, status_text(s), s);
  }
  if (rc)
    for (int j = 0; j < made; j++) ir_tensor_release(&outputs[j]);
  free(ins);
  free(outs);
  cg_unload(&a);
  return rc;
}

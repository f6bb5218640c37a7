/* libkilnrt — loads and runs kiln artifacts (docs/runtime.md).
 *
 * An artifact is a shared object that `kiln compile` produced; its entry
 * points and metadata are specified in docs/abi.md (kiln_artifact.h holds
 * the types). libkilnrt depends on libc, libdl, libpthread, libm and
 * libffi, never on LLVM or the kiln compiler.
 *
 * Errors: every function that can fail returns a status (0 = KILN_OK, else
 * a kiln_status code) and sets a message for the calling thread, read with
 * kilnrt_last_error(). Nothing here prints, aborts or exits.
 *
 * Threads: kilnrt_run and kilnrt_run_typed may be called concurrently on one
 * model from any number of threads, provided each concurrent call has its
 * own workspace (or NULL) and its own output buffers. Loading weights and
 * unloading must not overlap runs of the same model. Different models are
 * independent. Large kernels of an artifact may also split their work over
 * the artifact's own thread pool; kilnrt_set_threads sets how many threads.
 */
#ifndef KILNRT_H
#define KILNRT_H

#include <stddef.h>
#include <stdint.h>

#include "kiln_artifact.h"
#include "kiln_dtype.h"
#include "kiln_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kiln version this runtime belongs to, e.g. "0.1.0". */
const char *kilnrt_version(void);

/* The message of the most recent failed kilnrt call on the calling thread
 * ("" after a successful call that returns a status). The text stays valid
 * until the thread's next kilnrt call. */
const char *kilnrt_last_error(void);

/* A short name for a status code ("ok", "usage", "io", "invalid", ...). */
const char *kilnrt_status_name(int status);

/* ---- models ---------------------------------------------------------------------- */

typedef struct kilnrt_model kilnrt_model;

/* Loads the artifact at path (a .so) with dlopen and checks its metadata.
 *
 * name: the NAME prefix of its entry points (`kiln compile --name`); NULL
 * finds it: first the name `kiln compile` derives from the file name
 * (libmlp.so and mlp.so give "mlp"), else the one artifact whose
 * NAME_metadata and NAME_run_packed the file exports.
 *
 * Errors: KILN_E_USAGE (NULL arguments), KILN_E_IO (no such file, not a
 * regular file), KILN_E_INVALID (dlopen refuses it: not a shared object,
 * another architecture, missing libraries; not a kiln artifact; several
 * artifacts and no name; ABI version mismatch; inconsistent metadata),
 * KILN_E_UNSUPPORTED (libffi refuses the typed entry's signature),
 * KILN_E_NOMEM.
 * On success *out owns the library handle; free it with kilnrt_unload. */
int kilnrt_load(const char *path, const char *name, kilnrt_model **out);

/* Unloads the model (NULL is ignored). No run of it may be in progress. */
void kilnrt_unload(kilnrt_model *m);

/* The artifact's metadata (docs/abi.md), valid until kilnrt_unload. */
const kiln_artifact_metadata *kilnrt_metadata(const kilnrt_model *m);
/* The NAME prefix of the entry points. */
const char *kilnrt_name(const kilnrt_model *m);
/* The file the model was loaded from. */
const char *kilnrt_path(const kilnrt_model *m);

int kilnrt_num_inputs(const kilnrt_model *m);
int kilnrt_num_outputs(const kilnrt_model *m);
/* Input / output i in entry order, NULL when i is out of range. */
const kiln_artifact_tensor *kilnrt_input(const kilnrt_model *m, int i);
const kiln_artifact_tensor *kilnrt_output(const kilnrt_model *m, int i);
/* The index of the input / output called name, or -1. */
int kilnrt_find_input(const kilnrt_model *m, const char *name);
int kilnrt_find_output(const kilnrt_model *m, const char *name);

/* ---- threads (docs/abi.md, "Threads") ----------------------------------------------- */

/* Sets the number of threads (the calling thread included) the artifact's
 * parallel kernels may use from now on, through its NAME_set_threads:
 * n <= 0 restores the default ($KILN_NUM_THREADS when set to a positive
 * number, else the number of online CPUs); the artifact caps the count at
 * 64. *in_effect (may be NULL) receives the count now in effect (0 on
 * error): 1 for an artifact without parallel kernels, and for one that does
 * not export NAME_set_threads (it runs on the calling thread). So
 * kilnrt_set_threads(m, 0, &n) reads the default.
 *
 * The count belongs to the artifact, so it is shared by every model loaded
 * from the same file under the same NAME. It may be set at any time, also
 * while runs are in progress (a run uses the count it started with or the
 * new one); results are bit for bit the same for any count.
 * Errors: KILN_E_USAGE (m NULL), KILN_E_RUNTIME (the artifact returned a
 * count below 1). */
int kilnrt_set_threads(kilnrt_model *m, int n, int *in_effect);

/* ---- weights in a side file (`kiln compile --weights=file`) ------------------------ */

/* 1 when the artifact's weights live in a NAME.weights file. */
int kilnrt_weights_in_file(const kilnrt_model *m);
/* 1 when runs can start: the weights are embedded, or a file was loaded. */
int kilnrt_weights_ready(const kilnrt_model *m);

/* Maps the NAME.weights file at path (read-only) and checks it against the
 * model: its size (exactly 64 + weights_size bytes), header (magic, ABI
 * version, header size, data size) and the FNV-1a checksum of the data.
 * Errors: KILN_E_USAGE (the artifact embeds its weights), KILN_E_IO,
 * KILN_E_INVALID (a file that does not belong to this model). Replaces
 * weights loaded before; must not overlap runs of this model. */
int kilnrt_load_weights(kilnrt_model *m, const char *path);

/* ---- workspaces -------------------------------------------------------------------- */

typedef struct kilnrt_workspace kilnrt_workspace;

/* Allocates a workspace for m: at least the metadata's workspace_size
 * bytes, 64-byte aligned (KILN_ARTIFACT_ALIGN). It may be reused for any
 * number of runs, of any model whose workspace_size it covers, one run at a
 * time. Errors: KILN_E_USAGE, KILN_E_NOMEM. */
int kilnrt_workspace_create(const kilnrt_model *m, kilnrt_workspace **out);
void kilnrt_workspace_free(kilnrt_workspace *w);
/* The aligned memory and its usable size in bytes. */
void *kilnrt_workspace_data(const kilnrt_workspace *w);
uint64_t kilnrt_workspace_size(const kilnrt_workspace *w);

/* ---- running ------------------------------------------------------------------------- */

/* Runs the model through its packed entry (NAME_run_packed_w, with the
 * weights loaded by kilnrt_load_weights, or the embedded ones).
 * inputs[i] / outputs[j]: dense C-order buffers of kilnrt_input(m, i)->nbytes
 * / kilnrt_output(m, j)->nbytes bytes, aligned to their element type;
 * outputs must not overlap each other or an input. ws: a workspace of at
 * least workspace_size bytes, or NULL (the artifact allocates one per call).
 * Errors: KILN_E_USAGE (NULL buffers, a workspace too small, file weights
 * not loaded), KILN_E_NOMEM and KILN_E_RUNTIME (the artifact's status,
 * named in the message; outputs are then unspecified). */
int kilnrt_run(kilnrt_model *m, kilnrt_workspace *ws, const void *const *inputs,
               void *const *outputs);

/* 1 when the artifact has a typed entry NAME_run and this libkilnrt can call
 * it (built with libffi). Models with more than 127 inputs and outputs
 * together have none. */
int kilnrt_has_typed_entry(const kilnrt_model *m);

/* Runs the model through its typed entry, int NAME_run(const T *in0, ...,
 * T *out0, ...), called through libffi with a call interface built from the
 * metadata alone. Same buffers as kilnrt_run; the artifact allocates the
 * workspace. File weights are installed as the artifact's default weights
 * (NAME_set_weights) when another model of the same library installed
 * different ones; that step is serialised against typed runs of the other
 * models. Errors as kilnrt_run, plus KILN_E_UNSUPPORTED when
 * kilnrt_has_typed_entry is 0. */
int kilnrt_run_typed(kilnrt_model *m, const void *const *inputs, void *const *outputs);

/* Size in bytes of one element of an artifact dtype, 0 when unknown. */
size_t kilnrt_dtype_size(int32_t dtype);
/* The dtype's name in kiln's notation ("f32", "i64", "bool", ...); "?" when unknown. */
const char *kilnrt_dtype_name(int32_t dtype);

#ifdef __cplusplus
}
#endif

#endif

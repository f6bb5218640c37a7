/* A one-line progress display for long commands on a terminal.
 *
 * progress_begin starts a watcher thread; the command reports each phase
 * as it starts (progress_phase, also usable as a kiln_compile_options
 * progress callback through progress_compile_cb). Nothing is drawn unless
 * stderr is a terminal (and TERM is not "dumb") and the command has run
 * for more than a moment (KILN_PROGRESS_DELAY_MS, default 400 ms); then the
 * line `kiln: compiling FILE: [3/8] LLVM optimisation (1.2 s)` is redrawn
 * in place as phases change and the clock runs, and progress_end erases it
 * so the terminal shows only the command's real output. */
#ifndef KILN_TOOLS_PROGRESS_H
#define KILN_TOOLS_PROGRESS_H

/* label: e.g. "compiling model.onnx"; n_steps: the phases in all. */
void progress_begin(const char *label, int n_steps);
/* Phase `step` (0-based) starts. */
void progress_phase(int step, const char *phase);
/* A kiln_compile_options.progress callback: user points at an int, the
 * number of steps before code generation. */
void progress_compile_cb(void *user, int step, int n_steps, const char *phase);
/* Stops the watcher and erases the line, if one was drawn. */
void progress_end(void);

#endif

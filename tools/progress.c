/* The progress line of tools/progress.h: a watcher thread wakes every
 * 100 ms, and once the delay has passed redraws the line on stderr whenever
 * the phase or the elapsed tenth of a second changes. The phase is shared
 * with the command's thread under a mutex. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_TICK_MS 100
#define PROGRESS_DEFAULT_DELAY_MS 400

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running, stop, drawn;
  int step, n_steps;
  char label[256];
  char phase[64];
  double t0;
  long delay_ms;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Called with P.mu held. */
static void draw(void) {
  fprintf(stderr, "\r\033[K%s: [%d/%d] %s (%.1f s)", P.label, P.step + 1, P.n_steps, P.phase,
          now_s() - P.t0);
  fflush(stderr);
  P.drawn = 1;
}

static void *watch(void *arg) {
  (void)arg;
  pthread_mutex_lock(&P.mu);
  while (!P.stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += PROGRESS_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&P.cv, &P.mu, &ts);
    if (!P.stop && (now_s() - P.t0) * 1000.0 >= (double)P.delay_ms) draw();
  }
  pthread_mutex_unlock(&P.mu);
  return NULL;
}

void progress_begin(const char *label, int n_steps) {
  const char *term = getenv("TERM");
  if (P.running || !isatty(STDERR_FILENO) || (term && !strcmp(term, "dumb"))) return;
  const char *delay = getenv("KILN_PROGRESS_DELAY_MS");
  char *end;
  long ms = delay && *delay ? strtol(delay, &end, 10) : PROGRESS_DEFAULT_DELAY_MS;
  if (delay && *delay && (*end || ms < 0)) ms = PROGRESS_DEFAULT_DELAY_MS;
  pthread_mutex_lock(&P.mu);
  snprintf(P.label, sizeof P.label, "%s", label);
  snprintf(P.phase, sizeof P.phase, "starting");
  P.step = 0;
  P.n_steps = n_steps;
  P.stop = 0;
  P.drawn = 0;
  P.delay_ms = ms;
  P.t0 = now_s();
  pthread_mutex_unlock(&P.mu);
  if (pthread_create(&P.thread, NULL, watch, NULL) == 0) P.running = 1;
}

void progress_phase(int step, const char *phase) {
  if (!P.running) return;
  pthread_mutex_lock(&P.mu);
  P.step = step;
  snprintf(P.phase, sizeof P.phase, "%s", phase);
  pthread_mutex_unlock(&P.mu);
}

void progress_compile_cb(void *user, int step, int n_steps, const char *phase) {
  if (!P.running) return;
  int before = *(const int *)user;
  pthread_mutex_lock(&P.mu);
  P.n_steps = before + n_steps;
  pthread_mutex_unlock(&P.mu);
  progress_phase(before + step, phase);
}

void progress_end(void) {
  if (!P.running) return;
  pthread_mutex_lock(&P.mu);
  P.stop = 1;
  pthread_cond_signal(&P.cv);
  pthread_mutex_unlock(&P.mu);
  pthread_join(P.thread, NULL);
  P.running = 0;
  if (P.drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}

/* Bump allocator: chunks of at least 64 KiB; large requests get their own
 * chunk. Everything is released together by ir_arena_free. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct chunk {
  struct chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
} chunk;

struct ir_arena {
  chunk *head;
};

#define CHUNK_MIN (64 * 1024)

ir_arena *ir_arena_new(void) { return kiln_xcalloc(1, sizeof(ir_arena)); }

void ir_arena_free(ir_arena *a) {
  if (!a) return;
  chunk *c = a->head;
  while (c) {
    chunk *n = c->next;
    free(c);
    c = n;
  }
  free(a);
}

void *ir_arena_alloc(ir_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t sz = n > CHUNK_MIN ? n : CHUNK_MIN;
    chunk *nc = malloc(sizeof(chunk) + sz);
    if (!nc) {
      fprintf(stderr, "kiln: out of memory (arena, %zu bytes)\n", sz);
      abort();
    }
    nc->size = sz;
    nc->used = 0;
    if (n > CHUNK_MIN && c) {
      /* keep the current chunk at the head for further small requests */
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = c;
      a->head = nc;
    }
    c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *ir_arena_strdup(ir_arena *a, const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *p = ir_arena_alloc(a, n);
  memcpy(p, s, n);
  return p;
}

void *ir_arena_memdup(ir_arena *a, const void *p, size_t n) {
  void *q = ir_arena_alloc(a, n);
  if (n) memcpy(q, p, n);
  return q;
}

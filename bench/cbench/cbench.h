/* cbench.h - what the three files of cbench share: the allocators under test
 * (allocators.c: one pair of loops per allocator, generated, and the dlsym
 * resolution of glibc and jemalloc), the measurement (measure.c: threads, the
 * producer/consumer ring, throughput by wall and CPU clock), and the command
 * (cbench.c: flags, repetitions, the table). cbench.c's opening comment says
 * what one measurement is and which malloc is which.
 */
#ifndef CBENCH_H
#define CBENCH_H

#include "charness.h" /* die, now_ns, lib_of */

#include <pthread.h>
#include <sched.h>

#include <mimalloc.h>

#include "offheap.h"

/* jemalloc's non-standard API, declared here rather than through
 * <jemalloc/jemalloc.h>, whose unprefixed build redefines malloc & co. The
 * direct references keep libjemalloc a DT_NEEDED dependency even when the
 * linker runs with --as-needed. */
extern void *mallocx(size_t size, int flags);
extern void dallocx(void *ptr, int flags);
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

#define BATCH 256
#define CHUNK 256 /* ops between two reads of the clock in "pair" */

/* The instance of the offheap-slab row (created by cbench.c when it runs). */
extern oh_slab_t *bench_slab;

void oh_die(const char *what, size_t n) __attribute__((noreturn, cold));
void alloc_die(const char *who, size_t n) __attribute__((noreturn, cold));

static inline void touch(void *p) { *(volatile unsigned char *)p = 1; }

/* One allocator's loop: runs for dur_ns, returns the ops done (ptrs: BATCH
 * slots for the batch pattern). */
typedef uint64_t (*loop_fn)(size_t n, uint64_t dur_ns, void **ptrs);

enum { PAT_PAIR, PAT_BATCH, PAT_PC, PAT_COUNT };

typedef struct {
  const char *name;
  loop_fn loop[2]; /* PAT_PAIR, PAT_BATCH */
  void *(*alloc)(size_t);
  void (*free)(void *, size_t);
} allocator_t;

extern const allocator_t allocators[];
extern const int n_allocators;

/* Looks glibc's and jemalloc's malloc/free up by dlsym and checks with
 * dladdr that every row calls the library it is named after; dies if not. */
void resolve(void);
/* The glibc and jemalloc malloc/free of the rows, set by resolve(). */
typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
extern malloc_fn glibc_malloc, je_malloc;
extern free_fn glibc_free, je_free;

/* --clock cpu (see measure.c). */
extern int use_cpu_clock;

typedef struct {
  double wall, cpu; /* aggregate throughput, ops per second, by either clock */
} tput_t;

/* Aggregate throughput in ops per second of allocator a running pattern pat
 * on threads threads (prod-cons: pairs), after warm_ns of warm-up. */
tput_t measure(const allocator_t *a, int pat, size_t size, int threads, uint64_t warm_ns, uint64_t dur_ns);

#endif /* CBENCH_H */

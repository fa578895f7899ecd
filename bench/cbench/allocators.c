/* allocators.c - the allocators cbench sets against each other: one pair of
 * loops per allocator, generated from a macro so that no function pointer
 * stands between the loop and the allocator, the table of rows, and the
 * dlsym resolution that keeps glibc's and jemalloc's malloc apart (see
 * cbench.c's opening comment: "Which malloc is which").
 */
#include "cbench.h"

malloc_fn glibc_malloc, je_malloc;
free_fn glibc_free, je_free;
oh_slab_t *bench_slab;

void oh_die(const char *what, size_t n) {
  die("%s (size %zu) failed: errno %d: %s", what, n, errno, oh_last_error());
}
void alloc_die(const char *who, size_t n) { die("%s: allocation of %zu bytes failed", who, n); }

/* ---- per-allocator loops -------------------------------------------------- */
/* The loops are generated per allocator (no function-pointer dispatch inside
 * them beyond what the allocator itself needs): ALLOC(n) returns a pointer or
 * NULL, FREE(p) frees it and dies on error. */

#define A_GLIBC(n) glibc_malloc(n)
#define F_GLIBC(p, n) glibc_free(p)
#define A_JE(n) je_malloc(n)
#define F_JE(p, n) je_free(p)
#define A_MI(n) mi_malloc(n)
#define F_MI(p, n) mi_free(p)
#define A_OH(n) oh_alloc(n)
#define F_OH(p, n) do { if (__builtin_expect(oh_free(p) != 0, 0)) oh_die("oh_free", n); } while (0)
#define A_SLAB(n) oh_slab_alloc(bench_slab, n)
#define F_SLAB(p, n) do { if (__builtin_expect(oh_slab_decref(bench_slab, p) != 1, 0)) oh_die("oh_slab_decref", n); } while (0)

/* "none": no allocator, the pattern's own memory traffic - BATCH slots of n
 * bytes per thread, handed out and given back last-in first-out, the first
 * byte of each written as for the others. Its 2T/1T is the machine's ceiling
 * for the pattern (two threads that each touch 256 pages 1 MiB apart share
 * caches and TLBs however they got the memory). Not in the default list. */
static __thread unsigned char *none_base;
static __thread size_t none_n;
static __thread unsigned none_i;
static void *none_slot(size_t n) {
  if (none_n != n) {
    if (none_base != NULL) munmap(none_base, none_n * BATCH);
    none_base = mmap(NULL, n * BATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (none_base == MAP_FAILED) die("none: mmap of %zu bytes failed", n * BATCH);
    none_n = n;
    none_i = 0;
  }
  return none_base + (size_t)(none_i++ % BATCH) * n;
}
#define A_NONE(n) none_slot(n)
#define F_NONE(p, n) ((void)(p), none_i--)

/* "jemalloc-claim", "mimalloc-claim": the peer with offheap's release
 * contract added - every allocation's state word set to 1 by a plain store,
 * every release claimed from 1 by one compare-and-swap before the memory
 * goes back (a second release of the same pointer, from any thread, would
 * fail it). The word is the allocation's bytes 8..11 (offheap keeps it in a
 * side table). The distance from the peer's own row is what that one atomic
 * costs on the machine: the floor under any allocator that catches double
 * frees across threads at the call, as offheap does. Not in the default list. */
static inline void *claim_set(uint32_t *p) {
  if (p != NULL) __atomic_store_n(&p[2], 1u, __ATOMIC_RELAXED);
  return p;
}
static inline void *claim_take(void *p, size_t n) {
  uint32_t one = 1;
  if (__builtin_expect(!__atomic_compare_exchange_n(&((uint32_t *)p)[2], &one, 0u, false, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_RELAXED), 0))
    die("claim: release of %p (size %zu) found word %u", p, n, one);
  return p;
}
#define A_JE_CLAIM(n) claim_set(je_malloc(n))
#define F_JE_CLAIM(p, n) je_free(claim_take(p, n))
#define A_MI_CLAIM(n) claim_set(mi_malloc(n))
#define F_MI_CLAIM(p, n) mi_free(claim_take(p, n))

#define DEFINE_LOOPS(NAME, ALLOC, FREE)                                             \
  static uint64_t pair_##NAME(size_t n, uint64_t dur_ns, void **ptrs) {             \
    (void)ptrs;                                                                     \
    uint64_t ops = 0, end = now_ns() + dur_ns;                                      \
    do {                                                                            \
      for (int k = 0; k < CHUNK; k++) {                                             \
        void *p = ALLOC(n);                                                         \
        if (__builtin_expect(p == NULL, 0)) alloc_die(#NAME, n);                    \
        touch(p);                                                                   \
        FREE(p, n);                                                                 \
      }                                                                             \
      ops += CHUNK;                                                                 \
    } while (now_ns() < end);                                                       \
    return ops;                                                                     \
  }                                                                                 \
  static uint64_t batch_##NAME(size_t n, uint64_t dur_ns, void **ptrs) {            \
    uint64_t ops = 0, end = now_ns() + dur_ns;                                      \
    do {                                                                            \
      for (int k = 0; k < BATCH; k++) {                                             \
        void *p = ALLOC(n);                                                         \
        if (__builtin_expect(p == NULL, 0)) alloc_die(#NAME, n);                    \
        touch(p);                                                                   \
        ptrs[k] = p;                                                                \
      }                                                                             \
      for (int k = 0; k < BATCH; k++) FREE(ptrs[k], n);                             \
      ops += BATCH;                                                                 \
    } while (now_ns() < end);                                                       \
    return ops;                                                                     \
  }

DEFINE_LOOPS(glibc, A_GLIBC, F_GLIBC)
DEFINE_LOOPS(jemalloc, A_JE, F_JE)
DEFINE_LOOPS(mimalloc, A_MI, F_MI)
DEFINE_LOOPS(offheap, A_OH, F_OH)
DEFINE_LOOPS(offheap_slab, A_SLAB, F_SLAB)
DEFINE_LOOPS(none, A_NONE, F_NONE)
DEFINE_LOOPS(jemalloc_claim, A_JE_CLAIM, F_JE_CLAIM)
DEFINE_LOOPS(mimalloc_claim, A_MI_CLAIM, F_MI_CLAIM)


/* Single calls, for the producer/consumer pattern (the ring costs more than
 * the indirect call). */
#define DEFINE_CALLS(NAME, ALLOC, FREE)                    \
  static void *alloc_##NAME(size_t n) { return ALLOC(n); } \
  static void free_##NAME(void *p, size_t n) { (void)n; FREE(p, n); }
DEFINE_CALLS(glibc, A_GLIBC, F_GLIBC)
DEFINE_CALLS(jemalloc, A_JE, F_JE)
DEFINE_CALLS(mimalloc, A_MI, F_MI)
DEFINE_CALLS(offheap, A_OH, F_OH)
DEFINE_CALLS(offheap_slab, A_SLAB, F_SLAB)
DEFINE_CALLS(none, A_NONE, F_NONE)
DEFINE_CALLS(jemalloc_claim, A_JE_CLAIM, F_JE_CLAIM)
DEFINE_CALLS(mimalloc_claim, A_MI_CLAIM, F_MI_CLAIM)

#define ALLOCATOR(label, NAME) {label, {pair_##NAME, batch_##NAME}, alloc_##NAME, free_##NAME}
const allocator_t allocators[] = {
    ALLOCATOR("glibc", glibc),     ALLOCATOR("jemalloc", jemalloc),         ALLOCATOR("mimalloc", mimalloc),
    ALLOCATOR("offheap", offheap), ALLOCATOR("offheap-slab", offheap_slab), ALLOCATOR("none", none),
    ALLOCATOR("jemalloc-claim", jemalloc_claim), ALLOCATOR("mimalloc-claim", mimalloc_claim),
};
const int n_allocators = (int)(sizeof allocators / sizeof allocators[0]);

/* ---- resolving glibc and jemalloc ---------------------------------------- */

static void *sym_in(const char *lib, const char *sym, const char *must_contain) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
  if (h == NULL) h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) die("dlopen(%s): %s", lib, dlerror());
  void *p = dlsym(h, sym);
  if (p == NULL) die("dlsym(%s, %s): %s", lib, sym, dlerror());
  if (strstr(lib_of(p), must_contain) == NULL)
    die("%s from %s resolved into %s, not %s: refusing to mislabel a row", sym, lib, lib_of(p),
        must_contain);
  return p;
}

void resolve(void) {
  glibc_malloc = (malloc_fn)sym_in("libc.so.6", "malloc", "libc.so");
  glibc_free = (free_fn)sym_in("libc.so.6", "free", "libc.so");
  je_malloc = (malloc_fn)sym_in("libjemalloc.so.2", "malloc", "jemalloc");
  je_free = (free_fn)sym_in("libjemalloc.so.2", "free", "jemalloc");
  /* Sanity: the jemalloc handle's malloc and jemalloc's own mallocx come from
   * the same library; mimalloc's entry points from libmimalloc. */
  if (strcmp(lib_of((void *)je_malloc), lib_of((void *)mallocx)) != 0)
    die("jemalloc malloc (%s) and mallocx (%s) differ", lib_of((void *)je_malloc),
        lib_of((void *)mallocx));
  void *q = mallocx(64, 0);
  if (q == NULL) die("mallocx failed");
  dallocx(q, 0);
  if (strstr(lib_of((void *)mi_malloc), "mimalloc") == NULL)
    die("mi_malloc resolved into %s", lib_of((void *)mi_malloc));
}

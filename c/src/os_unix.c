/* os_unix.c - the OS primitives on Linux, macOS and the BSDs.
 *
 * The only file (with os_windows.c) that names mmap, munmap, madvise and
 * mprotect. Contract: internal.h, "OS primitives". Every function returns 0 or
 * an errno value and refuses misaligned input rather than rounding it.
 */
#if !defined(_WIN32)

#include "internal.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#if defined(__APPLE__) && !defined(MAP_ANONYMOUS)
#define MAP_ANONYMOUS MAP_ANON
#endif

static size_t os_page_size;

size_t ohi_os_page_size(void) {
  size_t ps = OHI_LOAD_RELAXED(&os_page_size);
  if (OHI_UNLIKELY(ps == 0)) {
    long v = sysconf(_SC_PAGESIZE);
    ps = v > 0 ? (size_t)v : 4096;
    OHI_STORE_RELAXED(&os_page_size, ps);
  }
  return ps;
}

static bool page_aligned(const void *addr, size_t size) {
  size_t ps = ohi_os_page_size();
  return ((uintptr_t)addr & (ps - 1)) == 0 && (size & (ps - 1)) == 0;
}

int ohi_os_map(size_t size, size_t align, void **out) {
  size_t ps = ohi_os_page_size();
  *out = NULL;
  if (size == 0 || (size & (ps - 1)) != 0 || align < ps || (align & (align - 1)) != 0) return EINVAL;
  /* Over-map by align - page, then trim both ends to the aligned middle. */
  size_t extra = align - ps;
  if (size > SIZE_MAX - extra) return ENOMEM;
  size_t total = size + extra;
  void *raw = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return errno == EINVAL ? ENOMEM : errno;
  uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  size_t head = start - (uintptr_t)raw;
  size_t tail = total - head - size;
  if (head) munmap(raw, head);
  if (tail) munmap((void *)(start + size), tail);
  *out = (void *)start;
  return 0;
}

int ohi_os_unmap(void *addr, size_t size) {
  if (addr == NULL || size == 0 || !page_aligned(addr, size)) return EINVAL;
  return munmap(addr, size) == 0 ? 0 : errno;
}

/* The madvise advice that decommits (advice: ohi_os_decommit's). */
static int decommit_how(int advice) {
  int how = MADV_DONTNEED;
#if defined(__APPLE__) && defined(MADV_FREE_REUSABLE)
  /* On macOS MADV_DONTNEED does not lower the footprint; MADV_FREE_REUSABLE does. */
  how = MADV_FREE_REUSABLE;
#elif (defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
       defined(__DragonFly__)) && defined(MADV_FREE)
  /* On the BSDs MADV_DONTNEED keeps the pages resident; MADV_FREE releases them. */
  how = MADV_FREE;
#else
#if defined(MADV_FREE)
  if (advice == 1) how = MADV_FREE;
#endif
#endif
  return how;
}

int ohi_os_decommit(void *addr, size_t size, int advice) {
  if (addr == NULL || size == 0 || !page_aligned(addr, size)) return EINVAL;
  int how = decommit_how(advice);
  if (madvise(addr, size, how) == 0) return 0;
  int err = errno;
#if defined(MADV_FREE)
  /* Kernels before 4.5 reject MADV_FREE: fall back to the eager advice. */
  if (how == MADV_FREE && err == EINVAL && madvise(addr, size, MADV_DONTNEED) == 0) return 0;
#endif
  return err;
}

/* Vectors of ranges: process_madvise(2) on the calling process (PIDFD_SELF:
 * no descriptor to keep, none to go stale across fork) takes every advice
 * since Linux 6.13, and the kernel batches the TLB flushes of the ranges.
 * A purge pass decommits many single pages (the freed pages of a churned
 * slab come due one by one): 0.5-0.7 us per range against 1.5-2.0 us per
 * madvise call on the development VM (bench/RESULTS.md, session 11).
 * Kernels that refuse it (older ones: EINVAL, ENOSYS; no PIDFD_SELF: EBADF;
 * a seccomp filter: EPERM) turn it off for the process; a range it fails on
 * (an unmapped one: ENOMEM) sends the batch through madvise one by one,
 * which a range decommitted twice survives. jemalloc's HPA does the same. */
#if defined(__linux__) && defined(SYS_process_madvise)
#include <sys/uio.h>
#ifndef PIDFD_SELF
#define PIDFD_SELF -10000
#endif
static uint32_t vector_off;

void ohi_test_os_vector(int on) { OHI_STORE_RELAXED(&vector_off, on ? 0u : 1u); }

static bool decommit_vector(const ohi_range_t *r, size_t n, int how) {
  if (n < 2 || OHI_LOAD_RELAXED(&vector_off)) return false;
  struct iovec iov[OHI_OS_RANGES_MAX];
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (r[i].addr == NULL || r[i].size == 0 || !page_aligned(r[i].addr, r[i].size)) return false;
    iov[i].iov_base = r[i].addr;
    iov[i].iov_len = r[i].size;
    total += r[i].size;
  }
  int saved = errno;
  long got = syscall(SYS_process_madvise, PIDFD_SELF, iov, n, how, 0);
  if (got < 0 && (errno == EINVAL || errno == ENOSYS || errno == EBADF || errno == EPERM))
    OHI_STORE_RELAXED(&vector_off, 1u);
  errno = saved;
  return got == (long)total;
}
#else
void ohi_test_os_vector(int on) { (void)on; }
static bool decommit_vector(const ohi_range_t *r, size_t n, int how) { return false; }
#endif

size_t ohi_os_decommit_ranges(const ohi_range_t *r, size_t n, int advice, bool *ok) {
  if (n > OHI_OS_RANGES_MAX) n = OHI_OS_RANGES_MAX;
  if (decommit_vector(r, n, decommit_how(advice))) {
    for (size_t i = 0; i < n; i++) ok[i] = true;
    return n;
  }
  size_t done = 0;
  for (size_t i = 0; i < n; i++) done += (ok[i] = ohi_os_decommit(r[i].addr, r[i].size, advice) == 0);
  return done;
}

int ohi_os_protect(void *addr, size_t size, int accessible) {
  if (addr == NULL || size == 0 || !page_aligned(addr, size)) return EINVAL;
  return mprotect(addr, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0 ? 0 : errno;
}

void ohi_os_hugepage_hint(void *addr, size_t size) {
#if defined(MADV_HUGEPAGE)
  if (page_aligned(addr, size)) (void)madvise(addr, size, MADV_HUGEPAGE);
#else
  (void)addr;
  (void)size;
#endif
}

#if defined(__linux__) && defined(SYS_membarrier)
static int barrier_state; /* 0 unknown, 1 registered, 2 unavailable */
static pthread_once_t barrier_once = PTHREAD_ONCE_INIT;
static void barrier_register(void) {
  long r = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
  OHI_STORE_RELAXED(&barrier_state, r == 0 ? 1 : 2);
}
int ohi_os_process_barrier(void) {
  pthread_once(&barrier_once, barrier_register);
  if (OHI_LOAD_RELAXED(&barrier_state) != 1) return ENOSYS;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0 ? 0 : errno;
}
#else
int ohi_os_process_barrier(void) { return ENOSYS; }
#endif

uint64_t ohi_os_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ohi_os_now_ms_coarse(void) {
#if defined(CLOCK_MONOTONIC_COARSE)
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
#else
  return ohi_os_now_ms();
#endif
}

#endif /* !_WIN32 */

/* charness.h - what the C benchmark programs share (bench/cbench,
 * bench/burst/cburst, bench/frag/cfrag): dying with a message, clocks,
 * /proc and getrusage readers, flag numbers, JSON string escaping, buffer
 * stamps, and -
 * for the programs built once per allocator - the allocator under test.
 *
 * Header-only (every function static): each program is one translation unit
 * and uses a part of it. Build with -Ibench/internal/charness.
 *
 * The allocator under test: define one of CH_OFFHEAP, CH_JEMALLOC,
 * CH_MIMALLOC, CH_GLIBC before including, and the header gives
 *   CH_NAME             "offheap", "jemalloc", "mimalloc" or "glibc"
 *   CH_ALLOC(n), CH_FREE(p)
 *   ch_describe(out, n) the allocator, its version and its settings
 *   ch_check()          dies unless malloc comes from the library named
 *   ch_decommits(&purges, &bytes)  offheap's purge counts, -1 elsewhere
 *   ch_scavenge()       hand every free page back to the OS now
 * One binary per allocator, so that no allocator replaces another's malloc
 * behind the measurement's back (cbench, which runs all of them in one
 * process, resolves each through dlsym instead and defines none of these).
 */
#ifndef CHARNESS_H
#define CHARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- dying, clocks, usage ------------------------------------------------------ */

/* Prints "program: message" on stderr and exits with status 1. */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2), unused));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", program_invocation_short_name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __attribute__((unused)) void sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* This process's minor page faults and CPU time (user + system, all threads). */
typedef struct ch_usage_s {
  long minflt;
  double cpu_s;
} ch_usage_t;

static __attribute__((unused)) ch_usage_t ch_usage(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  ch_usage_t u = {ru.ru_minflt, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6};
  return u;
}

/* ---- /proc ------------------------------------------------------------------------ */

/* Resident set in bytes, from /proc/self/statm (0 if unreadable). */
static __attribute__((unused)) long long rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long size = 0, res = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%lld %lld", &size, &res) != 2) res = 0;
  fclose(f);
  return res * sysconf(_SC_PAGESIZE);
}

/* Peak resident set (VmHWM) in bytes. */
static __attribute__((unused)) long long peak_rss(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return 0;
  char line[256];
  long long kb = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmHWM:", 6) == 0) kb = atoll(line + 6);
  fclose(f);
  return kb * 1024;
}

/* The file of the shared object that holds fn, "?" if unknown. */
static __attribute__((unused)) const char *lib_of(const void *fn) {
  Dl_info info;
  if (fn == NULL || dladdr(fn, &info) == 0 || info.dli_fname == NULL) return "?";
  return info.dli_fname;
}

/* ---- command line and output ------------------------------------------------------ */

/* The value v of flag as a non-negative integer; dies on anything else. */
static __attribute__((unused)) uint64_t num(const char *flag, const char *v) {
  char *end = NULL;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0') die("%s %s: not a non-negative integer", flag, v);
  return x;
}

/* s escaped for a JSON string into out (n bytes), truncated if need be. */
static __attribute__((unused)) const char *json_escape(const char *s, char *out, size_t n) {
  size_t j = 0;
  for (; *s && j + 2 < n; s++) {
    if (*s == '"' || *s == '\\') out[j++] = '\\';
    out[j++] = *s;
  }
  out[j] = '\0';
  return out;
}

/* A zeroed table of bytes mapped outside every allocator under test, resident
 * before the baseline is taken. */
static __attribute__((unused)) void *map_table(size_t bytes) {
  bytes = (bytes + 4095) & ~(size_t)4095;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap of a %zu-byte table failed", bytes);
  memset(p, 0, bytes);
  return p;
}

/* ---- buffer stamps: bench/internal/stamp's Fill and Check, in C ---------------- */

/* XORed into a buffer's index, as stamp.Key is in the Go children. */
#define CH_STAMP_KEY 0x5a5aa5a5f00dcafeull

/* Writes every byte of p (n bytes): 0xa5, with buffer id's stamp in the first
 * and the last 8 bytes (overlapping in a buffer under 16 bytes). */
static __attribute__((unused)) void ch_stamp(unsigned char *p, size_t n, uint64_t id) {
  uint64_t st = id ^ CH_STAMP_KEY;
  size_t k = n < 8 ? n : 8;
  memset(p, 0xa5, n);
  memcpy(p, &st, k);
  memcpy(p + n - k, &st, k);
}

/* Whether p (n bytes) still holds id's stamp: both ends, and the byte after
 * the first stamp. */
static __attribute__((unused)) bool ch_stamp_ok(const unsigned char *p, size_t n, uint64_t id) {
  uint64_t st = id ^ CH_STAMP_KEY;
  size_t k = n < 8 ? n : 8;
  return memcmp(p, &st, k) == 0 && memcmp(p + n - k, &st, k) == 0 && (n <= 16 || p[8] == 0xa5);
}

/* ---- the allocator under test ------------------------------------------------------- */

#if defined(CH_OFFHEAP)
#include "offheap.h"
#define CH_NAME "offheap"
#define CH_ALLOC(n) oh_alloc(n)
#define CH_FREE(p) oh_free(p)
#elif defined(CH_JEMALLOC)
#define CH_NAME "jemalloc"
/* Declared here rather than through <jemalloc/jemalloc.h>, whose unprefixed
 * build redefines malloc & co. The reference keeps libjemalloc a DT_NEEDED
 * dependency even with --as-needed. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#define CH_ALLOC(n) malloc(n)
#define CH_FREE(p) free(p)
#elif defined(CH_MIMALLOC)
#include <mimalloc.h>
#define CH_NAME "mimalloc"
#define CH_ALLOC(n) mi_malloc(n)
#define CH_FREE(p) mi_free(p)
#elif defined(CH_GLIBC)
#include <gnu/libc-version.h>
#include <malloc.h>
#define CH_NAME "glibc"
#define CH_ALLOC(n) malloc(n)
#define CH_FREE(p) free(p)
#endif

#ifdef CH_NAME
static void ch_describe(char *out, size_t n) {
#if defined(CH_OFFHEAP)
  snprintf(out, n, "liboffheap %s (static) oh_alloc/oh_free; purge delay %lld ms, retain %lld bytes, thread cache %lld bytes",
           oh_version(), oh_option_get(OH_OPT_PURGE_DELAY_MS), oh_option_get(OH_OPT_RETAIN_BYTES),
           oh_option_get(OH_OPT_TCACHE_BYTES));
#elif defined(CH_JEMALLOC)
  const char *version = "?";
  size_t sz = sizeof version;
  mallctl("version", &version, &sz, NULL, 0);
  ssize_t dirty = -2, muzzy = -2;
  sz = sizeof dirty;
  mallctl("opt.dirty_decay_ms", &dirty, &sz, NULL, 0);
  sz = sizeof muzzy;
  mallctl("opt.muzzy_decay_ms", &muzzy, &sz, NULL, 0);
  bool bg = false;
  sz = sizeof bg;
  mallctl("background_thread", &bg, &sz, NULL, 0);
  snprintf(out, n, "jemalloc %s (malloc from %s); dirty_decay_ms %zd, muzzy_decay_ms %zd, background_thread %s",
           version, lib_of((void *)malloc), dirty, muzzy, bg ? "on" : "off");
#elif defined(CH_MIMALLOC)
  int v = mi_version();
  snprintf(out, n, "mimalloc %d.%d.%d (mi_malloc from %s); decommit_delay %ld ms, segment_decommit_delay %ld ms",
           v / 100, (v / 10) % 10, v % 10, lib_of((void *)mi_malloc), mi_option_get(mi_option_decommit_delay),
           mi_option_get(mi_option_segment_decommit_delay));
#else
  snprintf(out, n, "glibc %s malloc (from %s), default mallopt settings", gnu_get_libc_version(),
           lib_of((void *)malloc));
#endif
}

static __attribute__((unused)) void ch_check(void) {
#if defined(CH_JEMALLOC)
  if (strstr(lib_of((void *)malloc), "jemalloc") == NULL)
    die("malloc resolves into %s, not libjemalloc: the measurement would be glibc's", lib_of((void *)malloc));
#elif defined(CH_GLIBC)
  if (strstr(lib_of((void *)malloc), "libc.so") == NULL) die("malloc resolves into %s, not glibc", lib_of((void *)malloc));
#endif
}

/* Decommits by offheap's purge policy and bytes decommitted; -1 elsewhere. */
static __attribute__((unused)) void ch_decommits(long long *purges, long long *bytes) {
  *purges = *bytes = -1;
#if defined(CH_OFFHEAP)
  oh_stats_t st;
  if (oh_stats(&st) == 0) {
    *purges = (long long)st.purges;
    *bytes = (long long)st.decommitted_bytes;
  }
#endif
}

static __attribute__((unused)) void ch_scavenge(void) {
#if defined(CH_OFFHEAP)
  oh_purge();
#elif defined(CH_JEMALLOC)
  mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
  char name[64];
  snprintf(name, sizeof name, "arena.%u.purge", 4096u); /* MALLCTL_ARENAS_ALL */
  if (mallctl(name, NULL, NULL, NULL, 0) != 0) die("mallctl(%s) failed", name);
#elif defined(CH_MIMALLOC)
  mi_collect(true);
#else
  malloc_trim(0);
#endif
}
#endif /* CH_NAME */

#endif /* CHARNESS_H */

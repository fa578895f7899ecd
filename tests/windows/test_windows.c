/* test_windows.c - the offheap core on Windows: the OS primitives of
 * c/src/os_windows.c against the contract in c/src/internal.h, and the public
 * API on top of them (allocation, misuse, slabs, pools, arenas, pages,
 * decommit, purging, threads, guard pages).
 *
 * Criterion does not build for mingw-w64, so this is a standalone program: it
 * runs every test, prints each failed check with its line, and exits 1 if any
 * failed. `make test-windows` cross-compiles it with x86_64-w64-mingw32-gcc,
 * links it with the core built for Windows (build/win/liboffheap.a) and runs
 * it under Wine where Wine runs.
 *
 * Memory states are read from the OS (VirtualQuery, QueryWorkingSetEx,
 * GetProcessMemoryInfo), never inferred from the library's own counters.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <psapi.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---- the harness ------------------------------------------------------------ */

static int checks, failures;
static const char *current_test;

static void check_(int ok, int line, const char *fmt, ...) {
  checks++;
  if (ok) return;
  failures++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL %s (test_windows.c:%d): ", current_test, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
#define CHECK(cond, ...) check_(!!(cond), __LINE__, __VA_ARGS__)
/* A check that the rest of the test depends on. */
#define REQUIRE(cond, ...)                  \
  do {                                      \
    if (!(cond)) {                          \
      check_(0, __LINE__, __VA_ARGS__);     \
      return;                               \
    }                                       \
  } while (0)

/* ---- OS views -------------------------------------------------------------------- */

static MEMORY_BASIC_INFORMATION query(const void *p) {
  MEMORY_BASIC_INFORMATION mi;
  memset(&mi, 0, sizeof mi);
  if (VirtualQuery(p, &mi, sizeof mi) == 0) mi.State = 0;
  return mi;
}
static DWORD state_of(const void *p) { return query(p).State; }

/* Pages of [p, p+n) in the working set (resident). */
static size_t resident_pages(const void *p, size_t n) {
  size_t ps = ohi_os_page_size(), count = 0;
  for (size_t off = 0; off < n; off += ps) {
    PSAPI_WORKING_SET_EX_INFORMATION wi;
    memset(&wi, 0, sizeof wi);
    wi.VirtualAddress = (char *)p + off;
    if (K32QueryWorkingSetEx(GetCurrentProcess(), &wi, sizeof wi) && wi.VirtualAttributes.Valid) count++;
  }
  return count;
}

static size_t working_set(void) {
  PROCESS_MEMORY_COUNTERS c;
  memset(&c, 0, sizeof c);
  c.cb = sizeof c;
  K32GetProcessMemoryInfo(GetCurrentProcess(), &c, sizeof c);
  return c.WorkingSetSize;
}

/* ---- probing for access faults ------------------------------------------------ */

/* readable(p) reads one byte at p with a single instruction, movb (%rcx), %al
 * (2 bytes: 8a 01). If it faults, the vectored handler below steps over it and
 * notes the fault: a real access fault, observed without changing the memory
 * (ReadProcessMemory is no substitute: under Wine it reads inaccessible pages
 * of its own process). */
static volatile LONG probe_armed, probe_faulted;

static LONG WINAPI on_probe_fault(EXCEPTION_POINTERS *ep) {
  if (!probe_armed || ep->ExceptionRecord->ExceptionCode != EXCEPTION_ACCESS_VIOLATION)
    return EXCEPTION_CONTINUE_SEARCH;
  const unsigned char *ip = (const unsigned char *)ep->ContextRecord->Rip;
  if (ip[0] != 0x8a || ip[1] != 0x01) return EXCEPTION_CONTINUE_SEARCH; /* not the probe */
  probe_faulted = 1;
  ep->ContextRecord->Rip += 2;
  return EXCEPTION_CONTINUE_EXECUTION;
}

static int readable(const void *p) {
  probe_faulted = 0;
  probe_armed = 1;
  __asm__ volatile("movb (%%rcx), %%al" : : "c"(p) : "rax", "memory");
  probe_armed = 0;
  return !probe_faulted;
}

static void fill(void *p, size_t n, unsigned seed) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 31 + seed);
}
static int filled(const void *p, size_t n, unsigned seed) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(i * 31 + seed)) return 0;
  return 1;
}
static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return 0;
  return 1;
}

/* ===== the OS primitives (os_windows.c) ========================================= */

static void test_page_size(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  size_t ps = ohi_os_page_size();
  CHECK(ps == si.dwPageSize, "ohi_os_page_size() = %zu, GetSystemInfo says %lu", ps, si.dwPageSize);
  CHECK(ps >= 4096 && (ps & (ps - 1)) == 0, "page size %zu is not a power of two >= 4096", ps);
  CHECK(oh_page_size() == ps, "oh_page_size() = %zu", oh_page_size());
  /* The core's region map counts in 64 KiB granules, the reservation unit. */
  CHECK(si.dwAllocationGranularity == OHI_GRANULE, "allocation granularity %lu, the core's granule %zu",
        si.dwAllocationGranularity, (size_t)OHI_GRANULE);
}

static void test_map_sizes_and_alignments(void) {
  size_t ps = ohi_os_page_size();
  const size_t sizes[] = {ps, 3 * ps, 64 * KiB, MiB + ps, 3 * MiB};
  const size_t aligns[] = {ps, 64 * KiB, 128 * KiB, MiB, 4 * MiB, 32 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    for (size_t j = 0; j < sizeof aligns / sizeof aligns[0]; j++) {
      size_t n = sizes[i], al = aligns[j];
      void *p = NULL;
      int err = ohi_os_map(n, al, &p);
      CHECK(err == 0 && p != NULL, "ohi_os_map(%zu, %zu) = %d", n, al, err);
      if (err != 0) continue;
      CHECK(((uintptr_t)p & (al - 1)) == 0, "ohi_os_map(%zu, %zu) = %p is not aligned", n, al, p);
      CHECK(all_zero(p, n), "ohi_os_map(%zu, %zu): not zeroed", n, al);
      MEMORY_BASIC_INFORMATION mi = query(p);
      CHECK(mi.State == MEM_COMMIT && mi.Protect == PAGE_READWRITE && mi.RegionSize >= n,
            "ohi_os_map(%zu, %zu): state %#lx protect %#lx region %zu", n, al, mi.State, mi.Protect,
            (size_t)mi.RegionSize);
      fill(p, n, 7);
      CHECK(filled(p, n, 7), "ohi_os_map(%zu, %zu): not writable", n, al);
      err = ohi_os_unmap(p, n);
      CHECK(err == 0, "ohi_os_unmap(%p, %zu) = %d", p, n, err);
      /* The whole reservation went, whichever way ohi_os_map placed it. */
      mi = query(p);
      CHECK(mi.State == MEM_FREE, "after ohi_os_unmap(%p, %zu): state %#lx, want MEM_FREE", p, n, mi.State);
    }
  }
}

static void test_map_refuses_bad_arguments(void) {
  size_t ps = ohi_os_page_size();
  void *p = (void *)1;
  CHECK(ohi_os_map(0, ps, &p) == EINVAL && p == NULL, "size 0 not refused");
  CHECK(ohi_os_map(ps + 1, ps, &p) == EINVAL, "size not a page multiple not refused");
  CHECK(ohi_os_map(ps, ps / 2, &p) == EINVAL, "alignment below the page size not refused");
  CHECK(ohi_os_map(ps, 3 * ps, &p) == EINVAL, "alignment not a power of two not refused");
  CHECK(ohi_os_map(SIZE_MAX & ~(ps - 1), MiB, &p) == ENOMEM, "an impossible size is not ENOMEM");
}

static void test_partial_unmap_releases_the_reservation_last(void) {
  size_t g = 64 * KiB;
  char *p = NULL;
  REQUIRE(ohi_os_map(4 * g, g, (void **)&p) == 0, "ohi_os_map failed");
  fill(p, 4 * g, 3);
  /* The tail: unmapped, the rest untouched. */
  CHECK(ohi_os_unmap(p + 3 * g, g) == 0, "unmap of the tail failed");
  CHECK(state_of(p + 3 * g) == MEM_RESERVE, "the unmapped tail is in state %#lx, want MEM_RESERVE (inaccessible)",
        state_of(p + 3 * g));
  CHECK(!readable(p + 3 * g), "the unmapped tail is still readable");
  CHECK(state_of(p) == MEM_COMMIT && filled(p, 3 * g, 3), "the head lost its contents");
  /* The head: the middle keeps the reservation alive. */
  CHECK(ohi_os_unmap(p, g) == 0, "unmap of the head failed");
  CHECK(state_of(p) == MEM_RESERVE, "the unmapped head is in state %#lx", state_of(p));
  CHECK(state_of(p + g) == MEM_COMMIT && filled(p + g, 2 * g, 3), "the middle lost its contents");
  /* Unmapping an already unmapped part again is harmless, as with munmap. */
  CHECK(ohi_os_unmap(p, g) == 0, "a second unmap of the head failed");
  /* The middle: nothing committed remains, so the reservation is released. */
  CHECK(ohi_os_unmap(p + g, 2 * g) == 0, "unmap of the middle failed");
  CHECK(state_of(p) == MEM_FREE && state_of(p + 3 * g) == MEM_FREE,
        "the reservation was not released after its last part was unmapped (state %#lx)", state_of(p));
}

/* The shape ohi_os_map falls back to when it keeps losing the race for an
 * aligned address: an over-sized reservation whose aligned middle is
 * committed. Unmapping the middle must release all of it. */
static void test_unmap_of_an_oversized_reservation(void) {
  char *raw = VirtualAlloc(NULL, 3 * MiB, MEM_RESERVE, PAGE_NOACCESS);
  REQUIRE(raw != NULL, "VirtualAlloc reserve failed");
  char *mid = (char *)(((uintptr_t)raw + MiB) & ~(uintptr_t)(MiB - 1));
  REQUIRE(VirtualAlloc(mid, MiB, MEM_COMMIT, PAGE_READWRITE) == mid, "VirtualAlloc commit failed");
  fill(mid, MiB, 5);
  CHECK(ohi_os_unmap(mid, MiB) == 0, "ohi_os_unmap of the committed middle failed");
  CHECK(state_of(raw) == MEM_FREE && state_of(mid) == MEM_FREE,
        "the over-sized reservation was not released (state %#lx)", state_of(raw));
}

static void test_unmap_across_two_reservations(void) {
  size_t g = 64 * KiB;
  char *a = NULL, *b = NULL;
  for (int attempt = 0; attempt < 16 && b == NULL; attempt++) {
    char *hole = VirtualAlloc(NULL, 2 * g, MEM_RESERVE, PAGE_NOACCESS);
    REQUIRE(hole != NULL, "VirtualAlloc reserve failed");
    VirtualFree(hole, 0, MEM_RELEASE);
    a = VirtualAlloc(hole, g, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    b = a ? VirtualAlloc(hole + g, g, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE) : NULL;
    if (a != NULL && b == NULL) VirtualFree(a, 0, MEM_RELEASE);
  }
  REQUIRE(a != NULL && b != NULL, "could not place two adjacent reservations");
  CHECK(query(a).AllocationBase != query(b).AllocationBase, "the two reservations are one");
  CHECK(ohi_os_unmap(a, 2 * g) == 0, "ohi_os_unmap across two reservations failed");
  CHECK(state_of(a) == MEM_FREE && state_of(b) == MEM_FREE, "not both reservations were released");
}

static void test_unmap_refuses_bad_ranges(void) {
  size_t ps = ohi_os_page_size();
  char *p = NULL;
  REQUIRE(ohi_os_map(4 * ps, ps, (void **)&p) == 0, "ohi_os_map failed");
  CHECK(ohi_os_unmap(p + 1, ps) == EINVAL, "a misaligned address is not refused");
  CHECK(ohi_os_unmap(p, ps + 1) == EINVAL, "a misaligned size is not refused");
  CHECK(ohi_os_unmap(NULL, ps) == EINVAL, "NULL is not refused");
  CHECK(state_of(p) == MEM_COMMIT, "a refused unmap changed the mapping");
  CHECK(ohi_os_unmap(p, 4 * ps) == 0, "ohi_os_unmap failed");
  CHECK(ohi_os_unmap(p, 4 * ps) == EINVAL, "unmap of address space that is not mapped is not refused");
}

typedef DWORD(WINAPI *discard_fn)(PVOID, SIZE_T);

static discard_fn find_discard(void) {
  const wchar_t *dlls[] = {L"kernel32.dll", L"kernelbase.dll"};
  for (int i = 0; i < 2; i++) {
    HMODULE m = GetModuleHandleW(dlls[i]);
    FARPROC f = m ? GetProcAddress(m, "DiscardVirtualMemory") : NULL;
    if (f != NULL) {
      discard_fn d;
      memcpy(&d, &f, sizeof d);
      return d;
    }
  }
  return NULL;
}

/* os_windows.c counts DiscardVirtualMemory as successful when it returns
 * ERROR_SUCCESS (0): it returns a Win32 error code, not a BOOL. */
static void test_discard_virtual_memory_convention(void) {
  discard_fn discard = find_discard();
  if (discard == NULL) {
    printf("  DiscardVirtualMemory: not available here (Windows before 8.1, or Wine): ohi_os_decommit "
           "uses its MEM_RESET fallback, which the decommit tests cover\n");
    return;
  }
  size_t n = 16 * ohi_os_page_size();
  char *p = VirtualAlloc(NULL, n, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  REQUIRE(p != NULL, "VirtualAlloc failed");
  memset(p, 1, n);
  DWORD ok = discard(p, n);
  CHECK(ok == ERROR_SUCCESS, "DiscardVirtualMemory on committed memory returned %lu, want ERROR_SUCCESS (0)", ok);
  VirtualFree(p, 0, MEM_RELEASE);
  DWORD bad = discard(p, n);
  CHECK(bad != ERROR_SUCCESS, "DiscardVirtualMemory on released memory returned ERROR_SUCCESS");
}

static void test_decommit(void) {
  size_t ps = ohi_os_page_size(), n = MiB;
  char *p = NULL;
  REQUIRE(ohi_os_map(n, 64 * KiB, (void **)&p) == 0, "ohi_os_map failed");
  for (int advice = 0; advice <= 1; advice++) {
    fill(p, n, 9);
    CHECK(resident_pages(p, n) == n / ps, "advice %d: only %zu of %zu touched pages resident before decommit",
          advice, resident_pages(p, n), n / ps);
    int err = ohi_os_decommit(p, n, advice);
    CHECK(err == 0, "ohi_os_decommit(advice %d) = %d", advice, err);
    /* Eager decommit takes the pages out of the working set at once (lazy
     * MEM_RESET may leave them there until the OS needs memory). */
    if (advice == 0) CHECK(resident_pages(p, n) == 0, "advice 0: %zu pages still resident", resident_pages(p, n));
    /* Still mapped, read-write, committed: the range is usable at once. */
    MEMORY_BASIC_INFORMATION mi = query(p);
    CHECK(mi.State == MEM_COMMIT && mi.Protect == PAGE_READWRITE, "advice %d: state %#lx protect %#lx after decommit",
          advice, mi.State, mi.Protect);
    fill(p, n, 11);
    CHECK(filled(p, n, 11), "advice %d: the range is not usable after decommit", advice);
  }
  /* A range of several regions (a page in the middle made inaccessible). */
  CHECK(ohi_os_protect(p + 8 * ps, ps, 0) == 0, "ohi_os_protect failed");
  CHECK(ohi_os_decommit(p, n, 0) == 0, "decommit across regions of different protection failed");
  CHECK(ohi_os_protect(p + 8 * ps, ps, 1) == 0, "ohi_os_protect failed");
  /* Refusals. */
  CHECK(ohi_os_decommit(p + 1, ps, 0) == EINVAL, "a misaligned address is not refused");
  CHECK(ohi_os_decommit(p, ps + 1, 0) == EINVAL, "a misaligned size is not refused");
  CHECK(ohi_os_unmap(p + n - 64 * KiB, 64 * KiB) == 0, "ohi_os_unmap of the tail failed");
  CHECK(ohi_os_decommit(p + n - 64 * KiB, ps, 0) == ENOMEM, "decommit of unmapped memory is not ENOMEM");
  CHECK(ohi_os_unmap(p, n - 64 * KiB) == 0, "ohi_os_unmap failed");
  CHECK(ohi_os_decommit(p, ps, 0) == ENOMEM, "decommit of released memory is not ENOMEM");
}

static void test_protect_faults(void) {
  size_t ps = ohi_os_page_size();
  volatile char *p = NULL;
  REQUIRE(ohi_os_map(4 * ps, ps, (void **)&p) == 0, "ohi_os_map failed");
  p[ps] = 42;
  CHECK(ohi_os_protect((void *)(p + ps), 2 * ps, 0) == 0, "ohi_os_protect(0) failed");
  CHECK(query((void *)(p + ps)).Protect == PAGE_NOACCESS, "protect(0) left protection %#lx",
        query((void *)(p + ps)).Protect);
  CHECK(readable((void *)p) && !readable((void *)(p + ps)) && !readable((void *)(p + 3 * ps - 1)) &&
            readable((void *)(p + 3 * ps)),
        "protect(0) did not make exactly its range fault");
  CHECK(ohi_os_protect((void *)(p + ps), 2 * ps, 1) == 0, "ohi_os_protect(1) failed");
  CHECK(readable((void *)(p + ps)) && p[ps] == 42, "protect(1): the page is not readable with its contents");
  CHECK(query((void *)(p + 2 * ps)).Protect == PAGE_READWRITE, "protect(1) left protection %#lx",
        query((void *)(p + 2 * ps)).Protect);
  p[2 * ps] = 1;
  CHECK(ohi_os_protect((void *)(p + 1), ps, 0) == EINVAL, "a misaligned protect is not refused");
  CHECK(ohi_os_unmap((void *)p, 4 * ps) == 0, "ohi_os_unmap failed");
}

static void test_clock_barrier_hint(void) {
  uint64_t t0 = ohi_os_now_ms();
  Sleep(60);
  uint64_t t1 = ohi_os_now_ms();
  CHECK(t1 >= t0 + 40 && t1 < t0 + 10000, "ohi_os_now_ms advanced %" PRIu64 " ms over a 60 ms sleep", t1 - t0);
  CHECK(ohi_os_process_barrier() == 0, "ohi_os_process_barrier failed");
  void *p = NULL;
  REQUIRE(ohi_os_map(2 * MiB, 2 * MiB, &p) == 0, "ohi_os_map failed");
  ohi_os_hugepage_hint(p, 2 * MiB); /* a no-op that must not disturb the mapping */
  CHECK(query(p).State == MEM_COMMIT && query(p).Protect == PAGE_READWRITE, "the huge page hint changed the mapping");
  CHECK(ohi_os_unmap(p, 2 * MiB) == 0, "ohi_os_unmap failed");
}

/* ===== the public API =========================================================== */

static struct {
  int count, err;
  char msg[512];
} captured;
static void capture(int err, const char *message, void *arg) {
  (void)arg;
  captured.count++;
  captured.err = err;
  snprintf(captured.msg, sizeof captured.msg, "%s", message);
}

/* Whether msg names p: its hex digits (without leading zeros), any case. */
static int names_ptr(const char *msg, const void *p) {
  char hex[32];
  snprintf(hex, sizeof hex, "%" PRIxPTR, (uintptr_t)p);
  for (const char *m = msg; *m; m++) {
    size_t i = 0;
    while (hex[i] && m[i] && (m[i] | 0x20) == hex[i]) i++;
    if (hex[i] == 0) return 1;
  }
  return 0;
}

static void test_version(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", OH_VERSION_MAJOR, OH_VERSION_MINOR, OH_VERSION_PATCH);
  CHECK(strcmp(oh_version(), want) == 0, "oh_version() = %s, header %s", oh_version(), want);
  CHECK(oh_abi_version() == OH_ABI_VERSION, "oh_abi_version() = %d", oh_abi_version());
}

static void test_alloc_free(void) {
  const size_t sizes[] = {1, 16, 100, 1000, 4096, 16 * KiB, 64 * KiB, 100 * KiB, MiB, 5 * MiB};
  enum { N = sizeof sizes / sizeof sizes[0] };
  void *ps[N];
  for (size_t i = 0; i < N; i++) {
    ps[i] = oh_alloc(sizes[i]);
    CHECK(ps[i] != NULL, "oh_alloc(%zu) failed: %s", sizes[i], oh_last_error());
    if (ps[i] == NULL) continue;
    CHECK(((uintptr_t)ps[i] & 15) == 0, "oh_alloc(%zu) = %p is not 16-byte aligned", sizes[i], ps[i]);
    CHECK(oh_usable_size(ps[i]) >= sizes[i], "oh_usable_size = %zu < %zu", oh_usable_size(ps[i]), sizes[i]);
    fill(ps[i], sizes[i], (unsigned)i);
  }
  for (size_t i = 0; i < N; i++) {
    if (ps[i] == NULL) continue;
    CHECK(filled(ps[i], sizes[i], (unsigned)i), "allocation %zu (%zu bytes) was overwritten", i, sizes[i]);
    CHECK(oh_free(ps[i]) == 0, "oh_free(%p) failed: %s", ps[i], oh_last_error());
  }
  void *z = oh_calloc(64 * KiB);
  REQUIRE(z != NULL, "oh_calloc failed");
  CHECK(all_zero(z, 64 * KiB), "oh_calloc memory is not zeroed");
  CHECK(oh_free(z) == 0, "oh_free failed");
}

static void test_misuse_is_reported(void) {
  oh_set_error_handler(capture, NULL);
  int on_stack = 0;
  captured.count = 0;
  errno = 0;
  CHECK(oh_free(&on_stack) == -1 && errno == EINVAL, "free of a stack address: errno %d, want EINVAL", errno);
  CHECK(captured.count == 1 && captured.err == EINVAL && names_ptr(captured.msg, &on_stack),
        "the handler got (%d calls, errno %d) \"%s\", which must name %p", captured.count, captured.err, captured.msg,
        (void *)&on_stack);
  CHECK(strcmp(oh_last_error(), captured.msg) == 0, "oh_last_error() = \"%s\"", oh_last_error());
  char *p = oh_alloc(100);
  REQUIRE(p != NULL, "oh_alloc failed");
  errno = 0;
  CHECK(oh_free(p + 16) == -1 && errno == EFAULT, "free of an interior pointer: errno %d, want EFAULT", errno);
  CHECK(oh_free(p) == 0, "oh_free failed");
  errno = 0;
  CHECK(oh_free(p) == -1 && errno == EALREADY, "double free: errno %d, want EALREADY", errno);
  oh_set_error_handler(NULL, NULL);
}

/* Slab instances come and go: their descriptors are reused from metadata
 * memory that was decommitted, which DiscardVirtualMemory does not zero (the
 * core zeroes it: OHI_OS_DECOMMIT_ZEROES). A stale state word would show as a
 * wrong reference count or a refused free. */
static void test_slab_instances_come_and_go(void) {
  oh_slab_config_t cfg = {.min_chunk = 48, .slab_size = 256 * KiB, .growth = 2};
  enum { ROUNDS = 60, PER = 600 };
  static void *ptrs[PER];
  for (int round = 0; round < ROUNDS; round++) {
    oh_slab_t *s = oh_slab_new(&cfg);
    REQUIRE(s != NULL, "oh_slab_new failed: %s", oh_last_error());
    for (int i = 0; i < PER; i++) {
      size_t n = 16 + (size_t)(i * 37 + round) % 3000;
      ptrs[i] = oh_slab_alloc(s, n);
      if (ptrs[i] == NULL || oh_slab_refcount(s, ptrs[i]) != 1) {
        CHECK(0, "round %d: allocation %d: %p refcount %ld", round, i, ptrs[i],
              ptrs[i] ? oh_slab_refcount(s, ptrs[i]) : -1L);
        return;
      }
      memset(ptrs[i], 0x5a, n);
    }
    for (int i = 0; i < PER; i += 3) CHECK(oh_slab_addref(s, ptrs[i]) == 0, "oh_slab_addref failed");
    for (int i = 0; i < PER; i++) {
      int want = i % 3 == 0 ? 0 : 1;
      int got = oh_slab_decref(s, ptrs[i]);
      if (got != want) {
        CHECK(0, "round %d: decref %d returned %d, want %d", round, i, got, want);
        return;
      }
    }
    for (int i = 0; i < PER; i += 3) CHECK(oh_slab_decref(s, ptrs[i]) == 1, "the last decref did not free");
    oh_stats_t st;
    CHECK(oh_slab_stats(s, &st) == 0 && st.in_use_bytes == 0, "round %d: %llu bytes still in use", round,
          (unsigned long long)st.in_use_bytes);
    CHECK(oh_slab_destroy(s) == 0, "oh_slab_destroy failed: %s", oh_last_error());
    if (round % 10 == 9) oh_purge(); /* decommit what the destroyed instances left */
  }
}

static void test_pool_and_arena(void) {
  oh_pool_t *pool = oh_pool_new(200, NULL);
  REQUIRE(pool != NULL, "oh_pool_new failed");
  enum { N = 5000 };
  static void *objs[N];
  for (int i = 0; i < N; i++) {
    objs[i] = oh_pool_get(pool);
    REQUIRE(objs[i] != NULL, "oh_pool_get %d failed", i);
    memset(objs[i], i & 0xff, 200);
  }
  for (int i = 0; i < N; i++) {
    CHECK(((unsigned char *)objs[i])[199] == (i & 0xff), "pool object %d was overwritten", i);
    CHECK(oh_pool_put(pool, objs[i]) == 0, "oh_pool_put failed");
  }
  CHECK(oh_pool_destroy(pool) == 0, "oh_pool_destroy failed");

  oh_arena_t *a = oh_arena_new(64 * KiB);
  REQUIRE(a != NULL, "oh_arena_new failed");
  for (int flags = 0; flags <= 1; flags++) {
    for (int i = 0; i < 1000; i++) {
      char *p = oh_arena_alloc(a, 1 + (size_t)i % 700, 16);
      REQUIRE(p != NULL, "oh_arena_alloc failed");
      CHECK(oh_arena_owns(a, p), "oh_arena_owns(%p) = 0", (void *)p);
      memset(p, 1, 1 + (size_t)i % 700);
    }
    char *big = oh_arena_alloc(a, MiB, 4096);
    CHECK(big != NULL && ((uintptr_t)big & 4095) == 0, "a large aligned arena allocation failed");
    oh_arena_reset(a, flags == 0 ? OH_ARENA_DECOMMIT : OH_ARENA_KEEP);
  }
  CHECK(oh_arena_destroy(a) == 0, "oh_arena_destroy failed");
}

static void test_pages_and_decommit(void) {
  size_t ps = oh_page_size();
  unsigned char *m = oh_map(MiB);
  REQUIRE(m != NULL, "oh_map failed");
  CHECK(all_zero(m, MiB), "oh_map memory is not zeroed");
  memset(m, 3, MiB);
  CHECK(oh_decommit(m, MiB) == MiB, "oh_decommit of a whole mapping");
  m[0] = 1;
  errno = 0;
  CHECK(oh_unmap(m, MiB / 2) == -1 && errno == EINVAL, "oh_unmap with the wrong size: errno %d", errno);
  CHECK(oh_unmap(m, MiB) == 0, "oh_unmap failed");
  CHECK(state_of(m) == MEM_FREE, "oh_unmap left state %#lx", state_of(m));
  /* Any memory: here the C heap's. */
  size_t n = 64 * ps + 100;
  unsigned char *h = malloc(n);
  REQUIRE(h != NULL, "malloc failed");
  memset(h, 1, n);
  size_t got = oh_decommit(h, n);
  CHECK(got % ps == 0 && got >= 62 * ps && got <= 64 * ps, "oh_decommit of malloc'd memory: %zu bytes", got);
  memset(h, 2, n); /* still usable */
  free(h);
}

/* Freed memory goes back to the OS: by oh_purge at once, and by the purger
 * thread after the purge delay. Measured as the process's working set. */
static void test_purge_returns_memory(void) {
  long long old_delay = oh_option_get(OH_OPT_PURGE_DELAY_MS);
  oh_option_set(OH_OPT_PURGE_DELAY_MS, -1); /* only oh_purge decommits */
  enum { N = 256 };
  static void *ps[N];
  for (int i = 0; i < N; i++) { /* 16 MiB */
    ps[i] = oh_alloc(64 * KiB);
    REQUIRE(ps[i] != NULL, "oh_alloc failed");
    memset(ps[i], 1, 64 * KiB);
  }
  size_t before = working_set();
  for (int i = 0; i < N; i++) oh_free(ps[i]);
  size_t released = oh_purge();
  size_t after = working_set();
  CHECK(released >= 8 * MiB, "oh_purge released %zu bytes", released);
  CHECK(before > after && before - after >= 8 * MiB, "working set %zu -> %zu after oh_purge, want a drop of 8 MiB",
        before, after);

  /* The purger thread (winpthreads, timed condition wait). */
  oh_option_set(OH_OPT_PURGE_DELAY_MS, 20);
  for (int i = 0; i < N; i++) {
    ps[i] = oh_alloc(64 * KiB);
    REQUIRE(ps[i] != NULL, "oh_alloc failed");
    memset(ps[i], 1, 64 * KiB);
  }
  oh_stats_t st;
  oh_stats(&st);
  uint64_t dec0 = st.decommitted_bytes;
  for (int i = 0; i < N; i++) oh_free(ps[i]);
  oh_thread_flush();
  int waited = 0;
  for (; waited < 300; waited++) {
    oh_stats(&st);
    if (st.decommitted_bytes - dec0 >= 8 * MiB) break;
    Sleep(10);
  }
  CHECK(st.decommitted_bytes - dec0 >= 8 * MiB, "the purger decommitted %llu bytes in 3 s",
        (unsigned long long)(st.decommitted_bytes - dec0));
  oh_option_set(OH_OPT_PURGE_DELAY_MS, old_delay);
}

/* ---- threads ---- */

enum { THREADS = 4, OPS = 40000, LIVE = 256, HANDOFF = 1024 };

typedef struct {
  int id;
  int errors;
} worker_t;

static void *volatile handoff[HANDOFF]; /* allocations passed to another thread to free */

static void *worker(void *arg) {
  worker_t *w = arg;
  void *live[LIVE] = {0};
  size_t lens[LIVE] = {0};
  uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
  for (int op = 0; op < OPS; op++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int slot = (int)(x % LIVE);
    if (live[slot] != NULL) {
      unsigned char *b = live[slot];
      if (b[0] != (unsigned char)(w->id + slot) || b[lens[slot] - 1] != (unsigned char)(w->id + slot)) w->errors++;
      /* Every 8th is freed by whichever thread finds it in the hand-off. */
      if ((x >> 20) % 8 == 0) {
        void *prev = __atomic_exchange_n(&handoff[(x >> 24) % HANDOFF], live[slot], __ATOMIC_ACQ_REL);
        if (prev != NULL && oh_free(prev) != 0) w->errors++;
      } else if (oh_free(live[slot]) != 0) {
        w->errors++;
      }
      live[slot] = NULL;
    } else {
      size_t n = 1 + (size_t)((x >> 32) % ((x & 64) ? 65536 : 512));
      unsigned char *b = oh_alloc(n);
      if (b == NULL) {
        w->errors++;
        continue;
      }
      b[0] = b[n - 1] = (unsigned char)(w->id + slot);
      live[slot] = b, lens[slot] = n;
    }
  }
  for (int i = 0; i < LIVE; i++)
    if (live[i] != NULL && oh_free(live[i]) != 0) w->errors++;
  return NULL;
}

static void test_threads(void) {
  pthread_t t[THREADS];
  worker_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i].id = i, w[i].errors = 0;
    REQUIRE(pthread_create(&t[i], NULL, worker, &w[i]) == 0, "pthread_create failed");
  }
  int errors = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    errors += w[i].errors;
  }
  for (int i = 0; i < HANDOFF; i++)
    if (handoff[i] != NULL && oh_free(handoff[i]) != 0) errors++;
  CHECK(errors == 0, "%d wrong contents or failed frees across %d threads", errors, THREADS);
  oh_thread_flush();
  oh_stats_t st;
  CHECK(oh_stats(&st) == 0 && st.in_use_bytes == 0, "%llu bytes still in use after every thread freed all",
        (unsigned long long)st.in_use_bytes);
}

/* Debug level 2: a freed large allocation is made inaccessible. */
static void test_debug_guard(void) {
  long long old = oh_option_get(OH_OPT_DEBUG);
  REQUIRE(oh_option_set(OH_OPT_DEBUG, 2) == 0, "oh_option_set(OH_OPT_DEBUG, 2) failed");
  char *p = oh_alloc(2 * MiB);
  REQUIRE(p != NULL, "oh_alloc failed");
  memset(p, 1, 2 * MiB);
  CHECK(oh_free(p) == 0, "oh_free failed");
  CHECK(!readable(p) && !readable(p + MiB), "a freed large allocation is still readable under debug level 2");
  char *q = oh_alloc(2 * MiB); /* reuse makes it accessible again */
  REQUIRE(q != NULL, "oh_alloc failed");
  memset(q, 2, 2 * MiB);
  CHECK(oh_free(q) == 0, "oh_free failed");
  oh_option_set(OH_OPT_DEBUG, old);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  AddVectoredExceptionHandler(1, on_probe_fault);
  static const struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"os_page_size", test_page_size},
      {"os_map_sizes_and_alignments", test_map_sizes_and_alignments},
      {"os_map_refuses_bad_arguments", test_map_refuses_bad_arguments},
      {"os_partial_unmap", test_partial_unmap_releases_the_reservation_last},
      {"os_unmap_oversized_reservation", test_unmap_of_an_oversized_reservation},
      {"os_unmap_across_reservations", test_unmap_across_two_reservations},
      {"os_unmap_refuses_bad_ranges", test_unmap_refuses_bad_ranges},
      {"os_discard_virtual_memory_convention", test_discard_virtual_memory_convention},
      {"os_decommit", test_decommit},
      {"os_protect_faults", test_protect_faults},
      {"os_clock_barrier_hint", test_clock_barrier_hint},
      {"version", test_version},
      {"alloc_free", test_alloc_free},
      {"misuse_is_reported", test_misuse_is_reported},
      {"slab_instances_come_and_go", test_slab_instances_come_and_go},
      {"pool_and_arena", test_pool_and_arena},
      {"pages_and_decommit", test_pages_and_decommit},
      {"purge_returns_memory", test_purge_returns_memory},
      {"threads", test_threads},
      {"debug_guard", test_debug_guard},
  };
  int ntests = (int)(sizeof tests / sizeof tests[0]), failed_tests = 0;
  for (int i = 0; i < ntests; i++) {
    current_test = tests[i].name;
    int before = failures;
    DWORD t0 = GetTickCount();
    tests[i].fn();
    printf("%s %s (%lu ms)\n", failures == before ? "ok  " : "FAIL", tests[i].name, GetTickCount() - t0);
    if (failures != before) failed_tests++;
  }
  printf("test_windows: %d tests, %d checks, %d failed checks in %d tests\n", ntests, checks, failures, failed_tests);
  return failures ? 1 : 0;
}

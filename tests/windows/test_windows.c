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
 *
 * This file holds the harness, the OS views and main; the tests are in
 * test_windows_os.c (the OS primitives) and test_windows_api.c (the public
 * API); test_windows.h is what they share.
 */
#include "test_windows.h"

/* ---- the harness ------------------------------------------------------------ */

int checks, failures;     /* checks made, and failed, by all tests */
const char *current_test; /* the name of the test running */

void check_(int ok, const char *file, int line, const char *fmt, ...) {
  checks++;
  if (ok) return;
  failures++;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL %s (%s:%d): ", current_test, file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- OS views -------------------------------------------------------------------- */

MEMORY_BASIC_INFORMATION query(const void *p) {
  MEMORY_BASIC_INFORMATION mi;
  memset(&mi, 0, sizeof mi);
  if (VirtualQuery(p, &mi, sizeof mi) == 0) mi.State = 0;
  return mi;
}
DWORD state_of(const void *p) { return query(p).State; }

/* Pages of [p, p+n) in the working set (resident). */
size_t resident_pages(const void *p, size_t n) {
  size_t ps = ohi_os_page_size(), count = 0;
  for (size_t off = 0; off < n; off += ps) {
    PSAPI_WORKING_SET_EX_INFORMATION wi;
    memset(&wi, 0, sizeof wi);
    wi.VirtualAddress = (char *)p + off;
    if (K32QueryWorkingSetEx(GetCurrentProcess(), &wi, sizeof wi) && wi.VirtualAttributes.Valid) count++;
  }
  return count;
}

size_t working_set(void) {
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

int readable(const void *p) {
  probe_faulted = 0;
  probe_armed = 1;
  __asm__ volatile("movb (%%rcx), %%al" : : "c"(p) : "rax", "memory");
  probe_armed = 0;
  return !probe_faulted;
}

void fill(void *p, size_t n, unsigned seed) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 31 + seed);
}
int filled(const void *p, size_t n, unsigned seed) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(i * 31 + seed)) return 0;
  return 1;
}
int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0) return 0;
  return 1;
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

/* test_windows_os.c - the OS primitives of c/src/os_windows.c against the
 * contract in c/src/internal.h, checked through what the OS reports
 * (test_windows.c has the overview): page size, mapping and alignment,
 * partial and refused unmaps, discard and decommit, protection faults, the
 * clock, the process barrier and the huge page hint. */
#include "test_windows.h"

/* ===== the OS primitives (os_windows.c) ========================================= */

void test_page_size(void) {
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

void test_map_sizes_and_alignments(void) {
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

void test_map_refuses_bad_arguments(void) {
  size_t ps = ohi_os_page_size();
  void *p = (void *)1;
  CHECK(ohi_os_map(0, ps, &p) == EINVAL && p == NULL, "size 0 not refused");
  CHECK(ohi_os_map(ps + 1, ps, &p) == EINVAL, "size not a page multiple not refused");
  CHECK(ohi_os_map(ps, ps / 2, &p) == EINVAL, "alignment below the page size not refused");
  CHECK(ohi_os_map(ps, 3 * ps, &p) == EINVAL, "alignment not a power of two not refused");
  CHECK(ohi_os_map(SIZE_MAX & ~(ps - 1), MiB, &p) == ENOMEM, "an impossible size is not ENOMEM");
}

void test_partial_unmap_releases_the_reservation_last(void) {
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
void test_unmap_of_an_oversized_reservation(void) {
  char *raw = VirtualAlloc(NULL, 3 * MiB, MEM_RESERVE, PAGE_NOACCESS);
  REQUIRE(raw != NULL, "VirtualAlloc reserve failed");
  char *mid = (char *)(((uintptr_t)raw + MiB) & ~(uintptr_t)(MiB - 1));
  REQUIRE(VirtualAlloc(mid, MiB, MEM_COMMIT, PAGE_READWRITE) == mid, "VirtualAlloc commit failed");
  fill(mid, MiB, 5);
  CHECK(ohi_os_unmap(mid, MiB) == 0, "ohi_os_unmap of the committed middle failed");
  CHECK(state_of(raw) == MEM_FREE && state_of(mid) == MEM_FREE,
        "the over-sized reservation was not released (state %#lx)", state_of(raw));
}

void test_unmap_across_two_reservations(void) {
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

void test_unmap_refuses_bad_ranges(void) {
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
void test_discard_virtual_memory_convention(void) {
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

void test_decommit(void) {
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

void test_protect_faults(void) {
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

void test_clock_barrier_hint(void) {
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

/* os_windows.c - the OS primitives on Windows.
 *
 * The only file (with os_unix.c) that names VirtualAlloc, VirtualFree,
 * VirtualProtect and DiscardVirtualMemory. Contract: internal.h, "OS
 * primitives". Every function returns 0 or an errno value and refuses
 * misaligned input rather than rounding it.
 *
 * Windows differs from mmap in two ways that shape this file:
 *
 *  1. Address space is reserved in units of the allocation granularity
 *     (64 KiB, the core's granule), and VirtualFree(MEM_RELEASE) only ever
 *     releases a whole reservation, from its first byte. A mapping is one
 *     reservation (reserved and committed together), so the core's unmaps of
 *     whole mappings are one MEM_RELEASE. The contract also allows unmapping
 *     part of a mapping: that part is decommitted (MEM_DECOMMIT: its memory
 *     goes back to the OS and any access faults, as after munmap) and the
 *     reservation is released once none of it is committed any more. The OS's
 *     own page states (VirtualQuery) are the bookkeeping; there is no table
 *     here to keep in sync.
 *
 *  2. Decommit in the core's sense - contents dropped, the range staying
 *     usable - is DiscardVirtualMemory (Windows 8.1 and later; it returns a
 *     Win32 error code, ERROR_SUCCESS = 0 on success, not a BOOL) or, where
 *     that is missing or refuses, VirtualAlloc(MEM_RESET) (which returns the
 *     address on success). Neither promises that the pages read as zero
 *     afterwards (internal.h: OHI_OS_DECOMMIT_ZEROES). MEM_DECOMMIT would, but
 *     it makes the range fault until it is committed again, and metadata
 *     memory must stay readable by racing lookups at all times.
 */
#if defined(_WIN32)

#include "internal.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

/* ---- page size and allocation granularity --------------------------------- */

static size_t os_page_size, os_granularity;

static void os_sysinfo(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  size_t ps = si.dwPageSize ? (size_t)si.dwPageSize : 4096;
  size_t gran = si.dwAllocationGranularity >= ps ? (size_t)si.dwAllocationGranularity : ps;
  OHI_STORE_RELAXED(&os_granularity, gran);
  OHI_STORE_RELAXED(&os_page_size, ps);
}

size_t ohi_os_page_size(void) {
  size_t ps = OHI_LOAD_RELAXED(&os_page_size);
  if (OHI_UNLIKELY(ps == 0)) {
    os_sysinfo();
    ps = OHI_LOAD_RELAXED(&os_page_size);
  }
  return ps;
}

/* Reservations start at multiples of this (64 KiB on every Windows so far). */
static size_t os_allocation_granularity(void) {
  size_t g = OHI_LOAD_RELAXED(&os_granularity);
  if (OHI_UNLIKELY(g == 0)) {
    os_sysinfo();
    g = OHI_LOAD_RELAXED(&os_granularity);
  }
  return g;
}

static bool page_aligned(const void *addr, size_t size) {
  size_t ps = ohi_os_page_size();
  return ((uintptr_t)addr & (ps - 1)) == 0 && (size & (ps - 1)) == 0;
}

/* The errno value for the thread's last Win32 error. */
static int os_errno(void) {
  switch (GetLastError()) {
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
  case ERROR_COMMITMENT_LIMIT:
  case ERROR_COMMITMENT_MINIMUM:
    return ENOMEM;
  case ERROR_INVALID_ADDRESS:
  case ERROR_INVALID_PARAMETER:
  default:
    return EINVAL;
  }
}

/* ---- mapping ---------------------------------------------------------------- */

/* How often ohi_os_map tries to claim an aligned address it found free before
 * it settles for an over-sized reservation: each miss means another thread
 * mapped into the hole between our release and our claim. */
#define OS_MAP_ATTEMPTS 8

int ohi_os_map(size_t size, size_t align, void **out) {
  size_t ps = ohi_os_page_size();
  *out = NULL;
  if (size == 0 || (size & (ps - 1)) != 0 || align < ps || (align & (align - 1)) != 0) return EINVAL;
  size_t gran = os_allocation_granularity();
  if (align <= gran) { /* every reservation is granularity aligned */
    void *p = VirtualAlloc(NULL, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p == NULL) return os_errno();
    *out = p;
    return 0;
  }
  /* A reservation of size + align - granularity holds an aligned range of
   * size. Reserve it, note the aligned address, release it and reserve
   * exactly the aligned range, so the mapping is again one whole reservation. */
  size_t extra = align - gran;
  if (size > SIZE_MAX - extra) return ENOMEM;
  size_t total = size + extra;
  for (int attempt = 0; attempt < OS_MAP_ATTEMPTS; attempt++) {
    void *raw = VirtualAlloc(NULL, total, MEM_RESERVE, PAGE_NOACCESS);
    if (raw == NULL) return os_errno();
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    VirtualFree(raw, 0, MEM_RELEASE);
    void *p = VirtualAlloc((void *)start, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (p != NULL) {
      *out = p;
      return 0;
    }
    int err = os_errno();
    if (err == ENOMEM) return ENOMEM; /* the commit failed, not the placement */
  }
  /* Still losing the race: keep the over-sized reservation and commit its
   * aligned middle. The head and tail stay reserved, inaccessible; unmapping
   * the middle releases the whole reservation (ohi_os_unmap). */
  void *raw = VirtualAlloc(NULL, total, MEM_RESERVE, PAGE_NOACCESS);
  if (raw == NULL) return os_errno();
  uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  if (VirtualAlloc((void *)start, size, MEM_COMMIT, PAGE_READWRITE) == NULL) {
    int err = os_errno();
    VirtualFree(raw, 0, MEM_RELEASE);
    return err;
  }
  *out = (void *)start;
  return 0;
}

/* The reservation starting at base: its end, and whether any of its pages are
 * still committed. */
static void os_reservation_scan(uintptr_t base, uintptr_t *end, bool *committed) {
  MEMORY_BASIC_INFORMATION mi;
  uintptr_t p = base;
  *committed = false;
  while (VirtualQuery((void *)p, &mi, sizeof mi) != 0 && (uintptr_t)mi.AllocationBase == base &&
         mi.State != MEM_FREE) {
    if (mi.State == MEM_COMMIT) *committed = true;
    p = (uintptr_t)mi.BaseAddress + mi.RegionSize;
  }
  *end = p;
}

int ohi_os_unmap(void *addr, size_t size) {
  if (addr == NULL || size == 0 || !page_aligned(addr, size)) return EINVAL;
  uintptr_t end = (uintptr_t)addr + size;
  if (end < (uintptr_t)addr) return EINVAL;
  /* Refuse a range that is not wholly mapped before changing any of it. */
  MEMORY_BASIC_INFORMATION mi;
  for (uintptr_t p = (uintptr_t)addr; p < end; p = (uintptr_t)mi.BaseAddress + mi.RegionSize) {
    if (VirtualQuery((void *)p, &mi, sizeof mi) == 0 || mi.State == MEM_FREE) return EINVAL;
  }
  /* One reservation at a time. */
  for (uintptr_t p = (uintptr_t)addr; p < end;) {
    if (VirtualQuery((void *)p, &mi, sizeof mi) == 0) return EINVAL;
    uintptr_t base = (uintptr_t)mi.AllocationBase, res_end;
    bool committed;
    os_reservation_scan(base, &res_end, &committed);
    uintptr_t part_end = end < res_end ? end : res_end;
    if (p != base || part_end != res_end) {
      if (!VirtualFree((void *)p, part_end - p, MEM_DECOMMIT)) return os_errno();
      os_reservation_scan(base, &res_end, &committed);
    } else {
      committed = false; /* the whole reservation goes */
    }
    if (!committed && !VirtualFree((void *)base, 0, MEM_RELEASE)) return os_errno();
    p = part_end;
  }
  return 0;
}

/* ---- decommit --------------------------------------------------------------- */

typedef DWORD(WINAPI *os_discard_fn)(PVOID addr, SIZE_T size);

/* DiscardVirtualMemory, looked up at run time: it exists from Windows 8.1 on
 * (kernel32, implemented in kernelbase), the headers declare it only for
 * _WIN32_WINNT >= 0x0603, and Wine 8 lacks it. */
static os_discard_fn os_discard_lookup(void) {
  static os_discard_fn fn;
  static int state; /* 0 not looked up, 1 looked up */
  if (OHI_LOAD_ACQUIRE(&state) == 0) {
    os_discard_fn f = NULL;
    static const wchar_t *const dlls[] = {L"kernel32.dll", L"kernelbase.dll"};
    for (size_t i = 0; i < sizeof dlls / sizeof dlls[0] && f == NULL; i++) {
      HMODULE mod = GetModuleHandleW(dlls[i]);
      FARPROC proc = mod != NULL ? GetProcAddress(mod, "DiscardVirtualMemory") : NULL;
      memcpy(&f, &proc, sizeof f); /* FARPROC to a function pointer of another type */
    }
    OHI_STORE_RELAXED(&fn, f);
    OHI_STORE_RELEASE(&state, 1);
  }
  return OHI_LOAD_RELAXED(&fn);
}

int ohi_os_decommit(void *addr, size_t size, int advice) {
  if (addr == NULL || size == 0 || !page_aligned(addr, size)) return EINVAL;
  uintptr_t end = (uintptr_t)addr + size;
  if (end < (uintptr_t)addr) return EINVAL;
  os_discard_fn discard = advice == 0 ? os_discard_lookup() : NULL;
  /* Region by region (pages of one reservation with the same state and
   * protection): both calls work within one reservation only, and the range
   * may be any memory (oh_decommit takes Go-heap slices too). */
  MEMORY_BASIC_INFORMATION mi;
  for (uintptr_t p = (uintptr_t)addr; p < end;) {
    if (VirtualQuery((void *)p, &mi, sizeof mi) == 0) return EINVAL;
    if (mi.State != MEM_COMMIT) return ENOMEM; /* as madvise on unmapped memory */
    uintptr_t region_end = (uintptr_t)mi.BaseAddress + mi.RegionSize;
    size_t n = (end < region_end ? end : region_end) - p;
    bool done = discard != NULL && discard((void *)p, n) == ERROR_SUCCESS;
    /* MEM_RESET ignores the protection argument but needs a valid one. */
    if (!done && VirtualAlloc((void *)p, n, MEM_RESET, PAGE_NOACCESS) == NULL) return os_errno();
    p += n;
  }
  return 0;
}

/* No vector call here: one range after the other. */
void ohi_test_os_vector(int on) { (void)on; }

size_t ohi_os_decommit_ranges(const ohi_range_t *r, size_t n, int advice, bool *ok) {
  size_t done = 0;
  for (size_t i = 0; i < n && i < OHI_OS_RANGES_MAX; i++) done += (ok[i] = ohi_os_decommit(r[i].addr, r[i].size, advice) == 0);
  return done;
}

/* ---- protection, hints, time, barrier -------------------------------------- */

int ohi_os_protect(void *addr, size_t size, int accessible) {
  if (addr == NULL || size == 0 || !page_aligned(addr, size)) return EINVAL;
  DWORD old;
  if (!VirtualProtect(addr, size, accessible ? PAGE_READWRITE : PAGE_NOACCESS, &old)) return os_errno();
  return 0;
}

/* Large pages on Windows must be asked for when memory is mapped
 * (MEM_LARGE_PAGES) and need the SeLockMemoryPrivilege; there is no hint to
 * give afterwards. */
void ohi_os_hugepage_hint(void *addr, size_t size) {
  (void)addr;
  (void)size;
}

uint64_t ohi_os_now_ms(void) { return (uint64_t)GetTickCount64(); }
uint64_t ohi_os_now_ms_coarse(void) { return (uint64_t)GetTickCount64(); }

/* FlushProcessWriteBuffers (Vista and later) makes every processor running a
 * thread of the process execute a full barrier; it cannot fail. */
int ohi_os_process_barrier(void) {
  FlushProcessWriteBuffers();
  return 0;
}

#endif /* _WIN32 */

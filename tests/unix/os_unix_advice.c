/* os_unix_advice.c - which madvise advice c/src/os_unix.c gives on each OS.
 *
 * os_unix.c picks its decommit advice per OS: MADV_DONTNEED on Linux (or
 * MADV_FREE when asked for lazy decommit), MADV_FREE_REUSABLE on macOS, and
 * MADV_FREE on the BSDs, where MADV_DONTNEED leaves the pages resident. Only
 * the Linux branch runs here, so `make test-unix-defines` compiles the
 * unmodified os_unix.c once per OS with that OS's predefined macro
 * (-U__linux__ -D__FreeBSD__, -D__APPLE__ -DMADV_FREE_REUSABLE=7, ...) and
 * -Dmadvise=ohi_test_madvise, and links it with this program, which records
 * every advice the primitives give (and can make one fail) and checks the
 * branch that OS must take. The Linux headers supply the other MADV_ values,
 * so the checks compare names, not numbers.
 *
 * OH_TEST_OS selects the expectations: 0 Linux, 1 a BSD, 2 macOS,
 * 3 macOS without MADV_FREE_REUSABLE (an old SDK: the generic branch).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef OH_TEST_OS
#error "OH_TEST_OS must be set (see the file comment)"
#endif
#if OH_TEST_OS == 2 && !defined(MADV_FREE_REUSABLE)
#error "the macOS variant is compiled with -DMADV_FREE_REUSABLE"
#endif

/* ---- the recording madvise ------------------------------------------------- */

static int calls[8], ncalls;
static int fail_advice = -1, fail_errno; /* the advice to refuse, and how */

int ohi_test_madvise(void *addr, size_t len, int advice);
int ohi_test_madvise(void *addr, size_t len, int advice) {
  (void)addr;
  (void)len;
  if (ncalls < 8) calls[ncalls] = advice;
  ncalls++;
  if (advice == fail_advice) {
    errno = fail_errno;
    return -1;
  }
  return 0;
}

static int failures;
#define EXPECT(cond, ...)                                  \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "os_unix_advice[%d] %s:%d: ", OH_TEST_OS, __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      failures++;                                          \
    }                                                      \
  } while (0)

static const char *advice_name(int a) {
  if (a == MADV_DONTNEED) return "MADV_DONTNEED";
#if defined(MADV_FREE)
  if (a == MADV_FREE) return "MADV_FREE";
#endif
#if defined(MADV_FREE_REUSABLE)
  if (a == MADV_FREE_REUSABLE) return "MADV_FREE_REUSABLE";
#endif
#if defined(MADV_HUGEPAGE)
  if (a == MADV_HUGEPAGE) return "MADV_HUGEPAGE";
#endif
  return "another advice";
}

/* Decommits one page with the given advice and checks the madvise calls made
 * (want[0..nwant)) and the result. */
static void expect_decommit(void *page, int advice, int want_result, const int *want, int nwant, const char *what) {
  ncalls = 0;
  int r = ohi_os_decommit(page, ohi_os_page_size(), advice);
  EXPECT(r == want_result, "%s: ohi_os_decommit returned %d, want %d", what, r, want_result);
  EXPECT(ncalls == nwant, "%s: %d madvise calls, want %d", what, ncalls, nwant);
  for (int i = 0; i < nwant && i < ncalls; i++)
    EXPECT(calls[i] == want[i], "%s: madvise call %d gave %s, want %s", what, i + 1, advice_name(calls[i]),
           advice_name(want[i]));
}

int main(void) {
  void *page = NULL;
  size_t ps = ohi_os_page_size();
  int err = ohi_os_map(ps, ps, &page);
  if (err != 0) {
    fprintf(stderr, "os_unix_advice: ohi_os_map failed: %d\n", err);
    return 1;
  }

#if OH_TEST_OS == 0 /* Linux */
  expect_decommit(page, 0, 0, (const int[]){MADV_DONTNEED}, 1, "Linux, eager");
  expect_decommit(page, 1, 0, (const int[]){MADV_FREE}, 1, "Linux, lazy");
  fail_advice = MADV_FREE, fail_errno = EINVAL; /* a kernel before 4.5 */
  expect_decommit(page, 1, 0, (const int[]){MADV_FREE, MADV_DONTNEED}, 2, "Linux, lazy, MADV_FREE unknown");
  fail_advice = MADV_DONTNEED, fail_errno = ENOMEM;
  expect_decommit(page, 0, ENOMEM, (const int[]){MADV_DONTNEED}, 1, "Linux, eager, refused");
#elif OH_TEST_OS == 1 /* a BSD: MADV_FREE whatever the advice */
  EXPECT(ohi_os_process_barrier() == ENOSYS, "BSD: the process barrier is Linux only");
  expect_decommit(page, 0, 0, (const int[]){MADV_FREE}, 1, "BSD, eager");
  expect_decommit(page, 1, 0, (const int[]){MADV_FREE}, 1, "BSD, lazy");
  fail_advice = MADV_FREE, fail_errno = EINVAL;
  expect_decommit(page, 0, 0, (const int[]){MADV_FREE, MADV_DONTNEED}, 2, "BSD, MADV_FREE refused");
#elif OH_TEST_OS == 2 /* macOS: MADV_FREE_REUSABLE whatever the advice */
  EXPECT(ohi_os_process_barrier() == ENOSYS, "macOS: the process barrier is Linux only");
  expect_decommit(page, 0, 0, (const int[]){MADV_FREE_REUSABLE}, 1, "macOS, eager");
  expect_decommit(page, 1, 0, (const int[]){MADV_FREE_REUSABLE}, 1, "macOS, lazy");
  fail_advice = MADV_FREE_REUSABLE, fail_errno = EINVAL; /* no fallback to an advice that keeps the footprint */
  expect_decommit(page, 0, EINVAL, (const int[]){MADV_FREE_REUSABLE}, 1, "macOS, refused");
#elif OH_TEST_OS == 3 /* macOS headers without MADV_FREE_REUSABLE: the generic branch */
  expect_decommit(page, 0, 0, (const int[]){MADV_DONTNEED}, 1, "old macOS SDK, eager");
  expect_decommit(page, 1, 0, (const int[]){MADV_FREE}, 1, "old macOS SDK, lazy");
#else
#error "unknown OH_TEST_OS"
#endif
  fail_advice = -1;

  /* Every OS: misaligned input is refused before any madvise. */
  ncalls = 0;
  EXPECT(ohi_os_decommit((char *)page + 1, ps, 0) == EINVAL, "a misaligned address is not refused");
  EXPECT(ohi_os_decommit(page, ps + 1, 0) == EINVAL, "a misaligned size is not refused");
  EXPECT(ncalls == 0, "madvise was called for a misaligned range");
#if defined(MADV_HUGEPAGE)
  ncalls = 0;
  ohi_os_hugepage_hint(page, ps);
  EXPECT(ncalls == 1 && calls[0] == MADV_HUGEPAGE, "the huge page hint gave %s", advice_name(calls[0]));
#endif
  EXPECT(ohi_os_unmap(page, ps) == 0, "ohi_os_unmap failed");

  if (failures) return 1;
  printf("os_unix_advice[%d]: ok\n", OH_TEST_OS);
  return 0;
}

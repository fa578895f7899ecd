/* test_windows.h - what the parts of the Windows test program share
 * (test_windows.c has the overview): the harness (CHECK, REQUIRE), the views
 * of memory the OS gives, the access probe and the fill patterns, and the
 * tests main runs. */
#ifndef OH_TEST_WINDOWS_H
#define OH_TEST_WINDOWS_H

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

/* test_windows.c: the harness */
extern int checks, failures;
extern const char *current_test;
void check_(int ok, const char *file, int line, const char *fmt, ...);
#define CHECK(cond, ...) check_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* A check that the rest of the test depends on. */
#define REQUIRE(cond, ...)                        \
  do {                                            \
    if (!(cond)) {                                \
      check_(0, __FILE__, __LINE__, __VA_ARGS__); \
      return;                                     \
    }                                             \
  } while (0)

/* test_windows.c: views of memory and patterns */
MEMORY_BASIC_INFORMATION query(const void *p);
DWORD state_of(const void *p);
size_t resident_pages(const void *p, size_t n);
size_t working_set(void);
int readable(const void *p);
void fill(void *p, size_t n, unsigned seed);
int filled(const void *p, size_t n, unsigned seed);
int all_zero(const void *p, size_t n);

/* test_windows_os.c: the OS primitives (os_windows.c) */
void test_page_size(void);
void test_map_sizes_and_alignments(void);
void test_map_refuses_bad_arguments(void);
void test_partial_unmap_releases_the_reservation_last(void);
void test_unmap_of_an_oversized_reservation(void);
void test_unmap_across_two_reservations(void);
void test_unmap_refuses_bad_ranges(void);
void test_discard_virtual_memory_convention(void);
void test_decommit(void);
void test_protect_faults(void);
void test_clock_barrier_hint(void);

/* test_windows_api.c: the public API */
void test_version(void);
void test_alloc_free(void);
void test_misuse_is_reported(void);
void test_slab_instances_come_and_go(void);
void test_pool_and_arena(void);
void test_pages_and_decommit(void);
void test_purge_returns_memory(void);
void test_threads(void);
void test_debug_guard(void);

#endif

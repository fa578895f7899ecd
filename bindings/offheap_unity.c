// offheap_unity.c - compiles the whole C core into the Go build.
//
// cgo compiles only the files of the package's own directory, so this one
// translation unit includes every c/src/*.c (the core keeps its file-local
// names distinct for that). Empty under the offheap_shared build tag
// (OH_GO_SHARED), which links an installed liboffheap instead.
#ifndef OH_GO_SHARED
#include "../c/src/options.c"
#include "../c/src/wake.c"
#include "../c/src/pages.c"
#include "../c/src/region.c"
#include "../c/src/meta.c"
#include "../c/src/segment.c"
#include "../c/src/map.c"
#include "../c/src/sizeclass.c"
#include "../c/src/heap.c"
#include "../c/src/runpage.c"
#include "../c/src/central.c"
#include "../c/src/tcache.c"
#include "../c/src/runs.c"
#include "../c/src/large.c"
#include "../c/src/release.c"
#include "../c/src/owner.c"
#include "../c/src/purgewalk.c"
#include "../c/src/purge.c"
#include "../c/src/stats.c"
#include "../c/src/lifecycle.c"
#include "../c/src/pool.c"
#include "../c/src/arena.c"
#include "../c/src/memlimit.c"
#include "../c/src/cgroup.c"
/* The OS layer last: <windows.h> defines macros (near, far, ...) that must
 * not reach the portable sources. */
#if defined(_WIN32)
#include "../c/src/os_windows.c"
#else
#include "../c/src/os_unix.c"
#endif
#endif

//go:build !offheap_shared

package bindings

// Fault injection for tests: the core's ohi_test_fail_os (c/src/internal.h)
// makes its OS layer refuse memory, so that the out-of-memory paths of every
// allocating function - in the core and in go/offheap above it - can be run
// and checked. It is process-wide; tests that arm it must disarm it (FailOS(0,
// 0)) before anything else allocates.

/*
#include "internal.h"

static inline void ohg_test_fail_os(uint64_t every, uint64_t after_bytes) { ohi_test_fail_os(every, after_bytes); }
#cgo noescape ohg_test_fail_os
#cgo nocallback ohg_test_fail_os
*/
import "C"

// FaultInjection reports whether FailOS works in this build (it needs the core
// compiled in; the offheap_shared build cannot reach the core's test hooks).
const FaultInjection = true

// FailOS arms the core's fault injection: every-th OS mapping call fails with
// ENOMEM (every > 0), and every mapping fails once afterBytes bytes have been
// mapped since arming (afterBytes > 0). FailOS(0, 0) disarms it. Arming resets
// both counters. For tests only.
func FailOS(every, afterBytes uint64) error {
	C.ohg_test_fail_os(C.uint64_t(every), C.uint64_t(afterBytes))
	return nil
}

package bindings

// debug_report.go carries the core's debug-mode reports to Go. In debug mode
// the core verifies a freed chunk's poison when it hands the chunk out again
// and reports a write after free through the error handler (offheap.h,
// OH_OPT_DEBUG) - from inside an allocation that succeeds, so no Err carries
// it back. The handler installed here is C, not Go (every function of this
// package stays #cgo nocallback): it keeps such reports in a ring that Go
// drains (DebugReports), and writes them to the process's stderr unless told
// not to. Every other error the core reports is also returned as an Err,
// which go/offheap turns into a panic naming the misuse; the handler ignores
// those.

/*
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "offheap.h"

#define OHG_REPORTS 64
#define OHG_REPORT_LEN 256

static char ohg_reports[OHG_REPORTS][OHG_REPORT_LEN];
static unsigned long long ohg_report_total; // reports received
static unsigned long long ohg_report_read;  // reports drained (or overwritten)
static int ohg_report_lock;
static int ohg_report_stderr = 1;

static void ohg_report_acquire(void) {
	while (__atomic_exchange_n(&ohg_report_lock, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&ohg_report_lock, __ATOMIC_RELAXED)) {
		}
	}
}
static void ohg_report_release(void) { __atomic_store_n(&ohg_report_lock, 0, __ATOMIC_RELEASE); }

// The error handler: a use after free found at hand-out (EFAULT, "use after
// free") is kept and printed; everything else is the caller's Err.
static void ohg_on_error(int err, const char *msg, void *arg) {
	(void)arg;
	if (err != EFAULT || strstr(msg, "use after free") == NULL) return;
	if (__atomic_load_n(&ohg_report_stderr, __ATOMIC_RELAXED)) fprintf(stderr, "%s\n", msg);
	ohg_report_acquire();
	unsigned long long i = ohg_report_total++;
	snprintf(ohg_reports[i % OHG_REPORTS], OHG_REPORT_LEN, "%s", msg);
	if (ohg_report_total - ohg_report_read > OHG_REPORTS) ohg_report_read = ohg_report_total - OHG_REPORTS;
	ohg_report_release();
}

static void ohg_install_debug_reports(void) { oh_set_error_handler(ohg_on_error, NULL); }
static void ohg_debug_reports_stderr(int on) { __atomic_store_n(&ohg_report_stderr, on, __ATOMIC_RELAXED); }

// Copies the oldest undrained report to out (NUL-terminated) and returns 1,
// or returns 0 when none is left. Reports overwritten unread are lost.
static int ohg_next_debug_report(char *out, size_t cap) {
	int got = 0;
	ohg_report_acquire();
	if (ohg_report_read < ohg_report_total) {
		snprintf(out, cap, "%s", ohg_reports[ohg_report_read % OHG_REPORTS]);
		ohg_report_read++;
		got = 1;
	}
	ohg_report_release();
	return got;
}
#cgo noescape ohg_install_debug_reports
#cgo nocallback ohg_install_debug_reports
#cgo noescape ohg_debug_reports_stderr
#cgo nocallback ohg_debug_reports_stderr
#cgo noescape ohg_next_debug_report
#cgo nocallback ohg_next_debug_report
*/
import "C"

import (
	"sync"
	"unsafe"
)

var installReports sync.Once

// InstallDebugReports installs the core's error handler that keeps debug
// reports (a write after free found at hand-out) and prints them to stderr.
// Idempotent. It replaces any handler set through the C API.
func InstallDebugReports() { installReports.Do(func() { C.ohg_install_debug_reports() }) }

// DebugReportsToStderr says whether reports are also written to stderr (the
// default) as they happen.
func DebugReportsToStderr(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.ohg_debug_reports_stderr(v)
}

// DebugReports returns the reports received since the last call, oldest
// first (the last 64 at most).
func DebugReports() []string {
	var out []string
	var buf [256]byte
	for C.ohg_next_debug_report((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))) != 0 {
		out = append(out, C.GoString((*C.char)(unsafe.Pointer(&buf[0]))))
	}
	return out
}

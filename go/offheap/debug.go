package offheap

// debug.go switches the core's debug mode from Go (offheap.h, OH_OPT_DEBUG:
// poisoning, guard pages) and hands on the write-after-free reports it makes
// (DebugReports). The misuse debug mode finds otherwise panics through
// errors.go like any other.

import (
	"fmt"

	"github.com/offheap/offheap/bindings"
)

// SetDebug switches debug mode (also OFFHEAP_DEBUG=1): freed memory is
// poisoned (filled with 0xdf), so a use after free reads garbage instead of
// plausible data, and a write after free is reported when the chunk is
// handed out again (see DebugReports).
//
// SetDebug(true) is SetDebugLevel(DebugPoison).
func SetDebug(on bool) {
	v := int64(0)
	if on {
		v = 1
		bindings.InstallDebugReports()
	}
	bindings.OptionSet(bindings.OptDebug, v)
}

// Debug reports whether debug mode is on.
func Debug() bool { return bindings.OptionGet(bindings.OptDebug) != 0 }

// DebugLevel selects what debug mode does (OFFHEAP_DEBUG).
type DebugLevel int

const (
	DebugOff DebugLevel = 0
	// DebugPoison fills freed memory with 0xdf and sends every operation to
	// the core (no caches), which checks ownership and state on each release.
	DebugPoison DebugLevel = 1
	// DebugGuard also makes freed buffers of a page or more inaccessible
	// until they are handed out again: a use after free faults at the guilty
	// access (a crash with its stack, instead of silent corruption).
	DebugGuard DebugLevel = 2
)

// SetDebugLevel sets the debug level; best before the first allocation, so
// that nothing freed earlier sits unpoisoned in a cache.
func SetDebugLevel(l DebugLevel) error {
	if l > DebugOff && l <= DebugGuard {
		bindings.InstallDebugReports()
	}
	if e := bindings.OptionSet(bindings.OptDebug, int64(l)); e != bindings.OK {
		return fmt.Errorf("offheap: SetDebugLevel(%d): out of range (%d..%d)", l, DebugOff, DebugGuard)
	}
	return nil
}

// DebugReports returns the reports debug mode made since the last call,
// oldest first (the last 64 at most): each write after free that the core
// found when it handed the chunk out again, as
//
//	offheap: use after free: chunk 0xc000123400 (size 208) was modified at offset 37 after it was freed
//
// Each report is also written to the process's standard error as it
// happens, unless SetDebugReportsToStderr(false). Reports are collected once
// debug mode was switched on by SetDebug, SetDebugLevel or OFFHEAP_DEBUG.
// The address is the chunk's first byte and the offset the first byte that
// lost its poison; the culprit is whoever held a slice of that chunk before
// its last release.
func DebugReports() []string { return bindings.DebugReports() }

// SetDebugReportsToStderr says whether debug mode's reports are written to
// standard error as they happen (the default), besides being kept for
// DebugReports.
func SetDebugReportsToStderr(on bool) { bindings.DebugReportsToStderr(on) }

func init() {
	if CurrentDebugLevel() > DebugOff { // OFFHEAP_DEBUG
		bindings.InstallDebugReports()
	}
}

// CurrentDebugLevel returns the debug level in force.
func CurrentDebugLevel() DebugLevel { return DebugLevel(bindings.OptionGet(bindings.OptDebug)) }

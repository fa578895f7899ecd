//go:build offheap_shared

package bindings

// faults_shared.go stands in for faults_bundled.go with an installed library,
// which does not export the core's fault-injection hook: FailOS says so.

import "errors"

// FaultInjection reports whether FailOS works in this build: an installed
// liboffheap does not export the core's test hooks.
const FaultInjection = false

// errFaultsUnsupported is what FailOS returns under offheap_shared.
var errFaultsUnsupported = errors.New("offheap: FailOS (fault injection) is unsupported in the offheap_shared build: " +
	"the installed liboffheap does not export the core's test hooks; test with the bundled core")

// FailOS would arm the core's fault injection (see faults_bundled.go); the
// shared library does not export it, so it does nothing and returns an error.
func FailOS(every, afterBytes uint64) error { return errFaultsUnsupported }

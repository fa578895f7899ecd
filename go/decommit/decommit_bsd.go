//go:build darwin || freebsd || netbsd || dragonfly

package decommit

import (
	"syscall"
	"unsafe"
)

// decommit advises the kernel to drop the page-aligned range b. The syscall
// package has no Madvise wrapper on these systems, so the system call is made
// directly; the pointer is converted in the call expression, which keeps b
// alive and in place for the duration of the call.
func decommit(b []byte) {
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE,
		uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), syscall.MADV_DONTNEED) // best effort
}

//go:build darwin || freebsd || netbsd || dragonfly

package decommit

import (
	"syscall"
	"unsafe"
)

// decommit advises the kernel to drop the page-aligned range b. The syscall
// package has no Madvise wrapper on these systems, so the system call is made
// directly; the pointer is converted in the call expression, which keeps b
// alive and in place for the duration of the call. It reports whether the
// kernel took the advice.
func decommit(b []byte) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE,
		uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), syscall.MADV_DONTNEED)
	return errno == 0
}

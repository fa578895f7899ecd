package decommit

import (
	"syscall"
	"unsafe"
)

var (
	kernel32                 = syscall.NewLazyDLL("kernel32.dll")
	procDiscardVirtualMemory = kernel32.NewProc("DiscardVirtualMemory")
	procVirtualAlloc         = kernel32.NewProc("VirtualAlloc")
)

const (
	errorSuccess  = 0 // ERROR_SUCCESS: what DiscardVirtualMemory returns on success
	memReset      = 0x00080000
	pageReadWrite = 0x04
)

// decommit discards the page-aligned range b. DiscardVirtualMemory (Windows 8.1
// and later) returns a Win32 error code, ERROR_SUCCESS (0) on success - not a
// BOOL. Where it is missing or fails, VirtualAlloc with MEM_RESET marks the
// pages as no longer needed (it returns the address on success, NULL on
// failure); the protection argument is required but ignored for MEM_RESET.
// It reports whether either call succeeded.
func decommit(b []byte) bool {
	if procDiscardVirtualMemory.Find() == nil {
		r, _, _ := procDiscardVirtualMemory.Call(uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if r == errorSuccess {
			return true
		}
	}
	r, _, _ := procVirtualAlloc.Call(uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), memReset, pageReadWrite)
	return r != 0
}

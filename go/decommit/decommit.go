// Package decommit hands the memory behind a byte slice back to the operating
// system without freeing the slice.
//
// Slice(buf) decommits the whole pages that lie strictly inside
// buf[:cap(buf)] and returns how many bytes that is (a drop-in replacement
// for github.com/CAFxX/decommit's Slice): the bytes of a partial page at either end are never touched,
// so decommitting a slice can never disturb its neighbours. The slice stays
// valid and usable; its decommitted contents become indeterminate (they may read
// as zeros, as the old data, or as anything else) until they are written again,
// and the first access commits the pages again transparently. Do not decommit a
// slice whose contents you still need.
//
// Any []byte works: a slice from make (the Go heap), from offheap, from a
// memory-mapped file or from C. The operation is best effort - the OS may
// ignore the advice, or act on it later - and it is invisible to the Go runtime
// (runtime.MemStats does not change; the process's resident set size does).
//
// A decommit is a system call: madvise(MADV_DONTNEED) on Linux, macOS and the
// BSDs, DiscardVirtualMemory (falling back to VirtualAlloc with MEM_RESET) on
// Windows; on other systems Slice does nothing. The package is pure Go and
// builds with CGO_ENABLED=0.
//
// The classic use is a buffer that is kept for reuse but sits idle for a long
// time, for example while a read blocks on a network connection:
//
//	buf := make([]byte, 64<<10)
//	decommit.Slice(buf) // memory goes back to the OS until buf is touched again
//	n, err := conn.Read(buf)
//
// Decommitting costs a system call now and page faults later (several
// microseconds for a 16 KiB buffer), more than allocating a fresh buffer, so it
// pays off only for memory that stays idle for a while. A freshly allocated
// slice is normally not committed yet; decommitting it gains nothing.
package decommit

import (
	"os"
	"unsafe"
)

// pageSize is fixed for the life of the process.
var pageSize = os.Getpagesize()

// PageSize returns the operating system's page size in bytes, the granularity
// of Slice.
func PageSize() int { return pageSize }

// Slice decommits the whole pages that lie inside buf[:cap(buf)] and returns
// the number of bytes it decommitted, as CAFxX/decommit's Slice and the C
// core's oh_decommit do. A slice smaller than a page, or one that contains no
// whole page, is left alone (0), as are nil and empty slices; so is any slice
// where the system refuses the advice or has no way to take it (0 as well).
// It is safe to call from several goroutines at once, but the caller must not
// be reading or writing buf while it runs if it cares about the contents (they
// are indeterminate afterwards anyway).
func Slice(buf []byte) int {
	whole := wholePages(buf)
	if len(whole) == 0 || !decommit(whole) {
		return 0
	}
	return len(whole)
}

// wholePages returns the largest page-aligned subslice of buf[:cap(buf)], or
// nil if it contains no whole page.
func wholePages(buf []byte) []byte {
	full := buf[:cap(buf)]
	if len(full) < pageSize {
		return nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(full)))
	end := start + uintptr(len(full))
	mask := uintptr(pageSize - 1)
	alignedStart := (start + mask) &^ mask
	alignedEnd := end &^ mask
	if alignedEnd <= alignedStart {
		return nil
	}
	lo := int(alignedStart - start)
	hi := int(alignedEnd - start)
	return full[lo:hi:hi]
}

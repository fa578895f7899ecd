package decommit

import "syscall"

// decommit advises the kernel to drop the page-aligned range b. MADV_DONTNEED
// on a private anonymous mapping frees the pages at once: the resident set
// shrinks now, and the pages read as zero when touched again. It reports
// whether the kernel took the advice.
func decommit(b []byte) bool {
	return syscall.Madvise(b, syscall.MADV_DONTNEED) == nil
}

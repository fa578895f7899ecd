//go:build !linux && !darwin && !freebsd && !netbsd && !dragonfly && !windows

package decommit

// decommit does nothing on systems where there is no safe way to make the call
// from pure Go (OpenBSD only allows system calls through libc, for instance):
// Slice is best effort by contract, and reports 0 bytes decommitted here.
func decommit(b []byte) bool { return false }

//go:build offheap_shared

package bindings

// IdleMS is OHI_IDLE_MS (c/src/internal.h), which an installed library does
// not export: the purge delay, at least 100 ms. Only a BufferPool's janitor
// uses it in this build (it has no Go-side caches).
func IdleMS(delayMS int64) int64 { return max(delayMS, 100) }

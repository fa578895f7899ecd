package offheap

// purge.go is the Go face of the core's purge policy (c/src/purge.c): how
// long freed memory stays committed before it goes back to the OS
// (SetPurgeDelay), and Scavenge to hand it all back now.

import (
	"fmt"
	"time"

	"github.com/offheap/offheap/bindings"
)

// Scavenge hands all free memory back to the OS now, without waiting for the
// purge delay (like debug.FreeOSMemory for the Go heap), and returns the number
// of bytes decommitted. It empties the Go-side caches first.
func Scavenge() int {
	for _, h := range heapsSnapshot() {
		h.flush()
	}
	return int(bindings.Purge())
}

// SetPurgeDelay sets how long freed memory stays committed before it is
// decommitted: 0 = at once, a negative duration = never (Scavenge still
// does). The default is the environment's OFFHEAP_PURGE_DELAY_MS, or one
// second. It is rounded down to milliseconds; at most 24 hours.
func SetPurgeDelay(d time.Duration) error {
	ms := d.Milliseconds()
	if d < 0 {
		ms = -1
	}
	if e := bindings.OptionSet(bindings.OptPurgeDelayMS, ms); e != bindings.OK {
		return fmt.Errorf("offheap: SetPurgeDelay(%v): out of range (at most 24h)", d)
	}
	return nil
}

// PurgeDelay returns the current purge delay (negative: never).
func PurgeDelay() time.Duration {
	ms := bindings.OptionGet(bindings.OptPurgeDelayMS)
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

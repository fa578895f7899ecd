//go:build !offheap_shared

package bindings

// idle_bundled.go gives go/offheap's janitor the core's idle threshold, so
// that Go-side caches and the core's thread caches go idle after the same
// time (one definition: OHI_IDLE_MS in c/src/internal.h).

/*
#include "internal.h"

static inline uint64_t ohg_idle_ms(long long delay) { return OHI_IDLE_MS(delay); }
#cgo noescape ohg_idle_ms
#cgo nocallback ohg_idle_ms
*/
import "C"

// IdleMS is how long a cache must sit unused before it is drained, for a
// purge delay of delayMS (OHI_IDLE_MS: the delay, but at least 100 ms).
func IdleMS(delayMS int64) int64 { return int64(C.ohg_idle_ms(C.longlong(delayMS))) }

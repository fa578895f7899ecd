package bindings

// options.go reaches the core's tunables (offheap.h, oh_option_t: purge
// delay, debug level, decommit advice, cache and retain budgets, huge pages),
// which go/offheap's setters and the tests read and write.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

static inline long long ohg_option_get(int opt) { return oh_option_get((oh_option_t)opt); }
static inline int ohg_option_set(int opt, long long v) { return ohg_int_result(oh_option_set((oh_option_t)opt, v)); }
#cgo noescape ohg_option_get
#cgo nocallback ohg_option_get
#cgo noescape ohg_option_set
#cgo nocallback ohg_option_set
*/
import "C"

// Option is a tunable of the core (oh_option_t).
type Option int

// The core's tunables; see offheap.h.
const (
	OptPurgeDelayMS   Option = C.OH_OPT_PURGE_DELAY_MS
	OptDebug          Option = C.OH_OPT_DEBUG
	OptDecommitAdvice Option = C.OH_OPT_DECOMMIT_ADVICE
	OptTCacheBytes    Option = C.OH_OPT_TCACHE_BYTES
	OptRetainBytes    Option = C.OH_OPT_RETAIN_BYTES
	OptHugePages      Option = C.OH_OPT_HUGEPAGES
	OptPageRuns       Option = C.OH_OPT_PAGE_RUNS
)

// OptionGet returns the current value of opt.
func OptionGet(opt Option) int64 { return int64(C.ohg_option_get(C.int(opt))) }

// OptionSet sets opt; EINVAL for an out-of-range value.
func OptionSet(opt Option, v int64) Err { return Err(C.ohg_option_set(C.int(opt), C.longlong(v))) }

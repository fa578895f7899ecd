package bindings

// memlimit.go exposes the core's memory budget (offheap.h, "memory limit";
// c/src/memlimit.c) to go/offheap's SetMemoryLimit. Every function here is
// public C API, so the bundled and the shared builds share this file.

/*
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "offheap.h"

#include <string.h>

typedef struct { long long v; int err; char msg[512]; } ohg_parsed;

// The message is copied in the same call: the core keeps it per thread.
static inline void ohg_memory_limit_parse(const char *text, const char *root, ohg_parsed *r) {
	r->err = 0;
	r->msg[0] = '\0';
	if (oh_memory_limit_parse(text, root[0] ? root : NULL, &r->v) != 0) {
		r->err = errno;
		strncpy(r->msg, oh_last_error(), sizeof r->msg - 1);
		r->msg[sizeof r->msg - 1] = '\0';
	}
}
static inline int ohg_memory_reserve(size_t n) { return oh_memory_reserve(n); }
#cgo noescape oh_memory_status
#cgo nocallback oh_memory_status
#cgo noescape oh_memory_set_external
#cgo nocallback oh_memory_set_external
#cgo noescape ohg_memory_reserve
#cgo nocallback ohg_memory_reserve
#cgo noescape oh_memory_unreserve
#cgo nocallback oh_memory_unreserve
#cgo nocallback oh_memory_wait
#cgo noescape ohg_memory_limit_parse
#cgo nocallback ohg_memory_limit_parse
*/
import "C"

import "unsafe"

// The memory limit's options (offheap.h).
const (
	OptMemoryLimit     Option = C.OH_OPT_MEMORY_LIMIT
	OptMemoryLimitSoft Option = C.OH_OPT_MEMORY_LIMIT_SOFT
)

// MemoryStatus is oh_memory_status_t.
type MemoryStatus struct {
	Limit     int64 // -1: none
	Committed uint64
	External  uint64
	Reserved  uint64
	Step      uint64
	Seq       uint64
}

// ReadMemoryStatus fills out from oh_memory_status: a few loads, no lock.
func ReadMemoryStatus(out *MemoryStatus) {
	var st C.oh_memory_status_t
	C.oh_memory_status(&st)
	*out = MemoryStatus{int64(st.limit), uint64(st.committed), uint64(st.external), uint64(st.reserved),
		uint64(st.step), uint64(st.seq)}
}

// SetExternalMemory reports the bytes the process uses outside offheap.
func SetExternalMemory(n uint64) { C.oh_memory_set_external(C.uint64_t(n)) }

// MemoryReserve admits n bytes of growth: reserved (unreserve them with
// MemoryUnreserve), no limit set (nothing reserved), or ENOMEM.
func MemoryReserve(n uintptr) (reserved bool, e Err) {
	switch C.ohg_memory_reserve(C.size_t(n)) {
	case 1:
		return true, OK
	case 0:
		return false, OK
	}
	return false, ENOMEM
}

// MemoryUnreserve gives back what MemoryReserve reserved.
func MemoryUnreserve(n uintptr) { C.oh_memory_unreserve(C.size_t(n)) }

// MemoryWait blocks (in C, on its own thread) until the step sequence differs
// from seen or timeoutMS passed, and returns the sequence.
func MemoryWait(seen uint64, timeoutMS uint) uint64 {
	return uint64(C.oh_memory_wait(C.uint64_t(seen), C.uint(timeoutMS)))
}

// ParseMemoryLimit parses an OFFHEAP_MEMORY_LIMIT value (-1 = none); root
// prefixes the cgroup files `auto` reads ("" = the real ones). A bad value
// returns the core's message, which names it.
func ParseMemoryLimit(text, root string) (limit int64, msg string, ok bool) {
	ct, cr := C.CString(text), C.CString(root)
	defer C.free(unsafe.Pointer(ct))
	defer C.free(unsafe.Pointer(cr))
	var r C.ohg_parsed
	C.ohg_memory_limit_parse(ct, cr, &r)
	if r.err != 0 {
		return 0, C.GoString(&r.msg[0]), false
	}
	return int64(r.v), "", true
}

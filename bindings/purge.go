package bindings

// purge.go hands free memory back to the OS now rather than after the purge
// delay: oh_purge behind go/offheap's Scavenge, oh_slab_purge behind its
// janitor's purge of an idle heap; and oh_thread_flush, which empties the
// calling thread's caches.

/*
#include <stdint.h>
#include "offheap.h"

static inline size_t ohg_purge(void) { return oh_purge(); }
static inline size_t ohg_slab_purge(oh_slab_t *s) { return oh_slab_purge(s); }
static inline void ohg_thread_flush(void) { oh_thread_flush(); }
#cgo noescape ohg_purge
#cgo noescape ohg_slab_purge
#cgo nocallback ohg_slab_purge
#cgo nocallback ohg_purge
#cgo noescape ohg_thread_flush
#cgo nocallback ohg_thread_flush
*/
import "C"

// PurgeEmpty is oh_slab_purge: decommits all free memory of s now (its empty
// slabs, the retained margin included, and its thread-cached chunks) and
// returns the bytes decommitted.
func (s Slab) PurgeEmpty() uintptr { return uintptr(C.ohg_slab_purge(s.h)) }

// Purge is oh_purge: decommits all free memory now; returns bytes decommitted.
func Purge() uintptr { return uintptr(C.ohg_purge()) }

// ThreadFlush is oh_thread_flush (the calling thread's caches only).
func ThreadFlush() { C.ohg_thread_flush() }

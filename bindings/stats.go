package bindings

// stats.go mirrors the core's figures (oh_stats_t, oh_class_stats_t) in Go
// and reads them for the process, a Slab or a Pool.

/*
#include "errcodes.h"
#include <stdint.h>
#include "offheap.h"

static inline int ohg_stats(oh_stats_t *out) { return ohg_int_result(oh_stats(out)); }
#cgo noescape ohg_stats
#cgo nocallback ohg_stats
*/
import "C"

// ClassStats mirrors oh_class_stats_t.
type ClassStats struct {
	ChunkSize, Slabs, ChunksInUse, ChunksCached, Allocs, Frees uint64
}

// Stats mirrors oh_stats_t.
type Stats struct {
	MappedBytes, CommittedBytes, InUseBytes, DecommittedBytes uint64
	Allocs, Frees, Purges                                     uint64
	SlabsEmpty, SlabsDecommitted, LargeInUse                  uint64
	Classes                                                   []ClassStats // class_count entries
}

func (s *Stats) fill(c *C.oh_stats_t) {
	s.MappedBytes = uint64(c.mapped_bytes)
	s.CommittedBytes = uint64(c.committed_bytes)
	s.InUseBytes = uint64(c.in_use_bytes)
	s.DecommittedBytes = uint64(c.decommitted_bytes)
	s.Allocs = uint64(c.allocs)
	s.Frees = uint64(c.frees)
	s.Purges = uint64(c.purges)
	s.SlabsEmpty = uint64(c.slabs_empty)
	s.SlabsDecommitted = uint64(c.slabs_decommitted)
	s.LargeInUse = uint64(c.large_in_use)
	n := int(c.class_count)
	if n > MaxClasses {
		n = MaxClasses
	}
	s.Classes = s.Classes[:0]
	for i := 0; i < n; i++ {
		cc := &c.classes[i]
		s.Classes = append(s.Classes, ClassStats{
			ChunkSize:    uint64(cc.chunk_size),
			Slabs:        uint64(cc.slabs),
			ChunksInUse:  uint64(cc.chunks_in_use),
			ChunksCached: uint64(cc.chunks_cached),
			Allocs:       uint64(cc.allocs),
			Frees:        uint64(cc.frees),
		})
	}
}

// ReadStats fills out with the process-wide totals (no per-class rows).
func ReadStats(out *Stats) Err {
	var cs C.oh_stats_t
	if e := Err(C.ohg_stats(&cs)); e != OK {
		return e
	}
	out.fill(&cs)
	return OK
}

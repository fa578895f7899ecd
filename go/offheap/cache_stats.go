package offheap

// cache_stats.go - the per-P caches in the statistics (cache.go has the
// overview). The core counts a chunk held by a Go cache as in use by its
// slab, and learns of the operations a cache served only when chunks go back,
// so every figure read from the core is adjusted here: cached chunks move
// from in use to cached, and the operations not yet reported are added.

import "github.com/offheap/offheap/bindings"

// stats returns the core's figures for h, with the chunks held by h's caches
// moved from in use to cached and the operations they served added.
func (h *heap) stats(op string) bindings.Stats {
	h.stealMu.Lock()
	defer h.stealMu.Unlock()
	if h.closed.Load() {
		panic(closedMisuse(op, h.kind))
	}
	h.stealAll(stealTemp)
	var bs bindings.Stats
	h.c.ReadStats(&bs)
	chunks, allocs, frees := h.cachedStolen()
	h.unstealAll()
	adjustStats(&bs, h, chunks, allocs, frees, true)
	return bs
}

// cached returns, per cacheable class, the chunks held and the operations
// not yet reported to the core, stealing one shard at a time.
func (h *heap) cached() (chunks, allocs, frees []uint64) {
	h.stealMu.Lock()
	defer h.stealMu.Unlock()
	if h.closed.Load() {
		return nil, nil, nil
	}
	h.stealAll(stealTemp)
	defer h.unstealAll()
	return h.cachedStolen()
}

// cachedStolen is cached with every shard stolen.
func (h *heap) cachedStolen() (chunks, allocs, frees []uint64) {
	chunks = make([]uint64, len(h.classes))
	allocs = make([]uint64, len(h.classes))
	frees = make([]uint64, len(h.classes))
	for i := range h.shards {
		sh := &h.shards[i]
		for cls := range sh.mags {
			m := &sh.mags[cls]
			chunks[cls] += uint64(m.n + m.nfar)
			allocs[cls] += m.allocs
			frees[cls] += m.frees
		}
	}
	return chunks, allocs, frees
}

// adjustStats applies h's cache figures to bs (per class too if classes).
func adjustStats(bs *bindings.Stats, h *heap, chunks, allocs, frees []uint64, classes bool) {
	for cls := range chunks {
		bytes := chunks[cls] * uint64(h.classes[cls].bytes)
		bs.InUseBytes -= min(bytes, bs.InUseBytes)
		bs.Allocs += allocs[cls]
		bs.Frees += frees[cls]
		// A class of runs: the core counts the runs in its run tier, which
		// has no row (totals only), not in the class's row of chunks.
		if classes && cls < len(bs.Classes) && h.classes[cls].runPages == 0 {
			c := &bs.Classes[cls]
			c.ChunksInUse -= min(chunks[cls], c.ChunksInUse)
			c.ChunksCached += chunks[cls]
			c.Allocs += allocs[cls]
			c.Frees += frees[cls]
		}
	}
}

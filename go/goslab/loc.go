package goslab

// loc.go is go-slab's Loc: a handle on bytes of an Arena without a Go pointer
// inside, so that it may be stored where the collector does not look. A Loc
// also carries its chunk's generation: go-slab's Loc of a freed chunk that
// was handed out again silently names the new owner's bytes; here using it
// panics.

// A Loc is an opaque reference to bytes managed by an Arena (BufToLoc,
// LocToBuf). It holds no pointer. The zero Loc is the nil Loc.
type Loc struct {
	addr       uint64 // the chunk's first byte; 0 for the nil Loc
	gen        uint64 // the chunk's generation when the Loc was made
	start, len int    // the bytes of the chunk the Loc names
}

// NilLoc returns a Loc where Loc.IsNil() is true.
func NilLoc() Loc { return Loc{} }

// IsNil returns true if the Loc came from NilLoc() (or BufToLoc of a buffer
// the Arena does not hold).
func (l Loc) IsNil() bool { return l.addr == 0 }

// Slice returns a Loc that represents a different slice of the same chunk,
// where bufStart and bufLen are relative to the chunk (not to l), as
// go-slab's Loc.Slice. It does not change the reference count; the range is
// checked against the chunk when the Loc is used.
func (l Loc) Slice(bufStart, bufLen int) Loc {
	l.start, l.len = bufStart, bufLen
	return l
}

// BufToLoc returns a Loc naming buf, which lies in a live chunk of this Arena,
// or the nil Loc when it does not (nil, Go memory, a freed buffer, another
// Arena's), as go-slab. It does not change the reference count.
func (a *Arena) BufToLoc(buf []byte) Loc {
	p, info, ok := a.resolve(buf)
	if !ok {
		return NilLoc()
	}
	return Loc{addr: uint64(p), gen: info.gen, start: int(sliceAddr(buf) - p), len: len(buf)}
}

// LocToBuf returns the bytes l names (nil for the nil Loc), with the capacity
// reaching the chunk's end as in go-slab. It does not change the reference
// count. A Loc whose buffer was freed (stale), another Arena's, or whose
// range lies outside its chunk panics with a *MisuseError.
func (a *Arena) LocToBuf(l Loc) []byte {
	if l.IsNil() {
		return nil
	}
	p, info := a.locChunk("Arena.LocToBuf", l)
	return a.chunkBytes(p, info.size)[l.start : l.start+l.len]
}

// LocAddRef adds a reference to the buffer l names, as AddRef; the nil Loc is
// ignored, as in go-slab.
func (a *Arena) LocAddRef(l Loc) {
	a.tot[totAddRefs].Add(1)
	if l.IsNil() {
		return
	}
	p, info := a.locChunk("Arena.LocAddRef", l)
	a.slab.AddRef(a.chunkBytes(p, info.size))
}

// LocDecRef drops a reference to the buffer l names, as DecRef (chains
// included); the nil Loc is ignored, as in go-slab.
func (a *Arena) LocDecRef(l Loc) {
	const op = "Arena.LocDecRef"
	a.tot[totDecRefs].Add(1)
	if l.IsNil() {
		return
	}
	p, _ := a.locChunk(op, l)
	a.decRef(op, p)
}

// locChunk returns the live chunk l names after checking its generation and
// range.
func (a *Arena) locChunk(op string, l Loc) (uintptr, chunkInfo) {
	p := uintptr(l.addr)
	info, ok := a.chunks.lookup(p)
	switch {
	case uint64(p) != l.addr || !ok:
		panic(misusef(op, p, "%s of a stale Loc (%#x, generation %d): its buffer was freed, or it is another Arena's", op, p, l.gen))
	case info.gen != l.gen:
		panic(misusef(op, p, "%s of a stale Loc (%#x, generation %d): its buffer was freed and handed out again (generation %d)", op, p, l.gen, info.gen))
	case l.start < 0 || l.len < 0 || l.start > info.size || l.len > info.size-l.start:
		panic(misusef(op, p, "%s of a Loc whose range [%d, %d) lies outside its %d-byte chunk (%#x)", op, l.start, l.start+l.len, info.size, p))
	}
	return p, info
}

package offheap

// roughedges_test.go holds one test per rough edge found by trying offheap as
// a new user would (issue 21): each failed before its fix.

import (
	"strings"
	"testing"
)

// The seeds' sync.Pool idiom, as written: New makes len 0 / cap N, callers
// append into the buffer and Put buffer[:0].
func TestSyncPoolAppendIdiom(t *testing.T) {
	bp := NewBufferPool(1024)
	defer bp.Close()
	pool := bp.SyncPoolAppend()
	data := []byte("hello")
	for range 100 {
		buffer := pool.Get().([]byte)
		if len(buffer) != 0 || cap(buffer) != 1024 {
			t.Fatalf("Get: len %d cap %d, want 0 and 1024", len(buffer), cap(buffer))
		}
		buffer = append(buffer, data...)
		if !bp.Owns(buffer) {
			t.Fatal("append within the capacity left the pool's buffer")
		}
		pool.Put(buffer[:0])
	}
	if l := bp.Leaks(); len(l) != 0 {
		t.Fatalf("%d buffers out after every Put", len(l))
	}
}

func TestSyncPoolPutOfMovedBuffer(t *testing.T) {
	bp := NewBufferPool(1024)
	defer bp.Close()
	for _, pool := range []*SyncPoolAdapter{bp.SyncPoolAppend(), bp.SyncPool()} {
		buffer := pool.Get().([]byte)[:0]
		buffer = append(buffer, make([]byte, 1029)...) // grows past 1024: moved to the Go heap
		mustPanic(t, func() { pool.Put(buffer[:0]) }, "append", "moved", "Go heap")
	}
}

func TestSlabSetNextEmptyClears(t *testing.T) {
	s := newTestSlab(t)
	a, b := s.Alloc(64), s.Alloc(64)
	s.SetNext(a, b[:0]) // the docs: an empty next clears the link
	if n := s.GetNext(a); n != nil {
		t.Fatalf("GetNext after SetNext(a, b[:0]) = len %d cap %d, want nil", len(n), cap(n))
	}
	if s.RefCount(b) != 1 {
		t.Fatalf("SetNext with an empty next took a reference on b: count %d", s.RefCount(b))
	}
	s.DecRef(b)
	s.DecRef(a)
}

func TestSlabSetNextFreedNext(t *testing.T) {
	s := newTestSlab(t)
	a, b := s.Alloc(64), s.Alloc(64)
	s.DecRef(b)
	msg := panicMessage(t, func() { s.SetNext(a, b) })
	if !strings.Contains(msg, "Slab.SetNext of a freed slice") || !strings.Contains(msg, "use after free") || strings.Contains(msg, "double") {
		t.Fatalf("message %q does not name a use after free of next", msg)
	}
	s.DecRef(a)
}

func TestSlabCalloc(t *testing.T) {
	s := newTestSlab(t)
	for range 4 {
		b := s.Alloc(200)
		for i := range b {
			b[i] = 0xAB
		}
		s.DecRef(b)
		c := s.Calloc(200)
		for i, x := range c {
			if x != 0 {
				t.Fatalf("Calloc byte %d = %#x", i, x)
			}
		}
		if s.RefCount(c) != 1 {
			t.Fatal("Calloc's count is not 1")
		}
		s.DecRef(c)
	}
	if b := s.Calloc(0); len(b) != 0 {
		t.Fatal("Calloc(0)")
	}
}

func TestUnmapOfAllocSliceNamesMisuse(t *testing.T) {
	b := Alloc(100)
	defer Free(b)
	mustPanic(t, func() { _ = Unmap(b) }, "not mapped by offheap.Map", "Alloc")
}

func TestSlabUsableSize(t *testing.T) {
	s := newTestSlab(t) // MinChunk 48, growth 2
	b := s.Alloc(10)
	if n := s.UsableSize(b); n < 48 || n%16 != 0 {
		t.Fatalf("UsableSize of a 10-byte allocation = %d, want its chunk (>= 48)", n)
	}
	if s.UsableSize(b[:0]) != s.UsableSize(b) {
		t.Fatal("UsableSize of b[:0]")
	}
	mustPanic(t, func() { s.UsableSize(b[1:]) }, "interior")
	s.DecRef(b)
	mustPanic(t, func() { s.UsableSize(b) }, "use after free")
	if s.UsableSize(s.Alloc(0)) != 0 {
		t.Fatal("UsableSize of Alloc(0)")
	}
}

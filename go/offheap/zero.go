package offheap

// zero.go exists because the zero values of Slab, Pool, BufferPool and Arena
// (and nil pointers to them) hold no core instance: using one used to end in
// a nil dereference, or, for an Arena, in a misleading "size too large". Each
// method now checks its receiver first and panics with a *MisuseError that
// names the remedy.

import "github.com/offheap/offheap/bindings"

func zeroMisuse(op, kind, ctor string, isNil bool) *MisuseError {
	what := "a zero " + kind
	if isNil {
		what = "a nil *" + kind
	}
	return misusef(op, 0, "%s: use of %s: create it with %s", op, what, ctor)
}

func (s *Slab) check(op string) {
	if s == nil || s.h == nil {
		panic(zeroMisuse(op, "Slab", "NewSlab", s == nil))
	}
}

func (p *Pool) check(op string) {
	if p == nil || (p.h == nil && p.b == nil) {
		panic(zeroMisuse(op, "Pool", "NewPool", p == nil))
	}
}

func (p *BufferPool) check(op string) {
	if p == nil || p.h == nil {
		panic(zeroMisuse(op, "BufferPool", "NewBufferPool", p == nil))
	}
}

func (a *Arena) check(op string) {
	if a == nil || a.a == (bindings.Arena{}) {
		panic(zeroMisuse(op, "Arena", "NewArena", a == nil))
	}
}

package decommit

import (
	"bytes"
	"testing"
	"unsafe"
)

// pattern fills b with a recognisable non-zero pattern.
func pattern(b []byte) {
	for i := range b {
		b[i] = byte(i%251) + 1
	}
}

// alignedBuffer returns a slice of n bytes whose first byte is page aligned,
// carved from a larger Go-heap allocation.
func alignedBuffer(n int) []byte {
	raw := make([]byte, n+pageSize)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(&raw[0])) % uintptr(pageSize)); rem != 0 {
		off = pageSize - rem
	}
	return raw[off : off+n : off+n]
}

func TestPageSize(t *testing.T) {
	ps := PageSize()
	if ps < 512 || ps&(ps-1) != 0 {
		t.Fatalf("PageSize() = %d, want a power of two >= 512", ps)
	}
}

func TestWholePages(t *testing.T) {
	buf := alignedBuffer(8 * pageSize)
	base := uintptr(unsafe.Pointer(&buf[0]))
	cases := []struct {
		lo, hi         int // buf[lo:hi:hi]
		wantLo, wantHi int // expected whole pages, offsets in buf; equal = none
	}{
		{0, 8 * pageSize, 0, 8 * pageSize},
		{1, 8 * pageSize, pageSize, 8 * pageSize},
		{0, 8*pageSize - 1, 0, 7 * pageSize},
		{100, 3*pageSize + 200, pageSize, 3 * pageSize},
		{100, pageSize + 100, 0, 0}, // spans a boundary, no whole page
		{pageSize - 1, 2*pageSize + 1, pageSize, 2 * pageSize},
		{10, 20, 0, 0},
		{pageSize, pageSize, 0, 0},
	}
	for _, c := range cases {
		got := wholePages(buf[c.lo:c.hi:c.hi])
		if c.wantLo == c.wantHi {
			if len(got) != 0 {
				t.Errorf("wholePages(buf[%d:%d]) = %d bytes, want none", c.lo, c.hi, len(got))
			}
			continue
		}
		gotLo := int(uintptr(unsafe.Pointer(&got[0])) - base)
		if gotLo != c.wantLo || gotLo+len(got) != c.wantHi {
			t.Errorf("wholePages(buf[%d:%d]) = [%d, %d), want [%d, %d)", c.lo, c.hi, gotLo, gotLo+len(got), c.wantLo, c.wantHi)
		}
	}
	// A two-index subslice reaches up to its capacity.
	got := wholePages(buf[100:200])
	if gotLo := int(uintptr(unsafe.Pointer(&got[0])) - base); gotLo != pageSize || len(got) != 7*pageSize {
		t.Errorf("wholePages(buf[100:200]) = [%d, %d), want [%d, %d) (up to cap)", gotLo, gotLo+len(got), pageSize, 8*pageSize)
	}
}

// TestBytesOutsideWholePagesIntact decommits a sub-slice with unaligned ends
// and checks every byte outside its whole pages, including the partial pages at
// both ends and the neighbours before and after it.
func TestBytesOutsideWholePagesIntact(t *testing.T) {
	buf := alignedBuffer(8 * pageSize)
	pattern(buf)
	want := bytes.Clone(buf)
	lo, hi := 123, 6*pageSize+77
	Slice(buf[lo:hi:hi])
	wholeLo, wholeHi := pageSize, 6*pageSize
	for i := range buf {
		if i >= wholeLo && i < wholeHi {
			continue
		}
		if buf[i] != want[i] {
			t.Fatalf("byte %d (outside the whole pages [%d, %d)) changed: %#x, want %#x", i, wholeLo, wholeHi, buf[i], want[i])
		}
	}
	checkDecommitted(t, buf[wholeLo:wholeHi], want[wholeLo:wholeHi])
	// The slice stays usable.
	pattern(buf)
	if !bytes.Equal(buf, want) {
		t.Fatal("buffer does not hold what was written after decommit")
	}
}

func TestTinyEmptyNil(t *testing.T) {
	Slice(nil)
	Slice([]byte{})
	Slice(make([]byte, 0, 10)[:0])
	var one [1]byte
	Slice(one[:])

	small := make([]byte, 100)
	pattern(small)
	want := bytes.Clone(small)
	Slice(small)
	if !bytes.Equal(small, want) {
		t.Fatal("a slice smaller than a page was changed")
	}

	// Crosses a page boundary but holds no whole page.
	buf := alignedBuffer(3 * pageSize)
	pattern(buf)
	want = bytes.Clone(buf)
	Slice(buf[pageSize/2 : pageSize+pageSize/2 : pageSize+pageSize/2])
	if !bytes.Equal(buf, want) {
		t.Fatal("a slice without a whole page was changed")
	}
	// Exactly one page less one byte at each end.
	Slice(buf[1 : 2*pageSize-1 : 2*pageSize-1])
	if !bytes.Equal(buf, want) {
		t.Fatal("a slice of two partial pages was changed")
	}
}

// TestCapacityIsDecommitted checks that Slice works on buf[:cap(buf)], like the
// original package: a short slice of a long buffer decommits up to its capacity.
func TestCapacityIsDecommitted(t *testing.T) {
	buf := alignedBuffer(4 * pageSize)
	pattern(buf)
	want := bytes.Clone(buf)
	Slice(buf[10:20]) // len 10, cap 4 pages - 10
	if !bytes.Equal(buf[:pageSize], want[:pageSize]) {
		t.Fatal("bytes of the first, partial page changed")
	}
	checkDecommitted(t, buf[pageSize:], want[pageSize:])
}

// TestSliceReturnsBytes checks the count Slice returns: the whole pages inside
// buf[:cap(buf)], as CAFxX/decommit and oh_decommit report (0 where the
// system cannot take the advice).
func TestSliceReturnsBytes(t *testing.T) {
	buf := alignedBuffer(8 * pageSize)
	cases := []struct {
		b    []byte
		want int
	}{
		{nil, 0},
		{buf[:0:0], 0},
		{buf[:100:100], 0},
		{buf[:8*pageSize], 8 * pageSize},
		{buf[1 : 8*pageSize], 7 * pageSize},
		{buf[100 : 3*pageSize+200 : 3*pageSize+200], 2 * pageSize},
		{buf[10:20], 7 * pageSize}, // up to cap
		{buf[pageSize/2 : pageSize+pageSize/2 : pageSize+pageSize/2], 0},
	}
	for i, c := range cases {
		got := Slice(c.b)
		if got != c.want && !(got == 0 && !decommitWorks) {
			t.Errorf("case %d: Slice(len %d, cap %d) = %d, want %d", i, len(c.b), cap(c.b), got, c.want)
		}
	}
}

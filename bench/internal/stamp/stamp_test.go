package stamp

import (
	"slices"
	"testing"
)

func TestFillWritesEveryByteAndChecksCatchOverwrites(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 100, 1000, 4096, 16<<10 + 3} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xEE
		}
		var id uint64 = 0x0102030405060708
		Fill(b, id)
		for i, c := range b {
			if want := byte(id >> (8 * (i % 8))); c != want {
				t.Fatalf("len %d: byte %d = %#x, want %#x", n, i, c, want)
			}
		}
		if err := Check(b, id); err != nil || !Verify(b, id) {
			t.Fatalf("len %d: Check %v, Verify %v", n, err, Verify(b, id))
		}
		// A buffer someone else wrote over fails both, at either end.
		c := slices.Clone(b)
		Fill(c, id+1)
		if Check(c, id) == nil || Verify(c, id) {
			t.Errorf("len %d: overwritten buffer passes", n)
		}
		c = slices.Clone(b)
		c[len(c)-1] ^= 1
		if Check(c, id) == nil || Verify(c, id) {
			t.Errorf("len %d: last byte changed, buffer passes", n)
		}
		// A byte in the middle: Verify sees it, Check (the ends only) does not.
		if n >= 32 {
			c = slices.Clone(b)
			c[n/2] ^= 1
			if Verify(c, id) {
				t.Errorf("len %d: middle byte changed, Verify passes", n)
			}
			if Check(c, id) != nil {
				t.Errorf("len %d: Check looked past the ends", n)
			}
		}
	}
}

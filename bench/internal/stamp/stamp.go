// Package stamp writes every byte of a benchmark's buffer with a pattern
// derived from an id and checks it back, so that a buffer an allocator handed
// out twice, or a neighbour overwrote, is caught. gcpressure, burst and frag
// each carried a pattern of their own before; one is enough.
package stamp

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Key is XORed into an index used as an id (Fill(b, uint64(i)^Key)), so that
// buffer 0's pattern is not all zero bytes, which fresh memory already holds.
const Key = 0x5a5aa5a5f00dcafe

// Fill writes every byte of b with the 8 bytes of id (little-endian)
// repeated, in copies that double in length so it runs at memmove speed.
func Fill(b []byte, id uint64) {
	var pat [8]byte
	binary.LittleEndian.PutUint64(pat[:], id)
	n := copy(b, pat[:])
	for n < len(b) {
		n += copy(b[n:], b[:n])
	}
}

// Check verifies that the first and the last 8 bytes of b still hold id's
// pattern (the cheap check before a free); the error names the first byte
// that differs.
func Check(b []byte, id uint64) error {
	var pat [8]byte
	binary.LittleEndian.PutUint64(pat[:], id)
	for i := 0; i < len(b) && i < 8; i++ {
		if b[i] != pat[i] {
			return fmt.Errorf("corrupted at byte %d of %d: allocator handed out overlapping memory?", i, len(b))
		}
	}
	for i := max(8, len(b)-8); i < len(b); i++ {
		if b[i] != pat[i%8] {
			return fmt.Errorf("corrupted at byte %d of %d: allocator handed out overlapping memory?", i, len(b))
		}
	}
	return nil
}

// Verify reports whether every byte of b holds id's pattern: the first word,
// then each doubling of the checked prefix against the prefix.
func Verify(b []byte, id uint64) bool {
	if len(b) < 8 {
		return Check(b, id) == nil
	}
	if binary.LittleEndian.Uint64(b) != id {
		return false
	}
	for n := 8; n < len(b); n *= 2 {
		m := min(n, len(b)-n)
		if !bytes.Equal(b[n:n+m], b[:m]) {
			return false
		}
	}
	return true
}

//go:build !appengine && !windows && !wasm && !tinygo.wasm && !js

// Recipe: VictoriaMetrics/fastcache on offheap. fastcache takes its 64 KiB
// chunks from getChunk and gives them back with putChunk; upstream they come
// from its own mmap free list (malloc_mmap.go), which never returns memory to
// the OS, so a Reset cache keeps its whole size resident. This file replaces
// malloc_mmap.go: chunks come from offheap.Alloc and go back with
// offheap.Free, so freed chunks are decommitted after the purge delay.
//
// `make test-clients` builds fastcache with this file in place of
// malloc_mmap.go (go test -overlay over a temporary copy of the module) and
// runs fastcache's own tests; to use it in a program, vendor fastcache and
// swap the file.

package fastcache

import "github.com/offheap/offheap/go/offheap"

func getChunk() []byte {
	return offheap.Alloc(chunkSize)[:chunkSize:chunkSize]
}

func putChunk(chunk []byte) {
	if chunk == nil {
		return
	}
	offheap.Free(chunk[:chunkSize])
}

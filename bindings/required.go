//go:build required

package bindings

// These imports never build (the required tag is never set); they make
// `go mod vendor` copy the directories holding the C sources and headers,
// which offheap_unity.c includes.
import (
	_ "github.com/offheap/offheap/c"
	_ "github.com/offheap/offheap/c/include"
	_ "github.com/offheap/offheap/c/src"
)

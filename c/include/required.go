//go:build required

// Package include holds offheap.h, the public C ABI. This file exists only so
// that `go mod vendor` keeps the directory (see bindings/required.go).
package include

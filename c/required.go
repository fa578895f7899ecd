//go:build required

// Package c holds the C core of offheap. This file exists only so that
// `go mod vendor` keeps the directory (see bindings/required.go).
package c

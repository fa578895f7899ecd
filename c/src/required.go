//go:build required

// Package src holds the sources of the C core. This file exists only so that
// `go mod vendor` keeps the directory (see bindings/required.go).
package src

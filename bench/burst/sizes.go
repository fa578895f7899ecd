package main

import "github.com/offheap/offheap/bench/internal/units"

// The byte-size helpers are shared with the other benchmark commands
// (bench/internal/units).
const maxSize = units.MaxSize

func parseSize(s string) (int64, error) { return units.ParseSize(s) }
func formatSize(n int64) string         { return units.FormatSize(n) }

//go:build !race

package offheap

// race_off_test.go: see race_on_test.go.
const raceEnabled = false

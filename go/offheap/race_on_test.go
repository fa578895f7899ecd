//go:build race

package offheap

// race_on_test.go tells tests that the race detector is on: it makes
// sync.Pool drop items at random, so allocation counts mean nothing then.
const raceEnabled = true

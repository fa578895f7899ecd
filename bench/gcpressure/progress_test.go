package main

// progress_test.go checks the status make bench shows while a mode runs
// (bench/internal/harness prints it): the phase, the round out of how many,
// RSS and the request p99.

import "testing"

func TestStage(t *testing.T) {
	for _, c := range []struct {
		cfg  config
		s    sample
		want string
	}{
		{config{Rounds: 300}, sample{Phase: "fill", RSS: 1 << 20}, "filling  rss 1.0 MiB  req p99 -"},
		{config{Rounds: 300}, sample{Phase: "churn", Round: 42, RSS: 1 << 30, ReqP99: 1500}, "churn round 42/300  rss 1.00 GiB  req p99 1.50µs"},
		{config{Duration: 1}, sample{Phase: "churn", Round: 7, RSS: 1 << 30}, "churn round 7  rss 1.00 GiB  req p99 -"},
	} {
		if got := stage(c.cfg, c.s); got != c.want {
			t.Errorf("stage(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}

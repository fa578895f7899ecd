package main

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

const mb = 1 << 20

// synthetic builds a child's events and samples: RSS base before and after
// each burst, peak during it; the release happens relDelay after each free.
func synthetic(base, peak int64, relDelay float64) ([]event, []sample) {
	evs := []event{{Event: "ready", T: 0, Info: "test"}}
	t := 0.3
	for b := 1; b <= 2; b++ {
		evs = append(evs,
			event{Event: "burst_start", T: t, Burst: b, Minflt: int64(1000 * b), Purges: int64(10 * b)},
			event{Event: "burst_end", T: t + 0.5, Burst: b, Minflt: int64(1000*b + 500*b), DurS: 0.5 * float64(b), Buffers: 100, Purges: int64(10 * b)},
			event{Event: "free_end", T: t + 0.6, Burst: b, DurS: 0.1, Buffers: 100, CPUS: 1, Purges: int64(10 * b)},
			event{Event: "idle_end", T: t + 3.6, Burst: b, CPUS: 1.25, Purges: int64(10*b + 7)})
		t += 3.6
	}
	evs = append(evs, event{Event: "done", T: t, PeakRSS: peak, CPUS: 2})
	var ss []sample
	for x := 0.0; x <= t; x += 0.02 {
		rss := base
		for b := 0; b < 2; b++ {
			s := 0.3 + 3.6*float64(b)
			if x >= s && x < s+0.6+relDelay {
				rss = peak
			}
		}
		ss = append(ss, sample{T: x, RSS: rss})
	}
	for i := range evs {
		evs[i].At = evs[i].T
	}
	return evs, ss
}

func testConfig() config {
	return config{childConfig: childConfig{Pattern: "burst", Peak: 1 << 30, Size: 16 << 10, Bursts: 2, Idle: 3 * time.Second}, Sample: 20 * time.Millisecond}
}

func TestAnalyzeBursts(t *testing.T) {
	evs, ss := synthetic(10*mb, 1100*mb, 1.0)
	r, err := analyze(testConfig(), "offheap", evs, ss)
	if err != nil {
		t.Fatal(err)
	}
	if r.BaselineRSS != 10*mb {
		t.Errorf("baseline %d", r.BaselineRSS)
	}
	if want := int64(10*mb) + (1<<30)/20; r.Threshold != want {
		t.Errorf("threshold %d, want %d", r.Threshold, want)
	}
	if len(r.Bursts) != 2 {
		t.Fatalf("%d bursts", len(r.Bursts))
	}
	b1, b2 := r.Bursts[0], r.Bursts[1]
	if b1.ReleaseS < 0.99 || b1.ReleaseS > 1.03 {
		t.Errorf("release %v, want ~1s (one sample of resolution)", b1.ReleaseS)
	}
	// idle window 3 s, 1 s of it at the peak: the median is the base
	if b1.IdleRSS != 10*mb || b1.IdleEndRSS != 10*mb {
		t.Errorf("idle RSS %d, at the end %d", b1.IdleRSS, b1.IdleEndRSS)
	}
	if b1.BurstMinflt != 500 || b2.BurstMinflt != 1000 {
		t.Errorf("faults %d, %d", b1.BurstMinflt, b2.BurstMinflt)
	}
	if b1.BurstPurges != 0 || b1.IdlePurges != 7 {
		t.Errorf("purges during the burst %d, while idle %d", b1.BurstPurges, b1.IdlePurges)
	}
	if b1.IdleCPUS != 0.25 {
		t.Errorf("idle cpu %v", b1.IdleCPUS)
	}
	if r.SecondFirst != 2 {
		t.Errorf("2nd/1st %v, want 2 (1 s against 0.5 s for the same buffers)", r.SecondFirst)
	}
	if r.PeakRSS != 1100*mb || r.CPUS != 2 {
		t.Errorf("peak %d cpu %v", r.PeakRSS, r.CPUS)
	}
}

func TestAnalyzeNeverReleases(t *testing.T) {
	evs, ss := synthetic(10*mb, 1100*mb, 10) // released after the idle window
	r, err := analyze(testConfig(), "native", evs, ss)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bursts[0].ReleaseS != -1 {
		t.Errorf("release %v, want -1 (never)", r.Bursts[0].ReleaseS)
	}
	if r.Bursts[0].IdleRSS != 1100*mb {
		t.Errorf("idle RSS %d", r.Bursts[0].IdleRSS)
	}
	// The floor raises the threshold: 1100 MiB is within base + floor + 5 %.
	cfg := testConfig()
	cfg.Peak, cfg.Floor = 2<<30, 1050*mb // threshold 10 + 1050 + 5 % of 998 MiB
	r, err = analyze(cfg, "native", evs, ss)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bursts[0].ReleaseS < 0 || r.Bursts[0].ReleaseS > 0.021 {
		t.Errorf("with a floor of 1050 MiB: release %v, want within one sample", r.Bursts[0].ReleaseS)
	}
}

func TestAnalyzeMissingEvents(t *testing.T) {
	evs, ss := synthetic(10*mb, 1100*mb, 1)
	if _, err := analyze(testConfig(), "x", evs[:len(evs)-1], ss); err == nil {
		t.Error("no done event: no error")
	}
	var cut []event
	for _, e := range evs {
		if !(e.Event == "idle_end" && e.Burst == 2) {
			cut = append(cut, e)
		}
	}
	if _, err := analyze(testConfig(), "x", cut, ss); err == nil || !strings.Contains(err.Error(), "burst 2") {
		t.Errorf("burst 2 without idle_end: %v", err)
	}
	if _, err := analyze(testConfig(), "x", evs, nil); err == nil {
		t.Error("no samples: no error")
	}
}

func TestAlignEvents(t *testing.T) {
	evs := []event{{T: 0.0}, {T: 1.0}, {T: 2.0}}
	alignEvents(evs, []float64{0.105, 1.100, 2.3}) // the parent read the third one late
	for i, want := range []float64{0.1, 1.1, 2.1} {
		if d := evs[i].At - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("event %d at %v, want %v", i, evs[i].At, want)
		}
	}
}

func TestMedians(t *testing.T) {
	if median64([]int64{5, 1, 3}) != 3 || median64([]int64{4, 1, 3, 2}) != 2 || median64(nil) != 0 {
		t.Error("median64")
	}
	if medianF([]float64{2, 1}) != 1.5 {
		t.Error("medianF")
	}
	mk := func(rel float64, burst float64) *modeResult {
		return &modeResult{Mode: "m", Bursts: []burstResult{{BurstS: burst, ReleaseS: rel, Buffers: 1}}}
	}
	m := medianResult([]*modeResult{mk(1, 1), mk(-1, 2), mk(3, 3)})
	if m.Runs != 3 || m.Bursts[0].ReleaseS != 3 || m.Bursts[0].BurstS != 2 {
		t.Errorf("median of releases 1, never, 3: %v (burst %v)", m.Bursts[0].ReleaseS, m.Bursts[0].BurstS)
	}
	m = medianResult([]*modeResult{mk(-1, 1), mk(-1, 2), mk(3, 3)})
	if m.Bursts[0].ReleaseS != -1 {
		t.Errorf("two of three runs never released: median %v, want never", m.Bursts[0].ReleaseS)
	}
}

func TestAnalyzeSteady(t *testing.T) {
	cfg := testConfig()
	cfg.Pattern = "steady"
	evs := []event{
		{Event: "ready", T: 0},
		{Event: "fill_start", T: 0.3},
		{Event: "fill_end", T: 0.8, DurS: 0.5, Buffers: 1000, Minflt: 5000},
		{Event: "churn_start", T: 0.8},
		{Event: "warm_end", T: 1.8, Rounds: 10, Replaced: 1000, BusyS: 0.0001, Minflt: 5100, Purges: 4, Decommitted: 1 << 20, CPUS: 1},
		{Event: "churn_end", T: 5.8, Rounds: 50, Replaced: 5000, BusyS: 0.0005, Minflt: 6100, Purges: 6, Decommitted: 5 << 20, CPUS: 3},
		{Event: "done", T: 5.9, PeakRSS: 300 * mb},
	}
	for i := range evs {
		evs[i].At = evs[i].T
	}
	var ss []sample
	for x := 0.0; x < 5.9; x += 0.02 {
		ss = append(ss, sample{T: x, RSS: int64(100+int(x)) * mb})
	}
	r, err := analyze(cfg, "offheap", evs, ss)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Steady
	if s == nil {
		t.Fatal("no steady result")
	}
	if s.Rounds != 40 || s.Replaced != 4000 || s.Minflt != 1000 || s.Purges != 2 || s.Decommitted != 4<<20 || s.CPUS != 2 {
		t.Errorf("steady counters %+v", s)
	}
	if s.NsPerBuffer < 99.9 || s.NsPerBuffer > 100.1 || s.FaultsPerBuf != 0.25 {
		t.Errorf("ns/buffer %v faults/buffer %v", s.NsPerBuffer, s.FaultsPerBuf)
	}
	if s.RSSMax != 105*mb || s.RSSMedian < 102*mb || s.RSSMedian > 104*mb {
		t.Errorf("RSS median %d max %d", s.RSSMedian, s.RSSMax)
	}
}

func TestTableAndChart(t *testing.T) {
	cfg := testConfig()
	evs, ss := synthetic(10*mb, 1100*mb, 1.0)
	r1, err := analyze(cfg, "offheap", evs, ss)
	if err != nil {
		t.Fatal(err)
	}
	evs2, ss2 := synthetic(10*mb, 1100*mb, 10)
	r2, err := analyze(cfg, "native", evs2, ss2)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeTable(&out, cfg, "", []*modeResult{r1, r2})
	table := out.String()
	for _, want := range []string{"offheap", "native", "never", "2.00x", "release", "idle<=5%"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	var svg bytes.Buffer
	series := []chartSeries{{Mode: "offheap", Samples: ss, Events: evs, Result: r1}, {Mode: "native", Samples: ss2, Events: evs2, Result: r2}}
	if err := writeChart(&svg, cfg, series); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	lines := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("chart is not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 2 {
		t.Errorf("%d polylines, want one per mode (2)", lines)
	}
}

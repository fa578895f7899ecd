package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// svgSummary decodes an SVG document fully (failing on malformed XML) and
// returns, per panel id, the data-mode of each polyline in it.
func svgSummary(t *testing.T, doc []byte) map[string][]string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	panels := map[string][]string{}
	var stack []string // ids of the open <g> elements
	sawSVG := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch e.Name.Local {
			case "svg":
				sawSVG = e.Name.Space == "http://www.w3.org/2000/svg"
			case "g":
				stack = append(stack, attr("id"))
			case "polyline":
				if len(stack) == 0 {
					t.Errorf("polyline outside a panel")
					continue
				}
				panels[stack[len(stack)-1]] = append(panels[stack[len(stack)-1]], attr("data-mode"))
			}
		case xml.EndElement:
			if e.Name.Local == "g" {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if !sawSVG {
		t.Errorf("no <svg> root in the SVG namespace")
	}
	return panels
}

func TestChart(t *testing.T) {
	cfg, _ := parseConfig([]string{"-live", "64MiB"}, nil)
	mk := func(mode string, rss int64, lat float64) chartSeries {
		var ss []sample
		for i := range 40 {
			ph := "fill"
			if i > 10 {
				ph = "churn"
			}
			ss = append(ss, sample{T: float64(i) * 0.05, RSS: rss + int64(i)<<20, ReqP99: lat * float64(1+i%3), Phase: ph, Round: max(0, i-10)})
		}
		ss[5].ReqP99 = 0 // a window without requests: skipped, not plotted at 0
		return chartSeries{Mode: mode, Samples: ss, Result: &modeResult{Mode: mode, PeakRSSBytes: rss + 40<<20, WallS: 2, ReqP99ns: lat}}
	}
	series := []chartSeries{mk("native", 100<<20, 2000), mk("sync-pool", 80<<20, 900), mk("offheap", 70<<20, 500), mk("a<b&c", 1<<20, 3e6)}
	var buf bytes.Buffer
	if err := writeChart(&buf, cfg, series); err != nil {
		t.Fatal(err)
	}
	panels := svgSummary(t, buf.Bytes())
	want := []string{"native", "sync-pool", "offheap", "a<b&c"}
	for _, p := range []string{"rss", "latency"} {
		if strings.Join(panels[p], ",") != strings.Join(want, ",") {
			t.Errorf("panel %s: polylines for %v, want one per mode %v", p, panels[p], want)
		}
	}
	out := buf.String()
	for _, s := range []string{"Resident memory", "Request latency", "seconds since", "live bytes held", "MiB", "µs", "ms", "native", "offheap"} {
		if !strings.Contains(out, s) {
			t.Errorf("chart lacks %q", s)
		}
	}
	// Skipped windows: the latency polyline of native has 39 points, the RSS one 40.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `data-mode="native"`) {
			pts := strings.Fields(line[strings.Index(line, `points="`)+8:])
			if n := len(pts); n != 40 && n != 39 {
				t.Errorf("native polyline with %d points", n)
			}
		}
	}

	// Degenerate input still gives a well-formed chart with a (possibly
	// empty) line per mode.
	buf.Reset()
	if err := writeChart(&buf, cfg, []chartSeries{{Mode: "native"}, {Mode: "offheap", Samples: []sample{{T: 0, RSS: 5 << 20}}}}); err != nil {
		t.Fatal(err)
	}
	panels = svgSummary(t, buf.Bytes())
	if len(panels["rss"]) != 2 || len(panels["latency"]) != 2 {
		t.Errorf("degenerate chart panels: %v", panels)
	}
}

func TestTickLabels(t *testing.T) {
	if got := decadeLabel(3); got != "1µs" {
		t.Errorf("decadeLabel(3) = %q", got)
	}
	for v, want := range map[float64]string{5000: "5µs", 50000: "50µs", 200: "200ns", 2e7: "20ms", 5e9: "5s"} {
		if got := tickNs(v); got != want {
			t.Errorf("tickNs(%v) = %q, want %q", v, got, want)
		}
	}
	if got := decadeLabel(8); got != "100ms" {
		t.Errorf("decadeLabel(8) = %q", got)
	}
}

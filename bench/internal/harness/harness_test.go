// harness_test.go checks the shared pieces on their own: the table layout the
// commands' outputs depend on, -modes parsing, medians, the /proc readers,
// and a real child process run through Run (this test binary, re-executed).
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// As a child, this test binary prints a few lines, holds 32 MiB resident for
// a moment (so the parent's sampler sees it), and exits with the status its
// arguments ask for.
func TestMain(m *testing.M) {
	if IsChild(os.Args[1:]) {
		os.Exit(testChild(os.Args[2:]))
	}
	os.Exit(m.Run())
}

var sink []byte

func testChild(args []string) int {
	fmt.Println(`{"step":"start"}`)
	sink = make([]byte, 32<<20)
	for i := range sink {
		sink[i] = 1
	}
	time.Sleep(150 * time.Millisecond)
	fmt.Printf(`{"step":"done","peak":%d}`+"\n", PeakRSS())
	if len(args) > 0 && args[0] == "fail" {
		fmt.Fprintln(os.Stderr, "something broke")
		fmt.Fprintln(os.Stderr, "second line")
		return 3
	}
	return 0
}

func TestRunChild(t *testing.T) {
	exe, err := SelfExe()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var stopAt float64
	samples, err := Run(Spec{
		Path:   exe,
		Args:   ChildArgs(),
		Env:    []string{"HARNESS_TEST=1"},
		Sample: 10 * time.Millisecond,
		Line: func(line []byte, at float64) bool {
			lines = append(lines, string(line))
			if strings.Contains(string(line), "done") {
				stopAt = at
				return true
			}
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[1], `{"step":"done","peak":`) {
		t.Fatalf("lines %q", lines)
	}
	if len(samples) < 5 {
		t.Fatalf("%d samples over ~150 ms at 10 ms", len(samples))
	}
	var top int64
	for i, s := range samples {
		if s.RSS <= 0 || (i > 0 && s.T < samples[i-1].T) || s.T > stopAt+0.05 {
			t.Fatalf("sample %d: %+v (stopped at %.3f)", i, s, stopAt)
		}
		top = max(top, s.RSS)
	}
	if top < 32<<20 {
		t.Errorf("the child's 32 MiB never showed: max RSS %d", top)
	}
}

func TestRunChildFails(t *testing.T) {
	exe, _ := SelfExe()
	var errLines []string
	_, err := Run(Spec{Path: exe, Args: ChildArgs("fail"), Stderr: func(l string) { errLines = append(errLines, l) }})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "something broke / second line") {
		t.Fatalf("error %v", err)
	}
	if len(errLines) != 2 {
		t.Errorf("stderr lines %q", errLines)
	}
	if _, err := Run(Spec{Path: filepath.Join(t.TempDir(), "none")}); err == nil {
		t.Error("a missing executable ran")
	}
}

func TestProcReaders(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("no /proc")
	}
	rss, peak := SelfRSS(), PeakRSS()
	if rss <= 0 || peak < rss/2 {
		t.Errorf("rss %d, peak %d", rss, peak)
	}
	if r, err := RSSOf(os.Getpid()); err != nil || r <= 0 {
		t.Errorf("RSSOf(self) = %d, %v", r, err)
	}
	if StatusField("NoSuchField:") != 0 {
		t.Error("a missing status field read as non-zero")
	}
	if _, cpu := Usage(); cpu <= 0 {
		t.Errorf("cpu %v", cpu)
	}
}

func TestTable(t *testing.T) {
	tab := NewTable("mode", "a", "long head")
	tab.Row("x", "1", "2")
	tab.Row("longer-mode", "12345", "3")
	var b bytes.Buffer
	tab.Write(&b)
	want := "  mode             a  long head\n" +
		"  x                1          2\n" +
		"  longer-mode  12345          3\n"
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestModes(t *testing.T) {
	ms := Modes{{Name: "native"}, {Name: "offheap"}, {Name: "c-glibc", CBin: "cfrag-glibc"}}
	got, err := ms.Parse(" c-glibc, native")
	if err != nil || !reflect.DeepEqual(got, []string{"native", "c-glibc"}) {
		t.Errorf("Parse: %v, %v", got, err)
	}
	if all, _ := ms.Parse("all"); !reflect.DeepEqual(all, ms.Names()) {
		t.Errorf("all = %v", all)
	}
	for in, want := range map[string]string{"native,,offheap": "empty mode name", "nope": `unknown mode "nope"`,
		"native,native": "listed twice"} {
		if _, err := ms.Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): %v, want %q", in, err, want)
		}
	}
	if ms.Lookup("c-glibc").CBin != "cfrag-glibc" || ms.Lookup("x") != nil {
		t.Error("Lookup")
	}
}

func TestMedianAndUsage(t *testing.T) {
	if Median([]int64{5, 1, 3}) != 3 || Median([]float64{4, 1, 2, 3}) != 2.5 || Median[int64](nil) != 0 {
		t.Error("Median")
	}
	type fig struct {
		Name string
		N    int64
		F    float64
	}
	if m := MedianFields([]*fig{{"a", 5, 1}, {"b", 1, 3}, {"c", 3, 2}}); m != (fig{"a", 3, 2}) {
		t.Errorf("MedianFields = %+v", m)
	}
	var ue *UsageError
	if err := Usagef("bad %d", 1); !errors.As(err, &ue) || err.Error() != "bad 1" {
		t.Errorf("Usagef: %v", err)
	}
}

func TestEmitterAndJSON(t *testing.T) {
	var b bytes.Buffer
	e := NewEmitter(&b)
	e.Emit(map[string]int{"a": 1})
	e.Emit(map[string]int{"b": 2})
	if b.String() != "{\"a\":1}\n{\"b\":2}\n" || e.Err() != nil {
		t.Errorf("emitter wrote %q", b.String())
	}
	b.Reset()
	if err := WriteJSON(&b, map[string]int{"a": 1}); err != nil || b.String() != "{\n  \"a\": 1\n}\n" {
		t.Errorf("WriteJSON %q %v", b.String(), err)
	}
}

func TestFindCBin(t *testing.T) {
	d := t.TempDir()
	exe := filepath.Join(d, "cmd")
	if got := FindCBin("", exe, "probe"); got != "" && got == d {
		t.Errorf("found %q without the probe", got)
	}
	os.WriteFile(filepath.Join(d, "probe"), nil, 0o755)
	if got := FindCBin("", exe, "probe"); got != d {
		t.Errorf("FindCBin = %q, want %q", got, d)
	}
	if got := FindCBin("/x", exe, "probe"); got != "/x" {
		t.Errorf("the flag lost: %q", got)
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, "frag")
	p.Start(1, 3, "native")
	p.Update("filling") // rate-limited: the start line was just printed
	p.Println("native: stray")
	p.Update("step 2")
	p.Done(nil, "peak 1 GiB")
	p.Start(2, 3, "offheap")
	p.Done(errors.New("boom"), "")
	out := b.String()
	for _, want := range []string{"frag: [mode 1/3] native: starting\n", "native: stray\n",
		"frag: [mode 1/3] native: step 2", "frag: [mode 1/3] native: done in", "peak 1 GiB\n", "frag: [mode 2/3] offheap: FAILED after", "boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "filling") {
		t.Errorf("rate limit ignored:\n%s", out)
	}
}

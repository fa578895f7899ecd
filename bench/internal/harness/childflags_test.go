// childflags_test.go checks the parent-to-child flags: every kind of field
// survives EncodeChild then DecodeChild, a C harness is not sent the ",go"
// fields, and a bad value or an unknown flag is refused.
package harness

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type testWorkload struct {
	Mode   string        `child:"mode"`
	Peak   int64         `child:"peak"`
	Runs   int           `child:"runs"`
	Seed   uint64        `child:"seed"`
	Churn  float64       `child:"churn"`
	Idle   time.Duration `child:"idle-ms"`
	GoOnly int64         `child:"go-only,go"`
	Parent string        // untagged: never sent
}

func TestChildFlagsRoundTrip(t *testing.T) {
	w := testWorkload{Mode: "offheap", Peak: 1 << 30, Runs: 3, Seed: 1<<63 + 5, Churn: 12.5, Idle: 1500 * time.Millisecond,
		GoOnly: 7, Parent: "not sent"}
	args := EncodeChild(w, true)
	want := []string{"-child", "-mode", "offheap", "-peak", "1073741824", "-runs", "3", "-seed", "9223372036854775813",
		"-churn", "12.5", "-idle-ms", "1500", "-go-only", "7"}
	if !reflect.DeepEqual(args, want) {
		t.Fatalf("EncodeChild(Go) = %v\nwant %v", args, want)
	}
	var got testWorkload
	if err := DecodeChild("test", args[1:], &got); err != nil {
		t.Fatal(err)
	}
	w.Parent = ""
	if got != w {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, w)
	}
	if c := strings.Join(EncodeChild(w, false), " "); strings.Contains(c, "-child") || strings.Contains(c, "go-only") {
		t.Errorf("C harness flags %q carry -child or a Go-only flag", c)
	}
}

func TestDecodeChildKeepsDefaultsAndRefuses(t *testing.T) {
	w := testWorkload{Runs: 4, Churn: 10}
	if err := DecodeChild("test", []string{"-mode", "x"}, &w); err != nil || w.Runs != 4 || w.Churn != 10 || w.Mode != "x" {
		t.Errorf("defaults: %+v, %v", w, err)
	}
	for _, args := range [][]string{{"-peak", "1GiB"}, {"-idle-ms", "1s"}, {"-nosuch", "1"}, {"-seed", "-1"}} {
		if err := DecodeChild("test", args, &w); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("%v: error %v, want one naming the flag", args, err)
		}
	}
	w.Idle = 7 * time.Millisecond
	if err := DecodeChild("test", []string{"-idle-ms", "soon"}, &w); err == nil || w.Idle != 7*time.Millisecond {
		t.Errorf("a refused -idle-ms: error %v, Idle %v (want the value kept, 7ms)", err, w.Idle)
	}
}

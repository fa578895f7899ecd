package offheap

// debugreport_test.go - a write after free reported after SetDebug(true) at
// run time: on standard error and through DebugReports. The write after
// free is committed in a child process (see debug_test.go).

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestDebugReportsWriteAfterFree(t *testing.T) {
	const name = "TestDebugReportsWriteAfterFree"
	if inChild(name) {
		SetDebug(true) // at run time: OFFHEAP_DEBUG is not set in the child
		s, err := NewSlab(SlabConfig{})
		if err != nil {
			t.Fatal(err)
		}
		writeAfterFree := func(off int) uintptr {
			b := s.Alloc(200)
			addr := sliceAddr(b)
			s.DecRef(b)
			b[off] = 1 // the write after free
			for range 64 {
				if c := s.Alloc(200); sliceAddr(c) == addr {
					break
				}
			}
			return addr
		}
		addr := writeAfterFree(37)
		fmt.Printf("CHUNK %#x\nREPORTS %q\n", addr, DebugReports())
		if len(DebugReports()) != 0 {
			t.Error("DebugReports returned the reports twice")
		}
		SetDebugReportsToStderr(false)
		addr = writeAfterFree(41)
		fmt.Printf("QUIET %#x\nREPORTS %q\n", addr, DebugReports())
		return
	}
	// The child switches debug mode on at run time: it must not inherit it.
	if v, ok := os.LookupEnv("OFFHEAP_DEBUG"); ok {
		os.Unsetenv("OFFHEAP_DEBUG")
		defer os.Setenv("OFFHEAP_DEBUG", v)
	}
	out, err := runChild(t, name)
	if asanBuild() {
		// The core's ASan poisoning catches the write itself, at the guilty
		// line, before the poison check could (as in debug_test.go).
		if err == nil || !strings.Contains(out, "ERROR: AddressSanitizer") || !strings.Contains(out, "use-after-poison") {
			t.Fatalf("-asan: the write after free was not reported as a use-after-poison (err %v):\n%s", err, out)
		}
		return
	}
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	for _, c := range []struct {
		tag  string
		off  int
		want int // stderr and DebugReports, or DebugReports alone
	}{{"CHUNK", 37, 2}, {"QUIET", 41, 1}} {
		m := regexp.MustCompile(c.tag + ` (0x[0-9a-f]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("child output has no %s address:\n%s", c.tag, out)
		}
		re := regexp.MustCompile(regexp.QuoteMeta("offheap: use after free: chunk "+m[1]+" (size ") + `\d+` +
			regexp.QuoteMeta(fmt.Sprintf(") was modified at offset %d after it was freed", c.off)))
		if n := len(re.FindAllString(out, -1)); n != c.want {
			t.Fatalf("%s: the report of chunk %s, offset %d, appears %d times in the child's output, want %d:\n%s",
				c.tag, m[1], c.off, n, c.want, out)
		}
	}
}

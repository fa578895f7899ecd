package bindings

// faults_test.go - the fault-injection hook (FailOS) in both builds, and
// TestFailOSSharedBuild, which runs it against an installed library.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailOS checks the fault-injection hook: with the bundled core it makes
// mappings fail exactly as asked (every k-th call, or past a byte budget) and
// allocation works again once it is disarmed; with offheap_shared it reports
// that it is unsupported (TestFailOSSharedBuild runs this test in such a build).
func TestFailOS(t *testing.T) {
	if !FaultInjection {
		err := FailOS(1, 0)
		if err == nil || !strings.Contains(err.Error(), "offheap_shared") || !strings.Contains(err.Error(), "unsupported") {
			t.Fatalf("FailOS in the offheap_shared build = %v, want an error saying it is unsupported there", err)
		}
		if p, e := Map(4096); e != OK { // nothing was armed
			t.Fatalf("Map after the unsupported FailOS = %v", e)
		} else {
			Unmap(uintptr(p), 4096)
		}
		return
	}
	defer FailOS(0, 0)
	ps := uintptr(PageSize())

	// Warm the metadata cells Map takes, so that the 9 Maps below make
	// exactly one OS mapping call each.
	var warm [12]uintptr
	for i := range warm {
		p, e := Map(ps)
		if e != OK {
			t.Fatal(e)
		}
		warm[i] = uintptr(p)
	}
	for _, p := range warm {
		Unmap(p, ps)
	}

	if err := FailOS(3, 0); err != nil {
		t.Fatal(err)
	}
	var got []bool
	var live []uintptr
	for i := 0; i < 9; i++ {
		p, e := Map(ps)
		switch e {
		case OK:
			live = append(live, uintptr(p))
		case ENOMEM:
		default:
			t.Fatalf("Map %d under FailOS(3, 0) = %v, want OK or ENOMEM", i, e)
		}
		got = append(got, e == OK)
	}
	want := []bool{true, true, false, true, true, false, true, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("FailOS(3, 0): Map successes %v, want %v (every 3rd call failing)", got, want)
		}
	}

	// A byte budget: 2 pages fit, the third does not, and every mapping fails
	// from then on (big and small).
	FailOS(0, uint64(2*ps))
	for i := 0; i < 2; i++ {
		p, e := Map(ps)
		if e != OK {
			t.Fatalf("Map %d within the budget of FailOS(0, 2 pages) = %v", i, e)
		}
		live = append(live, uintptr(p))
	}
	if _, e := Map(ps); e != ENOMEM {
		t.Fatalf("Map past the budget = %v, want ENOMEM", e)
	}
	if _, e := Alloc(3 << 20); e != ENOMEM {
		t.Fatalf("Alloc(3 MiB) past the budget = %v, want ENOMEM", e)
	}
	s, e := NewSlab(0, 0, 0)
	if e == OK {
		if _, e := s.Alloc(2 << 20); e != ENOMEM {
			t.Fatalf("Slab.Alloc(2 MiB) past the budget = %v, want ENOMEM", e)
		}
		s.Destroy()
	} else if e != ENOMEM {
		t.Fatalf("NewSlab past the budget = %v, want OK or ENOMEM", e)
	}

	FailOS(0, 0)
	for _, p := range live {
		if e := Unmap(p, ps); e != OK {
			t.Fatalf("Unmap(%#x) = %v", p, e)
		}
	}
	p, e := Alloc(3 << 20)
	if e != OK {
		t.Fatalf("Alloc(3 MiB) after disarming = %v", e)
	}
	if e := Free(uintptr(p)); e != OK {
		t.Fatal(e)
	}
}

// TestFailOSSharedBuild builds this package's tests with -tags
// offheap_shared against build/liboffheap.so (make lib) and runs TestFailOS
// there: FailOS must compile in that build and say it is unsupported. A
// stand-in pkg-config points cgo at the repository's header and library.
func TestFailOSSharedBuild(t *testing.T) {
	if !FaultInjection {
		return // this is the shared build's own run of the tests
	}
	gobin := tool(t, "go")
	makeBin := tool(t, "make")
	root := repoRoot(t)
	run(t, root, nil, makeBin, "-s", "lib")
	dir := t.TempDir()
	pc := filepath.Join(dir, "pkg-config")
	script := "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in\n" +
		"--cflags) echo \"-I" + filepath.Join(root, "c/include") + "\";;\n" +
		"--libs) echo \"-L" + filepath.Join(root, "build") + " -loffheap\";;\nesac; done\n"
	if err := os.WriteFile(pc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bindings.test")
	run(t, filepath.Join(root, "bindings"), []string{"PKG_CONFIG=" + pc, "CGO_ENABLED=1"},
		gobin, "test", "-c", "-tags", "offheap_shared", "-o", bin, ".")
	out := run(t, dir, []string{"LD_LIBRARY_PATH=" + filepath.Join(root, "build")},
		bin, "-test.run", "^(TestFailOS|TestVersions)$", "-test.v")
	for _, want := range []string{"--- PASS: TestFailOS", "--- PASS: TestVersions"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the offheap_shared test binary did not report %q:\n%s", want, out)
		}
	}
}

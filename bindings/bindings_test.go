package bindings

// bindings_test.go - the thin layer over the C ABI: versions, errors and
// their codes, slab batches, and that the unity file compiles every core
// source.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

func TestVersions(t *testing.T) {
	if ABIVersion != HeaderABIVersion || LinkedABIVersion() != ABIVersion {
		t.Fatalf("ABI versions: package %d, header %d, linked %d", ABIVersion, HeaderABIVersion, LinkedABIVersion())
	}
	if v := Version(); strings.Count(v, ".") != 2 {
		t.Fatalf("Version() = %q", v)
	}
	if msg := checkABI(ABIVersion, ABIVersion); msg != "" {
		t.Fatalf("checkABI of matching versions: %q", msg)
	}
	msg := checkABI(ABIVersion+1, ABIVersion+1)
	for _, want := range []string{"offheap:", "ABI version 2", "needs ABI version 1", "offheap_shared"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("checkABI message %q lacks %q", msg, want)
		}
	}
	if PageSize() != os.Getpagesize() {
		t.Fatalf("PageSize() = %d, os says %d", PageSize(), os.Getpagesize())
	}
}

func TestErrors(t *testing.T) {
	var stack [8]byte
	if e := Free(uintptr(unsafe.Pointer(&stack[0]))); e != EINVAL {
		t.Fatalf("Free of a stack address = %v, want EINVAL", e)
	}
	p, e := Alloc(64)
	if e != OK || p == nil {
		t.Fatalf("Alloc(64) = %v, %v", p, e)
	}
	if e := Free(uintptr(p) + 16); e != EFAULT {
		t.Fatalf("Free of an interior pointer = %v, want EFAULT", e)
	}
	if e := Free(uintptr(p)); e != OK {
		t.Fatal(e)
	}
	if e := Free(uintptr(p)); e != EALREADY {
		t.Fatalf("double Free = %v, want EALREADY", e)
	}
	if _, e := Alloc(1 << 50); e != EINVAL && e != ENOMEM {
		t.Fatalf("Alloc(2^50) = %v", e)
	}
	s, e := NewSlab(0, 3<<20, 0)
	if e != EINVAL || s.Valid() {
		t.Fatalf("NewSlab with a bad slab size = %v", e)
	}
	for e, name := range map[Err]string{OK: "OK", ENOMEM: "ENOMEM", EXDEV: "EXDEV", EOTHER: "errno", Err(99): "Err(99)"} {
		if e.String() != name {
			t.Errorf("%d.String() = %q, want %q", int(e), e.String(), name)
		}
	}
}

// TestErrnoCodes checks the one errno map (errcodes.h) against the Go side:
// each errno the core reports maps to the Err named after it, every Err
// between OK and EOTHER is some errno's, and a failure with any other errno
// (or none) is EOTHER, never OK.
func TestErrnoCodes(t *testing.T) {
	seen := map[Err]string{}
	for name, errno := range cErrnos() {
		e := errnoCode(errno)
		if e.String() != name {
			t.Errorf("errno %s (%d) maps to %v (%d), want %s", name, errno, e, int(e), name)
		}
		if prev, dup := seen[e]; dup {
			t.Errorf("errnos %s and %s both map to %v", prev, name, e)
		}
		seen[e] = name
	}
	for e := OK + 1; e < EOTHER; e++ {
		if _, ok := seen[e]; !ok {
			t.Errorf("no errno maps to %v (%d)", e, int(e))
		}
	}
	for _, errno := range []int{0, -1, 1 << 20} {
		if e := errnoCode(errno); e != EOTHER {
			t.Errorf("errno %d maps to %v, want EOTHER", errno, e)
		}
	}
}

func TestSlabBatch(t *testing.T) {
	s, e := NewSlab(16, 64<<10, 2)
	if e != OK {
		t.Fatal(e)
	}
	defer s.Destroy()
	if s.ClassCount() < 2 || s.ClassSize(0) != 16 || s.ClassSize(1) != 32 {
		t.Fatalf("classes: %d, %d, %d", s.ClassCount(), s.ClassSize(0), s.ClassSize(1))
	}
	out := make([]unsafe.Pointer, 100)
	n, e := s.AllocBatch(1, out)
	if e != OK || n != 100 {
		t.Fatalf("AllocBatch = %d, %v", n, e)
	}
	seen := map[unsafe.Pointer]bool{}
	for _, p := range out {
		if seen[p] {
			t.Fatalf("AllocBatch returned %p twice", p)
		}
		seen[p] = true
		if rc, e := s.RefCount(uintptr(p)); rc != 1 || e != OK {
			t.Fatalf("RefCount = %d, %v", rc, e)
		}
	}
	// A bad pointer in the middle: those before it are freed, it and those
	// after it are not.
	out[50] = unsafe.Add(out[50], 1)
	bad, e := s.FreeBatch(out)
	if e != EFAULT || bad != 50 {
		t.Fatalf("FreeBatch with an interior pointer = %d, %v; want 50, EFAULT", bad, e)
	}
	out[50] = unsafe.Add(out[50], -1)
	if _, e := s.FreeBatch(out[50:]); e != OK {
		t.Fatal(e)
	}
	var st Stats
	if e := s.ReadStats(&st); e != OK || st.InUseBytes != 0 || st.Allocs != 100 || st.Frees != 100 {
		t.Fatalf("stats %+v, %v", st, e)
	}
}

// TestEveryCoreSourceIsCompiled checks that the unity file includes each
// c/src/*.c, so that a source added to the core cannot be silently left out of
// the Go build, and that it compiles to nothing under offheap_shared.
func TestEveryCoreSourceIsCompiled(t *testing.T) {
	srcs, err := filepath.Glob("../c/src/*.c")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no C sources found: %v", err)
	}
	data, err := os.ReadFile("offheap_unity.c")
	if err != nil {
		t.Fatalf("bindings/offheap_unity.c: %v", err)
	}
	unity := string(data)
	if !strings.HasPrefix(unity[strings.Index(unity, "#"):], "#ifndef OH_GO_SHARED") {
		t.Errorf("offheap_unity.c must start its code with #ifndef OH_GO_SHARED")
	}
	for _, src := range srcs {
		name := filepath.Base(src)
		if !strings.Contains(unity, `#include "../c/src/`+name+`"`) {
			t.Errorf("offheap_unity.c does not include ../c/src/%s", name)
		}
	}
}

package bindings

// Tests of the ways the module is built by its users: vendored (go mod
// vendor, no network), against an installed liboffheap (-tags
// offheap_shared), and go/decommit without cgo. They run the real tools: a
// missing go, make or pkg-config is a failure, not a skip.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tool returns the path of a command the test needs, failing if it is absent.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test and is not on PATH: %v", name, err)
	}
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs a command in dir with extra environment and returns its combined
// output, failing the test if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := command(dir, env, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s, env %v): %v\n%s", name, strings.Join(args, " "), dir, env, err, out)
	}
	return string(out)
}

func command(dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// writeModule writes a module that requires this one through a replace
// directive, with the given files.
func writeModule(t *testing.T, root string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	// The user's module lists offheap's own requirements too (as go mod tidy
	// would) and their checksums, so that builds without network work.
	deps, sums := rootRequirements(t, root)
	files["go.mod"] = "module example.com/user\n\ngo 1.24\n\nrequire github.com/offheap/offheap v0.0.0\n" + deps +
		"\nreplace github.com/offheap/offheap => " + root + "\n"
	files["go.sum"] = sums
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rootRequirements returns the require directives of root's go.mod (marked
// indirect) and root's go.sum.
func rootRequirements(t *testing.T, root string) (requires, sums string) {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	inBlock := false
	for _, line := range strings.Split(string(mod), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "require (":
			inBlock = true
		case inBlock && line == ")":
			inBlock = false
		case inBlock && line != "":
			requires += "require " + strings.TrimSuffix(line, " // indirect") + " // indirect\n"
		case strings.HasPrefix(line, "require ") && !strings.HasSuffix(line, "("):
			requires += strings.TrimSuffix(line, " // indirect") + " // indirect\n"
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.sum")); err == nil {
		sums = string(b)
	}
	return requires, sums
}

const userProgram = `package main

import (
	"fmt"

	"github.com/offheap/offheap/bindings"
	"github.com/offheap/offheap/go/decommit"
	"github.com/offheap/offheap/go/offheap"
)

func main() {
	b := offheap.Alloc(100)
	copy(b, "off-heap")
	s := string(b[:8])
	offheap.Free(b)
	p := offheap.NewBufferPool(4096)
	p.Put(p.Get())
	decommit.Slice(make([]byte, 1<<20))
	fmt.Printf("%s shared=%v abi=%d\n", s, bindings.Shared, bindings.LinkedABIVersion())
}
`

const noCgoProgram = `package main

import (
	"fmt"

	"github.com/offheap/offheap/go/decommit"
)

func main() {
	b := make([]byte, 4<<20)
	for i := range b {
		b[i] = 1
	}
	decommit.Slice(b)
	b[0] = 2
	fmt.Println("decommit without cgo:", b[0], decommit.PageSize() > 0)
}
`

// TestVendoredBuild vendors the module into a user module and builds it with
// -mod=vendor and no network: the C sources must come along (the required
// files) and compile from the vendor directory.
func TestVendoredBuild(t *testing.T) {
	gobin := tool(t, "go")
	root := repoRoot(t)
	dir := writeModule(t, root, map[string]string{
		"main.go":       userProgram,
		"nocgo/main.go": noCgoProgram,
	})
	offline := []string{"GOPROXY=off", "GOWORK=off", "GOFLAGS="}
	run(t, dir, offline, gobin, "mod", "vendor")
	for _, f := range []string{
		"c/include/offheap.h", "c/src/central.c", "c/src/internal.h", "bindings/offheap_unity.c", "go/decommit/decommit.go",
	} {
		if _, err := os.Stat(filepath.Join(dir, "vendor/github.com/offheap/offheap", f)); err != nil {
			t.Errorf("go mod vendor left out %s: %v", f, err)
		}
	}
	vendored := []string{"GOPROXY=off", "GOWORK=off", "GOFLAGS=-mod=vendor", "CGO_ENABLED=1"}
	run(t, dir, vendored, gobin, "build", "-o", "user", ".")
	if out := run(t, dir, nil, filepath.Join(dir, "user")); out != "off-heap shared=false abi=1\n" {
		t.Fatalf("vendored program printed %q", out)
	}
	// go/decommit needs no cgo: it builds and works with CGO_ENABLED=0.
	noCgo := []string{"GOPROXY=off", "GOWORK=off", "GOFLAGS=-mod=vendor", "CGO_ENABLED=0"}
	run(t, dir, noCgo, gobin, "build", "-o", "nocgo-bin", "./nocgo")
	if out := run(t, dir, nil, filepath.Join(dir, "nocgo-bin")); out != "decommit without cgo: 2 true\n" {
		t.Fatalf("CGO_ENABLED=0 program printed %q", out)
	}
	deps := run(t, dir, noCgo, gobin, "list", "-deps", "./nocgo")
	for _, bad := range []string{"runtime/cgo", "github.com/offheap/offheap/bindings"} {
		if strings.Contains(deps, bad+"\n") {
			t.Errorf("go/decommit depends on %s without cgo:\n%s", bad, deps)
		}
	}
}

// TestSharedLibraryBuild installs liboffheap with make into a temporary prefix
// and builds a program with -tags offheap_shared against it through
// pkg-config; the program must run with the library found at run time, and
// only then.
func TestSharedLibraryBuild(t *testing.T) {
	gobin := tool(t, "go")
	makeBin := tool(t, "make")
	tool(t, "pkg-config")
	root := repoRoot(t)
	prefix := t.TempDir()
	// -W c/offheap.pc.in: offheap.pc embeds PREFIX but does not depend on it,
	// so force it to be regenerated for this prefix.
	run(t, root, nil, makeBin, "-s", "-W", "c/offheap.pc.in", "install", "PREFIX="+prefix)
	pc, err := os.ReadFile(filepath.Join(prefix, "lib/pkgconfig/offheap.pc"))
	if err != nil || !strings.Contains(string(pc), "prefix="+prefix) {
		t.Fatalf("installed offheap.pc does not name the prefix %s: %v\n%s", prefix, err, pc)
	}
	dir := writeModule(t, root, map[string]string{"main.go": userProgram})
	// The go build cache keys cgo packages on CGO_CFLAGS but not on what
	// pkg-config prints, so a build against an earlier prefix would be reused
	// (with its -L path): naming the prefix's include directory in CGO_CFLAGS
	// makes the key follow the installation.
	cflags := os.Getenv("CGO_CFLAGS")
	if cflags == "" {
		cflags = "-O2 -g"
	}
	env := []string{
		"GOPROXY=off", "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=1",
		"PKG_CONFIG_PATH=" + filepath.Join(prefix, "lib/pkgconfig"),
		"CGO_CFLAGS=" + cflags + " -I" + filepath.Join(prefix, "include"),
	}
	run(t, dir, env, gobin, "build", "-tags", "offheap_shared", "-o", "user", ".")
	libEnv := []string{"LD_LIBRARY_PATH=" + filepath.Join(prefix, "lib")}
	if out := run(t, dir, libEnv, filepath.Join(dir, "user")); out != "off-heap shared=true abi=1\n" {
		t.Fatalf("program built with offheap_shared printed %q", out)
	}
	// Proof that it links the installed library dynamically: without the
	// library path the loader cannot find liboffheap.so.1.
	out, err := command(dir, []string{"LD_LIBRARY_PATH="}, filepath.Join(dir, "user")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "liboffheap.so") {
		t.Fatalf("the offheap_shared program ran without its library (err %v): %s", err, out)
	}
}

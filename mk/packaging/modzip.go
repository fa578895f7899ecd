//go:build ignore

// modzip writes the module zip of the repository, as a module proxy serves
// it, plus its .mod and .info files, into a file-system proxy directory:
//
//	go run mk/packaging/modzip.go PROXYDIR VERSION
//
// `make test-modzip` then builds a user module against it with
// GOPROXY=file://PROXYDIR, so the go command itself unpacks and checks the
// zip (names, sizes, go.mod) and cgo compiles the C core from the read-only
// module cache. The files are the repository's as git sees them (tracked and
// untracked, not ignored), less what module zips leave out: nested modules
// (directories with their own go.mod, such as bench/), vendor/ and VCS
// directories.
package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fail("usage: go run mk/packaging/modzip.go PROXYDIR VERSION")
	}
	proxy, version := os.Args[1], os.Args[2]
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		fail("run from the repository root: %v", err)
	}
	modPath := ""
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			modPath = f[1]
		}
	}
	if modPath == "" {
		fail("go.mod names no module")
	}
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		fail("git ls-files: %v", err)
	}
	var files []string
	nested := map[string]bool{} // directories holding another module
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		if path.Base(f) == "go.mod" && path.Dir(f) != "." {
			nested[path.Dir(f)] = true
		}
		files = append(files, f)
	}
	sort.Strings(files)
	dir := filepath.Join(proxy, modPath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail("%v", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	for _, f := range files {
		if skipped(f, nested) {
			continue
		}
		st, err := os.Lstat(f)
		if err != nil {
			if os.IsNotExist(err) { // deleted in the work tree, not yet in git
				continue
			}
			fail("%v", err)
		}
		if !st.Mode().IsRegular() {
			continue // module zips hold regular files only
		}
		data, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		w, err := zw.Create(modPath + "@" + version + "/" + f)
		if err != nil {
			fail("%v", err)
		}
		if _, err := w.Write(data); err != nil {
			fail("%v", err)
		}
		n++
	}
	if err := zw.Close(); err != nil {
		fail("%v", err)
	}
	info := fmt.Sprintf("{\"Version\":%q,\"Time\":%q}\n", version, time.Now().UTC().Format(time.RFC3339))
	for name, data := range map[string][]byte{
		version + ".zip":  buf.Bytes(),
		version + ".mod":  gomod,
		version + ".info": []byte(info),
		"list":            []byte(version + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			fail("%v", err)
		}
	}
	fmt.Printf("modzip: %s@%s: %d files, %d bytes\n", modPath, version, n, buf.Len())
}

// skipped reports whether a module zip leaves f out.
func skipped(f string, nested map[string]bool) bool {
	for d := path.Dir(f); d != "."; d = path.Dir(d) {
		if nested[d] {
			return true
		}
	}
	for _, part := range strings.Split(f, "/") {
		switch part {
		case "vendor", ".git", ".hg", ".svn", ".bzr":
			return true
		}
	}
	return false
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "modzip: "+format+"\n", args...)
	os.Exit(1)
}

// modes.go is the mode table every command keeps (name, C harness binary,
// description) and the -modes flag's parsing, so that "all", table order and
// the error messages are the same in every command.
package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mode is one allocator or configuration under test.
type Mode struct {
	Name string
	CBin string // C harness binary that runs it ("" = a Go mode of the command itself)
	Desc string
}

// Modes is a command's mode table, in report order.
type Modes []Mode

// Lookup is the mode called name, or nil.
func (ms Modes) Lookup(name string) *Mode {
	for i := range ms {
		if ms[i].Name == name {
			return &ms[i]
		}
	}
	return nil
}

// Exe is the executable that runs mode: exe (the command itself, for a Go
// mode) or its C harness binary in cdir (see FindCBin); an error says how to
// build a missing one (build, a make target).
func (ms Modes) Exe(mode, exe, cdir, build string) (string, error) {
	cb := ms.Lookup(mode).CBin
	if cb == "" {
		return exe, nil
	}
	path := filepath.Join(cdir, cb)
	if _, err := os.Stat(path); cdir == "" || err != nil {
		return "", fmt.Errorf("C harness %s not found: build it with %s (or pass -cbin DIR)", cb, build)
	}
	return path, nil
}

// Names is every mode's name, in table order.
func (ms Modes) Names() []string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return names
}

// Parse reads a -modes value: "all", or comma-separated names (spaces
// allowed), returned in table order whatever order they were given in.
func (ms Modes) Parse(s string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return ms.Names(), nil
	}
	return ParseList(s, ms.Names(), "mode")
}

// ParseList reads a comma-separated list of names out of known (a flag such
// as -modes or -workloads), returned in known's order. what names an element
// in the error messages ("mode").
func ParseList(s string, known []string, what string) ([]string, error) {
	seen := map[string]bool{}
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			return nil, fmt.Errorf("empty %s name in %q", what, s)
		}
		if !isKnown[m] {
			return nil, fmt.Errorf("unknown %s %q (%ss: %s, or all)", what, m, what, strings.Join(known, ", "))
		}
		if seen[m] {
			return nil, fmt.Errorf("%s %q listed twice", what, m)
		}
		seen[m] = true
	}
	var out []string
	for _, k := range known {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

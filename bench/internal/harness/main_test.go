package harness

// main_test.go checks a command's outer shell: the exit status of each kind
// of failure, flag parsing and -h, output files, the C harness lookup, and
// how a child's stray output is told from its messages.

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainExitStatus(t *testing.T) {
	fail := func(err error) func([]string) error { return func([]string) error { return err } }
	for _, c := range []struct {
		args          []string
		child, parent error
		want          int
		says          string
	}{
		{nil, nil, nil, 0, ""},
		{nil, nil, flag.ErrHelp, 0, ""},
		{nil, nil, Usagef("-x: bad"), 2, "cmd: -x: bad\nRun 'cmd -h' for usage.\n"},
		{nil, nil, errors.New("boom"), 1, "cmd: boom\n"},
		{ChildArgs(), errors.New("boom"), nil, 1, "cmd -child: boom\n"},
		{ChildArgs(), Usagef("-mode"), nil, 1, "cmd -child: -mode\n"},
	} {
		var errb bytes.Buffer
		if got := Main("cmd", c.args, &errb, fail(c.child), fail(c.parent)); got != c.want || errb.String() != c.says {
			t.Errorf("Main(%v, child %v, parent %v) = %d %q, want %d %q", c.args, c.child, c.parent, got, errb.String(), c.want, c.says)
		}
	}
}

func TestParseFlags(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
		fs.Int("n", 3, "a `COUNT`")
		fs.Bool("child", false, "internal")
		return fs
	}
	var out bytes.Buffer
	if err := ParseFlags(newFS(), []string{"-h"}, &out, "usage: cmd\n"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if s := out.String(); !strings.HasPrefix(s, "usage: cmd\n") || !strings.Contains(s, "-n COUNT") || strings.Contains(s, "child") {
		t.Errorf("-h printed %q", s)
	}
	var ue *UsageError
	for _, args := range [][]string{{"-n", "x"}, {"-nope"}, {"extra"}} {
		if err := ParseFlags(newFS(), args, io.Discard, ""); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if err := ParseFlags(newFS(), []string{"-n", "4"}, io.Discard, ""); err != nil {
		t.Error(err)
	}
}

func TestParentAndOutputs(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewParent("cmd", "", "", filepath.Join(dir, "none", "x.json"), "", io.Discard); err == nil {
		t.Error("a -json path in a missing directory was created")
	}
	p, err := NewParent("cmd", dir, "probe", filepath.Join(dir, "out.json"), "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.CDir != dir || p.Chart != nil || p.Exe == "" {
		t.Errorf("parent %+v", p)
	}
	if err := p.Chart.Write(func(io.Writer) error { return errors.New("never called") }); err != nil {
		t.Errorf("a nil output wrote: %v", err)
	}
	if err := p.JSON.Write(func(w io.Writer) error { return WriteJSON(w, 1) }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out.json")); string(b) != "1\n" || p.JSON.Path() != filepath.Join(dir, "out.json") {
		t.Errorf("out.json %q at %s", b, p.JSON.Path())
	}
	o, _ := CreateOutput("-chart", filepath.Join(dir, "c.svg"))
	if err := o.Write(func(io.Writer) error { return errors.New("full") }); err == nil || err.Error() != "-chart: full" {
		t.Errorf("write error %v", err)
	}
}

func TestModesExe(t *testing.T) {
	dir := t.TempDir()
	ms := Modes{{Name: "go"}, {Name: "c", CBin: "cbin-x"}}
	if got, err := ms.Exe("go", "/self", "", "make x"); got != "/self" || err != nil {
		t.Errorf("go mode: %q %v", got, err)
	}
	if _, err := ms.Exe("c", "/self", dir, "make x"); err == nil || !strings.Contains(err.Error(), "build it with make x") {
		t.Errorf("missing C harness: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "cbin-x"), nil, 0o755)
	if got, err := ms.Exe("c", "/self", dir, "make x"); got != filepath.Join(dir, "cbin-x") || err != nil {
		t.Errorf("C mode: %q %v", got, err)
	}
}

func TestDecode(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, "cmd")
	var m struct{ Event string }
	known := func() bool { return m.Event != "" }
	if !p.Decode("x", []byte(`{"Event":"ready"}`), &m, known) || m.Event != "ready" {
		t.Errorf("message not decoded: %+v", m)
	}
	m.Event = ""
	if p.Decode("x", []byte("panic: boom"), &m, known) || p.Decode("x", []byte(`{"Other":1}`), &m, known) {
		t.Error("stray lines decoded as messages")
	}
	if b.String() != "x: panic: boom\nx: {\"Other\":1}\n" {
		t.Errorf("stray lines shown as %q", b.String())
	}
}

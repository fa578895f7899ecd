// main.go is a benchmark command's outer shell, the same in every command:
// child or parent, the exit status of each kind of failure, and the output
// files named by flags (-json, -chart), created before a minute of measuring
// rather than after it.
package harness

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Main runs the command called name: child(args) when IsChild(args), else
// parent(args). It returns the exit status: 0 on success or -h, 2 for a
// *UsageError of the parent (printed with a hint to run name -h), 1 for any
// other error, printed after the command's name.
func Main(name string, args []string, stderr io.Writer, child, parent func(args []string) error) int {
	run, who := parent, name
	if IsChild(args) {
		run, who = child, name+" -child"
	}
	err := run(args)
	var ue *UsageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue) && who == name:
		fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for usage.\n", name, ue, name)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", who, err)
	return 1
}

// ParseFlags parses a command's flags. -h prints usage and the flags
// (without the internal -child) to out and returns flag.ErrHelp; a bad flag
// or a positional argument is a *UsageError.
func ParseFlags(fs *flag.FlagSet, args []string, out io.Writer, usage string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(out, usage)
		shown := flag.NewFlagSet("", flag.ContinueOnError)
		shown.SetOutput(out)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "child" {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		shown.PrintDefaults()
		return err
	case err != nil:
		return Usagef("%v", err)
	case fs.NArg() > 0:
		return Usagef("unexpected argument %q (all settings are flags)", fs.Arg(0))
	}
	return nil
}

// Parent is what a command's parent process holds while it runs its modes:
// its own executable (the Go modes' child), the directory of its C harness
// binaries, the output files its flags name, and its progress line.
type Parent struct {
	Exe, CDir   string
	JSON, Chart *Output
	Prog        *Progress
}

// NewParent sets up the parent of the command called name. cbin and probe
// are for FindCBin (probe "" for a command without C harness binaries);
// jsonPath and chartPath are the -json and -chart flags ("" for none).
func NewParent(name, cbin, probe, jsonPath, chartPath string, stderr io.Writer) (*Parent, error) {
	exe, err := SelfExe()
	if err != nil {
		return nil, fmt.Errorf("cannot find own executable to run the modes: %v", err)
	}
	p := &Parent{Exe: exe, Prog: NewProgress(stderr, name)}
	if probe != "" {
		p.CDir = FindCBin(cbin, exe, probe)
	}
	if p.JSON, err = CreateOutput("-json", jsonPath); err != nil {
		return nil, err
	}
	if p.Chart, err = CreateOutput("-chart", chartPath); err != nil {
		p.JSON.Close()
		return nil, err
	}
	return p, nil
}

// Each runs a command's children one after another, labels[i] on the
// progress line while run(i) runs child i; run returns the summary shown when
// the child is done, or its error. The one loop every command's parent had.
func (p *Parent) Each(labels []string, run func(i int) (summary string, err error)) {
	for i, l := range labels {
		p.Prog.Start(i+1, len(labels), l)
		summary, err := run(i)
		p.Prog.Done(err, summary)
	}
}

// Close closes the output files Write has not.
func (p *Parent) Close() {
	p.JSON.Close()
	p.Chart.Close()
}

// Output is a file a flag names, created at once so that a bad path fails
// before the measurement; nil (flag not given) writes nothing.
type Output struct {
	flag, path string
	f          *os.File
}

// CreateOutput creates path for flag ("-json"); nil, nil when path is "".
func CreateOutput(flag, path string) (*Output, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &Output{flag: flag, path: path, f: f}, nil
}

// Write calls write on the file and closes it; an error names the flag.
func (o *Output) Write(write func(io.Writer) error) error {
	if o == nil {
		return nil
	}
	err := write(o.f)
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %v", o.flag, err)
	}
	return nil
}

// Close closes the file if Write has not (for a deferred cleanup).
func (o *Output) Close() {
	if o != nil {
		o.f.Close()
	}
}

// Path is where the file went, made absolute for the message that says so.
func (o *Output) Path() string { return AbsPath(o.path) }

// output.go is the parent's and the child's output plumbing: aligned text
// tables, indented JSON files, JSON lines from a child, the usage-error type
// behind exit status 2, and the medians the commands summarise runs with.
package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
)

// Table is an aligned text table: the first column left-aligned, the others
// right-aligned, two spaces between columns.
type Table struct {
	rows [][]string
}

// NewTable starts a table with its header row.
func NewTable(head ...string) *Table { return &Table{rows: [][]string{head}} }

// Row adds a row (first cell, then the others).
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Write prints the table.
func (t *Table) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := 0
	for _, r := range t.rows {
		if len(r) > 0 {
			width = max(width, len(r[0]))
		}
	}
	for _, r := range t.rows {
		if len(r) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%-*s\t%s\t\n", width, r[0], strings.Join(r[1:], "\t"))
	}
	return tw.Flush()
}

// WriteJSON writes v as indented JSON and a newline.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Emitter writes a child's messages, one JSON object per line, from several
// goroutines, and remembers the first error.
type Emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewEmitter writes to w.
func NewEmitter(w io.Writer) *Emitter { return &Emitter{enc: json.NewEncoder(w)} }

// Emit writes v as one line.
func (e *Emitter) Emit(v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = e.enc.Encode(v)
	}
}

// Err is the first write error.
func (e *Emitter) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// UsageError is a bad command line: exit status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef makes a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// Median is the median of v (0 for none): the mean of the middle two for an
// even count.
func Median[T int64 | float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianFields is a result whose every int and float64 field is the median of
// that field over runs, and whose other fields (names, slices, pointers) are
// the first run's: a command's figures combined over repeated runs.
func MedianFields[T any](runs []*T) T {
	var out T
	ov := reflect.ValueOf(&out).Elem()
	for i := 0; i < ov.NumField(); i++ {
		f := ov.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			v := make([]int64, len(runs))
			for k, r := range runs {
				v[k] = reflect.ValueOf(r).Elem().Field(i).Int()
			}
			f.SetInt(Median(v))
		case reflect.Float64:
			v := make([]float64, len(runs))
			for k, r := range runs {
				v[k] = reflect.ValueOf(r).Elem().Field(i).Float()
			}
			f.SetFloat(Median(v))
		default:
			f.Set(reflect.ValueOf(runs[0]).Elem().Field(i))
		}
	}
	return out
}

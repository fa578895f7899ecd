// childflags.go is the one declaration of what a child is told: a command
// writes its workload as a struct whose fields carry `child:"name"` tags, and
// the parent's command line for a child (EncodeChild) and the Go child's
// reading of it (DecodeChild) both follow the tags, so a setting cannot be
// sent under one name and read under another. The values are plain numbers
// (bytes, milliseconds) because the C harness binaries read the same flags.
package harness

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// childField is one tagged field: its flag name and whether only a Go child
// takes it (tag option ",go"; a C harness would refuse the flag).
type childField struct {
	name   string
	goOnly bool
	v      reflect.Value
}

// childFields lists the tagged fields of the struct v points to (or is), in
// declaration order. A time.Duration travels as whole milliseconds, under a
// name that says so ("idle-ms").
func childFields(v reflect.Value) []childField {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	var out []childField
	for i := 0; i < v.NumField(); i++ {
		tag, ok := v.Type().Field(i).Tag.Lookup("child")
		if !ok {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		out = append(out, childField{name: name, goOnly: opt == "go", v: v.Field(i)})
	}
	return out
}

// EncodeChild is the flags of a child that runs the workload w (a struct with
// `child` tags): "-name value" for every tagged field, in declaration order;
// for a C harness (goChild false) without the ",go" fields. A Go child's
// flags start with ChildFlag.
func EncodeChild(w any, goChild bool) []string {
	var args []string
	if goChild {
		args = append(args, ChildFlag)
	}
	for _, f := range childFields(reflect.ValueOf(w)) {
		if f.goOnly && !goChild {
			continue
		}
		var s string
		switch x := f.v.Interface().(type) {
		case time.Duration:
			s = strconv.FormatInt(x.Milliseconds(), 10)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			s = fmt.Sprint(x)
		}
		args = append(args, "-"+f.name, s)
	}
	return args
}

// msValue is a time.Duration flag given in whole milliseconds.
type msValue struct{ d *time.Duration }

func (m msValue) String() string { return "" }
func (m msValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return err
	}
	*m.d = time.Duration(n) * time.Millisecond
	return nil
}

// DecodeChild reads EncodeChild's flags (without ChildFlag) into the struct w
// points to; a flag it does not know, or a value of the wrong kind, is an
// error that names it.
func DecodeChild(name string, args []string, w any) error {
	fs := flag.NewFlagSet(name+" "+ChildFlag, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range childFields(reflect.ValueOf(w)) {
		switch p := f.v.Addr().Interface().(type) {
		case *time.Duration:
			fs.Var(msValue{p}, f.name, "")
		case *string:
			fs.StringVar(p, f.name, *p, "")
		case *int:
			fs.IntVar(p, f.name, *p, "")
		case *int64:
			fs.Int64Var(p, f.name, *p, "")
		case *uint64:
			fs.Uint64Var(p, f.name, *p, "")
		case *float64:
			fs.Float64Var(p, f.name, *p, "")
		default:
			panic(fmt.Sprintf("harness: child flag -%s of type %T", f.name, p))
		}
	}
	return fs.Parse(args)
}

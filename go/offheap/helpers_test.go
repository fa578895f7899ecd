package offheap

// helpers_test.go - what the tests share: panic checks (mustPanic) and
// buffer patterns (fill, checkFill).

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mustPanic runs f and checks that it panics with a *MisuseError whose message
// contains every one of want.
func mustPanic(t *testing.T, f func(), want ...string) {
	t.Helper()
	msg := panicMessage(t, f)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Fatalf("panic message %q does not contain %q", msg, w)
		}
	}
}

func panicMessage(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		var me *MisuseError
		err, isErr := r.(error)
		if !isErr || !errors.As(err, &me) {
			t.Fatalf("panic value %T (%v) is not a *MisuseError", r, r)
		}
		if !strings.HasPrefix(me.Error(), "offheap: ") {
			t.Fatalf("panic message %q does not start with \"offheap: \"", me.Error())
		}
		msg = me.Error()
	}()
	f()
	return ""
}

// mustPanicOOM checks that f panics with an error wrapping ErrOutOfMemory.
func mustPanicOOM(t *testing.T, f func(), want string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrOutOfMemory) {
			t.Fatalf("panic value %v (%T) does not wrap ErrOutOfMemory", r, r)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("panic message %q does not contain %q", err.Error(), want)
		}
	}()
	f()
}

// hex formats an address the way the messages do.
func hex(p uintptr) string { return fmt.Sprintf("%#x", p) }

// fill writes a pattern derived from seed into b; check verifies it.
func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = seed ^ byte(i*7+i>>8)
	}
}

// checkFill reports the first byte of b that does not hold fill's pattern.
func checkFill(b []byte, seed byte) error {
	for i := range b {
		if want := seed ^ byte(i*7+i>>8); b[i] != want {
			return fmt.Errorf("byte %d of a %d-byte buffer at %#x is %#x, want %#x: memory shared or corrupted", i, len(b), sliceAddr(b), b[i], want)
		}
	}
	return nil
}

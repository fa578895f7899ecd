package bindings

// errors.go is Err, the outcome of every core call as go/offheap sees it:
// OK or one of the errors of the C ABI (offheap.h, "Errors"), each the code
// that errcodes.h's ohg_code gives the errno of the failed call.

/*
#include "errcodes.h"
#cgo noescape ohg_code
#cgo nocallback ohg_code
*/
import "C"

import "fmt"

// Err is the outcome of a core call: OK, or the errno the core reported.
type Err int

// The errors of the C ABI (see offheap.h, "Errors").
const (
	OK        Err = C.OHG_OK
	ENOMEM    Err = C.OHG_ENOMEM    // the OS refused memory, or a pool reached its maximum
	EINVAL    Err = C.OHG_EINVAL    // bad argument, or a pointer the allocator never handed out
	EFAULT    Err = C.OHG_EFAULT    // an interior pointer
	EALREADY  Err = C.OHG_EALREADY  // already free: double free, refcount below zero
	EXDEV     Err = C.OHG_EXDEV     // the pointer belongs to another instance
	EBUSY     Err = C.OHG_EBUSY     // free of an allocation whose refcount is above one
	EOVERFLOW Err = C.OHG_EOVERFLOW // refcount would exceed RefcountMax
	EOTHER    Err = C.OHG_EOTHER    // any other errno
	errCount      = EOTHER + 1
)

var errNames = [errCount]string{"OK", "ENOMEM", "EINVAL", "EFAULT", "EALREADY", "EXDEV", "EBUSY", "EOVERFLOW", "errno"}

func (e Err) String() string {
	if e >= 0 && e < errCount {
		return errNames[e]
	}
	return fmt.Sprintf("Err(%d)", int(e))
}

// errnoCode maps a C errno value to its Err through ohg_code, the one map the
// binding uses, and cErrnos names the C library's values of the errnos the
// core reports. Both exist for TestErrnoCodes, which checks the Go side (the
// Err constants and their names) against the C side.
func errnoCode(errno int) Err { return Err(C.ohg_code(C.int(errno))) }

func cErrnos() map[string]int {
	return map[string]int{"ENOMEM": C.ENOMEM, "EINVAL": C.EINVAL, "EFAULT": C.EFAULT, "EALREADY": C.EALREADY,
		"EXDEV": C.EXDEV, "EBUSY": C.EBUSY, "EOVERFLOW": C.EOVERFLOW}
}

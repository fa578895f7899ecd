/* errcodes.h - the one map from the core's errno values to the binding's
 * error codes (the Err constants of errors.go), and the result structs that
 * carry a code back to Go from the same C call that failed (so that errno
 * cannot be lost to a goroutine moving to another thread).
 *
 * Every preamble of package bindings that reports a failure includes this
 * header: errno values differ between C libraries (glibc, musl, mingw), the
 * codes do not. TestErrnoCodes (bindings_test.go) checks that the Go and the
 * C views of the codes agree. Only static inline definitions live here: each
 * cgo preamble is compiled on its own. */
#ifndef OHG_ERRCODES_H
#define OHG_ERRCODES_H

#include <errno.h>

/* The codes; errors.go names them (Err) in the same order. */
enum {
	OHG_OK = 0,
	OHG_ENOMEM = 1,
	OHG_EINVAL = 2,
	OHG_EFAULT = 3,
	OHG_EALREADY = 4,
	OHG_EXDEV = 5,
	OHG_EBUSY = 6,
	OHG_EOVERFLOW = 7,
	OHG_EOTHER = 8,
};

/* ohg_code maps the errno of a failed call to its code: a failure is never
 * OHG_OK, so an errno of 0 (or one the core does not report) is OHG_EOTHER. */
static inline int ohg_code(int e) {
	switch (e) {
	case ENOMEM: return OHG_ENOMEM;
	case EINVAL: return OHG_EINVAL;
	case EFAULT: return OHG_EFAULT;
	case EALREADY: return OHG_EALREADY;
	case EXDEV: return OHG_EXDEV;
	case EBUSY: return OHG_EBUSY;
	case EOVERFLOW: return OHG_EOVERFLOW;
	default: return OHG_EOTHER;
	}
}

/* A pointer result: p, or NULL with the code of errno. */
typedef struct { void *p; int err; } ohg_ptr;

static inline ohg_ptr ohg_ptr_result(void *p) {
	ohg_ptr r;
	r.p = p;
	r.err = p != NULL ? OHG_OK : ohg_code(errno);
	return r;
}

/* The code of a call that returns 0 or -1 with errno. */
static inline int ohg_int_result(int r) { return r == 0 ? OHG_OK : ohg_code(errno); }

#endif

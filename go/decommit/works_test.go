package decommit

// works_test.go exists so that the tests of Slice's count know whether this
// platform really decommits (decommit_other.go does nothing and reports 0).

import "runtime"

var decommitWorks = map[string]bool{
	"linux": true, "android": true, "darwin": true, "ios": true, "freebsd": true,
	"netbsd": true, "dragonfly": true, "windows": true,
}[runtime.GOOS]

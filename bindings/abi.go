//go:build cgo

package bindings

// abi.go checks that an installed liboffheap speaks the ABI this package was
// written for (offheap_shared builds; link_shared.go calls it at init), and
// words the remedy when it does not.

import "fmt"

// checkABI returns a message when the linked library, the header it was
// compiled against and this package disagree on the ABI version, "" when they
// agree. Under offheap_shared, init panics with it.
func checkABI(linked, header int) string {
	if linked == ABIVersion && header == ABIVersion {
		return ""
	}
	return fmt.Sprintf("offheap: the installed liboffheap has ABI version %d (its offheap.h says %d), "+
		"but this Go package needs ABI version %d: install a matching liboffheap, "+
		"or build without -tags offheap_shared to use the bundled C sources", linked, header, ABIVersion)
}

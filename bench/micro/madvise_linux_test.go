package micro

import "syscall"

func init() {
	decommitImpls = append(decommitImpls, impl{name: "madvise", gs: one, setup: decommitBench(madviseDontneed)})
}

// madviseDontneed is the reference decommit: madvise(MADV_DONTNEED) over the
// whole pages inside buf, which is what CAFxX/decommit's Slice does on Linux
// (peers_test.go benchmarks that module itself when it can be fetched).
func madviseDontneed(buf []byte) {
	start := uintptrOf(buf)
	ps := uintptr(pageSize)
	astart := (start + ps - 1) &^ (ps - 1)
	aend := (start + uintptr(len(buf))) &^ (ps - 1)
	if astart >= aend {
		return
	}
	off := int(astart - start)
	if err := syscall.Madvise(buf[off:off+int(aend-astart)], syscall.MADV_DONTNEED); err != nil {
		panic(err)
	}
}

// Package micro holds offheap's Go micro-benchmarks; everything is in the
// _test.go files. Run them with `make bench-go`, or:
//
//	cd bench && go test -run '^$' -bench . -benchmem -count 6 ./micro/ | tee new.txt
//	benchstat -col /impl new.txt
//
// Every benchmark is named Benchmark<Op>/impl=<implementation>/size=<bytes>/g=<goroutines>
// so that benchstat can put implementations side by side. See bench/README.md.
package micro

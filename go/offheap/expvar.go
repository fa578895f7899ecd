package offheap

// expvar.go publishes offheap's figures where Go programs already look:
// expvar (/debug/vars) for ReadStats, and an HTTP handler for the heap
// profile in the manner of net/http/pprof's /debug/pprof/heap.

import (
	"expvar"
	"fmt"
	"net/http"
	"strconv"
)

// PublishExpvar publishes ReadStats under name through expvar: every read of
// the variable (an HTTP GET of /debug/vars, say) reports the current figures
// as a JSON object with Stats' field names. Like expvar.Publish it panics if
// name is already published.
func PublishExpvar(name string) {
	expvar.Publish(name, expvar.Func(func() any { return ReadStats() }))
}

// HeapProfileHandler returns an http.Handler that serves the off-heap heap
// profile (WriteHeapProfile), for go tool pprof to read:
//
//	http.Handle("/debug/offheap/heap", offheap.HeapProfileHandler())
//	go tool pprof http://localhost:6060/debug/offheap/heap
//
// With ?rate=N it first sets the sampling rate (SetProfileRate), as a
// one-off switch for a running server.
func HeapProfileHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.FormValue("rate"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				http.Error(w, fmt.Sprintf("offheap: rate=%q: want a number of bytes >= 0", v), http.StatusBadRequest)
				return
			}
			SetProfileRate(n)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="offheap-heap.pb.gz"`)
		if err := WriteHeapProfile(w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

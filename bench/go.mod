module github.com/offheap/offheap/bench

go 1.24.0

require (
	github.com/bytedance/gopkg v0.1.4
	github.com/dgraph-io/ristretto/v2 v2.4.2
	github.com/libp2p/go-buffer-pool v0.1.0
	github.com/offheap/offheap v0.0.0
	github.com/valyala/bytebufferpool v1.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/pprof v0.0.0-20250403155104-27863c87afa6 // indirect
	golang.org/x/sys v0.36.0 // indirect
)

replace github.com/offheap/offheap => ../

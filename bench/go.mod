module github.com/offheap/offheap/bench

go 1.24

require (
	github.com/libp2p/go-buffer-pool v0.1.0
	github.com/offheap/offheap v0.0.0
	github.com/valyala/bytebufferpool v1.0.0
)

require github.com/google/pprof v0.0.0-20250403155104-27863c87afa6 // indirect

replace github.com/offheap/offheap => ../

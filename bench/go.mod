module github.com/offheap/offheap/bench

go 1.24

require (
	github.com/libp2p/go-buffer-pool v0.1.0
	github.com/offheap/offheap v0.0.0
	github.com/valyala/bytebufferpool v1.0.0
)

replace github.com/offheap/offheap => ../

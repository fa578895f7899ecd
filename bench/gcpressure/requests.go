// requests.go is the request loop that runs beside the churn: small
// allocating requests, each timed, standing for the service that owns the
// buffers.
package main

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/offheap/offheap/bench/internal/latency"
)

// The request loop stands for the service that owns the buffers: a closed
// loop (the next request starts when the previous one ends) of small requests,
// each timed. A request allocates a little on the Go heap, as real handlers
// do, so it feels GC assists, write barriers and pauses:
//   - a request object (escapes: the session keeps its last request),
//   - hashes a 256-byte payload,
//   - looks its session up in a map and moves it to the front of an LRU list
//     (a few pointer writes); on a miss (about half the time) it allocates a
//     new session and evicts the least recently used one.

const (
	sessionCap  = 1 << 14 // sessions kept
	sessionKeys = 1 << 15 // key space: ~50 % of lookups miss
)

type session struct {
	key        uint64
	hits       uint64
	last       *request
	prev, next *session
}

type request struct {
	id   uint64
	key  uint64
	sum  uint64
	tags [2]string
	sess *session
}

type service struct {
	rng      *rand.Rand
	sessions map[uint64]*session
	head     *session // most recently used
	tail     *session // least recently used
	payload  [256]byte
	served   uint64
	sink     uint64
}

func newService(seed uint64) *service {
	s := &service{
		rng:      rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		sessions: make(map[uint64]*session, sessionCap),
	}
	for i := range s.payload {
		s.payload[i] = byte(s.rng.Uint32())
	}
	return s
}

var requestTags = [...]string{"get", "put", "list", "stat"}

// handle serves one request.
func (s *service) handle() {
	s.served++
	key := s.rng.Uint64() & (sessionKeys - 1)
	r := &request{id: s.served, key: key, tags: [2]string{requestTags[key&3], requestTags[s.served&3]}}
	// The payload changes per request, as a real body would.
	s.payload[0], s.payload[1], s.payload[2] = byte(key), byte(key>>8), byte(s.served)
	h := uint64(14695981039346656037) // FNV-1a
	for _, c := range &s.payload {
		h ^= uint64(c)
		h *= 1099511628211
	}
	r.sum = h

	sess := s.sessions[key]
	if sess == nil {
		sess = &session{key: key}
		s.sessions[key] = sess
		s.pushFront(sess)
		if len(s.sessions) > sessionCap {
			old := s.tail
			s.unlink(old)
			delete(s.sessions, old.key)
		}
	} else if sess != s.head {
		s.unlink(sess)
		s.pushFront(sess)
	}
	sess.hits++
	sess.last = r
	r.sess = sess
	s.sink ^= h + sess.hits
}

func (s *service) pushFront(x *session) {
	x.prev, x.next = nil, s.head
	if s.head != nil {
		s.head.prev = x
	}
	s.head = x
	if s.tail == nil {
		s.tail = x
	}
}

func (s *service) unlink(x *session) {
	if x.prev != nil {
		x.prev.next = x.next
	} else {
		s.head = x.next
	}
	if x.next != nil {
		x.next.prev = x.prev
	} else {
		s.tail = x.prev
	}
	x.prev, x.next = nil, nil
}

// requestLoop serves requests until stop is set, timing each one into hist
// (whole run) and win (rolling window for the chart). It closes ready when it
// is about to serve its first request, serves at least one, and closes done
// on exit.
//
// Each request is timed from the end of the previous one, so a stall between
// two requests (a stop-the-world pause, the goroutine descheduled) counts
// against the next, as it would for a request waiting in a server's queue.
func requestLoop(seed uint64, stop *atomic.Bool, hist *latency.Hist, win *latency.Windows, ready, done chan<- struct{}) {
	defer close(done)
	s := newService(seed)
	close(ready)
	start := time.Now()
	for {
		s.handle()
		end := time.Now()
		d := uint64(end.Sub(start))
		hist.Record(d)
		win.Record(d)
		start = end
		if stop.Load() {
			break
		}
	}
	sinkValue.Store(s.sink)
}

// sinkValue keeps the requests' results observable so no work is elided.
var sinkValue atomic.Uint64

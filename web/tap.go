package web

import (
	"sync"
	"sync/atomic"
	"time"
)

// tapQueue carries copies of the datagrams the agent sends to the web
// module's goroutine. put never waits for the reader: it appends the
// datagram to a pending buffer under a short lock; when the buffer is full
// the datagram is dropped and counted. Only the datagram that finds the
// buffer empty wakes the reader (ready); the reader collects the batch by
// swapping the pending buffer for its own spare, at once after a quiet
// spell, else once tapEvery has passed since the batch before, so a steady
// stream allocates nothing and wakes it at most once per tapEvery, and an
// idle agent never wakes it. (Waking the reader on each
// send cost the send path a futex wake-up per datagram: twice the agent's
// own cost per sample in BenchmarkTickTap. Collecting on a ticker woke an
// idle gwd ten times a second: some 10 ms of CPU a minute.)
type tapQueue struct {
	limit   int // bytes that may wait
	seen    atomic.Uint64
	dropped atomic.Uint64

	ready chan struct{} // signalled when pending stops being empty

	mu      sync.Mutex
	pending []byte // datagrams back to back
	sizes   []int  // their lengths
}

// tapBytes is how many bytes of datagrams may wait for decoding: some 370
// datagrams of 1400 bytes per tapEvery, 3700 a second, before drops.
const tapBytes = 512 << 10

// tapEvery is how long the reader lets datagrams gather after the first
// one before it collects them.
const tapEvery = 100 * time.Millisecond

func newTapQueue(limit int) *tapQueue {
	return &tapQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// put is the agent's tap (agent.Tap): it runs on the send path.
func (q *tapQueue) put(b []byte) {
	q.seen.Add(1)
	q.mu.Lock()
	if len(q.pending)+len(b) > q.limit {
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	first := len(q.sizes) == 0
	q.pending = append(q.pending, b...)
	q.sizes = append(q.sizes, len(b))
	q.mu.Unlock()
	if first {
		select {
		case q.ready <- struct{}{}:
		default: // already signalled
		}
	}
}

// take swaps the pending datagrams for the caller's emptied buffers and
// returns them.
func (q *tapQueue) take(buf []byte, sizes []int) ([]byte, []int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf, q.pending = q.pending, buf[:0]
	sizes, q.sizes = q.sizes, sizes[:0]
	return buf, sizes
}

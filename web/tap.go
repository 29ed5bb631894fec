package web

import "sync/atomic"

// tapQueue carries copies of the datagrams the agent sends to the web
// module's goroutine. put never blocks: when the queue is full the datagram
// is dropped and counted. Buffers go back to a free list after decoding, so
// a steady stream allocates nothing.
type tapQueue struct {
	ch      chan []byte
	free    chan []byte
	seen    atomic.Uint64
	dropped atomic.Uint64
}

// tapDepth is how many datagrams may wait for decoding.
const tapDepth = 256

func newTapQueue(n int) *tapQueue {
	return &tapQueue{ch: make(chan []byte, n), free: make(chan []byte, n)}
}

// put is the agent's tap (agent.Tap): it runs on the send path.
func (q *tapQueue) put(b []byte) {
	q.seen.Add(1)
	var buf []byte
	select {
	case buf = <-q.free:
	default:
	}
	select {
	case q.ch <- append(buf[:0], b...):
	default:
		q.dropped.Add(1)
	}
}

// recycle returns a decoded datagram's buffer to the free list.
func (q *tapQueue) recycle(b []byte) {
	select {
	case q.free <- b[:0]:
	default:
	}
}

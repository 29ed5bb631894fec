package agent

import "slices"

// tapFn is one function that sees every datagram sent.
type tapFn struct{ fn func([]byte) }

// Tap calls fn with every datagram the agent sends (counter samples and flow
// samples alike), right after it went to the collectors, until the returned
// func is called. fn runs on the send path with the agent's lock held: it
// must not block, must not call the agent, and must copy b (valid only
// during the call) if it keeps it. The web module hands each datagram to its
// own goroutine through a bounded channel and drops it when that is full.
func (a *Agent) Tap(fn func(b []byte)) (untap func()) {
	t := &tapFn{fn: fn}
	a.mu.Lock()
	a.taps = append(slices.Clip(a.taps), t)
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.taps = slices.DeleteFunc(slices.Clone(a.taps), func(x *tapFn) bool { return x == t })
	}
}

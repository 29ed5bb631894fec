package agent

import (
	"time"

	"gwd/sflow"
)

// FlowDelay is the longest a flow sample waits for others to share its
// datagram.
const FlowDelay = 100 * time.Millisecond

// flowState is the agent's queue of flow samples waiting to be sent.
type flowState struct {
	seq     seqBook // flow sample sequence per data source, for the life of the process
	pending []byte  // encoded samples
	n       int     // samples in pending
	timer   *time.Timer
	out     []byte // datagram scratch
	spill   []byte // a sample moved aside while the queue is flushed
	dropped uint64 // samples dropped while there was no agent address
}

// SubmitFlow queues a flow or discard sample for data source ds. The agent
// sets the sample's source id and its sequence number (one sequence per data
// source, apart from the counter samples' one, kept whether or not ds is
// registered: see seqbook.go) and sends it within FlowDelay,
// or at once when its datagram is full. Flow and discard samples pass through the flow
// enrichers first (see AddFlowEnricher), which may append records to s.
// s is encoded before SubmitFlow returns, so the caller may reuse it.
// Without an agent address the sample is dropped and counted.
func (a *Agent) SubmitFlow(ds DataSource, s *sflow.Sample) error {
	if s.Tag == sflow.SampleFlow || s.Tag == sflow.SampleFlowExpanded || s.Tag == sflow.SampleDiscard {
		a.enrichFlow(ds, s)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := &a.flow
	if !a.address.Addr.IsValid() {
		f.dropped++
		return nil
	}
	seq := f.seq.get(ds) + 1
	s.SequenceNumber = seq
	s.SourceIDType, s.SourceIDIndex = ds.Type, ds.Index
	switch s.Tag {
	case sflow.SampleFlow, sflow.SampleFlowExpanded:
		s.Tag = sflow.SampleFlow
		if ds.Type > 0xff || ds.Index > 0xffffff || s.Input.Value > 0x3fffffff || s.Output.Value > 0x3fffffff || s.Input.Format > 3 || s.Output.Format > 3 {
			s.Tag = sflow.SampleFlowExpanded
		}
	}
	start := len(f.pending)
	b, err := sflow.AppendSample(f.pending, s)
	if err != nil {
		return err
	}
	f.pending = b
	hdr := a.headerLenLocked()
	if f.n > 0 && hdr+len(f.pending) > a.cfg.DatagramBytes {
		// The new sample does not fit: send the others, keep it queued.
		f.spill = append(f.spill[:0], f.pending[start:]...)
		f.pending = f.pending[:start]
		a.flushFlowsLocked()
		f.pending = append(f.pending[:0], f.spill...)
	}
	f.seq.put(ds, seq)
	f.n++
	if hdr+len(f.pending) >= a.cfg.DatagramBytes {
		a.flushFlowsLocked()
		return nil
	}
	if f.n == 1 {
		if f.timer == nil {
			f.timer = time.AfterFunc(FlowDelay, a.flushFlows)
		} else {
			f.timer.Reset(FlowDelay)
		}
	}
	return nil
}

func (a *Agent) flushFlows() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushFlowsLocked()
}

// flushFlowsLocked sends the queued flow samples as one datagram.
func (a *Agent) flushFlowsLocked() {
	f := &a.flow
	if f.n == 0 {
		return
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	f.out = a.emitLocked(f.out, f.n, f.pending)
	f.pending = f.pending[:0]
	f.n = 0
}

// FlowsDropped is how many flow samples were dropped for want of an agent
// address.
func (a *Agent) FlowsDropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flow.dropped
}

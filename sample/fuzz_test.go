package sample

import (
	"testing"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/genetlink"
)

// FuzzPsample feeds arbitrary attribute bytes to the psample decoder and
// reader: no panic, and a message that decodes becomes a sample that
// encodes.
func FuzzPsample(f *testing.F) {
	f.Add(psampleMessage(f, psampleAttrs{in: 7, out: 9, group: 1, seq: 10, rate: 1000, withExtras: true}).Data)
	f.Add(psampleMessage(f, psampleAttrs{out: 9, group: 1, seq: 1, rate: 1}).Data)
	f.Add([]byte{4, 0, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fa := &fakeAgent{}
		r := newPsampleReader(PsampleOptions{Group: 1, Ingress: true, Egress: true}, 128, fa)
		_ = r.handle(genetlink.Message{Header: genetlink.Header{Command: psampleCmdSample}, Data: b})
	})
}

// FuzzDropmon does the same for NET_DM packet alerts.
func FuzzDropmon(f *testing.F) {
	f.Add(dropMessage(f, dropAttrs{symbol: "tcp_v4_rcv+0x7b", reason: "NO_SOCKET", in: 3, payload: ethFrame[14:], timestamp: 1}).Data)
	f.Add(dropMessage(f, dropAttrs{hardware: true, group: "l3_drops", trap: "blackhole_route", in: 5, payload: ethFrame}).Data)
	f.Add([]byte{8, 0, 4, 0, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fa := &fakeAgent{}
		o := dropOptions()
		o.HWUnknown = true
		r := newDropReader(o, nil, 128, fa)
		_ = r.handle(genetlink.Message{Header: genetlink.Header{Command: dmCmdPacketAlert}, Data: b})
	})
}

// FuzzNFLOG feeds arbitrary NFLOG attributes (payload, MAC header,
// interfaces) to the sampler.
func FuzzNFLOG(f *testing.F) {
	f.Add(ethFrame[14:], ethFrame[:14], uint32(4), uint32(0), true)
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 58, 64}, []byte{}, uint32(0), uint32(9), false)
	f.Add([]byte{0x45}, []byte{1, 2}, uint32(1), uint32(1), true)
	f.Fuzz(func(t *testing.T, payload, hw []byte, in, out uint32, withHW bool) {
		fa := &fakeAgent{}
		s := newNFLOGSampler(NFLOGConfig{Probability: 1, Rate: 1, HeaderBytes: 128}, nil)
		a := nflog.Attribute{Payload: &payload}
		if in != 0 {
			a.InDev = &in
		}
		if out != 0 {
			a.OutDev = &out
		}
		if withHW {
			a.HwHeader = &hw
		}
		if err := s.handle(&a, fa); err == nil && len(fa.samples) != 1 {
			t.Fatalf("no error and %d samples", len(fa.samples))
		}
	})
}

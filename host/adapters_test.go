package host

import (
	"net"
	"testing"

	"gwd/sflow"
)

// TestAdaptersBounded: with thousands of selected interfaces host_adapters
// lists at most MaxAdapters, lowest ifIndex first, skipping the down ones,
// switch ports, virtual links and interfaces without a MAC; the record
// stays far below a datagram.
func TestAdaptersBounded(t *testing.T) {
	s := &snapshot{}
	for i := range 5000 {
		inf := Interface{Name: "eth", IfIndex: uint32(5000 - i), Kind: kindPhysical, Up: true,
			MAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}}
		switch i % 5 {
		case 1:
			inf.Up = false
		case 2:
			inf.Kind = kindSwitchPort
		case 3:
			inf.Kind = kindVirtual
		case 4:
			inf.MAC = nil
		}
		s.infos = append(s.infos, inf)
	}
	// infos are sorted by ifIndex in a real scan
	for i, j := 0, len(s.infos)-1; i < j; i, j = i+1, j-1 {
		s.infos[i], s.infos[j] = s.infos[j], s.infos[i]
	}
	p := &hostPoller{}
	if err := p.pollAdapters(s); err != nil {
		t.Fatal(err)
	}
	ads := p.adapters.Adapters
	if len(ads) != MaxAdapters {
		t.Fatalf("%d adapters, want %d", len(ads), MaxAdapters)
	}
	for k, ad := range ads {
		// the kept ones are those with i%5 == 0: ifIndex 5000-i, ascending
		if want := uint32(5 + 5*k); ad.IfIndex != want || len(ad.MACs) != 1 {
			t.Fatalf("adapter %d = ifIndex %d with %d MACs, want ifIndex %d with one", k, ad.IfIndex, len(ad.MACs), want)
		}
	}
	b, err := sflow.AppendSample(nil, &sflow.Sample{Tag: sflow.SampleCountersExpanded, Records: []sflow.Record{&p.adapters}})
	if err != nil || len(b) > 600 {
		t.Errorf("host_adapters sample of %d bytes (%v)", len(b), err)
	}
}

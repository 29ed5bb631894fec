package host

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

const unk = unknownCounter

func TestInterfacesFixture(t *testing.T) {
	h, _, _ := newTestHost(t, rootConfig(t, fixture))
	want := []Interface{
		{Name: "eth0", IfIndex: 2, MAC: []byte{0x3c, 0xfd, 0xfe, 0x9e, 0x7a, 0x10}, Kind: "physical", Type: 1, Speed: 10_000_000_000, Up: true},
		{Name: "eth1", IfIndex: 3, MAC: []byte{0x3c, 0xfd, 0xfe, 0x9e, 0x7a, 0x11}, Kind: "physical", Type: 1},
		{Name: "swp1", IfIndex: 5, MAC: []byte{0x0c, 0x42, 0xa1, 0xd6, 0xf3, 0xe1}, Kind: "switchport", Type: 1, Speed: 25_000_000_000, Up: true},
		{Name: "bond0", IfIndex: 6, MAC: []byte{0x3c, 0xfd, 0xfe, 0x9e, 0x7a, 0x10}, Kind: "bond", Type: 1, Speed: 20_000_000_000, Up: true},
		{Name: "ib0", IfIndex: 7, Kind: "physical", Type: 32, Speed: 100_000_000_000, Up: true},
	}
	// lo (loopback), veth1a2b3c, br0 and tun0 (virtual) are left out.
	if diff := cmp.Diff(want, h.Interfaces(), cmpopts.IgnoreUnexported(Interface{})); diff != "" {
		t.Errorf("Interfaces (-want +got):\n%s", diff)
	}
}

func TestInterfacePollFixture(t *testing.T) {
	h, _, _ := newTestHost(t, rootConfig(t, fixture))
	zeroEth := &sflow.EthernetCounters{
		SingleCollisionFrames: unk, MultipleCollisionFrames: unk, DeferredTransmissions: unk, SymbolErrors: unk,
	}
	tests := []struct {
		name    string
		ifIndex uint32
		want    []sflow.Record
	}{
		{
			name: "eth0 physical 10G up", ifIndex: 2,
			want: []sflow.Record{
				&sflow.IfCounters{
					IfIndex: 2, IfType: 6, IfSpeed: 10_000_000_000, IfDirection: 1, IfStatus: 3,
					InOctets: 6012345678901, InUcastPkts: lo32(5000000000 - 123456), InMulticastPkts: 123456,
					InBroadcastPkts: unk, InDiscards: 17, InErrors: 3, InUnknownProtos: 42,
					OutOctets: 987654321098, OutUcastPkts: 1234567890, OutMulticastPkts: unk, OutBroadcastPkts: unk,
					OutDiscards: 0, OutErrors: 1, PromiscuousMode: 0,
				},
				&sflow.EthernetCounters{
					AlignmentErrors: 1, FCSErrors: 2, SingleCollisionFrames: unk, MultipleCollisionFrames: unk,
					DeferredTransmissions: unk, FrameTooLongs: 4, InternalMacReceiveErrors: 5 + 6, SymbolErrors: unk,
				},
				&sflow.PortName{Name: []byte("eth0")},
			},
		},
		{
			name: "eth1 admin and oper down, speed -1, multicast > packets", ifIndex: 3,
			want: []sflow.Record{
				&sflow.IfCounters{
					IfIndex: 3, IfType: 6, IfSpeed: 0, IfDirection: 0, IfStatus: 0,
					InOctets: 1000, InUcastPkts: 0, InMulticastPkts: 20, InBroadcastPkts: unk,
					OutOctets: 2000, OutUcastPkts: 20, OutMulticastPkts: unk, OutBroadcastPkts: unk,
				},
				zeroEth,
				&sflow.PortName{Name: []byte("eth1")},
			},
		},
		{
			name: "swp1 switch port, promiscuous, older kernel files", ifIndex: 5,
			want: []sflow.Record{
				&sflow.IfCounters{
					IfIndex: 5, IfType: 6, IfSpeed: 25_000_000_000, IfDirection: 1, IfStatus: 3,
					InOctets: 123456789012, InUcastPkts: 98765432 - 5432, InMulticastPkts: 5432, InBroadcastPkts: unk,
					InDiscards: 11, InErrors: 12, InUnknownProtos: unk, // no rx_nohandler
					OutOctets: 210987654321, OutUcastPkts: 87654321, OutMulticastPkts: unk, OutBroadcastPkts: unk,
					OutDiscards: 13, OutErrors: 14, PromiscuousMode: 1,
				},
				&sflow.EthernetCounters{
					AlignmentErrors: 21, FCSErrors: 22, SingleCollisionFrames: unk, MultipleCollisionFrames: unk,
					SQETestErrors:         unk, // no tx_heartbeat_errors
					DeferredTransmissions: unk, LateCollisions: 23, ExcessiveCollisions: 24,
					InternalMacTransmitErrors: 25, CarrierSenseErrors: 26, FrameTooLongs: 27,
					InternalMacReceiveErrors: 28, // rx_fifo_errors only: no rx_over_errors
					SymbolErrors:             unk,
				},
				&sflow.PortName{Name: []byte("swp1")},
			},
		},
		{
			name: "bond0", ifIndex: 6,
			want: []sflow.Record{
				&sflow.IfCounters{
					IfIndex: 6, IfType: 6, IfSpeed: 20_000_000_000, IfDirection: 1, IfStatus: 3,
					InOctets: 6012345679901, InUcastPkts: lo32(5000000010 - 123476), InMulticastPkts: 123476,
					InBroadcastPkts: unk, InDiscards: 17, InErrors: 3, InUnknownProtos: 42,
					OutOctets: 987654323098, OutUcastPkts: 1234567910, OutMulticastPkts: unk, OutBroadcastPkts: unk,
					OutErrors: 1,
				},
				zeroEth,
				&sflow.PortName{Name: []byte("bond0")},
			},
		},
		{
			name: "ib0 infiniband: no ethernet_counters", ifIndex: 7,
			want: []sflow.Record{
				&sflow.IfCounters{
					IfIndex: 7, IfType: 199, IfSpeed: 100_000_000_000, IfDirection: 1, IfStatus: 3,
					InOctets: 555555555555, InUcastPkts: 4444444, InMulticastPkts: 0, InBroadcastPkts: unk,
					InDiscards: 1, InUnknownProtos: 0,
					OutOctets: 333333333333, OutUcastPkts: 2222222, OutMulticastPkts: unk, OutBroadcastPkts: unk,
					OutDiscards: 2,
				},
				&sflow.PortName{Name: []byte("ib0")},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := h.pollerFor(t, tc.ifIndex)
			got, err := p.Poll(nil)
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if _, err := sflow.AppendSample(nil, &sflow.Sample{Tag: sflow.SampleCounters, SourceIDIndex: tc.ifIndex, Records: got}); err != nil {
				t.Errorf("encode: %v", err)
			}
		})
	}
}

func TestInterfacePollSFP(t *testing.T) {
	h, _, ee := newTestHost(t, rootConfig(t, fixture))
	ee.data["swp1"] = sff8636Fixture(true)
	got, err := h.pollerFor(t, 5).Poll(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []sflow.Tag{sflow.TagIfCounters, sflow.TagEthernetCounters, sflow.TagPortName, sflow.TagSFP}
	if diff := cmp.Diff(wantTags, tags(got)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sff8636Want(5, true), got[3]); diff != "" {
		t.Errorf("sfp (-want +got):\n%s", diff)
	}
	// eth0 has no module: no sfp record, no error, and no retry on every poll.
	p := h.pollerFor(t, 2)
	for range 3 {
		got, err := p.Poll(nil)
		if err != nil || find(got, sflow.TagSFP) != nil {
			t.Fatalf("eth0: %v, %v", tags(got), err)
		}
	}
	ee.mu.Lock()
	calls := ee.calls
	ee.mu.Unlock()
	if calls != 2 { // swp1 once, eth0 once then backing off
		t.Errorf("%d EEPROM reads, want 2", calls)
	}
}

func TestInterfaceAppearDisappear(t *testing.T) {
	root := copyRoot(t, fixture)
	h, _, _ := newTestHost(t, rootConfig(t, root))
	reg := fakeagent.New()
	h.rescan(reg)
	want := []string{"+host 0:2", "+host 0:3", "+host 0:5", "+host 0:6", "+host 0:7"}
	if diff := cmp.Diff(want, reg.TakeEvents()); diff != "" {
		t.Errorf("first scan (-want +got):\n%s", diff)
	}
	eth0 := reg.Poller(agentIf(2))

	// A new NIC appears, eth1 is unplugged.
	newIf := filepath.Join(root, "sys/class/net/eth2")
	for name, v := range map[string]string{
		"ifindex": "11", "type": "1", "flags": "0x1003", "operstate": "up", "speed": "1000", "duplex": "full",
		"address": "3c:fd:fe:9e:7a:13", "device/vendor": "0x8086",
		"statistics/rx_bytes": "1", "statistics/rx_packets": "1", "statistics/multicast": "0",
		"statistics/rx_dropped": "0", "statistics/rx_errors": "0", "statistics/tx_bytes": "1",
		"statistics/tx_packets": "1", "statistics/tx_dropped": "0", "statistics/tx_errors": "0",
	} {
		writeFile(t, filepath.Join(newIf, name), v+"\n")
	}
	if err := os.RemoveAll(filepath.Join(root, "sys/class/net/eth1")); err != nil {
		t.Fatal(err)
	}
	h.rescan(reg)
	if diff := cmp.Diff([]string{"+host 0:11", "-host 0:3"}, reg.TakeEvents()); diff != "" {
		t.Errorf("second scan (-want +got):\n%s", diff)
	}
	if reg.Poller(agentIf(2)) != eth0 {
		t.Error("eth0's poller was replaced although eth0 did not change")
	}
	// Nothing changes: nothing happens.
	h.rescan(reg)
	if ev := reg.TakeEvents(); len(ev) != 0 {
		t.Errorf("idle rescan: %v", ev)
	}
	// eth0 is deleted and a new device takes its name with another
	// ifIndex: the old data source goes, the new one comes.
	writeFile(t, filepath.Join(root, "sys/class/net/eth0/ifindex"), "12\n")
	h.rescan(reg)
	if diff := cmp.Diff([]string{"+host 0:12", "-host 0:2"}, reg.TakeEvents()); diff != "" {
		t.Errorf("re-created eth0 (-want +got):\n%s", diff)
	}
}

func TestInterfaceGone(t *testing.T) {
	root := copyRoot(t, fixture)
	h, _, _ := newTestHost(t, rootConfig(t, root))
	p := h.pollerFor(t, 3)
	if err := os.RemoveAll(filepath.Join(root, "sys/class/net/eth1")); err != nil {
		t.Fatal(err)
	}
	got, err := p.Poll(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Poll of a vanished interface = %v, %v; want nothing", tags(got), err)
	}
	select {
	case <-h.kick:
	default:
		t.Error("no rescan requested")
	}
	// The host totals skip it too (and still succeed).
	if _, err := h.hostPoller.Poll(nil); err != nil {
		t.Errorf("host poll: %v", err)
	}
}

func TestInterfaceStatUnreadable(t *testing.T) {
	root := copyRoot(t, fixture)
	h, _, _ := newTestHost(t, rootConfig(t, root))
	path := filepath.Join(root, "sys/class/net/eth0/statistics/tx_errors")
	writeFile(t, path, "garbage\n")
	got, err := h.pollerFor(t, 2).Poll(nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "if_counters eth0") {
		t.Errorf("error = %v, want one naming %s", err, path)
	}
	// The other records still come.
	if diff := cmp.Diff([]sflow.Tag{sflow.TagEthernetCounters, sflow.TagPortName}, tags(got)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	os.Remove(path)
	_, err = h.pollerFor(t, 2).Poll(nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v is not fs.ErrNotExist", err)
	}
}

func TestOperStateUnknownWithCarrier(t *testing.T) {
	root := copyRoot(t, fixture)
	writeFile(t, filepath.Join(root, "sys/class/net/eth0/operstate"), "unknown\n")
	h, _, _ := newTestHost(t, rootConfig(t, root))
	p := h.pollerFor(t, 2)
	got, _ := p.Poll(nil)
	if s := got[0].(*sflow.IfCounters).IfStatus; s != 3 {
		t.Errorf("ifStatus with operstate unknown and carrier 1 = %d, want 3", s)
	}
	writeFile(t, filepath.Join(root, "sys/class/net/eth0/carrier"), "0\n")
	h.rescan(nil) // the link event a carrier change makes
	got, _ = p.Poll(nil)
	if s := got[0].(*sflow.IfCounters).IfStatus; s != 1 {
		t.Errorf("ifStatus with operstate unknown and carrier 0 = %d, want 1", s)
	}
}

// A software link the user selected (a veth) sends if_counters and its name,
// not ethernet counters: the kernel counts no physical-layer errors on it.
// A physical Ethernet link keeps them.
func TestVirtualLinkNoEthernetCounters(t *testing.T) {
	cfg := rootConfig(t, fixture)
	cfg.Include = regexp.MustCompile(`^(veth1a2b3c|eth0)$`)
	h, _, _ := newTestHost(t, cfg)
	var veth, eth0 uint32
	for _, inf := range h.Interfaces() {
		switch inf.Name {
		case "veth1a2b3c":
			veth = inf.IfIndex
			if inf.Kind != kindVirtual {
				t.Fatalf("veth1a2b3c is %q, want %q", inf.Kind, kindVirtual)
			}
		case "eth0":
			eth0 = inf.IfIndex
		}
	}
	if veth == 0 || eth0 == 0 {
		t.Fatalf("selected interfaces %v: want veth1a2b3c and eth0", h.Interfaces())
	}
	got, err := h.pollerFor(t, veth).Poll(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]sflow.Tag{sflow.TagIfCounters, sflow.TagPortName}, tags(got)); diff != "" {
		t.Errorf("veth records (-want +got):\n%s", diff)
	}
	got, err = h.pollerFor(t, eth0).Poll(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]sflow.Tag{sflow.TagIfCounters, sflow.TagEthernetCounters, sflow.TagPortName}, tags(got)); diff != "" {
		t.Errorf("eth0 records (-want +got):\n%s", diff)
	}
}

package sample

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"

	"gwd/agent"
	"gwd/sflow"
)

type dropAttrs struct {
	symbol, reason string
	group, trap    string
	in             uint32
	hardware       bool
	payload        []byte
	timestamp      uint64
}

func dropMessage(t testing.TB, a dropAttrs) genetlink.Message {
	return genetlink.Message{Header: genetlink.Header{Command: dmCmdPacketAlert, Version: 2},
		Data: encode(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint64(dmAttrPC, 0xffffffff81000000)
			if a.symbol != "" {
				ae.String(dmAttrSymbol, a.symbol)
			}
			if a.in != 0 {
				ae.Nested(dmAttrInPort, func(nae *netlink.AttributeEncoder) error {
					nae.Uint32(dmAttrPortIfIdx, a.in)
					nae.String(1, "eth0")
					return nil
				})
			}
			if a.timestamp != 0 {
				ae.Uint64(dmAttrTimestamp, a.timestamp)
			}
			ae.Uint16(dmAttrProto, 0x0800)
			if a.payload != nil {
				ae.Bytes(dmAttrPayload, a.payload)
				ae.Uint32(dmAttrOrigLen, uint32(len(a.payload)))
			}
			if a.hardware {
				ae.Uint16(dmAttrOrigin, dmOriginHardware)
				ae.String(dmAttrTrapGroup, a.group)
				ae.String(dmAttrTrapName, a.trap)
			} else {
				ae.Uint16(dmAttrOrigin, 0)
			}
			if a.reason != "" {
				ae.String(dmAttrReason, a.reason)
			}
		})}
}

func dropOptions() DropmonOptions {
	return DropmonOptions{Start: true, SW: true, HW: true, RN: true, Limit: 100}
}

// TestDropmonToCollector: packet alerts become 0:5 discard samples with
// the sFlow reason and the function / Linux reason / hardware trap /
// timestamp records; control traps and hidden drop points are left out.
func TestDropmonToCollector(t *testing.T) {
	ag, col := testAgent(t)
	ip := ethFrame[14:]
	msgs := []genetlink.Message{
		dropMessage(t, dropAttrs{symbol: "tcp_v4_rcv+0x7b/0xd90", reason: "NO_SOCKET", in: 3, payload: ip, timestamp: 1_700_000_000_000_000_001}),
		dropMessage(t, dropAttrs{symbol: "udp_queue_rcv_one_skb+0x1a", reason: "NOT_SPECIFIED", in: 3, payload: ip}),
		dropMessage(t, dropAttrs{hardware: true, group: "l3_drops", trap: "blackhole_route", in: 5, payload: ethFrame}),
		dropMessage(t, dropAttrs{hardware: true, group: "stp", trap: "stp", in: 5, payload: ethFrame}),                    // control: not a drop
		dropMessage(t, dropAttrs{symbol: "skb_queue_purge+0x10", payload: ip}),                                            // teardown: not a drop
		dropMessage(t, dropAttrs{symbol: "hidden_fn+0x1", payload: ip}),                                                   // hidden
		dropMessage(t, dropAttrs{hardware: true, group: "vendor_group", trap: "some_new_trap", in: 5, payload: ethFrame}), // unknown trap, hw_unknown off
	}
	g := genlTestConn(t, dropmonFamily, dropmonMcastGroup, msgs)
	r := newDropReader(dropOptions(), regexp.MustCompile("^hidden"), 128, ag)
	if _, err := g.receiveOnce(r.handle, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	got := collect(t, col, 3, 5*time.Second)
	if len(got) != 3 {
		t.Fatalf("%d samples, want 3", len(got))
	}
	type summary struct {
		Tag    sflow.Tag
		Source uint32
		Input  uint32
		Reason uint32
		Recs   []sflow.Tag
		Proto  uint32
	}
	var sums []summary
	for _, s := range got {
		sums = append(sums, summary{s.Tag, s.SourceIDIndex, s.Input.Value, s.Reason, s.recs, s.header.Protocol})
	}
	want := []summary{
		{sflow.SampleDiscard, 3, 3, reasonPortUnreachable, []sflow.Tag{sflow.TagSampledHeader, sflow.TagExtendedFunction, sflow.TagExtendedLinuxDropReason, sflow.TagExtendedTimestamp}, protoIPv4},
		{sflow.SampleDiscard, 3, 3, reasonUnknownL4, []sflow.Tag{sflow.TagSampledHeader, sflow.TagExtendedFunction, sflow.TagExtendedLinuxDropReason}, protoIPv4},
		{sflow.SampleDiscard, 5, 5, reasonBlackholeRoute, []sflow.Tag{sflow.TagSampledHeader, sflow.TagExtendedHWTrap}, protoEthernet},
	}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDropmonRateLimit: beyond limit events a second, events are counted
// in the next sample's drops.
func TestDropmonRateLimit(t *testing.T) {
	f := &fakeAgent{}
	o := dropOptions()
	o.Limit = 3
	r := newDropReader(o, nil, 128, f)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	m := dropMessage(t, dropAttrs{symbol: "ip_rcv_finish+0x1", payload: ethFrame[14:]})
	for i := 0; i < 10; i++ {
		if err := r.handle(m); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Second)
	if err := r.handle(m); err != nil {
		t.Fatal(err)
	}
	if len(f.samples) != 4 {
		t.Fatalf("%d samples, want 3 + 1", len(f.samples))
	}
	if d := f.samples[3].Drops; d != 7 {
		t.Errorf("drops %d, want 7", d)
	}
	if f.samples[0].Reason != reasonUnknownL3 || f.ds[0] != agent.HostSource {
		t.Errorf("reason %d source %v", f.samples[0].Reason, f.ds[0])
	}
}

// TestDropmonStartStop: starting asks for packet alerts, then starts
// software and hardware monitoring; stopping stops both.
func TestDropmonStartStop(t *testing.T) {
	var cmds []uint8
	var flags [][]uint16
	fam := genetlink.Family{ID: 0x22, Name: dropmonFamily, Version: 2, Groups: []genetlink.MulticastGroup{{ID: 3, Name: dropmonMcastGroup}}}
	c := genltest.Dial(genltest.ServeFamily(fam, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Type != 0x22 {
			t.Errorf("request to family %d", nreq.Header.Type)
		}
		cmds = append(cmds, greq.Header.Command)
		ad, _ := netlink.NewAttributeDecoder(greq.Data)
		var f []uint16
		for ad.Next() {
			f = append(f, ad.Type())
			if ad.Type() == dmAttrAlertMode && ad.Uint8() != dmAlertModePkt {
				t.Errorf("alert mode %d", ad.Uint8())
			}
		}
		flags = append(flags, f)
		return []genetlink.Message{{}}, nil
	}))
	defer c.Close()
	g, err := attachGenl(c, dropmonFamily, dropmonMcastGroup, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.dropmonStart(true, false, true); err != nil {
		t.Fatal(err)
	}
	if err := g.dropmonStop(); err != nil {
		t.Fatal(err)
	}
	want := []uint8{dmCmdConfig, dmCmdStart, dmCmdStop}
	wantFlags := [][]uint16{{dmAttrAlertMode}, {dmAttrSWDrops}, {dmAttrSWDrops, dmAttrHWDrops}}
	if diff := cmp.Diff(want, cmds); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantFlags, flags); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
}

// TestDropReasons checks the mapping rules.
func TestDropReasons(t *testing.T) {
	for _, c := range []struct {
		reason, symbol string
		rn             bool
		want           int
	}{
		{"NO_SOCKET", "tcp_v4_rcv+0x1", true, reasonPortUnreachable},
		{"NO_SOCKET", "tcp_v4_rcv+0x1", false, reasonUnknownL4},
		{"NETFILTER_DROP", "nf_hook_slow", true, reasonACL},
		{"NOT_SPECIFIED", "br_handle_frame+0x2", true, reasonUnknownL2},
		{"", "icmp_rcv", true, reasonUnknownL3},
		{"", "sk_stream_kill_queues+0x4", true, reasonIgnore},
		{"SOME_FUTURE_REASON", "kfree_skb_list", true, reasonUnknown},
	} {
		if got := softwareReason(c.reason, c.symbol, c.rn); got != c.want {
			t.Errorf("%s %s rn=%v: %d, want %d", c.reason, c.symbol, c.rn, got, c.want)
		}
	}
	for _, c := range []struct {
		group, trap string
		want        int
		ok          bool
	}{
		{"l3_drops", "ipv4_lpm_miss", reasonDstNetUnknown, true},
		{"l2_drops", "new_trap", reasonUnknownL2, true},
		{"lldp", "lldp", reasonIgnore, true},
		{"vendor", "vendor_trap", reasonUnknown, false},
	} {
		if got, ok := hardwareReason(c.group, c.trap); got != c.want || ok != c.ok {
			t.Errorf("%s/%s: %d %v, want %d %v", c.group, c.trap, got, ok, c.want, c.ok)
		}
	}
}

package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"gwd/internal/testutil"
	"gwd/sflow"
)

const hsflowdCapture = "hsflowd-2.1.25-hostcounters-poll5.pcap"

func TestDecodeFileText(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"decode", "-r", testutil.Capture(t, hsflowdCapture)}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d, stderr %q", rc, errb.String())
	}
	s := out.String()
	for _, want := range []string{"agent 192.0.2.2\n", "sampleType_tag 0:4\n", "counterBlock_tag 0:2003\n", "cpu_load_one 1.980\n", "endDatagram   ="} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(s, "startDatagram"); n < 11 {
		t.Errorf("%d datagrams printed, want at least 11", n)
	}
}

func TestDecodeFileJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"decode", "-r", testutil.Capture(t, hsflowdCapture), "--format", "json"}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d, stderr %q", rc, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 11 || !strings.Contains(lines[0], `"name":"host_cpu"`) {
		t.Fatalf("unexpected JSON output (%d lines): %.300s", len(lines), out.String())
	}
}

func TestDecodeUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"decode"}, {"decode", "-r", "x", "-p", "1"}, {"decode", "-r", "x", "--format", "xml"}, {"nope"}} {
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no message on stderr", args)
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"decode", "-r", "/nonexistent.pcap"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "nonexistent") {
		t.Errorf("missing file: exit %d, stderr %q", rc, errb.String())
	}
}

// TestDecodeListen sends a good and a bad datagram to `gwd decode -p` on a
// loopback port: the good one is printed, the bad one gives one stderr line.
func TestDecodeListen(t *testing.T) {
	port := testutil.FreeUDPPort(t, "127.0.0.1")

	good, err := sflow.AppendDatagram(nil, &sflow.Datagram{
		AgentAddress: netip.MustParseAddr("192.0.2.9"), SequenceNumber: 42,
		Samples: []sflow.Sample{{Tag: sflow.SampleCounters, SequenceNumber: 1, SourceIDType: 0, SourceIDIndex: 3,
			Records: []sflow.Record{&sflow.PortName{Name: []byte("eth0")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good[:len(good)-6]...)

	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run([]string{"decode", "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-c", "2"}, &out, &errb)
	}()
	conn, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The listener may not be up yet: resend the bad datagram, then the good
	// one, until the command has read two (bounded).
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	sentBad := false
	for {
		select {
		case rc := <-done:
			if rc != 0 {
				t.Fatalf("exit %d, stderr %q", rc, errb.String())
			}
			if !strings.Contains(out.String(), "ifName eth0\n") || !strings.Contains(out.String(), "agent 192.0.2.9\n") {
				t.Errorf("good datagram not printed:\n%s", out.String())
			}
			if !strings.Contains(errb.String(), "datagram from 127.0.0.1") {
				t.Errorf("bad datagram gave no error line: %q", errb.String())
			}
			return
		case <-deadline:
			t.Fatal("gwd decode -p did not read two datagrams in 10s")
		case <-tick.C:
			if !sentBad {
				conn.Write(bad)
				sentBad = true
			} else {
				conn.Write(good)
			}
		}
	}
}

// TestDecodeFileBadDatagram: a capture with a broken datagram and a
// non-UDP packet between good ones: each good one is printed, the bad one
// gives one line on stderr, the other packet is counted, exit status 0.
func TestDecodeFileBadDatagram(t *testing.T) {
	good, err := sflow.AppendDatagram(nil, &sflow.Datagram{AgentAddress: netip.MustParseAddr("192.0.2.9"), SequenceNumber: 1,
		Samples: []sflow.Sample{{Tag: sflow.SampleCounters, SourceIDIndex: 3, Records: []sflow.Record{&sflow.PortName{Name: []byte("eth0")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good[:len(good)-6]...)
	path := filepath.Join(t.TempDir(), "mixed.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	for _, pkt := range [][]byte{udp4(good), udp4(bad), tcp4(), udp4(good)} {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(pkt), Length: len(pkt)}, pkt); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	var out, errb bytes.Buffer
	if rc := run([]string{"decode", "-r", path}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if n := strings.Count(out.String(), "ifName eth0\n"); n != 2 {
		t.Errorf("%d good datagrams printed, want 2:\n%s", n, out.String())
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "datagram from 10.0.0.1") || !strings.Contains(lines[1], "1 undecodable, 1 other packets skipped") {
		t.Errorf("stderr:\n%s", errb.String())
	}
}

// TestDecodeFileWrongVersion: a NetFlow v5 datagram and an sFlow version 4
// one sent to the sFlow port. For each, the text is what sflowtool prints
// (the datagram lines up to `datagramVersion N`, nothing invented after it)
// and gwd's decodeError line; stderr has one line naming the version; the
// good datagram after them is printed; exit status 0.
func TestDecodeFileWrongVersion(t *testing.T) {
	good, err := sflow.AppendDatagram(nil, &sflow.Datagram{AgentAddress: netip.MustParseAddr("192.0.2.9"), SequenceNumber: 1,
		Samples: []sflow.Sample{{Tag: sflow.SampleCounters, SourceIDIndex: 3, Records: []sflow.Record{&sflow.PortName{Name: []byte("eth0")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// NetFlow v5: u16 version 5, u16 count 1, then the rest of the 24-byte
	// header and one 48-byte flow record.
	netflow := make([]byte, 24+48)
	binary.BigEndian.PutUint16(netflow[0:], 5)
	binary.BigEndian.PutUint16(netflow[2:], 1)
	binary.BigEndian.PutUint32(netflow[4:], 123456) // sysUptime
	copy(netflow[24:], []byte{10, 1, 1, 1, 10, 2, 2, 2})
	sflow4 := binary.BigEndian.AppendUint32(nil, 4)
	sflow4 = append(sflow4, good[4:]...)

	path := filepath.Join(t.TempDir(), "versions.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	for _, pkt := range [][]byte{udp4(netflow), udp4(sflow4), udp4(good)} {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(pkt), Length: len(pkt)}, pkt); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	var out, errb bytes.Buffer
	if rc := run([]string{"decode", "-r", path}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	datagrams := strings.SplitAfter(out.String(), "endDatagram   =================================\n")
	if len(datagrams) != 4 || datagrams[3] != "" {
		t.Fatalf("want 3 datagrams printed:\n%s", out.String())
	}
	nfErr := "sflow: datagram version 327681 (0x00050001) is not sFlow version 5; its first two bytes, 5, are the version field of a NetFlow v5 header"
	v4Err := "sflow: sFlow version 4 datagram: only version 5 is decoded"
	for i, want := range []struct{ size, version, err string }{{"72", "327681", nfErr}, {strconv.Itoa(len(sflow4)), "4", v4Err}} {
		lines := strings.Split(strings.TrimSuffix(datagrams[i], "\n"), "\n")
		// sflowtool: startDatagram, datagramSourceIP, datagramSize,
		// unixSecondsUTC, unixSecondsUTC_uS, localtime, pcapTimestamp,
		// pcapTimestamp_uS, datagramVersion, endDatagram.
		wantLines := []string{
			"startDatagram =================================",
			"datagramSourceIP 10.0.0.1",
			"datagramSize " + want.size,
			"unixSecondsUTC 0",
			"unixSecondsUTC_uS 0",
			"localtime " + time.Unix(0, 0).Format("2006-01-02T15:04:05-0700"),
			"pcapTimestamp " + time.Unix(1700000000, 0).Format("2006-01-02T15:04:05-0700"),
			"pcapTimestamp_uS 0",
			"datagramVersion " + want.version,
			"decodeError " + want.err,
			"endDatagram   =================================",
		}
		if diff := cmp.Diff(wantLines, lines); diff != "" {
			t.Errorf("datagram %d (-want +got):\n%s", i, diff)
		}
	}
	if !strings.Contains(datagrams[2], "ifName eth0\n") {
		t.Errorf("the good datagram after them was not printed:\n%s", datagrams[2])
	}
	wantErr := []string{
		"gwd decode: datagram from 10.0.0.1:40000: " + nfErr,
		"gwd decode: datagram from 10.0.0.1:40000: " + v4Err,
		"gwd decode: " + path + ": 3 UDP datagrams, 2 undecodable, 0 other packets skipped",
	}
	if diff := cmp.Diff(wantErr, strings.Split(strings.TrimSpace(errb.String()), "\n")); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}

	// JSON: the version read, the error, no header fields.
	out.Reset()
	errb.Reset()
	if rc := run([]string{"decode", "-r", path, "--format", "json"}, &out, &errb); rc != 0 {
		t.Fatalf("json: exit %d: %s", rc, errb.String())
	}
	first := strings.SplitN(out.String(), "\n", 2)[0]
	if !strings.Contains(first, `"version":327681,"error":"`+nfErr+`"}`) || strings.Contains(first, `"agent"`) {
		t.Errorf("json: %s", first)
	}
}

// udp4 wraps payload in a raw IPv4/UDP packet 10.0.0.1:40000 -> 10.0.0.2:6343.
func udp4(payload []byte) []byte {
	ip := ipv4Header(17, 8+len(payload))
	u := make([]byte, 8)
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], 6343)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return append(append(ip, u...), payload...)
}

// tcp4 is a raw IPv4 packet carrying a bare TCP header.
func tcp4() []byte { return append(ipv4Header(6, 20), make([]byte, 20)...) }

func ipv4Header(proto byte, payloadLen int) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+payloadLen))
	h[8] = 64
	h[9] = proto
	copy(h[12:], []byte{10, 0, 0, 1})
	copy(h[16:], []byte{10, 0, 0, 2})
	return h
}

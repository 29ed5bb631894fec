package main

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"gwd/sflow"
)

const hsflowdCapture = "../../testdata/captures/hsflowd-2.1.25-hostcounters-poll5.pcap"

func TestDecodeFileText(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"decode", "-r", hsflowdCapture}, &out, &errb); rc != 0 {
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
	if rc := run([]string{"decode", "-r", hsflowdCapture, "--format", "json"}, &out, &errb); rc != 0 {
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
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()

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

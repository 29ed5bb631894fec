// Package decode prints sFlow datagrams from a capture file or a UDP port,
// as `gwd decode` does: sflowtool's text or JSON, one error line per bad
// datagram, never stopping on one.
package decode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"gwd/internal/capture"
	"gwd/sflow"
	"gwd/sflow/sflowfmt"
)

// Printer decodes datagrams and prints them; a bad datagram gets one
// line on stderr and the stream goes on.
type Printer struct {
	out  *bufio.Writer
	errw io.Writer
	json bool
	dec  sflow.Decoder
	buf  []byte
	bad  int
}

// NewPrinter prints to out (sflowtool's text, or one JSON object per
// datagram) and reports bad datagrams on errw.
func NewPrinter(out, errw io.Writer, json bool) *Printer {
	return &Printer{out: bufio.NewWriterSize(out, 64<<10), errw: errw, json: json}
}

// Flush writes what is buffered.
func (p *Printer) Flush() error { return p.out.Flush() }

// datagram prints one datagram.
func (p *Printer) datagram(m *sflowfmt.Meta, b []byte) {
	dg, err := p.dec.Decode(b)
	m.Size = len(b)
	p.buf = p.buf[:0]
	if p.json {
		p.buf = sflowfmt.AppendJSON(p.buf, m, dg, err)
	} else {
		p.buf = sflowfmt.AppendText(p.buf, m, dg, err)
	}
	p.out.Write(p.buf)
	if err != nil {
		p.bad++
		p.out.Flush()
		fmt.Fprintf(p.errw, "gwd decode: datagram from %s: %v\n", sourceText(m.Source), err)
	}
}

// sourceText writes a source address, "-" when unknown.
func sourceText(a netip.AddrPort) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

// File prints every sFlow datagram of a pcap or pcapng file (UDP on any
// port), then a line on errw when some were undecodable or skipped.
func (p *Printer) File(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := capture.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n := 0
	for {
		pkt, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		n++
		m := sflowfmt.Meta{Source: pkt.Src, Captured: pkt.Timestamp}
		p.datagram(&m, pkt.Payload)
	}
	p.out.Flush()
	if s := r.Skipped(); s > 0 || p.bad > 0 {
		fmt.Fprintf(p.errw, "gwd decode: %s: %d UDP datagrams, %d undecodable, %d other packets skipped\n", path, n, p.bad, s)
	}
	return nil
}

// Listen prints the datagrams received on UDP bind:port until ctx ends or
// count datagrams (0: no limit) were printed.
func (p *Printer) Listen(ctx context.Context, bind string, port, count int) error {
	addr := net.JoinHostPort(bind, strconv.Itoa(port))
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	uc := conn.(*net.UDPConn)
	b := make([]byte, 65536)
	for n := 0; count == 0 || n < count; n++ {
		size, src, err := uc.ReadFromUDPAddrPort(b)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read from %s: %w", addr, err)
		}
		m := sflowfmt.Meta{Source: src, Received: time.Now()}
		p.datagram(&m, b[:size])
		p.out.Flush()
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"time"

	"gwd/internal/capture"
	"gwd/sflow"
	"gwd/sflow/sflowfmt"
)

func cmdDecode(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("r", "", "read datagrams from a pcap or pcapng `file` (UDP on any port)")
	port := fs.Int("p", 0, "listen for datagrams on UDP `port`")
	bind := fs.String("b", "", "with -p, listen on this `address` only (default all)")
	format := fs.String("format", "text", "output `format`: text (sflowtool's key/value lines) or json (one object per datagram)")
	count := fs.Int("c", 0, "with -p, stop after this many datagrams (0: run until interrupted)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: gwd decode [-r FILE | -p PORT [-b ADDR]] [--format text|json]\n\nPrints sFlow datagrams.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*file == "") == (*port == 0) {
		fmt.Fprintln(stderr, "gwd decode: give exactly one of -r FILE or -p PORT")
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "gwd decode: unknown --format %q (text or json)\n", *format)
		return 2
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	p := &decodePrinter{out: out, errw: stderr, json: *format == "json"}
	if *file != "" {
		if err := p.file(*file); err != nil {
			out.Flush()
			fmt.Fprintf(stderr, "gwd decode: %v\n", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := p.listen(ctx, *bind, *port, *count); err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "gwd decode: %v\n", err)
		return 1
	}
	return 0
}

// decodePrinter decodes datagrams and prints them; a bad datagram gets one
// line on stderr and the stream goes on.
type decodePrinter struct {
	out  *bufio.Writer
	errw io.Writer
	json bool
	dec  sflow.Decoder
	buf  []byte
	bad  int
}

func (p *decodePrinter) datagram(m *sflowfmt.Meta, b []byte) {
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

func sourceText(a netip.AddrPort) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func (p *decodePrinter) file(path string) error {
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

func (p *decodePrinter) listen(ctx context.Context, bind string, port, count int) error {
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

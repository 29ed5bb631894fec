package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"gwd/internal/decode"
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
	p := decode.NewPrinter(stdout, stderr, *format == "json")
	defer p.Flush()
	if *file != "" {
		if err := p.File(*file); err != nil {
			p.Flush()
			fmt.Fprintf(stderr, "gwd decode: %v\n", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := p.Listen(ctx, *bind, *port, *count); err != nil {
		p.Flush()
		fmt.Fprintf(stderr, "gwd decode: %v\n", err)
		return 1
	}
	return 0
}

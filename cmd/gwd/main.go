// Command gwd is the box's one sFlow v5 agent.
//
//	gwd run           be the box's sFlow agent
//	gwd decode        read sFlow from a capture file or a UDP port and print it
//	gwd config check  check a configuration file and print it with defaults
//	gwd version       print the version
//
// main only parses flags and wires packages together.
package main

import (
	"fmt"
	"io"
	"os"
)

// version, commit and date are set at build time with -ldflags "-X
// main.version=... -X main.commit=... -X main.date=..." (the Makefile: git
// describe, the commit hash and the commit's date, so builds are
// reproducible).
var version, commit, date = "dev", "unknown", "unknown"

const usage = `gwd is the box's one sFlow v5 agent.

Usage:
  gwd run [--config FILE] [--collector HOST:PORT]... [--polling DURATION]
  gwd decode [-r FILE | -p PORT [-b ADDR]] [--format text|json]
  gwd config check [--config FILE]
  gwd version

Run 'gwd COMMAND -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "config":
		return cmdConfig(args[1:], stdout, stderr)
	case "decode":
		return cmdDecode(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "gwd %s commit %s built %s\n", version, commit, date)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gwd: unknown command %q\n\n%s", args[0], usage)
	return 2
}

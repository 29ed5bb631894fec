package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"gwd/config"
	"gwd/internal/app"
)

// cmdConfig is `gwd config check`: parse a configuration file and print the
// effective configuration, or the errors with file, line and column (exit 2).
func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "Usage: gwd config check [--config FILE]")
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", app.DefaultConfigPath, "configuration `file` to check (gwd YAML or hsflowd.conf)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "gwd config check: %v\n", err)
		return 2
	}
	cfg, err := config.Parse(*path, data, app.Sections(modules)...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprint(stdout, cfg.Text())
	return 0
}

package config

import (
	"path/filepath"
	"strings"
)

// Parse reads a configuration file. name is used in messages; data is the
// file's content. The syntax is hsflowd.conf when the content starts with
// `sflow {` (after comments) or name ends in ".conf", and gwd's YAML
// format otherwise. sections are the modules' sections (see Section);
// every default is filled in.
func Parse(name string, data []byte, sections ...Section) (*Config, error) {
	if name == "" {
		name = "config"
	}
	if looksHsflowd(data) || strings.HasSuffix(filepath.Base(name), ".conf") {
		return parseHsflowd(name, data, sections)
	}
	return parseYAML(name, data, sections)
}

// looksHsflowd reports whether data starts with `sflow {`, ignoring
// whitespace and # comments.
func looksHsflowd(data []byte) bool {
	var b strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte(' ')
		if b.Len() > 4096 {
			break
		}
	}
	s := strings.TrimLeft(b.String(), " \t\r\n")
	if len(s) < 5 || !strings.EqualFold(s[:5], "sflow") {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(s[5:], " \t\r\n"), "{")
}

// finish adds the checks of the whole file.
func finish(c *Config, d *diag) (*Config, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	if len(c.Collectors) == 0 {
		d.warnAt(0, 0, "no collectors: nothing will be sent")
	}
	c.Warnings = d.warns
	return c, nil
}

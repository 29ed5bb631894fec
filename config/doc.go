// Package config parses gwd's configuration file.
//
// Two syntaxes are read, and Parse tells them apart by content:
//
//   - gwd's own YAML format (default file /etc/gwd/gwd.yaml), decoded
//     strictly: unknown keys, wrong types and out-of-range values are
//     errors that name the file, line and column;
//   - hsflowd.conf, the brace syntax of Host sFlow's hsflowd
//     (`sflow { collector { ip = 10.0.0.1 } }`), so a box switching from
//     hsflowd keeps its file. Settings gwd has no use for, and module blocks
//     it does not have, become Warnings rather than errors.
//
// Both produce the same Config, with every default filled in. Default
// returns the built-in configuration (itself a YAML file, default.yaml, so
// it doubles as an example), Text prints a Config back as YAML, and Agent
// turns it into the agent package's configuration.
//
// The package only parses bytes: cmd/gwd reads the file and the flags.
// docs/config.md describes every key.
package config

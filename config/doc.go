// Package config reads gwd's configuration file into the core settings
// (Core: identity, polling, sampling, sizes, collectors) and one section per
// module.
//
// Every key is described once, in struct tags on the type that owns it (see
// Section): Core's keys here, each module's in its own package. The same
// description drives the two readers, Text and Markdown:
//
//   - gwd's own YAML format (default file /etc/gwd/gwd.yaml), decoded
//     strictly: unknown keys, wrong types and out-of-range values are
//     errors that name the file, line and column;
//   - hsflowd.conf, the brace syntax of Host sFlow's hsflowd
//     (`sflow { collector { ip = 10.0.0.1 } }`), so a box switching from
//     hsflowd keeps its file. Settings gwd has no use for, and modules it
//     does not have yet (Unsupported), become Warnings rather than errors;
//   - Text writes a Config back as YAML with every default (`gwd config
//     check`), secrets redacted;
//   - Markdown writes docs/config.md.
//
// The package only parses bytes: it imports neither the agent nor any
// module, and cmd/gwd reads the file and the flags.
package config

// Package textscan splits the text of procfs, sysfs and cgroup files into
// lines and fields without allocating: the helpers every file parser of
// the host, containers and ASIC sources shares.
package textscan

// IsSpace reports whether c is a space, tab, newline or carriage return.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// TrimSpace returns b without leading and trailing IsSpace bytes.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && IsSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && IsSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// NextLine splits b at the first newline: the line (without "\n") and the
// rest (nil after the last line).
func NextLine(b []byte) (line, rest []byte) {
	for i, c := range b {
		if c == '\n' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// NextField returns the first IsSpace-separated field of b and the rest.
func NextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !IsSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

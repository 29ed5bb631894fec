package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// The checks below return "" or what is wrong, without the key's name.

func checkRange(n, lo, hi uint64) string {
	if n < lo || n > hi {
		return fmt.Sprintf("%d is outside %d..%d", n, lo, hi)
	}
	return ""
}

// checkIfName accepts a Linux interface name.
func checkIfName(s string) string {
	if len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/ \t\r\n\x00") {
		return fmt.Sprintf("%q is not an interface name", s)
	}
	return ""
}

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

// checkHostOrIP accepts an IP address (zone allowed) or a DNS name.
func checkHostOrIP(s string) string {
	if _, err := netip.ParseAddr(s); err == nil {
		return ""
	}
	bad := fmt.Sprintf("%q is neither an IP address nor a host name", s)
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 253 {
		return bad
	}
	for l := range strings.SplitSeq(name, ".") {
		if !hostLabel.MatchString(l) {
			return bad
		}
	}
	return ""
}

func checkRegexp(s string) string {
	if _, err := regexp.Compile(s); err != nil {
		return fmt.Sprintf("bad regular expression: %v", err)
	}
	return ""
}

func checkOVSDB(s string) string {
	for _, p := range []string{"unix:", "tcp:", "ssl:"} {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return ""
		}
	}
	return fmt.Sprintf("%q is not an OVSDB address (unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT)", s)
}

package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a configuration file. Parse returns an *Error,
// or several joined with errors.Join; errors.As finds the first.
type Error struct {
	File string
	// Line and Col are 1-based; 0 when unknown (the YAML library reports
	// syntax errors by line only).
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// maxErrors bounds how many errors one Parse reports.
const maxErrors = 20

// diag collects the errors and warnings of one parse.
type diag struct {
	file  string
	errs  []error
	warns []string
}

func (d *diag) errAt(line, col int, format string, a ...any) {
	if len(d.errs) > maxErrors {
		return
	}
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, &Error{File: d.file, Msg: "too many errors"})
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, a...)})
}

func (d *diag) warnAt(line, col int, format string, a ...any) {
	d.warns = append(d.warns, (&Error{File: d.file, Line: line, Col: col, Msg: fmt.Sprintf(format, a...)}).Error())
}

func (d *diag) err() error {
	switch len(d.errs) {
	case 0:
		return nil
	case 1:
		return d.errs[0]
	}
	return errors.Join(d.errs...)
}

// suggest returns ` (did you mean "x"?)` when one of known is close to
// word, else "".
func suggest(word string, known []string) string {
	best, bestD := "", 1<<30
	lw := strings.ToLower(word)
	for _, k := range known {
		if len(lw) >= 3 && strings.HasPrefix(strings.ToLower(k), lw) && len(k) > len(word) {
			return fmt.Sprintf(" (did you mean %q?)", k) // a shortened key
		}
	}
	for _, k := range known {
		d := editDistance(lw, strings.ToLower(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > max(2, len(word)/3) || bestD >= len(word) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

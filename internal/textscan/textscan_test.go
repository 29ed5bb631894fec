package textscan

import "testing"

func TestSplit(t *testing.T) {
	b := []byte("  cpu  1 2\t3\r\nmem 4\n\nlast")
	var lines []string
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = NextLine(rest)
		lines = append(lines, string(line))
	}
	if want := []string{"  cpu  1 2\t3\r", "mem 4", "", "last"}; len(lines) != len(want) || lines[0] != want[0] || lines[1] != want[1] || lines[2] != want[2] || lines[3] != want[3] {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	var fields []string
	for rest := []byte(lines[0]); ; {
		var f []byte
		if f, rest = NextField(rest); len(f) == 0 {
			break
		}
		fields = append(fields, string(f))
	}
	if len(fields) != 4 || fields[0] != "cpu" || fields[3] != "3" {
		t.Fatalf("fields %q", fields)
	}
	if got := string(TrimSpace([]byte("\t x y \r\n"))); got != "x y" {
		t.Fatalf("TrimSpace = %q", got)
	}
	if f, rest := NextField(nil); len(f) != 0 || len(rest) != 0 {
		t.Fatalf("NextField(nil) = %q, %q", f, rest)
	}
}

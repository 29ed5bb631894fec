package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "polling: 15s\ncollectors:\n  - address: 127.0.0.1\n    port: 6343\n")
	bad := writeFile(t, dir, "bad.yaml", "polling: 15s\ncollectors:\n  - address: 127.0.0.1\n    prot: 6343\n")
	var out, errb bytes.Buffer
	if rc := run([]string{"config", "check", "--config", good}, &out, &errb); rc != 0 {
		t.Fatalf("good file: exit %d, %s", rc, errb.String())
	}
	for _, want := range []string{"polling: 15s", "port: 6343", "datagram_bytes: 1400"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("effective configuration lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errb.Reset()
	if rc := run([]string{"config", "check", "--config", bad}, &out, &errb); rc != 2 {
		t.Fatalf("bad file: exit %d, want 2", rc)
	}
	if !strings.Contains(errb.String(), "bad.yaml:4:5") || !strings.Contains(errb.String(), "prot") {
		t.Errorf("error does not name file:line:col and the key: %q", errb.String())
	}
}

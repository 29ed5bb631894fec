package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSpeed(t *testing.T) {
	tests := []struct {
		in    string
		want  Speed
		str   string
		label string
	}{
		{"10G", 10e9, "10G", "10G"},
		{"10g", 10e9, "10G", "10G"},
		{"100M", 100e6, "100M", "100M"},
		{"2500M", 2500e6, "2500M", "2G"},
		{"1T", 1e12, "1T", "1T"},
		{"400G", 400e9, "400G", "400G"},
		{"1500", 1500, "1500", "1K"},
		{"999", 999, "999", "999"},
		{"25000000000", 25e9, "25G", "25G"},
	}
	for _, tt := range tests {
		got, err := ParseSpeed(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSpeed(%q) = %v, %v; want %v", tt.in, uint64(got), err, uint64(tt.want))
			continue
		}
		if s := got.String(); s != tt.str {
			t.Errorf("Speed(%d).String() = %q, want %q", uint64(got), s, tt.str)
		}
		if l := got.Label(); l != tt.label {
			t.Errorf("Speed(%d).Label() = %q, want %q", uint64(got), l, tt.label)
		}
	}
	for _, bad := range []string{"", "G", "0", "1.5G", "-1G", "10GB", "x", "99999999999999999999T"} {
		if s, err := ParseSpeed(bad); err == nil {
			t.Errorf("ParseSpeed(%q) = %v, want an error", bad, s)
		}
	}
}

func TestRateFor(t *testing.T) {
	s := Sampling{Rate: 400, Speeds: map[Speed]uint32{10e9: 5000, 2e9: 2222}, BPSRatio: DefaultBPSRatio}
	tests := []struct {
		s     Sampling
		speed Speed
		want  uint32
	}{
		{s, 0, 400},           // unknown speed
		{s, 10e9, 5000},       // sampling.10G
		{s, 2500e6, 2222},     // hsflowd labels 2.5G "2G"
		{s, 1e9, 1000},        // 1G / 1e6
		{s, 10e6, 100},        // the default ratio's floor
		{s, 400e9, 400000},    // 400G / 1e6
		{s, 100e12, 10000000}, // capped
		{Sampling{Rate: 400, BPSRatio: 1e7}, 10e6, 1}, // explicit ratio: floor 1
		{Sampling{Rate: 400, BPSRatio: 2e6}, 100e9, 50000},
		{Sampling{Rate: 300, BPSRatio: 0}, 100e9, 300}, // ratio off
	}
	for _, tt := range tests {
		if got := tt.s.RateFor(tt.speed); got != tt.want {
			t.Errorf("%+v.RateFor(%v) = %d, want %d", tt.s, tt.speed, got, tt.want)
		}
	}
}

func TestRegexps(t *testing.T) {
	inc, exc, err := InterfaceFilter{Include: "^(eth|ens)", Exclude: `\.[0-9]+$`}.Regexps()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range []string{"eth0", "eth0.100", "ens3", "lo", "veth12"} {
		got[n] = inc.MatchString(n) && !exc.MatchString(n)
	}
	want := map[string]bool{"eth0": true, "eth0.100": false, "ens3": true, "lo": false, "veth12": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Regexps (-want +got):\n%s", diff)
	}
	if inc, exc, _ := (InterfaceFilter{}).Regexps(); inc != nil || exc != nil {
		t.Error("the empty filter compiles to expressions")
	}
	if _, _, err := (InterfaceFilter{Exclude: "("}).Regexps(); err == nil {
		t.Error("Regexps accepted a bad expression")
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"collectors", "polling", "sampling", "agent"}
	for word, want := range map[string]string{
		"colector":  ` (did you mean "collectors"?)`,
		"Polling":   ` (did you mean "polling"?)`,
		"smapling":  ` (did you mean "sampling"?)`,
		"frobnicat": "",
		"x":         "",
	} {
		if got := suggest(word, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

// FuzzParse: Parse never panics, and whatever it accepts, Text writes
// back in a form Parse reads to the same Config.

package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// widget is a module section with a key of every kind the engine reads.
type widget struct {
	Enabled  Mode             `key:"enabled" default:"auto" hsdefault:"false" doc:"mode"`
	Name     string           `key:"name" default:"w" check:"nonempty" hsflowd:"name" doc:"a name"`
	Kind     string           `key:"kind" enum:"a|b" doc:"a kind"`
	Count    uint16           `key:"count" default:"3" min:"1" max:"9" hsflowd:"count" doc:"a count"`
	Offset   int              `key:"offset" min:"-5" max:"5" doc:"signed"`
	Ratio    float64          `key:"ratio" default:"0.5" min:"0" max:"1" hsflowd:"ratio" doc:"a ratio"`
	Every    time.Duration    `key:"every" default:"1m" min:"1s" max:"1h" check:"seconds" hsflowd:"every" doc:"a period"`
	On       bool             `key:"on" default:"true" hsflowd:"on" doc:"a flag"`
	Addr     netip.Addr       `key:"addr" doc:"an address"`
	Nets     []netip.Prefix   `key:"nets" default:"10.0.0.0/8" hsflowd:"net" doc:"prefixes"`
	Tags     []string         `key:"tags" enum:"x|y" doc:"tags"`
	Filter   InterfaceFilter  `key:"filter"`
	Secret   string           `key:"secret" secret:"true" doc:"hidden"`
	Rates    map[Speed]uint32 `key:"rates" min:"1" doc:"per speed"`
	Internal int              // not configuration
}

func (w *widget) ModuleMode() Mode { return w.Enabled }

func (w *widget) Validate() error {
	if w.Kind == "b" && w.Count < 5 {
		return errors.New("kind b needs count >= 5")
	}
	return nil
}

var widgetSection = Section{Name: "widget", Path: "modules.widget", Hsflowd: "widget", Value: &widget{}, Doc: "test"}

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.AllowUnexported(Config{}),
	cmpopts.IgnoreFields(Config{}, "Syntax", "Warnings"),
}

func TestSectionDefaults(t *testing.T) {
	c, err := Parse("x.yaml", nil, widgetSection)
	if err != nil {
		t.Fatal(err)
	}
	want := widget{Enabled: Auto, Name: "w", Count: 3, Ratio: 0.5, Every: time.Minute, On: true,
		Nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Tags: []string{}, Rates: map[Speed]uint32{}}
	if diff := cmp.Diff(&want, Get[widget](c), cmpOpts); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	h, err := Parse("x.conf", []byte("sflow { }"), widgetSection)
	if err != nil {
		t.Fatal(err)
	}
	if got := Get[widget](h).Enabled; got != Off {
		t.Errorf("hsflowd.conf default mode = %v, want false (the block is absent)", got)
	}
	if Get[struct{ X int }](c) != nil {
		t.Error("Get of an unregistered type is not nil")
	}
}

func TestSectionDecode(t *testing.T) {
	data := `modules:
  widget:
    enabled: true
    name: n
    kind: b
    count: 7
    offset: -2
    ratio: 0.25
    every: 90
    on: false
    addr: 192.0.2.1
    nets: [192.0.2.0/24]
    tags: [x, y]
    filter: {include: "^e", exclude: "x$"}
    secret: s3cret
    rates: {10G: 100}
`
	c, err := Parse("x.yaml", []byte(data), widgetSection)
	if err != nil {
		t.Fatal(err)
	}
	want := widget{Enabled: On, Name: "n", Kind: "b", Count: 7, Offset: -2, Ratio: 0.25, Every: 90 * time.Second,
		Addr: netip.MustParseAddr("192.0.2.1"), Nets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Tags: []string{"x", "y"}, Filter: InterfaceFilter{Include: "^e", Exclude: "x$"}, Secret: "s3cret",
		Rates: map[Speed]uint32{10e9: 100}}
	if diff := cmp.Diff(&want, Get[widget](c), cmpOpts); diff != "" {
		t.Errorf("decode (-want +got):\n%s", diff)
	}
	text := c.Text()
	if strings.Contains(text, "s3cret") || !strings.Contains(text, "secret: <redacted>") {
		t.Errorf("Text shows the secret or no redaction:\n%s", text)
	}
	back, err := Parse("text.yaml", []byte(text), widgetSection)
	if err != nil {
		t.Fatalf("Parse(Text()): %v\n%s", err, text)
	}
	Get[widget](back).Secret = "s3cret"
	if diff := cmp.Diff(c, back, cmpOpts); diff != "" {
		t.Errorf("Parse(Text()) (-first +second):\n%s", diff)
	}
}

func TestSectionErrors(t *testing.T) {
	data := `modules:
  widget:
    name: ""
    kind: c
    count: 10
    offset: -6
    ratio: 2
    every: 1500ms
    on: maybe
    tags: [z]
    rates: {fast: 1}
    colour: red
`
	_, err := Parse("x.yaml", []byte(data), widgetSection)
	want := `x.yaml:3:11: modules.widget.name: must not be empty
x.yaml:4:11: modules.widget.kind: "c" is not one of a, b
x.yaml:5:12: modules.widget.count: 10 is outside 1..9
x.yaml:6:13: modules.widget.offset: -6 is outside -5..5
x.yaml:7:12: modules.widget.ratio: 2 is outside 0..1
x.yaml:8:12: modules.widget.every: 1.5s is not a whole number of seconds
x.yaml:9:9: modules.widget.on: expected true or false, got "maybe"
x.yaml:10:12: modules.widget.tags[0]: "z" is not one of x, y
x.yaml:11:13: modules.widget.rates: "fast" is not a speed such as 10G or 100M
x.yaml:12:5: unknown key "colour" in modules.widget`
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	_, err = Parse("x.yaml", []byte("modules:\n  widget:\n    kind: b\n"), widgetSection)
	if err == nil || err.Error() != "x.yaml:3:5: modules.widget: kind b needs count >= 5" {
		t.Errorf("Validate error = %v", err)
	}
}

func TestSectionHsflowd(t *testing.T) {
	data := "sflow {\n  widget { name = h count = 2 ratio = 0.1 every = 30 on = off net = 192.0.2.0/24 net = 10.1.0.0/16 }\n}\n"
	c, err := Parse("x.conf", []byte(data), widgetSection)
	if err != nil {
		t.Fatal(err)
	}
	w := Get[widget](c)
	if w.Enabled != On || w.Name != "h" || w.Count != 2 || w.Ratio != 0.1 || w.Every != 30*time.Second || w.On ||
		len(w.Nets) != 3 {
		t.Errorf("hsflowd block = %+v", w)
	}
	_, err = Parse("x.conf", []byte("sflow {\n  widget { count = 20 colour = 1 }\n}\n"), widgetSection)
	want := "x.conf:2:20: count: 20 is outside 1..9\nx.conf:2:23: unknown widget setting \"colour\""
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestUnsupportedModules(t *testing.T) {
	y, err := Parse("x.yaml", []byte("collectors: [10.0.0.1]\nmodules:\n  xen: {enabled: true}\n  json: {group: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"x.yaml:3:8: modules.xen: the xen module is not supported by gwd yet; its settings are ignored",
		"x.yaml:4:9: modules.json: the json module is not supported by gwd yet; its settings are ignored",
	}
	if diff := cmp.Diff(want, y.Warnings); diff != "" {
		t.Errorf("YAML warnings (-want +got):\n%s", diff)
	}
	data := "sflow {\n  collector { ip = 10.0.0.1 }\n  xen { }\n  dbus { }\n  sonic { }\n  frobnicator { a = b }\n  nflogGroup = 5\n}\n"
	h, err := Parse("hsflowd.conf", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{
		"hsflowd.conf:3:3: xen { }: the xen module is not supported by gwd yet; ignored",
		"hsflowd.conf:4:3: dbus { }: the dbus module is not supported by gwd yet; ignored",
		"hsflowd.conf:5:3: sonic { }: hsflowd module not in gwd (its data comes from another gwd module); ignored",
		"hsflowd.conf:6:3: frobnicator { }: unknown block; ignored",
		"hsflowd.conf:7:3: nflogGroup: the nflog module is not in this build; ignored",
	}
	if diff := cmp.Diff(want, h.Warnings); diff != "" {
		t.Errorf("hsflowd.conf warnings (-want +got):\n%s", diff)
	}
	if _, err := Parse("x.yaml", []byte("modules:\n  xenn: {}\n")); err == nil ||
		err.Error() != `x.yaml:2:3: unknown key "xenn" in modules (did you mean "xen"?)` {
		t.Errorf("unknown module error = %v", err)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name, data string
		want       Syntax
	}{
		{"gwd.yaml", "polling: 10s\n", SyntaxYAML},
		{"gwd.yaml", "# comment\n\n  # sflow {\nsFlow\n{ collector { ip = 10.0.0.1 } }", SyntaxHsflowd},
		{"x", "sflow{collector{ip=10.0.0.1}}", SyntaxHsflowd},
		{"/etc/hsflowd.conf", "sflow { collector { ip = 10.0.0.1 } }", SyntaxHsflowd},
	}
	for _, tt := range tests {
		c, err := Parse(tt.name, []byte(tt.data))
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.name, tt.data, err)
			continue
		}
		if c.Syntax != tt.want {
			t.Errorf("Parse(%q, %q).Syntax = %v, want %v", tt.name, tt.data, c.Syntax, tt.want)
		}
	}
	if _, err := Parse("gwd.yaml", []byte("sflow: {}\n")); err == nil || !strings.Contains(err.Error(), `unknown key "sflow"`) {
		t.Errorf("YAML sflow key error = %v", err)
	}
	// A .conf file is hsflowd.conf even when it does not look like one.
	if _, err := Parse("gwd.conf", []byte("polling: 10s\n")); err == nil ||
		err.Error() != `gwd.conf:1:1: expected "sflow {", found "polling:"` {
		t.Errorf("Parse(gwd.conf) error = %v", err)
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown([]Section{widgetSection})
	for _, want := range []string{
		"| `modules.widget.count` | integer 1..9 | `3` | a count |",
		"| `modules.widget.kind` | `a`, `b` | none | a kind |",
		"| `modules.widget.nets` | list of prefix | `[10.0.0.0/8]` | prefixes |",
		"| `widget { count = ... }` | `modules.widget.count` |",
		"| `headerBytes = ...` | `header_bytes` |",
		"`xen`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join("..", "cmd", "gwd", "testdata", "config", dir, "*"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, strings.HasSuffix(file, ".conf"))
		}
	}
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"), false)
	f.Add([]byte("sflow { a { b { c { } } } }"), true)
	f.Add([]byte("modules: {widget: {rates: {1G: 5}, nets: [1.2.3.0/24]}}"), false)
	f.Fuzz(func(t *testing.T, data []byte, conf bool) {
		name := "fuzz.yaml"
		if conf {
			name = "fuzz.conf"
		}
		c, err := Parse(name, data, widgetSection)
		if err != nil {
			return
		}
		Get[widget](c).Secret = ""
		text := c.Text()
		back, err := Parse("text.yaml", []byte(text), widgetSection)
		if err != nil {
			t.Fatalf("Parse(Text()) failed: %v\n%s", err, text)
		}
		if diff := cmp.Diff(c, back, cmpOpts); diff != "" {
			t.Fatalf("Parse(Text()) differs (-first +second):\n%s", diff)
		}
	})
}

func TestFillZero(t *testing.T) {
	w := widget{Name: "kept", Count: 0, On: false}
	FillZero(&w)
	if w.Name != "kept" || w.Every != time.Minute || len(w.Nets) != 1 || w.Count != 0 || w.On {
		t.Errorf("FillZero = %+v: strings, durations and lists get defaults, numbers and booleans stay", w)
	}
}

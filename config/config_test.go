package config

import (
	"errors"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// ignoreMeta ignores what Text does not carry.
var ignoreMeta = cmpopts.IgnoreFields(Config{}, "Syntax", "Warnings")

func read(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var goodTests = []struct {
	file     string
	want     func(c *Config)
	warnings []string
}{
	{file: "empty.yaml", want: func(c *Config) {},
		warnings: []string{"testdata/good/empty.yaml: no collectors: nothing will be sent"}},
	{file: "minimal.yaml", want: func(c *Config) {
		c.Collectors = []Collector{{Address: "198.51.100.7", Port: 6343}}
	}},
	{file: "full.yaml", want: func(c *Config) {
		c.Identity = Identity{
			Address:   netip.MustParseAddr("192.0.2.10"),
			Interface: "eth0",
			CIDRs: []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("2001:db8::/32"),
				netip.MustParsePrefix("172.16.0.0/12"),
			},
			SubAgent: 7,
		}
		c.Polling = time.Minute
		c.Sampling = Sampling{Rate: 1000, Speeds: map[Speed]uint32{1e9: 1000, 10e9: 10000, 2500e6: 2500}, BPSRatio: 2e6}
		c.HeaderBytes = 256
		c.DatagramBytes = 9000
		c.Collectors = []Collector{
			{Address: "10.1.2.3", Port: 6344, Source: netip.MustParseAddr("10.0.0.2"), Interface: "mgmt0"},
			{Address: "collector.example.net", Port: 6343},
		}
		c.Host = Host{
			Enabled:    false,
			Interfaces: InterfaceFilter{Include: "^(eth|ens|enp)", Exclude: `\.[0-9]+$`},
			ProcRoot:   "/host/proc", SysRoot: "/host/sys", EtcRoot: "/host/etc",
		}
		c.Modules = Modules{
			OVS: OVS{Enabled: On, OVSDB: "tcp:127.0.0.1:6640", Policy: OVSAdopt, RemoveOnExit: true,
				Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
			NVML:    NVML{Enabled: Off},
			ASIC:    defaultASIC(),
			KVM:     KVM{Enabled: On, RefreshVMs: 2 * time.Minute, ForgetVMs: time.Hour},
			PSample: PSample{Enabled: On, Group: 3, Ingress: false, Egress: true},
			NFLOG:   NFLOG{Enabled: On, Group: 5, Probability: 0.0025},
			PCAP: PCAP{Enabled: Auto, Devices: []PCAPDevice{
				{Dev: "docker0", Promisc: true, VPort: On, Sampling: 50},
				{Speed: SpeedRange{Min: 1e9, Max: 100e9}, VPort: Auto},
			}},
			DropMon: DropMon{
				Enabled: On, Start: false, Limit: 50, Max: 5000, HWUnknown: true,
				SWPassive: true, HWPassive: true, Hide: "^(unknown|l3_)",
			},
		}
	}},
	{file: "shorthand.yaml", want: func(c *Config) {
		c.Polling = 15 * time.Second
		c.Collectors = []Collector{
			{Address: "10.0.0.1", Port: 6343},
			{Address: "10.0.0.2", Port: 6344},
			{Address: "2001:db8::1", Port: 6343},
			{Address: "sflow.example.org", Port: 6343},
		}
		c.Modules.KVM.Enabled = On
		c.Modules.NVML.Enabled = On
		c.Modules.OVS.Enabled = Off
	}},
	{file: "hsflowd-basic.conf", want: func(c *Config) {
		c.Identity.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		c.Polling = 10 * time.Second
		c.Sampling.Rate = 1000
		c.Collectors = []Collector{
			{Address: "10.100.12.13", Port: 6343},
			{Address: "10.122.1.2", Port: 6344},
		}
	}},
	{file: "hsflowd-counters.conf", want: func(c *Config) {
		c.Collectors = []Collector{{Address: "10.0.0.1", Port: 6343}}
		c.Modules.NFLOG.Probability = 0.5
	}, warnings: []string{
		`testdata/good/hsflowd-counters.conf:5:3: nflog { } has no group, so it samples nothing; module off`,
		`testdata/good/hsflowd-counters.conf:6:3: pcap { } has neither dev nor speed, so it samples nothing; ignored`,
		`testdata/good/hsflowd-counters.conf:7:3: collectr { }: unknown block; ignored (did you mean "collector"?)`,
		`testdata/good/hsflowd-counters.conf:3:14: sampling: 0 (no packet sampling) is what gwd does without pcap, nflog or psample blocks; ignored`,
	}},
	{file: "hsflowd-full.conf", want: func(c *Config) {
		c.Identity = Identity{
			Address:   netip.MustParseAddr("192.0.2.20"),
			Interface: "eth1",
			CIDRs:     []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")},
			SubAgent:  100000,
		}
		c.Polling = 20 * time.Second
		c.Sampling = Sampling{Rate: 512, Speeds: map[Speed]uint32{100e6: 100, 10e9: 10000, 40e9: 40000}, BPSRatio: 0}
		c.HeaderBytes = 96
		c.Collectors = []Collector{
			{Address: "192.0.2.99", Port: 7343, Interface: "mgmt"},
			{Address: "collector.example.com", Port: 6343},
		}
		m := &c.Modules
		m.KVM = KVM{Enabled: On, RefreshVMs: 120 * time.Second, ForgetVMs: 600 * time.Second}
		m.OVS.Enabled = On
		m.NVML.Enabled = On
		m.PSample = PSample{Enabled: On, Group: 2, Ingress: false, Egress: true}
		m.NFLOG = NFLOG{Enabled: On, Group: 5, Probability: 0.01}
		m.PCAP = PCAP{Enabled: On, Devices: []PCAPDevice{
			{Dev: "docker0", Promisc: true, VPort: Auto},
			{Speed: SpeedRange{Min: 1e9, Max: math.MaxUint64}, VPort: Off, Sampling: 2000},
		}}
		m.DropMon = defaultDropMon()
		m.DropMon.Enabled = On
		m.DropMon.Limit = 50
		m.DropMon.Hide = "^(ignore|me)"
		m.DropMon.HWUnknown = true
	}, warnings: []string{
		`testdata/good/hsflowd-full.conf:14:3: sampling.http: application sampling is not used by gwd; ignored`,
		`testdata/good/hsflowd-full.conf:15:3: polling.app.myapp: per-application polling is not used by gwd; ignored`,
		`testdata/good/hsflowd-full.conf:18:3: uuid: hsflowd setting not used by gwd; ignored`,
		`testdata/good/hsflowd-full.conf:23:5: namespace: sending from another network namespace is not supported by gwd; ignored`,
		`testdata/good/hsflowd-full.conf:33:13: group: deprecated in hsflowd; ignored`,
		`testdata/good/hsflowd-full.conf:34:3: docker { }: hsflowd module not in gwd; ignored`,
		`testdata/good/hsflowd-full.conf:35:3: tcp { }: hsflowd module not in gwd; ignored`,
		`testdata/good/hsflowd-full.conf:36:3: dbus { }: hsflowd module not in gwd; ignored`,
		`testdata/good/hsflowd-full.conf:37:3: json { }: hsflowd module not in gwd; ignored`,
		`testdata/good/hsflowd-full.conf:38:3: my-plugin { }: unknown block; ignored`,
	}},
}

// TestParseGood parses each good file, compares it with the expected
// Config, checks Text against its golden file and reads Text back.
func TestParseGood(t *testing.T) {
	for _, tt := range goodTests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "good", tt.file)
			got, err := Parse(path, read(t, path))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			syntax := SyntaxYAML
			if strings.HasSuffix(tt.file, ".conf") {
				syntax = SyntaxHsflowd
			}
			want := defaults(syntax)
			tt.want(want)
			want.Warnings = tt.warnings
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}

			text := got.Text()
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(string(read(t, golden)), text); diff != "" {
				t.Errorf("Text differs from %s (-want +got; go test -update rewrites it):\n%s", golden, diff)
			}

			back, err := Parse("text.yaml", []byte(text))
			if err != nil {
				t.Fatalf("Parse(Text()): %v\n%s", err, text)
			}
			if diff := cmp.Diff(got, back, cmpOpts, ignoreMeta); diff != "" {
				t.Errorf("Parse(Text()) differs (-parsed +reparsed):\n%s", diff)
			}
		})
	}
}

// TestParseBad checks the exact error text, positions included.
func TestParseBad(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-key.yaml", `3:1: unknown key "colector" (did you mean "collectors"?)`},
		{"values.yaml", `2:12: agent.address: "10.0.0.300" is not an IP address
3:14: agent.interface: "a very long interface name" is not an interface name
4:10: agent.cidr[0]: "10.0.0.0/33" is not an address prefix such as 10.0.0.0/8
5:10: polling: 500ms is below 1s
7:9: sampling.rate: 0 is outside 1..10000000
8:12: sampling.speeds: "fast" is not a speed such as 10G or 100M
9:15: header_bytes: 300 is outside 64..256
10:17: datagram_bytes: 100 is outside 200..65000
13:11: collectors[0].port: expected an integer, got "abc"
14:14: collectors[1].address: "bad host!" is neither an IP address nor a host name
15:11: collectors[1].port: 70000 is outside 1..65535
17:12: host.enabled: expected true or false, got "yes please"
19:14: host.interfaces.include: bad regular expression: error parsing regexp: missing closing ): ` + "`(eth`" + `
22:14: modules.ovs.enabled: expected auto, true or false, got "maybe"
23:12: modules.ovs.ovsdb: "/var/run/db.sock" is not an OVSDB address (unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT)
25:18: modules.kvm.refresh_vms: 10s is outside 1m..1h`},
		{"syntax.yaml", `2: did not find expected ',' or ']'`},
		{"duplicate.yaml", `4:1: duplicate key "polling" (first on line 1)`},
		{"two-docs.yaml", `2:1: only one YAML document is allowed`},
		{"nflog-no-group.yaml", `3:5: modules.nflog: nflog needs a group (1..65535)`},
		{"pcap-device.yaml", `5:9: modules.pcap.devices[0]: pcap device needs dev or speed`},
		{"collector-no-address.yaml", `2:5: collectors[0]: address is missing`},
		{"not-mapping.yaml", `1:1: expected a mapping of keys such as polling and collectors, got a list`},
		{"module-keys.yaml", `3:5: unknown key "enable" in modules.ovs (did you mean "enabled"?)
4:3: unknown key "nvmll" in modules (did you mean "nvml"?)`},
		{"h-no-sflow.conf", `2:1: expected "sflow {", found "collector"`},
		{"h-unclosed.conf", `1:7: "{" is never closed`},
		{"h-unknown-setting.conf", `2:3: unknown sflow setting "pollling" (did you mean "polling"?)`},
		{"h-values.conf", `2:13: polling: 0 turns counter polling off in hsflowd; gwd polls every 1..300 seconds
3:14: sampling: expected an integer, got "abc"
4:17: headerBytes: 300 is outside 64..256
5:13: agentIP: "myhost" is not an IP address (gwd does not resolve host names here)
6:16: agent.cidr: excluding a prefix (!10.0.0.0/8) is not supported by gwd
7:18: sampling.10G: 0 is outside 1..10000000
8:39: udpport: 0 is outside 1..65535
9:20: ip: "not_a_host!" is neither an IP address nor a host name
10:22: egress: expected on or off, got "yes"
11:25: probability: 2 is outside 0..1`},
		{"h-collector-no-ip.conf", `2:3: collector { } has no ip`},
		{"h-missing-value.conf", `3:3: polling: missing value`},
		{"h-extra.conf", `4:1: unexpected "sflow" after the sflow block`},
		{"h-quote.conf", `2:20: unterminated quoted string`},
		{"h-block-settings.conf", `3:9: unknown kvm setting "refresh" (did you mean "refreshVMs"?)
4:9: unknown ovs setting "x"
5:29: unexpected block "extra" inside collector { }`},
		{"h-sampling-off.conf", `2:14: sampling: 0 turns packet sampling off in hsflowd, but a pcap, nflog or psample block turns it on`},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			c, err := Parse(path, read(t, path))
			if err == nil {
				t.Fatalf("Parse succeeded:\n%s", c.Text())
			}
			var want []string
			for l := range strings.SplitSeq(tt.want, "\n") {
				want = append(want, path+":"+l)
			}
			if diff := cmp.Diff(strings.Join(want, "\n"), err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != path {
				t.Errorf("errors.As(*Error) = %v, %+v", errors.As(err, &e), e)
			}
		})
	}
	files, _ := filepath.Glob("testdata/bad/*")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func TestDefault(t *testing.T) {
	got := Default()
	want := defaults(SyntaxYAML)
	want.Polling = 10 * time.Second
	want.Collectors = []Collector{{Address: "127.0.0.1", Port: 6343}}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Default mismatch (-want +got):\n%s", diff)
	}
	golden := filepath.Join("testdata", "golden", "default.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.Text()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(read(t, golden)), got.Text()); diff != "" {
		t.Errorf("Text differs from %s (-want +got):\n%s", golden, diff)
	}
	ac, err := got.Agent(nil)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Polling != 10*time.Second || len(ac.Collectors) != 1 ||
		ac.Collectors[0].Addr != netip.MustParseAddrPort("127.0.0.1:6343") {
		t.Errorf("Default().Agent() = %+v", ac)
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
		{"gwd.yaml", "sflow: {}\n", SyntaxYAML},
	}
	for _, tt := range tests {
		c, err := Parse(tt.name, []byte(tt.data))
		if tt.want == SyntaxYAML && tt.data == "sflow: {}\n" {
			// YAML, and an unknown key.
			if err == nil || !strings.Contains(err.Error(), `unknown key "sflow"`) {
				t.Errorf("Parse(%q) error = %v, want unknown key", tt.data, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.name, tt.data, err)
			continue
		}
		if c.Syntax != tt.want {
			t.Errorf("Parse(%q, %q).Syntax = %v, want %v", tt.name, tt.data, c.Syntax, tt.want)
		}
	}
	// A .conf file is hsflowd.conf even when it does not look like one.
	if _, err := Parse("gwd.conf", []byte("polling: 10s\n")); err == nil ||
		err.Error() != `gwd.conf:1:1: expected "sflow {", found "polling:"` {
		t.Errorf("Parse(gwd.conf) error = %v", err)
	}
}

func TestAgent(t *testing.T) {
	c := Default()
	c.Identity = Identity{Interface: "eth0", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, SubAgent: 3}
	c.DatagramBytes = 1500
	c.Collectors = []Collector{
		{Address: "192.0.2.1", Port: 6343, Source: netip.MustParseAddr("10.0.0.1")},
		{Address: "sflow.example.net", Port: 7000, Interface: "mgmt0"},
		{Address: "2001:db8::5", Port: 6343},
	}
	resolve := func(host string) (netip.Addr, error) {
		if host == "sflow.example.net" {
			return netip.MustParseAddr("::ffff:198.51.100.2"), nil
		}
		return netip.Addr{}, errors.New("no such host")
	}
	got, err := c.Agent(resolve)
	if err != nil {
		t.Fatal(err)
	}
	if got.SubAgent != 3 || got.Polling != 10*time.Second || got.DatagramBytes != 1500 ||
		got.Address.Interface != "eth0" || len(got.Address.CIDRs) != 1 || got.Address.IP.IsValid() {
		t.Errorf("Agent() = %+v", got)
	}
	wantCols := []string{"192.0.2.1:6343 from 10.0.0.1 via ", "198.51.100.2:7000 from invalid IP via mgmt0", "[2001:db8::5]:6343 from invalid IP via "}
	for i, col := range got.Collectors {
		if s := col.Addr.String() + " from " + col.Source.String() + " via " + col.Interface; s != wantCols[i] {
			t.Errorf("collector %d = %q, want %q", i, s, wantCols[i])
		}
	}

	c.Collectors = append(c.Collectors, Collector{Address: "gone.example.net", Port: 6343})
	_, err = c.Agent(resolve)
	if err == nil || err.Error() != "config: collector 3 (gone.example.net): no such host" {
		t.Errorf("Agent() error = %v", err)
	}
	_, err = c.Agent(nil)
	want := "config: collector 1 (sflow.example.net): host name given but no resolver\n" +
		"config: collector 3 (gone.example.net): host name given but no resolver"
	if err == nil || err.Error() != want {
		t.Errorf("Agent(nil) error = %v", err)
	}
}

func TestWarningsUnknownModules(t *testing.T) {
	data := "sflow {\n  collector { ip = 10.0.0.1 }\n  docker { }\n  dbus { }\n  tcp { }\n  frobnicator { a = b }\n}\n"
	c, err := Parse("hsflowd.conf", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"hsflowd.conf:3:3: docker { }: hsflowd module not in gwd; ignored",
		"hsflowd.conf:4:3: dbus { }: hsflowd module not in gwd; ignored",
		"hsflowd.conf:5:3: tcp { }: hsflowd module not in gwd; ignored",
		"hsflowd.conf:6:3: frobnicator { }: unknown block; ignored",
	}
	if diff := cmp.Diff(want, c.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestDocExamples parses the two examples of docs/config.md: both are
// valid and describe the same box.
func TestDocExamples(t *testing.T) {
	doc := string(read(t, filepath.Join("..", "docs", "config.md")))
	_, rest, _ := strings.Cut(doc, "## Examples")
	var blocks []string
	for {
		var block string
		var ok bool
		if _, rest, ok = strings.Cut(rest, "```"); !ok {
			break
		}
		_, rest, _ = strings.Cut(rest, "\n") // the fence's language
		block, rest, _ = strings.Cut(rest, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 2 {
		t.Fatalf("found %d examples, want 2", len(blocks))
	}
	y, err := Parse("example.yaml", []byte(blocks[0]))
	if err != nil {
		t.Fatal(err)
	}
	h, err := Parse("example.conf", []byte(blocks[1]))
	if err != nil {
		t.Fatal(err)
	}
	if y.Syntax != SyntaxYAML || h.Syntax != SyntaxHsflowd || len(h.Warnings) != 1 {
		t.Errorf("syntaxes %v %v, hsflowd warnings %q", y.Syntax, h.Syntax, h.Warnings)
	}
	y.Host.Interfaces.Exclude = "" // hsflowd has no interface filter
	if diff := cmp.Diff(y, h, cmpOpts, ignoreMeta); diff != "" {
		t.Errorf("the examples differ (-yaml +hsflowd.conf):\n%s", diff)
	}
}

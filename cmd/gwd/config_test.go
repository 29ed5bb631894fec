package main

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gwd/asic"
	"gwd/config"
	"gwd/gpu"
	"gwd/host"
	"gwd/host/containers"
	"gwd/host/kvm"
	"gwd/internal/app"
	"gwd/ovs"
	"gwd/sample"
)

// These tests read whole files with every registered module, as gwd run
// and gwd config check do; config's own tests cover the engine.

// parse parses with the sections of every module.
func parse(name string, data []byte) (*config.Config, error) {
	return config.Parse(name, data, app.Sections(modules)...)
}

// defaults returns the configuration of a file that sets nothing.
func defaults(t testing.TB, syntax config.Syntax) *config.Config {
	t.Helper()
	name, data := "x.yaml", ""
	if syntax == config.SyntaxHsflowd {
		name, data = "x.conf", "sflow { }"
	}
	c, err := parse(name, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	c.Warnings = nil
	return c
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/config/golden")

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.AllowUnexported(config.Config{}),
}

// ignoreMeta ignores what Text does not carry.
var ignoreMeta = cmpopts.IgnoreFields(config.Config{}, "Syntax", "Warnings")

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
	want     func(c *config.Config)
	warnings []string
}{
	{file: "empty.yaml", want: func(c *config.Config) {},
		warnings: []string{"testdata/config/good/empty.yaml: no collectors: nothing will be sent"}},
	{file: "minimal.yaml", want: func(c *config.Config) {
		c.Collectors = []config.Collector{{Address: "198.51.100.7", Port: 6343}}
	}},
	{file: "full.yaml", want: func(c *config.Config) {
		c.Identity = config.Identity{
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
		c.Sampling = config.Sampling{Rate: 1000, Speeds: map[config.Speed]uint32{1e9: 1000, 10e9: 10000, 2500e6: 2500}, BPSRatio: 2e6}
		c.HeaderBytes = 256
		c.DatagramBytes = 9000
		c.Collectors = []config.Collector{
			{Address: "10.1.2.3", Port: 6344, Source: netip.MustParseAddr("10.0.0.2"), Interface: "mgmt0"},
			{Address: "collector.example.net", Port: 6343},
		}
		*config.Get[host.Options](c) = host.Options{
			Enabled:    false,
			Interfaces: config.InterfaceFilter{Include: "^(eth|ens|enp)", Exclude: `\.[0-9]+$`},
			ProcRoot:   "/host/proc", SysRoot: "/host/sys", EtcRoot: "/host/etc",
		}
		*config.Get[ovs.Options](c) = ovs.Options{Enabled: config.On, OVSDB: "tcp:127.0.0.1:6640",
			Bridges: config.InterfaceFilter{Include: "^br", Exclude: "^br-int$"}, Policy: "leave", RemoveOnExit: false,
			Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			SSL:   ovs.SSLOptions{PrivateKey: "/etc/gwd/key.pem", Certificate: "/etc/gwd/cert.pem", CACert: "/etc/gwd/ca.pem"}}
		*config.Get[gpu.Options](c) = gpu.Options{Enabled: config.Off, PerGPU: true}
		*config.Get[asic.Config](c) = asic.Config{Enabled: config.On, Backends: []string{"sonic", "snmp"},
			Interval: 2 * time.Second, SysRoot: "/host/sys", CumulusDir: "/run/switchd",
			SONiC: asic.SONiCConfig{DBConfig: "/host/database_config.json", Transport: "tcp", Watermarks: "user",
				MulticastPools: []string{"egress_lossy_pool"}, Timeout: 3 * time.Second},
			SNMP: asic.SNMPConfig{Target: "127.0.0.1:1161", Version: "3", Community: "secret-community", User: "gwd",
				AuthProtocol: "SHA256", AuthPassphrase: "secret-auth", PrivProtocol: "AES", PrivPassphrase: "secret-priv",
				Context: "vrf1", Timeout: time.Second, Retries: 3, Map: "/etc/gwd/asic.map.yaml"}}
		*config.Get[kvm.Options](c) = kvm.Options{Enabled: config.On, Socket: "/run/libvirt/libvirt-sock-ro",
			URI: "qemu:///system", Refresh: 2 * time.Minute, Forget: 10 * time.Minute, OVSDB: ""}
	}},
	{file: "shorthand.yaml", want: func(c *config.Config) {
		c.Polling = 15 * time.Second
		c.Collectors = []config.Collector{
			{Address: "10.0.0.1", Port: 6343},
			{Address: "10.0.0.2", Port: 6344},
			{Address: "2001:db8::1", Port: 6343},
			{Address: "sflow.example.org", Port: 6343},
		}
		config.Get[asic.Config](c).Enabled = config.On
		config.Get[gpu.Options](c).Enabled = config.On
		config.Get[ovs.Options](c).Enabled = config.Off
	}},
	{file: "hsflowd-basic.conf", want: func(c *config.Config) {
		c.Identity.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		c.Polling = 10 * time.Second
		c.Sampling.Rate = 1000
		c.Collectors = []config.Collector{
			{Address: "10.100.12.13", Port: 6343},
			{Address: "10.122.1.2", Port: 6344},
		}
	}},
	{file: "hsflowd-counters.conf", want: func(c *config.Config) {
		c.Collectors = []config.Collector{{Address: "10.0.0.1", Port: 6343}}
		*config.Get[sample.NFLOGOptions](c) = sample.NFLOGOptions{Enabled: config.On, Group: 1, Probability: 0.5, Interfaces: []string{}}
		*config.Get[sample.PcapOptions](c) = sample.PcapOptions{Enabled: config.On, Devices: []string{}, Promisc: true}
	}, warnings: []string{
		`testdata/config/good/hsflowd-counters.conf:7:3: collectr { }: unknown block; ignored (did you mean "collector"?)`,
		`testdata/config/good/hsflowd-counters.conf:3:14: sampling: 0 (no packet sampling) is what gwd does without a packet sampling module; ignored`,
	}},
	{file: "hsflowd-full.conf", want: func(c *config.Config) {
		c.Identity = config.Identity{
			Address:   netip.MustParseAddr("192.0.2.20"),
			Interface: "eth1",
			CIDRs:     []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")},
			SubAgent:  100000,
		}
		c.Polling = 20 * time.Second
		c.Sampling = config.Sampling{Rate: 512, Speeds: map[config.Speed]uint32{100e6: 100, 10e9: 10000, 40e9: 40000}, BPSRatio: 0}
		c.HeaderBytes = 96
		c.Collectors = []config.Collector{
			{Address: "192.0.2.99", Port: 7343, Interface: "mgmt"},
			{Address: "collector.example.com", Port: 6343},
		}
		config.Get[ovs.Options](c).Enabled = config.On
		config.Get[gpu.Options](c).Enabled = config.On
		d := config.Get[containers.DockerOptions](c)
		d.Enabled, d.Refresh, d.Hostname = config.On, 120*time.Second, true
		*config.Get[sample.PsampleOptions](c) = sample.PsampleOptions{Enabled: config.On, Group: 2, Egress: true, TCPorts: []string{}}
		*config.Get[sample.NFLOGOptions](c) = sample.NFLOGOptions{Enabled: config.On, Group: 5, Probability: 0.01, Interfaces: []string{}}
		*config.Get[sample.PcapOptions](c) = sample.PcapOptions{Enabled: config.On, Devices: []string{"docker0"},
			Promisc: true, Speed: "1G-", Sampling: 2000}
		*config.Get[sample.DropmonOptions](c) = sample.DropmonOptions{Enabled: config.On, Start: true, SW: true,
			HW: true, RN: true, HWUnknown: true, Limit: 50, Hide: "^(ignore|me)", Force: true, Group: 1}
		k := config.Get[kvm.Options](c)
		k.Enabled, k.Refresh, k.Forget = config.On, 120*time.Second, 600*time.Second
	}, warnings: []string{
		`testdata/config/good/hsflowd-full.conf:14:3: sampling.http: application sampling is not used by gwd; ignored`,
		`testdata/config/good/hsflowd-full.conf:15:3: polling.app.myapp: per-application polling is not used by gwd; ignored`,
		`testdata/config/good/hsflowd-full.conf:18:3: uuid: hsflowd setting not used by gwd; ignored`,
		`testdata/config/good/hsflowd-full.conf:23:5: namespace: sending from another network namespace is not supported by gwd; ignored`,
		`testdata/config/good/hsflowd-full.conf:35:3: tcp { }: the tcp module is not supported by gwd yet; ignored`,
		`testdata/config/good/hsflowd-full.conf:36:3: dbus { }: the dbus module is not supported by gwd yet; ignored`,
		`testdata/config/good/hsflowd-full.conf:37:3: json { }: the json module is not supported by gwd yet; ignored`,
		`testdata/config/good/hsflowd-full.conf:38:3: my-plugin { }: unknown block; ignored`,
	}},
}

// TestParseGood parses each good file, compares it with the expected
// Config, checks Text against its golden file and reads Text back.
func TestParseGood(t *testing.T) {
	for _, tt := range goodTests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "config", "good", tt.file)
			got, err := parse(path, read(t, path))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			syntax := config.SyntaxYAML
			if strings.HasSuffix(tt.file, ".conf") {
				syntax = config.SyntaxHsflowd
			}
			want := defaults(t, syntax)
			want.Syntax = syntax
			tt.want(want)
			want.Warnings = tt.warnings
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}

			text := got.Text()
			golden := filepath.Join("testdata", "config", "golden", strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(string(read(t, golden)), text); diff != "" {
				t.Errorf("Text differs from %s (-want +got; go test -update rewrites it):\n%s", golden, diff)
			}

			back, err := parse("text.yaml", []byte(text))
			if err != nil {
				t.Fatalf("Parse(Text()): %v\n%s", err, text)
			}
			if a := config.Get[asic.Config](got); a.SNMP.Community != "" {
				// Text redacts the secrets.
				a.SNMP.Community, a.SNMP.AuthPassphrase, a.SNMP.PrivPassphrase = "<redacted>", "<redacted>", "<redacted>"
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
25:15: modules.asic.interval: 10ms is outside 100ms..1h
26:23: modules.asic.backends[1]: "nope" is not one of auto, sonic, snmp, devlink, cumulus`},
		{"syntax.yaml", `2: did not find expected ',' or ']'`},
		{"duplicate.yaml", `4:1: duplicate key "polling" (first on line 1)`},
		{"two-docs.yaml", `2:1: only one YAML document is allowed`},
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
5:13: agentIP: "myhost" is not an IP address
6:16: agent.cidr: excluding a prefix (!10.0.0.0/8) is not supported by gwd
7:18: sampling.10G: 0 is outside 1..10000000
8:39: udpport: 0 is outside 1..65535
9:20: ip: "not_a_host!" is neither an IP address nor a host name
10:35: dev: "a/b" is not an interface name`},
		{"h-collector-no-ip.conf", `2:3: collector { } has no ip`},
		{"h-missing-value.conf", `3:3: polling: missing value`},
		{"h-extra.conf", `4:1: unexpected "sflow" after the sflow block`},
		{"h-quote.conf", `2:20: unterminated quoted string`},
		{"h-block-settings.conf", `3:10: unknown nvml setting "per_gpu"
4:9: unknown ovs setting "x"
5:29: unexpected block "extra" inside collector { }`},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "config", "bad", tt.file)
			c, err := parse(path, read(t, path))
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
			var e *config.Error
			if !errors.As(err, &e) || e.File != path {
				t.Errorf("errors.As(*Error) = %v, %+v", errors.As(err, &e), e)
			}
		})
	}
	files, _ := filepath.Glob("testdata/config/bad/*")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func TestDefault(t *testing.T) {
	got := config.Default(app.Sections(modules)...)
	want := defaults(t, config.SyntaxYAML)
	want.Polling = 10 * time.Second
	want.Collectors = []config.Collector{{Address: "127.0.0.1", Port: 6343}}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Default mismatch (-want +got):\n%s", diff)
	}
	golden := filepath.Join("testdata", "config", "golden", "default.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.Text()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(read(t, golden)), got.Text()); diff != "" {
		t.Errorf("Text differs from %s (-want +got):\n%s", golden, diff)
	}
	ac, err := app.AgentConfig(got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Polling != 10*time.Second || len(ac.Collectors) != 1 ||
		ac.Collectors[0].Addr != netip.MustParseAddrPort("127.0.0.1:6343") {
		t.Errorf("AgentConfig(Default()) = %+v", ac)
	}
}

// TestDocExamples parses the two examples of docs/config.md: both are
// valid and describe the same box.
func TestDocExamples(t *testing.T) {
	doc := string(read(t, filepath.Join("..", "..", "docs", "config.md")))
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
	y, err := parse("example.yaml", []byte(blocks[0]))
	if err != nil {
		t.Fatal(err)
	}
	h, err := parse("example.conf", []byte(blocks[1]))
	if err != nil {
		t.Fatal(err)
	}
	if y.Syntax != config.SyntaxYAML || h.Syntax != config.SyntaxHsflowd || len(h.Warnings) != 1 {
		t.Errorf("syntaxes %v %v, hsflowd warnings %q", y.Syntax, h.Syntax, h.Warnings)
	}
	config.Get[host.Options](y).Interfaces.Exclude = "" // hsflowd has no interface filter
	if diff := cmp.Diff(y, h, cmpOpts, ignoreMeta); diff != "" {
		t.Errorf("the examples differ (-yaml +hsflowd.conf):\n%s", diff)
	}
}

// TestConfigDocs checks that docs/config.md is what the keys' descriptions
// generate (go test ./cmd/gwd -run TestConfigDocs -update rewrites it;
// make generate does).
func TestConfigDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.md")
	got := config.Markdown(app.Sections(modules))
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(read(t, path)), got); diff != "" {
		t.Errorf("docs/config.md is stale (-file +generated; make generate rewrites it):\n%s", diff)
	}
}

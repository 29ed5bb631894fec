package asic

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/internal/testbed"
	"gwd/internal/testutil"
)

// The test binary doubles as snmpd's pass_persist program: snmpd runs it
// with GWD_TEST_PASS_PERSIST set to a fixture file and GWD_TEST_PASS_ROOT
// to the subtree it serves.
func TestMain(m *testing.M) {
	if f := os.Getenv("GWD_TEST_PASS_PERSIST"); f != "" {
		os.Exit(passPersist(f, os.Getenv("GWD_TEST_PASS_ROOT"), os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// passPersist speaks net-snmp's pass_persist protocol (PING/PONG, get,
// getnext, set) over in and out, serving the fixture's objects under root.
// The fixture is read again for every request, so tests change values by
// rewriting it.
func passPersist(fixture, root string, in io.Reader, out io.Writer) int {
	sc := bufio.NewScanner(in)
	w := bufio.NewWriter(out)
	reply := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\n")
		}
		w.Flush()
	}
	entries := func() []snmpFixtureEntry {
		b, err := os.ReadFile(fixture)
		if err != nil {
			return nil
		}
		var out []snmpFixtureEntry
		for _, e := range parseSNMPFixture(b) {
			if strings.HasPrefix(e.oid, root+".") {
				out = append(out, e)
			}
		}
		return out
	}
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "PING":
			reply("PONG")
		case "get", "getnext":
			next := strings.TrimSpace(sc.Text()) == "getnext"
			if !sc.Scan() {
				return 0
			}
			oid := strings.TrimSpace(sc.Text())
			found := false
			for _, e := range entries() {
				if !next && e.oid == oid || next && oidLess(oid, e.oid) {
					reply(e.oid, e.typ, e.value)
					found = true
					break
				}
			}
			if !found {
				reply("NONE")
			}
		case "set":
			sc.Scan()
			sc.Scan()
			reply("not-writable")
		case "":
			return 0
		}
	}
	return 0
}

const (
	testCommunity = "gwd-test-community"
	testV3User    = "gwdv3"
	testV3Auth    = "gwd-auth-pass"
	testV3Priv    = "gwd-priv-pass"
)

// snmpAgent is the testbed's snmpd serving the fixture through
// pass_persist.
type snmpAgent struct {
	target, fixture string
}

func startSNMPD(t *testing.T) *snmpAgent {
	t.Helper()
	testbed.NeedCommand(t, "snmpd")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	a := &snmpAgent{fixture: filepath.Join(d, "fixture.txt")}
	b, err := os.ReadFile("testdata/snmp/fixture.txt")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(a.fixture, b, 0o644)
	lines := []string{
		fmt.Sprintf(`createUser %s SHA "%s" AES "%s"`, testV3User, testV3Auth, testV3Priv),
		fmt.Sprintf("rouser %s priv", testV3User),
	}
	for i, root := range []string{".1.3.6.1.4.1.32473.7", ".1.3.6.1.2.1.31.1.1.1.1"} {
		script := filepath.Join(d, fmt.Sprintf("pass%d.sh", i))
		os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nGWD_TEST_PASS_PERSIST=%s GWD_TEST_PASS_ROOT=%s exec %s\n", a.fixture, root, self)), 0o755)
		lines = append(lines, fmt.Sprintf("pass_persist %s %s", root, script))
	}
	a.target = testbed.StartSNMPD(t, testbed.SNMPDConfig{Community: testCommunity, Lines: lines}).Target
	// Ready when the fixture answers.
	testutil.Eventually(t, 15*time.Second, func() error {
		c, err := dialGoSNMP(a.v2c(testCommunity))
		if err != nil {
			return err
		}
		defer c.close()
		v, err := c.get(context.Background(), []string{".1.3.6.1.4.1.32473.7.1.1.0"})
		if err != nil {
			return err
		}
		if len(v) != 1 {
			return errors.New("fixture not served yet")
		}
		return nil
	})
	return a
}

func (a *snmpAgent) v2c(community string) SNMPConfig {
	c := SNMPConfig{Target: a.target, Community: community, Timeout: 300 * time.Millisecond, Retries: 1, Map: "maps/example.yaml"}
	c.normalize()
	return c
}

func (a *snmpAgent) v3(auth, priv string) SNMPConfig {
	c := SNMPConfig{Target: a.target, Version: "3", User: testV3User, AuthProtocol: "SHA", AuthPassphrase: auth,
		PrivProtocol: "AES", PrivPassphrase: priv, Timeout: 300 * time.Millisecond, Retries: 1, Map: "maps/example.yaml"}
	c.normalize()
	return c
}

func readSNMP(t *testing.T, cfg SNMPConfig) (reading, error) {
	t.Helper()
	m, err := LoadOIDMap(cfg.Map)
	if err != nil {
		t.Fatal(err)
	}
	b := newSNMP(cfg, m, ifIndexer{root: "testdata/sys"})
	defer b.close()
	return b.read(context.Background())
}

func TestIntegrationSNMP(t *testing.T) {
	testbed.Integration(t)
	a := startSNMPD(t)

	t.Run("v2c", func(t *testing.T) {
		r, err := readSNMP(t, a.v2c(testCommunity))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(snmpFixtureWant(), r, readingCmp); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("v3 authPriv", func(t *testing.T) {
		r, err := readSNMP(t, a.v3(testV3Auth, testV3Priv))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(snmpFixtureWant(), r, readingCmp); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("wrong community", func(t *testing.T) {
		start := time.Now()
		_, err := readSNMP(t, a.v2c("not-the-community"))
		if !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "is the community right?") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "not-the-community") {
			t.Errorf("the community is in the error: %v", err)
		}
		if d := time.Since(start); d > 15*time.Second { // a hang guard
			t.Errorf("took %v", d)
		}
		t.Logf("wrong community: %v", err)
	})

	t.Run("timeout", func(t *testing.T) {
		hole, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}) // reads nothing, answers nothing
		if err != nil {
			t.Fatal(err)
		}
		defer hole.Close()
		cfg := a.v2c(testCommunity)
		cfg.Target = hole.LocalAddr().String()
		_, err = readSNMP(t, cfg)
		if !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "no response within 300ms after 1 retries") {
			t.Fatalf("err = %v", err)
		}
		t.Logf("timeout: %v", err)
	})

	t.Run("v3 wrong passphrase", func(t *testing.T) {
		_, err := readSNMP(t, a.v3("wrong-auth-pass", testV3Priv))
		if !errors.Is(err, ErrSNMPAuth) && !errors.Is(err, ErrNoResponse) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "wrong-auth-pass") || strings.Contains(err.Error(), testV3Priv) {
			t.Errorf("a passphrase is in the error: %v", err)
		}
		t.Logf("wrong passphrase: %v", err)
		cfg := a.v3(testV3Auth, testV3Priv)
		cfg.User = "nobody"
		_, err = readSNMP(t, cfg)
		if !errors.Is(err, ErrSNMPAuth) {
			t.Fatalf("unknown user: err = %v", err)
		}
		t.Logf("unknown user: %v", err)
	})

	t.Run("export", func(t *testing.T) {
		c := testutil.NewCollector(t)
		ag := startAgent(t, c)
		s, err := New(Config{Backends: []string{BackendSNMP}, Interval: 200 * time.Millisecond, SNMP: a.v2c(testCommunity), SysRoot: "testdata/sys"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		runSource(t, s, ag)
		sampleText(t, c, agent.HostSource, 10*time.Second, hasLines(
			"bcm_ipv4_entries 1200", "bcm_ipv4_entries_max 31200", "bcm_total_routes 1500", "bcm_total_routes_max 4294967295",
			"bcm_mac_entries 500", "bcm_acl_ingress_entries_max 768", "bcm_acl_egress_slices 4294967295",
			"bst_device_uc_pc 37.50", "bst_device_mc_pc 12.00"))
		sampleText(t, c, agent.InterfaceSource(5), 10*time.Second, hasLines(
			"bst_port_ingress_uc_pc 15.00", "bst_port_ingress_mc_pc unknown", "bst_port_egress_uc_pc 10.00", "bst_port_egress_mc_pc 10.00",
			"bst_port_egress_queue_uc_pc.3 10.00", "bst_port_egress_queue_uc_pc.7 unknown", "bst_port_egress_queue_mc_pc.2 10.00"))
		sampleText(t, c, agent.InterfaceSource(6), 10*time.Second, hasLines(
			"bst_port_ingress_uc_pc 3.00", "bst_port_egress_uc_pc 20.00", "bst_port_egress_mc_pc unknown", "bst_port_egress_queue_uc_pc.3 20.00"))

		// A new value in the agent shows in the next export.
		b, _ := os.ReadFile(a.fixture)
		b = []byte(strings.Replace(string(b), ".1.3.6.1.4.1.32473.7.2.1.0 counter64 3000000", ".1.3.6.1.4.1.32473.7.2.1.0 counter64 6000000", 1))
		os.WriteFile(a.fixture, b, 0o644)
		sampleText(t, c, agent.HostSource, 10*time.Second, hasLines("bst_device_uc_pc 75.00"))
		if h := ag.Health()["asic/snmp"]; h != "" {
			t.Errorf("health: %q", h)
		}
	})
}
